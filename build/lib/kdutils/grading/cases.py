"""Seeded test inputs of every check: the loss cases and the tiny training setups, as JSON-ready dicts.

Runs in the grading worker only. The seed depends on the check, the part and, for a hidden
test, the course key (``keys.seed``: without a course secret the documented public default),
so a submission always gets the same score (assignments ``losses`` and
``training``; book chapter "For instructors"). The final task's setup is its transfer set
(``final_setup``). Each loss check has a table
``{part: make(g, hidden) -> [case, ...]}``; a case is ``{"args": [...], "grad": i, "weight": w}``
(``grad``: the index of the argument whose gradient is checked; ``weight``: the tensor the
output is weighted by before summing). The order of the random draws is part of the cases.
"""
from __future__ import annotations

import torch

from .keys import init_seed, seed
from .protocol import build, encode, parameters
from .reference import load_reference
from .rules import FINAL_BATCH_SIZE, FINAL_PER_CLASS, FINAL_SEED, FINAL_SUBSET_SEED

__all__ = ["generator", "loss_cases", "SOFTMAX_CASES", "SOFT_CE_CASES", "KD_KL_CASES", "DISTILLATION_CASES",
           "fit_setup", "distill_setup", "accuracy_setup", "final_transfer_set", "final_setup"]


def generator(check: str, part: str, hidden) -> torch.Generator:
    """The random draws of ``check``/``part``; ``hidden`` is False or the key (``keys.hidden_key``)."""
    return torch.Generator().manual_seed(seed(check, part, hidden))


def _logits(g, shape, scale=2.0):
    return torch.randn(*shape, generator=g) * scale


def _probs(g, shape, zeros=False):
    p = torch.softmax(torch.randn(*shape, generator=g) * 1.5, dim=-1)
    if zeros:
        mask = torch.rand(*shape, generator=g) < 0.3
        mask[..., 0] = False  # keep at least one class
        p = torch.where(mask, torch.zeros_like(p), p)
        p = p / p.sum(dim=-1, keepdim=True)
    return p


def _shapes(hidden: bool):
    return [(5, 10), (1, 3), (7,)] + ([(16, 4), (3, 7), (10,), (2, 2)] if hidden else [])


def _more(hidden: bool, visible: list, extra: list) -> list:
    return visible + (extra if hidden else [])


def case(*args, grad: int | None = None, weight: torch.Tensor | None = None) -> dict:
    """One case: tensors are encoded, numbers kept."""
    c = {"args": [encode(a) if isinstance(a, torch.Tensor) else a for a in args]}
    if grad is not None:
        c["grad"] = grad
    if weight is not None:
        c["weight"] = encode(weight)
    return c


# The source article's coding problem 1, and a small logits example used by the visible tests.
SOURCE_Q = [0.6, 0.3, 0.1]
SOURCE_P = [0.8, 0.1, 0.1]
EXAMPLE_S = [[1.5, 0.4, -0.8], [0.2, 1.1, 0.3]]
EXAMPLE_T = [[3.0, 1.0, -1.0], [0.5, 2.5, 0.0]]
T = torch.tensor


def _sm_gradient(g, shape, T_):
    z = _logits(g, shape)
    return case(z, T_, grad=0, weight=torch.randn(*shape, generator=g))


