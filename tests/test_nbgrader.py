"""End-to-end grading with the real ``nbgrader`` command line, in a temporary course directory.

One course holds the whole submission catalogue (kdutils/course/catalogue.py); each
assignment is autograded with a single ``nbgrader autograde`` call to keep the run short.
The per-cell timeout is lowered to 30 s here (the course's own is 60 s) so that the student
whose cell loops forever costs 30 s, not a minute.
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

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = "--Execute.timeout=30"


LANGS = ("en", "zh")  # issue 17: the whole catalogue is graded against the Chinese releases too


def _release(assignment: str, lang: str) -> str:
    """The released assignment of ``lang``: ``losses`` or ``losses_zh``."""
    return assignment if lang == "en" else f"{assignment}_{lang}"


def _grade(tmp_path_factory, lang: str):
    """A course with every catalogue submission autograded and given feedback, in ``lang``'s releases."""
    root = course.make_course(tmp_path_factory.mktemp(f"course_{lang}"))
    for a in course.ASSIGNMENTS:
        course.nbgrader("generate_assignment", _release(a, lang), "--force", cwd=root)
    for sub in cat.catalogue():
        cat.write(cat.in_language(sub, lang), root)
    for a in course.ASSIGNMENTS:
        course.nbgrader("autograde", _release(a, lang), "--force", TIMEOUT, cwd=root)
        course.nbgrader("generate_feedback", _release(a, lang), "--force", cwd=root)
    # keyed by the English assignment, whatever the language
    scores = {a: course.read_scores(root, _release(a, lang)) for a in course.ASSIGNMENTS}
    points = {a: cat.max_points(root, _release(a, lang)) for a in course.ASSIGNMENTS}
    return root, scores, points, lang


@pytest.fixture(scope="module")
def graded_en(tmp_path_factory):
    return _grade(tmp_path_factory, "en")


@pytest.fixture(scope="module")
def graded_zh(tmp_path_factory):
    return _grade(tmp_path_factory, "zh")


@pytest.fixture(params=LANGS)
def graded(request):
    """``(course, scores, points, lang)``, once per language (each course is built once per module)."""
    return request.getfixturevalue(f"graded_{request.param}")


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


def test_forked_kernels_give_every_catalogue_student_the_stock_scores(graded_en, tmp_path):
    """``kdutils.course autograde`` (kernels forked from its zygote, one shared worker, 2 jobs): stock nbgrader's
    scores for every catalogue student, cell by cell."""
    root, scores, _, _ = graded_en
    new = course.make_course(tmp_path / "batch")
    for a in course.ASSIGNMENTS:
        course.nbgrader("generate_assignment", a, "--force", cwd=new)
    shutil.copytree(root / "submitted", new / "submitted")
    for a in course.ASSIGNMENTS:
        p = subprocess.run([sys.executable, "-m", "kdutils.course", "autograde", a, "--course", str(new), "--jobs", "2",
                            "--no-progress", f"--nbgrader-arg={TIMEOUT}"], capture_output=True, text=True)
        assert p.returncode in (0, 1), p.stdout + p.stderr
    assert {a: course.read_scores(new, a) for a in course.ASSIGNMENTS} == scores


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


def test_autograding_twice_gives_identical_scores(graded):
    root, scores, _, lang = graded
    students = ["bug_a", "tamper_objects"]
    for s in students:
        course.nbgrader("autograde", _release("losses", lang), "--force", f"--student={s}", TIMEOUT, cwd=root)
    again = course.read_scores(root, _release("losses", lang))
    for s in students:
        assert again[s] == scores["losses"][s], s


# ----- issue 17: the Chinese releases grade exactly like the English ones, and diagnose in Chinese ----------
def test_chinese_releases_give_every_student_the_english_scores(graded_en, graded_zh):
    _, en, en_points, _ = graded_en
    _, zh, zh_points, _ = graded_zh
    assert zh_points == en_points
    for a in course.ASSIGNMENTS:
        assert set(zh[a]) == set(en[a]) == {s.student for s in cat.catalogue() if s.assignment == a}, a
        differ = {s: (en[a][s], zh[a][s]) for s in en[a] if zh[a][s] != en[a][s]}
        assert not differ, (a, differ)


def test_a_chinese_diagnosis_in_the_feedback_uses_the_glossary(graded_zh):
    """bug_b's hard-label cross-entropy at temperature T, as the feedback HTML shows it."""
    import yaml

    root = graded_zh[0]
    bug_b = next(s for s in cat.catalogue() if s.student == "bug_b" and s.assignment == "losses")
    text = _feedback(root, bug_b, "zh")
    assert "硬标签交叉熵是在温度 T 下计算的；它必须用原始 logit（T = 1）" in text
    assert "cross-entropy computed at temperature T" not in text
    glossary = {t["zh"] for t in yaml.safe_load((ROOT / "zh" / "glossary.yml").read_text(encoding="utf8"))}
    assert {"硬标签", "交叉熵", "温度", "logit"} <= glossary
