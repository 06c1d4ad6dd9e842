"""Know which English prose each Chinese page translates, and name what to redo when the English changes.

Every page ``zh/book/<page>.md`` that has a ``book/<page>.md`` has a record ``zh/sync/<page>.yml``:
the English *units* its current translation translates, in order, each with a short hash and the
English text itself (so the check can show the old English next to the new).

A **unit** is a blank-line-separated block of the page (a paragraph, a list, a heading, a whole
short dropdown, a ``$$`` equation, a table, a figure directive...), outside the front matter and the
``{code-cell}`` blocks (``zh/sync_code.py --check`` already guards those byte for byte). A heading
line is a unit of its own even without blank lines around it. The i-th unit of the Chinese page
translates the i-th unit of the English page, so the Chinese page keeps the English block
structure and carries no markers. One kind of English unit has no Chinese unit: the English gloss of
a quote from the source article, a block that starts with ``*In English:*`` (the Chinese reader
reads the quote itself); it is not recorded. The hash is over the text with whitespace runs
collapsed, so re-wrapping a paragraph changes nothing.

Usage, from the repository root (``--root`` runs it on another copy, e.g. in the tests):

    python zh/prose_sync.py                    # = check: exit 1 and name every Chinese unit to redo
    python zh/prose_sync.py check [PAGE...]
    python zh/prose_sync.py stamp PAGE...      # after bringing the Chinese along: record the English
    python zh/prose_sync.py stamp --all

``check`` fails for an English unit changed, added or removed since the record (printing the
Chinese page, the Chinese unit's line and first characters, the old and the new English), for a
Chinese page whose unit count differs from the English one, for a Chinese page without a record
and for a record without its pages. ``stamp`` refuses a page whose unit counts differ and names
where the two pages' structures first part.

The workflow, the unit and the record: zh/TRANSLATING.md, "Keeping the translation current".
"""
from __future__ import annotations

import argparse
import difflib
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# The regular expressions of zh/sync_code.py (and tests/test_zh.py).
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
CODE_CELL = re.compile(r"^(`{3,})\{code-cell\}[^\n]*\n.*?^\1[ \t]*$", re.M | re.S)
FENCE = re.compile(r"^(`{3,}|:{3,})(\S.*)?$")
HEADING = re.compile(r"^#{1,6} ")
EN_ONLY = "*In English:*"  # the English gloss of a quote from the source article: no Chinese unit
HEADER = ("# Written by `python zh/prose_sync.py stamp {page}`: the English units of book/{page}.md that\n"
          "# zh/book/{page}.md translates, in order (unit i of the Chinese page translates unit i).\n"
          "# sha: sha256 of the unit with whitespace runs collapsed (first 12 hex digits). Do not edit.\n")


@dataclass(frozen=True)
class Unit:
    line: int  # 1-based line of the unit's first line in its page
    text: str

    @property
    def sha(self) -> str:
        return unit_hash(self.text)

    @property
    def kind(self) -> str:
        """What the unit is, to find where two pages' structures part: '##', ':::{dropdown}', '$$', 'p'..."""
        first = self.text.split("\n", 1)[0]
        m = re.match(r"(#{1,6} |[`:]{3,}\{?[\w:-]*|\$\$|\||[*+-] |\d+\. |> |\(\S+\)=)", first)
        return m.group(1).strip() if m else "p"


def unit_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:12]


def units(text: str) -> list[Unit]:
    """The prose units of a page: blank-line-separated blocks outside front matter and code cells."""
    blank = lambda m: "\n" * m.group(0).count("\n")  # keeps line numbers
    text = FRONT_MATTER.sub(blank, text, count=1)
    text = CODE_CELL.sub(blank, text)
    out: list[Unit] = []
    block: list[str] = []
    start = 0
    fences: list[str] = []  # open ``` / ::: fences: a '#' line inside one is not a heading

    def flush():
        if block:
            out.append(Unit(start, "\n".join(block)))
            block.clear()

    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            flush()
            continue
        fence = FENCE.match(line.strip())
        if fence:
            mark, info = fence.group(1), fence.group(2)
            if fences and info is None and mark[0] == fences[-1][0] and len(mark) >= len(fences[-1]):
                fences.pop()
            elif info is not None or (not fences and mark[0] == "`"):
                fences.append(mark)
        elif not fences and HEADING.match(line):
            flush()
            out.append(Unit(n, line))
            continue
        if not block:
            start = n
        block.append(line)
    flush()
    return out


def translated_units(text: str) -> list[Unit]:
    """The units of an English page that have a Chinese unit (all but the glosses of quotes)."""
    return [u for u in units(text) if not u.text.startswith(EN_ONLY)]


