"""Issue 17: the Chinese assignments (losses_zh, training_zh) and the grader's Chinese diagnoses.

One source of truth: the Chinese notebooks are generated from the English ones and solutions/zh/*.yml
(kdutils/course/translate.py); the diagnoses are one table per language keyed by mistake id
(kdutils/grading/messages.py, messages_zh.py). These tests run in-process (no nbgrader); the end-to-end
grading of the Chinese releases is in tests/test_nbgrader.py (slow).
"""
from __future__ import annotations

import math
import re
import shutil
import string
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
import yaml

import kdutils as kd
from kdutils import course
from kdutils.course import catalogue as cat
from kdutils.course import translate as tr
from kdutils.course.home import load_home

G = kd.grading
M = G.messages
ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = yaml.safe_load((ROOT / "zh" / "glossary.yml").read_text(encoding="utf8"))
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def zh():
    """Chinese diagnoses in this process and its worker, English again afterwards."""
    G.prepare(lang="zh")
    yield
    G.prepare(lang="en")


def _fields(template: str) -> list[tuple]:
    return sorted((f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template) if f is not None)


# ----- the diagnoses -----------------------------------------------------------------------------------
def test_every_message_exists_in_both_languages_with_the_same_fields():
    assert set(M.TRANSLATIONS) == {"en", "zh"}
    en, zh = M.TRANSLATIONS["en"], M.TRANSLATIONS["zh"]
    assert set(en) - set(zh) == set(), "ids with no Chinese"
    assert set(zh) - set(en) == set(), "Chinese ids with no English"
    differ = {id: (_fields(en[id]), _fields(zh[id])) for id in en if _fields(en[id]) != _fields(zh[id])}
    assert not differ, differ


def test_a_message_missing_in_one_language_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.delitem(M.TRANSLATIONS["zh"], "kd.no_T2")
    with pytest.raises(KeyError):
        M.say("kd.no_T2", lang="zh", T2=16.0)


def test_the_chinese_messages_are_chinese_and_use_the_glossary():
    zh = M.TRANSLATIONS["zh"]
    for id, en in M.MESSAGES.items():
        words = re.findall(r"\b[a-z]{3,}\b", re.sub(r"\{[^}]*\}|`[^`]*`|\w+\.\w+[\w.()]*|\w+_\w+", "", en))
        if len(words) >= 2:  # a sentence, not a bare "{name} {error}"
            assert CJK.search(zh[id]), (id, zh[id])
    text = "\n".join(zh.values())
    avoided = [(t["zh"], a) for t in GLOSSARY for a in t.get("avoid") or [] if a in text]
    assert not avoided, f"terms the glossary rules out: {avoided}"
    for term in ("温度", "教师模型", "学生模型", "软标签", "硬标签", "交叉熵", "KL 散度", "批平均", "正向 KL", "小批量", "轮"):
        assert term in text, term
        assert any(term in (t["zh"], *(t.get("zh_also") or [])) for t in GLOSSARY), f"{term} is not a glossary term"


def test_an_unknown_language_is_an_error_naming_it():
    with pytest.raises(ValueError, match="lang='fr'"):
        M.say("kd.no_T2", lang="fr", T2=16.0)
    with pytest.raises(ValueError, match="lang='fr'"):
        G.prepare(lang="fr")
    assert M.language() == "en"


def test_the_assignment_language_reaches_the_worker(zh):
    bad = _define(cat.fn("kd_kl_loss", cat.KD_ARGS, cat.LOSSES_BUGS["kd_no_T2"][1]), "kd_kl_loss")
    msg = _run("kd_kl_loss", bad, "temperature")
    assert msg.startswith("正好差了 T² = 16 倍：KL 项要乘以 T**2。示例："), msg
    G.prepare(lang="en")
    assert _run("kd_kl_loss", bad, "temperature").startswith("off by exactly T² = 16")


def _define(source: str, name: str):
    ns = {"torch": torch, "F": F, "math": math, "kd": kd, "nn": torch.nn}
    if name == "distillation_loss":
        exec(cat.solution_cells("losses")["kd_kl_loss"], ns)
    exec(source, ns)
    return ns[name]


def _run(check: str, fn, part: str, hidden: bool = False) -> str | None:
    try:
        getattr(G, f"check_{check}")(fn, part, hidden=hidden)
    except AssertionError as e:
        return str(e)
    return None


def test_every_chinese_loss_diagnosis_comes_first_within_70_characters(zh):
    """As in English (test_grading.py): nbgrader validate shows ~70 characters of a message, counted in
    characters; the Chinese diagnosis must be there, before the example."""
    for bug, (name, body, words) in cat.LOSSES_BUGS.items():
        msg = _run(name, _define(cat.fn(name, cat.ARGS[name], body), name),
                   cat.FIRST_FAILING[bug].removeprefix(f"test_{name}_"))
        assert msg and cat.WORDS_ZH[words] in msg[:70] and CJK.search(msg[:70]), (bug, msg)


