"""The built book, read in a real browser (Debian's chromium driven by Playwright).

``built_book`` (tests/conftest.py) builds ``_build/html`` strictly; this module
serves it on 127.0.0.1 from a thread and visits every page of ``_toc.yml``. On
each page it asserts: no console errors or uncaught exceptions, no failed
request and no HTTP error on the server side, MathJax typeset every equation
(no raw ``$$`` or ``\\(`` left in the visible text, no MathJax error), every
``<img>`` loaded, a title, and sidebar links that resolve. It also checks the
search page, a dropdown answer, and a 390x844 phone viewport without
horizontal scrolling. A full-page screenshot of every page is written to
``_build/screenshots/`` for review.

The browser is the one ``KD_CHROMIUM`` names (``book/_static/_ext/kd_browser.py``): by default
Debian's ``/usr/bin/chromium`` (``make browser`` installs it when missing and the user is root;
Playwright's own browser download does not work on these machines), in the workflows on Ubuntu
24.04 ``KD_CHROMIUM=playwright`` (Playwright's own Chromium). In CI (``CI=true``) a missing
browser is a failure.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest
from conftest import toc_docnames  # tests/conftest.py
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_static" / "_ext"))
import kd_browser  # noqa: E402  (KD_CHROMIUM: which browser)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SCREENSHOTS = ROOT / "_build" / "screenshots"
NAV_TIMEOUT_MS = 30_000


# --------------------------------------------------------------------------- pure helpers




RAW_MATH = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\\frac\{")

# Text of the article that a reader sees as prose: not code, not typeset math, not scripts.
VISIBLE_PROSE_JS = r"""
() => {
  const root = document.querySelector('main') || document.body;
  const skip = 'pre, code, script, style, textarea, mjx-container, mjx-assistive-mml, .MathJax, .highlight';
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const out = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement && !n.parentElement.closest(skip)) out.push(n.textContent);
  }
  return out.join(' ');
}
"""

MATH_STATE_JS = r"""
() => {
  const math = Array.from(document.querySelectorAll('.math'));
  return {
    n_math: math.length,
    untypeset: math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80)),
    errors: Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))
      .map(e => e.getAttribute('data-mjx-error') || e.textContent.slice(0, 80)),
    // MathJax's noundefined extension draws an unknown macro in red instead of failing.
    undefined_macros: (window.MathJax && MathJax.startup && MathJax.startup.document
        ? Array.from(MathJax.startup.document.math) : [])
      .filter(item => item.typesetRoot && item.typesetRoot.querySelector('[style*="color: red"]'))
      .map(item => String(item.math).slice(0, 80)),
  };
}
"""

IMAGES_JS = r"""
() => Array.from(document.images).map(i => ({src: i.currentSrc || i.src, complete: i.complete, w: i.naturalWidth}))
"""


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def chromium_path() -> str | None:
    """The browser named by ``KD_CHROMIUM`` (book/_static/_ext/kd_browser.py): a path, or None for Playwright's own."""
    msg = kd_browser.problem()
    if msg is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + " (CI=true: a missing browser is a failure)")
        pytest.skip(msg)
    return kd_browser.executable()


class _Server:
    """``_build/html`` on 127.0.0.1:<free port>, recording (path, status) of every request."""

    def __init__(self, directory: Path):
        self.log: list[tuple[str, int]] = []
        log = self.log

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code="-", size="-"):
                log.append((self.path, int(code) if str(code).isdigit() else 0))

            def log_message(self, *args):  # keep pytest's output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
        )
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server(built_book):
    with _Server(built_book) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser_context(chromium_path):
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="kd-chromium-profile-")  # a fresh profile, like a first-time reader
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=DESKTOP,
        )
        ctx.set_default_timeout(NAV_TIMEOUT_MS)
        try:
            yield ctx
        finally:
            ctx.close()
            shutil.rmtree(profile, ignore_errors=True)


class _Recorder:
    """Console errors, uncaught exceptions and failed requests of one page."""

    def __init__(self, page):
        self.console_errors: list[str] = []
        self.failed: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r: self.failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)


