"""The Chinese edition's glossary, kept as data (a local Sphinx extension).

``zh/glossary.yml`` fixes each term of the Chinese edition once: the English term,
the one Chinese rendering, a note, and the variants to avoid. This extension:

* adds the ``kd-glossary`` directive, which renders that file as the table of the
  术语表 page (``zh/book/glossary.md``), so the page and the data cannot drift;
* writes the Chinese terms into a jieba user dictionary and hands it to Sphinx's
  Chinese search (``html_search_options["dict"]``), so that 知识蒸馏, 软标签 or
  暗知识 are indexed as words and a search for them finds the pages.

Configuration: ``kd_glossary_path`` (relative to the book's folder). The same
file is read by ``tests/test_zh.py`` (terms used consistently across pages)
and, later, by the Chinese assignments and grader messages.
"""
from __future__ import annotations

from pathlib import Path

import yaml
from docutils import nodes
from docutils.parsers.rst import Directive

HEADERS = ("English", "中文", "说明", "避免")
REQUIRED = ("en", "zh", "note", "avoid")


def load_glossary(path: Path) -> list[dict]:
    """The entries of a glossary file; a clear error naming the entry when one is malformed."""
    entries = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of entries, got {type(entries).__name__}")
    for i, entry in enumerate(entries):
        missing = [k for k in REQUIRED if k not in entry]
        if missing:
            raise ValueError(f"{path}: entry {i} ({entry.get('en', '?')!r}) lacks {missing}")
    return entries


def _glossary_path(app) -> Path:
    return (Path(app.confdir) / app.config.kd_glossary_path).resolve()


class GlossaryDirective(Directive):
    """``kd-glossary``: the glossary file as a four-column table."""

    has_content = False

    def run(self):
        env = self.state.document.settings.env
        path = _glossary_path(env.app)
        env.note_dependency(str(path))
        entries = load_glossary(path)
        table = nodes.table(classes=["kd-glossary"])
        group = nodes.tgroup(cols=len(HEADERS))
        table += group
        for width in (22, 14, 48, 16):
            group += nodes.colspec(colwidth=width)

        def row(cells, header=False):
            r = nodes.row()
            for text, literal in cells:
                entry = nodes.entry()
                para = nodes.paragraph()
                para += nodes.literal(text=text) if literal and text else nodes.Text(text)
                entry += para
                r += entry
            return r

        head = nodes.thead()
        head += row([(h, False) for h in HEADERS])
        group += head
        body = nodes.tbody()
        for e in entries:
            zh = "、".join([e["zh"], *e.get("zh_also", [])])
            body += row([(e["en"], False), (zh, False), (e["note"], False), ("、".join(e["avoid"]), False)])
        group += body
        return [table]


def _jieba_dictionary(app, config) -> None:
    """Write the glossary's Chinese terms as a jieba user dictionary for the search index.

    Runs at ``config-inited``, before Sphinx compares the configuration with the
    previous build's, so the added search option does not force a full rebuild.
    """
    if not config.kd_glossary_path:
        return
    terms = set()
    for e in load_glossary((Path(app.confdir) / config.kd_glossary_path).resolve()):
        for term in [e["zh"], *e.get("zh_also", [])]:
            if any("\u4e00" <= ch <= "\u9fff" for ch in term) and " " not in term:
                terms.add(term)
    out = Path(app.outdir).parent / "jieba_userdict.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    # jieba's format: word [frequency] [part of speech]; a high count keeps the term whole.
    out.write_text("".join(f"{t} 100000 n\n" for t in sorted(terms)), encoding="utf-8")
    config.html_search_options = {**(config.html_search_options or {}), "dict": str(out)}


def setup(app):
    app.add_config_value("kd_glossary_path", "", "env", types=[str])
    app.add_directive("kd-glossary", GlossaryDirective)
    app.connect("config-inited", _jieba_dictionary)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
