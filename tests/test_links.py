"""One home and working links: the book's URL and repository are set once, in ``_config.yml``.

* No file carries its own copy of either URL: the theme buttons, the launch buttons, the
  assignment notebooks' links (written by ``make exercises``) and ``book/exercises.md`` derive
  from ``html.baseurl`` and ``repository.url``.
* Every chapter link of the assignment notebooks points at the *rendered* page of a chapter
  that exists, under the configured book URL.
* Every internal link of the built site resolves (file and fragment); the external ones are
  checked weekly by ``.github/workflows/linkcheck.yml`` (they need the network).
"""
from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import nbformat
import pytest
import yaml

from kdutils.course.home import CHAPTER_LINK, Home, link_chapters, load_home

ROOT = Path(__file__).resolve().parents[1]
HOME = load_home(ROOT)
NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb")) + sorted((ROOT / "exercises").glob("*/*.ipynb"))


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / f for f in out if (ROOT / f).is_file()]


def test_home_is_read_from_config_yml_and_bad_urls_are_named():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert HOME.book_url == cfg["html"]["baseurl"] and HOME.book_url.endswith("/")
    assert HOME.repository_url == cfg["repository"]["url"].rstrip("/")
    assert HOME.page("book/tuning") == HOME.book_url + "book/tuning.html"
    with pytest.raises(ValueError, match=r"html\.baseurl.*'kd-book\.example'"):
        bad = ROOT / ".pytest_cache" / "home" / "_config.yml"
        bad.parent.mkdir(parents=True, exist_ok=True)
        bad.write_text("html: {baseurl: kd-book.example}\nrepository: {url: https://x.org/a/b}\n")
        load_home(bad.parent)


def _copies(text: str) -> list[str]:
    """The forms of the book's or the repository's URL that occur in ``text``."""
    repo_path = urlparse(HOME.repository_url).path.strip("/")  # owner/name, in any URL form
    return [n for n in (HOME.book_url.rstrip("/"), HOME.repository_url, f"github.com/{repo_path}") if n in text]


def test_no_file_hard_codes_the_book_or_repository_url():
    """Only _config.yml and the notebooks that `make exercises` writes may contain the two URLs."""
    allowed = {ROOT / "_config.yml", *NOTEBOOKS}
    offenders = []
    for f in tracked_files():
        if f in allowed or f.suffix in {".png", ".ico", ".db", ".zip", ".pdf"}:
            continue
        try:
            text = f.read_text(encoding="utf8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{f.relative_to(ROOT)}: {c}" for c in _copies(text)]
    assert not offenders, "hard-coded copies of the book's home (derive them from _config.yml):\n" + "\n".join(offenders)


def test_the_checks_can_fail():
    """A planted copy of the URL, and a chapter link to another home, are both reported."""
    assert _copies(f"see {HOME.repository_url}/tree/main/exercises")
    assert _copies(f"[t]({HOME.page('book/tuning')})")
    stale = "[t](https://old.example.org/kd/book/tuning.html) and [u](../../book/tuning.md)"
    assert _stale_links(stale) == ["https://old.example.org/kd/book/tuning.html", "../../book/tuning.md"]
    moved = Home("https://example.org/kd/", "https://example.org/git/kd")
    assert link_chapters(stale, moved) == ("[t](https://example.org/kd/book/tuning.html) and "
                                           "[u](https://example.org/kd/book/tuning.html)")


def _chapter_links(text: str) -> list[str]:
    return re.findall(r"\]\((https?://[^)\s]+|(?:\.\./)+book/[^)\s]+)\)", text)


def _stale_links(text: str, home: Home = HOME) -> list[str]:
    """Chapter links of ``text`` that are not what ``make exercises`` writes for this home."""
    return [link for link in _chapter_links(text)
            if CHAPTER_LINK.search(f"]({link})") and link_chapters(f"]({link})", home) != f"]({link})"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_assignment_links_point_at_rendered_chapters_of_this_home(path):
    nb = nbformat.read(path, as_version=4)
    # The Chinese assignments (issue 17) link the Chinese edition, published under <book url>zh/.
    lang = "zh" if path.parent.name.endswith("_zh") else None
    home = Home(f"{HOME.book_url}zh/", HOME.repository_url, HOME.branch) if lang else HOME
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    links = [link for link in _chapter_links(text) if CHAPTER_LINK.search(f"]({link})")]
    assert links, f"{path.name} links no chapter"
    stale = _stale_links(text, home)
    assert not stale, f"{path}: links not derived from _config.yml (run `make exercises`): {stale}"
    for link in links:
        assert link.startswith(home.book_url) and ".html" in link, link
        doc = link[len(home.book_url):].split(".html")[0]
        source = ROOT / (lang or "") / f"{doc}.md"
        assert source.exists(), f"{path.name} links {link}, but {source.relative_to(ROOT)} does not exist"


# --------------------------------------------------------------------------- the built site


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key) and not (tag == "link" and a.get("rel") == "canonical"):
                self.hrefs.append(a[key])


def _parse(path: Path, cache: dict) -> _Links:
    if path not in cache:
        p = _Links()
        p.feed(path.read_text(encoding="utf8", errors="replace"))
        cache[path] = p
    return cache[path]


@pytest.mark.slow
@pytest.mark.full
def test_every_internal_link_of_the_site_resolves(built_pdf):
    """Every relative href/src of every page: the file exists, and a #fragment is an id of its target."""
    html = built_pdf["html"]
    cache: dict = {}
    broken = []
    pages = sorted(p for p in html.rglob("*.html") if "_static" not in p.relative_to(html).parts)  # not the theme's Jinja macros
    assert len(pages) >= 10
    for page in pages:
        for href in _parse(page, cache).hrefs:
            if urlparse(href).scheme or href.startswith(("//", "mailto:", "javascript:", "data:")):
                continue
            target, frag = urldefrag(href)
            path = (page.parent / unquote(target.split("?")[0])).resolve() if target else page
            if path.is_dir():
                path = path / "index.html"
            if not path.exists():
                broken.append(f"{page.relative_to(html)} -> {href}")
            elif frag and path.suffix == ".html" and frag not in _parse(path, cache).ids:
                broken.append(f"{page.relative_to(html)} -> {href} (no id {frag!r})")
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(sorted(set(broken))[:50])


@pytest.mark.slow
def test_built_pages_take_their_home_from_config(built_book):
    page = (built_book / "book" / "temperature.html").read_text()
    assert f'href="{HOME.repository_url}"' in page, "repository button"
    assert f"{HOME.repository_url}/issues/new?title=" in page, "issues button"
    assert f'rel="canonical" href="{HOME.page("book/temperature")}"' in page
    exercises = (built_book / "book" / "exercises.html").read_text()
    assert f'href="{HOME.tree("exercises")}"' in exercises
