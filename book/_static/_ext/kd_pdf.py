"""``make pdf``: each edition of the book as one PDF, printed by Chromium from a single-page build.

Why Chromium and not XeLaTeX: the PDF then shows exactly what the web book shows (the same
MathJax-typeset equations, the same figures, the Chinese text in Debian's Noto CJK font), it
needs nothing beyond what the browser tests already install (``chromium``, ``fonts-noto-cjk``),
and the LaTeX route would need ``texlive-xetex`` plus CJK and glue/myst-nb support in the LaTeX
writer. Nothing is downloaded: MathJax is served locally.

Steps, for the English edition (``_build/pdf/book.pdf``) and the Chinese one
(``_build/pdf/book_zh.pdf``):

1. ``jupyter-book build --builder singlehtml`` (strict; the notebooks come from the shared
   jupyter-cache, so nothing executes when ``make book`` ran before);
2. a title page (title, version, commit, dates; see ``edition_line``) is inserted in the page;
3. the page is served on 127.0.0.1 and opened at the printed width (A4 less the margins) with
   the print stylesheet (``@media print`` in ``book/_static/css/kd-book.css``: code wraps, hidden
   code cells are left out, no heading or frame alone at a page foot); once MathJax has typeset,
   a display equation or a table still wider than the page is scaled down to fit;
4. every element still wider than the page, or clipping its content, is listed in
   ``_build/pdf/book[_zh].json`` (``overflowing``; ``tests/test_pdf.py`` requires none) with
   ``pages``, ``build_s`` and ``scaled`` (what step 3 scaled);
5. Chromium prints the PDF.

``make pdf`` then runs ``make book``: ``kd_reader`` links a PDF in the sidebar only when it
exists (a plain ``make book`` on a fresh clone shows no dead link) and copies it into the site.

Usage: ``python book/_static/_ext/kd_pdf.py [en|zh ...]`` from the repository root (``make pdf``:
both editions).
"""
from __future__ import annotations

import datetime as dt
import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BUILD = ROOT / "_build"
# A4 less the left and right margins below, in CSS pixels (96 per inch): the printed line width.
MARGIN_MM = {"top": 18, "bottom": 18, "left": 16, "right": 16}
PRINT_WIDTH_PX = int((210 - MARGIN_MM["left"] - MARGIN_MM["right"]) / 25.4 * 96)

EDITIONS = {
    "en": {"pdf": "book.pdf", "singlehtml": BUILD / "singlehtml",
           "version": "Version", "commit": "commit", "printed": "printed", "changed": "with local changes",
           "paren": " ({})", "comma": ", "},
    "zh": {"pdf": "book_zh.pdf", "singlehtml": BUILD / "zh" / "_build" / "singlehtml",
           "version": "版本", "commit": "提交", "printed": "生成于", "changed": "含未提交的修改",
           "paren": "（{}）", "comma": "，"},
}


def book_version() -> str:
    """``kdutils.__version__`` (the one place the version is written), else pyproject's."""
    sys.path.insert(0, str(ROOT))
    try:
        import kdutils

        version = getattr(kdutils, "__version__", None)
    except ImportError:
        version = None
    finally:
        sys.path.pop(0)
    if version:
        return str(version)
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def edition_line(edition: str, today: dt.date | None = None) -> str:
    """``Version 0.1.0 · commit 31db7fe (2026-12-08) · printed 2026-12-08`` in the edition's language."""
    words = EDITIONS[edition]
    today = today or dt.datetime.now(dt.timezone.utc).date()
    parts = [f"{words['version']} {book_version()}"]
    commit = _git("rev-parse", "--short", "HEAD")
    if commit:
        when = _git("log", "-1", "--format=%cs")
        if _git("status", "--porcelain", "--untracked-files=no"):
            when += words["comma"] + words["changed"]
        parts.append(f"{words['commit']} <code>{commit}</code>" + words["paren"].format(when))
    parts.append(f"{words['printed']} {today.isoformat()}")
    return " · ".join(parts)


