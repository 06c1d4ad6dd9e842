"""What a reader gets beyond the pages (a local Sphinx extension of the book).

* **One home.** The book's URL (``html.baseurl``) and its repository (``repository.url``,
  ``repository.branch``) are set once, in ``_config.yml``; Jupyter Book turns them into
  ``html_baseurl`` and ``html_theme_options`` (``sphinx.recursive_update: true`` keeps them).
  This extension checks both and offers them to the chapters as MyST substitutions
  ``{{ book_url }}``, ``{{ repository_url }}``, ``{{ exercises_url }}`` and ``{{ exercises_link }}``, so no page
  carries a copy. ``make exercises`` reads the same two keys (``kdutils.course.home``).
* **The assignments as one download.** ``exercises/`` (the released notebooks) is zipped to
  ``_build/downloads/kd-book-assignments.zip`` (deterministic: sorted, fixed timestamps),
  which *The graded exercises* links with the ``{download}`` role.
* **The executed notebook in the download menu.** sphinx-book-theme offers
  ``_build/jupyter_execute/<page>.ipynb``; myst-nb 1.2.0 writes that file from the notebook it
  read, which carries outputs only when the page was executed in this build: a page served from
  the jupyter-cache got a notebook without outputs. Before the theme copies it, the outputs are
  merged back from the cache, less the glue records (``display=False``) that myst-nb removes
  from an executed page, so a page gives the same download whichever way it was built.
* **Citations as list items.** docutils puts each citation (``role="doc-biblioentry"``, a role
  DPUB-ARIA 1.1 deprecated) inside ``role="list"``, which ARIA allows only list items in
  (axe-core: aria-required-children, critical); they become ``role="listitem"``.
* **The PDF in the navigation.** ``make pdf`` writes ``_build/pdf/book.pdf`` (and the Chinese
  ``book_zh.pdf``), then runs ``make book``. When the edition's PDF exists (``kd_pdf_link.pdf``,
  relative to the book's folder), a sidebar template links it from every page and the build
  copies it to the site (``kd_pdf_link.href``, relative to the site root); when it does not (a
  plain ``make book`` on a fresh clone), no page links it. Whether it exists is a configuration
  value (``kd_pdf_available``), so a PDF appearing or disappearing re-renders every page.
* **The issue button names the page's source.** sphinx-book-theme's "open issue" link says
  ``Issue on page /book/intro.html`` in both editions; it is rewritten to name the page's own
  path in the site (``/zh/book/intro.html``), its address and its source file in the repository
  (``zh/book/intro.md`` for a Chinese page, from ``repository.path_to_book``).

Configuration (``sphinx.config``): ``kd_exercises_dir`` (the released notebooks, relative to
the book's folder; default ``exercises``) and ``kd_pdf_link``; the Chinese edition sets both in
``zh/_config.override.yml``.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

ZIP_NAME = "kd-book-assignments.zip"
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")


def _check_url(name: str, value) -> str:
    if not isinstance(value, str) or not _URL.match(value):
        raise ValueError(f"_config.yml: {name} must be an http(s) URL, got {value!r}")
    return value


def _home_substitutions(app, config) -> None:
    theme = config.html_theme_options
    book = _check_url("html.baseurl", config.html_baseurl)
    if not book.endswith("/"):
        raise ValueError(f"_config.yml: html.baseurl must end with '/', got {book!r}")
    repo = _check_url("repository.url", theme.get("repository_url")).rstrip("/")
    branch = theme.get("repository_branch") or "main"
    subs = dict(getattr(config, "myst_substitutions", {}) or {})
    exercises = f"{repo}/tree/{branch}/exercises"
    # A substitution's value is parsed as Markdown, so a link is written as one.
    subs.update(book_url=book, repository_url=repo, exercises_url=exercises, exercises_link=f"<{exercises}>")
    config.myst_substitutions = subs
    # The PDF link in the primary sidebar, after the chapter navigation.
    config.templates_path = [*config.templates_path, str(Path(__file__).parent / "templates")]
    sidebars = dict(config.html_sidebars or {})
    default = ["navbar-logo.html", "icon-links.html", "search-button-field.html", "sbt-sidebar-nav.html"]
    sidebars["**"] = [*sidebars.get("**", default), "kd-pdf-link.html"]
    config.html_sidebars = sidebars


def write_assignments_zip(exercises: Path, dest: Path) -> Path:
    """Zip the released notebooks under ``exercises/`` into ``dest``; rewrite only when the bytes change."""
    files = sorted(p for p in exercises.rglob("*")
                   if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts)
    if not any(p.suffix == ".ipynb" for p in files):
        raise FileNotFoundError(f"no released notebook under {exercises}; run `make exercises`")
    tmp = dest.with_suffix(".tmp")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            info = zipfile.ZipInfo(str(Path("kd-book-assignments") / p.relative_to(exercises)), (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, p.read_bytes())
    if dest.exists() and dest.read_bytes() == tmp.read_bytes():
        tmp.unlink()
    else:
        tmp.replace(dest)
    return dest


def _assignments_zip(app) -> None:
    # The {download} role in book/exercises.md names /_build/downloads/<zip> in the source tree,
    # so the zip is written there even when the build goes elsewhere (--path-output, make bench).
    exercises = Path(app.srcdir) / app.config.kd_exercises_dir
    for build in {Path(app.srcdir) / "_build", Path(app.outdir).parent}:
        write_assignments_zip(exercises, build / "downloads" / ZIP_NAME)


def _executed_notebook(app, pagename, templatename, context, doctree) -> None:
    path = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not path.exists():
        return
    import nbformat

    nb = nbformat.read(path, as_version=4)
    if all(c.get("execution_count") for c in nb.cells if c.cell_type == "code"):
        return
    cache_dir = Path(getattr(app.config, "nb_execution_cache_path", "") or Path(app.outdir).parent / ".jupyter_cache")
    if not cache_dir.is_dir():
        return
    from jupyter_cache import get_cache

    try:
        _, merged = get_cache(str(cache_dir)).merge_match_into_notebook(nb)
    except KeyError:  # no cached execution of this code: leave it (the tests report it)
        return
    for cell in merged.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if not _hidden_glue(o)]
    nbformat.write(merged, path)


def _hidden_glue(output) -> bool:
    """A ``glue(..., display=False)`` record, which myst-nb drops from an executed notebook's cell."""
    scrapbook = output.get("metadata", {}).get("scrapbook")
    return bool(scrapbook and scrapbook.get("mime_prefix"))


