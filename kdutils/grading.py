"""Autograding checks for the nbgrader assignments, each with a diagnosis of the likely mistake.

The assignments (``solutions/losses``, ``solutions/training``) ask students for
the functions of ``kdutils.losses`` (Hinton, Vinyals & Dean 2015,
arXiv:1503.02531) and for a distillation training loop. A test cell calls,
e.g., ``kd.grading.check_kd_kl_loss(kd_kl_loss, "temperature")``; a failing
check raises ``AssertionError`` whose message names the mistake where it can
be recognised ("off by exactly T² = 16: multiply the KL term by T**2").

How a check stays fair and hard to game (see the book chapter "For instructors"):

* **Inputs and reference values never come from the student's kernel.** A
  separate, fresh Python process (the *worker*, ``python -I`` running this
  file, which loads ``kdutils/losses.py`` straight from disk) makes the test
  cases, computes the reference answers and judges. Monkeypatching
  ``torch``, ``numpy``, ``math`` or ``kdutils`` inside the notebook does not
  reach it.
* **The kernel only runs the student's function** on the worker's inputs and
  sends back plain numbers, converted with functions captured when this
  module was imported (before any student cell ran), with torch-function
  overrides disabled. A result must be an exact ``torch.Tensor`` (or a Python
  number), so an object whose ``__eq__`` always returns True earns nothing.
* **Calling the reference is detected** with a profiler hook: any call into
  ``kdutils/losses.py`` during a losses check fails that check, and says why.
* Test cases are seeded, so the same submission always gets the same score.

A determined student can still rewrite this module's internals inside the
kernel; such code is visible to the instructor in formgrader.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import torch
from torch import nn

__all__ = [
    "check_softmax_with_temperature",
    "check_soft_cross_entropy",
    "check_kd_kl_loss",
    "check_distillation_loss",
    "check_fit_soft_targets",
    "check_distill_one_epoch",
    "check_evaluate_accuracy",
    "check_final_student",
    "prepare",
    "PARTS",
    "FINAL_ACCURACY",
    "FINAL_MAX_EPOCHS",
]

#: The behaviours each check knows, one per test cell.
PARTS = {
    "softmax_with_temperature": ("example", "batch", "temperature", "stable", "gradient"),
    "soft_cross_entropy": ("example", "batch", "zeros", "gradient"),
    "kd_kl_loss": ("example", "batch", "temperature", "stable", "gradient"),
    "distillation_loss": ("example", "alpha", "temperature", "gradient"),
    "fit_soft_targets": ("losses", "fit"),
    "distill_one_epoch": ("loss", "teacher", "student_mode", "steps"),
    "evaluate_accuracy": ("value", "mode"),
}
#: The final task of the training assignment: test accuracy to reach, within this many epochs.
FINAL_ACCURACY = 0.85
FINAL_MAX_EPOCHS = 20
FINAL_MAX_HIDDEN = 32

_HERE = os.path.dirname(os.path.abspath(__file__))
_LOSSES_FILE = os.path.join(_HERE, "losses.py")
_LOSS_FUNCTIONS = ("softmax_with_temperature", "soft_cross_entropy", "kd_kl_loss", "distillation_loss")

# --------------------------------------------------------------------------------------
# Pristine references, captured at import time (the notebook's locked first cell), so
# that a student cell replacing any of these later changes nothing here.
# --------------------------------------------------------------------------------------
_type, _isinstance, _len, _float, _int, _list, _dict, _str = type, isinstance, len, float, int, list, dict, str
_range, _zip, _repr, _bool, _getattr, _callable = range, zip, repr, bool, getattr, callable
_Exception, _AssertionError, _BaseException = Exception, AssertionError, BaseException
_Tensor, _Module, _Param = torch.Tensor, nn.Module, nn.Parameter
_tensor, _is_tensor = torch.tensor, torch.is_tensor
_tolist, _detach, _clone = torch.Tensor.tolist, torch.Tensor.detach, torch.Tensor.clone
_size, _is_floating, _requires_grad_ = torch.Tensor.size, torch.Tensor.is_floating_point, torch.Tensor.requires_grad_
_mul, _sum, _grad = torch.mul, torch.sum, torch.autograd.grad
_is_grad_enabled, _no_grad, _enable_grad = torch.is_grad_enabled, torch.no_grad, torch.enable_grad
_manual_seed = torch.manual_seed
_NoTorchFunction = torch._C.DisableTorchFunction
_Linear, _ReLU, _Dropout, _Sequential, _Flatten = nn.Linear, nn.ReLU, nn.Dropout, nn.Sequential, nn.Flatten
_named_parameters, _load_state_dict = nn.Module.named_parameters, nn.Module.load_state_dict
_train_mode, _register_pre = nn.Module.train, nn.Module.register_forward_pre_hook
_register_hook = torch.Tensor.register_hook
_SGD = torch.optim.SGD
_step_pre_hook = torch.optim.Optimizer.register_step_pre_hook
_DataLoader, _TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset
_setprofile, _getprofile = sys.setprofile, sys.getprofile
_dumps, _loads = json.dumps, json.loads
_Popen, _PIPE, _DEVNULL = subprocess.Popen, subprocess.PIPE, subprocess.DEVNULL
_executable = sys.executable
_isfinite = math.isfinite
_numbers_real = (int, float)

_worker = None


def prepare() -> None:
    """Start the grading worker now (the notebooks' first cell does), so later checks are quick."""
    _ensure_worker()


def _ensure_worker():
    global _worker
    if _worker is None or _worker.poll() is not None:
        _worker = _Popen(
            [_executable, "-I", os.path.join(_HERE, "grading.py"), "--worker"],
            stdin=_PIPE, stdout=_PIPE, stderr=_DEVNULL, text=True, bufsize=1,
            start_new_session=True,  # a kernel interrupt (cell timeout) must not reach the worker
        )
    return _worker


def _ask(request: dict) -> dict:
    """One JSON request to the worker, one JSON reply."""
    for attempt in (0, 1):
        w = _ensure_worker()
        try:
            w.stdin.write(_dumps(request) + "\n")
            w.stdin.flush()
            line = w.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if line:
            return _loads(line)
        w.kill()
    raise RuntimeError("the grading worker did not answer; re-run the notebook's first cell")


# --------------------------------------------------------------------------------------
# Kernel side: run the student's function on the worker's inputs, return plain values.
# --------------------------------------------------------------------------------------
def _decode(a):
    """Worker value -> tensor or number. Tensors are {"t": nested list, "dtype": str}."""
    if _isinstance(a, _dict) and "t" in a:
        dtype = torch.int64 if a["dtype"] == "int64" else torch.float32
        return _tensor(a["t"], dtype=dtype)
    return a


def _plain(x):
    """A tensor's values as nested Python lists (torch-function overrides disabled)."""
    with _NoTorchFunction():
        return _tolist(_detach(x))


def _describe(x) -> str:
    t = _type(x)
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__


def _tensor_result(out) -> dict:
    """Plain description of a returned tensor, or an error when it is not an exact torch.Tensor."""
    if _type(out) is not _Tensor and _type(out) is not _Param:
        if _isinstance(out, _Tensor):
            return {"error": f"returned a subclass of torch.Tensor ({_describe(out)}); return a plain torch.Tensor"}
        return {"error": f"returned a {_describe(out)}, expected a torch.Tensor"}
    with _NoTorchFunction():
        if not _is_floating(out):
            return {"error": f"returned a tensor of dtype {out.dtype}, expected floating point"}
        return {"value": _plain(out), "shape": _list(_size(out))}


class _ReferenceSpy:
    """Profiler hook that records calls into kdutils/losses.py (the reference) while active."""

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, frame, event, arg):
        if event == "call" and frame.f_code.co_filename == _LOSSES_FILE:
            name = frame.f_code.co_name
            if name not in self.calls:
                self.calls.append(name)


