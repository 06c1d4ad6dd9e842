"""``make pdf``: the whole book as one PDF (Chromium prints a strict single-page build).

Checks: a plausible page count, every chapter title and a glued number (the source article's
example, 0.7593) in ``pdftotext``'s text, typeset math (no raw TeX), the figures as images
(``pdfimages``), the Chinese quotes in a CJK font (``pdffonts``), and the sidebar link.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.full]
ROOT = Path(__file__).resolve().parents[1]


def chapter_titles() -> dict[str, str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    titles = {}
    for f in files:
        m = re.search(r"^# (.+)$", (ROOT / f"{f}.md").read_text(), re.M)
        titles[f] = m.group(1).strip()
    return titles


def _norm(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").replace("\ufb01", "fi").replace("\ufb02", "fl").split())


@pytest.fixture(scope="module")
def pdf_text(built_pdf) -> str:
    return subprocess.run(["pdftotext", "-layout", str(built_pdf["pdf"]), "-"], capture_output=True,
                          text=True, check=True).stdout


def test_page_count_and_build_time_are_recorded(built_pdf):
    info = subprocess.run(["pdfinfo", str(built_pdf["pdf"])], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    assert pages == built_pdf["pages"]
    assert 30 <= pages <= 400, f"{pages} pages: the whole book is not in the PDF (or far more than it)"
    assert built_pdf["build_s"] > 0


def test_every_chapter_title_and_a_glued_number_are_in_the_text(pdf_text):
    text = _norm(pdf_text)
    missing = [t for t in chapter_titles().values() if _norm(t) not in text]
    assert not missing, f"chapter titles not in the PDF: {missing}"
    assert "0.7593" in text, "the glued value of the source article's example (0.7593) is not in the PDF"


def test_math_is_typeset_not_raw_tex(pdf_text):
    raw = re.findall(r"\\frac\{|\\begin\{|\$\$|\\mathrm\{", pdf_text)
    assert not raw, f"raw TeX in the PDF: {raw[:5]}"


def test_figures_are_embedded(built_pdf):
    out = subprocess.run(["pdfimages", "-list", str(built_pdf["pdf"])], capture_output=True, text=True, check=True).stdout
    images = [line for line in out.splitlines()[2:] if line.strip()]
    n_figures = sum(len(re.findall(r"\{glue:figure\}|\{figure\}", p.read_text())) for p in (ROOT / "book").glob("*.md"))
    assert len(images) >= n_figures >= 5, f"{len(images)} images in the PDF for {n_figures} figures"


def test_chinese_quotes_are_in_the_pdf(built_pdf, pdf_text):
    """The Chinese quotes are there as text, drawn from an embedded font.

    Chromium embeds Noto CJK (an OpenType collection) as Type 3 fonts, which have no name, so
    pdffonts cannot say which font drew them; that the browser draws them in a CJK font, not as
    missing glyphs, is checked glyph by glyph in tests/test_browser.py (the same Chromium prints this PDF).
    """
    fonts = subprocess.run(["pdffonts", str(built_pdf["pdf"])], capture_output=True, text=True, check=True).stdout
    assert re.search(r"CJK|Type 3", fonts), f"no font that can carry the CJK glyphs:\n{fonts}"
    han = re.findall(r"[\u4e00-\u9fff]", pdf_text)
    assert len(han) >= 100, f"only {len(han)} Han characters in the PDF: the Chinese quotes are missing"


def test_the_sidebar_links_the_pdf(built_pdf):
    page = (built_pdf["html"] / "book" / "temperature.html").read_text()
    assert re.search(r'href="\.\./book\.pdf"', page), "no link to the PDF in the sidebar"
    assert (built_pdf["html"] / "book.pdf").read_bytes() == built_pdf["pdf"].read_bytes()