SOFTMAX_CASES = {
    "example": lambda g, h: [case(T([2.0, 1.0, 0.1]), 1.0), case(T([2.0, 1.0, 0.1]), 4.0)]
    + ([case(_logits(g, (C,)), 1.0) for C in (4, 10)] if h else []),
    "batch": lambda g, h: [case(_logits(g, s), 1.0) for s in _shapes(h)],
    "temperature": lambda g, h: [case(_logits(g, (4, 6), 3.0), t) for t in _more(h, [0.5, 2.0, 5.0], [1.5, 10.0, 20.0])],
    # The third row's maximum is far below the others': subtracting the whole tensor's maximum
    # (instead of each row's) underflows it to 0 / 0, as the hidden random rows do.
    "stable": lambda g, h: [case(T([[1e4, 0.0, -1e4], [-1e4, 1e4, 5e3], [3.0, 1.0, 0.0]]), 1.0)]
    + ([case(_logits(g, (3, 5), 5e3), 2.0), case(T([1000.0, 999.0, -1000.0]), 1.0)] if h else []),
    "gradient": lambda g, h: [_sm_gradient(g, s, t) for s, t in
                              _more(h, [((3, 4), 1.0), ((5,), 2.0)], [((6, 10), 4.0), ((2, 3), 0.5)])],
}


def _sce_zeros_hidden(g):
    p = _probs(g, (6, 5), zeros=True)
    q = torch.where(p == 0, torch.zeros_like(p), _probs(g, (6, 5)))
    return [case(q / q.sum(-1, keepdim=True), p), case(T([0.0, 1.0]), T([0.0, 1.0]))]


SOFT_CE_CASES = {
    "example": lambda g, h: [case(T(SOURCE_Q), T(SOURCE_P))]
    + ([case(_probs(g, (5,)), _probs(g, (5,))), case(T([SOURCE_Q, SOURCE_P]), T([SOURCE_P, SOURCE_P]))] if h else []),
    "batch": lambda g, h: [case(_probs(g, s), _probs(g, s)) for s in _shapes(h)],
    "zeros": lambda g, h: [case(T([[0.7, 0.3, 0.0], [0.5, 0.0, 0.5]]), T([[0.9, 0.1, 0.0], [1.0, 0.0, 0.0]])),
                           case(T([0.2, 0.8, 0.0]), T([0.0, 1.0, 0.0]))]
    + (_sce_zeros_hidden(g) if h else []),
    "gradient": lambda g, h: [case(_probs(g, s), _probs(g, s), grad=0) for s in _more(h, [(3, 4), (5,)], [(8, 10)])],
}

KD_KL_CASES = {
    "example": lambda g, h: [case(T(EXAMPLE_S), T(EXAMPLE_T), 4.0)]
    + ([case(_logits(g, (6, 10)), _logits(g, (6, 10)), 4.0)] if h else []),
    "batch": lambda g, h: [case(_logits(g, s), _logits(g, s), 1.0) for s in _shapes(h)],
    "temperature": lambda g, h: [case(_logits(g, (5, 10), 3.0), _logits(g, (5, 10), 3.0), t)
                                 for t in _more(h, [4.0, 2.0], [0.5, 3.0, 10.0])],
    "stable": lambda g, h: [case(T([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]]), T([[-1e4, 1e4, 0.0], [1e4, -1e4, 0.0]]), 1.0, grad=0)]
    + ([case(_logits(g, (4, 5), 5e3), _logits(g, (4, 5), 5e3), 1.0, grad=0)] if h else []),
    "gradient": lambda g, h: [case(_logits(g, s), _logits(g, s), t, grad=0) for s, t in
                              _more(h, [((4, 5), 2.0), ((6,), 4.0)], [((8, 10), 1.0), ((3, 3), 8.0)])],
}


def _dl(g, N, C, T_, alpha, grad=None):
    return case(_logits(g, (N, C)), _logits(g, (N, C)), torch.randint(0, C, (N,), generator=g), T_, alpha, grad=grad)


DISTILLATION_CASES = {
    "example": lambda g, h: [case(T(EXAMPLE_S), T(EXAMPLE_T), T([0, 1]), 4.0, 0.7)] + ([_dl(g, 6, 10, 4.0, 0.7)] if h else []),
    "alpha": lambda g, h: [_dl(g, 5, 10, 3.0, a) for a in _more(h, [0.0, 1.0, 0.25], [0.5, 0.9])],
    "temperature": lambda g, h: [_dl(g, 4, 6, t, 0.6) for t in _more(h, [1.0, 2.0, 5.0], [0.5, 8.0])],
    "gradient": lambda g, h: [_dl(g, 5, 4, t, a, grad=0) for t, a in _more(h, [(2.0, 0.5), (4.0, 0.9)], [(1.0, 0.3), (6.0, 0.1)])],
}


