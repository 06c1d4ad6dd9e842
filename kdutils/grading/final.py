"""The training assignment's final task, worker side: the transfer set it is trained on, and the verdict.

The task (``solutions/training``, section 4) is the regime of the book's chapter "Experiments
that matter" (Hinton, Vinyals & Dean 2015, §6, soft targets as regularisers): the teacher was
trained on the whole digits training split, the student sees only ``FINAL_PER_CLASS`` labelled
images per class. Labels alone do not reach ``FINAL_ACCURACY`` there; distillation does
(``benchmarks/final_task.py`` measures both over seeds).

The kernel side (``kdutils.grading.check_final_student``) runs the student's own
``distil_student`` under the grader's seed, on the transfer set made here, and records how many
times the student's ``distill_one_epoch`` ran and whether a training loop of ``kdutils.train``
was called. This module judges that record and measures the trained student's test accuracy.
Runs in the grading worker only.
"""
from __future__ import annotations

import torch

from .cases import _enc
from .reference import _lazy, _load_reference
from .rules import (FINAL_ACCURACY, FINAL_BATCH_SIZE, FINAL_MAX_EPOCHS, FINAL_MAX_HIDDEN, FINAL_PER_CLASS,
                    FINAL_SEED, FINAL_SUBSET_SEED)


def _transfer_set():
    """The student's labelled transfer set: ``FINAL_PER_CLASS`` digits training images per class."""
    data = _lazy(_load_reference(), "data")
    splits = data.load_splits("digits")
    X, y = data.transfer_subset(splits.X_train, splits.y_train, per_class=FINAL_PER_CLASS, seed=FINAL_SUBSET_SEED)
    return splits, X, y


def _setup_final() -> dict:
    """What the kernel needs to run the student's ``distil_student``: the transfer set, batch size and seed."""
    _, X, y = _transfer_set()
    return {"X": _enc(X), "y": _enc(y), "batch_size": FINAL_BATCH_SIZE, "seed": FINAL_SEED}


def _judge_final(res: dict) -> dict:
    """Verdict on the grader's run of ``distil_student`` (see the module docstring)."""
    epochs = res["epochs"]
    if epochs > FINAL_MAX_EPOCHS:
        return {"ok": False, "message": f"EPOCHS = {epochs}: reach the target within {FINAL_MAX_EPOCHS} epochs"}
    if "error" in res:
        return {"ok": False, "message": f"distil_student {res['error']}"}
    if res.get("library"):
        name = res["library"][0]
        return {"ok": False, "message": (
            f"distil_student calls kd.train.{name}: train with your own distill_one_epoch, once per epoch. "
            "The grader runs distil_student itself and counts the calls to your distill_one_epoch.")}
    if "returned" in res:
        return {"ok": False, "message": f"distil_student returned a {res['returned']}; return the trained student"}
    shapes = [tuple(s) for _, s, _ in res["params"]]
    if len(shapes) != 4 or shapes[0][1:] != (64,) or shapes[-2][0] != 10:
        return {"ok": False, "message": ("the student must be kd.models.build_model(kd.models.student_config(hidden=...)), "
                                         f"a one-hidden-layer MLP on 64 pixels; got parameter shapes {shapes}")}
    hidden = shapes[0][0]
    if hidden > FINAL_MAX_HIDDEN:
        return {"ok": False, "message": f"the student's hidden layer has {hidden} units; at most {FINAL_MAX_HIDDEN} are allowed"}
    models = _lazy(_load_reference(), "models")
    splits, X, _ = _transfer_set()
    m = models.build_model(models.student_config(hidden=hidden))
    with torch.no_grad():
        for p, (_, s, v) in zip(m.parameters(), res["params"]):
            p.copy_(torch.tensor(v))
        m.eval()
        acc = (m(splits.X_test).argmax(-1) == splits.y_test).float().mean().item()
    calls = res["epoch_calls"]
    if calls == 0:
        return {"ok": False, "message": (
            f"distil_student never called your distill_one_epoch (test accuracy {acc:.4f}). Trained on the "
            f"{len(X)} labels alone, a student stays below {FINAL_ACCURACY}: a label says only which digit an image "
            "is, the teacher's soft label also says how much it looks like each other digit. Distil the teacher.")}
    if calls != epochs:
        return {"ok": False, "message": (
            f"distil_student called your distill_one_epoch {calls} times for epochs={epochs}: call it once per epoch")}
    if acc < FINAL_ACCURACY:
        return {"ok": False, "message": (
            f"test accuracy {acc:.4f} is below the target {FINAL_ACCURACY} after {epochs} epochs: train longer "
            f"(up to {FINAL_MAX_EPOCHS} epochs), or check T, alpha and the learning rate")}
    return {"ok": True, "message": (
        f"test accuracy {acc:.4f} (target {FINAL_ACCURACY}) after {epochs} epochs of your distill_one_epoch")}
