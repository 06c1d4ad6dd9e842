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


# --------------------------------------------------------------------------- what a reader can run and download


def _code_pages() -> list[str]:
    return [f for f in toc_files() if "{code-cell}" in (ROOT / f"{f}.md").read_text()]


@pytest.mark.slow
def test_search_box_shows_jupyter_books_own_text(built_book):
    from jupyter_book.config import get_default_sphinx_config

    text = get_default_sphinx_config()["html_theme_options"]["search_bar_text"]
    html = (built_book / "book" / "intro.html").read_text()
    assert f'placeholder="{text}"' in html, f"the search box does not say {text!r}"


@pytest.mark.slow
@pytest.mark.parametrize("docname", _code_pages())
def test_download_menu_offers_the_executed_notebook(built_book, docname):
    """The download menu's .ipynb (the reader's notebook, kd_notebooks) carries the outputs of the
    notebook the build executed, cell for cell, plus a cell per figure (tests/test_reader_notebooks.py)."""
    import nbformat

    html = (built_book / f"{docname}.html").read_text()
    rel = f"_sources/{docname}.ipynb"
    assert re.search(rf'href="(\.\./)*{re.escape(rel)}"', html), f"{docname}: no .ipynb in the download menu"
    nb = nbformat.read(built_book / rel, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and "reader-display" not in c.metadata.get("tags", [])]
    assert code and all(c.execution_count for c in code), f"{docname}: the downloaded notebook was not executed"
    executed = nbformat.read(ROOT / "_build" / "jupyter_execute" / f"{docname}.ipynb", as_version=4)
    assert [c.get("outputs") for c in code] == [c.get("outputs") for c in executed.cells if c.cell_type == "code"], (
        f"{docname}: the download is not the notebook the build executed")
    # Pages whose code cells are all hidden helpers (glue only) may have no visible output.
    shown = [c for c in code if "remove-cell" not in c.metadata.get("tags", []) and "remove-output" not in c.metadata.get("tags", [])]
    if any(c.outputs for c in executed.cells if c.cell_type == "code") or shown:
        assert any(c.outputs for c in nb.cells if c.cell_type == "code"), f"{docname}: the downloaded notebook has no outputs"


@pytest.mark.slow
def test_most_downloaded_notebooks_carry_outputs(built_book):
    import nbformat

    with_outputs = [d for d in _code_pages()
                    if any(c.get("outputs") for c in nbformat.read(built_book / "_sources" / f"{d}.ipynb", as_version=4).cells)]
    assert len(with_outputs) >= 8, f"only {with_outputs} of {_code_pages()} have outputs"


@pytest.mark.slow
def test_launch_buttons_open_the_page_on_binder(built_book):
    from kdutils.course.home import load_home

    home = load_home(ROOT)
    owner_repo = home.repository_url.split("github.com/")[1]
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    binder = cfg["launch_buttons"]["binderhub_url"].rstrip("/")
    for docname in _code_pages():
        html = (built_book / f"{docname}.html").read_text()
        # the reader's notebook next to the page's source (binder/reader_notebooks.py, kd_notebooks)
        url = f"{binder}/v2/gh/{owner_repo}/{home.branch}?urlpath=lab/tree/{docname}.reader.ipynb"
        assert f'href="{url}"' in html, f"{docname}: no Binder launch button to {url}"


@pytest.mark.slow
def test_definition_lists_render_as_dl(built_book):
    html = (built_book / "book" / "intro.html").read_text()
    assert re.search(r"<dt[^>]*>\s*Readers\s*</dt>", html), "the intro's definition list is not a <dl> (deflist)"
    assert "Readers : " not in html and "<p>Readers\n: " not in html


@pytest.mark.slow
def test_the_graded_exercises_link_a_zip_of_the_assignments(built_book):
    import zipfile

    html = (built_book / "book" / "exercises.html").read_text()
    m = re.search(r'href="(\.\./_downloads/[0-9a-f]+/kd-book-assignments\.zip)"', html)
    assert m, "book/exercises.html links no kd-book-assignments.zip"
    with zipfile.ZipFile(built_book / "book" / m.group(1)) as zf:
        names = sorted(n.split("/", 1)[1] for n in zf.namelist())
        expected = sorted(str(p.relative_to(ROOT / "exercises")) for p in (ROOT / "exercises").rglob("*")
                          if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts)
        assert names == expected
        for n in expected:
            assert zf.read(f"kd-book-assignments/{n}") == (ROOT / "exercises" / n).read_bytes(), n
