"""Every verdict the English prose states about a measurement is glued or asserted at build time.

A *verdict sentence* is a prose sentence of ``book/<page>.md`` that contains one of the
words of ``VERDICT`` ("within the noise", "helps", "reliably", "best", ...). Each one must be
listed in ``tests/verdicts/<page>.yml`` with what guards it:

* ``glue:<key>``: the sentence shows a verdict computed by a code cell of the page
  (``glue("<key>", ...)`` or ``glue_summary("<key>", ...)``);
* ``claim:<id>``: a code cell of the page calls ``kd.book.claim("<id>", condition, measured)``,
  which fails the build when the measurement stops supporting the words;
* ``reading: <why>``: the sentence is not a verdict about this book's measurements
  (a definition, a paper's claim with its citation, advice); the reason is for the reviewer.

So a new unguarded verdict fails this test and is noticed in review, and a guard that
disappears from the page (a deleted glue or claim) fails it too. The Chinese pages follow the
English through the prose sync check (``make zh-check``) and share the code cells.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p.stem for p in (ROOT / "book").glob("*.md"))
REGISTRY = ROOT / "tests" / "verdicts"

VERDICT = re.compile(
    r"\b(within the noise|beyond the noise|inside the noise|above the noise|the noise|"
    r"significant(?:ly)?|reliabl[ey]|consistent(?:ly)?|help(?:s|ed)?|hurt(?:s)?|"
    r"little|no effect|no difference|ahead|behind|outperform\w*|beats?|"
    r"better|worse|best|worst|improves?|improved|clearly|robust(?:ly)?)\b",
    re.I,
)
CODE_CELL = re.compile(r"^(`{3,})\{code-cell\}[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
FENCE_LINE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})(.*)$")
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)


def code_cells(text: str) -> str:
    return "\n".join(m.group(2) for m in CODE_CELL.finditer(text))


def prose(text: str) -> str:
    """The page without front matter, code cells, plain code blocks, MyST comments and directive options.

    Fences are matched as a stack: a directive's closing fence (a line of backticks alone) closes
    the directive; it does not open a plain code block that would swallow the prose after it.
    Directive contents (admonitions, captions, dropdowns) are prose and stay.
    """
    text = FRONT_MATTER.sub("", text)
    text = CODE_CELL.sub("\n\n", text)
    out, stack = [], []  # stack of (fence, is_directive)
    for ln in text.splitlines():
        m = FENCE_LINE.match(ln)
        if m:
            fence, rest = m.group(1), m.group(2).strip()
            if stack and stack[-1][0] == fence and not rest:
                stack.pop()
            else:
                stack.append((fence, rest.startswith("{") or fence.startswith(":")))
            out.append("")
            continue
        if any(not directive for _, directive in stack):
            continue  # inside a plain code block (```bash, ```python, ```)
        if re.match(r"\s*(%|:[\w-]+:|\(.*\)=\s*$)", ln):
            continue
        out.append(ln)
    return "\n".join(out)


def sentences(text: str) -> list[str]:
    """Prose sentences, each on one line (a paragraph's line breaks joined)."""
    out = []
    for para in re.split(r"\n\s*\n", prose(text)):
        para = " ".join(ln.strip() for ln in para.splitlines() if ln.strip())
        out += [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z*({`\"'])", para) if s.strip()]
    return out


def verdict_sentences(page: str) -> list[str]:
    text = (ROOT / "book" / f"{page}.md").read_text(encoding="utf-8")
    return [s for s in sentences(text) if VERDICT.search(s)]


def registry(page: str) -> list[dict]:
    path = REGISTRY / f"{page}.yml"
    if not path.exists():
        return []
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    for e in entries:
        assert isinstance(e, dict) and set(e) == {"text", "guard"}, f"{path.name}: bad entry {e!r}"
    return entries


def guard_exists(guard: str, cells: str) -> bool:
    kind, _, name = guard.partition(":")
    name = name.strip()
    if kind == "glue":
        key = re.escape(name)
        return bool(re.search(rf"""glue\(\s*f?["']{key}["']""", cells)
                    or re.search(rf"""glue_summary\(\s*["']{re.sub(r'_(mean|std)$', '', name)}["']""", cells)
                    or re.search(rf"""["']{key}["']""", cells))  # a key built in a loop or table of keys
    if kind == "claim":
        return bool(re.search(rf"""claim\(\s*["']{re.escape(name)}["']""", cells))
    if kind == "reading":
        return len(name) >= 10  # a real reason, not a placeholder
    return False


@pytest.mark.parametrize("page", PAGES)
def test_every_verdict_sentence_is_registered(page):
    """Every prose sentence with a verdict word is listed in tests/verdicts/<page>.yml."""
    texts = [e["text"] for e in registry(page)]
    missing = [s for s in verdict_sentences(page) if not any(t in s for t in texts)]
    assert not missing, (f"book/{page}.md: {len(missing)} verdict sentence(s) not in tests/verdicts/{page}.yml "
                         "(add each with guard glue:<key>, claim:<id> or 'reading: <why>'):\n  "
                         + "\n  ".join(missing))


@pytest.mark.parametrize("page", PAGES)
def test_every_registered_verdict_is_on_the_page_and_guarded(page):
    """Each registry entry still names a sentence of the page, and its glue key or claim is in a code cell."""
    text = (ROOT / "book" / f"{page}.md").read_text(encoding="utf-8")
    flat = " ".join(sentences(text))
    cells = code_cells(text)
    problems = []
    for e in registry(page):
        if e["text"] not in flat:
            problems.append(f"text no longer on the page: {e['text']!r}")
        if not guard_exists(str(e["guard"]), cells):
            problems.append(f"guard {e['guard']!r} of {e['text']!r} is not in a code cell of the page")
    assert not problems, f"tests/verdicts/{page}.yml:\n  " + "\n  ".join(problems)


def test_a_claim_that_no_longer_holds_fails_naming_it():
    """kd.book.claim raises ClaimFailed naming the claim and the measurement."""
    import kdutils as kd

    kd.book.claim("ok", True, "1 > 0")
    with pytest.raises(kd.book.ClaimFailed, match=r"'full_labels_help'.*t = 1\.2"):
        kd.book.claim("full_labels_help", False, "t = 1.2 < critical 3.1")
    with pytest.raises(ValueError, match="claim_id"):
        kd.book.claim("", True, "x")


def test_the_verdict_scanner_can_fail(tmp_path, monkeypatch):
    """A page with an unregistered verdict sentence is reported (the check is not vacuous)."""
    s = sentences("---\na: 1\n---\n# T\n\nKD helps a lot here.\nIt is measured.\n\n```{code-cell} ipython3\nx = 1\n```\n")
    assert [x for x in s if VERDICT.search(x)] == ["KD helps a lot here."]


def test_prose_after_a_directive_is_scanned():
    """A directive's closing fence does not open a code block: the prose after it is still read."""
    page = ("---\na: 1\n---\n```{glue:figure} f\n:name: fig-x\n\nCaption.\n```\n\nKD helps here.\n\n"
            "```{warning}\nIt is worse.\n```\n\n```bash\nmake best\n```\n\nThe end.\n")
    assert [x for x in sentences(page) if VERDICT.search(x)] == ["KD helps here.", "It is worse."]
