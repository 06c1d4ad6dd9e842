"""The course secret: the hidden tests' cases of a real course derive from it, not from public code.

``python -m kdutils.course secret`` (``make course-secret``) writes 256 random bits, as hex, to
``.kd-course-secret`` in the course directory (mode 0600, git-ignored). ``nbgrader
generate_assignment`` then runs ``InsertCourseKey`` first (``nbgrader_config.py``): in every
``### BEGIN HIDDEN TESTS`` region it replaces ``hidden=kd.grading.HIDDEN`` with
``hidden="kdk1-…"``, the assignment's *course key* ``HMAC-SHA256(secret, assignment)`` (never the
secret itself), before nbgrader records the cells in the gradebook. The gradebook therefore
holds the keyed hidden cells, which ``autograde`` puts back into each submission; the released
notebooks, from which nbgrader removes the hidden regions, contain neither the key nor the
secret, and ``kdutils.grading.keys`` seeds the hidden cases from the key in the grading worker.

Without a secret nothing is replaced and the hidden cells keep ``kd.grading.HIDDEN``, the
documented public default (the public repository's cases: the book's demo, the tests).
One key per assignment, so releasing one assignment's feedback (which shows its hidden cells)
does not reveal another's. Book chapter "For instructors".
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor

from .where import require_course_dir

__all__ = ["SECRET_FILE", "PLACEHOLDER", "SecretError", "make_secret", "read_secret", "course_key",
           "insert_key", "InsertCourseKey"]

#: The course secret's file, in the course directory (git-ignored).
SECRET_FILE = ".kd-course-secret"
#: What a hidden test cell of solutions/ passes as ``hidden=`` (replaced by the course key).
PLACEHOLDER = "kd.grading.HIDDEN"
_PLACEHOLDER = re.compile(r"hidden\s*=\s*kd\.grading\.HIDDEN\b")
_HIDDEN_TRUE = re.compile(r"hidden\s*=\s*True\b")
_SECRET = re.compile(r"[0-9a-f]{64}")
_BEGIN, _END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


#: A course key's form, as ``kdutils.grading.keys`` checks it (``kdk1-`` and 32 lowercase hex digits). Written
#: here again so that ``nbgrader generate_assignment``, which runs this preprocessor, never imports the grader
#: (and torch); tests/test_course_secret.py checks that both agree.
KEY_PREFIX = "kdk1-"


class SecretError(SystemExit):
    """A bad or missing secret file, or a hidden cell the key cannot be written into (non-zero exit, message)."""

    def __init__(self, message: str):
        super().__init__(f"ERROR: {message}")


def make_secret(root: Path, force: bool = False) -> Path:
    """Write a new random secret to ``root/.kd-course-secret`` (mode 0600); refuse to replace one unless ``force``."""
    path = Path(root) / SECRET_FILE
    if path.exists() and not force:
        raise SecretError(f"{path} exists already; a new secret changes every hidden case from the next "
                          "generate_assignment on (use --force at the start of a new term)")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def read_secret(root: Path) -> str | None:
    """The secret of the course in ``root``, or None when it has none (the public default is used)."""
    path = Path(root) / SECRET_FILE
    if not path.exists():
        return None
    text = path.read_text().strip()
    if not _SECRET.fullmatch(text):
        raise SecretError(f"{path} does not hold a course secret (64 hex digits); "
                          "write a new one with `python -m kdutils.course secret --force`")
    return text


def course_key(secret: str, assignment: str) -> str:
    """The key of ``assignment``'s hidden cases: ``kdk1-`` and the first 128 bits of HMAC-SHA256(secret, assignment)."""
    if not _SECRET.fullmatch(secret or ""):
        raise ValueError(f"secret must be 64 hex digits, got a {type(secret).__name__} of length {len(secret or '')}")
    digest = hmac.new(secret.encode(), f"kdutils hidden cases/{assignment}".encode(), hashlib.sha256).hexdigest()
    return KEY_PREFIX + digest[:32]


def insert_key(source: str, key: str, where: str = "cell") -> str:
    """``source`` with ``hidden=kd.grading.HIDDEN`` replaced by ``hidden="<key>"`` inside its hidden-test regions.

    A hidden region that still says ``hidden=True`` (refused by the grader) stops generation with an error.
    """
    out, inside = [], False
    for line in source.splitlines(keepends=True):
        stripped = line.strip()
        if stripped == _BEGIN:
            inside = True
        elif stripped == _END:
            inside = False
        elif inside:
            if _HIDDEN_TRUE.search(line):
                raise SecretError(f"{where}: a hidden test says hidden=True; write hidden={PLACEHOLDER} instead "
                                  f"(the course key replaces it): {stripped}")
            line = _PLACEHOLDER.sub(f'hidden="{key}"', line)
        out.append(line)
    return "".join(out)


class InsertCourseKey(NbGraderPreprocessor):
    """nbgrader preprocessor, first in ``GenerateAssignment``: writes the course key into the hidden tests.

    nbgrader's converters run in the course directory (``CourseDirectory.root``), where the secret is read.
    """

    def preprocess(self, nb, resources):
        secret = read_secret(Path(os.getcwd()))
        if secret is None:
            self.log.warning("No course secret (%s): the hidden tests use the public default cases. A real course "
                             "runs `python -m kdutils.course secret` once, then generate_assignment.", SECRET_FILE)
            return nb, resources
        assignment = resources["nbgrader"]["assignment"]
        key = course_key(secret, assignment)
        for cell in nb.cells:
            if cell.cell_type == "code" and _BEGIN in cell.source:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "?")
                cell.source = insert_key(cell.source, key, where=f"{assignment}/{resources['nbgrader']['notebook']} "
                                                                 f"cell {grade_id}")
        return nb, resources


def add_parser(sub) -> None:
    p = sub.add_parser("secret", help="write the course secret the hidden tests' cases derive from (once per course)")
    p.add_argument("--course", type=Path, default=None, help="the course directory (default: the current one)")
    p.add_argument("--force", action="store_true", help="replace an existing secret (a new term)")


def run(args) -> int:
    root = require_course_dir(args.course)
    path = make_secret(root, force=args.force)
    print(f"wrote the course secret to {path} (mode 0600, git-ignored). Keep it private and back it up: "
          "generate_assignment with another secret changes the hidden cases. Now run `nbgrader generate_assignment <assignment> --force`.")
    return 0
