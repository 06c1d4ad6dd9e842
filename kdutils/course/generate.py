"""``make exercises``: regenerate ``exercises/`` from ``solutions/`` with ``nbgrader generate_assignment``.

The notebooks link to the *rendered* chapters of the published book: before releasing, every
chapter link of the source notebooks is (re)written with the book's URL from ``_config.yml``
(:mod:`kdutils.course.home`), so a fork that changes the URL there runs ``make exercises`` once.
"""
from __future__ import annotations

import tempfile
from pathlib import Path


from .core import ASSIGNMENTS, ROOT, nbgrader
from .home import Home, link_chapters, load_home
from .translate import write_sources as write_translations
from .where import require_course_dir

__all__ = ["generate", "link_sources"]


def _strip_outputs(path: Path) -> None:
    import nbformat
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, path)


def link_sources(root: Path, home: Home, assignments=ASSIGNMENTS) -> list[Path]:
    """Point the chapter links of ``solutions/<a>/*.ipynb`` at the published book; return the files changed."""
    import nbformat
    changed = []
    for a in assignments:
        for path in sorted((root / "solutions" / a).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            touched = False
            for cell in nb.cells:
                if cell.cell_type == "markdown":
                    new = link_chapters(cell.source, home)
                    touched |= new != cell.source
                    cell.source = new
            if touched:
                nbformat.write(nb, path)
                changed.append(path)
    return changed


def generate(root: Path = ROOT, assignments=ASSIGNMENTS, home: Home | None = None) -> None:
    """``nbgrader generate_assignment`` for every assignment and its Chinese version, into ``<root>/exercises``.

    No database is kept. The Chinese sources ``solutions/<a>_zh`` are written first (:mod:`.translate`).

    The chapter links point at ``home`` (default: the book's home, from the repository's ``_config.yml``,
    also when ``root`` is a separate course directory).
    """
    home = home or load_home(ROOT)
    link_sources(root, home, assignments)
    # Issue 17: the Chinese releases (losses_zh, training_zh) are made from the English sources first.
    assignments = tuple(assignments) + write_translations(root, home, assignments)
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
    from .core import require_checkout

    generate(require_course_dir(require_checkout("generate")))
    print(f"regenerated {ROOT / 'exercises'} from {ROOT / 'solutions'}")
    return 0
