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
#: The final task of the training assignment: test accuracy to reach, within this many epochs.
FINAL_ACCURACY = 0.85
FINAL_MAX_EPOCHS = 20
FINAL_MAX_HIDDEN = 32
_LOSS_FUNCTIONS = ("softmax_with_temperature", "soft_cross_entropy", "kd_kl_loss", "distillation_loss")
