"""Tests of the book: it builds strictly, every glue reference is defined, every page is in the TOC.

The strict build itself is the ``built_book`` fixture (tests/conftest.py):
``jupyter-book build . -W -n --keep-going`` with ``nb_execution_raise_on_error``,
so any warning or cell error fails it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

# {glue}`key`, {glue:text}`key:.3f`, {glue:md}`key`, and ```{glue:figure} key / ```{glue} key
ROLE = re.compile(r"\{glue(?::\w*)?\}`([^`]+)`")
DIRECTIVE = re.compile(r"^[`:]{3,}\{glue(?::\w+)?\}\s+(\S+)", re.M)
CALL = re.compile(r"\bglue\(\s*(f?)[\"']([^\"']+)[\"']")
# kdutils.book helpers that glue under derived names: glue_summary("x", ...) -> x_mean, x_std;
# Chapter().glue() -> chapter_seconds, chapter_cpu_seconds
SUMMARY_CALL = re.compile(r"\bglue_summary\(\s*(f?)[\"']([^\"']+)[\"']")
CHAPTER_CALL = re.compile(r"\bchapter\.glue\(\)")


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part["chapters"]]
    return files


def glue_refs(text: str) -> set[str]:
    refs = set()
    for raw in ROLE.findall(text) + DIRECTIVE.findall(text):
        key = raw.split("::")[-1]  # cross-page form: page.md::key
        refs.add(key.split(":")[0])  # format spec: key:.3f
    return refs


def glue_calls(text: str) -> list[re.Pattern]:
    """One regex per glue(...) call; an f-string name such as f"acc_{k}" becomes ``acc_.+``."""
    patterns = []
    calls = CALL.findall(text)
    calls += [(is_f, f"{name}_{stat}") for is_f, name in SUMMARY_CALL.findall(text) for stat in ("mean", "std")]
    if CHAPTER_CALL.search(text):
        calls += [("", "chapter_seconds"), ("", "chapter_cpu_seconds")]
    for is_f, name in calls:
        if is_f:
            parts = re.split(r"\{[^}]*\}", name)
            patterns.append(re.compile("^" + ".+".join(re.escape(p) for p in parts) + "$"))
        else:
            patterns.append(re.compile("^" + re.escape(name) + "$"))
    return patterns


def test_every_book_page_is_in_the_toc_and_exists():
    listed = toc_files()
    for f in listed:
        assert (ROOT / f"{f}.md").exists(), f"{f}.md listed in _toc.yml but missing"
    on_disk = {str(p.relative_to(ROOT).with_suffix("")) for p in BOOK.glob("*.md")}
    assert on_disk <= set(listed), f"pages not in _toc.yml: {sorted(on_disk - set(listed))}"


@pytest.mark.parametrize("page", sorted(p.name for p in BOOK.glob("*.md")))
def test_glue_references_have_a_glue_call_in_the_page_source(page):
    text = (BOOK / page).read_text()
    patterns = glue_calls(text)
    missing = {r for r in glue_refs(text) if not any(p.match(r) for p in patterns)}
    assert not missing, f"{page}: {{glue}} references without a glue(...) call: {sorted(missing)}"


def test_chapters_are_text_notebooks_without_outputs():
    for page in BOOK.glob("*.md"):
        text = page.read_text()
        if "{code-cell}" in text:
            assert text.startswith("---\njupytext:"), f"{page.name} has code cells but no jupytext header"
    assert not list(BOOK.rglob("*.ipynb")), "chapters must be MyST text notebooks, not .ipynb"


@pytest.mark.slow
def test_book_builds_strictly_and_every_glue_reference_was_glued(built_book):
    executed = ROOT / "_build" / "jupyter_execute"
    for f in toc_files():
        text = (ROOT / f"{f}.md").read_text()
        refs = glue_refs(text)
        local_refs = {r for r in refs}
        if not local_refs:
            continue
        store = executed / f"{f}.glue.json"
        assert store.exists(), f"{f}: has glue references but the build stored no glue data"
        glued = set(json.loads(store.read_text()))
        assert local_refs <= glued, f"{f}: references never glued: {sorted(local_refs - glued)}"
        assert (built_book / f"{f}.html").exists()


@pytest.mark.slow
def test_mathjax_is_served_locally(built_book):
    html = (built_book / "book" / "intro.html").read_text()
    assert "cdn.jsdelivr" not in html and "mathjax/tex-chtml.js" in html
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").exists()


@pytest.mark.slow
def test_figures_render_as_images_not_as_text(built_book):
    """A page that draws with kd.plotting shows <img> figures, never the repr "<Figure size ...>"."""
    for f in toc_files():
        source = (ROOT / f"{f}.md").read_text()
        html = (built_book / f"{f}.html").read_text()
        assert "&lt;Figure size" not in html and "<Figure size" not in html, f"{f}: a figure was rendered as text"
        if "kd.plotting." in source:
            assert re.search(r"<img [^>]*src=\"[^\"]*_images/", html), f"{f}: draws figures but shows no image"
