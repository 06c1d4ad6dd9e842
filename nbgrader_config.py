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

# Hidden tests: when the course has a secret (`python -m kdutils.course secret`, file
# .kd-course-secret), generate_assignment first writes the course key into the hidden test cells
# (in place of kd.grading.HIDDEN), so the gradebook holds keyed hidden cells and the released
# notebooks hold none. Without a secret the public default cases are used (kdutils/course/secret.py).
from nbgrader.converters import GenerateAssignment  # noqa: E402

c.GenerateAssignment.preprocessors = ["kdutils.course.secret.InsertCourseKey",
                                      *GenerateAssignment.class_traits()["preprocessors"].make_dynamic_default()]

# Released notebooks carry no outputs.
c.ClearOutput.enabled = True

# nbgrader's log, read by `python -m kdutils.course report` to say why a notebook failed to grade.
c.NbGrader.logfile = ".nbgrader.log"

# `nbgrader zip_collect <assignment>`: the files in downloaded/<assignment>/archive/ (zips or
# notebooks) as Blackboard, Canvas or Moodle name them; the students are looked up in the roster
# (`nbgrader db student import roster.csv`; Canvas and Moodle ids in its lms_user_id column).
# A file that matches nothing stops the collection with an error. Blackboard's timestamps are
# read in this time zone:
c.ZipCollectApp.collector_plugin = "kdutils.course.collect.LMSCollector"
c.LMSCollector.timezone = "UTC"

# Late submissions (due dates: `nbgrader db assignment add losses --duedate=...`): free for
# 15 minutes, then 10 % of the notebook's points per started day, zero after 7 days.
# Extensions: `python -m kdutils.course extend losses alice --days 2`.
c.AssignLatePenalties.plugin_class = "kdutils.course.late.LatePenalty"
c.LatePenalty.grace_minutes = 15
c.LatePenalty.per_day = 0.10
c.LatePenalty.max_days = 7

# `nbgrader export`: one row per student with, per assignment, score, lateness, penalty, status
# (graded / needs manual grade / no submission) and one column per question.
c.ExportApp.plugin_class = "kdutils.course.export.LMSExport"
