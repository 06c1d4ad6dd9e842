"""The two editions of the book, English and 中文 (a local Sphinx extension).

The book is built twice from two source trees that share page names: the English
edition from the repository root into ``_build/html/``, the Chinese edition from
``zh/`` into ``_build/html/zh/`` (see the Makefile's ``book`` target). This
extension, loaded by both, does three things:

1. **Language switch in the header.** Every page gets a button in the article
   header (next to the download and full-screen buttons, as d2l.ai puts its
   "中文版" link) that opens *the same page* in the other edition. When the
   other edition has no such page yet (a chapter not translated), it links to
   the other edition's first page instead, and its tooltip says so. A
   ``<link rel="alternate" hreflang=...>`` in the head names the same target.
2. **A valid ``<html lang>``.** pydata-sphinx-theme writes ``lang="{{ language }}"``,
   i.e. ``zh_CN``, which is not a BCP 47 tag; pages get ``zh-CN`` (and ``en``).
3. **One jupyter-cache for both editions.** A relative ``execute.cache`` path
   (``nb_execution_cache_path``) is made relative to the book's own folder
   instead of the shell's working directory, so the cache is the same folder
   however the build is started (the Chinese edition's generated configuration,
   ``kd_edition_config.py``, gives it the English edition's cache as an absolute path). jupyter-cache keys a notebook on its code cells (and the
   kernelspec), so a page whose code cells are byte-identical in both editions
   is executed once, by whichever edition builds first.

4. **Links to pages the edition lacks.** The role ``{kd-doc}`标题 <page>``` links
   to ``page`` of this edition when it exists (exactly as ``{doc}`` does), and
   otherwise to the same page of the other edition, with the given title and a
   note of its language. Translators use it for chapters not translated yet, so
   the strict build passes; ``tests/test_zh.py`` fails once the page exists here
   and the link should become a plain ``{doc}``.

5. **No stray spaces in Chinese text.** A line break inside a Markdown paragraph
   becomes a space in HTML, which English needs and Chinese does not: in an
   edition whose language is Chinese, a line break next to a Chinese character
   or full-width punctuation mark is removed (one between Chinese and Latin
   letters stays a space, as the house style wants). Translators can wrap lines
   freely.

Configuration (``sphinx.config`` in ``_config.yml``)::

    kd_other_edition:
      root: zh/            # URL of the other edition's root, relative to this one's root
      srcdir: zh           # its source folder, relative to this book's folder
      start: book/intro    # its first page, the fallback target
      label: 中文           # the button's text
      hreflang: zh-CN
      title: 本页的中文版    # the button's tooltip
      missing_title: 本页尚未翻译：打开中文版首页
      link_note: （英文）  # after a {kd-doc} link to a page of the other edition

Tested by ``tests/test_zh.py`` (built HTML) and ``tests/test_browser.py`` (the
button, clicked in a real browser).
"""
from __future__ import annotations

import posixpath
import re
from pathlib import Path

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

SOURCE_SUFFIXES = (".md", ".ipynb", ".rst")
STATIC = Path(__file__).parent / "kd_language_static"


def _resolve_cache_path(app, config) -> None:
    path = config.nb_execution_cache_path if "nb_execution_cache_path" in config else None
    if path and not Path(path).is_absolute():
        config.nb_execution_cache_path = str((Path(app.confdir) / path).resolve())


def _add_static(app) -> None:
    if app.builder.format == "html":
        app.config.html_static_path.append(str(STATIC))


def _html_lang(language: str | None) -> str:
    return (language or "en").replace("_", "-")


def _other_page(app, pagename: str) -> tuple[str, bool]:
    """(docname in the other edition, whether it exists there)."""
    other = app.config.kd_other_edition
    if pagename not in app.env.found_docs:  # genindex, search: generated in both editions
        return pagename, True
    srcdir = (Path(app.confdir) / other["srcdir"]).resolve()
    exists = any((srcdir / (pagename + s)).exists() for s in SOURCE_SUFFIXES)
    return (pagename, True) if exists else (other.get("start", "index"), False)


def _page_context(app, pagename, templatename, context, doctree) -> None:
    if "language" in context:
        context["language"] = _html_lang(app.config.language)
    other = app.config.kd_other_edition
    if not other:
        return
    target, exists = _other_page(app, pagename)
    up = "../" * pagename.count("/")
    url = f"{up}{other['root']}{target}.html"
    title = other.get("title", "") if exists else other.get("missing_title", other.get("title", ""))
    buttons = context.get("header_buttons")
    if buttons is not None:
        buttons.insert(0, {
            "type": "link",
            "url": url,
            "text": other.get("label", ""),
            "tooltip": title,
            "icon": "fas fa-language",
            "label": "kd-language",
            "classes": "kd-language-switch",
        })
    hreflang = other.get("hreflang", "")
    context["metatags"] = context.get("metatags", "") + (
        f'\n<link rel="alternate" hreflang="{hreflang}" href="{url}" />' if exists else "")
    if buttons is not None:
        _fix_issue_page_path(buttons, pagename, _site_prefix(app))


def _site_prefix(app) -> str:
    """Where this edition sits in the site: "" for the root edition, "zh/" for one built into a subfolder.

    An edition whose other edition is at ``../`` is the subfolder named like its source folder
    (``zh/`` is built into ``_build/html/zh/``).
    """
    other = app.config.kd_other_edition or {}
    return f"{Path(app.srcdir).name}/" if str(other.get("root", "")).startswith("../") else ""


