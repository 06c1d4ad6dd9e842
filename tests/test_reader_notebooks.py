"""The ``.ipynb`` a reader downloads from a page is a reader's notebook (``kd_notebooks``).

For every page of both editions that is a notebook: the downloaded notebook has no MyST left
(no role, no directive fence, no ``glue``-role text, no ``(label)=`` target), shows every figure
of the page as an image output, and its text carries the glued numbers. Executed from the top in
a fresh kernel with nbclient (as a reader runs it), it raises nothing and draws every figure of
the page again (the English pages with figures, and one Chinese page: their code is the same).
"""
from __future__ import annotations

import copy
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"en": ROOT / "book", "zh": ROOT / "zh" / "book"}
ROLE = re.compile(r"\{[a-zA-Z][\w:-]*\}`")
DIRECTIVE = re.compile(r"(?m)^\s*(`{3,}|:{3,})\s*\{[\w:-]+\}")
TARGET = re.compile(r"(?m)^\s*\([\w:-]+\)=\s*$")


def notebook_pages(edition: str) -> list[str]:
    """The pages with code cells (the ones the theme offers as .ipynb)."""
    return sorted(p.stem for p in SOURCES[edition].glob("*.md") if "```{code-cell}" in p.read_text(encoding="utf-8"))


def n_figures(edition: str, page: str) -> int:
    return len(re.findall(r"\{glue:figure\}", (SOURCES[edition] / f"{page}.md").read_text(encoding="utf-8")))


def _downloaded(site: Path, edition: str, page: str):
    import nbformat

    folder = site if edition == "en" else site / "zh"
    html = (folder / "book" / f"{page}.html").read_text(encoding="utf-8")
    m = re.search(r'href="((?:\.\./)*_sources/[^"]+\.ipynb)"', html)
    assert m, f"{edition}/{page}: no .ipynb in the download menu"
    path = ((folder / "book") / m.group(1)).resolve()
    return nbformat.read(path, as_version=4)


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


@pytest.mark.slow
@pytest.mark.parametrize("edition", ["en", "zh"])
def test_downloaded_notebooks_are_plain_jupyter_with_their_figures(built_book, edition):
    pages = notebook_pages(edition)
    assert len(pages) >= 8, f"{edition}: only {len(pages)} notebook pages found"
    problems = []
    for page in pages:
        nb = _downloaded(built_book, edition, page)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        for what, rx in (("role", ROLE), ("directive", DIRECTIVE), ("target", TARGET)):
            found = rx.findall(text)
            if found:
                problems.append(f"{page}: MyST {what} left: {found[:3]}")
        if "glue:" in text:
            problems.append(f"{page}: glue syntax left in the text")
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        if "myst_nb" in code:
            problems.append(f"{page}: the notebook still imports myst_nb")
        if _images(nb) < n_figures(edition, page):
            problems.append(f"{page}: {_images(nb)} images for {n_figures(edition, page)} figures of the page")
        hidden = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("metadata", {}).get("scrapbook")]
        if hidden:
            problems.append(f"{page}: {len(hidden)} glue records left in the outputs")
    assert not problems, f"{edition}:\n  " + "\n  ".join(problems)


@pytest.mark.slow
def test_glued_numbers_are_in_the_text(built_book):
    """The source article's example, 0.7593 (glued in coding problem 1 and the intro), is text."""
    nb = _downloaded(built_book, "en", "coding_problem_1")
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "0.7593" in text
    cited = _downloaded(built_book, "en", "temperature")
    md = "\n".join(c.source for c in cited.cells if c.cell_type == "markdown")
    assert "(Hinton et al., 2015)" in md and "## References" in md, "citations are not author-year text with a list"


def _execute(nb, cwd: Path):
    from nbclient import NotebookClient

    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env_path) if p)
    mpl = os.environ.pop("MPLBACKEND", None)  # the kernel's own inline backend, as in Jupyter
    try:
        client = NotebookClient(copy.deepcopy(nb), timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd)}})
        return client.execute()
    finally:
        os.environ["PYTHONPATH"] = env_path
        if mpl is not None:
            os.environ["MPLBACKEND"] = mpl