def _wait_until_rendered(page) -> None:
    """Wait for MathJax's first typeset (when the page loads it) and for every image."""
    page.wait_for_load_state("load")
    has_math = page.evaluate("() => document.querySelector('.math') !== null")
    if has_math:
        assert page.evaluate("() => document.querySelector('script[src*=mathjax]') !== null"), (
            f"{page.url}: the page has equations but does not load MathJax"
        )
        try:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        except Exception as exc:  # playwright's TimeoutError
            raise AssertionError(f"{page.url}: MathJax did not start: {exc}") from None
        page.evaluate("() => MathJax.startup.promise")
    page.evaluate("() => document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
    page.evaluate("() => document.fonts.ready.then(() => true)")


def _shot_name(docname: str, suffix: str = "") -> Path:
    return SCREENSHOTS / f"{docname.replace('/', '__')}{suffix}.png"


DOCNAMES = toc_docnames(ROOT / "_toc.yml")
ZH_DOCNAMES = toc_docnames(ROOT / "zh" / "_toc.yml")
# The accessibility checks (alt texts, axe-core, CJK glyphs) cover both editions: zh/<page> is the 中文版.
BOTH_EDITIONS = [*DOCNAMES, *("zh/" + d for d in ZH_DOCNAMES)]
#: the pages `make test` visits; `make test-all` visits every page (the others carry the `full` mark)
FAST_PAGES = {"book/intro", "book/experiments", "zh/book/intro", "zh/book/experiments", "search", "zh/search"}


def tiered(docnames, prefix: str = "") -> list:
    """``docnames`` as parameters, every page but ``FAST_PAGES`` marked ``full`` (the full tier)."""
    return [d if prefix + d in FAST_PAGES else pytest.param(d, marks=pytest.mark.full) for d in docnames]


# --------------------------------------------------------------------------- tests


def test_toc_lists_pages():
    assert DOCNAMES[0] == "book/intro" and len(DOCNAMES) == len(set(DOCNAMES)) >= 2, DOCNAMES


def test_site_root_redirects_and_has_favicon(browser_context, server):
    """``/`` lands on the first page, and browsers asking for ``/favicon.ico`` find it."""
    page = browser_context.new_page()
    rec = _Recorder(page)
    try:
        page.goto(server.base, wait_until="load")
        page.wait_for_url(re.compile(r"book/intro\.html$"))
        _wait_until_rendered(page)
        assert browser_context.request.get(server.base + "favicon.ico").status == 200
        assert not rec.console_errors, rec.console_errors
        assert not rec.failed, rec.failed
    finally:
        page.close()


_checked_links: dict[str, int] = {}


def _sidebar_problems(page, ctx, server, selector: str, docnames, prefix: str) -> list[str]:
    """What is wrong with the sidebar: no links, a local link that does not resolve, a TOC page (after the
    root, ``prefix`` + docname) it does not list."""
    hrefs = page.eval_on_selector_all(selector, "els => els.map(e => e.href)")
    local = [h for h in hrefs if urlparse(h).netloc == urlparse(server.base).netloc]
    problems = [] if hrefs else ["the sidebar has no links"]
    bad = {h: s for h in local if (s := _link_status(ctx, h)) != 200}
    if bad:
        problems.append(f"sidebar links that do not resolve: {bad}")
    targets = {urlparse(urldefrag(h)[0]).path.lstrip("/") for h in local}
    missing = [d for d in docnames[1:] if prefix + d + ".html" not in targets]
    if missing:
        problems.append(f"TOC pages missing from the sidebar: {missing}")
    return problems


def _link_status(ctx, url: str) -> int:
    """HTTP status of ``url`` (without fragment), and 404 when its fragment is not an id in the page."""
    if url in _checked_links:
        return _checked_links[url]
    base, frag = urldefrag(url)
    resp = ctx.request.get(base)
    status = resp.status
    if status == 200 and frag and f'id="{frag}"' not in resp.text():
        status = 404
    _checked_links[url] = status
    return status


@pytest.mark.parametrize("docname", tiered(DOCNAMES))
def test_page(browser_context, server, docname):
    """Every check on one page; all problems are reported together."""
    url = urljoin(server.base, docname + ".html")
    page = browser_context.new_page()
    rec = _Recorder(page)
    first_logged = len(server.log)
    problems: list[str] = []
    try:
        resp = page.goto(url, wait_until="load")
        assert resp is not None and resp.status == 200, f"{url}: HTTP {resp and resp.status}"
        _wait_until_rendered(page)
        page.wait_for_timeout(300)  # late console messages (theme, togglebutton) arrive after load
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(_shot_name(docname)), full_page=True)

        # 1. Console and network.
        if rec.console_errors:
            problems.append(f"console errors: {rec.console_errors}")
        if rec.failed:
            problems.append(f"failed requests: {rec.failed}")
        server_errors = [(p, c) for p, c in server.log[first_logged:] if c >= 400]
        if server_errors:
            problems.append(f"the server answered errors: {server_errors}")

        # 2. Math.
        state = page.evaluate(MATH_STATE_JS)
        if state["untypeset"]:
            problems.append(f"equations MathJax did not typeset: {state['untypeset']}")
        if state["errors"]:
            problems.append(f"MathJax errors: {state['errors']}")
        if state["undefined_macros"]:
            problems.append(f"undefined TeX macros: {state['undefined_macros']}")
        prose = page.evaluate(VISIBLE_PROSE_JS)
        prose = " ".join(prose.split())
        raw = sorted({prose[max(0, m.start() - 30): m.end() + 30] for m in RAW_MATH.finditer(prose)})
        if raw:
            problems.append(f"raw TeX left in the text: {raw}")

        # 3. Images.
        images = page.evaluate(IMAGES_JS)
        broken = [i["src"] for i in images if not i["complete"] or i["w"] == 0]
        if broken:
            problems.append(f"images that did not load: {broken}")

        # 4. Title and heading.
        title = page.title().strip()
        if not title or "<no title>" in title:
            problems.append(f"page title is {title!r}")
        if page.locator("main h1").count() < 1:
            problems.append("no <h1> in the article")

        # 5. Sidebar navigation: lists every TOC page, and each link resolves.
        problems += _sidebar_problems(page, browser_context, server,
                                      "nav.bd-docs-nav a[href], .bd-sidebar-primary .navbar-brand[href]", DOCNAMES, "")
    finally:
        page.close()
    assert not problems, f"{docname}:\n  " + "\n  ".join(problems)