def _run_loss_case(fn, case: dict, spy_reference: bool) -> dict:
    args = [_decode(a) for a in case["args"]]
    gi = case.get("grad")
    if gi is not None:
        args[gi] = _requires_grad_(args[gi], True)
    spy = _ReferenceSpy()
    tampered = False
    try:
        with _enable_grad():
            if spy_reference:
                _setprofile(spy)
            try:
                out = fn(*args)
            finally:
                if spy_reference:
                    tampered = _getprofile() is not spy
                    _setprofile(None)
            res = _tensor_result(out)
            if "error" not in res and gi is not None:
                if not out.requires_grad:
                    res["grad"] = None
                else:
                    w = _decode(case["weight"]) if "weight" in case else None
                    with _NoTorchFunction():
                        obj = _sum(_mul(out, w)) if w is not None else _sum(out)
                    (g,) = _grad(obj, [args[gi]], allow_unused=True)
                    res["grad"] = None if g is None else _plain(g)
    except _Exception as e:  # the student's function raised: report it, don't crash the grader
        res = {"error": f"raised {_type(e).__name__}: {e}"}
    if spy.calls:
        res["reference_calls"] = spy.calls
    if tampered:
        res["reference_calls"] = (res.get("reference_calls") or []) + ["<profiler removed>"]
    return res


def _check_loss_function(name: str, fn, part: str, hidden: bool, spy_reference: bool = True) -> None:
    _check_part(name, part)
    if not _callable(fn):
        raise _AssertionError(f"{name} must be a function, got {_describe(fn)}")
    cases = _ask({"op": "cases", "check": name, "part": part, "hidden": _bool(hidden)})["cases"]
    results = [_run_loss_case(fn, c, spy_reference) for c in cases]
    verdict = _ask({"op": "judge", "check": name, "part": part, "hidden": _bool(hidden), "results": results})
    if not verdict["ok"]:
        raise _AssertionError(verdict["message"])


def _check_part(name, part):
    if part not in PARTS[name]:
        raise ValueError(f"part must be one of {PARTS[name]}, got part={part!r}")


def check_softmax_with_temperature(fn, part: str = "example", hidden: bool = False) -> None:
    """Check a student's ``softmax_with_temperature(logits, T)`` (chapter "Softmax, temperature and dark knowledge")."""
    _check_loss_function("softmax_with_temperature", fn, part, hidden)


