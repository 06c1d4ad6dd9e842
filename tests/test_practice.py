"""Interview practice (``book/practice.md``, ``book/_static/_ext/kd_practice.py``, ``kd-practice.js``).

* **One source.** The cards are read from the rendered *Interview questions* chapter: the
  extractor on small HTML (labels, sections, links, errors named), a small Sphinx project built
  twice (a question edited in the chapter is a changed card after the next build, and the
  practice page then loads the new data, not a cached copy), and the real book (as many cards as
  questions in each edition, glued numbers as in the chapter).
* **The page in a browser** (Debian's chromium through Playwright, as ``tests/test_browser.py``;
  a fresh browser context per test, so each starts with empty local storage): reveal, rate, the
  schedule under a faked clock ("again" comes back before "good"), persistence across a reload,
  the filters, the progress export/import round trip and a bad file, the Anki export, the keys,
  a phone viewport, axe-core in the light and the dark theme, and the Chinese page's own words.
"""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path
from urllib.parse import urljoin

import pytest

from test_browser import (  # tests/test_browser.py: the same browser, server and page checks
    CHROMIUM_ARGS, DESKTOP, PHONE, SCREENSHOTS, _Recorder, _Server, _wait_until_rendered, chromium_path,
)

ROOT = Path(__file__).resolve().parents[1]
EXT = ROOT / "book" / "_static" / "_ext"
sys.path.insert(0, str(EXT))
import kd_practice  # noqa: E402

EDITIONS = {"en": ROOT, "zh": ROOT / "zh"}
ARTICLE_Q = re.compile(r"^### (\d+)\. ", re.M)
BANK_Q = re.compile(r"^:{3,}\{dropdown\} Q(\d+)\. ", re.M)
DIRECTIVE = re.compile(r"^```\{kd-practice\}\n(.*?)^```$", re.M | re.S)
CJK = re.compile(r"[\u3400-\u9fff]")


def source_questions(edition: str) -> list[str]:
    """The question numbers of ``interview_questions.md`` of an edition, read from its source."""
    text = (EDITIONS[edition] / "book" / "interview_questions.md").read_text(encoding="utf-8")
    return [f"Q{n}" for n in ARTICLE_Q.findall(text) + BANK_Q.findall(text)]


def directive_block(edition: str) -> str:
    text = (EDITIONS[edition] / "book" / "practice.md").read_text(encoding="utf-8")
    m = DIRECTIVE.search(text)
    assert m, f"{edition}: book/practice.md has no kd-practice directive"
    return m.group(0)


def directive_strings(edition: str) -> dict:
    import yaml

    body = "\n".join(ln for ln in directive_block(edition).splitlines()[1:-1] if not ln.startswith(":"))
    return yaml.safe_load(body)


# --------------------------------------------------------------------------- the extractor

SMALL = """
<article class="bd-article"><section id="iq"><h1>Interview questions</h1>
<section id="part-1"><h2>Part 1: the article's five questions</h2>
<section id="what-is-kd"><h3>1. What is <em>KD</em>?<a class="headerlink" href="#what-is-kd">#</a></h3>
<blockquote><p>原文</p></blockquote><p id="x1">Answer one, see <a href="#iq-b">Q7</a>.</p></section>
</section>
<section id="part-2"><h2>Part 2: question bank</h2>
<section id="temp"><h3>Temperature</h3>
<details class="sd-dropdown"><summary><span class="sd-summary-text">Q6. Why <span class="math">\\(T\\)</span>?</span></summary>
<div class="sd-summary-content"><p>Because <span class="pasted-text">0.1234</span>.</p></div></details>
<details class="sd-dropdown" id="iq-b"><summary><span class="sd-summary-text">Q7. What is B?</span></summary>
<div class="sd-summary-content"><figure id="fig-b"><img src="../_images/b.png" alt="a curve">
<figcaption><p><span class="caption-number">Figure 1 </span><span class="caption-text">A curve.</span></p></figcaption>
</figure><p>See <a href="references.html#id2">[1]</a>.</p></div></details>
</section>
<section id="newer"><h3>Newer methods: LMs</h3>
<details class="sd-dropdown"><summary><span class="sd-summary-text">Q8. What is GKD?</span></summary>
<div class="sd-summary-content"><p>On-policy.</p></div></details>
</section></section></section></article>
"""


