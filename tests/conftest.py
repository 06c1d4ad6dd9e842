"""Shared pytest fixtures.

``built_book`` builds the Jupyter Book once per test session by running
``make book`` itself (strict: ``-W -n --keep-going``), and returns the path of
``_build/html``. The browser tests and the book tests both use it.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Run ``make book`` (a strict build) and return ``_build/html``; fail on any warning or cell error."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("MPLBACKEND", None)  # the kernel must use the inline backend, or figures render as text
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # run as a top-level make, not inside `make test`'s
        env.pop(var, None)
    proc = subprocess.run(["make", "--no-print-directory", "book"], cwd=ROOT, env=env, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"strict book build failed (exit {proc.returncode}):\n{log[-6000:]}")
    html = ROOT / "_build" / "html"
    assert (html / "index.html").exists(), "book built but _build/html/index.html is missing"
    return html


@pytest.fixture(scope="session")
def built_pdf(built_book) -> dict:
    """Run ``make pdf`` once (after the strict HTML build).

    ``{"html", "pdf", "pages", "build_s", "overflowing", "scaled", "zh": {the same for book_zh.pdf}}``
    (the English edition's keys at the top, as before the Chinese PDF existed).
    """
    import json

    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("MPLBACKEND", None)
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(var, None)
    proc = subprocess.run(["make", "--no-print-directory", "pdf"], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"make pdf failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-6000:]}")
    out = {}
    for edition, name, site in (("en", "book", built_book), ("zh", "book_zh", built_book / "zh")):
        pdf = ROOT / "_build" / "pdf" / f"{name}.pdf"
        assert pdf.exists(), f"make pdf wrote no {pdf}"
        assert (site / pdf.name).exists(), f"make pdf did not copy {pdf.name} into the site ({site})"
        meta = json.loads((ROOT / "_build" / "pdf" / f"{name}.json").read_text(encoding="utf-8"))
        out[edition] = {"html": site, "pdf": pdf, "site_pdf": site / pdf.name, **meta}
    return {**out["en"], "zh": out["zh"]}


def toc_docnames(toc_path: Path) -> list[str]:
    """Every document of a jupyter-book ``_toc.yml`` (root first, then in reading order)."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [re.sub(r"\.(md|ipynb|rst)$", "", n) for n in names]


# ----------------------------------------------------------------------------- the graded catalogue
#: the per-cell timeout of the test runs (the course's own is 60 s): a cell that loops costs 30 s, not a minute
CATALOGUE_TIMEOUT = "--Execute.timeout=30"


class GradedCatalogue:
    """A course in which every catalogue submission (``kdutils.course.catalogue``) was autograded once through
    the path instructors use (``python -m kdutils.course autograde --jobs 2``: kernels forked from the zygote, one
    shared grading worker) and given feedback, in the releases of one language. Read it; never grade in it again
    (copy it first: ``copy(dest)``)."""

    def __init__(self, root: Path, lang: str, outputs: dict, scores: dict, points: dict, seconds: float):
        self.root, self.lang, self.outputs, self.scores, self.points, self.seconds = (
            root, lang, outputs, scores, points, seconds)

    def release(self, assignment: str) -> str:
        """``losses`` or ``losses_zh``: the released assignment of this language."""
        return assignment if self.lang == "en" else f"{assignment}_{self.lang}"

    def copy(self, dest: Path) -> Path:
        import shutil

        shutil.copytree(self.root, dest, symlinks=True)
        return dest


def _grade_catalogue(tmp_path_factory, lang: str) -> GradedCatalogue:
    import time

    from kdutils import course
    from kdutils.course import catalogue as cat

    t0 = time.perf_counter()
    root = course.make_course(tmp_path_factory.mktemp(f"catalogue_{lang}"))
    rel = (lambda a: a) if lang == "en" else (lambda a: f"{a}_{lang}")
    for a in course.ASSIGNMENTS:
        course.nbgrader("generate_assignment", rel(a), "--force", cwd=root)
    for sub in cat.catalogue():
        cat.write(cat.in_language(sub, lang), root)
    outputs = {}
    for a in course.ASSIGNMENTS:
        p = subprocess.run([sys.executable, "-m", "kdutils.course", "autograde", rel(a), "--course", str(root),
                            "--jobs", "2", "--no-progress", f"--nbgrader-arg={CATALOGUE_TIMEOUT}"],
                           capture_output=True, text=True)
        assert p.returncode in (0, 1), p.stdout + p.stderr
        outputs[a] = p.stdout
    for a in course.ASSIGNMENTS:
        course.nbgrader("generate_feedback", rel(a), "--force", cwd=root)
    # keyed by the English assignment, whatever the language
    scores = {a: course.read_scores(root, rel(a)) for a in course.ASSIGNMENTS}
    points = {a: cat.max_points(root, rel(a)) for a in course.ASSIGNMENTS}
    return GradedCatalogue(root, lang, outputs, scores, points, time.perf_counter() - t0)


@pytest.fixture(scope="session")
def graded_catalogue_en(tmp_path_factory) -> GradedCatalogue:
    """The whole catalogue graded once against the English releases (see ``GradedCatalogue``)."""
    return _grade_catalogue(tmp_path_factory, "en")


@pytest.fixture(scope="session")
def graded_catalogue_zh(tmp_path_factory) -> GradedCatalogue:
    """The whole catalogue graded once against the Chinese releases (``losses_zh``, ``training_zh``)."""
    return _grade_catalogue(tmp_path_factory, "zh")