def _fix_issue_page_path(buttons, pagename: str, prefix: str) -> None:
    """Make the theme's "open issue" link name this edition's page (``/zh/book/intro.html``, not ``/book/...``)."""
    if not prefix:
        return
    for button in buttons:
        if not isinstance(button, dict):
            continue
        url = button.get("url")
        if isinstance(url, str) and "/issues/new" in url:
            button["url"] = url.replace(f"%2F{pagename}.html", f"%2F{prefix}{pagename}.html")
        if isinstance(button.get("buttons"), list):
            _fix_issue_page_path(button["buttons"], pagename, prefix)


def kd_doc_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{kd-doc}`title <page>```: {doc} when ``page`` exists here, else the other edition's page."""
    env = inliner.document.settings.env
    app = env.app
    m = re.fullmatch(r"\s*(.*?)\s*<([^<>]+)>\s*", text, re.S)
    title, target = (m.group(1), m.group(2).strip()) if m else (None, text.strip())
    docname = posixpath.normpath(posixpath.join(posixpath.dirname(env.docname), target))
    if docname in env.found_docs:
        doc_role = env.get_domain("std").role("doc")
        return doc_role("doc", rawtext, text, lineno, inliner, options or {}, content or [])
    if not title:
        msg = inliner.reporter.error(
            f"kd-doc: {target!r} is not a page of this edition, so the link needs a title: "
            f"{{kd-doc}}`标题 <{target}>`", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    other = app.config.kd_other_edition
    up = "../" * env.docname.count("/")
    url = f"{up}{other['root']}{docname}.html"
    node = nodes.reference(rawtext, "", refuri=url, classes=["kd-other-edition"])
    node += nodes.inline(text=title)
    note = other.get("link_note", "")
    return [node, nodes.Text(note)] if note else [node], []


CJK_CHAR = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
CJK_PUNCT = re.compile(r"[\u3000-\u303f\uff00-\uffef]")
SKIP_PARENTS = (nodes.literal, nodes.literal_block, nodes.math, nodes.math_block, nodes.raw, nodes.comment)


class JoinChineseLines(SphinxPostTransform):
    """Remove a soft line break between Chinese characters (or next to full-width punctuation).

    A line break next to anything else (Latin text, a number, a glued value) stays, and
    renders as the space the spacing rule asks for: "为\n{glue:text}`x`" gives "为 0.342".
    A glue reference to another page that is not filled yet (myst-nb's
    ``PendingGlueReference``) counts as Latin text, since a glued value is a number or a
    Latin phrase. Text nodes are replaced by identity: ``Element.replace`` looks a child up
    by equality, and ``Text`` is a ``str``, so it would replace the first child equal to
    "\n" in the paragraph, not the one meant.
    """

    default_priority = 900
    #: What a not-yet-filled glue reference counts as when its neighbours are looked at.
    PENDING_GLUE = "0"

    def run(self, **kwargs) -> None:
        if not (self.config.language or "").startswith("zh"):
            return
        try:
            from myst_nb.ext.glue.utils import PendingGlueReference
        except ImportError:  # pragma: no cover (myst-nb is a dependency of the book)
            PendingGlueReference = ()

        def is_piece(n) -> bool:
            return isinstance(n, nodes.Text) or (bool(PendingGlueReference) and isinstance(n, PendingGlueReference))

        # All text, in document order, with pending glue as Latin placeholders: neighbours are looked up in order.
        pieces = list(self.document.findall(is_piece))
        shown = [self.PENDING_GLUE if not isinstance(n, nodes.Text) else str(n) for n in pieces]
        for k, node in enumerate(pieces):
            if not isinstance(node, nodes.Text):
                continue
            text = shown[k]
            if "\n" not in text or isinstance(node.parent, SKIP_PARENTS):
                continue
            before = next((shown[j][-1] for j in range(k - 1, -1, -1) if shown[j]), "")
            after = next((shown[j][0] for j in range(k + 1, len(shown)) if shown[j]), "")
            out = []
            for i, ch in enumerate(text):
                if ch == "\n":
                    prev = text[i - 1] if i > 0 else before
                    nxt = text[i + 1] if i + 1 < len(text) else after
                    both_cjk = CJK_CHAR.match(prev or " ") and CJK_CHAR.match(nxt or " ")
                    if both_cjk or CJK_PUNCT.match(prev or " ") or CJK_PUNCT.match(nxt or " "):
                        continue
                out.append(ch)
            new = "".join(out)
            if new != text:
                parent = node.parent
                index = next(i for i, child in enumerate(parent.children) if child is node)
                replacement = nodes.Text(new)
                replacement.parent = parent
                parent.children[index] = replacement
                shown[k] = new


def setup(app):
    app.add_post_transform(JoinChineseLines)
    app.add_role("kd-doc", kd_doc_role)
    app.add_config_value("kd_other_edition", {}, "html", types=[dict])
    app.connect("config-inited", _resolve_cache_path, priority=100)
    app.connect("builder-inited", _add_static)
    app.add_js_file("kd_language.js")
    # After sphinx-book-theme fills header_buttons (its handlers run at priority 501).
    app.connect("html-page-context", _page_context, priority=600)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