def test_extractor_reads_questions_sections_labels_and_links():
    data = kd_practice.build_data(SMALL, page="iq.html", page_url="https://example.org/book/iq.html",
                                  edition="en", newer="Newer methods")
    cards = {c["id"]: c for c in data["cards"]}
    assert list(cards) == ["Q1", "Q6", "Q7", "Q8"]
    assert [s["title"] for s in data["sections"]] == [
        "Part 1: the article's five questions", "Temperature", "Newer methods: LMs"]
    assert data["newer"] == 2 and [c["id"] for c in data["cards"] if c["section"] == 2] == ["Q8"]
    q1 = cards["Q1"]
    assert q1["article"] and q1["question"] == "What is <em>KD</em>?" and q1["anchor"] == "what-is-kd"
    assert 'href="iq.html#iq-b"' in q1["answer"] and "原文" in q1["answer"]
    assert "id=" not in q1["answer"] and "headerlink" not in q1["answer"]
    assert cards["Q6"]["question"].startswith("Why <span class=\"math\">") and cards["Q6"]["anchor"] == "temp"
    assert '<span class="pasted-text">0.1234</span>' in cards["Q6"]["answer"]
    q7 = cards["Q7"]
    assert q7["anchor"] == "iq-b" and '<img alt="a curve" src="../_images/b.png"/>' in q7["answer"]
    # Anki cannot show the site's images: the figure becomes a link to its anchor, links are absolute.
    assert "<img" not in q7["anki"]
    assert '<a href="https://example.org/book/iq.html#fig-b">Figure 1 A curve.</a>' in q7["anki"]
    assert 'href="https://example.org/book/references.html#id2"' in q7["anki"]
    script = kd_practice.data_script(data)
    assert kd_practice.read_data_script(script) == json.loads(json.dumps(data))


@pytest.mark.parametrize("html, message", [
    (SMALL.replace("Q7. What is B?", "What is B?"), "does not start with 'Q<n>. '"),
    (SMALL.replace("Q8. What is GKD?", "Q7. What is GKD?"), "question numbers used twice: ['Q7']"),
    ("<article class='bd-article'><p>nothing</p></article>", "no question found"),
], ids=["untitled", "duplicate", "empty"])
def test_extractor_names_a_malformed_chapter(html, message):
    with pytest.raises(kd_practice.PracticeError, match=re.escape(message)):
        kd_practice.extract_cards(html)


def test_newer_section_must_match_exactly_one_section():
    with pytest.raises(kd_practice.PracticeError, match="matches 0 sections"):
        kd_practice.build_data(SMALL, page="iq.html", page_url="u", edition="en", newer="Newest")


# --------------------------------------------------------------------------- the pages' sources


def test_both_editions_have_the_same_questions_and_the_page():
    en, zh = source_questions("en"), source_questions("zh")
    assert en == zh and len(en) == len(set(en)) and len(en) >= 40, (en, zh)
    for edition, base in EDITIONS.items():
        toc = (base / "_toc.yml").read_text(encoding="utf-8")
        assert "file: book/practice" in toc, f"{edition}: practice page missing from the TOC"


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_string_of_the_page_is_given(edition):
    strings = directive_strings(edition)
    assert set(strings) == set(kd_practice.STRINGS), set(strings) ^ set(kd_practice.STRINGS)


def test_the_chinese_page_speaks_chinese():
    """Each string the Chinese page shows has Chinese in it (a few are formats of numbers only)."""
    strings = directive_strings("zh")
    formats_only = {k for k, v in strings.items() if not re.search(r"[A-Za-z]{2,}", re.sub(r"\{\w+\}", "", v))}
    english = {k: v for k, v in strings.items() if k not in formats_only and not CJK.search(v)}
    assert not english, f"strings of zh/book/practice.md not in Chinese: {english}"
    assert directive_strings("en")["reveal"] != strings["reveal"]


# --------------------------------------------------------------------------- one source: a small book


SMALL_CHAPTER = """# Interview questions

## Part 1: the article's five questions

### 1. What is A?

The answer to one.

## Part 2: question bank

### Temperature

:::{dropdown} Q6. Why divide by $T$?
Because of $T^2$.
:::

(iq-b)=
:::{dropdown} Q7. What is B?
B is the answer.
:::

### Newer methods: sequences

:::{dropdown} Q8. What is GKD?
On-policy distillation.
:::
"""


