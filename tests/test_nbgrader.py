"""End-to-end grading: the whole submission catalogue, graded once per language, and stock ``nbgrader``.

The catalogue (kdutils/course/catalogue.py) is graded once per test session, per language, through the
path instructors use (``python -m kdutils.course autograde``: the session fixtures ``graded_catalogue_en``
and ``graded_catalogue_zh`` of tests/conftest.py); every test here reads those courses. Stock
``nbgrader autograde`` grades a subset again (every ``tamper_*`` student among them) and must give the same
scores cell by cell; the whole catalogue with stock nbgrader is in the full tier (``make test-all``).
The per-cell timeout is lowered to 30 s (the course's own is 60 s) so that a looping cell costs 30 s.
"""
from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kdutils import course
from kdutils.course import catalogue as cat

from conftest import CATALOGUE_TIMEOUT as TIMEOUT

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


LANGS = ("en", "zh")  # issue 17: the whole catalogue is graded against the Chinese releases too
#: graded again with stock nbgrader: every tamper_* student, the model answers, the blank release, a bug, a hang
STOCK_SUBSET = {"losses": {s.student for s in cat.TAMPER_LOSSES} | {"solution", "blank", "bug_a", "alt_a"}
                | {cat.HANG_LOSSES[0].student},
                "training": {"solution", "final_labels", "bug_a"}}


def _release(assignment: str, lang: str) -> str:
    """The released assignment of ``lang``: ``losses`` or ``losses_zh``."""
    return assignment if lang == "en" else f"{assignment}_{lang}"


@pytest.fixture(params=LANGS)
def graded(request):
    """``(course, scores, points, lang)``, once per language (each catalogue is graded once per session)."""
    g = request.getfixturevalue(f"graded_catalogue_{request.param}")
    return g.root, g.scores, g.points, g.lang


def _stock(graded_catalogue, tmp_path, students: dict[str, set[str]]) -> dict:
    """Grade ``students`` again, in a copy of the graded course, with stock ``nbgrader autograde``; their scores."""
    root = graded_catalogue.copy(tmp_path / "stock")
    shutil.rmtree(root / "grading_status", ignore_errors=True)  # what the stock path leaves: no status records
    out = {"root": root}
    for a, names in students.items():
        rel = graded_catalogue.release(a)
        for folder in (root / "submitted").glob(f"*/{rel}"):  # one nbgrader call grades exactly the subset
            if folder.parent.name not in names:
                shutil.rmtree(folder)
        course.nbgrader("autograde", rel, "--force", TIMEOUT, cwd=root)
        got = course.read_scores(root, rel)
        out[a] = {s: got[s] for s in names}
    return out


def test_stock_nbgrader_gives_the_forked_kernels_scores_on_a_subset_cell_by_cell(graded_catalogue_en, tmp_path):
    """Stock ``nbgrader autograde`` (ordinary kernels, a private worker each) regrades a subset, every ``tamper_*``
    student included: the same scores, cell by cell, as ``kdutils.course autograde`` gave (grading twice is stable)."""
    stock = _stock(graded_catalogue_en, tmp_path, STOCK_SUBSET)
    root = stock.pop("root")
    for a, got in stock.items():
        want = {s: graded_catalogue_en.scores[a][s] for s in got}
        assert got == want, {s: (got[s], want[s]) for s in got if got[s] != want[s]}
    # On the stock path too, `report` names the function the grader stopped (read from the autograded notebook).
    rep = subprocess.run([sys.executable, "-m", "kdutils.course", "report", "losses", "--allow-pending"], cwd=root,
                         capture_output=True, text=True)
    hang = cat.HANG_LOSSES[0]
    assert "STOPPED FUNCTIONS" in rep.stdout, rep.stdout + rep.stderr
    assert f"  {hang.student}: your kd_kl_loss did not return" in rep.stdout.split("STOPPED FUNCTIONS")[1], rep.stdout


@pytest.mark.full
def test_stock_nbgrader_gives_every_catalogue_student_the_same_scores(graded_catalogue_en, tmp_path):
    """The whole catalogue, graded again with stock nbgrader: the same scores cell by cell."""
    everyone = {a: set(graded_catalogue_en.scores[a]) for a in course.ASSIGNMENTS}
    stock = _stock(graded_catalogue_en, tmp_path, everyone)
    stock.pop("root")
    assert stock == graded_catalogue_en.scores


def _points(root: Path, assignment: str) -> dict[str, float]:
    import nbformat

    nb = nbformat.read(root / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}


def _feedback(root: Path, sub: cat.Submission, lang: str = "en") -> str:
    sub = cat.in_language(sub, lang)
    path = root / "feedback" / sub.student / sub.assignment / f"{sub.assignment}.html"
    assert path.exists(), f"no feedback for {sub.student}/{sub.assignment}"
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def test_validate_passes_on_solutions_and_inverted_on_exercises():
    sol = course.nbgrader("validate", *map(str, sorted((ROOT / "solutions").glob("*/*.ipynb"))), cwd=ROOT)
    n = len(course.ASSIGNMENTS) * len(LANGS)  # the English and the Chinese notebooks
    assert sol.stdout.count("Success! Your notebook passes all the tests.") == n, sol.stdout
    inv = course.nbgrader("validate", "--invert", *map(str, sorted((ROOT / "exercises").glob("*/*.ipynb"))), cwd=ROOT)
    assert "NOTEBOOK PASSED ON" not in inv.stdout and "ERROR" not in inv.stdout.upper().replace("ERRORS", ""), inv.stdout
    assert inv.stdout.count("Success!") == n, inv.stdout