def test_search_finds_temperature(browser_context, server):
    page = browser_context.new_page()
    rec = _Recorder(page)
    try:
        page.goto(urljoin(server.base, "search.html?q=temperature"), wait_until="load")
        results = page.locator("#search-results ul.search li a")
        results.first.wait_for(state="attached", timeout=NAV_TIMEOUT_MS)
        links = results.evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert any("book/temperature.html" in (h or "") for h in links), links
        page.screenshot(path=str(SCREENSHOTS / "search.png"), full_page=True)
        assert not rec.console_errors, rec.console_errors
        assert not rec.failed, rec.failed
    finally:
        page.close()


# A dropdown answer: sphinx-design's ``{dropdown}``, or sphinx-togglebutton's
# ``:class: dropdown`` admonition / ``{toggle}``.
DROPDOWN_SELECTOR = "details.sd-dropdown, .admonition.dropdown, .toggle-button"


def _open_first_dropdown(page) -> str:
    """Click the first dropdown on ``page``; return the text that became visible."""
    details = page.locator("details.sd-dropdown")
    if details.count():
        d = details.first
        assert d.evaluate("e => !e.open"), "the dropdown is open before any click"
        body = d.locator(".sd-summary-content")
        assert not body.is_visible()
        d.locator("summary").click()
        page.wait_for_function("e => e.open", arg=d.element_handle())
        body.wait_for(state="visible")
        return body.inner_text()
    admonition = page.locator(".admonition.dropdown")
    if admonition.count():
        a = admonition.first
        body = a.locator("> :not(.admonition-title)").first
        assert not body.is_visible(), "the dropdown's answer is visible before any click"
        a.locator(".toggle-button, .admonition-title").first.click()
        body.wait_for(state="visible")
        return a.inner_text()
    button = page.locator("button.toggle-button").first
    target = page.locator(f"#{button.get_attribute('data-target')}")
    assert not target.is_visible()
    button.click()
    target.wait_for(state="visible")
    return target.inner_text()


