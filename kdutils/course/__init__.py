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


def __getattr__(name: str):
    """``generate`` and ``grade_demo`` are imported when first used, so ``--help`` and nbgrader's plugins stay light."""
    if name == "generate":
        from .generate import generate

        return generate
    if name == "grade_demo":
        from .demo import grade_demo

        return grade_demo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["ROOT", "ASSIGNMENTS", "VOLATILE_METADATA", "nbgrader", "normalized", "make_course", "read_scores",
           "generate", "grade_demo"]

