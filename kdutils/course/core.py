"""The course's shared pieces: where the repository is, which assignments exist, and how nbgrader is run.

Every command of ``python -m kdutils.course`` (see ``__main__.py``) builds on these.

kdutils imported from a checkout of the repository (``CHECKOUT``) finds the assignments' sources there.
Installed from the wheel (``pip install "kdutils[course]"``) it has none (the wheel ships no solutions: it
goes into the student zip): the commands that work on a course take the course directory with
``--course`` (or the current directory), and ``grade-demo --course DIR`` takes its sources from ``DIR``;
the commands that maintain the repository itself (``generate``, ``student-dist``, ``translate-status``)
need the checkout and say so.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The repository checkout this kdutils was imported from, or None (an installed package).
CHECKOUT = ROOT if (ROOT / "nbgrader_config.py").is_file() and (ROOT / "solutions").is_dir() else None
ASSIGNMENTS = ("losses", "training")
#: Notebook metadata that nbgrader or Jupyter rewrite on every run; ignored when comparing releases.
VOLATILE_METADATA = ("execution", "collapsed", "scrolled", "jupyter", "trusted", "ExecuteTime")

__all__ = ["ROOT", "CHECKOUT", "ASSIGNMENTS", "VOLATILE_METADATA", "nbgrader", "normalized", "make_course",
           "read_scores", "source_course", "use_course", "require_checkout", "gradebook_problems"]

_source: Path | None = None


def use_course(path: Path | str) -> Path:
    """Take the assignments' sources (``solutions/``, ``nbgrader_config.py``) from the course directory ``path``
    instead of the checkout (``grade-demo --course``, the catalogue); returns it resolved."""
    from .where import require_course_dir

    global _source
    _source = require_course_dir(path)
    return _source


def source_course() -> Path:
    """Where the assignments' sources are: the course given to :func:`use_course`, else the checkout."""
    if _source is not None:
        return _source
    if CHECKOUT is None:
        raise SystemExit(f"ERROR: this kdutils is installed ({ROOT / 'kdutils'}), not a checkout of the repository, "
                         "so it has no assignment sources: give a course directory with --course DIR "
                         "(one holding nbgrader_config.py and solutions/)")
    return CHECKOUT


def require_checkout(command: str) -> Path:
    """The checkout, for the commands that maintain the repository itself; a clear error when installed."""
    if CHECKOUT is None:
        raise SystemExit(f"ERROR: `python -m kdutils.course {command}` maintains the repository (exercises/, the "
                         f"book's configuration, the kdutils sources) and needs a checkout of it; this kdutils is "
                         f"installed at {ROOT / 'kdutils'}. Run it in a clone (make exercises, make student-dist).")
    return CHECKOUT


def nbgrader(*args: str, cwd: Path, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run the ``nbgrader`` command line of this environment in ``cwd``."""
    exe = Path(sys.executable).parent / "nbgrader"
    env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
    env["PATH"] = f"{exe.parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def normalized(nb) -> dict:
    """A notebook as plain data without outputs, execution counts and volatile metadata."""
    import nbformat

    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.pop("id", None)
        for key in VOLATILE_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return json.loads(json.dumps(nb, sort_keys=True))


def make_course(dest: Path) -> Path:
    """A fresh course directory: ``nbgrader_config.py`` and ``solutions/`` copied from :func:`source_course`
    (the repository, or the course given with ``--course``)."""
    src = source_course()
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(src / "solutions", dest / "solutions", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dest


def read_scores(course: Path, assignment: str) -> dict[str, dict[str, float]]:
    """``{student: {grade_id: score}}`` of the autograded cells, read from the gradebook."""
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(assignment):
            for nb in sub.notebooks:
                for grade in nb.grades:
                    if grade.cell.max_score and grade.auto_score is not None:
                        out.setdefault(sub.student_id, {})[grade.name] = float(grade.score)
    return out


def gradebook_problems(db_url: str, assignment: str) -> list[str]:
    """What a gradebook lacks for grading ``assignment`` so that no grade is lost: the roster (without it a
    student with no submission vanishes from ``report`` and ``export``) and the assignment's due date (without
    it every late penalty is silently 0). Each item names the command that adds it. Empty when nothing is
    missing, or when the database cannot be opened (``autograde`` then says why)."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.engine import make_url

    try:
        shown = make_url(db_url).render_as_string(hide_password=True)
    except Exception:
        shown = "<db url>"
    shown = f"'{shown}'" if any(c in shown for c in "&?;$ ") else shown
    out = []
    try:
        with Gradebook(db_url) as gb:
            if not gb.students:
                out.append(f"no students (the roster was never imported into this database):\n"
                           f"    run: nbgrader db student import roster.csv --CourseDirectory.db_url={shown}")
            try:
                a = gb.find_assignment(assignment)
            except MissingEntry:
                out.append(f"no assignment {assignment!r}:\n"
                           f"    run: nbgrader generate_assignment {assignment} --force --CourseDirectory.db_url={shown}")
            else:
                if a.duedate is None:
                    out.append(f"assignment {assignment!r} has no due date (late penalties would all be 0); with "
                               f"your due date in place of the example:\n    run: nbgrader db assignment add {assignment} "
                               f"--duedate=\"2026-12-04 23:59:00 Europe/Berlin\" --CourseDirectory.db_url={shown}")
    except Exception:  # cannot connect, no driver: autograde's own check names it
        return []
    return out
