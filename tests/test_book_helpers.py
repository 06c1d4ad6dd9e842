"""Tests of kdutils.book, the helpers the experiment chapters share; scipy and numpy are the oracles."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

import kdutils as kd
from kdutils.recipes import Recipe, Setup

TINY = Setup(per_class=3, student_hidden=4, teacher=Recipe("tiny_teacher", kind="teacher", epochs=1, lr=1e-3))


def test_pct():
    assert kd.book.pct(0.9631) == pytest.approx(96.31)
    assert isinstance(kd.book.pct(np.float32(0.5)), float)


def test_t_critical_matches_the_tables():
    # The value that beyond_logits.md typed in: two-sided 5 % at 4 degrees of freedom.
    assert kd.book.t_critical(4) == pytest.approx(2.776, abs=1e-3)
    assert kd.book.t_critical(1e6) == pytest.approx(1.960, abs=1e-3)
    assert kd.book.t_critical(8, level=0.99) == pytest.approx(stats.t.ppf(0.995, 8))


@pytest.mark.parametrize("df, level, word", [(0, 0.95, "df"), (float("nan"), 0.95, "df"), (4, 1.0, "level"), (4, 0, "level")])
def test_t_critical_rejects_bad_values(df, level, word):
    with pytest.raises(ValueError, match=word):
        kd.book.t_critical(df, level)


def test_welch_matches_scipy_and_the_library():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.96, 0.01, 5), rng.normal(0.90, 0.02, 3)
    w = kd.book.welch(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert w.t == pytest.approx(ref.statistic) and w.p == pytest.approx(ref.pvalue)
    assert w.t == pytest.approx(kd.experiments.welch_t(a, b))
    # Welch-Satterthwaite df, checked through the p-value scipy derives from it
    assert 2 * stats.t.sf(abs(w.t), w.df) == pytest.approx(ref.pvalue)
    assert w.critical == pytest.approx(stats.t.ppf(0.975, w.df))
    assert w.significant == (w.p < 0.05)


def test_welch_not_significant_for_overlapping_samples_and_rejects_bad_input():
    assert not kd.book.welch([0.90, 0.92, 0.91], [0.91, 0.90, 0.92]).significant
    with pytest.raises(ValueError, match="at least 2"):
        kd.book.welch([0.9], [0.8, 0.7])
    with pytest.raises(ValueError, match="constant"):
        kd.book.welch([0.9, 0.9], [0.8, 0.8])


def test_glue_summary_glues_mean_and_std_in_percent(monkeypatch):
    seen = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display=True: seen.__setitem__(name, (value, display)))
    s = kd.book.glue_summary("x", [0.90, 0.92, 0.94])
    assert s.mean == pytest.approx(0.92)
    assert seen["x_mean"] == (pytest.approx(92.0), False)
    assert seen["x_std"] == (pytest.approx(100 * np.std([0.90, 0.92, 0.94], ddof=1)), False)


def test_chapter_sets_threads_and_glues_its_time(monkeypatch):
    seen = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display=True: seen.__setitem__(name, value))
    before = torch.get_num_threads()
    try:
        ch = kd.book.Chapter(threads=1)
        assert torch.get_num_threads() == 1
        wall, cpu = ch.glue()
        assert seen["chapter_seconds"] == wall >= 0 and seen["chapter_cpu_seconds"] == cpu >= 0
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads"):
        kd.book.Chapter(threads=0)


def test_runs_is_memoised():
    rec = kd.recipes.variant("recommended", epochs=2)
    a = kd.book.runs(rec, TINY, [0])
    b = kd.book.runs(rec, TINY, [0])
    assert a[0] is b[0]


def test_importing_kdutils_book_sets_nothing():
    import importlib
    import subprocess
    import sys

    code = "import torch; n = torch.get_num_threads(); import kdutils.book; assert torch.get_num_threads() == n; import sys; assert 'myst_nb' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    assert importlib.import_module("kdutils.book") is kd.book
