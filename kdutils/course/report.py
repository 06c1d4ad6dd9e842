"""``python -m kdutils.course report ASSIGNMENT``: what still needs a human before grades go out.

Run it after every ``nbgrader autograde`` and before every ``nbgrader export``. It reads
nbgrader's own records (the gradebook, ``submitted/``, ``autograded/`` and the log file
``.nbgrader.log``) and, when the class was graded with ``python -m kdutils.course autograde``,
its status records (``grading_status/``, :mod:`kdutils.course.gradestatus`), and lists, per student:

* **failed to grade** (pending): a submitted notebook with no autograded copy (nbgrader removes
  the copy when the kernel dies or cannot be interrupted; the reason is taken from the status
  record, else from the log), a released notebook missing from the submission, a cell stopped by
  the time limit, or a submission changed since its status record (graded again by the next run);
* **stopped functions** (not pending, the student is graded): a student function that overran the
  grader's time budget and was stopped (0 for the checks that reach it);
* **manual grading** (pending): written answers that still need a grade in formgrader;
* **no submission**: roster students with nothing in ``submitted/``;
* **late**: submissions after the (extended) due date (shown in UTC), with the penalty taken, and
  submissions the LMS marked late without a time (Canvas ``_LATE``: "late per LMS");
* **stale late penalty** (pending): a penalty stored by ``autograde`` that the late policy no longer
  gives at the student's current due date (an extension or a due-date change after autograding).

Every command the report prints is on a line of its own, ``run: <command>``, with the assignment and
the student filled in, so it can be copied as it is (``tests/test_course_term.py`` runs each one).
When a stock ``nbgrader autograde`` ran after ``python -m kdutils.course autograde``, the gradebook's
newer result wins over the older status record.

The exit code is 1 while anything is pending, unless ``--allow-pending``; 0 otherwise.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from .autograde import submission_digest
from .collect import current_marks
from .failures import REASONS, log_failures, notebook_problems
from .gradestatus import read_records
from .where import course_config, require_course_dir

__all__ = ["Report", "build_report", "hints", "utc"]

#: the prefix of every command line the report prints
RUN = "run: "


def utc(when) -> str:
    """nbgrader's naive UTC datetime as ``2026-12-04 22:59:00 UTC``."""
    return "none" if when is None else f"{when:%Y-%m-%d %H:%M:%S} UTC"


def hints(text: str) -> list[str]:
    """The commands a report (or any of the tools' outputs) tells the instructor to run."""
    return [m.group(1).strip() for m in re.finditer(rf"^\s*{RUN}(.+)$", text, re.M)]


@dataclass
class Report:
    assignment: str
    failed: dict[str, list[str]] = field(default_factory=dict)
    manual: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    late: dict[str, str] = field(default_factory=dict)
    graded: list[str] = field(default_factory=list)
    stopped: dict[str, list[str]] = field(default_factory=dict)
    stale: dict[str, str] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        return bool(self.failed or self.manual or self.stale)

    def _regrade(self, student: str) -> str:
        return f"    {RUN}nbgrader autograde {self.assignment} --force --student={student}"

    def text(self) -> str:
        a = self.assignment
        lines = [f"report for assignment {a!r}: {len(self.graded)} graded, "
                 f"{len(self.failed)} failed to grade, {len(self.manual)} waiting for manual grading, "
                 f"{len(self.missing)} without submission, {len(self.late)} late"
                 + (f", {len(self.stale)} with a stale late penalty" if self.stale else "")]
        if self.failed:
            lines.append("FAILED TO GRADE (pending: fix what is named, then grade the student again)")
            for s, reasons in sorted(self.failed.items()):
                lines += [f"  {s}: {r}" for r in reasons] + [self._regrade(s)]
        if self.manual:
            lines.append("MANUAL GRADING (pending: grade in formgrader, JupyterLab menu Nbgrader -> Formgrader, "
                         "then regenerate the feedback)")
            lines += [f"  {s}: {r}" for s, reasons in sorted(self.manual.items()) for r in reasons]
            lines.append(f"    {RUN}nbgrader generate_feedback {a} --force")
        if self.stale:
            lines.append("STALE LATE PENALTY (pending: the due date or an extension changed after autograding)")
            for s, r in sorted(self.stale.items()):
                lines += [f"  {s}: {r}", self._regrade(s)]
        if self.stopped:
            lines.append("STOPPED FUNCTIONS (graded: 0 for the checks that reach them)")
            lines += [f"  {s}: {r}" for s, reasons in sorted(self.stopped.items()) for r in reasons]
        if self.missing:
            lines.append("NO SUBMISSION (score 0 in the export)")
            lines += [f"  {s}" for s in sorted(self.missing)]
        if self.late:
            lines.append("LATE")
            lines += [f"  {s}: {r}" for s, r in sorted(self.late.items())]
        lines.append("PENDING: grades are not final" if self.pending else "nothing pending")
        return "\n".join(lines)


def _stopped_text(hangs: list[dict]) -> str:
    """One line for the STOPPED FUNCTIONS section: the first diagnosis and every check it cost."""
    first = hangs[0]["message"].split(";")[0].split("；")[0]
    return f"{first} ({len(hangs)} check(s): " + ", ".join(f"{p['notebook']}/{p['cell']}" for p in hangs) + ")"


