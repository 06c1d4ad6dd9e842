"""Autograding checks for the nbgrader assignments, each with a diagnosis of the likely mistake.

The assignments (``solutions/losses``, ``solutions/training``) ask students for
the functions of ``kdutils.losses`` (Hinton, Vinyals & Dean 2015,
arXiv:1503.02531) and for a distillation training loop. A test cell calls,
e.g., ``kd.grading.check_kd_kl_loss(kd_kl_loss, "temperature")``; a failing
check raises ``AssertionError`` whose message names the mistake where it can
be recognised ("off by exactly T² = 16: multiply the KL term by T**2").

How a check stays fair and hard to game (see the book chapter "For instructors"):

* **Inputs and reference values never come from the student's kernel.** A
  separate, fresh Python process (the *worker*, ``python -I`` running
  ``_worker.py``, which loads ``kdutils/losses.py`` straight from disk) makes the
  test cases (``cases``), computes the reference answers and the known mistakes
  (``reference``, ``mistakes``) and judges (``judge``). Monkeypatching
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

This file is the kernel side (used by every test cell of ``solutions/losses`` and
``solutions/training``; book chapter "For instructors"); the other modules of this
package run only in the worker.
"""
from __future__ import annotations

import copy
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

from .rules import _LOSS_FUNCTIONS, FINAL_ACCURACY, FINAL_MAX_EPOCHS, FINAL_MAX_HIDDEN, PARTS  # noqa: E402,F401

_HERE = os.path.dirname(os.path.abspath(__file__))
_LOSSES_FILE = os.path.join(os.path.dirname(_HERE), "losses.py")
_TRAIN_FILE = os.path.join(os.path.dirname(_HERE), "train.py")

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
_Generator, _deepcopy, _print = torch.Generator, copy.deepcopy, print
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
            [_executable, "-I", os.path.join(_HERE, "_worker.py"), "--worker"],
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
        res = {"error": _raised(e)}
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
    _judge(name, part, hidden, results)


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


def _raised(e: BaseException) -> str:
    return f"raised {_type(e).__name__}: {e}"


def _record_scalar(res: dict, key: str, out) -> None:
    """Record a returned scalar under ``key``; anything else under ``key_type`` (and a 1-element tensor's value)."""
    n = _number(out)
    if n is not None:
        res[key] = n
        return
    res[f"{key}_type"] = _describe(out)
    if _type(out) is _Tensor and out.numel() == 1:
        res[f"{key}_tensor"] = _float(_plain(out.reshape(()).double()))


def _judge(check: str, part: str, hidden: bool, res) -> None:
    """Send the plain results to the worker and fail the test cell with its diagnosis."""
    verdict = _ask({"op": "judge", "check": check, "part": part, "hidden": _bool(hidden), "results": res})
    if not verdict["ok"]:
        raise _AssertionError(verdict["message"])


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
        res["error"] = _raised(e)
    res["weights"] = _weights(student)
    _judge("fit_soft_targets", part, hidden, res)


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
        _record_scalar(res, "loss", fn(student, teacher, loader, optimizer, setup["T"], setup["alpha"]))
    except _Exception as e:
        res["error"] = _raised(e)
    res.update(log)
    res["student_weights"] = _weights(student)
    res["teacher_weights"] = _weights(teacher)
    res["teacher_grads"] = _grads(teacher)
    _judge("distill_one_epoch", part, hidden, res)


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
        _record_scalar(res, "value", fn(model, loader))
    except _Exception as e:
        res["error"] = _raised(e)
    res.update(log)
    _judge("evaluate_accuracy", part, hidden, res)


_LIBRARY_LOOPS = ("train_supervised", "train_distillation", "fit_tensors", "fit_custom")