@pytest.mark.parametrize("sub", [s for s in cat.catalogue() if s.full_marks], ids=lambda s: f"{s.assignment}-{s.student}")
def test_correct_submissions_get_full_marks(graded, sub):
    root, scores, _, _ = graded
    points = _points(root, sub.assignment)
    got = scores[sub.assignment][sub.student]
    assert got == points, {k: (got.get(k), v) for k, v in points.items() if got.get(k) != v}


@pytest.mark.parametrize("sub", [s for s in cat.catalogue() if s.student == "blank"], ids=lambda s: s.assignment)
def test_blank_release_scores_zero_everywhere(graded, sub):
    root, scores, _, _ = graded
    got = scores[sub.assignment][sub.student]
    assert set(got) == set(_points(root, sub.assignment))
    assert all(v == 0 for v in got.values()), got


@pytest.mark.parametrize("sub", [s for s in cat.catalogue() if s.lose and s.student != "blank"],
                         ids=lambda s: f"{s.assignment}-{s.student}")
def test_mistakes_and_tampering_lose_points_with_a_diagnosis(graded, sub):
    root, scores, _, lang = graded
    got = scores[sub.assignment].get(sub.student)
    assert got is not None, f"{sub.student} was not graded"
    for cell in sub.lose:
        assert got.get(cell) == 0, (cell, got.get(cell))
    text = _feedback(root, sub, lang)
    for word in cat.in_language(sub, lang).words:
        assert word in text, f"{word!r} missing from the feedback of {sub.student}/{_release(sub.assignment, lang)}"


def test_a_failed_check_shows_the_diagnosis_without_the_graders_frames(graded):
    """A failing check's traceback is the test cell's line and the diagnosis, without a frame of the grader."""
    root, _, _, lang = graded
    shown = 0
    for sub in cat.catalogue():
        if not sub.words or sub.student == "blank":
            continue
        text = _feedback(root, sub, lang)
        # each failed check: from its traceback header to its "AssertionError: <diagnosis>" line
        for tb in re.findall(r"AssertionError\s+Traceback \(most recent call last\)(.*?)AssertionError: ", text, re.S):
            shown += 1
            for internal in ("kdutils/grading/", "_request(", "_judge(", "check_fn"):
                assert internal not in tb, f"{internal!r} in a traceback of {sub.student}/{sub.assignment}: {tb[:500]}"
    assert shown >= 10


def test_at_least_twelve_known_mistakes_are_graded(graded):
    mistakes = sum(len(s.words) for s in cat.catalogue() if s.student.startswith(("bug_", "partial")))
    assert mistakes >= 12


def test_tampering_never_beats_the_honest_blank(graded):
    _, scores, _, _ = graded
    for sub in cat.TAMPER_LOSSES:
        got = scores["losses"][sub.student]
        assert all(got[c] == 0 for c in sub.lose)


def test_feedback_html_for_every_student(graded):
    root, scores, _, lang = graded
    for a in course.ASSIGNMENTS:
        r = _release(a, lang)
        for student in scores[a]:
            assert (root / "feedback" / student / r / f"{r}.html").stat().st_size > 10_000


# ----- issue 17: the Chinese releases grade exactly like the English ones, and diagnose in Chinese ----------
def test_chinese_releases_give_every_student_the_english_scores(graded_catalogue_en, graded_catalogue_zh):
    en, en_points = graded_catalogue_en.scores, graded_catalogue_en.points
    zh, zh_points = graded_catalogue_zh.scores, graded_catalogue_zh.points
    assert zh_points == en_points
    for a in course.ASSIGNMENTS:
        assert set(zh[a]) == set(en[a]) == {s.student for s in cat.catalogue() if s.assignment == a}, a
        differ = {s: (en[a][s], zh[a][s]) for s in en[a] if zh[a][s] != en[a][s]}
        assert not differ, (a, differ)


def test_a_chinese_diagnosis_in_the_feedback_uses_the_glossary(graded_catalogue_zh):
    """bug_b's hard-label cross-entropy at temperature T, as the feedback HTML shows it."""
    import yaml

    root = graded_catalogue_zh.root
    bug_b = next(s for s in cat.catalogue() if s.student == "bug_b" and s.assignment == "losses")
    text = _feedback(root, bug_b, "zh")
    assert "硬标签交叉熵是在温度 T 下计算的；它必须用原始 logit（T = 1）" in text
    assert "cross-entropy computed at temperature T" not in text
    glossary = {t["zh"] for t in yaml.safe_load((ROOT / "zh" / "glossary.yml").read_text(encoding="utf8"))}
    assert {"硬标签", "交叉熵", "温度", "logit"} <= glossary
