"""Interview practice: the question bank as spaced-repetition cards (a local Sphinx extension).

*Interview questions* (``book/interview_questions.md``) is the one source of the cards. After
its HTML is rendered, this extension reads every question from it, with the numbers glued in
and the figures as the chapter shows them, and writes them into the site as a data file,
``_static/kd-practice-cards.js``; the practice page (``book/practice.md``) shows them one at a
time with ``kd-practice.js``. A question edited in the chapter is a changed card after the
next build, and no card exists without its question.

What is a card:

* **the source article's five questions**: each ``###`` section of the chapter whose heading
  starts with its number (``### 1. What is ...``): the heading is the question (Q1 to Q5), the
  rest of the section is the answer;
* **every dropdown of the question bank** (sphinx-design ``{dropdown}``) titled ``Q<n>. ...``:
  the title is the question, the dropdown's body the answer; its section is the ``###``
  heading above it, its anchor the dropdown's label when it has one (``(iq-why-t2)=``), else
  its section's.

In an answer, links to the chapter's own anchors point into the chapter, element ids are
dropped (one card is shown at a time, inside another page), and for the Anki export (which
cannot show the site's images) links are made absolute and a figure becomes a link to its
anchor in the chapter.

The practice page holds the ``kd-practice`` directive. Its body is a YAML mapping of every
string the page shows (the buttons, the help, the messages), so each edition's page carries
its own language; its option ``:newer:`` names the question bank's section of newer methods
(the start of its heading), which the page offers as a filter. The directive renders the
page's controls and the table of the schedule (``SCHEDULE``: Leitner boxes).

Tested by ``tests/test_practice.py``.
"""
from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path

import yaml
from docutils import nodes
from docutils.parsers.rst import Directive, directives
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

DATA_FILE = "kd-practice-cards.js"
DATA_GLOBAL = "KD_PRACTICE_CARDS"
STATIC = Path(__file__).parent / "kd_practice_static"

# Leitner boxes: a question rated "good" moves up a box and comes back after that box's wait;
# "hard" keeps it in its box and brings it back after half the wait; "again" puts it in box 1
# and brings it back after AGAIN_MINUTES, in the same sitting.
SCHEDULE = {"box_days": [1, 3, 7, 14, 30], "again_minutes": 10, "hard_factor": 0.5}

# Every string the practice page shows; the directive's body must give each one.
STRINGS = (
    "filter_label", "filter_all", "filter_article", "filter_wrong", "filter_newer", "filter_sections",
    "due", "meta", "box", "new", "reveal", "answer_label", "rate_label", "again", "hard", "good",
    "minutes", "hours", "days", "prev", "next", "open_chapter", "done", "done_empty", "keep_going",
    "tools_label", "export_progress", "import_progress", "reset", "reset_confirm", "reset_yes",
    "reset_no", "reset_done", "export_anki", "imported", "import_error", "import_not_json",
    "import_not_progress", "import_unknown", "import_bad_entry", "storage_error",
    "keys", "key_space", "noscript", "print_note", "schedule_caption", "schedule_box", "schedule_wait", "no_data",
)

ARTICLE_HEADING = re.compile(r"^\s*(\d+)\.\s+")
BANK_TITLE = re.compile(r"^\s*Q(\d+)\.\s*")


class PracticeError(ValueError):
    """The chapter's structure does not give well-formed cards."""


# --------------------------------------------------------------------------- reading the chapter


def _text(el) -> str:
    return " ".join(el.get_text(" ").split())


def _heading(section):
    return section.find(re.compile(r"^h[1-6]$"), recursive=False)


def _strip_prefix(el, pattern: re.Pattern) -> None:
    """Remove the number (``1. `` or ``Q6. ``) from the first text of ``el``."""
    from bs4 import NavigableString

    for node in el.descendants:
        if isinstance(node, NavigableString) and str(node).strip():
            node.replace_with(pattern.sub("", str(node), count=1))
            return


def _clean(el, page: str) -> None:
    """Ids dropped, heading permalinks removed, in-page links pointed at the chapter."""
    for a in el.select("a.headerlink"):
        a.decompose()
    for tag in [el, *el.find_all(True)]:
        tag.attrs.pop("id", None)
        href = tag.get("href")
        if tag.name == "a" and href and href.startswith("#"):
            tag["href"] = page + href