class _TrainingSpy:
    """Profiler hook: counts calls of the student's distill_one_epoch, records kdutils.train's training loops."""

    def __init__(self, code):
        self.code = code
        self.epoch_calls = 0
        self.library: list[str] = []

    def __call__(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code is self.code:
                self.epoch_calls += 1
            elif code.co_filename == _TRAIN_FILE and code.co_name in _LIBRARY_LOOPS and code.co_name not in self.library:
                self.library.append(code.co_name)


def check_final_student(train_fn, epoch_fn, teacher, epochs) -> None:
    """The training assignment's final task: ``train_fn(teacher, loader, epochs)`` distils ``teacher`` into a student.

    ``epoch_fn`` (the student's ``distill_one_epoch``) must first pass its own checks. Then the
    grader calls ``train_fn`` itself, under its own seed, on the transfer set the worker sends
    (``rules.FINAL_PER_CLASS`` labelled digits per class), counting the calls to ``epoch_fn``
    and to ``kdutils.train``'s training loops; the worker rebuilds the returned student from its
    weights and measures its test accuracy (``FINAL_ACCURACY`` within ``FINAL_MAX_EPOCHS``).
    """
    if not _callable(train_fn):
        raise _AssertionError(f"distil_student must be a function, got {_describe(train_fn)}")
    if not _callable(epoch_fn):
        raise _AssertionError(f"distill_one_epoch must be a function, got {_describe(epoch_fn)}")
    if not _isinstance(teacher, _Module):
        raise _AssertionError(f"teacher must be an nn.Module, got {_describe(teacher)}")
    if _type(epochs) is not _int or epochs < 1:
        raise _AssertionError(f"EPOCHS must be a positive int, got EPOCHS={epochs!r}")
    if epochs > FINAL_MAX_EPOCHS:
        raise _AssertionError(f"EPOCHS = {epochs}: reach the target within {FINAL_MAX_EPOCHS} epochs")
    for part in PARTS["distill_one_epoch"]:
        try:
            check_distill_one_epoch(epoch_fn, part)
        except _AssertionError as e:
            raise _AssertionError(f"fix distill_one_epoch first: its {part!r} check fails: {e}") from None
    setup = _ask({"op": "setup", "check": "final_student", "part": "accuracy", "hidden": True})
    X, y = _decode(setup["X"]), _decode(setup["y"])
    loader = _DataLoader(_TensorDataset(X, y), batch_size=setup["batch_size"], shuffle=True,
                         generator=_Generator().manual_seed(setup["seed"]))
    spy = _TrainingSpy(_getattr(epoch_fn, "__code__", None))
    res: dict = {"epochs": epochs}
    try:
        _manual_seed(setup["seed"])
        _setprofile(spy)
        try:
            model = train_fn(_deepcopy(teacher), loader, epochs)
        finally:
            removed = _getprofile() is not spy
            _setprofile(None)
        if removed:
            res["error"] = "removed the grader's profiler (sys.setprofile) while training"
        elif _isinstance(model, _Module):
            res["params"] = [(n, _list(_size(p)), _plain(p)) for n, p in _named_parameters(model)]
        else:
            res["returned"] = _describe(model)
    except _Exception as e:
        res["error"] = _raised(e)
    res["epoch_calls"] = spy.epoch_calls
    res["library"] = spy.library
    verdict = _ask({"op": "judge", "check": "final_student", "part": "accuracy", "hidden": True, "results": res})
    if not verdict["ok"]:
        raise _AssertionError(verdict["message"])
    _print(verdict["message"])


class _ReadOnlyModule(type(sys)):
    """The kernel-side module refuses to have its checks replaced (``kd.grading.check_x = ...``)."""

    def __setattr__(self, name, value):
        if name == "_worker":
            return super().__setattr__(name, value)
        raise AttributeError(f"kdutils.grading is read-only while grading: cannot set {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"kdutils.grading is read-only while grading: cannot delete {name!r}")


if __name__ != "__main__":
    sys.modules[__name__].__class__ = _ReadOnlyModule
    if os.environ.get("NBGRADER_EXECUTION"):
        # While nbgrader runs a notebook, os._exit would kill the kernel and nbgrader would drop the
        # whole notebook; raising instead costs only the cells that reach it.
        def _no_exit(*args, **kwargs):
            raise SystemExit("os._exit() is disabled while the notebook is graded")

        os._exit = _no_exit
        os.abort = _no_exit