def _superseded(rec, auto_dir: Path) -> bool:
    """True when the autograded notebooks were written after the status record (a stock ``nbgrader autograde``)."""
    try:
        finished = _dt.datetime.fromisoformat(rec.finished.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return False
    times = [p.stat().st_mtime for p in auto_dir.glob("*.ipynb")] if auto_dir.is_dir() else []
    return bool(times) and max(times) > finished + 1.0


def build_report(root: Path, assignment: str, db_url: str | None = None) -> Report:
    from nbgrader.api import Gradebook, MissingEntry

    from .late import expected_penalty, policy_of

    cd = course_config(root)
    if db_url:
        cd.db_url = db_url
    policy = policy_of(cd.config)
    cd.assignment_id = assignment
    rep = Report(assignment)
    release = Path(cd.format_path(cd.source_directory, ".", assignment))
    released = sorted(p.name for p in release.glob("*.ipynb"))
    if not released:
        raise SystemExit(f"ERROR: assignment {assignment!r} has no notebooks in {release}")
    submitted_root = Path(cd.root) / cd.submitted_directory
    submitted = {p.parent.name for p in submitted_root.glob(f"*/{assignment}") if p.is_dir()}
    failures = log_failures(Path(cd.root) / ".nbgrader.log", assignment)
    records = read_records(Path(cd.root), assignment)
    marks = current_marks(Path(cd.root), assignment, cd.submitted_directory)
    with Gradebook(cd.db_url) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise SystemExit(f"ERROR: assignment {assignment!r} is not in the gradebook {cd.db_url}; "
                             f"run: nbgrader generate_assignment {assignment} --force") from None
        roster = {s.id for s in gb.students}
        rep.missing = sorted(roster - submitted)
        for student in sorted(submitted):
            sub_dir = submitted_root / student / assignment
            auto_dir = Path(cd.format_path(cd.autograded_directory, student, assignment))
            problems = []
            rec = records.get(student)
            if rec is not None and _superseded(rec, auto_dir):
                rec = None  # a later stock `nbgrader autograde`: the gradebook and autograded/ are newer
            if rec is not None and rec.submission_sha256 and rec.submission_sha256 != submission_digest(
                    Path(cd.root), student, assignment):
                problems.append(f"resubmitted after the autograde of {rec.finished or 'its status record'}: grade it again")
            elif rec is not None and rec.status == "failed":
                problems.append(f"autograde ({rec.host}, {rec.finished}): {rec.reason}")
            hangs = [p for p in rec.problems if p.get("kind") == "hang"] if rec is not None else []
            for name in released:
                if not (sub_dir / name).is_file():
                    problems.append(f"{name} is missing from the submission ({sorted(p.name for p in sub_dir.iterdir())})")
                elif not (auto_dir / name).is_file():
                    if rec is not None and rec.status == "failed":
                        continue  # the status record above says why
                    exc = failures.get(student)
                    why = f"{exc}: {REASONS.get(exc, 'see .nbgrader.log')}" if exc else "not autograded yet"
                    problems.append(f"{name} has no autograded copy: {why}")
                else:  # the autograded notebook's own record, on every road (kdutils.course or stock nbgrader)
                    found = notebook_problems(auto_dir / name)
                    problems += [f"{name}: {p['cell']}: {p['kind']} ({p['message']})" for p in found
                                 if p["kind"] in ("timeout", "dead_kernel")]
                    if rec is None:
                        hangs += [p for p in found if p["kind"] == "hang"]
            if hangs:
                rep.stopped[student] = [_stopped_text(hangs)]
            if problems:
                rep.failed[student] = problems
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            waiting = [f"{nb.name}: {g.name}" for nb in sub.notebooks for g in nb.grades if g.needs_manual_grade]
            if waiting and student not in rep.failed:
                rep.manual[student] = [f"{len(waiting)} answer(s) to grade: " + ", ".join(waiting)]
            stored = sub.late_submission_penalty or 0.0
            ext = f", extension {sub.extension.total_seconds() / 3600:g} h" if sub.extension else ""
            if sub.total_seconds_late > 0:
                rep.late[student] = (f"{sub.total_seconds_late / 3600:.1f} h late (due {utc(sub.duedate)}{ext}), "
                                     f"penalty {stored:g} of {sub.max_score:g} points")
            elif marks.get(student, {}).get("late"):
                charged = policy[1] * sub.max_score if policy else 0.0
                rep.late[student] = (f"late per LMS ({marks[student]['lms']} marked it late; its file names carry no "
                                     f"time), penalty {max(stored, charged):g} of {sub.max_score:g} points in the "
                                     f"export (LatePenalty.lms_late_penalty = {policy[1] if policy else 0:g})")
            if policy is not None and sub.notebooks and student not in rep.failed:
                want = expected_penalty(policy[0], sub)
                if abs(want - stored) > 1e-6:
                    rep.stale[student] = (f"stored penalty {stored:g} points, but at the current due date "
                                          f"{utc(sub.duedate)}{ext} it is {sub.total_seconds_late / 3600:.2f} h late: "
                                          f"penalty {want:g} points")
            if not problems and not waiting and student not in rep.stale:
                rep.graded.append(student)
    return rep


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="list failed, pending, missing and late submissions of an assignment")
    p.add_argument("--course", type=Path, default=None, help="the course directory (default: the current one)")
    p.add_argument("assignment")
    p.add_argument("--allow-pending", action="store_true",
                   help="exit 0 even while grading failures or manual grades are pending")
    p.add_argument("--db-url", default=None,
                   help="the gradebook's SQLAlchemy URL, if not the course's (CourseDirectory.db_url), e.g. "
                        "postgresql+psycopg://grader@dbhost/kd")


def run(args) -> int:
    rep = build_report(require_course_dir(args.course), args.assignment, args.db_url)
    print(rep.text())
    return 1 if rep.pending and not args.allow_pending else 0
