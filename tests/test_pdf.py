"""``make pdf``: each edition as one PDF (Chromium prints a strict single-page build).

For both editions (``_build/pdf/book.pdf``, ``_build/pdf/book_zh.pdf``): a plausible page count,
every chapter title and a glued number (the source article's example, 0.7593) in ``pdftotext``'s
text, typeset math (no raw TeX), the figures as images (``pdfimages``), CJK glyphs from an
embedded font, the sidebar link. And what issue 24 found wrong with the first PDF:

* **nothing cut at the right margin**: every line of every printed code block and text output
  of the single-page build is in the PDF's text (a scroll box prints only what it shows: 50 of
  82 blocks lost text before the print stylesheet), every word's box lies inside the printable
  area, and the print layout measured no element wider than the page (``overflowing``);
* **the intro's key equation whole** (it ended at "CE(y, softmax");
* **no empty "Hide code cell source" frames**: hidden code is left out of the print;
* **a title page** with the title, the version (``kdutils.__version__``), the commit and a date.

The tests that build the book and the PDFs are in the full tier (``slow``, ``full``); the
sidebar-link unit tests are not.
"""
from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXT = ROOT / "book" / "_static" / "_ext"
EDITIONS = ["en", "zh"]
SOURCES = {"en": ROOT, "zh": ROOT / "zh"}
SINGLEHTML = {"en": ROOT / "_build" / "singlehtml" / "book.html",
              "zh": ROOT / "_build" / "zh" / "_build" / "singlehtml" / "book.html"}
# The page is A4 (595.92 x 842.88 pt) printed with 16 mm left and right margins (kd_pdf.MARGIN_MM).
PAGE_W, MARGIN = 595.92, 16 / 25.4 * 72
TOLERANCE = 6 * 72 / 96  # kd_pdf's 6 CSS px: inline math may reach 1.6 mm into the 16 mm margin


