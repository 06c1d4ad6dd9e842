"""``make pdf``: the whole book as one PDF, printed by Chromium from a single-page HTML build.

Why Chromium and not XeLaTeX: the PDF then shows exactly what the web book shows (the same
MathJax-typeset equations, the same figures, the theme's print stylesheet, the Chinese quotes in
Debian's Noto CJK font), it needs nothing beyond what the browser tests already install
(``chromium``, ``fonts-noto-cjk``), and the LaTeX route would need ``texlive-xetex`` plus CJK
and glue/myst-nb support in the LaTeX writer. Nothing is downloaded: MathJax is served locally.

Steps: ``jupyter-book build --builder singlehtml`` (strict; the notebooks come from the
jupyter-cache that ``make book`` filled), serve ``_build/singlehtml`` on 127.0.0.1, wait until
MathJax has typeset and every image and font has loaded, print to ``_build/pdf/book.pdf``, copy it
to ``_build/html/book.pdf`` (the sidebar links it) and write ``_build/pdf/book.json``
(``pages``, ``build_s``).

Usage: ``python book/_static/_ext/kd_pdf.py`` from the repository root (``make pdf``).
"""
from __future__ import annotations

import functools
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
CHROMIUM = "/usr/bin/chromium"


def build_singlehtml() -> Path:
    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run([str(jb), "build", str(ROOT), "--builder", "singlehtml", "-W", "-n", "--keep-going"],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"singlehtml build failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-5000:]}")
    out = BUILD / "singlehtml"
    # The single page is written as the root document (book/intro.html), but its links and
    # images are relative to the site root: print a copy that sits at the root.
    page = out / "book" / "intro.html"
    if not page.exists():
        raise SystemExit(f"singlehtml build wrote no {page}")
    shutil.copy2(page, out / "book.html")
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def print_pdf(site: Path, dest: Path, chromium: str = CHROMIUM) -> None:
    from playwright.sync_api import sync_playwright

    if not os.access(chromium, os.X_OK):
        raise SystemExit(f"chromium not found at {chromium}; run `sudo make system`")
    httpd, base = _serve(site)
    profile = tempfile.mkdtemp(prefix="kd-pdf-profile-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=chromium, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
            page = ctx.new_page()
            page.set_default_timeout(120_000)
            failed = []
            page.on("response", lambda r: failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
            page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
            page.goto(base + "book.html", wait_until="load")
            if page.evaluate("() => document.querySelector('.math') !== null"):
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("() => MathJax.startup.promise")
            page.evaluate("() => document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
            page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
            page.evaluate("() => document.fonts.ready.then(() => true)")
            # Dropdown answers and toggled cells are part of the printed book.
            page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
            failed = [f for f in failed if "/searchindex.js" not in f]  # singlehtml builds no search index
            if failed:
                raise SystemExit("the single-page book did not load completely:\n  " + "\n  ".join(failed[:20]))
            page.emulate_media(media="print")
            dest.parent.mkdir(parents=True, exist_ok=True)
            page.pdf(path=str(dest), format="A4", print_background=True, outline=True, tagged=True,
                     margin={"top": "18mm", "bottom": "18mm", "left": "16mm", "right": "16mm"},
                     display_header_footer=True, header_template="<span></span>",
                     footer_template='<div style="font-size:8px;width:100%;text-align:center">'
                                     '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')
            ctx.close()
    finally:
        httpd.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def main() -> int:
    t0 = time.perf_counter()
    site = build_singlehtml()
    pdf = BUILD / "pdf" / "book.pdf"
    print_pdf(site, pdf)
    seconds = time.perf_counter() - t0
    pages = page_count(pdf)
    (BUILD / "pdf" / "book.json").write_text(json.dumps({"pages": pages, "build_s": round(seconds, 1)}) + "\n")
    if (BUILD / "html").is_dir():
        shutil.copy2(pdf, BUILD / "html" / "book.pdf")
    print(f"{pdf}: {pages} pages in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
