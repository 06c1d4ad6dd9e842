"""nbgrader configuration of the course: the book's repository *is* the course directory.

nbgrader's folders are mapped onto this repository's layout:

* ``solutions/<assignment>/``  the source notebooks, with solutions and hidden tests
* ``exercises/<assignment>/``  the released student notebooks (``make exercises``)
* ``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db``  created by nbgrader, git-ignored

The book chapter "For instructors" gives the commands. The same file is copied into the
temporary course directories of ``make grade-demo`` and of the tests.
"""
c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "kd-book"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# Per-cell execution limit while autograding or validating. The slowest graded cell (the final
# distillation run of `training`) takes seconds on a 2-core CPU; an infinite loop is
# interrupted after this many seconds, that cell counts as failed, and grading goes on.
c.ExecutePreprocessor.timeout = 60
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# Once the last cell has run and its outputs are saved, stop the kernel at once instead of
# asking it to shut down and waiting for it (the verdicts are already in the notebook).
c.Execute.shutdown_kernel = "immediate"

# A student who deletes a test cell gets it back (and fails it) instead of skipping it.
c.OverwriteCells.add_missing_cells = True

# Released notebooks carry no outputs.
c.ClearOutput.enabled = True

# `nbgrader zip_collect <assignment>`: files in downloaded/<assignment>/archive/ named like
# "<anything>_<student_id>_attempt_<timestamp>_<notebook>.ipynb" (an LMS export) are collected.
c.FileNameCollectorPlugin.named_regexp = (
    r".*_(?P<student_id>[A-Za-z0-9]+)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>\w+\.ipynb)"
)