def test_dropdown_answer_opens(browser_context, server):
    page = browser_context.new_page()
    rec = _Recorder(page)
    try:
        page.goto(urljoin(server.base, "book/interview_questions.html"), wait_until="load")
        _wait_until_rendered(page)
        assert page.locator(DROPDOWN_SELECTOR).count() > 0, (
            "book/interview_questions has no dropdown answer (sphinx-design {dropdown} or togglebutton)"
        )
        text = _open_first_dropdown(page)
        assert text.strip(), "the dropdown opened but shows no answer"
        page.screenshot(path=str(SCREENSHOTS / "dropdown_open.png"), full_page=False)
        assert not rec.console_errors, rec.console_errors
    finally:
        page.close()


@pytest.mark.parametrize("docname", tiered(DOCNAMES))
def test_phone_width_has_no_horizontal_scroll(browser_context, server, docname):
    page = browser_context.new_page()
    try:
        page.set_viewport_size(PHONE)
        page.goto(urljoin(server.base, docname + ".html"), wait_until="load")
        _wait_until_rendered(page)
        widths = page.evaluate(
            "() => ({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth})"
        )
        page.screenshot(path=str(_shot_name(docname, "--phone")), full_page=False)
        assert widths["view"] == PHONE["width"], widths
        assert max(widths["doc"], widths["body"]) <= widths["view"], (
            f"{docname}: the page scrolls sideways at {PHONE['width']} px: {widths}"
        )
        assert page.evaluate("() => window.scrollX === 0 && (window.scrollTo(200, 0), window.scrollX) === 0"), (
            f"{docname}: the page can be scrolled horizontally at {PHONE['width']} px"
        )
    finally:
        page.close()


# --------------------------------------------------------------------------- accessibility

# An alt text that is empty or just names the file: what myst-nb writes for a figure without :alt:.
PATHLIKE_ALT = re.compile(r"(^|/)[^\s/]+\.(png|jpe?g|svg|gif|webp)$|^\.\./|_images/", re.I)

IMAGE_ALTS_JS = r"""
() => Array.from(document.images).map(i => ({src: i.getAttribute('src'), alt: i.getAttribute('alt'),
  hidden: i.getAttribute('aria-hidden') === 'true' || i.getAttribute('role') === 'presentation'}))
"""


def bad_alts(images: list[dict]) -> list[str]:
    """Images a screen reader cannot describe: alt missing, empty, or a file path."""
    return [f"{i['src']} (alt={i['alt']!r})" for i in images
            if not i["hidden"] and (not (i["alt"] or "").strip() or PATHLIKE_ALT.search(i["alt"].strip()))]


def test_alt_check_catches_paths_and_empty_alts():
    images = [{"src": "a.png", "alt": "../_images/3f2a.png", "hidden": False},
              {"src": "b.png", "alt": "", "hidden": False},
              {"src": "c.png", "alt": None, "hidden": False},
              {"src": "d.png", "alt": "Line chart of accuracy against epochs", "hidden": False}]
    assert [b.split(" ")[0] for b in bad_alts(images)] == ["a.png", "b.png", "c.png"]


@pytest.mark.parametrize("docname", tiered(BOTH_EDITIONS))
def test_every_image_has_a_meaningful_alt(browser_context, server, docname):
    page = browser_context.new_page()
    try:
        page.goto(urljoin(server.base, docname + ".html"), wait_until="load")
        bad = bad_alts(page.evaluate(IMAGE_ALTS_JS))
        assert not bad, f"{docname}: images without a meaningful alt text (add :alt: to the figure): {bad}"
    finally:
        page.close()


