"""The Chinese releases of the assignments (issue 17): ``solutions/<a>_zh/<a>_zh.ipynb`` made from the English source.

One source of truth: the English notebook ``solutions/<a>/<a>.ipynb`` keeps every code cell, grade id,
point and hidden test. ``solutions/zh/<a>.yml`` holds only text, keyed by nbgrader ``grade_id``:

* every markdown cell (instructions, hints, written questions and their model answers), whole;
* the first line (the one-line docstring) of every autograded test cell.

Each translation stores ``en_sha``, a hash of the English text it translates (with chapter links reduced to
their chapter name, so a new book URL does not count as an edit). ``make exercises`` refuses to write a
Chinese notebook while a cell has no translation, or a translation whose English text changed since
(:class:`StaleTranslation` names the cells and the new hashes). Everything else is copied from the
English notebook when it is generated, except that the locked first cell asks for Chinese diagnoses:
``kd.grading.prepare()`` becomes ``kd.grading.prepare(lang="zh")``. Chapter links point at the Chinese
edition (``<book url>zh/``). nbgrader then releases ``losses_zh`` and ``training_zh`` like the others.

Book chapter "For instructors" (Chinese edition: 教师指南).
"""
from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import replace
from pathlib import Path

import yaml

from .core import ASSIGNMENTS, ROOT
from .home import CHAPTER_LINK, Home, link_chapters

__all__ = ["LANG", "TRANSLATED", "StaleTranslation", "zh_name", "english_texts", "text_hash", "load",
           "problems", "zh_notebook", "write_sources", "translation_skeleton"]

LANG = "zh"
#: Chinese assignment -> the English assignment it is made from
TRANSLATED = {f"{a}_{LANG}": a for a in ASSIGNMENTS}
_PREPARE = re.compile(r"kd\.grading\.prepare\(\s*\)")
_DOCSTRING = re.compile(r'^"""[^\n]*"""$')


class StaleTranslation(ValueError):
    """A cell of the English source has no Chinese translation, or its English text changed since."""


def zh_name(assignment: str) -> str:
    """``losses`` -> ``losses_zh``."""
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"assignment must be one of {ASSIGNMENTS}, got assignment={assignment!r}")
    return f"{assignment}_{LANG}"


def _unlinked(text: str) -> str:
    return CHAPTER_LINK.sub(lambda m: f"]({m.group(1)}{m.group(2) or ''})", text)


def text_hash(text: str) -> str:
    """The hash stored beside a translation: its English text, chapter links reduced to the chapter name."""
    return hashlib.sha256(_unlinked(text).strip().encode("utf8")).hexdigest()[:16]


def _source(root: Path, assignment: str) -> nbformat.NotebookNode:
    import nbformat
    return nbformat.read(Path(root) / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)


def _is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade"))


def english_texts(nb: nbformat.NotebookNode) -> dict[str, str]:
    """``{grade_id: English text}`` of what is translated: markdown cells, and test cells' one-line docstrings."""
    out = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "markdown":
            if not gid:
                raise StaleTranslation(f"a markdown cell has no nbgrader grade_id to key its translation: {cell.source[:60]!r}")
            out[gid] = cell.source
        elif _is_test(cell):
            first = cell.source.split("\n", 1)[0]
            if not _DOCSTRING.match(first):
                raise StaleTranslation(f"test cell {gid} must start with a one-line docstring, got {first[:60]!r}")
            out[gid] = first
    return out


def _yml(root: Path, assignment: str) -> Path:
    return Path(root) / "solutions" / LANG / f"{assignment}.yml"


def load(root: Path, assignment: str) -> dict[str, dict]:
    """``{grade_id: {"en_sha": ..., "zh": ...}}`` from ``solutions/zh/<assignment>.yml``."""
    path = _yml(root, assignment)
    if not path.exists():
        raise StaleTranslation(f"no translation file {path}")
    data = yaml.safe_load(path.read_text(encoding="utf8")) or {}
    cells = data.get("cells")
    if not isinstance(cells, dict):
        raise StaleTranslation(f"{path}: expected a mapping 'cells: {{grade_id: {{en_sha, zh}}}}'")
    return cells


