"""Readers' notebooks: the ``.ipynb`` a reader downloads from a page is a plain Jupyter notebook.

The page's own notebook (myst-nb's) is MyST: its Markdown carries ``{glue:text}`` roles, ``{cite}``,
``{doc}``, ``{note}`` and ``{glue:figure}`` directives, which Jupyter shows as raw text, and its
figures exist only as hidden glue records (``display=False``; ``kd.plotting`` closes each
figure). As QuantEcon ships converted notebooks, this extension writes, for every page that is a
notebook, a reader's notebook in place of the one sphinx-book-theme offers for download
(``_sources/<page>.ipynb``, the download button's ``.ipynb``), built from the executed notebook
in the jupyter-cache:

* **glued values as text**: ``{glue:text}`key:.3f``` becomes ``0.758``, ``{glue:}`` and
  ``{glue:md}`` their text or Markdown (myst-nb's own formatting, ``format_plain_text``);
* **figures in their cells**: a ``{glue:figure}`` becomes a code cell ``display(GLUED["key"])``
  with the figure as its output, then its caption; the page's ``from myst_nb import glue``
  becomes a two-line ``glue`` that keeps each value in ``GLUED``, so the notebook run afresh in
  any kernel shows the same figures where the page shows them, without myst-nb;
* **plain Markdown**: admonitions become block quotes with their title in bold, dropdowns
  ``<details>``, ``{cite}`` author-year text (the cited works listed at the end), ``{doc}``,
  ``{ref}``, ``{numref}``, ``{eq}`` and ``{download}`` links to the book's site, ``{math}``
  ``$...$``, ``literalinclude`` the file as a code block, substitutions their values; MyST targets
  ``(label)=`` and comments are dropped. Anything else of MyST is an error (the build fails), so
  no raw role reaches a reader (``tests/test_reader_notebooks.py``).

Hidden glue records of scalars are dropped from the outputs (their values are in the text).
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

ADMONITION_TITLES = {
    "en": {"note": "Note", "warning": "Warning", "tip": "Tip", "important": "Important", "seealso": "See also",
           "caution": "Caution", "attention": "Attention", "hint": "Hint", "danger": "Danger", "error": "Error"},
    "zh": {"note": "备注", "warning": "警告", "tip": "小技巧", "important": "重要", "seealso": "参见",
           "caution": "小心", "attention": "注意", "hint": "提示", "danger": "危险", "error": "错误"},
}
WORDS = {
    "en": {"figure": "Figure", "references": "References",
           "intro": ("This is the reader's notebook of the page [{title}]({url}) of *{book}*: run it from the top "
                     "(it needs `kdutils`, see the book's README). The numbers in its text are the ones computed "
                     "when the book was built; the figures are drawn again by the cells."),
           "glue": "# The book pastes glue()d values into its text; here they are kept in GLUED (figures are shown below)"},
    "zh": {"figure": "图", "references": "参考文献",
           "intro": ("这是《{book}》中[{title}]({url})一页的读者 notebook：请从头依次运行（需要 `kdutils`，见本书的 "
                     "README）。正文里的数字是构建本书时算出的；图由代码单元格重新绘制。"),
           "glue": "# 本书把 glue() 的值填进正文；这里把它们存入 GLUED（图在下文显示）"},
}
GLUE_IMPORT = re.compile(r"^from myst_nb import glue\s*$", re.M)
DISPLAYED = re.compile(r'^display\(GLUED\["(?P<key>[^"]+)"\]\)$')


def _after_their_glue(cells: list) -> list:
    """Move each added ``display(GLUED[key])`` cell (and the caption after a figure) below the code cell that
    glues ``key`` when that cell comes later in the page: the web page may show a value before the cell that
    computes it, but a notebook run afresh executes in order."""
    def glues(cell, key: str) -> bool:
        return (cell.cell_type == "code" and "reader-display" not in cell.metadata.get("tags", [])
                and re.search(rf"""glue\(\s*["']{re.escape(key)}["']""", cell.source) is not None)

    out = list(cells)
    i = 0
    while i < len(out):
        cell = out[i]
        m = DISPLAYED.match(cell.source) if cell.cell_type == "code" else None
        if m and "reader-display" in cell.metadata.get("tags", []) and not any(glues(c, m["key"]) for c in out[:i]):
            later = next((j for j in range(i + 1, len(out)) if glues(out[j], m["key"])), None)
            if later is not None:
                n = 2 if "reader-figure" in cell.metadata.get("tags", []) and i + 1 < len(out) \
                    and out[i + 1].cell_type == "markdown" else 1
                moved, out[i:i + n] = out[i:i + n], []
                later -= n
                out[later + 1:later + 1] = moved
                continue  # the cell now at i has not been looked at
        i += 1
    return out
# another import that binds glue (``from kdutils.book import glue, welch``): the reader's glue follows it
OTHER_GLUE_IMPORT = re.compile(r"^(from\s+(?!myst_nb\b)[\w.]+\s+import\s+[^\n]*\bglue\b[^\n]*)$", re.M)
# A role, or an inline code span (kept as it is); the leftmost match wins, so a role's own
# backticks are never taken for a code span.
INLINE = re.compile(r"\{([a-zA-Z][\w:-]*)\}`([^`]+)`|(`+)[^`]+?\3")
FENCE = re.compile(r"^(\s*)(`{3,}|:{3,})\s*(\{([\w:-]+)\})?\s*(.*)$")
PAPERMILL = "application/papermill.record/"


class ConversionError(ValueError):
    pass


# ----------------------------------------------------------------------------- bibliography

def _latex(text: str) -> str:
    """BibTeX's LaTeX as Unicode text (``Bucilu{\\u{a}}`` -> ``Buciluă``)."""
    import codecs

    import latexcodec  # noqa: F401  (registers the codec; pybtex depends on it)

    return _clean(codecs.decode(text, "ulatex"))


def _name(person) -> str:
    return _latex(" ".join([*person.first_names, *person.middle_names, *person.prelast_names, *person.last_names]))


def _authors(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    last = [_latex(" ".join(p.last_names)) for p in people]
    if not last:
        return entry.fields.get("title", "?")
    if len(last) == 1:
        return last[0]
    if len(last) == 2:
        return f"{last[0]} and {last[1]}"
    return f"{last[0]} et al."


def _clean(text: str) -> str:
    return re.sub(r"[{}]", "", text).replace("\\&", "&").replace("--", "–")


class Bibliography:
    def __init__(self, paths):
        from pybtex.database import parse_file

        self.entries = {}
        for path in paths:
            self.entries.update(parse_file(str(path)).entries)

    def cite(self, key: str) -> str:
        e = self.entries.get(key)
        if e is None:
            raise ConversionError(f"{{cite}}`{key}`: no such entry in the bibliography")
        return f"{_authors(e)}, {e.fields.get('year', 'n.d.')}"

    def reference(self, key: str) -> str:
        e = self.entries[key]
        people = e.persons.get("author") or e.persons.get("editor") or []
        names = [_name(p) for p in people]
        names = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""
        venue = next((e.fields[f] for f in ("journal", "booktitle", "howpublished", "publisher", "eprint")
                      if f in e.fields), "")
        url = e.fields.get("url") or (f"https://doi.org/{e.fields['doi']}" if "doi" in e.fields else "")
        parts = [names, f"*{_latex(e.fields.get('title', ''))}*", _latex(venue), e.fields.get("year", "")]
        text = ". ".join(p for p in parts if p)
        return f"{text}. <{url}>" if url else f"{text}."


# ----------------------------------------------------------------------------- the converter

class ReaderNotebook:
    """Convert one page's executed MyST notebook (with its glue records) into a reader's notebook."""

    def __init__(self, *, docname, source_dir, glue, resolve, bib, substitutions, lang="en"):
        self.docname = docname
        self.source_dir = Path(source_dir)
        self.glue = glue  # key -> mime bundle (prefix stripped)
        self.resolve = resolve  # (kind, target) -> (text, url)
        self.bib = bib
        self.substitutions = substitutions
        self.lang = "zh" if str(lang).startswith("zh") else "en"
        self.cited: list[str] = []
        self.figures: dict[str, int] = {}  # label -> number on this page

    # -- inline -------------------------------------------------------------------------------
    def _glue_text(self, key: str, fmt: str = "") -> str:
        from myst_nb.core.variables import format_plain_text

        bundle = self._bundle(key)
        if "text/plain" not in bundle:
            raise ConversionError(f"{self.docname}: glue {key!r} has no text/plain")
        return format_plain_text(bundle["text/plain"], fmt)

    def _bundle(self, key: str) -> dict:
        if key not in self.glue:
            raise ConversionError(f"{self.docname}: no glued value {key!r} in the executed notebook")
        return self.glue[key]

    def _glue_any(self, key: str) -> str:
        bundle = self._bundle(key)
        if "text/markdown" in bundle:
            return bundle["text/markdown"].strip()
        return self._glue_text(key)

    def _role(self, m: re.Match) -> str:
        name, content = m.group(1), m.group(2)
        title, target = content, content
        t = re.fullmatch(r"(.*?)\s*<([^<>]+)>", content, re.S)
        if t:
            title, target = t.group(1), t.group(2)
        if name == "glue:text":
            key, _, fmt = content.partition(":")
            return self._glue_text(key, fmt)
        if name in ("glue", "glue:", "glue:any"):
            return self._glue_any(content)
        if name == "glue:md":
            key = content.split(":")[0]
            bundle = self._bundle(key)
            return (bundle.get("text/markdown") or self._glue_text(key)).strip()
        if name in ("cite", "cite:p", "cite:ps", "cite:t", "cite:ts"):
            keys = [k.strip() for k in content.split(",")]
            for k in keys:
                if k not in self.cited:
                    self.cited.append(k)
            if name.startswith("cite:t"):
                return "; ".join(self.bib.cite(k).replace(", ", " (", 1) + ")" for k in keys)
            return "(" + "; ".join(self.bib.cite(k) for k in keys) + ")"
        if name == "math":
            return f"${content}$"
        if name in ("doc", "ref", "numref", "eq", "download", "kd-doc", "term"):
            text, url = self.resolve(name, target.strip(), title if t else None)
            return f"[{text}]({url})" if url else text
        if name in ("code", "samp", "file", "command", "kbd"):
            return f"`{content}`"
        raise ConversionError(f"{self.docname}: the role {{{name}}} has no conversion")

    def inline(self, text: str) -> str:
        """Roles and substitutions of a run of Markdown replaced; inline code spans kept."""
        text = INLINE.sub(lambda m: self._role(m) if m.group(1) else m.group(0), text)
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: self._substitution(m.group(1)), text)

    def _substitution(self, name: str) -> str:
        if name not in self.substitutions:
            raise ConversionError(f"{self.docname}: unknown substitution {{{{ {name} }}}}")
        return str(self.substitutions[name])

    # -- blocks ---------------------------------------------------------------------------------
    def markdown(self, text: str) -> list:
        """Markdown cell text -> a list of cells (str for Markdown, dict for an inserted code cell)."""
        lines = text.splitlines()
        out: list = []
        buf: list[str] = []  # converted lines
        run: list[str] = []  # raw Markdown lines not yet converted (a role may span lines)

        def flush():
            if run:
                buf.extend(self.inline("\n".join(run)).split("\n"))
                run.clear()

        i = 0
        while i < len(lines):
            line = lines[i]
            m = FENCE.match(line)
            if not m:
                if re.match(r"^\s*\([\w:-]+\)=\s*$", line) or re.match(r"^\s*%", line):
                    i += 1  # a MyST target or comment
                    continue
                if re.match(r"^\s*\$\$\s*\(([\w:-]+)\)\s*$", line):
                    run.append(re.sub(r"\s*\([\w:-]+\)\s*$", "", line))
                    i += 1
                    continue
                run.append(line)
                i += 1
                continue
            flush()
            indent, fence, _, name, arg = m.groups()
            end = i + 1
            while end < len(lines) and not re.fullmatch(rf"\s*{re.escape(fence[0])}{{{len(fence)},}}\s*", lines[end]):
                end += 1
            body = lines[i + 1:end]
            i = end + 1
            if not name:  # a plain code block: verbatim
                buf.extend([line, *body, indent + fence])
                continue
            options = {}
            while body and re.match(r"^\s*:[\w-]+:", body[0]):
                k, _, v = body.pop(0).strip()[1:].partition(":")
                options[k] = v.strip()
            while body and body[0].startswith("---"):  # yaml option block
                j = body.index("---", 1) if "---" in body[1:] else 0
                body = body[j + 1:]
            converted = self.directive(name, arg.strip(), options, "\n".join(body), indent)
            for item in converted:
                if isinstance(item, str):
                    buf.append(item)
                else:
                    out.append("\n".join(buf))
                    buf = []
                    out.append(item)
        flush()
        out.append("\n".join(buf))
        return out

    def _nested(self, body: str) -> tuple[str, list]:
        """The converted body of an admonition or a dropdown: its text up to the first figure, and
        the figure cells with what follows them (placed after the block: a Markdown quote or
        ``<details>`` cannot hold a code cell)."""
        cells = self.markdown(body)
        first = next((i for i, c in enumerate(cells) if not isinstance(c, str)), len(cells))
        return "\n".join(cells[:first]).strip(), cells[first:]

    def directive(self, name: str, arg: str, options: dict, body: str, indent: str) -> list:
        words = WORDS[self.lang]
        if name in ADMONITION_TITLES["en"] or name == "admonition":
            title = self.inline(arg) if name == "admonition" else ADMONITION_TITLES[self.lang][name]
            inner, after = self._nested(body)
            quoted = "\n".join(f"{indent}> {line}".rstrip() for line in inner.splitlines())
            return [f"{indent}> **{title}**", f"{indent}>", quoted, "", *after]
        if name == "dropdown":
            inner, after = self._nested(body)
            return [f"{indent}<details><summary>{self.inline(arg)}</summary>", "", inner, "", f"{indent}</details>", "",
                    *after]
        if name in ("glue", "glue:", "glue:any", "glue:md", "glue:text"):
            key = arg.split()[0]
            bundle = self._bundle(key)
            if name in ("glue:md", "glue:text") or not ({"image/png", "text/html"} & set(bundle)):
                # text or Markdown (a table written as Markdown): part of the text
                return [self._glue_any(key) if name != "glue:text" else self._glue_text(key)]
        if name in ("glue:figure", "glue", "glue:", "glue:any"):
            key = arg.split()[0]
            bundle = self._bundle(key)
            if name == "glue:figure":
                n = len(self.figures) + 1
                self.figures[options.get("name", f"_fig{n}")] = n
            import nbformat

            # "reader-display": a cell this converter added (not executed by the build)
            tags = ["reader-display", "reader-figure"] if name == "glue:figure" else ["reader-display"]
            cell = nbformat.v4.new_code_cell(f'display(GLUED["{key}"])', metadata={"tags": tags})
            cell.outputs = [nbformat.v4.new_output("display_data", data={
                k: v for k, v in bundle.items() if not k.startswith(PAPERMILL)})]
            caption, rest = self._nested(body) if body.strip() else ("", [])
            if rest:
                raise ConversionError(f"{self.docname}: a figure inside the caption of {key!r}")
            items: list = [cell]
            if name == "glue:figure":
                label = f"*{words['figure']} {n}.*"  # noqa: F821 (n is set above for figures)
                items.append(f"{label} {caption}".strip() if caption else label)
            elif caption:
                items.append(caption)
            return items
        if name == "literalinclude":
            path = (self.source_dir / arg).resolve()
            lang = options.get("language", "")
            return [f"```{lang}", path.read_text(encoding="utf-8").rstrip("\n"), "```"]
        if name == "math":
            return ["$$", body.strip(), "$$"]
        if name in ("code-block", "code", "sourcecode"):
            return [f"```{arg}", body, "```"]
        if name in ("bibliography", "kd-glossary", "tableofcontents", "contents"):
            return []
        raise ConversionError(f"{self.docname}: the directive {{{name}}} has no conversion")

    # -- the notebook ---------------------------------------------------------------------------
    def convert(self, nb, *, title: str, url: str, book: str):
        import nbformat

        words = WORDS[self.lang]
        cells = [nbformat.v4.new_markdown_cell(words["intro"].format(title=title, url=url, book=book))]
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                for item in self.markdown(cell.source):
                    if isinstance(item, str):
                        if item.strip():
                            cells.append(nbformat.v4.new_markdown_cell(item.strip("\n")))
                    else:
                        cells.append(item)
            elif cell.cell_type == "code":
                new = nbformat.v4.new_code_cell(cell.source)
                shim = f"{words['glue']}\nGLUED = {{}}\ndef glue(name, value, display=False):\n    GLUED[name] = value"
                new.source = GLUE_IMPORT.sub(lambda m: shim, new.source)
                new.source = OTHER_GLUE_IMPORT.sub(lambda m: m.group(1) + "\n" + shim, new.source)
                new.execution_count = cell.get("execution_count")
                new.outputs = [o for o in cell.get("outputs", []) if not _hidden_glue(o)]
                if cell.get("metadata", {}).get("tags"):
                    new.metadata["tags"] = list(cell.metadata["tags"])
                cells.append(new)
            else:
                cells.append(cell)
        cells = _after_their_glue(cells)
        if self.cited:
            refs = "\n".join(f"- {self.bib.reference(k)}" for k in self.cited)
            cells.append(nbformat.v4.new_markdown_cell(f"## {words['references']}\n\n{refs}"))
        out = nbformat.v4.new_notebook(cells=cells, metadata={
            "kernelspec": nb.metadata.get("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"}),
            "language_info": {"name": "python"}})
        return out


def _hidden_glue(output) -> bool:
    scrapbook = output.get("metadata", {}).get("scrapbook")
    return bool(scrapbook and scrapbook.get("mime_prefix"))


def glue_records(nb) -> dict:
    """``key -> mime bundle`` of every glue record of an executed notebook (myst-nb's prefix removed)."""
    found = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if scrapbook:
                n = len(scrapbook.get("mime_prefix", ""))
                found[scrapbook["name"]] = {k[n:]: v for k, v in output.get("data", {}).items()}
    return found


# ----------------------------------------------------------------------------- Sphinx

def _resolver(app, docname: str, numbers: dict):
    env = app.env
    base = app.config.html_baseurl

    def page_url(doc: str, anchor: str = "") -> str:
        return f"{base}{doc}.html" + (f"#{anchor}" if anchor else "")

    def resolve(kind: str, target: str, title):
        if kind in ("doc", "kd-doc"):
            doc = str((Path(docname).parent / target).as_posix()) if not target.startswith("/") else target[1:]
            doc = re.sub(r"[^/]+/\.\./", "", doc).removesuffix(".md")
            if kind == "kd-doc" and doc not in env.titles:
                root = (app.config.kd_other_edition or {}).get("root", "")
                return title or target, f"{base}{root}{doc}.html"
            if doc not in env.titles:
                raise ConversionError(f"{docname}: {{doc}}`{target}`: no such page")
            return title or env.titles[doc].astext(), page_url(doc)
        if kind in ("ref", "numref"):
            labels = env.domaindata["std"]["labels"]
            anon = env.domaindata["std"]["anonlabels"]
            if target in labels:
                doc, anchor, section = labels[target]
            elif target in anon:
                doc, anchor = anon[target]
                section = target
            else:
                raise ConversionError(f"{docname}: {{{kind}}}`{target}`: no such label")
            if kind == "numref" and target in numbers and not title:
                lang = "zh" if str(app.config.language or "").startswith("zh") else "en"
                return f"{WORDS[lang]['figure']} {numbers[target]}", page_url(doc, anchor)
            return title or section, page_url(doc, anchor)
        if kind == "eq":
            objects = env.domaindata["math"]["objects"]
            if target not in objects:
                raise ConversionError(f"{docname}: {{eq}}`{target}`: no such equation")
            doc, number = objects[target]
            return f"({number})", page_url(doc, f"equation-{target}")
        if kind == "download":
            for path, (_docs, dest) in env.dlfiles.items():
                if Path(path).name == Path(target).name:
                    return title or Path(target).name, f"{base}_downloads/{dest}"
            raise ConversionError(f"{docname}: {{download}}`{target}`: not a download of this build")
        if kind == "term":
            return title or target, ""
        raise ConversionError(f"{docname}: cannot resolve {{{kind}}}`{target}`")

    return resolve


def _cached_notebook(app, nb):
    from jupyter_cache import get_cache

    cache_dir = Path(getattr(app.config, "nb_execution_cache_path", "") or Path(app.outdir).parent / ".jupyter_cache")
    _, merged = get_cache(str(cache_dir)).merge_match_into_notebook(nb)
    return merged


def write_reader_notebook(app, pagename, templatename, context, doctree) -> None:
    """After sphinx-book-theme copied the page's notebook to ``_sources`` (the download button's
    ``.ipynb``), replace it with the reader's notebook."""
    if not context.get("ipynb_source"):
        return
    import nbformat

    src = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    dest = Path(app.outdir) / "_sources" / context["ipynb_source"]
    if not src.exists() or not dest.exists():
        return
    nb = nbformat.read(src, as_version=4)
    try:
        nb = _cached_notebook(app, nb)
    except KeyError as exc:
        raise ConversionError(f"{pagename}: no cached execution of this page in the jupyter-cache") from exc
    bib = getattr(app, "_kd_bibliography", None)
    if bib is None:
        bib = app._kd_bibliography = Bibliography(Path(app.srcdir) / p for p in app.config.bibtex_bibfiles)
    conv = ReaderNotebook(docname=pagename, source_dir=Path(app.env.doc2path(pagename)).parent, glue=glue_records(nb),
                          resolve=None, bib=bib, substitutions=getattr(app.config, "myst_substitutions", {}) or {},
                          lang=app.config.language or "en")
    # figure numbers of the page, for {numref}: in the order of its {glue:figure}s
    numbers = {}
    text = Path(app.env.doc2path(pagename)).read_text(encoding="utf-8")
    for n, m in enumerate(re.finditer(r"\{glue:figure\}[^\n]*\n(?::[\w-]+:[^\n]*\n)*?:name:\s*(\S+)", text), 1):
        numbers[m.group(1)] = n
    conv.resolve = _resolver(app, pagename, numbers)
    title = context.get("title", pagename)
    reader = conv.convert(nb, title=html.unescape(re.sub(r"<[^>]+>", "", title)),
                          url=f"{app.config.html_baseurl}{pagename}.html",
                          book=app.config.html_title or app.config.project)
    nbformat.validate(reader)
    dest.write_text(json.dumps(reader, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    _binder_opens_the_reader_notebook(context)


def _binder_opens_the_reader_notebook(context) -> None:
    """The Binder button opens ``<page>.reader.ipynb`` next to the page's source, which
    ``binder/reader_notebooks.py`` puts there when Binder builds the image."""
    for button in context.get("header_buttons", []):
        for b in button.get("buttons", []):
            url = b.get("url", "")
            if b.get("text") == "Binder" and "?urlpath=" in url and url.endswith(".md"):
                b["url"] = url[: -len(".md")] + ".reader.ipynb"


def setup(app):
    # After sphinx-book-theme's launch buttons (priority 501) copied the notebook to _sources/.
    app.connect("html-page-context", write_reader_notebook, priority=700)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