def _config(edition: str) -> dict:
    import yaml

    path = ROOT / "_config.yml" if edition == "en" else BUILD / edition / "_config.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def build_singlehtml(edition: str) -> Path:
    """The strict single-page build of an edition; returns the copy of its page at the site root."""
    jb = Path(sys.executable).parent / "jupyter-book"
    if edition == "en":
        cmd = [str(jb), "build", str(ROOT)]
    else:
        subprocess.run([sys.executable, str(Path(__file__).with_name("kd_edition_config.py")), edition,
                        str(BUILD / edition / "_config.yml")], cwd=ROOT, check=True)
        cmd = [str(jb), "build", str(ROOT / edition), "--config", str(BUILD / edition / "_config.yml"),
               "--path-output", str(BUILD / edition)]
    proc = subprocess.run([*cmd, "--builder", "singlehtml", "-W", "-n", "--keep-going"],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{edition}: singlehtml build failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-5000:]}")
    out = EDITIONS[edition]["singlehtml"]
    # The single page is written as the root document (book/intro.html), but its links and
    # images are relative to the site root: print a copy that sits at the root.
    page = out / "book" / "intro.html"
    if not page.exists():
        raise SystemExit(f"{edition}: the singlehtml build wrote no {page}")
    text = page.read_text(encoding="utf-8")
    cfg = _config(edition)
    title = html.escape(cfg["title"])
    title_page = (f'<div id="kd-title-page"><div class="kd-title">{title}</div>'
                  f'<div class="kd-subtitle">{html.escape(cfg.get("author", ""))}</div>'
                  f'<div class="kd-edition">{edition_line(edition)}</div></div>\n')
    anchor = '<div id="jb-print-docs-body"'
    if anchor not in text:
        raise SystemExit(f"{page}: no {anchor}> to put the title page before (has the theme changed?)")
    text = text.replace(anchor, title_page + anchor, 1)
    text = re.sub(r"<title>.*?</title>", f"<title>{title}</title>", text, count=1, flags=re.S)
    dest = out / "book.html"
    dest.write_text(text, encoding="utf-8")
    return dest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


# Scale a display equation or a table that is wider than its column (MathJax draws in em, so a
# smaller font-size scales the whole equation); returns what it scaled.
_FIT_WIDE = r"""() => {
  const scaled = new Map();
  const wide = document.querySelectorAll('.bd-article mjx-container[display="true"], .bd-article table');
  // a table does not shrink in proportion to its font (padding, unbreakable words): measure again
  for (let round = 0; round < 6; round++) {
    let changed = false;
    for (const el of wide) {
      if (!el.getClientRects().length) continue;
      const room = el.parentElement.clientWidth;
      const need = Math.max(el.scrollWidth, el.getBoundingClientRect().width);
      if (need <= room + 1) continue;
      const size = parseFloat(getComputedStyle(el).fontSize);
      el.style.fontSize = (size * room / need * 0.97).toFixed(2) + 'px';
      const first = scaled.has(el) ? scaled.get(el).size0 : size;
      scaled.set(el, {size0: first, text: el.textContent.trim().slice(0, 60)});
      changed = true;
    }
    if (!changed) break;
  }
  return [...scaled.entries()].map(([el, s]) =>
    `${el.tagName.toLowerCase()}: ${(100 * parseFloat(el.style.fontSize) / s.size0).toFixed(0)}%: ${s.text}`);
}"""

# Every rendered element of the article that is wider than the printed column or clips its
# content (a scroll box prints only what it shows).
_OVERFLOWING = r"""() => {
  const art = document.querySelector('.bd-article');
  const right = art.getBoundingClientRect().right;
  const out = [];
  for (const el of art.querySelectorAll('*')) {
    if (!el.getClientRects().length) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) continue;  // screen-reader-only text, empty spans
    // MathJax's own boxes clip by design (the pieces of a stretched delimiter); their container counts
    if (el.tagName.startsWith('MJX-') && el.tagName !== 'MJX-CONTAINER') continue;
    const cs = getComputedStyle(el);
    if (cs.position === 'absolute' || cs.position === 'fixed') continue;
    const clips = cs.display !== 'inline' && cs.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1;
    // MathJax sizes inline math from the surrounding font's metrics, and in Chinese text its box
    // can be a few pixels narrower than its glyphs: up to 6 px (1.6 mm of the 16 mm margin) is
    // still on the paper, more is reported
    // a run of blanks in wrapped code (Pygments' span.w) hangs past the margin at a line break and draws nothing
    const blank = !el.children.length && !el.textContent.trim();
    const beyond = r.right > right + 6 && !blank;
    if (clips || beyond) {
      const inner = clips && el.querySelector('*') && [...el.querySelectorAll('*')].some(
        c => getComputedStyle(c).display !== 'inline' && getComputedStyle(c).overflowX !== 'visible' && c.scrollWidth > c.clientWidth + 1);
      if (beyond && el.parentElement && el.parentElement.getBoundingClientRect().right > right + 6) continue;
      if (inner) continue;  // report the innermost box that clips
      out.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')}: ` +
               `${clips ? 'clips' : 'extends ' + Math.round(r.right - right) + 'px past the margin'}: ` +
               el.textContent.trim().slice(0, 80));
    }
  }
  return out;
}"""