def _sphinx(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "-q", str(src), str(out)],
                          capture_output=True, text=True, cwd=src)


def test_an_edited_question_changes_its_card_after_the_next_build(tmp_path):
    """A small Sphinx project with the book's extension and the English page's directive, built twice."""
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "book").mkdir(parents=True)
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(EXT)!r})\n"
        "extensions = ['myst_parser', 'sphinx_design', 'kd_practice']\n"
        "myst_enable_extensions = ['colon_fence', 'dollarmath']\n"
        "html_baseurl = 'https://example.org/kd/'\n"
        "exclude_patterns = ['_build']\n")
    (src / "index.md").write_text("# Home\n\n```{toctree}\nbook/interview_questions\nbook/practice\n```\n")
    chapter = src / "book" / "interview_questions.md"
    chapter.write_text(SMALL_CHAPTER)
    (src / "book" / "practice.md").write_text("# Practice\n\n" + directive_block("en") + "\n")

    def cards():
        data = kd_practice.read_data_script((out / "_static" / kd_practice.DATA_FILE).read_text(encoding="utf-8"))
        page = (out / "book" / "practice.html").read_text(encoding="utf-8")
        version = re.search(r"kd-practice-cards\.js\?v=([0-9a-f]+)", page).group(1)
        crc = f"{zlib.crc32((out / '_static' / kd_practice.DATA_FILE).read_bytes()):08x}"
        assert version == crc, "the practice page links a stale copy of the cards (browsers would cache it)"
        return {c["id"]: c for c in data["cards"]}, data

    proc = _sphinx(src, out)
    assert proc.returncode == 0, proc.stderr
    first, data = cards()
    assert list(first) == ["Q1", "Q6", "Q7", "Q8"] and data["newer"] == 2
    assert first["Q7"]["question"] == "What is B?" and first["Q7"]["anchor"] == "iq-b"
    assert data["page_url"] == "https://example.org/kd/book/interview_questions.html"
    assert '<span class="math notranslate nohighlight">\\(T\\)</span>' in first["Q6"]["question"]
    page = (out / "book" / "practice.html").read_text(encoding="utf-8")
    assert "mathjax" in page.lower(), "the practice page does not load MathJax for the cards' formulas"

    chapter.write_text(SMALL_CHAPTER.replace("What is B?", "What is B, really?")
                       .replace("B is the answer.", "B is the edited answer."))
    proc = _sphinx(src, out)
    assert proc.returncode == 0, proc.stderr
    second, _ = cards()
    assert second["Q7"]["question"] == "What is B, really?"
    assert "B is the edited answer." in second["Q7"]["answer"]
    assert {k: v for k, v in second.items() if k != "Q7"} == {k: v for k, v in first.items() if k != "Q7"}


def test_a_missing_or_unknown_string_is_named():
    body = "\n".join(ln for ln in directive_block("en").splitlines()[1:-1] if not ln.startswith(":"))
    assert kd_practice.parse_strings(body)["reveal"] == "Show the answer"
    with pytest.raises(ValueError, match=re.escape("strings missing ['reveal'], unknown []")):
        kd_practice.parse_strings(body.replace('reveal: "Show the answer"\n', ""))
    with pytest.raises(ValueError, match=re.escape("unknown ['revael']")):
        kd_practice.parse_strings(body.replace('reveal:', "revael:"))
    with pytest.raises(ValueError, match=re.escape("not text: ['again']")):
        kd_practice.parse_strings(body.replace('again: "Again"', "again: 1"))
    with pytest.raises(ValueError, match="must be a mapping"):
        kd_practice.parse_strings("- a list")


# --------------------------------------------------------------------------- the built book