def _inner(el) -> str:
    return "".join(str(c) for c in el.contents).strip()


def extract_cards(body_html: str, page: str = "interview_questions.html") -> dict:
    """The cards of the interview-questions chapter, read from its rendered HTML.

    ``page`` is the chapter's file name as linked from the practice page (same folder).
    Returns ``{"sections": [{"title", "anchor", "article"}], "cards": [{"id", "number",
    "question", "answer", "section", "anchor", "article"}]}``, cards in the chapter's order.
    Raises ``PracticeError`` naming the problem when a question is malformed or duplicated.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body_html, "html.parser")
    root = soup.select_one("article.bd-article") or soup
    sections: list[dict] = []
    cards: list[dict] = []
    section_index: dict[int, int] = {}

    def section_of(el) -> int:
        sec = el.find_parent("section")
        while sec is not None and not (_heading(sec) and _heading(sec).name == "h3"):
            sec = sec.find_parent("section")
        if sec is None:
            raise PracticeError(f"question {_text(el)[:60]!r} is not under a ### section of the chapter")
        key = id(sec)
        if key not in section_index:
            head = copy.copy(_heading(sec))
            _clean(head, page)
            section_index[key] = len(sections)
            sections.append({"title": _text(head), "anchor": sec.get("id", ""), "article": False})
        return section_index[key]

    # The source article's five questions: ### sections whose heading starts with "<n>. ".
    for sec in root.find_all("section"):
        head = _heading(sec)
        if head is None or head.name != "h3" or not ARTICLE_HEADING.match(_text(head)):
            continue
        number = int(ARTICLE_HEADING.match(_text(head)).group(1))
        parent = sec.find_parent("section")
        key = id(parent)
        if key not in section_index:
            ph = copy.copy(_heading(parent))
            _clean(ph, page)
            section_index[key] = len(sections)
            sections.append({"title": _text(ph), "anchor": parent.get("id", ""), "article": True})
        body = copy.copy(sec)
        _clean(body, page)
        question = body.find(re.compile(r"^h3$"))
        question.extract()
        _strip_prefix(question, ARTICLE_HEADING)
        cards.append({"id": f"Q{number}", "number": number, "question": _inner(question),
                      "answer": _inner(body), "section": section_index[key],
                      "anchor": sec.get("id", ""), "article": True})

    # The question bank: every sphinx-design dropdown titled "Q<n>. ...".
    for det in root.select("details.sd-dropdown"):
        title = det.select_one("summary .sd-summary-text")
        content = det.select_one(".sd-summary-content")
        if title is None or content is None:
            raise PracticeError(f"a dropdown without a title or a body: {_text(det)[:80]!r}")
        m = BANK_TITLE.match(_text(title))
        if not m:
            raise PracticeError(f"a dropdown whose title does not start with 'Q<n>. ': {_text(title)[:80]!r}")
        sec = section_of(det)
        q = copy.copy(title)
        _clean(q, page)
        _strip_prefix(q, BANK_TITLE)
        a = copy.copy(content)
        _clean(a, page)
        cards.append({"id": f"Q{m.group(1)}", "number": int(m.group(1)), "question": _inner(q),
                      "answer": _inner(a), "section": sec,
                      "anchor": det.get("id") or sections[sec]["anchor"], "article": False})

    if not cards:
        raise PracticeError("no question found (no '### <n>. ' section and no 'Q<n>. ' dropdown)")
    seen: dict[str, int] = {}
    for c in cards:
        seen[c["id"]] = seen.get(c["id"], 0) + 1
        if not c["question"] or not c["answer"]:
            raise PracticeError(f"{c['id']} has an empty question or answer")
    dup = sorted(k for k, n in seen.items() if n > 1)
    if dup:
        raise PracticeError(f"question numbers used twice: {dup}")
    cards.sort(key=lambda c: c["number"])
    return {"sections": sections, "cards": cards}


def anki_html(answer: str, page_url: str) -> str:
    """An answer for Anki: links absolute (``page_url`` is the chapter's address), figures as links."""
    from bs4 import BeautifulSoup
    from urllib.parse import urljoin

    soup = BeautifulSoup(answer, "html.parser")
    for fig in soup.find_all("figure"):
        cap = fig.select_one(".caption-text")
        number = fig.select_one(".caption-number")
        label = _text(number) if number else ""
        anchor = fig.get("data-kd-anchor", "")
        link = soup.new_tag("a", href=page_url + (f"#{anchor}" if anchor else ""))
        link.string = (label + " " if label else "") + (_text(cap) if cap else "")
        p = soup.new_tag("p")
        p.append(link)
        fig.replace_with(p)
    for img in soup.find_all("img"):
        img.replace_with(img.get("alt", ""))
    for tag in soup.find_all(href=True):
        tag["href"] = urljoin(page_url, tag["href"])
    return str(soup)


# --------------------------------------------------------------------------- writing the data file


def build_data(body_html: str, *, page: str, page_url: str, edition: str, newer: str) -> dict:
    """The practice data of one edition: cards, sections, the schedule and the edition."""
    from bs4 import BeautifulSoup

    # Keep each figure's anchor (an id, dropped from the cards) for the Anki export's link.
    soup = BeautifulSoup(body_html, "html.parser")
    for fig in soup.find_all("figure"):
        if fig.get("id"):
            fig["data-kd-anchor"] = fig["id"]
    data = extract_cards(str(soup), page)
    newer_sections = [i for i, s in enumerate(data["sections"]) if newer and s["title"].startswith(newer)]
    if newer and len(newer_sections) != 1:
        raise PracticeError(f"kd-practice :newer: {newer!r} matches {len(newer_sections)} sections of the "
                            f"chapter, not one: {[s['title'] for s in data['sections']]}")
    for c in data["cards"]:
        c["anki"] = anki_html(c["answer"], page_url)
        c["answer"] = re.sub(r'\s*data-kd-anchor="[^"]*"', "", c["answer"])
    return {"edition": edition, "page": page, "page_url": page_url, "schedule": SCHEDULE,
            "newer": newer_sections[0] if newer_sections else None, **data}


def data_script(data: dict) -> str:
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return f"// Generated by kd_practice.py from {data['page']}; do not edit.\nwindow.{DATA_GLOBAL} = {payload};\n"


def read_data_script(text: str) -> dict:
    """The data of a written ``kd-practice-cards.js`` (for tests and tools)."""
    start = text.index("=", text.index(f"window.{DATA_GLOBAL}")) + 1
    return json.loads(text[start:].strip().rstrip(";"))


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- the directive


class practice_node(nodes.General, nodes.Element):
    """The practice page's controls; rendered as HTML only."""


def _visit_practice_html(self, node):
    # The single-page build that ``make pdf`` prints gets the page's note and the schedule only.
    self.body.append(node["html"] if self.builder.name == "html" else node["static_html"])
    raise nodes.SkipNode


def _skip(self, node):
    raise nodes.SkipNode


def _fmt_days(days: float, s: dict) -> str:
    if days < 1:
        return s["hours"].format(n=f"{days * 24:g}")
    return s["days"].format(n=f"{days:g}")


def render_controls(strings: dict) -> tuple[str, str]:
    """The HTML of the practice page's controls (the script fills in the cards), and what a
    single-page (printed) build shows instead: a note and the table of the schedule."""
    e = {k: html.escape(str(v)) for k, v in strings.items()}
    d = SCHEDULE["box_days"]
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{html.escape(_fmt_days(days, strings))}</td></tr>" for i, days in enumerate(d))
    again_row = html.escape(strings["minutes"].format(n=SCHEDULE["again_minutes"]))
    attrs = html.escape(json.dumps(strings, ensure_ascii=False), quote=True)

    def rate(name, key):
        return (f'<button type="button" class="kd-practice-btn kd-rate-{name}" data-rating="{name}">'
                f'<span class="kd-rate-name">{e[name]}</span> <kbd>{key}</kbd>'
                f'<span class="kd-rate-when" data-when="{name}"></span></button>')

    controls = f"""
<div id="kd-practice" class="kd-practice" data-strings="{attrs}">
<noscript><p class="kd-practice-noscript">{e['noscript']}</p></noscript>
<div class="kd-practice-bar">
<label for="kd-practice-filter">{e['filter_label']}</label>
<select id="kd-practice-filter" class="kd-practice-filter"></select>
<p id="kd-practice-due" class="kd-practice-due"></p>
</div>
<section id="kd-practice-card" class="kd-practice-card" aria-labelledby="kd-practice-question" hidden>
<p id="kd-practice-meta" class="kd-practice-meta"></p>
<h2 id="kd-practice-question" class="kd-practice-question" tabindex="-1"></h2>
<button type="button" id="kd-practice-reveal" class="kd-practice-btn kd-practice-reveal">{e['reveal']} <kbd>{e['key_space']}</kbd></button>
<div id="kd-practice-answer" class="kd-practice-answer" role="region" aria-label="{e['answer_label']}" aria-live="polite" tabindex="-1"></div>
<div id="kd-practice-rate" class="kd-practice-rate" role="group" aria-label="{e['rate_label']}" hidden>
{rate('again', '1')}{rate('hard', '2')}{rate('good', '3')}
</div>
<div class="kd-practice-nav">
<button type="button" id="kd-practice-prev" class="kd-practice-btn"><kbd>←</kbd> {e['prev']}</button>
<button type="button" id="kd-practice-next" class="kd-practice-btn">{e['next']} <kbd>→</kbd></button>
<a id="kd-practice-chapter" class="kd-practice-chapter" href="#">{e['open_chapter']}</a>
</div>
</section>
<div id="kd-practice-done" class="kd-practice-done" hidden>
<p id="kd-practice-done-text"></p>
<button type="button" id="kd-practice-keep-going" class="kd-practice-btn">{e['keep_going']}</button>
</div>
<p class="kd-practice-keys">{e['keys']}</p>
<div class="kd-practice-tools" role="group" aria-label="{e['tools_label']}">
<button type="button" id="kd-practice-export" class="kd-practice-btn">{e['export_progress']}</button>
<button type="button" id="kd-practice-import" class="kd-practice-btn">{e['import_progress']}</button>
<input type="file" id="kd-practice-import-file" accept="application/json,.json" hidden>
<button type="button" id="kd-practice-anki" class="kd-practice-btn">{e['export_anki']}</button>
<button type="button" id="kd-practice-reset" class="kd-practice-btn">{e['reset']}</button>
<span id="kd-practice-reset-confirm" class="kd-practice-confirm" hidden>{e['reset_confirm']}
<button type="button" id="kd-practice-reset-yes" class="kd-practice-btn">{e['reset_yes']}</button>
<button type="button" id="kd-practice-reset-no" class="kd-practice-btn">{e['reset_no']}</button></span>
<p id="kd-practice-status" class="kd-practice-status" role="status" aria-live="polite"></p>
</div>
{{schedule}}
</div>
"""
    schedule = f"""<table class="table kd-practice-schedule">
<caption>{e['schedule_caption']}</caption>
<thead><tr><th scope="col">{e['schedule_box']}</th><th scope="col">{e['schedule_wait']}</th></tr></thead>
<tbody><tr><td>{e['again']}</td><td>{again_row}</td></tr>{rows}</tbody>
</table>"""
    return controls.replace("{schedule}", schedule), f"<p>{e['print_note']}</p>\n{schedule}\n"


def parse_strings(text: str) -> dict:
    """The directive's body: a YAML mapping that gives every key of ``STRINGS`` a string."""
    try:
        strings = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"the body is not YAML: {exc}") from None
    if not isinstance(strings, dict):
        raise ValueError(f"the body must be a mapping of strings, got {type(strings).__name__}")
    missing = [k for k in STRINGS if k not in strings]
    unknown = sorted(set(strings) - set(STRINGS))
    if missing or unknown:
        raise ValueError(f"strings missing {missing}, unknown {unknown}")
    bad = sorted(k for k, v in strings.items() if not isinstance(v, str) or not v.strip())
    if bad:
        raise ValueError(f"strings that are not text: {bad}")
    return strings


