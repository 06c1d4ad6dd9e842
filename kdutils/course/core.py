"""The course's shared pieces: where the repository is, which assignments exist, and how nbgrader is run.

Every command of ``python -m kdutils.course`` (see ``__main__.py``) builds on these.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENTS = ("losses", "training")
#: Notebook metadata that nbgrader or Jupyter rewrite on every run; ignored when comparing releases.
VOLATILE_METADATA = ("execution", "collapsed", "scrolled", "jupyter", "trusted", "ExecuteTime")

__all__ = ["ROOT", "ASSIGNMENTS", "VOLATILE_METADATA", "nbgrader", "normalized", "make_course", "read_scores"]


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
