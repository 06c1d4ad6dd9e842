"""The grading status file: one JSON record per student and assignment, written after each autograde.

``python -m kdutils.course autograde`` (``autograde.py``) writes one file per student,
``<course>/grading_status/<assignment>/<student>.json``, atomically (write to a temporary
file, then rename), so that parallel jobs and several machines sharing the course folder
never write the same file and a run killed at any moment leaves either the old record or
the new one. A record says whether that student's notebooks were graded and, if not, why
(a dead kernel, a cell that never returned, a missing file, ...), so that a failure is
always visible to the instructor, and ``report`` can list it. nbgrader's own output of the
run is kept beside it in ``<student>.log``.

Fields of a record (``StatusRecord``):

* ``student``, ``assignment``: the nbgrader ids.
* ``status``: ``"graded"`` (nbgrader finished and every expected notebook was autograded) or
  ``"failed"`` (the student's grade is missing or not to be trusted: see ``reason``).
* ``reason``: a one-line explanation for the instructor; empty when graded.
* ``problems``: a list of ``{"notebook", "cell", "kind", "message"}`` found in the autograded
  notebooks, also for a graded student. ``kind`` is one of ``timeout`` (a cell ran into the
  per-cell timeout and was interrupted), ``dead_kernel``, ``unresponsive_kernel``,
  ``missing_notebook``, ``hang`` (a student function overran the grader's time budget,
  ``kdutils.grading.rules.HANG_SECONDS``, and was stopped; the student is graded, with 0 for the
  checks that reach it).
* ``score``, ``max_score``: the autograded points from the gradebook (``null`` if unknown).
* ``returncode``: nbgrader's exit code (negative: killed by that signal), ``attempts``: how many
  times nbgrader was started (a locked SQLite gradebook is retried).
* ``seconds``, ``started``, ``finished`` (UTC, ISO 8601), ``host``: where and when.
* ``submission_sha256``: a digest of the submitted files; a record whose digest no longer matches
  the submission is stale and the student is graded again.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["StatusRecord", "status_dir", "write_record", "read_records", "failures", "STATUS_DIR"]

#: folder of the course directory that holds the records (git-ignored: it names students)
STATUS_DIR = "grading_status"
KINDS = ("timeout", "dead_kernel", "unresponsive_kernel", "missing_notebook", "hang")


@dataclass
class StatusRecord:
    """The outcome of autograding one student's submission of one assignment."""

    student: str
    assignment: str
    status: str
    reason: str = ""
    problems: list = field(default_factory=list)
    score: float | None = None
    max_score: float | None = None
    returncode: int | None = None
    attempts: int = 1
    seconds: float = 0.0
    started: str = ""
    finished: str = ""
    host: str = ""
    submission_sha256: str = ""

    def __post_init__(self):
        if self.status not in ("graded", "failed"):
            raise ValueError(f"status must be 'graded' or 'failed', got {self.status!r}")


def status_dir(course: Path, assignment: str) -> Path:
    return Path(course) / STATUS_DIR / assignment


def write_record(course: Path, rec: StatusRecord, log: str | None = None) -> Path:
    """Write ``rec`` (and nbgrader's output ``log``) atomically; returns the record's path."""
    d = status_dir(course, rec.assignment)
    d.mkdir(parents=True, exist_ok=True)
    if log is not None:
        _atomic_write(d / f"{rec.student}.log", log)
    path = d / f"{rec.student}.json"
    _atomic_write(path, json.dumps(asdict(rec), indent=1, sort_keys=True) + "\n")
    return path


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_records(course: Path, assignment: str) -> dict[str, StatusRecord]:
    """``{student: record}`` of every student with a record for ``assignment``."""
    out = {}
    d = status_dir(course, assignment)
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        out[p.stem] = StatusRecord(**json.loads(p.read_text()))
    return out


def failures(course: Path, assignment: str) -> list[StatusRecord]:
    """The records an instructor must look at: failed students and graded ones with problems."""
    return [r for r in read_records(course, assignment).values() if r.status == "failed" or r.problems]
