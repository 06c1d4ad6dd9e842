"""Helpers for multi-seed experiments: summary statistics and what a teacher's soft labels say.

Used in "Softmax, temperature and dark knowledge", "Experiments that matter",
"Tuning the recipe" and by the benchmark (``make bench``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .losses import kd_kl_loss, softmax_with_temperature
from .train import predict_logits

__all__ = ["Summary", "summarize", "separated", "gap_recovered", "soft_label_matrix", "welch_t", "Fidelity", "fidelity"]


@dataclass
class Summary:
    """Mean, sample standard deviation and count of a list of values (e.g. accuracies over seeds)."""

    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.std:.4f} (n={self.n})"


def summarize(values: Sequence[float]) -> Summary:
    """Mean ± sample standard deviation (``ddof=1``) of ``values``."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        raise ValueError("values must not be empty, got values=[]")
    return Summary(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size))


def separated(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when the mean ± std intervals of ``a`` and ``b`` do not overlap, with ``a`` above ``b``.

    The book's bar for "distillation clearly beats the student trained alone".
    """
    sa, sb = summarize(a), summarize(b)
    return sa.mean - sa.std > sb.mean + sb.std


def gap_recovered(err_scratch: float, err_kd: float, err_teacher: float) -> float:
    """Fraction of the teacher-to-scratch error gap that distillation closes.

    ``(err_scratch - err_kd) / (err_scratch - err_teacher)``: 1 means the
    student matches the teacher, 0 means no gain, negative means KD hurt.
    Hinton et al. (2015) report 146 -> 74 errors against a teacher's 67 on
    MNIST, i.e. 0.91.
    """
    gap = err_scratch - err_teacher
    if gap == 0:
        raise ValueError(f"err_scratch and err_teacher must differ, got both={err_scratch!r}")
    return (err_scratch - err_kd) / gap


def welch_t(a: Sequence[float], b: Sequence[float]) -> float:
    """Welch's t statistic for mean(a) - mean(b) (unequal variances).

    ``scipy.stats.ttest_ind(a, b, equal_var=False).statistic``. When both
    samples are constant the statistic is undefined: it is ``±inf`` if the
    means differ and ``nan`` if they are equal. For the degrees of freedom,
    p-value and critical value use ``kdutils.book.welch``.
    """
    from scipy import stats

    a, b = np.asarray(list(a), float), np.asarray(list(b), float)
    if a.size < 2 or b.size < 2:
        raise ValueError(f"a and b need at least 2 values each, got len(a)={a.size}, len(b)={b.size}")
    if a.var(ddof=1) + b.var(ddof=1) == 0:  # scipy warns and returns nan; keep the sign of a real gap
        diff = a.mean() - b.mean()
        return float("inf") * float(np.sign(diff)) if diff != 0 else float("nan")
    return float(stats.ttest_ind(a, b, equal_var=False).statistic)


def soft_label_matrix(teacher: nn.Module, X: torch.Tensor, y: torch.Tensor, T: float = 4.0, num_classes: int = 10) -> np.ndarray:
    """``(C, C)`` matrix: row c is the teacher's mean ``softmax(logits / T)`` over examples of true class c.

    Off-diagonal mass is the "dark knowledge": which classes the teacher finds alike.
    """
    probs = softmax_with_temperature(predict_logits(teacher, X), T)  # (N, C)
    m = np.zeros((num_classes, num_classes))
    for c in range(num_classes):
        m[c] = probs[y == c].mean(dim=0).numpy()
    return m



@dataclass
class Fidelity:
    """How closely a student follows its teacher, beyond what accuracy alone implies.

    ``kl``: mean ``KL(teacher || student)`` of the softmax outputs at ``T``, in
    nats per example; ``teacher_errors``: how many examples the teacher gets
    wrong; ``copied_errors``: on how many of those the student predicts the
    teacher's *wrong* class. Top-1 agreement with an accurate teacher mostly
    follows from the student's own accuracy; these two do not.
    """

    kl: float
    teacher_errors: int
    copied_errors: int

    @property
    def copied_fraction(self) -> float:
        """``copied_errors / teacher_errors`` (NaN when the teacher makes no error)."""
        return self.copied_errors / self.teacher_errors if self.teacher_errors else float("nan")


def fidelity(student: nn.Module, teacher: nn.Module, X: torch.Tensor, y: torch.Tensor, T: float = 1.0) -> Fidelity:
    """``Fidelity`` of ``student`` to ``teacher`` on ``(X, y)`` (Stanton et al. 2021 measure both)."""
    s_logits, t_logits = predict_logits(student, X), predict_logits(teacher, X)  # (N, C) each
    kl = float(kd_kl_loss(s_logits, t_logits, T)) / T**2  # kd_kl_loss is T^2 * KL, batch mean
    t_pred, s_pred = t_logits.argmax(-1), s_logits.argmax(-1)
    wrong = t_pred != y
    return Fidelity(kl, int(wrong.sum()), int((s_pred[wrong] == t_pred[wrong]).sum()))
