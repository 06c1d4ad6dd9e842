"""``python -m kdutils.course release-feedback ASSIGNMENT``: return feedback to every student.

``nbgrader release_feedback`` files each feedback page in the exchange under a hash of the secret
that ``nbgrader submit`` put into the submission (``submission_secret.txt``) and of the notebook's
name; ``nbgrader fetch_feedback`` looks for the names of the notebooks the student submitted.
Students collected with ``zip_collect`` never ran ``submit``: there is no secret,
``release_feedback`` stopped with ``FileNotFoundError: ... submission_secret.txt``, and such a
student could not fetch the page anyway. This command splits the class:

* students with a secret: the stock ``nbgrader release_feedback ASSIGNMENT``, with the others
  excluded (``--CourseDirectory.student_id_exclude``). A student whose feedback page has no submitted
  notebook of the same name (they renamed ``losses.ipynb``) would find nothing with
  ``fetch_feedback``: the command says so, names the files, and packs that student's pages into the
  zip as well;
* students without one: their pages are packed into zips to upload to the learning platform, named
  the way its bulk upload of feedback files expects (the LMS file names are those ``zip_collect``
  recorded in ``lms/<assignment>.json``, :mod:`kdutils.course.collect`):

  ==========================================  ============================================================
  ``exports/feedback-<a>-canvas.zip``         ``<lastfirst>_<userid>_<attachmentid>_<notebook>.html``, as
                                              downloaded (Canvas: *Submissions -> Upload Submission
                                              Comments*, matched by user id)
  ``exports/feedback-<a>-moodle.zip``         ``<Full Name>_<participantid>_assignsubmission_file_<notebook>.html``
                                              (Moodle: *Grading action -> Upload multiple feedback files
                                              in a zip*, matched by the participant id in the name)
  ``exports/feedback-<a>.zip``                ``<student>/<notebook>.html`` (Blackboard and the rest)
  ==========================================  ============================================================
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from .collect import current_marks
from .core import nbgrader
from .where import course_config, require_course_dir

__all__ = ["release_feedback", "feedback_name", "unfetchable"]


def feedback_name(student: str, html: str, mark: dict | None) -> tuple[str, str]:
    """``(zip kind, name inside the zip)`` of one feedback page: by the student's LMS, else by student id."""
    lms = (mark or {}).get("lms")
    prefix = (mark or {}).get("prefix", "")
    if lms == "canvas" and prefix:
        return "canvas", f"{prefix}{html}"
    if lms == "moodle" and prefix:  # "Full Name_410006_assignsubmission_file_" (the folder form may lack the "_")
        return "moodle", f"{prefix.rstrip('/').rstrip('_')}_{html}"
    return "", f"{student}/{html}"


def unfetchable(folder: Path, submitted: Path) -> list[str]:
    """Feedback pages in ``folder`` with no submitted notebook of the same name (``fetch_feedback`` cannot find them)."""
    have = {p.stem for p in submitted.glob("*.ipynb")} if submitted.is_dir() else set()
    return sorted(h.name for h in folder.glob("*.html") if h.stem not in have)


def release_feedback(root: Path, assignment: str, extra: tuple[str, ...] = ()) -> dict:
    """Release through the exchange or pack into zips.

    Returns ``{"exchange": [...], "zip": [...], "unfetchable": {student: [pages]}, "zips": {path: [students]}}``.
    """
    cd = course_config(root)
    folders = sorted(p for p in (root / cd.feedback_directory).glob(f"*/{assignment}") if p.is_dir())
    if not folders:
        raise SystemExit(f"ERROR: no feedback for {assignment!r} in {root / cd.feedback_directory}; "
                         f"run: nbgrader generate_feedback {assignment} --force")
    exchange = [p.parent.name for p in folders if (p / "submission_secret.txt").is_file()]
    zipped = [p.parent.name for p in folders if p.parent.name not in exchange]
    lost = {}
    for p in folders:
        if p.parent.name in exchange:
            bad = unfetchable(p, root / cd.submitted_directory / p.parent.name / assignment)
            if bad:
                lost[p.parent.name] = bad
    if exchange:
        args = ["release_feedback", assignment, *extra]
        if zipped:
            args.append(f"--CourseDirectory.student_id_exclude={','.join(zipped)}")
        nbgrader(*args, cwd=root)
    marks = current_marks(root, assignment, cd.submitted_directory)
    packed: dict[str, list[tuple[Path, str]]] = {}
    owners: dict[str, list[str]] = {}
    for p in folders:
        student = p.parent.name
        if student not in zipped and student not in lost:
            continue
        for html in sorted(p.glob("*.html")):
            kind, name = feedback_name(student, html.name, marks.get(student))
            packed.setdefault(kind, []).append((html, name))
            if student not in owners.setdefault(kind, []):
                owners[kind].append(student)
    zips = {}
    for kind, files in packed.items():
        out = root / "exports" / (f"feedback-{assignment}-{kind}.zip" if kind else f"feedback-{assignment}.zip")
        out.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for html, name in files:
                zf.write(html, name)
        zips[str(out.relative_to(root))] = owners[kind]
    return {"exchange": [s for s in exchange if s not in lost], "zip": zipped, "unfetchable": lost, "zips": zips}


def add_parser(sub) -> None:
    p = sub.add_parser("release-feedback", help="release feedback via the exchange, or zip it for zip-collected students")
    p.add_argument("--course", type=Path, default=None, help="the course directory (default: the current one)")
    p.add_argument("assignment")
    p.add_argument("--exchange-root", default=None, help="Exchange.root, if not set in a config file")


def run(args) -> int:
    root = require_course_dir(args.course)
    extra = (f"--Exchange.root={args.exchange_root}",) if args.exchange_root else ()
    done = release_feedback(root, args.assignment, extra)
    if done["exchange"]:
        print(f"released through the exchange: {', '.join(done['exchange'])}")
    for student, pages in sorted(done["unfetchable"].items()):
        print(f"WARNING: {student}: released through the exchange, but `nbgrader fetch_feedback` will not find "
              f"{', '.join(pages)}: no submitted notebook has that name (renamed?). Their pages are in the zip below; "
              f"give them to {student} another way.")
    for path, students in sorted(done["zips"].items()):
        print(f"{path}: {', '.join(students)} (upload it to the learning platform's bulk feedback upload)")
    return 0
