"""The training assignment's final task, measured: labels alone against distillation, over seeds.

The final task of ``solutions/training`` (section 4) is the regime of the book's chapter
"Experiments that matter" (Hinton, Vinyals & Dean 2015, §6): a teacher trained on the whole
digits training split, and a small student that sees only ``FINAL_PER_CLASS`` labelled images
per class (the transfer set). Its target, ``kdutils.grading.FINAL_ACCURACY``, must lie between

* ``scratch_max``: the best test accuracy that training on those labels *alone* reaches. It is
  a generous upper bound: the best seed, of the best of a small grid of students (hidden units
  up to ``FINAL_MAX_HIDDEN``, three Adam learning rates), at the best of every 10th epoch up to
  ``FINAL_MAX_EPOCHS``, i.e. checkpoints chosen on the test set itself;
* ``kd_min``: the worst seed of the notebook's model answer (its ``distil_student`` with its
  ``distill_one_epoch``), run exactly as the grader runs it: ``torch.manual_seed(seed)`` and a
  loader over the transfer set shuffled by a generator seeded with ``seed``.

The teacher and the transfer set come from the notebook's own locked cell, executed here from
``solutions/training/training.ipynb``, so the numbers are those of the graded task. The lead
wires ``measure()`` into ``make bench`` as ``grading.final_task``.

    python benchmarks/final_task.py            # 5 seeds, prints the JSON
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

import nbformat
import torch
import torch.nn.functional as F

import kdutils as kd
from kdutils.grading import rules

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "solutions" / "training" / "training.ipynb"
#: Cells of the notebook executed here: the model answer's functions and the locked teacher cell.
CELLS = ("distill_one_epoch", "evaluate_accuracy", "final_teacher", "final_student")
SCRATCH_HIDDEN = (16, 32)
SCRATCH_LRS = (3e-3, 1e-2, 3e-2)
CHECK_EVERY = 10


def _source(cell) -> str:
    return "\n".join(l for l in cell.source.splitlines() if l.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def notebook_namespace(path: Path = NOTEBOOK) -> dict:
    """Run the notebook's model answer and final-task setup cells; return their namespace.

    Holds ``teacher``, ``X_small``/``y_small`` (the transfer set), ``test_loader``, ``distil_student``
    and ``EPOCHS`` of the model answer. The first cell (which starts the grading worker) is replaced
    by the imports it makes.
    """
    nb = nbformat.read(path, as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    missing = [c for c in CELLS if c not in cells]
    if missing:
        raise ValueError(f"the training notebook has no cells {missing} (grade ids); got {sorted(k for k in cells if k)}")
    ns: dict = {"torch": torch, "F": F, "nn": torch.nn, "kd": kd}
    for gid in CELLS:
        exec(compile(_source(cells[gid]), f"{path.name}:{gid}", "exec"), ns)  # noqa: S102 (our own notebook)
    return ns


def grader_loader(X: torch.Tensor, y: torch.Tensor, seed: int) -> torch.utils.data.DataLoader:
    """The loader the grader hands to ``distil_student``: shuffled by a generator seeded with ``seed``."""
    return kd.data.make_loader(X, y, batch_size=rules.FINAL_BATCH_SIZE, shuffle=True, seed=seed)


def accuracy(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(X).argmax(-1) == y).float().mean().item()


def scratch_curve(X, y, X_test, y_test, seed: int, hidden: int, lr: float, epochs: int) -> list[float]:
    """Test accuracy every ``CHECK_EVERY`` epochs of a student trained with cross-entropy on the labels alone."""
    torch.manual_seed(seed)
    student = kd.models.build_model(kd.models.student_config(hidden=hidden))
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    loader = grader_loader(X, y, seed)
    curve = []
    for epoch in range(1, epochs + 1):
        student.train()
        for xb, yb in loader:
            loss = F.cross_entropy(student(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % CHECK_EVERY == 0 or epoch == epochs:
            curve.append(accuracy(student, X_test, y_test))
    return curve


def measure(seeds: Iterable[int] = range(5), hidden: Sequence[int] = SCRATCH_HIDDEN,
            lrs: Sequence[float] = SCRATCH_LRS, path: Path = NOTEBOOK) -> dict:
    """Labels alone vs the model answer's distillation on the final task; see the module docstring."""
    seeds = list(seeds)
    if len(seeds) < 1:
        raise ValueError(f"seeds must not be empty, got seeds={seeds!r}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the notebook does
    try:
        return _measure(seeds, hidden, lrs, path)
    finally:
        torch.set_num_threads(threads)


def _measure(seeds: list[int], hidden: Sequence[int], lrs: Sequence[float], path: Path) -> dict:
    t0 = time.perf_counter()
    ns = notebook_namespace(path)
    setup_s = time.perf_counter() - t0
    teacher, X, y, epochs = ns["teacher"], ns["X_small"], ns["y_small"], ns["EPOCHS"]
    splits = kd.data.load_splits("digits")
    grader_X, grader_y = kd.data.transfer_subset(splits.X_train, splits.y_train, per_class=rules.FINAL_PER_CLASS,
                                                 seed=rules.FINAL_SUBSET_SEED)
    if not (torch.equal(grader_X, X) and torch.equal(grader_y, y)):
        raise AssertionError("the notebook's transfer set (X_small, y_small) is not the one the grader uses "
                             "(kdutils.grading.rules.FINAL_PER_CLASS / FINAL_SUBSET_SEED)")
    X_test, y_test = splits.X_test, splits.y_test
    kd_acc, kd_s = [], []
    for seed in seeds:
        torch.manual_seed(seed)
        t = time.perf_counter()
        student = ns["distil_student"](teacher, grader_loader(X, y, seed), epochs)
        kd_s.append(time.perf_counter() - t)
        kd_acc.append(accuracy(student, X_test, y_test))
    grid = {}
    for h in hidden:
        for lr in lrs:
            curves = [scratch_curve(X, y, X_test, y_test, seed, h, lr, rules.FINAL_MAX_EPOCHS) for seed in seeds]
            grid[f"hidden={h},lr={lr:g}"] = [max(c) for c in curves]
    best = max(grid, key=lambda k: max(grid[k]))
    scratch_max, kd_min = max(grid[best]), min(kd_acc)
    return {
        "threshold": rules.FINAL_ACCURACY,
        "scratch_max": scratch_max,
        "kd_min": kd_min,
        "margin_below": rules.FINAL_ACCURACY - scratch_max,
        "margin_above": kd_min - rules.FINAL_ACCURACY,
        "separated": scratch_max < rules.FINAL_ACCURACY <= kd_min,
        "seeds": seeds,
        "kd_per_seed": kd_acc,
        "kd_epochs": epochs,
        "kd_train_s_median": statistics.median(kd_s),
        "scratch_best_config": best,
        "scratch_per_seed": grid[best],
        "scratch_grid_best_per_seed": grid,
        "scratch_max_epochs": rules.FINAL_MAX_EPOCHS,
        "teacher_acc": accuracy(teacher, X_test, y_test),
        "transfer_set_size": len(y),
        "notebook_setup_s": setup_s,
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(json.dumps(measure(range(n)), indent=1))