AXE_FAIL_IMPACTS = ("serious", "critical")


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("docname", tiered([*BOTH_EDITIONS, "search", "zh/search"]))
def test_axe_finds_no_serious_or_critical_violation(browser_context, server, docname, mode):
    """axe-core (bundled in axe-playwright-python, offline) on every page, after MathJax and fonts, in the
    theme's light and dark mode (the reader's system preference: the theme's default mode is ``auto``)."""
    from axe_playwright_python.sync_playwright import Axe

    page = browser_context.new_page()
    try:
        page.emulate_media(color_scheme=mode)
        page.goto(urljoin(server.base, docname + ".html"), wait_until="load")
        _wait_until_rendered(page)
        theme = page.evaluate("() => document.documentElement.dataset.theme")
        assert theme == mode, f"{docname}: the page is in {theme!r} mode, not {mode!r}"
        results = Axe().run(page)
        violations = results.response["violations"]
        bad = [f"{v['id']} ({v['impact']}): {v['help']} -- {[n['target'] for n in v['nodes']][:4]}"
               for v in violations if v["impact"] in AXE_FAIL_IMPACTS]
        assert not bad, (f"{docname} ({mode} mode): axe-core found {len(bad)} serious/critical violations:\n  "
                         + "\n  ".join(bad))
    finally:
        page.close()


CJK_PAGES = [d for d in DOCNAMES if re.search(r"[\u4e00-\u9fff]", (ROOT / f"{d}.md").read_text())]
CJK_PAGES += ["zh/" + d for d in ZH_DOCNAMES]  # every Chinese page, so its screenshots show real glyphs


@pytest.mark.parametrize("docname", tiered(CJK_PAGES))
def test_chinese_quotes_render_in_a_cjk_font(browser_context, server, docname):
    """Chromium's own account (CSS.getPlatformFontsForNode) of the fonts that drew each Chinese element."""
    page = browser_context.new_page()
    try:
        page.goto(urljoin(server.base, docname + ".html"), wait_until="load")
        _wait_until_rendered(page)
        n = page.evaluate(r"""() => {
          const els = new Set();
          const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
          for (let t = walker.nextNode(); t; t = walker.nextNode())
            if (/[\u4e00-\u9fff]/.test(t.textContent) && t.parentElement.offsetParent !== null
                && !t.parentElement.closest('svg')  // an icon's <title> is not drawn
                && !t.parentElement.closest('details:not([open])')  // nor a closed dropdown
                && getComputedStyle(t.parentElement).visibility === 'visible') els.add(t.parentElement);
          let i = 0; for (const e of els) e.setAttribute('data-kd-cjk', String(i++));
          return i;
        }""")
        assert n > 0, f"{docname}: no visible Chinese text found"
        cdp = browser_context.new_cdp_session(page)
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        problems = []
        for i in range(n):
            node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": f'[data-kd-cjk="{i}"]'})["nodeId"]
            text = page.evaluate(f"""() => Array.from(document.querySelector('[data-kd-cjk="{i}"]').childNodes)
                                        .filter(c => c.nodeType === 3).map(c => c.textContent).join('')""")
            han = len(re.findall(r"[\u4e00-\u9fff]", text))
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
            cjk = sum(f["glyphCount"] for f in fonts if "CJK" in f["familyName"])
            if han and cjk < han:
                problems.append(f"element {i}: {han} Han characters, {cjk} glyphs from a CJK font; fonts {fonts}")
        assert not problems, f"{docname}: Chinese text not drawn in a CJK font:\n  " + "\n  ".join(problems[:5])
    finally:
        page.close()


# --------------------------------------------------------------------------- 中文版 (the Chinese edition, zh/)