def check_soft_cross_entropy(fn, part: str = "example", hidden: bool = False) -> None:
    """Check a student's ``soft_cross_entropy(student_probs, teacher_probs)`` (chapter "Coding problem 1")."""
    _check_loss_function("soft_cross_entropy", fn, part, hidden)


def check_kd_kl_loss(fn, part: str = "example", hidden: bool = False) -> None:
    """Check a student's ``kd_kl_loss(student_logits, teacher_logits, T)`` (chapter "The distillation loss")."""
    _check_loss_function("kd_kl_loss", fn, part, hidden)


def check_distillation_loss(fn, part: str = "example", hidden: bool = False) -> None:
    """Check a student's ``distillation_loss(s, t, labels, T, alpha)`` (chapter "The distillation loss")."""
    _check_loss_function("distillation_loss", fn, part, hidden)


# ----- training checks (kernel side) --------------------------------------------------
def _build(spec: list, state: list | None) -> nn.Module:
    """An nn.Sequential from the worker's layer spec, loaded with the worker's weights."""
    layers = []
    for layer in spec:
        kind = layer[0]
        if kind == "linear":
            layers.append(_Linear(layer[1], layer[2]))
        elif kind == "relu":
            layers.append(_ReLU())
        elif kind == "dropout":
            layers.append(_Dropout(layer[1]))
        elif kind == "flatten":
            layers.append(_Flatten())
    m = _Sequential(*layers)
    if state is not None:
        names = [n for n, _ in _named_parameters(m)]
        _load_state_dict(m, {n: _tensor(v) for n, v in _zip(names, state)})
    return m


def _weights(m: nn.Module) -> list:
    return [_plain(p) for _, p in _named_parameters(m)]


def _grads(m: nn.Module) -> list:
    return [None if p.grad is None else _plain(p.grad) for _, p in _named_parameters(m)]


def _number(v):
    """A Python number from a returned value, or None (0-d tensors are described separately)."""
    if _type(v) in (_float, _int):
        return _float(v)
    return None


def check_fit_soft_targets(fn, part: str = "fit", hidden: bool = False) -> None:
    """Check a student's ``fit_soft_targets(student, inputs, teacher_probs, steps, lr)`` (chapter "Coding problem 2").

    The grader owns the module, the inputs and the targets, and judges the trained weights.
    """
    _check_part("fit_soft_targets", part)
    setup = _ask({"op": "setup", "check": "fit_soft_targets", "part": part, "hidden": _bool(hidden)})
    student = _build(setup["student_spec"], setup["student_state"])
    inputs = _decode(setup["inputs"])
    targets = _decode(setup["teacher_probs"])
    res: dict = {}
    try:
        _manual_seed(0)  # dropout left on by mistake must still give the same score every time
        out = fn(student, inputs, targets, steps=setup["steps"], lr=setup["lr"])
        if _isinstance(out, (list, tuple)):
            vals = []
            for v in out:
                n = _number(v)
                if n is None and _type(v) is _Tensor and v.numel() == 1:
                    n = _plain(v.reshape(())) if v.dim() else _plain(v)
                vals.append(n)
            res["losses"] = vals
        else:
            res["losses_type"] = _describe(out)
    except _Exception as e:
        res["error"] = f"raised {_type(e).__name__}: {e}"
    res["weights"] = _weights(student)
    verdict = _ask({"op": "judge", "check": "fit_soft_targets", "part": part, "hidden": _bool(hidden), "results": res})
    if not verdict["ok"]:
        raise _AssertionError(verdict["message"])


def _training_setup(check: str, part: str, hidden: bool):
    setup = _ask({"op": "setup", "check": check, "part": part, "hidden": _bool(hidden)})
    X = _decode(setup["X"])
    y = _decode(setup["y"])
    loader = _DataLoader(_TensorDataset(X, y), batch_size=setup["batch_size"], shuffle=False)
    return setup, loader


def check_distill_one_epoch(fn, part: str = "loss", hidden: bool = False) -> None:
    """Check a student's ``distill_one_epoch(student, teacher, loader, optimizer, T, alpha)``.

    Records, from outside the student's code, the modes and grad state seen by
    each forward pass, how many optimiser steps and backward passes ran, and
    the weights afterwards; the worker compares them with the reference loop.
    """
    _check_part("distill_one_epoch", part)
    setup, loader = _training_setup("distill_one_epoch", part, hidden)
    teacher = _build(setup["teacher_spec"], setup["teacher_state"])
    student = _build(setup["student_spec"], setup["student_state"])
    _train_mode(teacher, True)   # handed over in the wrong modes on purpose:
    _train_mode(student, False)  # the function must set them itself
    optimizer = _SGD(student.parameters(), lr=setup["lr"])
    log = {"teacher": [], "student": [], "steps": 0, "backward": 0}

    def t_hook(module, inputs):
        log["teacher"].append([_bool(module.training), _bool(_is_grad_enabled())])

    def s_hook(module, inputs):
        log["student"].append(_bool(module.training))

    def step_hook(opt, args, kwargs):
        log["steps"] += 1

    def backward_hook(g):
        log["backward"] += 1

    _register_pre(teacher, t_hook)
    _register_pre(student, s_hook)
    _step_pre_hook(optimizer, step_hook)
    first_param = [p for _, p in _named_parameters(student)][0]
    _register_hook(first_param, backward_hook)
    res: dict = {}
    try:
        _manual_seed(0)  # dropout left on by mistake must still give the same score every time
        out = fn(student, teacher, loader, optimizer, setup["T"], setup["alpha"])
        n = _number(out)
        if n is not None:
            res["loss"] = n
        else:
            res["loss_type"] = _describe(out)
            if _type(out) is _Tensor and out.numel() == 1:
                res["loss_tensor"] = _float(_plain(out.reshape(())))
    except _Exception as e:
        res["error"] = f"raised {_type(e).__name__}: {e}"
    res.update(log)
    res["student_weights"] = _weights(student)
    res["teacher_weights"] = _weights(teacher)
    res["teacher_grads"] = _grads(teacher)
    verdict = _ask({"op": "judge", "check": "distill_one_epoch", "part": part, "hidden": _bool(hidden), "results": res})
    if not verdict["ok"]:
        raise _AssertionError(verdict["message"])


