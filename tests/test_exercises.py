"""The committed exercises/ are exactly what ``nbgrader generate_assignment`` makes from solutions/,
carry no outputs, and leak no solution text (solution code, hidden tests, model answers)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from kdutils import course
from kdutils.course.translate import TRANSLATED

ROOT = Path(__file__).resolve().parents[1]
#: every released assignment: the English ones and their Chinese versions (issue 17, kdutils/course/translate.py)
RELEASES = tuple(sorted(course.ASSIGNMENTS + tuple(TRANSLATED)))


def _notebooks(folder: str) -> list[Path]:
    return sorted((ROOT / folder).glob("*/*.ipynb"))


def test_each_assignment_has_one_source_and_one_release():
    assert [p.relative_to(ROOT / "solutions") for p in _notebooks("solutions")] == \
        [Path(f"{a}/{a}.ipynb") for a in RELEASES]
    assert [p.relative_to(ROOT / "exercises") for p in _notebooks("exercises")] == \
        [Path(f"{a}/{a}.ipynb") for a in RELEASES]


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_no_outputs_committed(folder):
    for path in _notebooks(folder):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (path, cell.source[:60])


def _secret_lines(path: Path) -> list[str]:
    """Distinctive lines that only the source notebook may contain."""
    secrets = []
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("solution"):
            secrets += [l for l in cell.source.splitlines() if len(l.strip()) > 25]
            continue  # model answers: checked against the whole released notebook below
        for begin, end in (("### BEGIN SOLUTION", "### END SOLUTION"), ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")):
            for block in re.findall(re.escape(begin) + r"(.*?)" + re.escape(end), cell.source, flags=re.S):
                secrets += [l.strip() for l in block.splitlines() if len(l.strip()) > 20]
    return secrets


@pytest.mark.parametrize("assignment", RELEASES)
def test_no_solution_text_leaks_into_exercises(assignment):
    secrets = _secret_lines(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
    assert len(secrets) > 5
    released = (ROOT / "exercises" / assignment / f"{assignment}.ipynb").read_text()
    cells = nbformat.reads(released, as_version=4).cells
    code = "\n".join(c.source for c in cells if c.cell_type == "code")  # hints in markdown may name an API
    text = "\n".join(c.source for c in cells)
    leaked = [s for s in secrets if s in code]
    assert not leaked, leaked
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    answers = [c.source for c in nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4).cells
               if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")]
    assert answers and not any(a.strip()[:60] in text for a in answers)


@pytest.mark.slow
def test_committed_exercises_equal_a_fresh_generation(tmp_path):
    root = course.make_course(tmp_path / "course")
    course.generate(root)
    for a in RELEASES:
        fresh = nbformat.read(root / "exercises" / a / f"{a}.ipynb", as_version=4)
        committed = nbformat.read(ROOT / "exercises" / a / f"{a}.ipynb", as_version=4)
        assert course.normalized(fresh) == course.normalized(committed), \
            f"exercises/{a} differs from a fresh `nbgrader generate_assignment`: run `make exercises`"


@pytest.mark.parametrize("name", ["training", "training_zh"])
@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_training_notebook_states_the_graders_final_target(folder, name):
    """The final task's accuracy and epoch budget in the notebook text are the ones kd.grading enforces."""
    from kdutils.grading import FINAL_ACCURACY, FINAL_MAX_EPOCHS

    nb = nbformat.read(ROOT / folder / name / f"{name}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    if name.endswith("_zh"):
        assert f"在 **{FINAL_MAX_EPOCHS}** 轮之内达到 **{FINAL_ACCURACY}**" in text
    else:
        assert f"**{FINAL_ACCURACY}** within **{FINAL_MAX_EPOCHS}** epochs" in text
    stated = {float(x) for x in re.findall(r"\*\*(0\.\d+)\*\*", text)}
    assert stated == {FINAL_ACCURACY}, f"the notebook states other accuracy targets: {sorted(stated)}"


@pytest.mark.slow
def test_validate_from_the_assignment_folder_prints_no_config_warning(tmp_path):
    """A student runs `nbgrader validate losses.ipynb` in the released folder: no "No nbgrader_config.py" warning."""
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "losses"
    shutil.copytree(ROOT / "exercises" / "losses", folder)
    proc = subprocess.run([str(Path(sys.executable).with_name("nbgrader")), "validate", "losses.ipynb"],
                          cwd=folder, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert "VALIDATION FAILED" in out, out[-2000:]  # the blank release fails, as it should
    assert "No nbgrader_config.py" not in out, out[:2000]
