"""The kernel side of the grader: run the student's function on the worker's inputs, send back plain values.

Every check of ``solutions/losses`` and ``solutions/training`` runs here, in the student's
kernel (book chapter "For instructors"). The functions it needs are bound when this module
is imported (the notebooks' locked first cell, before any student cell ran), so replacing
``torch.tensor`` or ``builtins.sum`` later changes nothing here; results are converted with
torch-function overrides disabled. The worker (``worker.py``) makes the inputs and judges.
One ``run_*`` per kind of check; ``checks.CHECKS`` says which check uses which.
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

from .messages import say
from .protocol import build, decode, parameters, plain
from .rules import FINAL_MAX_EPOCHS

__all__ = ["prepare", "ask", "run_loss", "run_fit", "run_distill", "run_accuracy", "run_final"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_LOSSES_FILE = os.path.join(os.path.dirname(_HERE), "losses.py")
_TRAIN_FILE = os.path.join(os.path.dirname(_HERE), "train.py")
#: kdutils.train's training loops: the final task must train with the student's own distill_one_epoch.
_LIBRARY_LOOPS = ("train_supervised", "train_distillation", "fit_tensors", "fit_custom")

# Pristine references, captured at import time.
_type, _isinstance, _float, _int, _list, _bool, _callable = type, isinstance, float, int, list, bool, callable
_getattr = getattr
_Exception, _AssertionError = Exception, AssertionError
_Tensor, _Module, _Param = torch.Tensor, nn.Module, nn.Parameter
_size, _is_floating, _requires_grad_ = torch.Tensor.size, torch.Tensor.is_floating_point, torch.Tensor.requires_grad_
_mul, _sum, _grad = torch.mul, torch.sum, torch.autograd.grad
_is_grad_enabled, _enable_grad = torch.is_grad_enabled, torch.enable_grad
_manual_seed = torch.manual_seed
_NoTorchFunction = torch._C.DisableTorchFunction
_named_parameters, _train_mode, _register_pre = nn.Module.named_parameters, nn.Module.train, nn.Module.register_forward_pre_hook
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

_state = {"worker": None}


def prepare() -> None:
    """Start the grading worker now (the notebooks' first cell does), so later checks are quick."""
    _ensure_worker()


def _ensure_worker():
    w = _state["worker"]
    if w is None or w.poll() is not None:
        w = _state["worker"] = _Popen(
            [_executable, "-I", os.path.join(_HERE, "worker.py"), "--worker"],
            stdin=_PIPE, stdout=_PIPE, stderr=_DEVNULL, text=True, bufsize=1,
            start_new_session=True,  # a kernel interrupt (cell timeout) must not reach the worker
        )
    return w


def ask(request: dict) -> dict:
    """One JSON request to the worker, one JSON reply (``{"op": "cases" | "judge", "check": ..., ...}``)."""
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
    raise RuntimeError(say("worker.no_answer"))


def _request(op: str, name: str, part: str, hidden: bool, **extra) -> dict:
    return ask({"op": op, "check": name, "part": part, "hidden": _bool(hidden), **extra})


def _judge(name: str, part: str, hidden: bool, results) -> None:
    """Send the plain results to the worker and fail the test cell with its diagnosis."""
    v = _request("judge", name, part, hidden, results=results)
    if not v["ok"]:
        raise _AssertionError(v["message"])


def _check_part(name, check, part):
    part = check.default_part if part is None else part
    if part not in check.parts:
        raise ValueError(f"part must be one of {check.parts}, got part={part!r}")
    return part


def _describe(x) -> str:
    t = _type(x)
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__


def _raised(e: BaseException) -> str:
    return say("result.raised", error=_type(e).__name__, text=e)


def _tensor_result(out) -> dict:
    """Plain description of a returned tensor, or an error when it is not an exact torch.Tensor."""
    if _type(out) is not _Tensor and _type(out) is not _Param:
        if _isinstance(out, _Tensor):
            return {"error": say("result.tensor_subclass", type=_describe(out))}
        return {"error": say("result.not_tensor", type=_describe(out))}
    with _NoTorchFunction():
        if not _is_floating(out):
            return {"error": say("result.not_floating", dtype=out.dtype)}
        return {"value": plain(out), "shape": _list(_size(out))}


def _number(v):
    """A Python number from a returned value, or None (0-d tensors are described separately)."""
    if _type(v) in (_float, _int):
        return _float(v)
    return None


def _record_scalar(res: dict, key: str, out) -> None:
    """Record a returned scalar under ``key``; anything else under ``key_type`` (and a 1-element tensor's value)."""
    n = _number(out)
    if n is not None:
        res[key] = n
        return
    res[f"{key}_type"] = _describe(out)
    if _type(out) is _Tensor and out.numel() == 1:
        res[f"{key}_tensor"] = _float(plain(out.reshape(()).double()))


def _call(res: dict, f, *args) -> None:
    """Call the student's ``f`` seeded (dropout left on by mistake still scores the same); record a raise."""
    try:
        _manual_seed(0)
        f(*args)
    except _Exception as e:
        res["error"] = _raised(e)


# ----- loss functions -------------------------------------------------------------------------------
class _ReferenceSpy:
    """Profiler hook that records calls into kdutils/losses.py (the reference) while active."""

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, frame, event, arg):
        if event == "call" and frame.f_code.co_filename == _LOSSES_FILE:
            name = frame.f_code.co_name
            if name not in self.calls:
                self.calls.append(name)