def _built_data(html: Path, edition: str) -> dict:
    base = html if edition == "en" else html / "zh"
    return kd_practice.read_data_script((base / "_static" / kd_practice.DATA_FILE).read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("edition", EDITIONS)
def test_one_card_per_question_of_the_chapter(built_book, edition):
    base = built_book if edition == "en" else built_book / "zh"
    data = _built_data(built_book, edition)
    ids = [c["id"] for c in data["cards"]]
    assert ids == source_questions(edition), "the cards are not the chapter's questions, in order"
    chapter = (base / "book" / "interview_questions.html").read_text(encoding="utf-8")
    n_dropdowns = chapter.count('<details class="sd-sphinx-override sd-dropdown')
    assert len(ids) == n_dropdowns + sum(c["article"] for c in data["cards"])
    assert [c["id"] for c in data["cards"] if c["article"]] == ["Q1", "Q2", "Q3", "Q4", "Q5"]
    assert data["newer"] is not None and data["sections"][data["newer"]]["title"].startswith(
        "Newer methods" if edition == "en" else "较新的方法")
    # Glued numbers appear as in the chapter: every pasted value of the chapter is in some card.
    pasted = re.findall(r'<span class="pasted-text">([^<]*)</span>', chapter)
    in_cards = re.findall(r'<span class="pasted-text">([^<]*)</span>', "".join(c["answer"] + c["question"]
                                                                              for c in data["cards"]))
    assert pasted and sorted(pasted) == sorted(in_cards)
    assert not any("{glue" in c["answer"] for c in data["cards"])
    page = (base / "book" / "practice.html").read_text(encoding="utf-8")
    crc = f"{zlib.crc32((base / '_static' / kd_practice.DATA_FILE).read_bytes()):08x}"
    assert f"kd-practice-cards.js?v={crc}" in page


# --------------------------------------------------------------------------- in the browser

QUEUE_JS = "() => document.getElementById('kd-practice').dataset.card"


@pytest.fixture(scope="module")
def site(built_book):
    with _Server(built_book) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser):
    """A fresh context per test: empty local storage, like a first visit."""
    ctx = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    ctx.set_default_timeout(30_000)
    try:
        yield ctx
    finally:
        ctx.close()


class Practice:
    """The practice page of one edition, driven like a reader would."""

    def __init__(self, ctx, site, edition="en", color_scheme="light", clock=None):
        self.page = ctx.new_page()
        self.rec = _Recorder(self.page)
        self.url = urljoin(site.base, ("zh/" if edition == "zh" else "") + "book/practice.html")
        if clock is not None:
            self.page.clock.install(time=clock)
        self.page.emulate_media(color_scheme=color_scheme)
        self.open()

    def open(self):
        self.page.goto(self.url, wait_until="load")
        self.settle()

    def reload(self):
        self.page.reload(wait_until="load")
        self.settle()

    def settle(self):
        """Wait for the page (MathJax, images, fonts), the script, and the typesetting of the card."""
        _wait_until_rendered(self.page)
        for what, js in (("the script to start", "dataset.ready === 'true'"),
                         ("MathJax to typeset the card", "dataset.typeset !== 'pending'")):
            try:
                self.page.wait_for_function(f"() => document.getElementById('kd-practice').{js}")
            except Exception as exc:  # playwright's TimeoutError
                raise AssertionError(f"{self.url}: waited in vain for {what}") from exc

    @property
    def card(self) -> str:
        return self.page.evaluate(QUEUE_JS)

    def due_text(self) -> str:
        return self.page.locator("#kd-practice-due").inner_text()

    def reveal(self):
        self.page.locator("#kd-practice-reveal").click()
        self.settle()

    def rate(self, rating: str):
        self.page.locator(f"#kd-practice-rate [data-rating={rating}]").click()
        self.settle()

    def filter(self, value: str):
        self.page.select_option("#kd-practice-filter", value)
        self.settle()

    def progress(self) -> dict:
        return self.page.evaluate("() => JSON.parse(localStorage.getItem('kd-book-practice') || '{}')")

    def cycle(self) -> list[str]:
        """The cards of the current set, by pressing → until the first comes back."""
        first, seen = self.card, [self.card]
        for _ in range(60):
            self.page.keyboard.press("ArrowRight")
            self.settle()
            if self.card == first:
                return seen
            seen.append(self.card)
        raise AssertionError(f"→ never came back to {first}: {seen}")

    def no_errors(self):
        assert not self.rec.console_errors, self.rec.console_errors
        assert not self.rec.failed, self.rec.failed


