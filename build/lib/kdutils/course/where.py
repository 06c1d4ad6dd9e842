"""Which directory is the course: the commands of ``kdutils.course`` write only inside one.

A course directory holds ``nbgrader_config.py`` and the source folder (``solutions/``). The
commands work on the current directory and refuse to run anywhere else, so that running one
from the wrong place (or from an installed copy of ``kdutils``) cannot scatter files.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["NotACourseError", "require_course_dir", "course_config"]


class NotACourseError(SystemExit):
    """Raised (and printed, exit code 2) when a command runs outside a course directory."""

    def __init__(self, path: Path, missing: str):
        super().__init__(f"ERROR: {path} is not a course directory ({missing} is missing); "
                         "run this command from the course directory, the one holding nbgrader_config.py "
                         "and solutions/")
        self.path = path


def require_course_dir(path: Path | str | None = None, source: str = "solutions") -> Path:
    """``path`` (default: the current directory), resolved, if it is a course directory; else NotACourseError."""
    root = Path.cwd() if path is None else Path(path)
    root = root.resolve()
    if not (root / "nbgrader_config.py").is_file():
        raise NotACourseError(root, "nbgrader_config.py")
    if not (root / source).is_dir():
        raise NotACourseError(root, f"{source}/")
    return root


def course_config(root: Path):
    """nbgrader's ``CourseDirectory`` of ``root``, configured by its ``nbgrader_config.py``."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    return CourseDirectory(config=config, root=str(root))
