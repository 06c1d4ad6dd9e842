"""What the book's experiment chapters share: percentages, memoised runs, glued summaries, a chapter timer, Welch's test.

The chapters "Experiments that matter", "Tuning the recipe" and "Beyond
logits" train many small networks over seeds and glue (myst-nb ``glue``) the
figures into their prose. This module is the one home of the helpers they
would otherwise each define:

* ``pct``: a fraction as a percentage;
* ``runs``: ``kdutils.recipes.run_seeds`` memoised (``cache=True``), so a
  ``(recipe, setup, seed)`` is trained once per build;
* ``glue_summary``: glue mean and standard deviation (in %) of accuracies
  over seeds as ``<name>_mean`` / ``<name>_std``;
* ``Chapter``: sets ``torch.set_num_threads`` (one thread is faster and
  steadier for tiny models on a busy CPU) and times the chapter;
* ``claim``: a verdict the prose states, asserted at build time, so the
  build fails when the measurement stops supporting the words
  (``tests/verdicts/<page>.yml`` lists every verdict sentence and its guard);
* ``welch``: Welch's unequal-variance t-test (``scipy.stats.ttest_ind`` with
  ``equal_var=False``) with its degrees of freedom and the two-sided critical
  value from ``scipy.stats.t.ppf``, instead of a typed-in constant.

Importing it has no side effects: nothing happens until a chapter calls
``Chapter()``. ``myst_nb`` is imported only when something is glued.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from . import experiments, recipes

__all__ = ["pct", "runs", "glue", "glue_summary", "claim", "ClaimFailed", "Chapter", "Welch", "welch", "t_critical"]


def pct(x: float) -> float:
    """``x`` (a fraction, e.g. an accuracy) in percent."""
    return 100.0 * float(x)


def runs(recipe: str | recipes.Recipe, setup: recipes.Setup, seeds: Iterable[int]) -> list[recipes.RunResult]:
    """``kd.recipes.run_seeds(recipe, setup, seeds, cache=True)``: each run is trained once per process."""
    return recipes.run_seeds(recipe, setup, seeds, cache=True)


def glue(name: str, value, display: bool = False) -> None:
    """``myst_nb.glue(name, value, display=display)``; hidden by default (the prose shows the value)."""
    from myst_nb import glue as _glue

    _glue(name, value, display=display)


def glue_summary(name: str, values: Sequence[float]) -> experiments.Summary:
    """Glue mean and sample std of ``values`` (fractions) in percent as ``<name>_mean`` and ``<name>_std``."""
    s = experiments.summarize(values)
    glue(f"{name}_mean", pct(s.mean))
    glue(f"{name}_std", pct(s.std))
    return s


class ClaimFailed(AssertionError):
    """A sentence of the book states something the build's own measurement no longer supports."""


def claim(claim_id: str, holds, measured: str) -> None:
    """Guard a verdict in the prose: raise ``ClaimFailed`` naming ``claim_id`` and ``measured`` unless ``holds``.

    ``claim_id`` is the id that ``tests/verdicts/<page>.yml`` gives the sentence; ``measured``
    says what was measured (e.g. ``"97.1 +/- 0.2 vs 97.6 +/- 0.1, Welch t = 3.5, critical 3.1"``),
    so a failed build tells the author which sentence to rewrite and why.
    """
    if not isinstance(claim_id, str) or not claim_id.strip():
        raise ValueError(f"claim_id must be a non-empty string, got claim_id={claim_id!r}")
    if not isinstance(measured, str):
        raise TypeError(f"measured must be a string describing the measurement, got measured={measured!r}")
    if not bool(holds):
        raise ClaimFailed(f"the book's claim {claim_id!r} no longer holds: measured {measured}; "
                          f"rewrite the sentence that tests/verdicts/*.yml lists under {claim_id!r}")


class Chapter:
    """A chapter's set-up and stopwatch: ``chapter = Chapter()`` at the top, ``chapter.glue()`` at the end.

    Sets ``torch.set_num_threads(threads)`` when created and glues the
    wall-clock and CPU seconds since then as ``<prefix>_seconds`` and
    ``<prefix>_cpu_seconds``.
    """

    def __init__(self, threads: int = 1):
        import torch

        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an int >= 1, got threads={threads!r}")
        torch.set_num_threads(threads)
        self.wall_start = time.perf_counter()
        self.cpu_start = time.process_time()

    def seconds(self) -> tuple[float, float]:
        """Wall-clock and CPU seconds since the chapter started."""
        return time.perf_counter() - self.wall_start, time.process_time() - self.cpu_start

    def glue(self, prefix: str = "chapter") -> tuple[float, float]:
        wall, cpu = self.seconds()
        glue(f"{prefix}_seconds", wall)
        glue(f"{prefix}_cpu_seconds", cpu)
        return wall, cpu


def t_critical(df: float, level: float = 0.95) -> float:
    """Two-sided critical value of Student's t with ``df`` degrees of freedom: ``t.ppf((1 + level) / 2, df)``."""
    from scipy import stats

    if not np.isfinite(df) or df <= 0:
        raise ValueError(f"df must be a finite number > 0, got df={df!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got level={level!r}")
    return float(stats.t.ppf((1 + level) / 2, df))


@dataclass(frozen=True)
class Welch:
    """Welch's t-test of mean(a) - mean(b): statistic, Welch-Satterthwaite degrees of freedom, p-value, critical value."""

    t: float
    df: float
    p: float
    critical: float
    level: float

    @property
    def significant(self) -> bool:
        """``|t|`` beyond the two-sided critical value at ``level`` (equivalently ``p < 1 - level``)."""
        return abs(self.t) > self.critical


def welch(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Welch:
    """Welch's unequal-variance t-test (``scipy.stats.ttest_ind(a, b, equal_var=False)``) of ``a`` against ``b``."""
    from scipy import stats

    a, b = np.asarray(list(a), float), np.asarray(list(b), float)
    if a.size < 2 or b.size < 2:
        raise ValueError(f"a and b need at least 2 values each, got len(a)={a.size}, len(b)={b.size}")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    if va + vb == 0:
        raise ValueError("a and b must not both be constant (the t statistic is undefined)")
    res = stats.ttest_ind(a, b, equal_var=False)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return Welch(float(res.statistic), float(df), float(res.pvalue), t_critical(df, level), level)