@pytest.mark.slow
def test_reveal_and_rate(context, site, built_book):
    p = Practice(context, site)
    data = _built_data(built_book, "en")
    assert p.card == "Q1"
    n = len(data["cards"])
    assert p.due_text() == f"{n} due now ({n} not seen yet), {n} in this set"
    answer = p.page.locator("#kd-practice-answer")
    assert answer.get_attribute("aria-live") == "polite" and answer.inner_text().strip() == ""
    assert p.page.locator("#kd-practice-rate").is_hidden()
    p.reveal()
    assert "knowledge distillation" in answer.inner_text().lower()
    assert p.page.locator("#kd-practice-reveal").is_hidden() and p.page.locator("#kd-practice-rate").is_visible()
    when = p.page.locator("#kd-practice-rate [data-when]").all_inner_texts()
    assert when == ["10 min", "12 h", "1 d"], when
    p.rate("good")
    assert p.card == "Q2" and p.progress()["cards"]["Q1"]["box"] == 1
    assert p.page.locator("#kd-practice-rate").is_hidden() and answer.inner_text().strip() == ""
    # A card with math and a glued figure: typeset, and its image loads.
    p.filter("newer")
    while p.card != "Q43":
        p.page.keyboard.press("ArrowRight")
        p.settle()
    p.reveal()
    state = p.page.evaluate("""() => ({math: document.querySelectorAll('#kd-practice .math').length,
        untypeset: Array.from(document.querySelectorAll('#kd-practice .math')).filter(e => !e.querySelector('mjx-container')).length,
        imgs: Array.from(document.querySelectorAll('#kd-practice-answer img')).map(i => i.complete && i.naturalWidth > 0)})""")
    assert state["math"] > 0 and state["untypeset"] == 0 and state["imgs"] == [True], state
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    p.page.screenshot(path=str(SCREENSHOTS / "practice_q43.png"), full_page=False)
    p.no_errors()


@pytest.mark.slow
def test_again_comes_back_before_good_on_a_faked_clock(context, site):
    import datetime as dt

    t0 = dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.timezone.utc)
    p = Practice(context, site, clock=t0)
    p.filter("article")
    assert p.card == "Q1" and p.due_text().startswith("5 due now")
    p.reveal(); p.rate("again")
    for q in ("Q2", "Q3", "Q4", "Q5"):
        assert p.card == q
        p.reveal(); p.rate("good")
    # Nothing due: Q1 comes back after 10 minutes, the others after a day.
    assert p.card == "" and p.page.locator("#kd-practice-done").is_visible()
    assert "10 min" in p.page.locator("#kd-practice-done-text").inner_text()
    assert p.due_text().startswith("0 due now")
    p.page.clock.fast_forward("09:00")
    p.settle()
    assert p.card == "", "a question came back before it was due"
    p.page.clock.fast_forward("02:00")  # 11 minutes after the rating: the page brings Q1 back by itself
    try:
        p.page.wait_for_function(QUEUE_JS + " === 'Q1'", polling=100, timeout=60_000)
    except Exception as exc:  # playwright's TimeoutError: say what the page shows instead
        raise AssertionError(f"Q1 did not come back 11 minutes after 'again': card {p.card!r}, "
                             f"{p.page.locator('#kd-practice-done-text').inner_text()!r}") from exc
    p.settle()
    assert p.due_text().startswith("1 due now")
    # Two days later all five are due; the one rated "again" (due first) comes first.
    p.page.clock.fast_forward(2 * 24 * 3600 * 1000)
    p.reload()
    assert p.card == "Q1" and p.due_text().startswith("5 due now")
    p.reveal(); p.rate("good")
    assert p.card == "Q2"
    assert p.progress()["cards"]["Q1"] == {"box": 2, "due": p.progress()["cards"]["Q1"]["due"],
                                          "reviews": 2, "lapses": 1, "last": "good"}
    p.no_errors()


@pytest.mark.slow
def test_progress_survives_a_reload(context, site):
    p = Practice(context, site)
    p.reveal(); p.rate("good")
    p.reveal(); p.rate("again")
    p.filter("wrong")
    p.reload()
    assert p.page.locator("#kd-practice-filter").input_value() == "wrong", "the filter was not kept"
    assert p.card == "" and p.page.locator("#kd-practice-done").is_visible()  # Q2 is not due for 10 min
    p.filter("all")
    assert p.card == "Q3" and p.due_text().startswith("46 due now")
    saved = p.progress()["cards"]
    assert saved["Q1"]["last"] == "good" and saved["Q2"]["last"] == "again" and len(saved) == 2
    p.no_errors()