def pages(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "zh" / "book").glob("*.md") if (root / "book" / p.name).exists())


def record_path(root: Path, page: str) -> Path:
    return root / "zh" / "sync" / f"{page}.yml"


def _literal(dumper, s: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(str, _literal)


def write_record(root: Path, page: str, en: list[Unit]) -> None:
    body = yaml.dump({"units": [{"sha": u.sha, "en": u.text} for u in en]}, Dumper=_Dumper,
                     allow_unicode=True, sort_keys=False, width=10_000)
    path = record_path(root, page)
    path.parent.mkdir(exist_ok=True)
    path.write_text(HEADER.format(page=page) + body, encoding="utf-8")


def read_record(root: Path, page: str) -> list[dict]:
    path = record_path(root, page)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("units"), list) or not all(
            isinstance(u, dict) and {"sha", "en"} <= u.keys() for u in data["units"]):
        raise ValueError(f"{path.relative_to(root)}: expected 'units: [{{sha, en}}, ...]'; "
                         f"run python zh/prose_sync.py stamp {page}")
    return data["units"]


def _first(text: str, n: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[:n] + "…"


def _indent(label: str, text: str) -> str:
    lines = text.split("\n")
    return "\n".join([f"    {label}: {lines[0]}"] + [" " * (len(label) + 6) + l for l in lines[1:]])


def where_structures_part(en: list[Unit], zh: list[Unit], page: str) -> str:
    """The first unit where the English and the Chinese page differ in kind (heading, list, ...)."""
    for i, (e, z) in enumerate(zip(en, zh)):
        if e.kind != z.kind:
            return (f"; the first unit whose kind differs is unit {i + 1}: book/{page}.md:{e.line} ({e.kind}) "
                    f"「{_first(e.text)}」 vs zh/book/{page}.md:{z.line} ({z.kind}) 「{_first(z.text)}」")
    shorter, longer = (en, "book") if len(en) < len(zh) else (zh, "zh/book")
    extra = (zh if len(en) < len(zh) else en)[len(shorter)]
    return f"; {longer}/{page}.md has extra units from line {extra.line} 「{_first(extra.text)}」"


def _pairs(old: list[str], new: list[str]) -> list[tuple[int | None, int | None]]:
    """Align a run of old English units with the new ones that replace it, in order.

    As many old as new: unit by unit (each one changed). Otherwise the order-preserving pairing
    of the most similar texts; an old unit left alone was removed, a new one added.
    """
    if len(old) == len(new):
        return list(zip(range(len(old)), range(len(new))))
    gain = [[difflib.SequenceMatcher(None, a.split(), b.split()).ratio() - 0.3 for b in new] for a in old]
    best = [[0.0] * (len(new) + 1) for _ in range(len(old) + 1)]  # best[i][j]: old[i:] with new[j:]
    for i in range(len(old) - 1, -1, -1):
        for j in range(len(new) - 1, -1, -1):
            best[i][j] = max(best[i + 1][j], best[i][j + 1], best[i + 1][j + 1] + gain[i][j])
    out, i, j = [], 0, 0
    while i < len(old) or j < len(new):
        if i < len(old) and j < len(new) and gain[i][j] > 0 and best[i][j] == best[i + 1][j + 1] + gain[i][j]:
            out.append((i, j)); i += 1; j += 1
        elif i < len(old) and (j == len(new) or best[i][j] == best[i + 1][j]):
            out.append((i, None)); i += 1
        else:
            out.append((None, j)); j += 1
    return out


def check_page(root: Path, page: str) -> list[str]:
    """Problems of one page, as printable lines (empty: the translation is current)."""
    zh_rel = f"zh/book/{page}.md"
    en = translated_units((root / "book" / f"{page}.md").read_text(encoding="utf-8"))
    zh = units((root / zh_rel).read_text(encoding="utf-8"))
    if not record_path(root, page).exists():
        return [f"{zh_rel}: no record zh/sync/{page}.yml (once the translation is current: "
                f"python zh/prose_sync.py stamp {page})"]
    try:
        old = read_record(root, page)
    except (ValueError, yaml.YAMLError) as exc:
        return [str(exc)]
    out: list[str] = []
    at = lambda i: (f"{zh_rel}:{zh[i].line} 「{_first(zh[i].text)}」" if i < len(zh)
                    else f"{zh_rel} (end of page)")
    ops = difflib.SequenceMatcher(None, [u["sha"] for u in old], [u.sha for u in en], autojunk=False)
    for tag, i1, i2, j1, j2 in ops.get_opcodes():
        if tag == "equal":
            continue
        last = i1 - 1  # the old unit before the next added one
        for i, j in _pairs([u["en"] for u in old[i1:i2]], [u.text for u in en[j1:j2]]):
            if i is not None:
                last = i1 + i
                if j is not None:
                    out.append(f"  {at(last)}: English unit {j1 + j + 1} changed, redo this Chinese unit\n"
                               + _indent("old English", old[last]["en"]) + "\n"
                               + _indent("new English", en[j1 + j].text))
                else:
                    out.append(f"  {at(last)}: English unit removed, delete this Chinese unit\n"
                               + _indent("old English", old[last]["en"]))
            else:
                after = f"after {at(last)}" if last >= 0 else f"at the top of {zh_rel}"
                out.append(f"  English unit {j1 + j + 1} added (book/{page}.md:{en[j1 + j].line}), "
                           f"translate it {after}\n" + _indent("new English", en[j1 + j].text))
    if out:
        out.insert(0, f"{zh_rel}: the English changed since zh/sync/{page}.yml" + (
            "" if len(zh) == len(old) else f" (the Chinese page has {len(zh)} units, the record {len(old)}: "
            "the Chinese units named may be off by the units added or removed since)"))
    elif len(zh) != len(en):
        out.append(f"{zh_rel}: {len(zh)} Chinese units for {len(en)} English units of book/{page}.md"
                   + where_structures_part(en, zh, page))
    return out


def check(root: Path, only: list[str]) -> int:
    names = pages(root)
    problems: list[str] = []
    for page in only or names:
        if page not in names:
            problems.append(f"{page}: no zh/book/{page}.md with a book/{page}.md")
            continue
        problems += check_page(root, page)
    if not only:
        for rec in sorted((root / "zh" / "sync").glob("*.yml")):
            if rec.stem not in names:
                problems.append(f"zh/sync/{rec.name}: a record without its pages "
                                f"(no zh/book/{rec.stem}.md with a book/{rec.stem}.md); delete it")
    if problems:
        print("\n".join(problems))
        print("\nThe Chinese edition is behind the English one. Redo the Chinese units named above, then "
              "`python zh/prose_sync.py stamp PAGE` and commit the pages and zh/sync/ together "
              "(zh/TRANSLATING.md, 'Keeping the translation current').")
        return 1
    print(f"zh-check: the Chinese prose of {len(only or names)} page(s) translates the current English")
    return 0


def stamp(root: Path, only: list[str]) -> int:
    names, status = pages(root), 0
    for page in only:
        page = Path(page).stem
        if page not in names:
            print(f"{page}: no zh/book/{page}.md with a book/{page}.md; nothing stamped", file=sys.stderr)
            status = 1
            continue
        en = translated_units((root / "book" / f"{page}.md").read_text(encoding="utf-8"))
        zh = units((root / "zh" / "book" / f"{page}.md").read_text(encoding="utf-8"))
        if len(en) != len(zh):
            print(f"{page}: not stamped: zh/book/{page}.md has {len(zh)} units, book/{page}.md has {len(en)} "
                  f"(not counting '{EN_ONLY}' glosses){where_structures_part(en, zh, page)}. Give the Chinese "
                  "page the English block structure (one blank-line-separated block per English block).",
                  file=sys.stderr)
            status = 1
            continue
        write_record(root, page, en)
        print(f"{page}: stamped {len(en)} units in zh/sync/{page}.yml")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root_opt = argparse.ArgumentParser(add_help=False)
    root_opt.add_argument("--root", type=Path, default=argparse.SUPPRESS,
                          help="the repository (default: the one this script is in)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: %(default)s)")
    sub = parser.add_subparsers(dest="command")
    c = sub.add_parser("check", parents=[root_opt], help="exit 1 and name every Chinese unit to redo (default)")
    c.add_argument("pages", nargs="*", help="page names (default: every page, and stray records)")
    s = sub.add_parser("stamp", parents=[root_opt], help="record the English units the Chinese pages translate")
    s.add_argument("pages", nargs="*", help="page names")
    s.add_argument("--all", action="store_true", help="every translated page")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not (root / "zh" / "book").is_dir():
        parser.error(f"--root={str(args.root)!r} has no zh/book/ folder")
    if args.command == "stamp":
        if bool(args.pages) == args.all:
            parser.error("stamp needs page names or --all (not both)")
        return stamp(root, pages(root) if args.all else args.pages)
    return check(root, [Path(p).stem for p in getattr(args, "pages", [])])


if __name__ == "__main__":
    sys.exit(main())
