"""Course tooling around nbgrader: regenerate ``exercises/`` and grade a bundled demo class.

``python -m kdutils.course generate``   regenerate ``exercises/`` from ``solutions/`` (``make exercises``)
``python -m kdutils.course grade-demo`` grade the demo class in a temporary course directory (``make grade-demo``)

Both drive the stock ``nbgrader`` command line with the repository's ``nbgrader_config.py``.
The demo class is built from ``tests/submissions/catalogue.py``: a dozen submissions made by
replacing solution cells of the source notebooks (complete, partial, buggy, tampered).
Described in the book chapter "For instructors".
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ("losses", "training")
#: Notebook metadata that nbgrader or Jupyter rewrite on every run; ignored when comparing releases.
VOLATILE_METADATA = ("execution", "collapsed", "scrolled", "jupyter", "trusted", "ExecuteTime")

__all__ = ["ASSIGNMENTS", "nbgrader", "generate", "normalized", "make_course", "read_scores", "grade_demo", "main"]


def nbgrader(*args: str, cwd: Path, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run the ``nbgrader`` command line of this environment in ``cwd``."""
    exe = Path(sys.executable).parent / "nbgrader"
    env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
    env["PATH"] = f"{exe.parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def normalized(nb: nbformat.NotebookNode) -> dict:
    """A notebook as plain data without outputs, execution counts and volatile metadata."""
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


def _strip_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, path)


def generate(root: Path = ROOT, assignments=ASSIGNMENTS) -> None:
    """``nbgrader generate_assignment`` for every assignment, into ``<root>/exercises`` (no database kept)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'gradebook.db'}"
        for a in assignments:
            nbgrader("generate_assignment", a, "--force", f"--CourseDirectory.db_url={db}",
                     f"--CourseDirectory.root={root}", cwd=root)
            for nb in sorted((root / "exercises" / a).glob("*.ipynb")):
                _strip_outputs(nb)


def make_course(dest: Path) -> Path:
    """A fresh course directory: ``nbgrader_config.py`` and ``solutions/`` copied from the repository."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions", dest / "solutions", dirs_exist_ok=True,
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


def _load_catalogue():
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from submissions import catalogue  # tests/submissions/catalogue.py
    finally:
        sys.path.pop(0)
    return catalogue


def grade_demo(keep: Path | None = None) -> int:
    """Copy the demo class into a temporary course, generate, autograde, give feedback, print the scores."""
    catalogue = _load_catalogue()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kd-grade-demo-") as tmp:
        course = make_course(Path(keep) if keep else Path(tmp))
        for a in ASSIGNMENTS:
            nbgrader("generate_assignment", a, "--force", cwd=course)
        students = catalogue.write_demo_class(course)
        print(f"demo class: {len(students)} students in {course}")
        for a in ASSIGNMENTS:
            t = time.perf_counter()
            nbgrader("autograde", a, "--force", cwd=course)
            print(f"autograde {a}: {time.perf_counter() - t:.1f} s")
            nbgrader("generate_feedback", a, "--force", cwd=course)
        scores = {a: read_scores(course, a) for a in ASSIGNMENTS}
        maxima = {a: catalogue.max_points(course, a) for a in ASSIGNMENTS}
        width = max(len(s) for s in students) + 2
        print(f"\n{'student':<{width}}{'losses':>10}{'training':>10}  description")
        for s, desc in students.items():
            cols = []
            for a in ASSIGNMENTS:
                got = scores[a].get(s)
                cols.append(f"{sum(got.values()):g}/{maxima[a]:g}" if got else "-")
            print(f"{s:<{width}}{cols[0]:>10}{cols[1]:>10}  {desc}")
        feedback = sorted(p.relative_to(course) for p in (course / "feedback").rglob("*.html"))
        print(f"\n{len(feedback)} feedback files, e.g. {feedback[0] if feedback else '-'}")
        print(f"total time: {time.perf_counter() - t0:.1f} s (autograded cells only; written answers are graded by hand)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdutils.course", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="regenerate exercises/ from solutions/")
    demo = sub.add_parser("grade-demo", help="autograde the bundled demo class in a temporary course")
    demo.add_argument("--keep", type=Path, default=None, help="grade in this directory and keep it")
    args = parser.parse_args(argv)
    if args.command == "generate":
        generate()
        print(f"regenerated {ROOT / 'exercises'} from {ROOT / 'solutions'}")
        return 0
    return grade_demo(args.keep)


if __name__ == "__main__":
    sys.exit(main())