def _run_loss_case(fn, case: dict) -> dict:
    args = [decode(a) for a in case["args"]]
    gi = case.get("grad")
    if gi is not None:
        args[gi] = _requires_grad_(args[gi], True)
    spy = _ReferenceSpy()
    tampered = False
    try:
        with _enable_grad():
            _setprofile(spy)
            try:
                out = fn(*args)
            finally:
                tampered = _getprofile() is not spy
                _setprofile(None)
            res = _tensor_result(out)
            if "error" not in res and gi is not None:
                if not out.requires_grad:
                    res["grad"] = None
                else:
                    w = decode(case["weight"]) if "weight" in case else None
                    with _NoTorchFunction():
                        obj = _sum(_mul(out, w)) if w is not None else _sum(out)
                    (g,) = _grad(obj, [args[gi]], allow_unused=True)
                    res["grad"] = None if g is None else plain(g)
    except _Exception as e:  # the student's function raised: report it, don't crash the grader
        res = {"error": _raised(e)}
    if spy.calls:
        res["reference_calls"] = spy.calls
    if tampered:
        res["reference_calls"] = (res.get("reference_calls") or []) + ["<profiler removed>"]
    return res


def run_loss(name: str, check, fn, part: str | None = None, hidden: bool = False) -> None:
    """A loss function: every case of ``part`` is run here (calls into the reference are detected), then judged."""
    part = _check_part(name, check, part)
    if not _callable(fn):
        raise _AssertionError(say("input.not_function", name=name, type=_describe(fn)))
    cases = _request("cases", name, part, hidden)["cases"]
    _judge(name, part, hidden, [_run_loss_case(fn, c) for c in cases])


# ----- training functions ---------------------------------------------------------------------------
def _grads(m: nn.Module) -> list:
    return [None if p.grad is None else plain(p.grad) for _, p in _named_parameters(m)]


def _loader(setup: dict):
    return _DataLoader(_TensorDataset(decode(setup["X"]), decode(setup["y"])), batch_size=setup["batch_size"], shuffle=False)


def run_fit(name: str, check, fn, part: str | None = None, hidden: bool = False) -> None:
    """``fit_soft_targets``: the grader owns the module, the inputs and the targets, and judges the trained weights."""
    part = _check_part(name, check, part)
    setup = _request("cases", name, part, hidden)
    student = build(setup["student_spec"], setup["student_state"])
    inputs, targets = decode(setup["inputs"]), decode(setup["teacher_probs"])
    res: dict = {}

    def call():
        out = fn(student, inputs, targets, steps=setup["steps"], lr=setup["lr"])
        if _isinstance(out, (list, tuple)):
            vals = []
            for v in out:
                n = _number(v)
                if n is None and _type(v) is _Tensor and v.numel() == 1:
                    n = plain(v.reshape(())) if v.dim() else plain(v)
                vals.append(n)
            res["losses"] = vals
        else:
            res["losses_type"] = _describe(out)

    _call(res, call)
    res["weights"] = parameters(student)
    _judge(name, part, hidden, res)