class PracticeDirective(Directive):
    """``kd-practice``: the practice page's controls; the body is the YAML mapping of its strings."""

    has_content = True
    option_spec = {"newer": directives.unchanged_required}

    def run(self):
        env = self.state.document.settings.env
        try:
            strings = parse_strings("\n".join(self.content))
        except ValueError as exc:
            raise self.error(f"kd-practice: {exc}") from None
        live, printed = render_controls(strings)
        node = practice_node(html=live, static_html=printed)
        env.metadata[env.docname]["kd_practice_newer"] = self.options.get("newer", "")
        return [node]


# --------------------------------------------------------------------------- wiring


def _has_practice(app, docname: str) -> bool:
    return "kd_practice_newer" in app.env.metadata.get(docname, {})


def _practice_pages(app) -> list[str]:
    return sorted(d for d in app.env.found_docs if _has_practice(app, d))


def _mark_math(app, doctree) -> None:
    """The cards carry math: load MathJax on the practice page although its source has none."""
    if any(doctree.findall(practice_node)):
        app.env.get_domain("math").data["has_equations"][app.env.docname] = True


def _outdated(app, env, added, changed, removed):
    """The practice page is read and written again when the chapter changes (its data file's
    checksum), and when its script, its style or this extension changed (Sphinx copies static
    files only when it writes a page, and knows nothing of an extension's code)."""
    pages = [d for d in env.found_docs if "kd_practice_newer" in env.metadata.get(d, {})]
    if app.config.kd_practice_source in added | changed:
        return pages
    newest = max(p.stat().st_mtime for p in [Path(__file__), *STATIC.iterdir()])
    out = Path(app.outdir)
    return [d for d in pages
            if not (out / f"{d}.html").exists() or (out / f"{d}.html").stat().st_mtime < newest]


