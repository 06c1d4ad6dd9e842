"""Known mistakes: the reference and its wrong variants (losses, distillation loop) used to name a student's error.

Runs in the grading worker only. A variant reproduces one mistake seen in the
``losses`` and ``training`` assignments (Hinton, Vinyals & Dean 2015, arXiv:1503.02531);
the judge compares the answer with each (book chapter "For instructors").
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .cases import _dec, _seeded_state
from .reference import _load_reference


# ----- reference and known-mistake variants of the losses ------------------------------
def _variants(check: str):
    """(reference, [(message, variant), ...]) for one loss; a variant reproduces one known mistake."""
    ref = _load_reference().losses
    F = torch.nn.functional
    ls, sm = F.log_softmax, F.softmax

    def bm(x):  # batchmean over leading dims
        return x.mean() if x.dim() > 0 else x

    if check == "softmax_with_temperature":
        r = ref.softmax_with_temperature
        return r, [
            ("softmax over the wrong dimension: normalise each row over the classes, use dim=-1",
             lambda z, T: torch.softmax(z / T, dim=0)),
            ("the logits were multiplied by T; divide them by T (logits / T)",
             lambda z, T: torch.softmax(z * T, dim=-1)),
            ("the temperature T is ignored: divide the logits by T before the softmax",
             lambda z, T: torch.softmax(z, dim=-1)),
            ("the logits were divided by T² instead of T", lambda z, T: torch.softmax(z / T**2, dim=-1)),
            ("returned log-probabilities (log_softmax); return probabilities",
             lambda z, T: torch.log_softmax(z / T, dim=-1)),
            ("the outputs are not normalised: divide exp(z/T) by its sum over the classes (rows must sum to 1)",
             lambda z, T: torch.exp(z / T)),
            ("normalised over the whole tensor, not per row: sum over the last dimension only (dim=-1, keepdim=True)",
             lambda z, T: torch.exp(z / T) / torch.exp(z / T).sum()),
        ]
    if check == "soft_cross_entropy":
        r = ref.soft_cross_entropy

        def safe_log(q):
            return torch.log(q.clamp_min(1e-30))
        return r, [
            ("arguments swapped: the teacher's p weights the log of the student's q, -sum(p * log q), "
             "and the student comes first: soft_cross_entropy(student_probs, teacher_probs)",
             lambda q, p: bm(-(q * safe_log(p)).sum(-1))),
            ("negative loss: missing minus sign, cross-entropy is -sum(p * log q)",
             lambda q, p: bm((p * safe_log(q)).sum(-1))),
            ("wrong logarithm base (log10): use the natural log, torch.log, which gives nats",
             lambda q, p: bm(-(p * safe_log(q) / math.log(10)).sum(-1))),
            ("wrong logarithm base (log2): use the natural log, torch.log, which gives nats",
             lambda q, p: bm(-(p * safe_log(q) / math.log(2)).sum(-1))),
            ("summed over the batch: average over the rows (batch mean), don't sum",
             lambda q, p: -(p * safe_log(q)).sum()),
            ("off by a factor of C: you averaged over rows *and* classes; sum over classes, then average over the batch",
             lambda q, p: -(p * safe_log(q)).mean()),
            ("you computed KL(p || q), which is the cross-entropy minus the teacher's entropy; "
             "the cross-entropy is -sum(p * log q)",
             lambda q, p: bm((torch.xlogy(p, p) - p * safe_log(q)).sum(-1))),
            ("a softmax was applied to inputs that are already probabilities; use them as they are",
             lambda q, p: bm(-(sm(p, -1) * ls(q, -1)).sum(-1))),
            ("a softmax was applied to inputs that are already probabilities; use them as they are",
             lambda q, p: bm(-(p * ls(q, -1)).sum(-1))),
        ]
    if check == "kd_kl_loss":
        r = ref.kd_kl_loss

        def kl(s, t, T, ts=None, tt=None, reduce=bm):
            ts = T if ts is None else ts
            tt = T if tt is None else tt
            lq, lp = ls(s / ts, -1), ls(t / tt, -1)
            return reduce((lp.exp() * (lp - lq)).sum(-1))
        return r, [
            ("off by exactly T² = {T2:g}: multiply the KL term by T**2", lambda s, t, T: kl(s, t, T)),
            ("off by a factor of T = {T:g}: the KL term is scaled by T**2, not T", lambda s, t, T: T * kl(s, t, T)),
            ("off by a factor of C = {C}: use reduction='batchmean', not 'mean' (sum over classes, average over rows)",
             lambda s, t, T: T * T * kl(s, t, T, reduce=lambda x: x.mean() / 1.0) / s.shape[-1]),
            ("summed over the batch (off by N = {N}): use reduction='batchmean'",
             lambda s, t, T: T * T * kl(s, t, T, reduce=lambda x: x.sum())),
            ("a 1-D input (C,) is one example: F.kl_div's 'batchmean' divides by input.size(0) = C = {C}; "
             "treat a 1-D input as a batch of one (unsqueeze(0))",
             lambda s, t, T: T * T * kl(s, t, T) / (s.shape[-1] if s.dim() == 1 else 1)),
            ("KL direction reversed: the loss is KL(teacher || student), with the teacher's probabilities as the target",
             lambda s, t, T: T * T * kl(t, s, T)),
            ("temperature applied to the student's logits only: divide both logits by T",
             lambda s, t, T: T * T * kl(s, t, T, tt=1.0)),
            ("temperature applied to the teacher's logits only: divide both logits by T",
             lambda s, t, T: T * T * kl(s, t, T, ts=1.0)),
            ("the temperature is ignored inside the softmax: divide both logits by T",
             lambda s, t, T: T * T * kl(s, t, 1.0)),
            ("negative loss: F.kl_div expects log-probabilities as its first argument (use log_softmax, not softmax)",
             lambda s, t, T: T * T * bm((sm(t / T, -1) * (ls(t / T, -1) - sm(s / T, -1))).sum(-1))),
            ("F.kl_div expects log-probabilities as its first argument and probabilities as its target "
             "(or log-probabilities with log_target=True)",
             lambda s, t, T: T * T * bm((ls(t / T, -1).exp() * (ls(t / T, -1) - ls(s / T, -1).exp())).sum(-1))),
            ("you computed the cross-entropy H(p, q) = KL + the teacher's entropy; use the KL divergence",
             lambda s, t, T: T * T * bm(-(sm(t / T, -1) * ls(s / T, -1)).sum(-1))),
            ("softmax over the wrong dimension: use dim=-1 (the classes)",
             lambda s, t, T: T * T * bm((sm(t / T, 0) * (ls(t / T, 0) - ls(s / T, 0))).sum(-1))),
        ]
    if check == "distillation_loss":
        r = ref.distillation_loss

        def ce(s, y, T=1.0):
            return F.cross_entropy(s / T, y)
        kd = ref.kd_kl_loss
        return r, [
            ("alpha swapped: alpha weights the soft (teacher) term and 1 - alpha the hard-label term",
             lambda s, t, y, T, a: (1 - a) * kd(s, t, T) + a * ce(s, y)),
            ("hard-label cross-entropy computed at temperature T; it must use the raw logits (T = 1)",
             lambda s, t, y, T, a: a * kd(s, t, T) + (1 - a) * ce(s, y, T)),
            ("hard-label cross-entropy scaled by T²; only the soft term gets T**2",
             lambda s, t, y, T, a: a * kd(s, t, T) + (1 - a) * T * T * ce(s, y)),
            ("soft term not scaled: off by exactly T² = {T2:g} in the KL term; multiply it by T**2",
             lambda s, t, y, T, a: a * kd(s, t, T) / (T * T) + (1 - a) * ce(s, y)),
            ("hard-label term missing: add (1 - alpha) * cross_entropy(student_logits, labels)",
             lambda s, t, y, T, a: a * kd(s, t, T)),
            ("soft term missing: add alpha * kd_kl_loss(student_logits, teacher_logits, T)",
             lambda s, t, y, T, a: (1 - a) * ce(s, y)),
            ("the terms are not weighted: use alpha * soft + (1 - alpha) * hard",
             lambda s, t, y, T, a: kd(s, t, T) + ce(s, y)),
            ("the hard term uses the teacher's argmax instead of the true labels",
             lambda s, t, y, T, a: a * kd(s, t, T) + (1 - a) * ce(s, t.argmax(-1))),
            ("KL direction reversed in the soft term: the loss is KL(teacher || student)",
             lambda s, t, y, T, a: a * kd(t, s, T) + (1 - a) * ce(s, y)),
        ]
    raise ValueError(f"unknown check {check!r}")


def _distill_reference(setup: dict, variant: str = "correct"):
    """The reference epoch (or one known mistake), from the same weights; returns (losses, student weights)."""
    kd = _load_reference().losses
    F = torch.nn.functional
    teacher, _ = _seeded_state(setup["teacher_spec"], 0)
    student, _ = _seeded_state(setup["student_spec"], 0)
    for m, st in ((teacher, setup["teacher_state"]), (student, setup["student_state"])):
        with torch.no_grad():
            for p, v in zip(m.parameters(), st):
                p.copy_(torch.tensor(v))
    X, y = _dec(setup["X"]), _dec(setup["y"])
    T, alpha, bs = setup["T"], setup["alpha"], setup["batch_size"]
    opt = torch.optim.SGD(student.parameters(), lr=setup["lr"])
    teacher.eval()
    student.train()
    losses = []
    for i in range(0, len(X), bs):
        xb, yb = X[i:i + bs], y[i:i + bs]
        with torch.no_grad():
            t = teacher(xb)
        s = student(xb)
        if variant == "alpha_swapped":
            loss = kd.distillation_loss(s, t, yb, T, 1 - alpha)
        elif variant == "ce_at_T":
            loss = alpha * kd.kd_kl_loss(s, t, T) + (1 - alpha) * F.cross_entropy(s / T, yb)
        elif variant == "no_T2":
            loss = alpha * kd.kd_kl_loss(s, t, T) / T**2 + (1 - alpha) * F.cross_entropy(s, yb)
        elif variant == "kl_only":
            loss = kd.kd_kl_loss(s, t, T)
        elif variant == "ce_only":
            loss = F.cross_entropy(s, yb)
        else:
            loss = kd.distillation_loss(s, t, yb, T, alpha)
        if variant != "no_zero_grad":
            opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().tolist() for p in student.parameters()]


_LOOP_VARIANTS = [
    ("no_zero_grad", "gradients accumulate across batches: call optimizer.zero_grad() before loss.backward() in every batch"),
    ("alpha_swapped", "alpha swapped: alpha weights the soft (teacher) term and 1 - alpha the hard-label term"),
    ("ce_at_T", "hard-label cross-entropy computed at temperature T; it must use the raw logits (T = 1)"),
    ("no_T2", "the soft term is missing its T² factor; use kd.losses.distillation_loss"),
    ("kl_only", "only the soft term is used: the loss is kd.losses.distillation_loss(..., T, alpha), with the labels"),
    ("ce_only", "only the hard-label cross-entropy is used: the loss is kd.losses.distillation_loss(..., T, alpha)"),
]
