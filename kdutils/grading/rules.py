"""The rules of the training assignment's final task: the test accuracy to reach, within how many epochs.

Used by the kernel-side checks (``kdutils.grading``), the grading worker and the notebook
``solutions/training`` (book chapter "For instructors"). The parts of each check are in
``checks.CHECKS``.
"""
from __future__ import annotations

#: The final task of the training assignment: test accuracy to reach, within this many epochs.
FINAL_ACCURACY = 0.85
FINAL_MAX_EPOCHS = 20
FINAL_MAX_HIDDEN = 32
