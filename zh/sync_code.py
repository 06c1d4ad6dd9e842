"""Copy the notebook header and every ``{code-cell}`` block from book/<page>.md into zh/book/<page>.md.

The Chinese page keeps its prose; its front matter and its code cells are replaced, in order,
by the English page's (byte for byte: fence, options, code, English comments). The i-th code
cell of the Chinese page becomes the i-th code cell of the English page, so a translator can
write a cell as an empty stub (```` ```{code-cell} ipython3 ```` + ```` ``` ````) and let this
script fill it. The number of cells must match; otherwise nothing is written and the script
says which page differs (add or remove the stub cells by hand, at the right place in the prose).

Usage, from the repository root:

    python zh/sync_code.py                  # every zh/book/<page>.md that has a book/<page>.md
    python zh/sync_code.py beyond_logits    # some pages
    python zh/sync_code.py --check          # write nothing; exit 1 if a page would change

The regular expressions are those of tests/test_zh.py (test_code_cells_are_byte_identical).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
CODE_CELL = re.compile(r"^(`{3,})\{code-cell\}[^\n]*\n.*?^\1[ \t]*$", re.M | re.S)


def sync(en: str, zh: str, page: str) -> str:
    """The Chinese text with the English front matter and code cells; ValueError if cell counts differ."""
    en_fm, zh_fm = FRONT_MATTER.match(en), FRONT_MATTER.match(zh)
    zh = (en_fm.group(0) if en_fm else "") + (zh[zh_fm.end():] if zh_fm else zh)  # no header if English has none
    en_cells = [m.group(0) for m in CODE_CELL.finditer(en)]
    n_zh = len(CODE_CELL.findall(zh))
    if n_zh != len(en_cells):
        raise ValueError(f"{page}: {len(en_cells)} code cells in English, {n_zh} in Chinese; "
                         "add or remove stub cells in zh/book/" f"{page}.md first")
    cells = iter(en_cells)
    return CODE_CELL.sub(lambda m: next(cells), zh)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", help="page names (default: every translated page)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is out of sync")
    args = parser.parse_args(argv)
    pages = args.pages or sorted(p.stem for p in (ROOT / "zh" / "book").glob("*.md")
                                 if (ROOT / "book" / p.name).exists())
    status = 0
    for page in pages:
        page = Path(page).stem
        en_path, zh_path = ROOT / "book" / f"{page}.md", ROOT / "zh" / "book" / f"{page}.md"
        if not en_path.exists() or not zh_path.exists():
            print(f"{page}: missing {en_path if not en_path.exists() else zh_path}", file=sys.stderr)
            status = 1
            continue
        zh = zh_path.read_text(encoding="utf-8")
        try:
            new = sync(en_path.read_text(encoding="utf-8"), zh, page)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            status = 1
            continue
        if new == zh:
            print(f"{page}: in sync")
        elif args.check:
            print(f"{page}: out of sync (run without --check to copy the English cells)")
            status = 1
        else:
            zh_path.write_text(new, encoding="utf-8")
            print(f"{page}: code cells and header copied from book/{page}.md")
    return status


if __name__ == "__main__":
    sys.exit(main())
