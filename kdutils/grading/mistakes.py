"""Known mistakes: wrong variants of the losses and of the distillation loop, each keyed by its message id.

Runs in the grading worker only. A variant reproduces one mistake seen in the ``losses`` and
``training`` assignments (Hinton, Vinyals & Dean 2015, arXiv:1503.02531); the judge compares
an answer with each, in order, and names the first that reproduces it (``messages.MESSAGES[id]``).
Book chapter "For instructors".
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .protocol import build, decode
from .reference import load_reference

__all__ = ["softmax_variants", "soft_ce_variants", "kd_kl_variants", "distillation_variants", "LOOP_VARIANTS",
           "distill_reference", "FIT_VARIANTS", "fit_reference"]

ls, sm = F.log_softmax, F.softmax


def _bm(x):  # batchmean over leading dims
    return x.mean() if x.dim() > 0 else x


def _safe_log(q):
    return torch.log(q.clamp_min(1e-30))


def _kl(s, t, T, ts=None, tt=None, reduce=_bm):
    ts = T if ts is None else ts
    tt = T if tt is None else tt
    lq, lp = ls(s / ts, -1), ls(t / tt, -1)
    return reduce((lp.exp() * (lp - lq)).sum(-1))


def _ce(s, y, T=1.0):
    return F.cross_entropy(s / T, y)


def softmax_variants():
    return [
        ("softmax.wrong_dim", lambda z, T: torch.softmax(z / T, dim=0)),
        ("softmax.times_T", lambda z, T: torch.softmax(z * T, dim=-1)),
        ("softmax.no_T", lambda z, T: torch.softmax(z, dim=-1)),
        ("softmax.T_squared", lambda z, T: torch.softmax(z / T**2, dim=-1)),
        ("softmax.log_softmax", lambda z, T: torch.log_softmax(z / T, dim=-1)),
        ("softmax.not_normalised", lambda z, T: torch.exp(z / T)),
        ("softmax.normalised_globally", lambda z, T: torch.exp(z / T) / torch.exp(z / T).sum()),
    ]


def soft_ce_variants():
    return [
        ("sce.swapped", lambda q, p: _bm(-(q * _safe_log(p)).sum(-1))),
        ("sce.xlogy_swapped", lambda q, p: _bm(-torch.xlogy(q, p).sum(-1))),  # inf where p = 0 < q
        ("sce.negative", lambda q, p: _bm((p * _safe_log(q)).sum(-1))),
        ("sce.log10", lambda q, p: _bm(-(p * _safe_log(q) / math.log(10)).sum(-1))),
        ("sce.log2", lambda q, p: _bm(-(p * _safe_log(q) / math.log(2)).sum(-1))),
        ("sce.batch_sum", lambda q, p: -(p * _safe_log(q)).sum()),
        ("sce.mean_over_classes", lambda q, p: -(p * _safe_log(q)).mean()),
        ("sce.kl", lambda q, p: _bm((torch.xlogy(p, p) - p * _safe_log(q)).sum(-1))),
        ("sce.softmax_of_probs", lambda q, p: _bm(-(sm(p, -1) * ls(q, -1)).sum(-1))),
        ("sce.softmax_of_probs", lambda q, p: _bm(-(p * ls(q, -1)).sum(-1))),
        # F.cross_entropy(log q, p) takes log_softmax of log q: the right value, but the gradient of a second softmax
        ("sce.cross_entropy_of_log", lambda q, p: F.cross_entropy(torch.log(q).reshape(-1, q.shape[-1]),
                                                                  p.reshape(-1, p.shape[-1]))),
    ]


def kd_kl_variants():
    return [
        ("kd.no_T2", lambda s, t, T: _kl(s, t, T)),
        ("kd.times_T", lambda s, t, T: T * _kl(s, t, T)),
        ("kd.mean", lambda s, t, T: T * T * _kl(s, t, T, reduce=lambda x: x.mean() / 1.0) / s.shape[-1]),
        ("kd.batch_sum", lambda s, t, T: T * T * _kl(s, t, T, reduce=lambda x: x.sum())),
        ("kd.one_d", lambda s, t, T: T * T * _kl(s, t, T) / (s.shape[-1] if s.dim() == 1 else 1)),
        ("kd.reversed", lambda s, t, T: T * T * _kl(t, s, T)),
        ("kd.T_student_only", lambda s, t, T: T * T * _kl(s, t, T, tt=1.0)),
        ("kd.T_teacher_only", lambda s, t, T: T * T * _kl(s, t, T, ts=1.0)),
        ("kd.no_T", lambda s, t, T: T * T * _kl(s, t, 1.0)),
        ("kd.kl_div_probs", lambda s, t, T: T * T * _bm((sm(t / T, -1) * (ls(t / T, -1) - sm(s / T, -1))).sum(-1))),
        ("kd.kl_div_args",
         lambda s, t, T: T * T * _bm((ls(t / T, -1).exp() * (ls(t / T, -1) - ls(s / T, -1).exp())).sum(-1))),
        ("kd.cross_entropy", lambda s, t, T: T * T * _bm(-(sm(t / T, -1) * ls(s / T, -1)).sum(-1))),
        ("kd.wrong_dim", lambda s, t, T: T * T * _bm((sm(t / T, 0) * (ls(t / T, 0) - ls(s / T, 0))).sum(-1))),
    ]


def distillation_variants():
    kd = load_reference().losses.kd_kl_loss
    return [
        ("dl.alpha_swapped", lambda s, t, y, T, a: (1 - a) * kd(s, t, T) + a * _ce(s, y)),
        ("dl.ce_at_T", lambda s, t, y, T, a: a * kd(s, t, T) + (1 - a) * _ce(s, y, T)),
        ("dl.ce_times_T2", lambda s, t, y, T, a: a * kd(s, t, T) + (1 - a) * T * T * _ce(s, y)),
        ("dl.no_T2", lambda s, t, y, T, a: a * kd(s, t, T) / (T * T) + (1 - a) * _ce(s, y)),
        ("dl.no_hard", lambda s, t, y, T, a: a * kd(s, t, T)),
        ("dl.no_soft", lambda s, t, y, T, a: (1 - a) * _ce(s, y)),
        ("dl.unweighted", lambda s, t, y, T, a: kd(s, t, T) + _ce(s, y)),
        ("dl.teacher_labels", lambda s, t, y, T, a: a * kd(s, t, T) + (1 - a) * _ce(s, t.argmax(-1))),
        # the soft term as a cross-entropy against the teacher's argmax (a hard label), with or without T and T²
        ("dl.teacher_argmax", lambda s, t, y, T, a: a * T * T * _ce(s, t.argmax(-1), T) + (1 - a) * _ce(s, y)),
        ("dl.teacher_argmax", lambda s, t, y, T, a: a * _ce(s, t.argmax(-1), T) + (1 - a) * _ce(s, y)),
        ("dl.teacher_argmax", lambda s, t, y, T, a: a * _ce(s, t.argmax(-1)) + (1 - a) * _ce(s, y)),
        ("dl.teacher_argmax", lambda s, t, y, T, a: a * T * T * _ce(s, t.argmax(-1)) + (1 - a) * _ce(s, y)),
        ("dl.reversed", lambda s, t, y, T, a: a * kd(t, s, T) + (1 - a) * _ce(s, y)),
    ]


# ----- the distillation loop ------------------------------------------------------------------------
def _loop_loss(kd, variant):
    """The batch loss ``f(s, t, y, T, alpha)`` of the reference loop, or of one known mistake."""
    return {
        "correct": lambda s, t, y, T, a: kd.distillation_loss(s, t, y, T, a),
        "no_zero_grad": lambda s, t, y, T, a: kd.distillation_loss(s, t, y, T, a),
        "alpha_swapped": lambda s, t, y, T, a: kd.distillation_loss(s, t, y, T, 1 - a),
        "ce_at_T": lambda s, t, y, T, a: a * kd.kd_kl_loss(s, t, T) + (1 - a) * F.cross_entropy(s / T, y),
        "no_T2": lambda s, t, y, T, a: a * kd.kd_kl_loss(s, t, T) / T**2 + (1 - a) * F.cross_entropy(s, y),
        "kl_only": lambda s, t, y, T, a: kd.kd_kl_loss(s, t, T),
        "ce_only": lambda s, t, y, T, a: F.cross_entropy(s, y),
    }[variant]


#: The loop's known mistakes, in the order they are tried; each is ``loop.<name>`` in the messages.
LOOP_VARIANTS = ("no_zero_grad", "alpha_swapped", "ce_at_T", "no_T2", "kl_only", "ce_only")


def distill_reference(setup: dict, variant: str = "correct"):
    """The reference epoch (or one known mistake), from the same weights; returns (losses, student weights)."""
    kd = load_reference().losses
    loss_fn = _loop_loss(kd, variant)
    teacher = build(setup["teacher_spec"], setup["teacher_state"], seed=0)
    student = build(setup["student_spec"], setup["student_state"], seed=0)
    X, y = decode(setup["X"]), decode(setup["y"])
    T, alpha, bs = setup["T"], setup["alpha"], setup["batch_size"]
    opt = torch.optim.SGD(student.parameters(), lr=setup["lr"])
    teacher.eval()
    student.train()
    losses = []
    for i in range(0, len(X), bs):
        xb, yb = X[i:i + bs], y[i:i + bs]
        with torch.no_grad():
            t = teacher(xb)
        loss = loss_fn(student(xb), t, yb, T, alpha)
        if variant != "no_zero_grad":
            opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().tolist() for p in student.parameters()]


# ----- fit_soft_targets ------------------------------------------------------------------------------
#: fit_soft_targets' known mistakes, in the order they are tried; each is ``fit.<name>`` in the messages.
FIT_VARIANTS = ("no_zero_grad", "kl_div_probs")


def fit_reference(setup: dict, variant: str = "correct") -> list:
    """The weights after the notebook's hinted loop (SGD at ``lr``, ``steps`` steps of KL), or one known mistake:
    ``no_zero_grad`` (the gradients add up), ``kl_div_probs`` (F.kl_div given probabilities, not log-probabilities)."""
    m = build(setup["student_spec"], setup["student_state"], seed=0)
    X, P = decode(setup["inputs"]), decode(setup["teacher_probs"])
    opt = torch.optim.SGD(m.parameters(), lr=setup["lr"])
    for _ in range(setup["steps"]):
        if variant != "no_zero_grad":
            opt.zero_grad()
        logits = m(X)
        q = sm(logits, -1) if variant == "kl_div_probs" else ls(logits, -1)
        F.kl_div(q, P, reduction="batchmean").backward()
        opt.step()
    return [p.detach().tolist() for p in m.parameters()]