def loss_cases(table: dict):
    """The ``cases(check, part, hidden)`` function of a loss check, from its table of parts."""
    def cases(check: str, part: str, hidden: bool) -> list[dict]:
        return table[part](generator(check, part, hidden), hidden)
    return cases


# ----- training setups (every part of one check sees the same setup) ---------------------------
def _seeded(spec, seed):
    return parameters(build(spec, seed=seed))


def fit_setup(check: str, part: str, hidden: bool) -> dict:
    g = generator(check, "setup", hidden)
    spec = [["linear", 8, 3]]
    state = _seeded(spec, init_seed(7, check, hidden))
    X = torch.randn(6, 8, generator=g)
    P = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8],
                      [0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])
    P = P[torch.randperm(6, generator=g)]
    return {"student_spec": spec, "student_state": state, "inputs": encode(X), "teacher_probs": encode(P),
            "steps": 200, "lr": 0.5}


def distill_setup(check: str, part: str, hidden: bool) -> dict:
    g = generator(check, "setup", hidden)
    t_spec = [["linear", 8, 32], ["relu"], ["dropout", 0.5], ["linear", 32, 4]]
    s_spec = [["linear", 8, 6], ["relu"], ["linear", 6, 4]]
    t_state, s_state = _seeded(t_spec, init_seed(11, check, hidden)), _seeded(s_spec, init_seed(12, check, hidden))
    X = torch.randn(48, 8, generator=g)
    y = torch.randint(0, 4, (48,), generator=g)
    return {"teacher_spec": t_spec, "teacher_state": t_state, "student_spec": s_spec, "student_state": s_state,
            "X": encode(X), "y": encode(y), "batch_size": 12, "lr": 0.2, "T": 3.0, "alpha": 0.6}


def accuracy_setup(check: str, part: str, hidden: bool) -> dict:
    g = generator(check, "setup", hidden)
    spec = [["linear", 8, 16], ["relu"], ["dropout", 0.5], ["linear", 16, 4]]
    m = build(spec, seed=init_seed(13, check, hidden))
    X = torch.randn(50, 8, generator=g)
    with torch.no_grad():
        m.eval()
        pred = m(X).argmax(-1)
    # Correct on the first 30 examples, wrong on the rest: accuracy 0.6. The last batch (2 of 50,
    # batch size 16) is all wrong, so the mean of per-batch accuracies (0.65) differs from 0.6.
    y = torch.where(torch.arange(50) < 30, pred, (pred + 1) % 4)
    return {"model_spec": spec, "model_state": parameters(m), "X": encode(X), "y": encode(y), "batch_size": 16}


# ----- the final task ---------------------------------------------------------------------------
def final_transfer_set():
    """The digits splits and the final task's transfer set: ``FINAL_PER_CLASS`` training images per class.

    The teacher was trained on the whole training split; the student sees only these labelled
    images (the regime of the chapter "Experiments that matter", Hinton, Vinyals & Dean 2015, §6).
    """
    data = load_reference("data")
    splits = data.load_splits("digits")
    X, y = data.transfer_subset(splits.X_train, splits.y_train, per_class=FINAL_PER_CLASS, seed=FINAL_SUBSET_SEED)
    return splits, X, y


def final_setup(check: str, part: str, hidden: bool) -> dict:
    """What the kernel needs to run the student's ``distil_student``: the transfer set, batch size and seed."""
    _, X, y = final_transfer_set()
    return {"X": encode(X), "y": encode(y), "batch_size": FINAL_BATCH_SIZE, "seed": FINAL_SEED}
