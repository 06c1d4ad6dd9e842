"""``make exercises``: regenerate ``exercises/`` from ``solutions/`` with ``nbgrader generate_assignment``."""
from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat

from .core import ASSIGNMENTS, ROOT, nbgrader
from .where import require_course_dir

__all__ = ["generate"]


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



def add_parser(sub) -> None:
    sub.add_parser("generate", help="regenerate exercises/ from solutions/")


def run(args) -> int:
    generate(require_course_dir(ROOT))
    print(f"regenerated {ROOT / 'exercises'} from {ROOT / 'solutions'}")
    return 0