def _write_data(app, body: str) -> None:
    pages = _practice_pages(app)
    if not pages:
        return
    source = app.config.kd_practice_source
    page = app.builder.get_target_uri(source)
    # The practice page sits in the chapter's folder; links are relative to it.
    if any(Path(p).parent != Path(source).parent for p in pages):
        raise ExtensionError(f"kd_practice: the practice page {pages} must be in the folder of {source}")
    page_url = (app.config.html_baseurl or "") + page
    try:
        data = build_data(body, page=Path(page).name, page_url=page_url,
                          edition=(app.config.language or "en").split("_")[0],
                          newer=app.env.metadata[pages[0]]["kd_practice_newer"])
    except PracticeError as exc:
        raise ExtensionError(f"kd_practice: {source}: {exc}") from None
    _write_if_changed(Path(app.outdir) / "_static" / DATA_FILE, data_script(data))


def _page_context(app, pagename, templatename, context, doctree) -> None:
    if app.builder.name != "html":
        return
    if pagename == app.config.kd_practice_source and "body" in context:
        _write_data(app, context["body"])
    if _has_practice(app, pagename):
        app.add_css_file("kd-practice.css")
        app.add_js_file(DATA_FILE, defer="defer")
        app.add_js_file("kd-practice.js", defer="defer")