def chapter_titles(edition: str) -> dict[str, str]:
    src = SOURCES[edition]
    toc = yaml.safe_load((src / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    titles = {}
    for f in files:
        m = re.search(r"^# (.+)$", (src / f"{f}.md").read_text(encoding="utf-8"), re.M)
        titles[f] = m.group(1).strip()
    return titles


def _norm(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").replace("\ufb01", "fi").replace("\ufb02", "fl").split())


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("\ufb01", "fi").replace("\ufb02", "fl"))


def _pdftotext(pdf: Path, *args: str) -> str:
    return subprocess.run(["pdftotext", *args, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


class PrintedBlocks(HTMLParser):
    """The text of every ``<pre>`` of the single-page build that prints: not inside hidden code
    (``details.hide``, a ``hide-cell`` cell), which the print stylesheet leaves out."""

    VOID = {"br", "img", "meta", "link", "input", "hr", "source", "wbr", "area", "base", "col", "embed", "track"}

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.blocks: list[str] = []
        self.hidden_summaries: set[str] = set()
        self._pre: list[str] | None = None
        self._summary: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        cls = (dict(attrs).get("class") or "").split()
        hidden = (tag == "details" and "hide" in cls) or "tag_hide-cell" in cls
        self.stack.append((tag, hidden))
        if tag == "pre" and not any(h for _, h in self.stack):
            self._pre = []
        if tag == "summary" and any(h for _, h in self.stack):
            self._summary = []

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        while self.stack and self.stack.pop()[0] != tag:
            pass
        if tag == "pre" and self._pre is not None:
            self.blocks.append("".join(self._pre))
            self._pre = None
        if tag == "summary" and self._summary is not None:
            self.hidden_summaries.update(s.strip() for s in "".join(self._summary).split("\n") if s.strip())
            self._summary = None

    def handle_data(self, data):
        if self._pre is not None:
            self._pre.append(data)
        if self._summary is not None:
            self._summary.append(data)


def printed_blocks(page: Path) -> PrintedBlocks:
    parser = PrintedBlocks()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def lines_lost(page: Path, pdf: Path) -> dict[str, list[str]]:
    """Each printed block with the lines of it that are not in the PDF's text (whitespace ignored:
    a wrapped line is still one run of characters in ``pdftotext -raw``'s drawing order)."""
    pages = _pdftotext(pdf, "-raw").split("\f")
    text = _squash("".join(re.sub(r"(?m)^\s*\d+ / \d+\s*$", "", p) for p in pages))  # less the page footers
    lost = {}
    for block in printed_blocks(page).blocks:
        missing = [line for line in block.splitlines() if _squash(line) not in text]
        if missing:
            lost[block[:80]] = missing
    return lost


def words_outside_the_printable_area(pdf: Path) -> list[tuple[int, float, float, str]]:
    """``(page, xMin, xMax, word)`` of every word of ``pdftotext -bbox`` not within the margins."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    left, right = MARGIN - TOLERANCE, PAGE_W - MARGIN + TOLERANCE
    bad = []
    for n, page in enumerate(re.findall(r"<page [^>]*>(.*?)</page>", out, re.S), 1):
        for m in re.finditer(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">(.*?)</word>', page):
            x0, x1 = float(m.group(1)), float(m.group(2))
            if x0 < left or x1 > right:
                bad.append((n, round(x0, 1), round(x1, 1), m.group(3)))
    return bad


@pytest.fixture(scope="module")
def pdfs(built_pdf) -> dict:
    return {"en": built_pdf, "zh": built_pdf["zh"]}


@pytest.fixture(scope="module")
def pdf_text(pdfs) -> dict[str, str]:
    return {e: _pdftotext(pdfs[e]["pdf"], "-layout") for e in EDITIONS}


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("edition", EDITIONS)
def test_page_count_and_build_time_are_recorded(pdfs, edition):
    info = subprocess.run(["pdfinfo", str(pdfs[edition]["pdf"])], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    assert pages == pdfs[edition]["pages"]
    assert 30 <= pages <= 400, f"{edition}: {pages} pages: the whole book is not in the PDF (or far more than it)"
    assert pdfs[edition]["build_s"] > 0


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("edition", EDITIONS)
def test_every_chapter_title_and_a_glued_number_are_in_the_text(pdf_text, edition):
    text = _norm(pdf_text[edition])
    squashed = _squash(pdf_text[edition])
    missing = [t for t in chapter_titles(edition).values() if _norm(t) not in text and _squash(t) not in squashed]
    assert not missing, f"{edition}: chapter titles not in the PDF: {missing}"
    assert "0.7593" in text, f"{edition}: the glued value of the source article's example (0.7593) is not in the PDF"


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("edition", EDITIONS)
def test_math_is_typeset_not_raw_tex(pdf_text, edition):
    raw = re.findall(r"\\frac\{|\\begin\{|\$\$|\\mathrm\{", pdf_text[edition])
    assert not raw, f"{edition}: raw TeX in the PDF: {raw[:5]}"


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("edition", EDITIONS)
def test_figures_are_embedded(pdfs, edition):
    out = subprocess.run(["pdfimages", "-list", str(pdfs[edition]["pdf"])], capture_output=True, text=True, check=True).stdout
    images = [line for line in out.splitlines()[2:] if line.strip()]
    pages = (SOURCES[edition] / "book").glob("*.md")
    n_figures = sum(len(re.findall(r"\{glue:figure\}|\{figure\}", p.read_text(encoding="utf-8"))) for p in pages)
    assert len(images) >= n_figures >= 5, f"{edition}: {len(images)} images in the PDF for {n_figures} figures"


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("edition,min_han", [("en", 100), ("zh", 20000)])
def test_chinese_text_is_in_the_pdf(pdfs, pdf_text, edition, min_han):
    """The Chinese quotes (English edition) and the whole text (中文版) are there as text, drawn
    from an embedded font.

    Chromium embeds Noto CJK (an OpenType collection) as Type 3 fonts, which have no name, so
    pdffonts cannot say which font drew them; that the browser draws them in a CJK font, not as
    missing glyphs, is checked glyph by glyph in tests/test_browser.py (the same Chromium prints this PDF).
    """
    fonts = subprocess.run(["pdffonts", str(pdfs[edition]["pdf"])], capture_output=True, text=True, check=True).stdout
    assert re.search(r"CJK|Type 3", fonts), f"{edition}: no font that can carry the CJK glyphs:\n{fonts}"
    han = re.findall(r"[\u4e00-\u9fff]", pdf_text[edition])
    assert len(han) >= min_han, f"{edition}: only {len(han)} Han characters in the PDF"


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("edition", EDITIONS)
def test_the_sidebar_links_the_editions_pdf(pdfs, edition):
    """Every page of an edition links its own PDF (the Chinese pages the Chinese PDF), a copy of _build/pdf's."""
    site = pdfs[edition]["html"]
    for page in ("book/intro.html", "book/temperature.html"):
        path = site / page
        m = re.search(r'<nav class="kd-pdf-link"[^>]*>\s*<a[^>]*href="([^"]+)"', path.read_text(encoding="utf-8"))
        assert m, f"{edition}: no PDF link in the sidebar of {page}"
        assert (path.parent / m.group(1)).resolve() == pdfs[edition]["site_pdf"].resolve(), m.group(1)
    assert pdfs[edition]["site_pdf"].read_bytes() == pdfs[edition]["pdf"].read_bytes()


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("edition", EDITIONS)
def test_no_code_line_is_cut_at_the_right_margin(pdfs, edition):
    blocks = printed_blocks(SINGLEHTML[edition]).blocks
    assert len(blocks) >= 50, f"{edition}: only {len(blocks)} code blocks found in {SINGLEHTML[edition]}"
    lost = lines_lost(SINGLEHTML[edition], pdfs[edition]["pdf"])
    assert not lost, (f"{edition}: {len(lost)} of {len(blocks)} printed code blocks lose text in the PDF, e.g. "
                      + "; ".join(f"{b!r}: {m[:2]}" for b, m in list(lost.items())[:3]))


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("edition", EDITIONS)
def test_every_word_is_inside_the_printable_area_and_nothing_overflows(pdfs, edition):
    bad = words_outside_the_printable_area(pdfs[edition]["pdf"])
    assert not bad, f"{edition}: {len(bad)} words outside the printable area, e.g. {bad[:5]}"
    assert pdfs[edition]["overflowing"] == [], (
        f"{edition}: elements wider than the printed page (kd_pdf.py measured them): {pdfs[edition]['overflowing'][:5]}")


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("edition", EDITIONS)
def test_the_intro_equation_is_whole(pdf_text, edition):
    """The loss of the intro ends with "+ (1 − α) CE(y, softmax(s))," (it was cut at "CE(y, softmax")."""
    text = _squash(pdf_text[edition])
    assert "CE(y,softmax(s))" in text, f"{edition}: the intro's equation is cut off"


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("edition", EDITIONS)
def test_no_empty_hidden_code_toggles(pdf_text, edition):
    labels = printed_blocks(SINGLEHTML[edition]).hidden_summaries
    assert labels, f"{edition}: no hidden code cell in the single-page build: the test would prove nothing"
    shown = [label for label in labels if label in pdf_text[edition]]
    assert not shown, f"{edition}: the PDF prints hidden-code toggles: {shown}"


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("edition,words", [("en", ("Version", "commit")), ("zh", ("版本", "提交"))])
def test_the_title_page_has_title_version_commit_and_date(pdfs, edition, words):
    sys.path.insert(0, str(ROOT))
    try:
        import kdutils
    finally:
        sys.path.pop(0)
    first = _norm(_pdftotext(pdfs[edition]["pdf"], "-f", "1", "-l", "1"))
    cfg = yaml.safe_load((ROOT / ("_config.yml" if edition == "en" else "_build/zh/_config.yml")).read_text(encoding="utf-8"))
    assert _norm(cfg["title"]) in first, f"{edition}: no title on page 1: {first!r}"
    assert f"{words[0]} {kdutils.__version__}" in first, f"{edition}: no version on page 1: {first!r}"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert f"{words[1]} {commit}" in first, f"{edition}: page 1 does not name commit {commit}: {first!r}"
    assert re.search(r"\d{4}-\d{2}-\d{2}", first), f"{edition}: no date on page 1: {first!r}"
    assert len(first) < 300, f"{edition}: page 1 is not a title page: {first[:300]!r}"


# ------------------------------------------------------------------ the sidebar link (no build)

def _kd_reader():
    sys.path.insert(0, str(EXT))
    try:
        import kd_reader
    finally:
        sys.path.pop(0)
    return kd_reader


class _Config:
    def __init__(self, link):
        self.kd_pdf_link = link
        self.kd_pdf_available = None


class _App:
    def __init__(self, srcdir, config):
        self.srcdir, self.config = str(srcdir), config


def test_no_pdf_no_sidebar_link(tmp_path):
    """A plain ``make book`` (no PDF made yet) renders no link; once the PDF exists, the link is there."""
    import jinja2

    kd_reader = _kd_reader()
    cfg = _Config({"pdf": "_build/pdf/book_zh.pdf", "href": "book_zh.pdf"})
    app = _App(tmp_path, cfg)
    template = jinja2.Template((EXT / "templates" / "kd-pdf-link.html").read_text(encoding="utf-8"))

    def render():
        kd_reader._pdf_available(app, cfg)
        context = {"pathto": lambda href, resource: f"../{href}"}
        kd_reader._pdf_link(app, "book/intro", "page.html", context, None)
        return template.render(**context)

    assert "kd-pdf-link" not in render()
    assert cfg.kd_pdf_available is False
    pdf = tmp_path / "_build" / "pdf" / "book_zh.pdf"
    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(b"%PDF-1.4\n")
    html = render()
    assert cfg.kd_pdf_available is True
    assert 'href="../book_zh.pdf"' in html and "kd-pdf-link" in html


def test_the_chinese_edition_links_its_own_pdf():
    """zh/_config.override.yml points the Chinese sidebar at book_zh.pdf, which make pdf makes."""
    override = yaml.safe_load((ROOT / "zh" / "_config.override.yml").read_text(encoding="utf-8"))
    link = override["sphinx"]["config"]["kd_pdf_link"]
    assert link["href"] == "book_zh.pdf"
    assert (ROOT / "zh" / link["pdf"]).resolve() == (ROOT / "_build" / "pdf" / "book_zh.pdf").resolve()
    assert "英文" not in link["text"] + link["label"], "the Chinese PDF is no longer the English one"
