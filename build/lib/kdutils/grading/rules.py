"""The rules of the training assignment's final task: the test accuracy to reach, within how many epochs.

Used by the kernel-side checks (``kdutils.grading``), the grading worker and the notebook
``solutions/training`` (book chapter "For instructors"). The parts of each check are in
``checks.CHECKS``.
"""
from __future__ import annotations

#: The final task of the training assignment: test accuracy to reach, within this many epochs, with a student
#: of at most FINAL_MAX_HIDDEN hidden units that sees FINAL_PER_CLASS labelled digits per class (the transfer
#: set, drawn with FINAL_SUBSET_SEED). The grader runs the student's ``distil_student`` under FINAL_SEED, with
#: batches of FINAL_BATCH_SIZE. FINAL_ACCURACY lies between the best label-only run and the worst distilled run
#: over 5 seeds, measured by ``benchmarks/final_task.py`` (``grading.final_task``).
FINAL_ACCURACY = 0.92
FINAL_MAX_EPOCHS = 100
FINAL_MAX_HIDDEN = 32
FINAL_PER_CLASS = 10
FINAL_SUBSET_SEED = 0
FINAL_BATCH_SIZE = 32
FINAL_SEED = 1

#: How long one call of a student's function may run in a check before the grader stops it (SIGALRM in the
#: kernel's main thread) and records the hang: every later check of that function, and of the student's
#: functions that call it, then fails at once. The final task's ``distil_student`` trains for up to
#: FINAL_MAX_EPOCHS epochs and gets FINAL_HANG_SECONDS; the training functions (fit_soft_targets, 200 steps,
#: took 6 to 11 s in-process on the loaded 2-core machine) get TRAIN_HANG_SECONDS. Both stay below the 60-second cell timeout
#: (``nbgrader_config.py``), the last line of defence. After the first alarm the grader raises again every
#: HANG_REPEAT_SECONDS (and on the student's next line), so a loop whose bare ``except:`` swallows the first
#: interrupt is stopped too.
HANG_SECONDS = 10.0
TRAIN_HANG_SECONDS = 30.0
FINAL_HANG_SECONDS = 40.0
HANG_REPEAT_SECONDS = 0.01
