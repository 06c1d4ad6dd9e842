"""The rules of the two nbgrader assignments: which parts each check has, and the final task's targets.

Used by the kernel-side checks (``kdutils.grading``) and by the grading worker, for the
assignments ``solutions/losses`` and ``solutions/training`` (book chapter "For instructors").
"""
from __future__ import annotations

#: The behaviours each check knows, one per test cell.
PARTS = {
    "softmax_with_temperature": ("example", "batch", "temperature", "stable", "gradient"),
    "soft_cross_entropy": ("example", "batch", "zeros", "gradient"),
    "kd_kl_loss": ("example", "batch", "temperature", "stable", "gradient"),
    "distillation_loss": ("example", "alpha", "temperature", "gradient"),
    "fit_soft_targets": ("losses", "fit"),
    "distill_one_epoch": ("loss", "teacher", "student_mode", "steps"),
    "evaluate_accuracy": ("value", "mode"),
}
#: The final task of the training assignment (``kdutils.grading.final``): test accuracy to reach, within this
#: many epochs, with a student of at most FINAL_MAX_HIDDEN hidden units that sees FINAL_PER_CLASS labelled digits
#: per class (the transfer set, drawn with FINAL_SUBSET_SEED). The grader runs the student's ``distil_student``
#: under FINAL_SEED, with batches of FINAL_BATCH_SIZE. FINAL_ACCURACY lies between the best label-only run and
#: the worst distilled run over 5 seeds, measured by ``benchmarks/final_task.py`` (``grading.final_task``).
FINAL_ACCURACY = 0.92
FINAL_MAX_EPOCHS = 100
FINAL_MAX_HIDDEN = 32
FINAL_PER_CLASS = 10
FINAL_SUBSET_SEED = 0
FINAL_BATCH_SIZE = 32
FINAL_SEED = 1
_LOSS_FUNCTIONS = ("softmax_with_temperature", "soft_cross_entropy", "kd_kl_loss", "distillation_loss")
