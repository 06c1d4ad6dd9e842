"""A student function that never returns costs one time budget (``rules.HANG_SECONDS``), not a cell timeout per test.

Issue 13, item 1. Two catalogue submissions (``catalogue.HANG_LOSSES``) whose ``kd_kl_loss`` loops
forever, one of them swallowing every interrupt with a bare ``except:``, are autograded with stock
nbgrader through ``python -m kdutils.course autograde`` and the course's own 60-second cell timeout.
Before the budget, such a notebook took about 9 minutes 50 s (nine test cells, each waiting out
its timeout). Each must now be graded in well under a minute (30 s on an idle machine; the assert
allows 120 s for a loaded one and the real time is printed), with zero points for ``kd_kl_loss`` and
for ``distillation_loss``, which calls it, full points for the rest, the diagnosis in the
feedback, and the hang named in the grading status record the instructor reads.
"""
from __future__ import annotations

import subprocess
import sys
import time

import nbformat
import pytest

import kdutils as kd
from kdutils import course
from kdutils.course import catalogue as cat
from kdutils.course import gradestatus

G = kd.grading
HANGS = {s.student: s for s in cat.HANG_LOSSES}
#: the bound asserted per student: generous for a shared, loaded machine (about 20 s when idle)
LIMIT_S = 120


def _define(source: str, ns: dict):
    import torch
    import torch.nn.functional as F

    ns.update(torch=torch, F=F, kd=kd)
    exec(source, ns)
    return ns


def test_a_hang_is_stopped_then_every_check_that_reaches_it_fails_at_once():
    """In-process: the first check waits the budget, the next one of kd_kl_loss and distillation_loss's fail at once."""
    ns = _define(HANGS["hang_swallow"].cells[cat.KD], {})
    _define(cat.solution_cells("losses")[cat.DL], ns)
    t0 = time.perf_counter()
    with pytest.raises(AssertionError) as first:
        G.check_kd_kl_loss(ns[cat.KD], "example")
    waited = time.perf_counter() - t0
    print(f"first check stopped after {waited:.1f} s: {first.value}")
    assert str(first.value).startswith("your kd_kl_loss did not return within 10 s; an infinite loop?")
    assert G.rules.HANG_SECONDS <= waited < G.rules.HANG_SECONDS + 30
    for check, fn, words in ((G.check_kd_kl_loss, ns[cat.KD], "An earlier check stopped it"),
                             (G.check_distillation_loss, ns[cat.DL], "distillation_loss calls it: fix kd_kl_loss first")):
        t0 = time.perf_counter()
        with pytest.raises(AssertionError, match="your kd_kl_loss did not return within 10 s") as again:
            check(fn, "batch" if check is G.check_kd_kl_loss else "alpha")
        assert time.perf_counter() - t0 < 1.0 and words in str(again.value), str(again.value)
    # the grader put SIGALRM back as it found it; a fixed kd_kl_loss (a new definition) is checked as usual
    import signal

    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    _define(cat.solution_cells("losses")[cat.KD], ns)
    _define(cat.solution_cells("losses")[cat.DL], ns)
    G.check_kd_kl_loss(ns[cat.KD], "example")
    G.check_distillation_loss(ns[cat.DL], "example")


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_looping_notebook_is_graded_in_seconds_with_the_hang_recorded(request, lang):
    """In the graded catalogue of each language: the budget, not the cell timeout, ends each loop; 0 for the checks
    that reach the function, full points for the rest; the hang recorded and listed under STOPPED FUNCTIONS
    (the failure's kind is its exception's class name, so a Chinese diagnosis is recognised too)."""
    g = request.getfixturevalue(f"graded_catalogue_{lang}")
    root, release = g.root, g.release("losses")
    recs = gradestatus.read_records(root, release)
    scores = course.read_scores(root, release)
    full = scores["solution"]
    assert set(full.values()) == {1.0}, full
    for student, sub in HANGS.items():
        rec = recs[student]
        print(f"{student}: graded in {rec.seconds:.1f} s (solution: {recs['solution'].seconds:.1f} s)")
        assert rec.seconds < LIMIT_S, rec
        got = scores[student]
        assert set(got) == set(full)
        for cell, points in full.items():
            assert got[cell] == (0 if cell in sub.lose else points), (student, cell, got[cell])
        # graded, but the instructor sees the hang (summary table, grading_status, `failures`)
        assert rec.status == "graded", rec
        hangs = [q for q in rec.problems if q["kind"] == "hang"]
        assert {q["cell"] for q in hangs} == set(sub.lose), rec.problems
        stopped = "your kd_kl_loss did not return within 10 s" if lang == "en" else "你的 kd_kl_loss 在 10 秒内没有返回"
        assert all(stopped in q["message"] for q in hangs), hangs
        assert f"hang in {sub.lose[0]}" in g.outputs["losses"]
        nb = nbformat.read(root / "autograded" / student / release / f"{release}.ipynb", as_version=4)
        errors = "\n".join(o.get("evalue", "") for c in nb.cells for o in c.get("outputs", []))
        for word in cat.in_language(sub, lang).words:
            assert word in errors, (student, word)
        assert "KeyboardInterrupt" not in errors and "CellTimeoutError" not in errors
    assert set(HANGS) <= {r.student for r in gradestatus.failures(root, release)}
    # The report lists each stopped function under its student; a hang alone leaves nothing pending.
    rep = subprocess.run([sys.executable, "-m", "kdutils.course", "report", release, "--allow-pending"], cwd=root,
                         capture_output=True, text=True)
    assert "STOPPED FUNCTIONS" in rep.stdout, rep.stdout + rep.stderr
    stopped_section = rep.stdout.split("STOPPED FUNCTIONS")[1]
    failed_section = rep.stdout.split("STOPPED FUNCTIONS")[0].split("MANUAL GRADING")[0].split("FAILED TO GRADE")[-1]
    for student, sub in HANGS.items():
        assert f"  {student}: {stopped} ({len(sub.lose)} check(s): {release}/{sub.lose[0]}" in stopped_section, rep.stdout
        assert f"  {student}: " not in failed_section, rep.stdout