def run_distill(name: str, check, fn, part: str | None = None, hidden: bool = False) -> None:
    """``distill_one_epoch``: records, from outside the student's code, the modes and grad state of each forward
    pass, the optimiser steps and backward passes, and the weights afterwards; the worker compares them."""
    part = _check_part(name, check, part)
    setup = _request("cases", name, part, hidden)
    loader = _loader(setup)
    teacher = build(setup["teacher_spec"], setup["teacher_state"])
    student = build(setup["student_spec"], setup["student_state"])
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
    _register_hook([p for _, p in _named_parameters(student)][0], backward_hook)
    res: dict = {}
    _call(res, lambda: _record_scalar(res, "loss", fn(student, teacher, loader, optimizer, setup["T"], setup["alpha"])))
    res.update(log)
    res["student_weights"] = parameters(student)
    res["teacher_weights"] = parameters(teacher)
    res["teacher_grads"] = _grads(teacher)
    _judge(name, part, hidden, res)


def run_accuracy(name: str, check, fn, part: str | None = None, hidden: bool = False) -> None:
    """``evaluate_accuracy``: a fraction in [0, 1], computed in eval mode without gradients."""
    part = _check_part(name, check, part)
    setup = _request("cases", name, part, hidden)
    loader = _loader(setup)
    model = build(setup["model_spec"], setup["model_state"])
    _train_mode(model, True)  # handed over in training mode on purpose
    log = {"forward": []}

    def hook(module, inputs):
        log["forward"].append([_bool(module.training), _bool(_is_grad_enabled())])

    _register_pre(model, hook)
    res: dict = {}
    _call(res, lambda: _record_scalar(res, "value", fn(model, loader)))
    res.update(log)
    _judge(name, part, hidden, res)


class _TrainingSpy:
    """Profiler hook: counts calls of the student's ``distill_one_epoch``, records ``kdutils.train``'s loops."""

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


def run_final(name: str, check, train_fn, epoch_fn, teacher, epochs) -> None:
    """The final task: ``train_fn(teacher, loader, epochs)`` (the student's ``distil_student``) distils ``teacher``.

    ``epoch_fn`` (the student's ``distill_one_epoch``) must first pass the checks of ``check.first``.
    Then the grader calls ``train_fn`` itself, under its own seed, on the transfer set the worker
    sends (``rules.FINAL_PER_CLASS`` labelled digits per class), counting the calls to ``epoch_fn``
    and to ``kdutils.train``'s training loops; the worker rebuilds the returned student from its
    weights and measures its test accuracy (``FINAL_ACCURACY`` within ``FINAL_MAX_EPOCHS``).
    Prints the verdict when it passes.
    """
    if not _callable(train_fn):
        raise _AssertionError(say("input.not_function", name="distil_student", type=_describe(train_fn)))
    if not _callable(epoch_fn):
        raise _AssertionError(say("input.not_function", name="distill_one_epoch", type=_describe(epoch_fn)))
    if not _isinstance(teacher, _Module):
        raise _AssertionError(say("input.not_module", name="teacher", type=_describe(teacher)))
    if _type(epochs) is not _int or epochs < 1:
        raise _AssertionError(say("input.bad_epochs", epochs=epochs))
    if epochs > FINAL_MAX_EPOCHS:
        raise _AssertionError(say("final.epochs", epochs=epochs, max_epochs=FINAL_MAX_EPOCHS))
    for first_name, first in check.first:
        for part in first.parts:
            try:
                first.run(first_name, first, epoch_fn, part)
            except _AssertionError as e:
                raise _AssertionError(say("final.fix_first", name=first_name, part=part, message=e)) from None
    part = check.default_part
    setup = _request("cases", name, part, True)
    loader = _DataLoader(_TensorDataset(decode(setup["X"]), decode(setup["y"])), batch_size=setup["batch_size"],
                         shuffle=True, generator=_Generator().manual_seed(setup["seed"]))
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
            res["error"] = say("final.profiler_removed")
        elif _isinstance(model, _Module):
            res["params"] = [(n, _list(_size(p)), plain(p)) for n, p in _named_parameters(model)]
        else:
            res["returned"] = _describe(model)
    except _Exception as e:
        res["error"] = _raised(e)
    res["epoch_calls"] = spy.epoch_calls
    res["library"] = spy.library
    v = _request("judge", name, part, True, results=res)
    if not v["ok"]:
        raise _AssertionError(v["message"])
    _print(v["message"])
