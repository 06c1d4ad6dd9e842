"""``make exercises``: regenerate ``exercises/`` from ``solutions/`` with ``nbgrader generate_assignment``.

The released notebooks link to the *rendered* chapters of the published book: the source
notebooks' relative links (``../../book/temperature.md``) are rewritten with the book's URL
from ``_config.yml`` (:mod:`kdutils.course.home`).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat

from .core import ASSIGNMENTS, ROOT, nbgrader
from .home import Home, link_chapters, load_home

__all__ = ["generate"]


def _finish_release(path: Path, home: Home) -> None:
    """Strip outputs and point the chapter links at the published book."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = link_chapters(cell.source, home)
    nbformat.write(nb, path)


def generate(root: Path = ROOT, assignments=ASSIGNMENTS) -> None:
    """``nbgrader generate_assignment`` for every assignment, into ``<root>/exercises`` (no database kept)."""
    home = load_home(root)
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'gradebook.db'}"
        for a in assignments:
            nbgrader("generate_assignment", a, "--force", f"--CourseDirectory.db_url={db}",
                     f"--CourseDirectory.root={root}", cwd=root)
            for nb in sorted((root / "exercises" / a).glob("*.ipynb")):
                _finish_release(nb, home)



def add_parser(sub) -> None:
    sub.add_parser("generate", help="regenerate exercises/ from solutions/")


def run(args) -> int:
    generate()
    print(f"regenerated {ROOT / 'exercises'} from {ROOT / 'solutions'}")
    return 0
