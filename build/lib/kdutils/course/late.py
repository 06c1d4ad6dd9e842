"""Late penalty and per-student extensions, on nbgrader's own due dates.

* ``LatePenalty`` is a ``LateSubmissionPlugin`` (nbgrader's hook, run by ``autograde``): after a
  grace period, the notebook loses ``per_day`` of its maximum score per started day late, and
  everything after ``max_days`` days. Policy knobs are config traits, e.g.
  ``c.LatePenalty.per_day = 0.1``.
* ``python -m kdutils.course extend ASSIGNMENT STUDENT --days 2`` grants an extension through
  ``Gradebook.grant_extension``. nbgrader then measures lateness from the student's extended due
  date everywhere (autograde, formgrader, export, ``report``). Run it before ``autograde`` (or
  re-run ``autograde --force`` for that student afterwards).

The due date itself is nbgrader's: ``nbgrader db assignment add losses --duedate=...`` (or
``--duedate`` on ``generate_assignment``).
"""
from __future__ import annotations

from pathlib import Path

import math
from dataclasses import dataclass

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float

__all__ = ["LatePenalty", "Policy", "penalty", "grant_extension"]

DAY = 86400.0


@dataclass
class Policy:
    """A late policy: free grace period, then a fraction of the maximum per started day, capped."""

    grace_minutes: float = 15.0
    per_day: float = 0.10
    max_days: float = 7.0

    def __post_init__(self):
        for name in ("grace_minutes", "per_day", "max_days"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
                raise ValueError(f"late policy {name}={value!r} must be a finite number >= 0")
        if self.per_day > 1:
            raise ValueError(f"late policy per_day={self.per_day!r} is a fraction of the maximum score (0..1)")


def penalty(policy: Policy, max_score: float, seconds_late: float) -> float:
    """Points to subtract from a notebook worth ``max_score`` submitted ``seconds_late`` seconds late."""
    if seconds_late <= policy.grace_minutes * 60:
        return 0.0
    if seconds_late > policy.max_days * DAY:
        return float(max_score)
    days = math.ceil(seconds_late / DAY)
    return float(min(max_score, days * policy.per_day * max_score))


class LatePenalty(LateSubmissionPlugin):
    """``c.AssignLatePenalties.plugin_class = "kdutils.course.late.LatePenalty"``."""

    grace_minutes = Float(15.0, help="minutes after the due date that cost nothing").tag(config=True)
    per_day = Float(0.10, help="fraction of the notebook's maximum score lost per started day late").tag(config=True)
    max_days = Float(7.0, help="after this many days late the notebook scores zero").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float):
        policy = Policy(self.grace_minutes, self.per_day, self.max_days)
        parent = self.parent  # nbgrader's AssignLatePenalties preprocessor, with the gradebook open
        nb = parent.gradebook.find_submission_notebook(parent.notebook_id, parent.assignment_id, student_id)
        points = penalty(policy, nb.max_score, total_seconds_late)
        self.log.warning("%s is %.0f s late: penalty %.2f of %.2f points (grace %g min, %g per day, zero after %g days)",
                         student_id, total_seconds_late, points, nb.max_score,
                         policy.grace_minutes, policy.per_day, policy.max_days)
        return points


def grant_extension(db_url: str, assignment: str, student: str, days: float = 0, hours: float = 0) -> str:
    """Give ``student`` an extension on ``assignment`` (0 removes it); returns the new due date."""
    from nbgrader.api import Gradebook, MissingEntry

    if days < 0 or hours < 0:
        raise ValueError(f"extension days={days!r}, hours={hours!r} must be >= 0")
    with Gradebook(db_url) as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            raise ValueError(f"assignment {assignment!r} is not in the gradebook {db_url}") from None
        if a.duedate is None:
            raise ValueError(f"assignment {assignment!r} has no due date; set one with "
                             f"`nbgrader db assignment add {assignment} --duedate=...`")
        try:
            gb.find_student(student)
        except MissingEntry:
            raise ValueError(f"student {student!r} is not in the roster of {db_url}") from None
        gb.update_or_create_submission(assignment, student)
        gb.grant_extension(assignment, student, days=days, hours=hours)
        return str(gb.find_submission(assignment, student).duedate)


def add_parser(sub) -> None:
    p = sub.add_parser("extend", help="give a student an extension on an assignment's due date")
    p.add_argument("--course", type=Path, default=None, help="the course directory (default: the current one)")
    p.add_argument("assignment")
    p.add_argument("student")
    p.add_argument("--days", type=float, default=0)
    p.add_argument("--hours", type=float, default=0, help="both 0 removes the extension")


def run(args) -> int:
    from .where import course_config, require_course_dir

    cd = course_config(require_course_dir(args.course))
    try:
        due = grant_extension(cd.db_url, args.assignment, args.student, args.days, args.hours)
    except ValueError as e:
        print(f"ERROR: {e}")
        return 2
    print(f"{args.student} now has {args.assignment} due {due} (UTC)")
    return 0