def _citations_as_list_items(app, pagename, templatename, context, doctree) -> None:
    if "body" in context and 'role="doc-biblioentry"' in context["body"]:
        context["body"] = context["body"].replace('role="doc-biblioentry"', 'role="listitem"')


PDF_LINK = {"href": "book.pdf", "pdf": "_build/pdf/book.pdf", "text": "The whole book (PDF)",
            "label": "Download the book"}


def _pdf_source(app_or_config, srcdir) -> Path:
    link = {**PDF_LINK, **(app_or_config.kd_pdf_link or {})}
    return (Path(srcdir) / link["pdf"]).resolve()


def _pdf_available(app, config) -> None:
    # A configuration value of the html category: when it changes, Sphinx writes every page again.
    config.kd_pdf_available = _pdf_source(config, app.srcdir).is_file()


def _pdf_link(app, pagename, templatename, context, doctree) -> None:
    if not app.config.kd_pdf_available:
        context["kd_pdf_link"] = None
        return
    link = {**PDF_LINK, **(app.config.kd_pdf_link or {})}
    context["kd_pdf_link"] = {**link, "href": context["pathto"](link["href"], 1)}


def _copy_pdf(app, exception) -> None:
    if exception is not None or app.builder.format != "html" or not app.config.kd_pdf_available:
        return
    import shutil

    src = _pdf_source(app.config, app.srcdir)
    dest = Path(app.outdir) / {**PDF_LINK, **(app.config.kd_pdf_link or {})}["href"]
    if src.is_file() and (not dest.exists() or dest.read_bytes() != src.read_bytes()):
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def _issue_button(app, pagename, templatename, context, doctree) -> None:
    """The theme's "open issue" link names the page's address and its source file in the repository."""
    from urllib.parse import quote

    theme = app.config.html_theme_options
    book = (theme.get("path_to_docs") or "").strip("/")  # "zh" for the Chinese edition
    prefix = f"{book}/" if book else ""
    source = f"{prefix}{pagename}{context.get('page_source_suffix') or '.md'}"
    # the theme's title, with the page's path in the site (/zh/book/intro.html for a Chinese page)
    title = f"Issue%20on%20page%20%2F{prefix}{pagename}.html"
    body = quote(f"Page: {app.config.html_baseurl}{pagename}.html\nSource file: {source}\n\n"
                 "Your issue content here.", safe="/:")
    for button in context.get("header_buttons", []):
        for b in [button, *button.get("buttons", [])]:
            if b.get("label") == "source-issues-button":
                b["url"] = f"{theme.get('repository_url', '').rstrip('/')}/issues/new?title={title}&body={body}"


def setup(app):
    app.add_config_value("kd_exercises_dir", "exercises", "env", types=[str])
    app.add_config_value("kd_pdf_link", {}, "html", types=[dict])
    app.add_config_value("kd_pdf_available", False, "html", types=[bool])
    app.connect("config-inited", _pdf_available)
    app.connect("html-page-context", _pdf_link)
    app.connect("build-finished", _copy_pdf)
    # After sphinx-book-theme has made its header buttons (priority 500).
    app.connect("html-page-context", _issue_button, priority=800)
    app.connect("config-inited", _home_substitutions, priority=900)
    app.connect("builder-inited", _assignments_zip)
    # Before sphinx-book-theme's launch buttons (priority 500) copy the notebook to _sources/.
    app.connect("html-page-context", _executed_notebook, priority=400)
    app.connect("html-page-context", _citations_as_list_items)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
