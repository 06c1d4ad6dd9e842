"""``zh/prose_sync.py`` (``make zh-check``): a change to English prose names the Chinese unit to redo.

The tests edit English pages in a temporary copy of ``book/`` and ``zh/`` and run the check there
(``--root``); the last test runs it on the repository itself, which must be current.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("prose_sync", ROOT / "zh" / "prose_sync.py")
ps = importlib.util.module_from_spec(_spec)
sys.modules["prose_sync"] = ps  # dataclasses look the module up
_spec.loader.exec_module(ps)

PAGE = "temperature"
EN, ZH = f"book/{PAGE}.md", f"zh/book/{PAGE}.md"


@pytest.fixture
def tree(tmp_path):
    """A copy of book/ and zh/ whose record of PAGE is current, and the index of a paragraph unit in it."""
    shutil.copytree(ROOT / "book", tmp_path / "book")
    shutil.copytree(ROOT / "zh", tmp_path / "zh")
    assert ps.main(["--root", str(tmp_path), "stamp", PAGE]) == 0
    en = ps.translated_units((tmp_path / EN).read_text(encoding="utf-8"))
    k = next(i for i, u in enumerate(en) if i > 2 and u.kind == "p" and len(u.text) > 60)
    return tmp_path, k


def run(root: Path, capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = ps.main(["--root", str(root), *args])
    out = capsys.readouterr()
    return rc, out.out + out.err


def units(root: Path, path: str):
    text = (root / path).read_text(encoding="utf-8")
    return ps.translated_units(text) if path.startswith("book/") else ps.units(text)


def edit(root: Path, old: str, new: str) -> None:
    path = root / EN
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_untouched_copy_passes(tree, capsys):
    root, _ = tree
    rc, out = run(root, capsys, "check")
    assert rc == 0, out


def test_changed_sentence_names_the_chinese_unit_and_both_englishes(tree, capsys):
    root, k = tree
    old = units(root, EN)[k].text
    first_line = old.split("\n")[0]
    new_line = first_line.replace(" ", " truly ", 1)
    edit(root, first_line, new_line)
    zh_unit = units(root, ZH)[k]
    rc, out = run(root, capsys, "check")
    assert rc == 1
    assert f"{ZH}:{zh_unit.line} 「{ps._first(zh_unit.text)}」: English unit {k + 1} changed" in out
    assert f"old English: {first_line}" in out and f"new English: {new_line}" in out
    assert out.count("changed, redo") == 1 and "added" not in out and "removed" not in out


def test_added_paragraph_is_named_as_added_after_its_chinese_neighbour(tree, capsys):
    root, k = tree
    old = units(root, EN)[k].text
    edit(root, old, old + "\n\nA paragraph added for the test.")
    zh_unit = units(root, ZH)[k]
    rc, out = run(root, capsys, "check")
    assert rc == 1
    assert f"English unit {k + 2} added" in out
    assert f"translate it after {ZH}:{zh_unit.line} 「{ps._first(zh_unit.text)}」" in out
    assert "new English: A paragraph added for the test." in out
    assert "changed, redo" not in out and "removed" not in out


def test_removed_paragraph_names_the_chinese_unit_to_delete(tree, capsys):
    root, k = tree
    old = units(root, EN)[k].text
    edit(root, old + "\n\n", "")
    zh_unit = units(root, ZH)[k]
    rc, out = run(root, capsys, "check")
    assert rc == 1
    assert f"{ZH}:{zh_unit.line} 「{ps._first(zh_unit.text)}」: English unit removed, delete this Chinese unit" in out
    assert f"old English: {old.split(chr(10))[0]}" in out
    assert "changed, redo" not in out and "added" not in out


def test_stamp_refuses_unmatched_counts_and_accepts_the_brought_along_translation(tree, capsys):
    root, k = tree
    old = units(root, EN)[k].text
    edit(root, old, old + "\n\nA paragraph added for the test.")
    record = (root / "zh" / "sync" / f"{PAGE}.yml").read_text(encoding="utf-8")
    n_en, n_zh = len(units(root, EN)), len(units(root, ZH))
    rc, out = run(root, capsys, "stamp", PAGE)
    assert rc == 1 and f"{PAGE}: not stamped: {ZH} has {n_zh} units, {EN} has {n_en}" in out
    assert (root / "zh" / "sync" / f"{PAGE}.yml").read_text(encoding="utf-8") == record
    # The translator adds the Chinese paragraph at the named place, stamps, and the check passes.
    zh_old = units(root, ZH)[k].text
    zh_path = root / ZH
    zh_path.write_text(zh_path.read_text(encoding="utf-8").replace(zh_old, zh_old + "\n\n为测试新增的一段。", 1),
                       encoding="utf-8")
    assert run(root, capsys, "stamp", PAGE)[0] == 0
    rc, out = run(root, capsys, "check")
    assert rc == 0, out


def test_chinese_structure_drift_fails_even_when_the_english_did_not_change(tree, capsys):
    root, k = tree
    zh_old = units(root, ZH)[k].text
    zh_path = root / ZH
    zh_path.write_text(zh_path.read_text(encoding="utf-8").replace(zh_old, zh_old + "\n\n多出来的一段。", 1),
                       encoding="utf-8")
    rc, out = run(root, capsys, "check")
    assert rc == 1 and f"{ZH}: {len(units(root, EN)) + 1} Chinese units for {len(units(root, EN))}" in out


def test_missing_and_stray_records_fail(tree, capsys):
    root, _ = tree
    (root / "zh" / "sync" / f"{PAGE}.yml").rename(root / "zh" / "sync" / "no_such_page.yml")
    rc, out = run(root, capsys, "check")
    assert rc == 1
    assert f"{ZH}: no record zh/sync/{PAGE}.yml" in out
    assert "zh/sync/no_such_page.yml: a record without its pages" in out


def test_units_ignore_code_cells_front_matter_and_rewrapping():
    page = ("---\njupytext: {}\n---\n# Title\n\nOne paragraph\nwrapped.\n\n```{code-cell} ipython3\nx = 1\n\n"
            "# a comment, not a heading\n```\n\n:::{dropdown} Q\nbody\n:::\n## Heading after a fence\n\n"
            "*In English:* a gloss.\n")
    got = ps.units(page)
    assert [u.text for u in got] == ["# Title", "One paragraph\nwrapped.", ":::{dropdown} Q\nbody\n:::",
                                     "## Heading after a fence", "*In English:* a gloss."]
    assert [u.line for u in got] == [4, 6, 15, 18, 20]
    assert [u.text for u in ps.translated_units(page)][-1] == "## Heading after a fence"
    assert ps.unit_hash("One paragraph\nwrapped.") == ps.unit_hash("One paragraph wrapped.")
    assert ps.unit_hash("One paragraph wrapped.") != ps.unit_hash("One paragraph unwrapped.")


def test_the_repository_translation_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "zh" / "prose_sync.py"), "check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
