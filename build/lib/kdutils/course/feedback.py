"""``python -m kdutils.course release-feedback ASSIGNMENT``: return feedback to every student.

``nbgrader release_feedback`` files each feedback page in the exchange under a hash of the secret
that ``nbgrader submit`` put into the submission (``submission_secret.txt``). Students collected
with ``zip_collect`` never ran ``submit``: there is no secret, ``release_feedback`` stopped with
``FileNotFoundError: ... submission_secret.txt``, and such a student could not fetch the page
anyway. This command splits the class:

* students with a secret: the stock ``nbgrader release_feedback ASSIGNMENT``, with the others
  excluded (``--CourseDirectory.student_id_exclude``);
* students without one: their ``feedback/<student>/<assignment>/*.html`` are packed into
  ``exports/feedback-<assignment>.zip`` (one folder per student) to upload to the learning platform.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from .core import nbgrader
from .where import course_config, require_course_dir

__all__ = ["release_feedback"]


def release_feedback(root: Path, assignment: str, extra: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Release through the exchange or pack into a zip; returns ``{"exchange": [...], "zip": [...]}``."""
    cd = course_config(root)
    folders = sorted(p for p in (root / cd.feedback_directory).glob(f"*/{assignment}") if p.is_dir())
    if not folders:
        raise SystemExit(f"ERROR: no feedback for {assignment!r} in {root / cd.feedback_directory}; "
                         f"run `nbgrader generate_feedback {assignment} --force` first")
    exchange = [p.parent.name for p in folders if (p / "submission_secret.txt").is_file()]
    zipped = [p.parent.name for p in folders if p.parent.name not in exchange]
    if exchange:
        args = ["release_feedback", assignment, *extra]
        if zipped:
            args.append(f"--CourseDirectory.student_id_exclude={','.join(zipped)}")
        nbgrader(*args, cwd=root)
    if zipped:
        out = root / "exports" / f"feedback-{assignment}.zip"
        out.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in folders:
                if p.parent.name in zipped:
                    for html in sorted(p.glob("*.html")):
                        zf.write(html, f"{p.parent.name}/{html.name}")
    return {"exchange": exchange, "zip": zipped}


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
    if done["zip"]:
        print(f"no exchange submission (zip_collect): {', '.join(done['zip'])} -> "
              f"exports/feedback-{args.assignment}.zip (upload it to the learning platform)")
    return 0