def print_pdf(page_file: Path, dest: Path) -> dict:
    """Print ``page_file`` (served from its folder) to ``dest``; return ``scaled`` and ``overflowing``.

    The browser is the one ``KD_CHROMIUM`` names (``kd_browser``: Debian's chromium by default, or Playwright's)."""
    import sys

    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import kd_browser

    why = kd_browser.problem()
    if why:
        raise SystemExit(f"cannot print the PDF: {why}; run `sudo make system`")
    chromium = kd_browser.executable()
    httpd, base = _serve(page_file.parent)
    profile = tempfile.mkdtemp(prefix="kd-pdf-profile-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=chromium, headless=True,
                viewport={"width": PRINT_WIDTH_PX, "height": 1000},
                args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
            page = ctx.new_page()
            page.set_default_timeout(120_000)
            failed = []
            page.on("response", lambda r: failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
            page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
            page.emulate_media(media="print")
            page.goto(base + page_file.name, wait_until="load")
            if page.evaluate("() => document.querySelector('.math') !== null"):
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("() => MathJax.startup.promise")
            page.evaluate("() => document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
            page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
            page.evaluate("() => document.fonts.ready.then(() => true)")
            # Dropdown answers are part of the printed book (hidden code cells are left out by the
            # print stylesheet, open or not).
            page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
            failed = [f for f in failed if "/searchindex.js" not in f]  # singlehtml builds no search index
            if failed:
                raise SystemExit("the single-page book did not load completely:\n  " + "\n  ".join(failed[:20]))
            scaled = page.evaluate(_FIT_WIDE)
            overflowing = page.evaluate(_OVERFLOWING)
            dest.parent.mkdir(parents=True, exist_ok=True)
            page.pdf(path=str(dest), format="A4", print_background=True, outline=True, tagged=True,
                     margin={k: f"{v}mm" for k, v in MARGIN_MM.items()},
                     display_header_footer=True, header_template="<span></span>",
                     footer_template='<div style="font-size:8px;width:100%;text-align:center">'
                                     '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')
            ctx.close()
    finally:
        httpd.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    return {"scaled": scaled, "overflowing": overflowing}


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def make(edition: str) -> dict:
    """Build, print and describe one edition's PDF (``_build/pdf/<name>.pdf`` and ``.json``)."""
    t0 = time.perf_counter()
    page_file = build_singlehtml(edition)
    pdf = BUILD / "pdf" / EDITIONS[edition]["pdf"]
    found = print_pdf(page_file, pdf)
    meta = {"pages": page_count(pdf), "build_s": round(time.perf_counter() - t0, 1), **found}
    pdf.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{pdf}: {meta['pages']} pages in {meta['build_s']:.1f} s; scaled to fit: {len(found['scaled'])}; "
          f"still overflowing: {len(found['overflowing'])}")
    for line in found["overflowing"]:
        print(f"  overflowing: {line}")
    return meta


def main(argv: list[str]) -> int:
    editions = argv or list(EDITIONS)
    unknown = [e for e in editions if e not in EDITIONS]
    if unknown:
        raise SystemExit(f"kd_pdf.py: unknown edition(s) {unknown}; choose from {list(EDITIONS)}")
    for edition in editions:
        make(edition)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
