"""Late penalty and per-student extensions, on nbgrader's own due dates.

* ``LatePenalty`` is a ``LateSubmissionPlugin`` (nbgrader's hook, run by ``autograde``): after a
  grace period, the notebook loses ``per_day`` of its maximum score per started day late, and
  everything after ``max_days`` days. Policy knobs are config traits, e.g.
  ``c.LatePenalty.per_day = 0.1``.
* ``python -m kdutils.course extend ASSIGNMENT STUDENT --days 2`` grants an extension through
  ``Gradebook.grant_extension``. nbgrader then measures lateness from the student's extended due
  date everywhere (autograde, formgrader, export, ``report``). Run it before ``autograde`` (or
  re-run ``autograde --force`` for that student afterwards).

* Canvas's ``_LATE`` mark (``kdutils.course.collect``: its file names carry no time, so nbgrader sees
  no lateness) is shown as "late per LMS" by ``report`` and ``export``; ``LatePenalty.lms_late_penalty``
  (a fraction of the maximum, default 0: shown, not charged) is the penalty ``export`` takes for it.
* ``expected_penalty`` recomputes a submission's penalty from the policy and its *current* due date:
  ``report`` flags a stored penalty that differs (an extension or a due-date change after autograding).

The due date itself is nbgrader's: ``nbgrader db assignment add losses --duedate="2026-12-04 23:59:00
Europe/Berlin"`` (or ``--duedate`` on ``generate_assignment``).
"""
from __future__ import annotations

from pathlib import Path

import math
from dataclasses import dataclass

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float

__all__ = ["LatePenalty", "Policy", "penalty", "grant_extension", "policy_of", "expected_penalty", "PLUGIN"]

#: nbgrader's name of this plugin (``c.AssignLatePenalties.plugin_class``)
PLUGIN = "kdutils.course.late.LatePenalty"

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
    lms_late_penalty = Float(0.0, help="fraction of an assignment's maximum score that `nbgrader export` takes from a "
                                       "submission the LMS marked late without a time (Canvas _LATE); 0: shown as "
                                       "'late per LMS', not charged").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float):
        policy = Policy(self.grace_minutes, self.per_day, self.max_days)
        parent = self.parent  # nbgrader's AssignLatePenalties preprocessor, with the gradebook open
        nb = parent.gradebook.find_submission_notebook(parent.notebook_id, parent.assignment_id, student_id)
        points = penalty(policy, nb.max_score, total_seconds_late)
        self.log.warning("%s is %.0f s late: penalty %.2f of %.2f points (grace %g min, %g per day, zero after %g days)",
                         student_id, total_seconds_late, points, nb.max_score,
                         policy.grace_minutes, policy.per_day, policy.max_days)
        return points


def policy_of(config) -> tuple[Policy, float] | None:
    """``(policy, lms_late_penalty)`` of a loaded nbgrader config, or None when the course's late-penalty plugin
    is not ``LatePenalty`` (then a stored penalty cannot be recomputed here)."""
    plugin = config.AssignLatePenalties.get("plugin_class", None) if "AssignLatePenalties" in config else None
    name = plugin if isinstance(plugin, str) else f"{getattr(plugin, '__module__', '')}.{getattr(plugin, '__name__', '')}"
    if name != PLUGIN:
        return None
    lp = LatePenalty(config=config)
    if not 0 <= lp.lms_late_penalty <= 1:
        raise ValueError(f"LatePenalty.lms_late_penalty={lp.lms_late_penalty!r} is a fraction of the maximum (0..1)")
    return Policy(lp.grace_minutes, lp.per_day, lp.max_days), lp.lms_late_penalty


def expected_penalty(policy: Policy, submission) -> float:
    """The penalty ``LatePenalty`` gives ``submission`` (nbgrader's SubmittedAssignment) at its current due date."""
    late = submission.total_seconds_late
    if late <= 0:
        return 0.0
    return sum(penalty(policy, nb.max_score, late) for nb in submission.notebooks)


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
            raise ValueError(f"assignment {assignment!r} has no due date; set one with nbgrader db assignment add "
                             f"{assignment} --duedate=\"<date> <time> <time zone>\", e.g. --duedate=\"2026-12-04 "
                             "23:59:00 Europe/Berlin\"")
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
    from pathlib import Path

    from .where import course_config, require_course_dir

    cd = course_config(require_course_dir(args.course))
    try:
        due = grant_extension(cd.db_url, args.assignment, args.student, args.days, args.hours)
    except ValueError as e:
        print(f"ERROR: {e}")
        return 2
    print(f"{args.student} now has {args.assignment} due {due} (UTC)")
    if (Path(cd.format_path(cd.autograded_directory, args.student, args.assignment))).is_dir():
        print(f"{args.student} was autograded before the extension: the stored late penalty is stale; grade again:\n"
              f"  run: nbgrader autograde {args.assignment} --force --student={args.student}")
    return 0