def _finished(app, exc) -> None:
    """Always from the chapter as written (also when this build did not write it again)."""
    if exc is not None or app.builder.name != "html" or not _practice_pages(app):
        return
    written = Path(app.outdir) / app.builder.get_target_uri(app.config.kd_practice_source)
    if not written.exists():
        raise ExtensionError(f"kd_practice: {written} was not written; the practice page needs it")
    _write_data(app, written.read_text(encoding="utf-8"))


def _add_static(app) -> None:
    if app.builder.format == "html":
        app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.add_config_value("kd_practice_source", "book/interview_questions", "env", types=[str])
    app.add_node(practice_node, html=(_visit_practice_html, None), latex=(_skip, None),
                 text=(_skip, None), man=(_skip, None), texinfo=(_skip, None))
    app.add_directive("kd-practice", PracticeDirective)
    app.connect("builder-inited", _add_static)
    app.connect("doctree-read", _mark_math)
    app.connect("env-get-outdated", _outdated)
    # After kd_reader's rewrite of citation roles (default priority), so the cards match the page.
    app.connect("html-page-context", _page_context, priority=900)
    app.connect("build-finished", _finished)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":  # python kd_practice.py <interview_questions.html>: the cards as JSON
    import sys

    text = Path(sys.argv[1]).read_text(encoding="utf-8")
    print(json.dumps(extract_cards(text), ensure_ascii=False, indent=1))
