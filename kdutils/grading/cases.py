"""Seeded test inputs of every check: loss cases and the tiny training setups, as JSON-ready dicts.

Runs in the grading worker only. The seed depends on the check, the part and whether the
test is hidden, so a submission always gets the same score (assignments ``losses`` and
``training``; book chapter "For instructors").
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _enc(x: torch.Tensor) -> dict:
    return {"t": x.tolist(), "dtype": "int64" if x.dtype == torch.int64 else "float32"}


def _dec(a):
    if isinstance(a, dict) and "t" in a:
        return torch.tensor(a["t"], dtype=torch.int64 if a["dtype"] == "int64" else torch.float32)
    return a


def _gen(check: str, part: str, hidden: bool) -> torch.Generator:
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(f"{check}/{part}")) + (1000 if hidden else 0)
    return torch.Generator().manual_seed(seed)


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


# Seed article's coding problem 1, and a small logits example used by the visible tests.
_SEED_Q = [0.6, 0.3, 0.1]
_SEED_P = [0.8, 0.1, 0.1]
_EX_S = [[1.5, 0.4, -0.8], [0.2, 1.1, 0.3]]
_EX_T = [[3.0, 1.0, -1.0], [0.5, 2.5, 0.0]]


def _cases(check: str, part: str, hidden: bool) -> list[dict]:
    """The inputs of one check (seeded). Each case: args, optional grad index and weight."""
    g = _gen(check, part, hidden)
    cases: list[dict] = []
    add = cases.append
    if check == "softmax_with_temperature":
        if part == "example":
            add({"args": [_enc(torch.tensor([2.0, 1.0, 0.1])), 1.0]})
            add({"args": [_enc(torch.tensor([2.0, 1.0, 0.1])), 4.0]})
            if hidden:
                for C in (4, 10):
                    add({"args": [_enc(_logits(g, (C,))), 1.0]})
        elif part == "batch":
            for shape in _shapes(hidden):
                add({"args": [_enc(_logits(g, shape)), 1.0]})
        elif part == "temperature":
            for T in ([0.5, 2.0, 5.0] + ([1.5, 10.0, 20.0] if hidden else [])):
                add({"args": [_enc(_logits(g, (4, 6), 3.0)), T]})
        elif part == "stable":
            add({"args": [_enc(torch.tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 5e3]])), 1.0]})
            if hidden:
                add({"args": [_enc(_logits(g, (3, 5), 5e3)), 2.0]})
                add({"args": [_enc(torch.tensor([1000.0, 999.0, -1000.0])), 1.0]})
        elif part == "gradient":
            for shape, T in [((3, 4), 1.0), ((5,), 2.0)] + ([((6, 10), 4.0), ((2, 3), 0.5)] if hidden else []):
                add({"args": [_enc(_logits(g, shape)), T], "grad": 0, "weight": _enc(torch.randn(*shape, generator=g))})
    elif check == "soft_cross_entropy":
        if part == "example":
            add({"args": [_enc(torch.tensor(_SEED_Q)), _enc(torch.tensor(_SEED_P))]})
            if hidden:
                add({"args": [_enc(_probs(g, (5,))), _enc(_probs(g, (5,)))]})
                add({"args": [_enc(torch.tensor([_SEED_Q, _SEED_P])), _enc(torch.tensor([_SEED_P, _SEED_P]))]})
        elif part == "batch":
            for shape in _shapes(hidden):
                add({"args": [_enc(_probs(g, shape)), _enc(_probs(g, shape))]})
        elif part == "zeros":
            q = torch.tensor([[0.7, 0.3, 0.0], [0.5, 0.0, 0.5]])
            p = torch.tensor([[0.9, 0.1, 0.0], [1.0, 0.0, 0.0]])
            add({"args": [_enc(q), _enc(p)]})
            if hidden:
                p = _probs(g, (6, 5), zeros=True)
                q = torch.where(p == 0, torch.zeros_like(p), _probs(g, (6, 5)))
                add({"args": [_enc(q / q.sum(-1, keepdim=True)), _enc(p)]})
                add({"args": [_enc(torch.tensor([0.0, 1.0])), _enc(torch.tensor([0.0, 1.0]))]})
        elif part == "gradient":
            for shape in [(3, 4), (5,)] + ([(8, 10)] if hidden else []):
                add({"args": [_enc(_probs(g, shape)), _enc(_probs(g, shape))], "grad": 0})
    elif check == "kd_kl_loss":
        if part == "example":
            add({"args": [_enc(torch.tensor(_EX_S)), _enc(torch.tensor(_EX_T)), 4.0]})
            if hidden:
                add({"args": [_enc(_logits(g, (6, 10))), _enc(_logits(g, (6, 10))), 4.0]})
        elif part == "batch":
            for shape in _shapes(hidden):
                add({"args": [_enc(_logits(g, shape)), _enc(_logits(g, shape)), 1.0]})
        elif part == "temperature":
            for T in [4.0, 2.0] + ([0.5, 3.0, 10.0] if hidden else []):
                add({"args": [_enc(_logits(g, (5, 10), 3.0)), _enc(_logits(g, (5, 10), 3.0)), T]})
        elif part == "stable":
            s = torch.tensor([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]])
            t = torch.tensor([[-1e4, 1e4, 0.0], [1e4, -1e4, 0.0]])
            add({"args": [_enc(s), _enc(t), 1.0], "grad": 0})
            if hidden:
                add({"args": [_enc(_logits(g, (4, 5), 5e3)), _enc(_logits(g, (4, 5), 5e3)), 1.0], "grad": 0})
        elif part == "gradient":
            for shape, T in [((4, 5), 2.0), ((6,), 4.0)] + ([((8, 10), 1.0), ((3, 3), 8.0)] if hidden else []):
                add({"args": [_enc(_logits(g, shape)), _enc(_logits(g, shape)), T], "grad": 0})
    elif check == "distillation_loss":
        def dcase(N, C, T, alpha, grad=False):
            c = {"args": [_enc(_logits(g, (N, C))), _enc(_logits(g, (N, C))),
                          _enc(torch.randint(0, C, (N,), generator=g)), T, alpha]}
            if grad:
                c["grad"] = 0
            return c
        if part == "example":
            add({"args": [_enc(torch.tensor(_EX_S)), _enc(torch.tensor(_EX_T)), _enc(torch.tensor([0, 1])), 4.0, 0.7]})
            if hidden:
                add(dcase(6, 10, 4.0, 0.7))
        elif part == "alpha":
            for a in [0.0, 1.0, 0.25] + ([0.5, 0.9] if hidden else []):
                add(dcase(5, 10, 3.0, a))
        elif part == "temperature":
            for T in [1.0, 2.0, 5.0] + ([0.5, 8.0] if hidden else []):
                add(dcase(4, 6, T, 0.6))
        elif part == "gradient":
            for T, a in [(2.0, 0.5), (4.0, 0.9)] + ([(1.0, 0.3), (6.0, 0.1)] if hidden else []):
                add(dcase(5, 4, T, a, grad=True))
    return cases


# ----- training setups ------------------------------------------------------------------
def _seeded_state(spec, seed):
    torch.manual_seed(seed)
    layers = []
    for layer in spec:
        if layer[0] == "linear":
            layers.append(nn.Linear(layer[1], layer[2]))
        elif layer[0] == "relu":
            layers.append(nn.ReLU())
        elif layer[0] == "dropout":
            layers.append(nn.Dropout(layer[1]))
        elif layer[0] == "flatten":
            layers.append(nn.Flatten())
    m = nn.Sequential(*layers)
    return m, [p.detach().tolist() for p in m.parameters()]


def _setup(check: str, part: str, hidden: bool) -> dict:
    g = _gen(check, "setup", hidden)  # every part of one check sees the same setup
    if check == "fit_soft_targets":
        spec = [["linear", 8, 3]]
        _, state = _seeded_state(spec, 7 + hidden)
        X = torch.randn(6, 8, generator=g)
        P = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8],
                          [0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])
        P = P[torch.randperm(6, generator=g)]
        return {"student_spec": spec, "student_state": state, "inputs": _enc(X), "teacher_probs": _enc(P),
                "steps": 200, "lr": 0.5}
    if check == "distill_one_epoch":
        t_spec = [["linear", 8, 32], ["relu"], ["dropout", 0.5], ["linear", 32, 4]]
        s_spec = [["linear", 8, 6], ["relu"], ["linear", 6, 4]]
        _, t_state = _seeded_state(t_spec, 11 + hidden)
        _, s_state = _seeded_state(s_spec, 12 + hidden)
        X = torch.randn(48, 8, generator=g)
        y = torch.randint(0, 4, (48,), generator=g)
        return {"teacher_spec": t_spec, "teacher_state": t_state, "student_spec": s_spec, "student_state": s_state,
                "X": _enc(X), "y": _enc(y), "batch_size": 12, "lr": 0.2, "T": 3.0, "alpha": 0.6}
    if check == "evaluate_accuracy":
        spec = [["linear", 8, 16], ["relu"], ["dropout", 0.5], ["linear", 16, 4]]
        m, state = _seeded_state(spec, 13 + hidden)
        X = torch.randn(50, 8, generator=g)
        with torch.no_grad():
            m.eval()
            pred = m(X).argmax(-1)
        # Correct on the first 30 examples, wrong on the rest: accuracy 0.6. The last batch (2 of 50,
        # batch size 16) is all wrong, so the mean of per-batch accuracies (0.65) differs from 0.6.
        y = torch.where(torch.arange(50) < 30, pred, (pred + 1) % 4)
        return {"model_spec": spec, "model_state": state, "X": _enc(X), "y": _enc(y), "batch_size": 16}
    raise ValueError(f"unknown check {check!r}")