def check_evaluate_accuracy(fn, part: str = "value", hidden: bool = False) -> None:
    """Check a student's ``evaluate_accuracy(model, loader)``: a fraction in [0, 1], eval mode, no gradients."""
    _check_part("evaluate_accuracy", part)
    setup, loader = _training_setup("evaluate_accuracy", part, hidden)
    model = _build(setup["model_spec"], setup["model_state"])
    _train_mode(model, True)  # handed over in training mode on purpose
    log = {"forward": []}

    def hook(module, inputs):
        log["forward"].append([_bool(module.training), _bool(_is_grad_enabled())])

    _register_pre(model, hook)
    res: dict = {}
    try:
        _manual_seed(0)  # dropout left on by mistake must still give the same score every time
        out = fn(model, loader)
        n = _number(out)
        if n is not None:
            res["value"] = n
        else:
            res["value_type"] = _describe(out)
            if _type(out) is _Tensor and out.numel() == 1:
                res["value_tensor"] = _float(_plain(out.reshape(()).double()))
    except _Exception as e:
        res["error"] = f"raised {_type(e).__name__}: {e}"
    res.update(log)
    verdict = _ask({"op": "judge", "check": "evaluate_accuracy", "part": part, "hidden": _bool(hidden), "results": res})
    if not verdict["ok"]:
        raise _AssertionError(verdict["message"])


def check_final_student(student, epochs) -> None:
    """The training assignment's final task: a distilled student MLP reaching ``FINAL_ACCURACY`` on the digits test split.

    The worker rebuilds the network from its weights and measures the test accuracy itself.
    """
    if not _isinstance(student, _Module):
        raise _AssertionError(f"student must be an nn.Module, got {_describe(student)}")
    if _type(epochs) is not _int or epochs < 1:
        raise _AssertionError(f"EPOCHS must be a positive int, got {epochs!r}")
    params = [(n, _list(_size(p)), _plain(p)) for n, p in _named_parameters(student)]
    verdict = _ask({"op": "judge", "check": "final_student", "part": "accuracy", "hidden": True,
                    "results": {"params": params, "epochs": epochs}})
    if not verdict["ok"]:
        raise _AssertionError(verdict["message"])


