"""The book's version in every page's footer, with its licences and how to cite it (a local Sphinx extension).

The version has one source: ``__version__`` in ``kdutils/__init__.py`` (``pyproject.toml`` reads it too,
and ``tests/test_packaging.py`` checks ``CITATION.cff`` against it). It is read from that file, not
imported, so the build shows the checkout's version whichever kdutils is installed. It becomes Sphinx's
``version`` and ``release`` and a line of the footer (sphinx-book-theme's ``extra_footer``), in the
edition's language: the version, the code's licence (MIT) and the text's and figures' (CC BY-SA 4.0),
linking ``LICENSE`` and ``CITATION.cff`` in the repository (``repository.url`` and ``branch`` of
``_config.yml``).
"""
from __future__ import annotations

import html
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
INIT = ROOT / "kdutils" / "__init__.py"

TEXT = {
    "en": ("Version {version}", "Code: MIT; text and figures: CC BY-SA 4.0 ({licence})", "How to cite: {cite}"),
    "zh": ("版本 {version}", "代码：MIT；正文与图：CC BY-SA 4.0（{licence}）", "引用本书：{cite}"),
}


def book_version(init: Path = INIT) -> str:
    """``__version__`` of ``kdutils/__init__.py`` (a clear error when the file has none)."""
    m = re.search(r'^__version__\s*=\s*"([^"]+)"', init.read_text(encoding="utf-8"), re.M)
    if not m:
        raise ValueError(f"{init}: no __version__ = \"...\" line (the book's version is read from it)")
    return m.group(1)


def footer_html(version: str, language: str | None, repository_url: str | None, branch: str = "main") -> str:
    """The footer line: version, licences, citation; file names link the repository when it is known."""
    words = TEXT["zh" if (language or "").startswith("zh") else "en"]

    def link(name: str) -> str:
        if not repository_url:
            return f"<code>{name}</code>"
        href = f"{repository_url.rstrip('/')}/blob/{branch}/{name}"
        return f'<a href="{html.escape(href)}">{name}</a>'

    parts = [words[0].format(version=html.escape(version)), words[1].format(licence=link("LICENSE")),
             words[2].format(cite=link("CITATION.cff"))]
    return f'<p class="kd-version">{" · ".join(parts)}</p>'


def _configure(app, config) -> None:
    version = book_version()
    config.version = config.release = version
    options = dict(config.html_theme_options or {})
    line = footer_html(version, config.language, options.get("repository_url"), options.get("repository_branch") or "main")
    options["extra_footer"] = (options.get("extra_footer") or "") + line
    config.html_theme_options = options


def setup(app):
    app.connect("config-inited", _configure, priority=950)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
