"""benchmarks/final_task.py: the final task's bar lies between labels alone and distillation.

A reduced run (2 seeds, the strongest label-only student of the full grid) of the measurement
that ``make bench`` reports as ``grading.final_task`` over 5 seeds and the whole grid.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import final_task  # noqa: E402  (benchmarks/final_task.py)

from kdutils.grading import FINAL_ACCURACY, FINAL_MAX_EPOCHS  # noqa: E402


@pytest.mark.slow
def test_labels_alone_stay_below_the_bar_and_distillation_clears_it():
    r = final_task.measure(seeds=range(2), hidden=(32,), lrs=(1e-2,))
    assert r["threshold"] == FINAL_ACCURACY and r["scratch_max_epochs"] == FINAL_MAX_EPOCHS
    assert len(r["kd_per_seed"]) == len(r["scratch_per_seed"]) == 2
    assert r["scratch_max"] == max(r["scratch_per_seed"]) and r["kd_min"] == min(r["kd_per_seed"])
    assert r["scratch_max"] < FINAL_ACCURACY <= r["kd_min"], r
    assert r["separated"] and r["kd_epochs"] <= FINAL_MAX_EPOCHS
    assert r["transfer_set_size"] == 100


@pytest.mark.slow
def test_a_notebook_whose_transfer_set_is_not_the_graders_is_refused(tmp_path):
    nb = nbformat.read(final_task.NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "final_teacher")
    assert "per_class=10, seed=0" in cell.source
    cell.source = cell.source.replace("per_class=10, seed=0", "per_class=10, seed=3")
    path = tmp_path / "training.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(AssertionError, match="not the one the grader uses"):
        final_task.measure(seeds=range(1), hidden=(16,), lrs=(1e-2,), path=path)


def test_missing_cells_are_named(tmp_path):
    nb = nbformat.read(final_task.NOTEBOOK, as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "final_teacher"]
    path = tmp_path / "training.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="final_teacher"):
        final_task.notebook_namespace(path)
    with pytest.raises(ValueError, match="seeds must not be empty"):
        final_task.measure(seeds=[])