# ======================================================================================
# Worker side: a fresh interpreter that makes the cases, computes the reference and judges.
# Nothing below runs in the student's kernel.
# ======================================================================================
def _load_reference():
    """Load kdutils' losses (and models, data) from disk as a private package, without kdutils/__init__."""
    import importlib.util
    import types

    if "_kdref" in sys.modules:
        return sys.modules["_kdref"]
    pkg = types.ModuleType("_kdref")
    pkg.__path__ = [_HERE]
    sys.modules["_kdref"] = pkg
    for sub in ("_checks", "losses", "models", "data"):
        spec = importlib.util.spec_from_file_location(f"_kdref.{sub}", os.path.join(_HERE, f"{sub}.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[f"_kdref.{sub}"] = mod
        setattr(pkg, sub, mod)
        if sub in ("_checks", "losses"):
            spec.loader.exec_module(mod)
        else:
            pkg.__dict__[f"_spec_{sub}"] = (spec, mod)
    return pkg


def _lazy(pkg, sub):
    spec, mod = pkg.__dict__.pop(f"_spec_{sub}", (None, None))
    if spec is not None:
        spec.loader.exec_module(mod)
    return getattr(pkg, sub)


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


def _close(a, b, rtol=1e-3, atol=1e-4) -> bool:
    """Nested lists (or numbers) equal within tolerance; NaN never matches."""
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(_close(x, y, rtol, atol) for x, y in zip(a, b))
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or isinstance(a, bool):
        return False
    if math.isnan(a) or math.isnan(b):
        return False
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def _flat(x):
    if isinstance(x, list):
        return [v for e in x for v in _flat(e)]
    return [x]


def _finite(x) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in _flat(x))


def _describe_case(check, args) -> str:
    parts = []
    for a in args:
        if isinstance(a, torch.Tensor):
            parts.append(f"shape {tuple(a.shape)}" if a.dim() != 1 or a.numel() > 4 else f"{[round(v, 4) for v in a.tolist()]}")
        else:
            parts.append(f"{a!r}")
    return f"{check}({', '.join(parts)})"


def _fmt(v) -> str:
    if isinstance(v, list):
        f = _flat(v)
        s = ", ".join(f"{x:.4g}" if isinstance(x, float) else repr(x) for x in f[:6])
        return f"[{s}{', ...' if len(f) > 6 else ''}]"
    return f"{v:.6g}" if isinstance(v, float) else repr(v)


def _eval_variant(f, args, grad_index, weight):
    """Value (and gradient) of a reference or variant function on decoded args, as plain lists."""
    args = [a.clone().requires_grad_(True) if (i == grad_index) else a for i, a in enumerate(args)]
    try:
        with torch.enable_grad(), torch.autograd.set_detect_anomaly(False):
            out = f(*args)
            val = out.detach().tolist()
            g = None
            if grad_index is not None:
                obj = (out * weight).sum() if weight is not None else out.sum()
                (gr,) = torch.autograd.grad(obj, [args[grad_index]], allow_unused=True)
                g = None if gr is None else gr.tolist()
        return val, g
    except Exception:
        return None, None


def _judge_loss(check: str, part: str, hidden: bool, results: list[dict]) -> dict:
    cases = _cases(check, part, hidden)
    ref, variants = _variants(check)
    name = check
    # 1. The reference may not be called from an answer in the losses assignment.
    for res in results:
        if res.get("reference_calls"):
            calls = ", ".join(f"kdutils.losses.{c}" for c in res["reference_calls"] if not c.startswith("_"))
            calls = calls or "kdutils.losses"
            return {"ok": False, "message": (
                f"{name} calls the reference implementation ({calls}). This exercise asks you to write "
                f"{name} yourself with PyTorch operations, so calling kdutils' reference earns no points for it.")}
    # 2. Errors and types.
    for case, res in zip(cases, results):
        args = [_dec(a) for a in case["args"]]
        if "error" in res:
            return {"ok": False, "message": f"{_describe_case(name, args)} {res['error']}"}
    # 3. Values (and gradients) against the reference; on a mismatch, look for a known mistake.
    failures = []
    for case, res in zip(cases, results):
        args = [_dec(a) for a in case["args"]]
        gi, w = case.get("grad"), _dec(case["weight"]) if "weight" in case else None
        expected, eg = _eval_variant(ref, args, gi, w)
        got = res["value"]
        exp_shape = list(torch.tensor(expected).shape) if isinstance(expected, list) else []
        if res["shape"] != exp_shape:
            hint = " (a loss must be a single number: average over the batch)" if exp_shape == [] else ""
            return {"ok": False, "message": f"{_describe_case(name, args)} returned shape {tuple(res['shape'])}, "
                                            f"expected {tuple(exp_shape)}{hint}"}
        if not _finite(got) and _finite(expected):
            if part == "stable" or any(abs(v) >= 1000 for v in _flat(args[0].tolist())):
                how = ("use torch.softmax, or subtract each row's maximum before exp()" if check == "softmax_with_temperature"
                       else "use F.log_softmax instead of log(softmax(...)), which overflows or gives log(0)")
                return {"ok": False, "message": f"not finite for extreme logits: {_describe_case(name, args)} "
                                                f"gave {_fmt(got)}; {how}"}
            if check == "soft_cross_entropy":
                return {"ok": False, "message": (
                    f"{_describe_case(name, args)} gave {_fmt(got)}: 0 * log(0) is NaN in floating point. "
                    "A term with teacher p = 0 must count as 0 (mask it with torch.where, or use torch.xlogy)")}
        if not _close(got, expected):
            failures.append((case, args, got, expected, "value"))
            continue
        if gi is not None:
            if res.get("grad") is None:
                return {"ok": False, "message": (
                    f"no gradient reaches the input of {_describe_case(name, args)}: don't call .detach(), .item(), "
                    ".numpy() or torch.tensor(...) on intermediate results; keep everything a torch operation")}
            if not _finite(res["grad"]) and _finite(eg):
                return {"ok": False, "message": (
                    f"the gradient of {_describe_case(name, args)} is not finite ({_fmt(res['grad'])}); "
                    "compute log-probabilities with F.log_softmax, not log(softmax(...))")}
            if not _close(res["grad"], eg):
                failures.append((case, args, res["grad"], eg, "gradient"))
    if not failures:
        return {"ok": True, "message": "ok"}
    # Known mistakes: a variant that reproduces every value the student returned.
    for message, variant in variants:
        ok = True
        for case, res in zip(cases, results):
            args = [_dec(a) for a in case["args"]]
            v, _ = _eval_variant(variant, args, None, None)
            if v is None or not _close(res["value"], v):
                ok = False
                break
        if ok:
            case, args, got, expected, kind = failures[0]
            T = next((a for a in args[2:] if isinstance(a, float)), None) if check != "softmax_with_temperature" else args[1]
            s = args[0]
            msg = message.format(T=T or 1.0, T2=(T or 1.0) ** 2, C=s.shape[-1], N=s.shape[0] if s.dim() > 1 else 1)
            return {"ok": False, "message": f"{msg}. Example: {_describe_case(name, args)} returned {_fmt(got)}, expected {_fmt(expected)}."}
    case, args, got, expected, kind = failures[0]
    extra = ""
    if kind == "value" and isinstance(got, (int, float)) and isinstance(expected, (int, float)):
        if got < -1e-6 and expected >= 0:
            extra = (" The loss is negative, which a cross-entropy or KL divergence never is"
                     + ("; F.kl_div expects log-probabilities as its first argument" if check in ("kd_kl_loss", "distillation_loss") else "")
                     + ".")
        elif expected != 0 and got != 0:
            ratio = got / expected
            extra = f" Your value is {ratio:.4g} times the expected one."
            T = args[2] if check == "kd_kl_loss" else None
            s = args[0]
            known = []
            if T is not None and T != 1:
                known += [(1 / T**2, f"off by exactly T² = {T**2:g}: multiply the KL term by T**2"),
                          (1 / T, f"off by a factor of T = {T:g}: the KL term is scaled by T**2")]
            if s.dim() > 1:
                known += [(1 / s.shape[-1], f"off by a factor of C = {s.shape[-1]}: use reduction='batchmean', not 'mean'"),
                          (float(s.shape[0]), f"off by a factor of N = {s.shape[0]}: average over the batch, don't sum")]
            else:
                known += [(1 / s.shape[-1], f"off by a factor of C = {s.shape[-1]} on a 1-D input: treat (C,) as a batch of one")]
            for r, msg in known:
                if r != 1 and abs(ratio - r) <= 1e-3 * abs(r):
                    extra = f" {msg[0].upper()}{msg[1:]}."
                    break
    if kind == "gradient":
        extra = " The value is right but the gradient is not: check for detached or constant terms."
    return {"ok": False, "message": (
        f"{_describe_case(name, args)} returned {_fmt(got)} as its {kind}, expected {_fmt(expected)}.{extra}")}


# ----- training setups, reference loops and their known-mistake variants ---------------
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


def _judge_distill(part: str, hidden: bool, res: dict) -> dict:
    setup = _setup("distill_one_epoch", part, hidden)
    nb = (len(_dec(setup["y"])) + setup["batch_size"] - 1) // setup["batch_size"]
    if "error" in res:
        return {"ok": False, "message": f"distill_one_epoch {res['error']}"}
    if part == "teacher":
        if not res["teacher"]:
            return {"ok": False, "message": "the teacher was never called: compute its logits for every batch"}
        if any(training for training, _ in res["teacher"]):
            return {"ok": False, "message": "teacher was in training mode (dropout active): call teacher.eval() before the loop"}
        if any(grad for _, grad in res["teacher"]):
            msg = "the teacher's forward pass ran with gradients enabled: wrap it in torch.no_grad()"
            if any(g is not None for g in res["teacher_grads"]):
                msg = "teacher received gradients: wrap its forward pass in torch.no_grad()"
            return {"ok": False, "message": msg}
        if not _close(res["teacher_weights"], setup["teacher_state"], rtol=0, atol=0):
            return {"ok": False, "message": "the teacher's weights changed: only the student's parameters may be updated"}
        return {"ok": True, "message": "ok"}
    if part == "student_mode":
        if not res["student"]:
            return {"ok": False, "message": "the student was never called"}
        if not all(res["student"]):
            return {"ok": False, "message": "student was in eval mode during training: call student.train() before the loop"}
        return {"ok": True, "message": "ok"}
    ref_losses, ref_w = _distill_reference(setup)
    if part == "steps":
        if res["steps"] != nb:
            return {"ok": False, "message": f"optimizer.step() ran {res['steps']} times for {nb} batches: call it once per batch"}
        if res["backward"] != nb:
            return {"ok": False, "message": f"loss.backward() ran {res['backward']} times for {nb} batches: call it once per batch"}
        if not _close(res["student_weights"], ref_w):
            _, w = _distill_reference(setup, "no_zero_grad")
            if _close(res["student_weights"], w):
                return {"ok": False, "message": _LOOP_VARIANTS[0][1]}
            if _close(res["student_weights"], setup["student_state"], rtol=0, atol=0):
                return {"ok": False, "message": "the student's weights did not change: call optimizer.zero_grad(), "
                                                "loss.backward(), optimizer.step() in that order"}
        return {"ok": True, "message": "ok"}
    # part == "loss": the returned mean batch loss and the trained weights match the reference epoch.
    if not _close(res["student_weights"], ref_w):
        for variant, message in _LOOP_VARIANTS:
            _, w = _distill_reference(setup, variant)
            if _close(res["student_weights"], w):
                return {"ok": False, "message": f"the student's weights after one epoch differ from the reference: {message}"}
        if _close(res["student_weights"], setup["student_state"], rtol=0, atol=0):
            return {"ok": False, "message": "the student's weights did not change: call optimizer.step() for every batch"}
        if any(training for training, _ in res["teacher"]):
            return {"ok": False, "message": "the student's weights after one epoch differ from the reference epoch because "
                                            "the teacher was in training mode (dropout active): call teacher.eval()"}
        if res["student"] and not all(res["student"]):
            return {"ok": False, "message": "the student's weights after one epoch differ from the reference epoch; "
                                            "the student was in eval mode: call student.train()"}
        return {"ok": False, "message": "the student's weights after one epoch differ from the reference epoch: use "
                                        "kd.losses.distillation_loss(student_logits, teacher_logits, labels, T, alpha), "
                                        "zero_grad, backward and step once per batch, and the teacher in eval mode"}
    mean = sum(ref_losses) / len(ref_losses)
    if "loss" not in res:
        if "loss_tensor" in res and _close(res["loss_tensor"], mean):
            return {"ok": False, "message": "returned a tensor; return the mean batch loss as a Python float (use loss.item())"}
        return {"ok": False, "message": f"returned a {res.get('loss_type')}; return the mean batch loss as a Python float"}
    got = res["loss"]
    if _close(got, mean):
        return {"ok": True, "message": "ok"}
    if _close(got, ref_losses[-1]):
        return {"ok": False, "message": "returned the last batch's loss; return the mean over all batches"}
    if _close(got, sum(ref_losses)):
        return {"ok": False, "message": f"returned the sum of the batch losses; divide by the number of batches ({nb})"}
    return {"ok": False, "message": f"returned {got:.6g}, expected the mean batch loss {mean:.6g}"}


def _judge_accuracy(part: str, hidden: bool, res: dict) -> dict:
    setup = _setup("evaluate_accuracy", part, hidden)
    if "error" in res:
        return {"ok": False, "message": f"evaluate_accuracy {res['error']}"}
    if part == "mode":
        if not res["forward"]:
            return {"ok": False, "message": "the model was never called"}
        if any(tr for tr, _ in res["forward"]):
            return {"ok": False, "message": "model was in training mode (dropout active): call model.eval() first"}
        if any(g for _, g in res["forward"]):
            return {"ok": False, "message": "gradients were tracked during evaluation: wrap the loop in torch.no_grad()"}
        return {"ok": True, "message": "ok"}
    m, _ = _seeded_state(setup["model_spec"], 0)
    with torch.no_grad():
        for p, v in zip(m.parameters(), setup["model_state"]):
            p.copy_(torch.tensor(v))
        m.eval()
        X, y = _dec(setup["X"]), _dec(setup["y"])
        correct = (m(X).argmax(-1) == y)
    acc = correct.float().mean().item()
    bs = setup["batch_size"]
    per_batch = [correct[i:i + bs].float().mean().item() for i in range(0, len(y), bs)]
    if "value" not in res:
        if "value_tensor" in res and _close(res["value_tensor"], acc):
            return {"ok": False, "message": "returned a tensor; return a Python float (use .item() or float(...))"}
        return {"ok": False, "message": f"returned a {res.get('value_type')}; return the accuracy as a Python float in [0, 1]"}
    got = res["value"]
    if _close(got, acc, rtol=0, atol=1e-6):
        return {"ok": True, "message": "ok"}
    if _close(got, 100 * acc, rtol=0, atol=1e-4):
        return {"ok": False, "message": f"returned a percentage ({got:g}); return a fraction in [0, 1]"}
    if _close(got, float(correct.sum().item()), rtol=0, atol=1e-6):
        return {"ok": False, "message": f"returned the number of correct predictions ({got:g}); divide by the number of examples"}
    if _close(got, sum(per_batch) / len(per_batch), rtol=0, atol=1e-6):
        return {"ok": False, "message": "averaged the per-batch accuracies, but the last batch is smaller: "
                                        "count the correct predictions over all batches and divide by the total"}
    why = ""
    if any(tr for tr, _ in res["forward"]):
        why = ": the model was in training mode (dropout active), call model.eval() first"
    return {"ok": False, "message": f"returned {got:.6g}, expected the accuracy {acc:.6g}{why}"}


def _judge_fit(part: str, hidden: bool, res: dict) -> dict:
    setup = _setup("fit_soft_targets", part, hidden)
    steps = setup["steps"]
    if "error" in res:
        return {"ok": False, "message": f"fit_soft_targets {res['error']}"}
    if part == "losses":
        if "losses" not in res:
            return {"ok": False, "message": f"returned a {res.get('losses_type')}; return the list of per-step loss values"}
        vals = res["losses"]
        if len(vals) != steps:
            return {"ok": False, "message": f"returned {len(vals)} loss values for steps={steps}: record one per step"}
        if any(v is None for v in vals):
            return {"ok": False, "message": "the list must hold numbers (use loss.item())"}
        if not _finite(vals):
            return {"ok": False, "message": "the loss became NaN or infinite: check the loss and the learning rate"}
        if not vals[-1] < vals[0] - 1e-3:
            return {"ok": False, "message": (
                f"the loss does not go down (first {vals[0]:.4g}, last {vals[-1]:.4g}): the loss must compare the "
                "student's predictions with teacher_probs, not with the student's own predictions (the seed's bug)")}
        return {"ok": True, "message": "ok"}
    # part == "fit": the module itself now predicts teacher_probs.
    spec = setup["student_spec"]
    m, _ = _seeded_state(spec, 0)
    X, P = _dec(setup["inputs"]), _dec(setup["teacher_probs"])
    with torch.no_grad():
        for p, v in zip(m.parameters(), res["weights"]):
            p.copy_(torch.tensor(v))
        q = torch.softmax(m(X), -1)
    err = (q - P).abs().max().item()
    if not math.isfinite(err):
        return {"ok": False, "message": "the trained student outputs NaN: the loss diverged"}
    if err <= 0.05:
        return {"ok": True, "message": "ok"}
    if _close(res["weights"], setup["student_state"], rtol=0, atol=0):
        return {"ok": False, "message": ("the module passed in did not change: train it in place (optimizer over "
                                         "student.parameters(), then loss.backward() and optimizer.step())")}
    sharp = q.max(-1).values.mean().item()
    if sharp > 0.95:
        return {"ok": False, "message": (
            f"the student's predictions are nearly one-hot (mean top probability {sharp:.3f}) while the targets are "
            "soft: train on the full teacher_probs, not on their argmax or on the student's own predictions (the seed's bug)")}
    return {"ok": False, "message": (
        f"after training, softmax(student(inputs)) is up to {err:.3f} away from teacher_probs (allowed 0.05): "
        "minimise a soft-target loss such as KL(teacher_probs || softmax(student(inputs)))")}


def _judge_final(res: dict) -> dict:
    ref = _load_reference()
    models, data = _lazy(ref, "models"), _lazy(ref, "data")
    epochs = res["epochs"]
    if epochs > FINAL_MAX_EPOCHS:
        return {"ok": False, "message": f"EPOCHS = {epochs}: reach the target within {FINAL_MAX_EPOCHS} epochs"}
    params = res["params"]
    shapes = [tuple(s) for _, s, _ in params]
    if len(shapes) != 4 or shapes[0][1:] != (64,) or shapes[-2][0] != 10:
        return {"ok": False, "message": ("the student must be kd.models.build_model(kd.models.student_config(hidden=...)), "
                                         f"a one-hidden-layer MLP on 64 pixels; got parameter shapes {shapes}")}
    hidden = shapes[0][0]
    if hidden > FINAL_MAX_HIDDEN:
        return {"ok": False, "message": f"the student's hidden layer has {hidden} units; at most {FINAL_MAX_HIDDEN} are allowed"}
    m = models.build_model(models.student_config(hidden=hidden))
    with torch.no_grad():
        for p, (_, s, v) in zip(m.parameters(), params):
            p.copy_(torch.tensor(v))
        m.eval()
        splits = data.load_splits("digits")
        acc = (m(splits.X_test).argmax(-1) == splits.y_test).float().mean().item()
    if acc < FINAL_ACCURACY:
        return {"ok": False, "message": f"test accuracy {acc:.4f} is below the target {FINAL_ACCURACY}"}
    return {"ok": True, "message": f"test accuracy {acc:.4f}"}


def _serve() -> None:
    """Worker loop: one JSON request per line on stdin, one JSON reply per line on stdout."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but replies on the real stdout
    for line in sys.stdin:
        try:
            req = json.loads(line)
            op, check, part, hidden = req["op"], req["check"], req.get("part"), req.get("hidden", False)
            if op == "cases":
                reply = {"cases": _cases(check, part, hidden)}
            elif op == "setup":
                reply = _setup(check, part, hidden)
            elif check in _LOSS_FUNCTIONS:
                reply = _judge_loss(check, part, hidden, req["results"])
            elif check == "distill_one_epoch":
                reply = _judge_distill(part, hidden, req["results"])
            elif check == "evaluate_accuracy":
                reply = _judge_accuracy(part, hidden, req["results"])
            elif check == "fit_soft_targets":
                reply = _judge_fit(part, hidden, req["results"])
            elif check == "final_student":
                reply = _judge_final(req["results"])
            else:
                reply = {"ok": False, "message": f"unknown check {check!r}"}
        except Exception as e:  # never die silently: the kernel shows this message
            reply = {"ok": False, "message": f"grading error: {type(e).__name__}: {e}", "cases": []}
        out.write(json.dumps(reply) + "\n")
        out.flush()


class _ReadOnlyModule(type(sys)):
    """The kernel-side module refuses to have its checks replaced (``kd.grading.check_x = ...``)."""

    def __setattr__(self, name, value):
        if name == "_worker":
            return super().__setattr__(name, value)
        raise AttributeError(f"kdutils.grading is read-only while grading: cannot set {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"kdutils.grading is read-only while grading: cannot delete {name!r}")


if __name__ == "__main__" and "--worker" in sys.argv:
    _serve()
elif __name__ != "__main__":
    sys.modules[__name__].__class__ = _ReadOnlyModule
    if os.environ.get("NBGRADER_EXECUTION"):
        # While nbgrader runs a notebook, os._exit would kill the kernel and nbgrader would drop the
        # whole notebook; raising instead costs only the cells that reach it.
        def _no_exit(*args, **kwargs):
            raise SystemExit("os._exit() is disabled while the notebook is graded")

        os._exit = _no_exit
        os.abort = _no_exit
