"""The gradebook side of ``kdutils.course autograde``: which database, which notebooks, which scores.

nbgrader keeps grades in a SQLAlchemy database (SQLite by default, or a shared PostgreSQL one given by
``--db-url``). This module names it (``default_db_url``, ``redact`` for printing), gives SQLite a busy
timeout so that parallel writers wait for each other, reads the notebooks an assignment has, and reads
the autograded scores back (``gradebook_scores``).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["AutogradeError", "SQLITE_BUSY_TIMEOUT", "default_db_url", "with_busy_timeout", "redact",
           "assignment_notebooks", "gradebook_scores"]

#: busy timeout (seconds) given to SQLite: how long a writer waits for another one's lock
SQLITE_BUSY_TIMEOUT = 120


class AutogradeError(RuntimeError):
    """Bad arguments or a course that cannot be graded (the message says which)."""


def default_db_url(course: Path) -> str:
    return f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


def with_busy_timeout(db_url: str) -> str:
    """A SQLite URL with a busy timeout (SQLAlchemy passes ``?timeout=`` to ``sqlite3.connect``)."""
    if db_url.startswith("sqlite") and "timeout=" not in db_url:
        return db_url + ("&" if "?" in db_url else "?") + f"timeout={SQLITE_BUSY_TIMEOUT}"
    return db_url


def redact(db_url: str) -> str:
    """``db_url`` without its password, for printing."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable db url>"


def assignment_notebooks(db_url: str, assignment: str) -> list[str]:
    """The notebook names of ``assignment`` in the gradebook; a clear error if it is not there."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).exists()):
        raise AutogradeError(f"no gradebook at {url.database}: run `nbgrader generate_assignment {assignment}` first")
    _venv_on_path()  # nbgrader runs the `alembic` command when it opens an empty database
    try:
        with Gradebook(db_url) as gb:
            try:
                return sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)
            except MissingEntry:
                pass
    except Exception as e:  # cannot connect, no driver, ...
        raise AutogradeError(f"cannot open the gradebook --db-url {redact(db_url)!r}: {type(e).__name__}: {e}") from e
    raise AutogradeError(
        f"assignment {assignment!r} is not in the gradebook {redact(db_url)}: run "
        f"`nbgrader generate_assignment {assignment} --CourseDirectory.db_url=...` with the same database first")


def _venv_on_path() -> None:
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


def gradebook_scores(db_url: str, assignment: str, students=None) -> dict[str, tuple[float, float, int]]:
    """``{student: (score, max_score, n_submissions)}`` of the autograded code cells, from the gradebook."""
    from nbgrader.api import Gradebook, SubmittedAssignment

    out: dict[str, tuple[float, float, int]] = {}
    with Gradebook(db_url) as gb:
        for sub in gb.assignment_submissions(assignment):
            if students is not None and sub.student_id not in students:
                continue
            score = maximum = 0.0
            for nb in sub.notebooks:
                for g in nb.grades:
                    if g.cell.cell_type == "code":
                        maximum += g.max_score
                        score += g.score if g.auto_score is not None or g.manual_score is not None else 0.0
            n = gb.db.query(SubmittedAssignment).filter(SubmittedAssignment.assignment_id == sub.assignment_id,
                                                        SubmittedAssignment.student_id == sub.student_id).count()
            out[sub.student_id] = (score, maximum, n)
    return out