def problems(root: Path, assignment: str) -> list[str]:
    """What keeps ``assignment``'s Chinese notebook from being generated: missing, stale or unknown cells."""
    english = english_texts(_source(root, assignment))
    cells = load(root, assignment)
    out = []
    for gid, text in english.items():
        entry = cells.get(gid)
        if not isinstance(entry, dict) or not str(entry.get("zh") or "").strip():
            out.append(f"{gid}: no Chinese translation (en_sha: {text_hash(text)})")
        elif entry.get("en_sha") != text_hash(text):
            out.append(f"{gid}: stale, the English text changed (en_sha {entry.get('en_sha')} -> {text_hash(text)})")
    out += [f"{gid}: translates no cell of solutions/{assignment}" for gid in cells if gid not in english]
    return out


def zh_notebook(root: Path, assignment: str, home: Home) -> nbformat.NotebookNode:
    """The Chinese source notebook of ``assignment``: the English one with its text translated."""
    wrong = problems(root, assignment)
    if wrong:
        raise StaleTranslation(f"solutions/{LANG}/{assignment}.yml is not up to date with "
                               f"solutions/{assignment}/{assignment}.ipynb:\n  " + "\n  ".join(wrong))
    nb = copy.deepcopy(_source(root, assignment))
    cells = load(root, assignment)
    zh_home = replace(home, book_url=f"{home.book_url}{LANG}/")
    prepared = 0
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "markdown":
            cell.source = link_chapters(cells[gid]["zh"].strip("\n"), zh_home)
        elif _is_test(cell):
            doc = cells[gid]["zh"].strip()
            if not _DOCSTRING.match(doc):
                raise StaleTranslation(f"{gid}: the translation must be a one-line docstring, got {doc[:60]!r}")
            cell.source = doc + cell.source[len(cell.source.split("\n", 1)[0]):]
        elif cell.cell_type == "code" and _PREPARE.search(cell.source):
            cell.source, n = _PREPARE.subn(f'kd.grading.prepare(lang="{LANG}")', cell.source)
            prepared += n
    if prepared != 1:
        raise StaleTranslation(f"solutions/{assignment}: expected one `kd.grading.prepare()` call to make "
                               f"Chinese, found {prepared}")
    nb.metadata["kdutils"] = {"language": LANG, "translated_from": f"solutions/{assignment}/{assignment}.ipynb",
                              "generated_by": "make exercises (kdutils/course/translate.py); edit solutions/zh/"}
    return nb


def write_sources(root: Path, home: Home, assignments=ASSIGNMENTS) -> tuple[str, ...]:
    """Write ``solutions/<a>_zh/<a>_zh.ipynb`` for every assignment with a translation file; return their names."""
    import nbformat
    written = []
    for a in assignments:
        if a not in ASSIGNMENTS or not _yml(root, a).exists():
            continue
        name = zh_name(a)
        path = Path(root) / "solutions" / name / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nb = zh_notebook(root, a, home)
        if not path.exists() or nbformat.writes(nb) != path.read_text(encoding="utf8"):
            nbformat.write(nb, path)
        for extra in sorted((Path(root) / "solutions" / a).iterdir()):  # e.g. nbgrader_config.py, released too
            dest = path.parent / extra.name
            if extra.is_file() and extra.suffix != ".ipynb" and (not dest.exists() or dest.read_bytes() != extra.read_bytes()):
                dest.write_bytes(extra.read_bytes())
        written.append(name)
    return tuple(written)


def translation_skeleton(root: Path = ROOT, assignment: str = "losses") -> str:
    """A YAML skeleton of every cell to translate, with its current hash and the English text (for translators)."""
    english = english_texts(_source(root, assignment))
    current = load(root, assignment) if _yml(root, assignment).exists() else {}
    data = {"cells": {gid: {"en_sha": text_hash(t), "zh": (current.get(gid) or {}).get("zh") or t}
                      for gid, t in english.items()}}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)


def add_parser(sub) -> None:
    p = sub.add_parser("translate-status", help="list the Chinese translations that are missing or stale")
    p.add_argument("--skeleton", choices=ASSIGNMENTS, default=None,
                   help="print a YAML skeleton of ASSIGNMENT's cells with their current hashes")


def run(args) -> int:
    from .core import require_checkout

    require_checkout("translate-status")
    if args.skeleton:
        print(translation_skeleton(ROOT, args.skeleton))
        return 0
    bad = 0
    for a in ASSIGNMENTS:
        wrong = problems(ROOT, a)
        bad += len(wrong)
        print(f"solutions/{LANG}/{a}.yml: " + ("up to date" if not wrong else f"{len(wrong)} to fix"))
        for w in wrong:
            print(f"  {w}")
    return 1 if bad else 0
