"""Course tooling around nbgrader, for instructors (book chapter "For instructors").

``python -m kdutils.course generate``   regenerate ``exercises/`` from ``solutions/`` (``make exercises``)
``python -m kdutils.course grade-demo`` grade the demo class in a temporary course directory (``make grade-demo``)

All commands drive the stock ``nbgrader`` command line with the repository's ``nbgrader_config.py``.
Modules: ``core`` (paths, running nbgrader, reading the gradebook), one module per command
(``generate``, ``demo``), ``translate`` (the Chinese releases ``losses_zh`` and ``training_zh``, made from
the English sources and ``solutions/zh/*.yml``), and ``__main__`` (the command line).

Importing this package loads neither the grader nor torch (the demo imports them when it runs): nbgrader
imports it for its late-penalty plugin (``kdutils.course.late``) in every ``nbgrader autograde``.
"""
from .core import ASSIGNMENTS, ROOT, VOLATILE_METADATA, make_course, nbgrader, normalized, read_scores
from .demo import grade_demo
from .generate import generate