def test_every_catalogue_word_has_its_chinese_feedback_word():
    for sub in cat.catalogue():
        zh = cat.in_language(sub, "zh")
        assert zh.assignment == f"{sub.assignment}_zh" and len(zh.words) == len(sub.words)


# ----- the notebooks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("assignment", course.ASSIGNMENTS)
def test_every_cell_has_an_up_to_date_translation(assignment):
    assert tr.problems(ROOT, assignment) == [], "run `python -m kdutils.course translate-status`"


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    for d in ("solutions",):
        shutil.copytree(ROOT / d, root / d)
    return root


def test_an_english_edit_makes_its_chinese_cell_stale(tmp_path):
    root = _copy(tmp_path)
    path = root / "solutions" / "losses" / "losses.ipynb"
    nb = nbformat.read(path, as_version=4)
    md = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "md_04")
    md.source += "\nA new sentence."
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_kd_kl_loss_example")
    test.source = test.source.replace("two-example batch", "two-row batch", 1)
    hidden = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_kd_kl_loss_batch")
    hidden.source += "\n# a hidden-test edit changes no text to translate"
    nbformat.write(nb, path)
    wrong = tr.problems(root, "losses")
    assert [w.split(":")[0] for w in wrong] == ["md_04", "test_kd_kl_loss_example"], wrong
    with pytest.raises(tr.StaleTranslation, match="md_04: stale"):
        tr.zh_notebook(root, "losses", load_home(ROOT))


def test_a_new_english_cell_without_translation_is_reported(tmp_path):
    root = _copy(tmp_path)
    path = root / "solutions" / "training" / "training.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_markdown_cell("## 6. A new section")
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": "md_new", "locked": True, "schema_version": 3,
                                 "solution": False, "task": False}
    nb.cells.append(cell)
    nbformat.write(nb, path)
    assert tr.problems(root, "training") == [f"md_new: no Chinese translation (en_sha: {tr.text_hash(cell.source)})"]


@pytest.mark.parametrize("assignment", course.ASSIGNMENTS)
def test_committed_chinese_source_equals_a_fresh_translation(assignment):
    fresh = tr.zh_notebook(ROOT, assignment, load_home(ROOT))
    name = tr.zh_name(assignment)
    committed = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    assert course.normalized(fresh) == course.normalized(committed), f"solutions/{name} is stale: run `make exercises`"


def _graded(nb) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"].get("points") for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
@pytest.mark.parametrize("assignment", course.ASSIGNMENTS)
def test_same_cells_grade_ids_points_and_code_as_english(folder, assignment):
    name = tr.zh_name(assignment)
    en = nbformat.read(ROOT / folder / assignment / f"{assignment}.ipynb", as_version=4)
    zh = nbformat.read(ROOT / folder / name / f"{name}.ipynb", as_version=4)
    def meta(nb):  # nbgrader's checksum of a locked cell hashes its (translated) source
        return [(c.cell_type, {k: v for k, v in c.metadata.get("nbgrader", {}).items() if k != "checksum"})
                for c in nb.cells]

    assert meta(en) == meta(zh)
    assert _graded(en) == _graded(zh) and sum(p for p in _graded(zh).values()) > 10
    for e, z in zip(en.cells, zh.cells):
        gid = e.metadata.get("nbgrader", {}).get("grade_id")
        if e.cell_type == "markdown":
            if not (folder == "exercises" and e.metadata["nbgrader"].get("solution")):
                assert CJK.search(z.source), gid  # (a released written answer is nbgrader's stub, as in English)
        elif e.metadata["nbgrader"].get("grade"):  # same code and hidden tests; a Chinese docstring
            assert z.source.split("\n", 1)[1] == e.source.split("\n", 1)[1], gid
            assert CJK.search(z.source.split("\n", 1)[0]), gid
        elif gid == "setup":
            assert z.source == e.source.replace("kd.grading.prepare()", 'kd.grading.prepare(lang="zh")'), gid
            assert 'prepare(lang="zh")' in z.source
        else:
            assert z.source == e.source, gid


def test_the_chinese_notebooks_use_the_glossary_and_say_the_source_article():
    for name in tr.TRANSLATED:
        nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        avoided = [a for t in GLOSSARY for a in t.get("avoid") or [] if a in text]
        assert not avoided, (name, avoided)
        for term in ("知识蒸馏" if name == "losses_zh" else "迁移集", "教师模型", "学生模型", "软标签", "温度" if
                     name == "losses_zh" else "轮", "原文"):
            assert term in text, (name, term)
        assert "种子文章" not in text and "seed" not in text.lower().replace("随机种子", "")


def test_translate_status_command_reports_up_to_date(capsys):
    from kdutils.course.__main__ import main

    assert main(["translate-status"]) == 0
    out = capsys.readouterr().out
    assert out.count("up to date") == len(course.ASSIGNMENTS), out