@pytest.mark.slow
def test_filters(context, site, built_book):
    data = _built_data(built_book, "en")
    p = Practice(context, site)
    options = p.page.locator("#kd-practice-filter option").evaluate_all("os => os.map(o => [o.value, o.textContent])")
    values = [v for v, _ in options]
    assert values[:4] == ["all", "article", "newer", "wrong"]
    sections = [v for v in values if v.startswith("section:")]
    assert len(sections) == len(data["sections"]) - 2  # less Part 1 (= article) and the newer methods
    p.filter("article")
    assert p.cycle() == ["Q1", "Q2", "Q3", "Q4", "Q5"]
    p.filter("newer")
    newer = [c["id"] for c in data["cards"] if c["section"] == data["newer"]]
    assert p.cycle() == newer and "Q48" in newer
    for value in sections[:2]:
        p.filter(value)
        i = int(value.split(":")[1])
        assert p.cycle() == [c["id"] for c in data["cards"] if c["section"] == i]
    p.filter("wrong")
    assert p.card == "" and "last rating was Again" in p.page.locator("#kd-practice-done-text").inner_text()
    p.filter("newer")
    first = p.card
    p.reveal(); p.rate("again")
    p.filter("wrong")
    assert p.due_text().startswith("0 due now") and "1 in this set" in p.due_text()
    p.page.locator("#kd-practice-keep-going").click()
    p.settle()
    assert p.cycle() == [first]
    p.no_errors()


@pytest.mark.slow
def test_export_import_round_trip_and_a_bad_file(context, site, tmp_path):
    p = Practice(context, site)
    for rating in ("good", "hard", "again"):
        p.reveal(); p.rate(rating)
    before = p.progress()["cards"]
    with p.page.expect_download() as dl:
        p.page.locator("#kd-practice-export").click()
    exported = tmp_path / dl.value.suggested_filename
    dl.value.save_as(exported)
    doc = json.loads(exported.read_text())
    assert doc["format"] == "kd-book-practice-progress" and doc["cards"] == before
    # Reset asks first, then forgets.
    p.page.locator("#kd-practice-reset").click()
    p.page.locator("#kd-practice-reset-no").click()
    assert p.progress()["cards"] == before
    p.page.locator("#kd-practice-reset").click()
    p.page.locator("#kd-practice-reset-yes").click()
    p.settle()
    assert p.progress()["cards"] == {} and p.card == "Q1" and p.due_text().startswith("48 due now")
    # Import restores exactly what was exported.
    p.page.set_input_files("#kd-practice-import-file", str(exported))
    p.page.wait_for_function("() => document.getElementById('kd-practice-status').textContent.startsWith('Imported')")
    assert p.progress()["cards"] == before and p.card == "Q4"
    # A bad file is refused, naming the file and what is wrong; the progress is unchanged.
    for name, content, reason in (("notes.json", "{not json", "not a JSON file"),
                                  ("other.json", '{"cards": {}}', "not a progress file"),
                                  ("bad.json", json.dumps({**doc, "cards": {"Q999": before["Q1"]}}), "Q999"),
                                  ("box.json", json.dumps({**doc, "cards": {"Q1": {**before["Q1"], "box": 9}}}), "Q1")):
        (tmp_path / name).write_text(content)
        p.page.set_input_files("#kd-practice-import-file", str(tmp_path / name))
        p.page.wait_for_function(f"() => document.getElementById('kd-practice-status').textContent.startsWith('{name}')")
        msg = p.page.locator("#kd-practice-status").inner_text()
        assert "was not imported" in msg and reason in msg, msg
        assert p.progress()["cards"] == before
    p.no_errors()


