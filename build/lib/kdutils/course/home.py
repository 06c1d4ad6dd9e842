"""Where the book and its repository live, read from the one place they are set: ``_config.yml``.

``html.baseurl`` is the published book, ``repository.url``/``repository.branch`` its repository
(Jupyter Book's own keys; the theme buttons and the launch buttons derive from them too).
``make exercises`` uses :func:`load_home` to point every chapter link of the source notebooks
(a relative ``../../book/temperature.md``, or any earlier URL of a chapter) at the rendered page
of the published book, before nbgrader releases them, so source and release agree (and so do
nbgrader's checksums of the locked cells).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .core import ROOT

__all__ = ["Home", "load_home", "CHAPTER_LINK", "link_chapters"]

_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
#: A Markdown link to a chapter: relative to its source, or a URL of its page or its source.
CHAPTER_LINK = re.compile(r"\]\((?:(?:\.\./)+|https?://[^)\s]*?/)(book/[A-Za-z0-9_]+)\.(?:md|html)(#[^)\s]*)?\)")


@dataclass(frozen=True)
class Home:
    """The published book (``book_url``, ending in ``/``) and its repository."""

    book_url: str
    repository_url: str
    branch: str = "main"

    def page(self, docname: str) -> str:
        """URL of the rendered page of ``docname`` (e.g. ``book/temperature``)."""
        return f"{self.book_url}{docname}.html"

    def tree(self, path: str) -> str:
        """URL of a folder of the repository on its branch."""
        return f"{self.repository_url}/tree/{self.branch}/{path}"


def load_home(root: Path = ROOT) -> Home:
    """Read the book's home from ``<root>/_config.yml``; a missing or malformed URL is an error naming the key."""
    cfg = yaml.safe_load((Path(root) / "_config.yml").read_text(encoding="utf8")) or {}
    book = (cfg.get("html") or {}).get("baseurl")
    repo = (cfg.get("repository") or {}).get("url")
    branch = (cfg.get("repository") or {}).get("branch") or "main"
    for key, value in (("html.baseurl", book), ("repository.url", repo)):
        if not isinstance(value, str) or not _URL.match(value):
            raise ValueError(f"_config.yml: {key} must be an http(s) URL, got {value!r}")
    if not book.endswith("/"):
        raise ValueError(f"_config.yml: html.baseurl must end with '/', got {book!r}")
    return Home(book_url=book, repository_url=repo.rstrip("/"), branch=branch)


def link_chapters(text: str, home: Home) -> str:
    """Replace every relative chapter link of ``text`` by the link to the rendered page."""
    return CHAPTER_LINK.sub(lambda m: f"]({home.page(m.group(1))}{m.group(2) or ''})", text)