FIGURE_PAGES = [("en", p) for p in notebook_pages("en") if n_figures("en", p)] + [("zh", "temperature")]


@pytest.mark.slow
@pytest.mark.full  # executes every page with figures again (minutes)
@pytest.mark.parametrize("edition,page", FIGURE_PAGES)
def test_a_downloaded_notebook_run_afresh_shows_every_figure(built_book, edition, page):
    nb = _downloaded(built_book, edition, page)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    assert _images(nb) == 0
    done = _execute(nb, SOURCES["en"])
    figures = n_figures(edition, page)
    assert _images(done) >= figures >= 1, f"{edition}/{page}: {_images(done)} images drawn for {figures} figures"
    shown = [c for c in done.cells if "reader-figure" in c.get("metadata", {}).get("tags", [])]
    assert len(shown) == figures and all(
        any("image/png" in o.get("data", {}) for o in c.outputs) for c in shown), (
        f"{edition}/{page}: a figure cell drew no image")


# ------------------------------------------------------------------ Binder (no build)

def test_binder_fetches_the_readers_notebooks_or_converts_the_page(tmp_path, monkeypatch):
    """binder/reader_notebooks.py puts <page>.reader.ipynb next to each page: fetched from the
    site when it serves one, else converted from the MyST source (never a missing file)."""
    import functools
    import http.server
    import json
    import threading

    sys.path.insert(0, str(ROOT / "binder"))
    try:
        import reader_notebooks as rn
    finally:
        sys.path.pop(0)
    page = "```{code-cell} ipython3\nprint(1)\n```\n"
    en, zh = tmp_path / "src" / "book", tmp_path / "src" / "zh" / "book"
    for folder in (en, zh):
        folder.mkdir(parents=True)
        (folder / "a.md").write_text("---\njupytext:\n  text_representation:\n    format_name: myst\n"
                                     "kernelspec:\n  name: python3\n  display_name: Python 3\n---\n# A\n\n" + page)
        (folder / "prose.md").write_text("# No code\n")
    site = tmp_path / "site" / "_sources" / "book"
    site.mkdir(parents=True)
    served = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "the reader's notebook"}],
              "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (site / "a.ipynb").write_text(json.dumps(served))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "site"))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(rn, "EDITIONS", {"": en, "zh/": zh})
        monkeypatch.setattr(rn, "ROOT", tmp_path / "src")
        monkeypatch.setattr(rn, "baseurl", lambda root=None: f"http://127.0.0.1:{httpd.server_address[1]}/")
        assert rn.main([]) == 0
    finally:
        httpd.shutdown()
    assert json.loads((en / "a.reader.ipynb").read_text()) == served  # fetched
    converted = json.loads((zh / "a.reader.ipynb").read_text())  # the site has no zh/: converted
    assert any("print(1)" in "".join(c["source"]) for c in converted["cells"] if c["cell_type"] == "code")
    assert not (en / "prose.reader.ipynb").exists(), "a page without code has no notebook"


def test_a_figure_shown_before_the_cell_that_draws_it_moves_below_that_cell():
    """The web page may show a glued figure above the cell that glues it; a notebook run in order cannot."""
    import nbformat

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_static" / "_ext"))
    import kd_notebooks

    shown = nbformat.v4.new_code_cell('display(GLUED["fig_main"])', metadata={"tags": ["reader-display", "reader-figure"]})
    caption, text = nbformat.v4.new_markdown_cell("*Figure 1.* caption"), nbformat.v4.new_markdown_cell("text")
    draws = nbformat.v4.new_code_cell('fig = plot()\nglue("fig_main", fig, display=False)')
    out = kd_notebooks._after_their_glue([text, shown, caption, text, draws, text])
    assert [c.source for c in out] == ["text", "text", draws.source, shown.source, caption.source, "text"]
    assert kd_notebooks._after_their_glue([draws, shown, caption]) == [draws, shown, caption]  # already in order