@pytest.mark.slow
@pytest.mark.parametrize("edition", EDITIONS)
def test_anki_export(context, site, built_book, tmp_path, edition):
    data = _built_data(built_book, edition)
    p = Practice(context, site, edition)
    with p.page.expect_download() as dl:
        p.page.locator("#kd-practice-anki").click()
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    assert path.name == f"kd-book-anki-{edition}.tsv"
    text = path.read_text(encoding="utf-8")
    header = [ln for ln in text.splitlines() if ln.startswith("#")]
    assert header == ["#separator:tab", "#html:true", "#columns:Question\tAnswer\tSection\tTags", "#tags column:4"]
    rows = list(csv.reader(io.StringIO("\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))),
                           delimiter="\t"))
    assert len(rows) == len(data["cards"]) and all(len(r) == 4 for r in rows)
    by_id = {re.match(r"(Q\d+)\. ", r[0]).group(1): r for r in rows}
    assert list(by_id) == [c["id"] for c in data["cards"]]
    for c in data["cards"]:
        q, a, section, tags = by_id[c["id"]]
        assert section == data["sections"][c["section"]]["title"]
        assert {"kd-book", f"kd-book::{c['id']}"} <= set(tags.split())
        assert ("kd-book::article" in tags.split()) == c["article"]
        assert "<img" not in a and 'href="../' not in a and 'href="references.html' not in a
    q43 = by_id["Q43"][1]
    assert f'{data["page_url"]}#fig-forward-reverse-kl' in q43 and data["page_url"].startswith("https://")
    assert "kd-book::newer" in by_id["Q48"][3].split()
    p.no_errors()


@pytest.mark.slow
def test_keyboard_first(context, site):
    p = Practice(context, site)
    kb = p.page.keyboard
    kb.press("1")  # rating keys do nothing before the answer is shown
    assert p.card == "Q1" and p.progress() == {}
    kb.press(" ")
    p.settle()
    assert p.page.evaluate("() => document.getElementById('kd-practice').dataset.revealed") == "true"
    assert p.page.evaluate("() => window.scrollY") < 2000
    kb.press("3")
    p.settle()
    assert p.card == "Q2" and p.progress()["cards"]["Q1"]["last"] == "good"
    kb.press(" "); p.settle(); kb.press("2"); p.settle()
    assert p.progress()["cards"]["Q2"]["last"] == "hard"
    kb.press(" "); p.settle(); kb.press("1"); p.settle()
    assert p.progress()["cards"]["Q3"]["last"] == "again" and p.card == "Q4"
    kb.press("ArrowRight"); p.settle()
    assert p.card == "Q5"
    kb.press("ArrowLeft"); p.settle()
    assert p.card == "Q4"
    kb.press(" "); p.settle()
    # Keys typed into the filter belong to the filter: "3" does not rate.
    p.page.focus("#kd-practice-filter")
    kb.press("3")
    assert "Q4" not in p.progress()["cards"] and p.card == "Q4"
    # Shift+Tab from "Previous" reaches the last rating button, with a visible focus ring ...
    p.page.focus("#kd-practice-prev")
    kb.press("Shift+Tab")
    focus = p.page.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
        return {rating: e.dataset.rating, visible: e.matches(':focus-visible'), style: s.outlineStyle,
                width: parseFloat(s.outlineWidth)}; }""")
    assert focus["rating"] == "good" and focus["visible"], focus
    assert focus["style"] != "none" and focus["width"] >= 2, focus
    # ... and Space presses it, as on any button.
    kb.press(" ")
    p.settle()
    assert p.progress()["cards"]["Q4"]["last"] == "good" and p.card == "Q5"
    # Space on the focused "Show the answer" shows the answer (once) and moves the focus to it.
    p.page.focus("#kd-practice-reveal")
    kb.press(" ")
    p.settle()
    assert p.page.evaluate("() => document.activeElement.id") == "kd-practice-answer"
    for i, rating in enumerate(("again", "hard", "good")):
        btn = p.page.locator(f"#kd-practice-rate [data-rating={rating}]")
        assert f"{i + 1}" in btn.locator("kbd").inner_text()
    p.no_errors()


@pytest.mark.slow
@pytest.mark.parametrize("edition", EDITIONS)
def test_phone_viewport(browser, site, edition):
    ctx = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    try:
        p = Practice(ctx, site, edition)
        p.page.locator("#kd-practice-reveal").tap()
        p.settle()
        widths = p.page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]")
        assert max(widths[:2]) <= widths[2] == PHONE["width"], widths
        boxes = [p.page.locator(f"#kd-practice-rate [data-rating={r}]").bounding_box() for r in ("again", "hard", "good")]
        for b in boxes:  # on screen (the bar sticks to the bottom), side by side, big enough to tap
            assert 0 <= b["x"] and b["x"] + b["width"] <= PHONE["width"] and b["height"] >= 44, boxes
            assert 0 <= b["y"] and b["y"] + b["height"] <= PHONE["height"], boxes
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        p.page.screenshot(path=str(SCREENSHOTS / f"practice_{edition}--phone.png"), full_page=False)
        p.page.locator("#kd-practice-rate [data-rating=good]").tap()
        p.settle()
        assert p.card == "Q2"
        p.no_errors()
    finally:
        ctx.close()


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("edition", EDITIONS)
def test_axe_light_and_dark(context, site, edition, scheme):
    """No violation at all in the practice widget (question, answer, ratings, tools); none serious on the page."""
    from axe_playwright_python.sync_playwright import Axe

    p = Practice(context, site, edition, color_scheme=scheme)
    assert p.page.evaluate("() => document.documentElement.dataset.theme") == scheme
    p.no_errors()  # before axe, whose reading of the theme's stylesheets asks the server for /basic.css
    axe = Axe()
    problems = []
    for state in ("question", "answer", "done"):
        if state == "answer":
            p.reveal()
        if state == "done":
            p.filter("wrong")
        widget = axe.run(p.page, context="#kd-practice").response["violations"]
        problems += [f"{state}: {v['id']} ({v['impact']}): {v['help']} {[n['target'] for n in v['nodes']][:3]}"
                     for v in widget]
        page = axe.run(p.page).response["violations"]
        problems += [f"{state} (page): {v['id']} ({v['impact']}): {v['help']}"
                     for v in page if v["impact"] in ("serious", "critical")]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    p.page.screenshot(path=str(SCREENSHOTS / f"practice_{edition}_{scheme}.png"), full_page=False)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_the_chinese_page_is_chinese_throughout(context, site):
    p = Practice(context, site, "zh")
    assert p.page.evaluate("() => document.documentElement.lang") == "zh-CN"
    p.reveal()
    texts = p.page.evaluate("""() => {
      const out = [];
      document.querySelectorAll('#kd-practice button, #kd-practice label, #kd-practice option, #kd-practice caption,'
        + ' #kd-practice th, #kd-practice-due, .kd-practice-keys, #kd-practice-chapter').forEach(e => {
          if (e.offsetParent !== null || e.tagName === 'OPTION') out.push(e.textContent.trim()); });
      document.querySelectorAll('#kd-practice optgroup, #kd-practice [aria-label]').forEach(e =>
          out.push(e.getAttribute('label') || e.getAttribute('aria-label')));
      out.push(document.getElementById('kd-practice-meta').textContent.replace(/^Q\\d+ · /, ''));
      return out; }""")
    english = [t for t in texts if t and not CJK.search(t)]
    assert not english, f"controls of the Chinese practice page without Chinese: {english}"
    assert p.page.locator("#kd-practice-question").inner_text() == "什么是知识蒸馏？"
    p.no_errors()


@pytest.mark.slow
def test_works_offline_from_the_built_files(context, built_book):
    """Opened from disk (file://, no server): the cards load, the keys work, nothing is fetched from elsewhere."""
    page = context.new_page()
    rec = _Recorder(page)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto((built_book / "book" / "practice.html").as_uri(), wait_until="load")
    _wait_until_rendered(page)
    page.wait_for_function("() => document.getElementById('kd-practice').dataset.typeset === 'done'")
    assert page.evaluate(QUEUE_JS) == "Q1"
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('kd-practice').dataset.typeset === 'done'")
    assert "knowledge distillation" in page.locator("#kd-practice-answer").inner_text().lower()
    page.keyboard.press("3")
    assert page.evaluate(QUEUE_JS) == "Q2"
    elsewhere = [u for u in requested if not u.startswith(("file://", "data:", "blob:"))]
    assert not elsewhere, f"the practice page fetched from outside the built site: {elsewhere}"
    assert any(u.endswith("kd-practice-cards.js") or "kd-practice-cards.js?" in u for u in requested)
    assert not rec.console_errors, rec.console_errors
    assert not rec.failed, rec.failed