CJK_RE = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("docname", tiered(ZH_DOCNAMES, "zh/"))
def test_zh_page(browser_context, server, docname):
    """A Chinese page: console, network, MathJax, images, <html lang="zh-CN">, Chinese UI and text."""
    url = urljoin(server.base, "zh/" + docname + ".html")
    page = browser_context.new_page()
    rec = _Recorder(page)
    problems: list[str] = []
    try:
        resp = page.goto(url, wait_until="load")
        assert resp is not None and resp.status == 200, f"{url}: HTTP {resp and resp.status}"
        _wait_until_rendered(page)
        page.wait_for_timeout(300)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(_shot_name("zh__" + docname)), full_page=True)
        if rec.console_errors:
            problems.append(f"console errors: {rec.console_errors}")
        if rec.failed:
            problems.append(f"failed requests: {rec.failed}")
        state = page.evaluate(MATH_STATE_JS)
        if state["untypeset"] or state["errors"] or state["undefined_macros"]:
            problems.append(f"MathJax: {state}")
        broken = [i["src"] for i in page.evaluate(IMAGES_JS) if not i["complete"] or i["w"] == 0]
        if broken:
            problems.append(f"images that did not load: {broken}")
        lang = page.evaluate("() => document.documentElement.lang")
        if lang != "zh-CN":
            problems.append(f'<html lang="{lang}">, expected zh-CN')
        h1 = page.locator("main h1").first.inner_text()
        if not CJK_RE.search(h1):
            problems.append(f"the title is not Chinese: {h1!r}")
        # Sphinx's UI strings come from its zh_CN catalogue (language: zh_CN).
        placeholder = page.locator("input[name=q]").first.get_attribute("placeholder") or ""
        button = page.locator(".search-button__default-text").first.inner_text()
        if not (CJK_RE.search(placeholder) and CJK_RE.search(button)):
            problems.append(f"the search box is not in Chinese: {placeholder!r}, {button!r}")
        # The sidebar lists every page of the Chinese TOC and each link resolves.
        problems += _sidebar_problems(page, browser_context, server, "nav.bd-docs-nav a[href]", ZH_DOCNAMES, "zh/")
    finally:
        page.close()
    assert not problems, f"zh/{docname}:\n  " + "\n  ".join(problems)


def test_language_switch_round_trip(browser_context, server):
    """The header's switch opens the same page in the other edition, in the same tab, and back."""
    page = browser_context.new_page()
    rec = _Recorder(page)
    try:
        page.goto(urljoin(server.base, "book/temperature.html"), wait_until="load")
        assert page.evaluate("() => document.documentElement.lang") == "en"
        switch = page.locator("a.kd-language-switch").first
        assert switch.is_visible(), "no visible language switch in the header"
        assert "中文" in switch.inner_text()
        n_tabs = len(browser_context.pages)
        switch.click()
        page.wait_for_url(re.compile(r"/zh/book/temperature\.html$"))
        assert page.evaluate("() => document.documentElement.lang") == "zh-CN"
        assert len(browser_context.pages) == n_tabs, "the switch opened a new tab instead of replacing the page"
        page.screenshot(path=str(SCREENSHOTS / "zh_switch.png"), full_page=False)
        back = page.locator("a.kd-language-switch").first
        assert "English" in back.inner_text()
        back.click()
        page.wait_for_url(re.compile(r"/book/temperature\.html$"))
        assert "/zh/" not in page.url
        assert page.evaluate("() => document.documentElement.lang") == "en"
        assert not rec.console_errors, rec.console_errors
        assert not rec.failed, rec.failed
    finally:
        page.close()


def test_zh_search_finds_temperature(browser_context, server):
    """Chinese search (jieba-segmented index): 温度 finds the temperature chapter, 知识蒸馏 a page too."""
    page = browser_context.new_page()
    rec = _Recorder(page)
    try:
        for query, expected in (("温度", "book/temperature.html"), ("知识蒸馏", "book/intro.html")):
            page.goto(urljoin(server.base, f"zh/search.html?q={query}"), wait_until="load")
            results = page.locator("#search-results ul.search li a")
            results.first.wait_for(state="attached", timeout=NAV_TIMEOUT_MS)
            links = results.evaluate_all("els => els.map(e => e.getAttribute('href'))")
            assert any(expected in (h or "") for h in links), (query, links)
        page.screenshot(path=str(SCREENSHOTS / "zh_search.png"), full_page=True)
        assert not rec.console_errors, rec.console_errors
        assert not rec.failed, rec.failed
    finally:
        page.close()


@pytest.mark.parametrize("docname", tiered(ZH_DOCNAMES, "zh/"))
def test_zh_phone_width_has_no_horizontal_scroll(browser_context, server, docname):
    page = browser_context.new_page()
    try:
        page.set_viewport_size(PHONE)
        page.goto(urljoin(server.base, "zh/" + docname + ".html"), wait_until="load")
        _wait_until_rendered(page)
        widths = page.evaluate(
            "() => ({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth})"
        )
        page.screenshot(path=str(_shot_name("zh__" + docname, "--phone")), full_page=False)
        assert max(widths["doc"], widths["body"]) <= widths["view"], (
            f"zh/{docname}: the page scrolls sideways at {PHONE['width']} px: {widths}"
        )
    finally:
        page.close()
