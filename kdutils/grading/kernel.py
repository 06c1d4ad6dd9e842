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
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import types

import torch
from torch import nn

from .keys import hidden_key
from .messages import language, say, set_language
from .protocol import build, decode, parameters, plain
from .rules import FINAL_HANG_SECONDS, FINAL_MAX_EPOCHS, HANG_REPEAT_SECONDS, HANG_SECONDS, TRAIN_HANG_SECONDS

__all__ = ["CheckFailed", "StoppedFunction", "prepare", "ask", "run_loss", "run_fit", "run_distill", "run_accuracy", "run_final"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_LOSSES_FILE = os.path.join(os.path.dirname(_HERE), "losses.py")
_TRAIN_FILE = os.path.join(os.path.dirname(_HERE), "train.py")
#: kdutils.train's training loops: the final task must train with the student's own distill_one_epoch.
_LIBRARY_LOOPS = ("train_supervised", "train_distillation", "fit_tensors", "fit_custom")

class CheckFailed(AssertionError):
    """A check's verdict. In a notebook it shows as the test cell's own line and the diagnosis, without the
    grader's frames (IPython calls ``_render_traceback_``): a student reads what is wrong, not ``_request(...)``."""

    def _render_traceback_(self) -> list[str]:
        kept, tb = [], self.__traceback__
        while tb is not None:  # the cell's frames (and IPython's own, which its tb_offset skips)
            if not tb.tb_frame.f_code.co_filename.startswith(_HERE):
                kept.append(tb)
            tb = tb.tb_next
        trimmed = None
        for t in reversed(kept):
            trimmed = types.TracebackType(trimmed, t.tb_frame, t.tb_lasti, t.tb_lineno)
        try:
            from IPython import get_ipython

            return get_ipython().InteractiveTB.structured_traceback(AssertionError, self, trimmed)
        except Exception:  # not in IPython, or its formatter failed: the diagnosis alone
            return [f"AssertionError: {self}"]


class StoppedFunction(CheckFailed):
    """A check that failed because a student function overran the grader's time budget and was stopped (messages
    ``hang.*``). Its class name (the ``ename`` of the cell's error output), not its wording, tells
    ``kdutils.course.failures`` that a function was stopped, in every language of the assignment."""


# Pristine references, captured at import time.
_type, _isinstance, _float, _int, _list, _bool, _callable, _len = type, isinstance, float, int, list, bool, callable, len
_getattr, _id, _tuple = getattr, id, tuple
_Exception, _AssertionError, _Stopped = Exception, AssertionError, StoppedFunction
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
_signal, _setitimer, _settrace, _gettrace = signal.signal, getattr(signal, "setitimer", None), sys.settrace, sys.gettrace
_SIGALRM, _ITIMER_REAL = getattr(signal, "SIGALRM", None), getattr(signal, "ITIMER_REAL", None)
_current_thread, _main_thread, _perf_counter = threading.current_thread, threading.main_thread, time.perf_counter
_FunctionType, _CodeType, _BaseException = types.FunctionType, types.CodeType, BaseException
#: files whose frames are never the student's: this package, the rest of kdutils, the standard library, site-packages
_OURS = (_HERE + os.sep,)
_LIBRARY = tuple(sorted({os.path.dirname(_HERE) + os.sep} | {
    sysconfig.get_paths()[k] + os.sep for k in ("stdlib", "platstdlib", "purelib", "platlib")}))

# "worker": the grading worker; "hung": {code object of a student function that did not return: (name, seconds)};
# "shared": the socket of the autograde run's shared worker, read once, before any student cell ran
_state = {"worker": None, "hung": {}, "shared": os.environ.get("KDUTILS_GRADING_WORKER") or None}
#: seconds to wait for the shared worker's answer before falling back to a worker of this kernel's own
SHARED_TIMEOUT = 120.0


class _SharedWorker:
    """A connection to the shared worker (``worker.serve_socket``), with the pipes' interface of a private one."""

    def __init__(self, path: str):
        import socket

        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(SHARED_TIMEOUT)
            self._sock.connect(path)
        except OSError:
            self._sock.close()
            raise
        self.stdin = self._sock.makefile("w", encoding="utf-8", newline="\n")
        self.stdout = self._sock.makefile("r", encoding="utf-8", newline="\n")

    def poll(self):
        return None if self._sock.fileno() != -1 else 1

    def kill(self) -> None:
        for f in (self.stdin, self.stdout, self._sock):
            try:
                f.close()
            except OSError:
                pass


def no_exit_message() -> str:
    """What a notebook that calls ``os._exit`` while nbgrader runs it is told (``kdutils.grading``)."""
    return say("kernel.no_exit")


def prepare(lang: str | None = None) -> None:
    """Start the grading worker now (the notebooks' first cell does), so later checks are quick.

    ``lang`` is the assignment's language for every diagnosis (``"en"`` or ``"zh"``; the Chinese
    releases' locked first cell passes ``lang="zh"``); None keeps the current one.
    """
    if lang is not None:
        set_language(lang)
    _ensure_worker()


def _ensure_worker():
    w = _state["worker"]
    if w is None or w.poll() is not None:
        if _state["shared"]:
            try:
                w = _state["worker"] = _SharedWorker(_state["shared"])
                return w
            except OSError:  # not there (any more): this kernel's own worker
                _state["shared"] = None
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
        if _isinstance(w, _SharedWorker):
            _state["shared"] = None  # it failed once: ask a worker of this kernel's own
    raise RuntimeError(say("worker.no_answer"))


def _request(op: str, name: str, part: str, hidden, **extra) -> dict:
    """``hidden``: False, or the key a hidden test cell passes (``keys.hidden_key``; ``hidden=True`` is refused).
    Every request names the assignment's language (``prepare(lang=...)``): one worker may serve both."""
    return ask({"op": op, "check": name, "part": part, "hidden": hidden_key(hidden), "lang": language(), **extra})


def _judge(name: str, part: str, hidden: bool, results) -> None:
    """Send the plain results to the worker and fail the test cell with its diagnosis."""
    v = _request("judge", name, part, hidden, results=results)
    if not v["ok"]:
        raise _AssertionError(v["message"])


def _check_part(name, check, part):
    part = check.default_part if part is None else part
    if part not in check.parts:
        raise ValueError(say("input.bad_part", parts=", ".join(check.parts), part=part))
    return part


def _describe(x) -> str:
    t = _type(x)
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__


def _raised(e: BaseException) -> str:
    name = _type(e).__name__
    if name == "NotImplementedError":  # the released cell, untouched
        return say("result.not_implemented")
    text = f"{e}"
    return say("result.raised", error=name, text=text) if text.strip() else say("result.raised_bare", error=name)


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


# ----- the time budget of a student's function ---------------------------------------------------------
class _Hang(BaseException):
    """Raised inside the student's code when it overruns its budget (a BaseException: ``except Exception``
    in the student's code does not swallow it)."""


def _is_student(code) -> bool:
    f = code.co_filename
    return not f.startswith(_LIBRARY) and not f.startswith(_OURS)


class _Budget:
    """``with _Budget(seconds):`` the student's code inside may run ``seconds``; then ``_Hang`` is raised in it.

    SIGALRM (``signal.setitimer``) in the kernel's main thread; the previous handler and timer are put
    back on exit. The handler never raises inside the grader's own frames. A loop that swallows the
    first ``_Hang`` (a bare ``except:``) gets another every ``HANG_REPEAT_SECONDS`` and, through a trace
    function, on its next line, which lies outside the ``try`` it swallowed the first one with. Code
    that still does not stop (C code, nested handlers, signals blocked) is ended by the cell timeout.
    ``fired``: alarms seen; ``stack``: the student's code objects on the stack at the first one, innermost first.
    """

    def __init__(self, seconds: float):
        self.seconds, self.fired, self.stack, self.active = seconds, 0, [], False

    def __enter__(self):
        if _setitimer is None or _current_thread() is not _main_thread():
            return self  # no SIGALRM here: the cell timeout is the only limit
        self.old_trace = _gettrace()
        self.old_handler = _signal(_SIGALRM, self._alarm)
        self.old_timer = _setitimer(_ITIMER_REAL, self.seconds, HANG_REPEAT_SECONDS)
        self.t0, self.active = _perf_counter(), True
        return self

    def _alarm(self, signum, frame):
        if not self.fired:
            f = frame
            while f is not None:
                if _is_student(f.f_code):
                    self.stack.append(f.f_code)
                f = f.f_back
        self.fired += 1
        f = frame
        while f is not None:  # the student's frames raise on their next line, outside the try that caught us
            if _is_student(f.f_code):
                f.f_trace = self._trace
            f = f.f_back
        _settrace(self._trace)
        if frame is not None and not _is_student(frame.f_code) and frame.f_code.co_filename.startswith(_OURS):
            return  # never inside the grader's own code
        raise _Hang

    def _trace(self, frame, event, arg):
        if event == "line" and _is_student(frame.f_code):
            raise _Hang
        return self._trace

    def __exit__(self, *exc):
        if self.active:
            self.active = False
            _setitimer(_ITIMER_REAL, 0, 0)  # first stop the alarms, then put the old handler back
            _settrace(self.old_trace)
            _signal(_SIGALRM, self.old_handler)
            delay, interval = self.old_timer
            if delay > 0:
                _setitimer(_ITIMER_REAL, max(delay - (_perf_counter() - self.t0), 1e-3), interval)
        return False


def _name_of(code, fallback: str) -> str:
    return code.co_name if code is not None and not code.co_name.startswith("<") else fallback


def _codes(code):
    """``code`` and the code objects nested in it (inner functions, lambdas, comprehensions)."""
    yield code
    for c in code.co_consts:
        if _isinstance(c, _CodeType):
            yield from _codes(c)


def _hung_callee(fn, seen=None):
    """``(name, seconds)`` of a recorded hang that ``fn`` is or calls by a global name (transitively), else None."""
    hung = _state["hung"]
    code = _getattr(fn, "__code__", None)
    if not hung or not _isinstance(code, _CodeType):
        return None
    seen = set() if seen is None else seen
    if _id(fn) in seen:
        return None
    seen.add(_id(fn))
    g = _getattr(fn, "__globals__", {})
    for c in _codes(code):
        if c in hung:
            return hung[c]
        for n in c.co_names:
            callee = g.get(n) if _isinstance(g, dict) else None
            if _type(callee) is _FunctionType:
                found = _hung_callee(callee, seen)
                if found:
                    return found
    return None


def _refuse_hung(fn, caller: str) -> None:
    """Fail at once when ``fn`` is, or calls, a function of the student's that already did not return."""
    found = _hung_callee(fn)
    if found:
        name, seconds = found
        if name == caller:
            raise _Stopped(say("hang.again", name=name, seconds=seconds))
        raise _Stopped(say("hang.calls", name=name, caller=caller, seconds=seconds))


def _within_budget(fn, work, seconds: float = HANG_SECONDS, caller: str | None = None):
    """``work()``, which calls the student's ``fn``, within ``seconds``; a hang is recorded and fails the check."""
    caller = caller or _getattr(fn, "__name__", "your function")
    _refuse_hung(fn, caller)
    budget = _Budget(seconds)
    try:
        with budget:
            result = work()
    except _Hang:
        result = None
    if not budget.fired:
        return result
    # the innermost named function of the student's that was running is the one that loops
    looping = next((c for c in budget.stack if not c.co_name.startswith("<")), _getattr(fn, "__code__", None))
    name = _name_of(looping, caller)
    if looping is not None:
        _state["hung"][looping] = (name, seconds)
    if name == caller:
        raise _Stopped(say("hang.first", name=name, seconds=seconds))
    raise _Stopped(say("hang.calls", name=name, caller=caller, seconds=seconds))


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


def run_loss(name: str, check, fn, part: str | None = None, hidden=False) -> None:
    """A loss function: every case of ``part`` is run here (calls into the reference are detected), then judged."""
    part = _check_part(name, check, part)
    if not _callable(fn):
        raise _AssertionError(say("input.not_function", name=name, type=_describe(fn)))
    _refuse_hung(fn, name)
    cases = _request("cases", name, part, hidden)["cases"]
    try:
        _judge(name, part, hidden, _within_budget(fn, lambda: [_run_loss_case(fn, c) for c in cases], caller=name))
    except _AssertionError:
        _blame_first(check, fn)
        raise


def _blame_first(check, fn) -> None:
    """After a failure: when ``fn`` calls a function of ``check.first`` (the student's own ``kd_kl_loss``,
    found by name in ``fn``'s globals) that fails its visible checks, raise "fix it first" instead."""
    code, env = _getattr(fn, "__code__", None), _getattr(fn, "__globals__", None)
    if code is None or _type(env) is not dict:
        return
    for first_name, first in check.first:
        helper = env.get(first_name)
        if first_name not in code.co_names or not _callable(helper):
            continue
        for part in first.parts:
            try:
                first.run(first_name, first, helper, part)
            except _AssertionError as e:
                Ts = sorted({c["args"][first.temperature_arg] for c in _request("cases", first_name, part, False)["cases"]})
                what = (say("loss.fix_first.T", T=f"{Ts[0]:g}") if _len(Ts) == 1 else say("loss.fix_first.part", part=part))
                raise (_Stopped if _isinstance(e, _Stopped) else _AssertionError)(say("loss.fix_first", name=first_name, what=what, message=e)) from None


# ----- training functions ---------------------------------------------------------------------------
def _grads(m: nn.Module) -> list:
    return [None if p.grad is None else plain(p.grad) for _, p in _named_parameters(m)]


def _loader(setup: dict):
    return _DataLoader(_TensorDataset(decode(setup["X"]), decode(setup["y"])), batch_size=setup["batch_size"], shuffle=False)


def run_fit(name: str, check, fn, part: str | None = None, hidden=False) -> None:
    """``fit_soft_targets``: the grader owns the module, the inputs and the targets, and judges the trained weights."""
    part = _check_part(name, check, part)
    _refuse_hung(fn, name)
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
                    res["tensors"] = True  # the notebook asks for Python floats
                vals.append(n)
            res["losses"] = vals
        else:
            res["losses_type"] = _describe(out)

    _within_budget(fn, lambda: _call(res, call), TRAIN_HANG_SECONDS, caller=name)
    res["weights"] = parameters(student)
    _judge(name, part, hidden, res)


def run_distill(name: str, check, fn, part: str | None = None, hidden=False) -> None:
    """``distill_one_epoch``: records, from outside the student's code, the modes and grad state of each forward
    pass, the optimiser steps and backward passes, and the weights afterwards; the worker compares them."""
    part = _check_part(name, check, part)
    _refuse_hung(fn, name)
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
    _within_budget(fn, lambda: _call(res, lambda: _record_scalar(
        res, "loss", fn(student, teacher, loader, optimizer, setup["T"], setup["alpha"]))), TRAIN_HANG_SECONDS, caller=name)
    res.update(log)
    res["student_weights"] = parameters(student)
    res["teacher_weights"] = parameters(teacher)
    res["teacher_grads"] = _grads(teacher)
    _judge(name, part, hidden, res)


def run_accuracy(name: str, check, fn, part: str | None = None, hidden=False) -> None:
    """``evaluate_accuracy``: a fraction in [0, 1], computed in eval mode without gradients."""
    part = _check_part(name, check, part)
    _refuse_hung(fn, name)
    setup = _request("cases", name, part, hidden)
    loader = _loader(setup)
    model = build(setup["model_spec"], setup["model_state"])
    _train_mode(model, True)  # handed over in training mode on purpose
    log = {"forward": []}

    def hook(module, inputs):
        log["forward"].append([_bool(module.training), _bool(_is_grad_enabled())])

    _register_pre(model, hook)
    res: dict = {}
    _within_budget(fn, lambda: _call(res, lambda: _record_scalar(res, "value", fn(model, loader))), TRAIN_HANG_SECONDS, caller=name)
    res.update(log)
    _judge(name, part, hidden, res)


class _DataGuard(torch.overrides.TorchFunctionMode):
    """While ``distil_student`` runs: every torch call that combines a tensor requiring gradients with a
    64-feature tensor that is not a parameter (a batch of digits images, as rows or, transposed, as columns;
    also when it was made to require gradients itself) while gradients are on, is a training computation;
    each such row must be one of the transfer set's rows, exactly.

    Records how many rows from elsewhere (the full training split, the test split, noised or shifted images)
    were trained on. Evaluations under ``torch.no_grad()`` are not counted. Catches ``student(x)``,
    ``student.forward(x)`` and a hand-written ``x @ W.T`` alike (issue 23 §4.1).
    """

    def __init__(self, X):
        super().__init__()
        X = X.detach().to(torch.float32)
        self.image = _tuple(X.shape[-2:]) if X.dim() >= 3 else None  # (8, 8): images not yet flattened
        self.width = w = X[0].numel()
        self.allowed = {r.tobytes() for r in X.reshape(-1, w).contiguous().numpy()}
        self.foreign = 0
        self.seen = 0

    def _check(self, t) -> None:
        w = self.width
        with _NoTorchFunction():
            if t.dim() >= 1 and t.shape[-1] == w:
                rows = t.detach().to(torch.float32).reshape(-1, w)
            elif self.image is not None and t.dim() >= 2 and _tuple(t.shape[-2:]) == self.image:
                rows = t.detach().to(torch.float32).reshape(-1, w)
            elif t.dim() >= 2 and t.shape[-2] == w:
                rows = t.detach().to(torch.float32).transpose(-1, -2).reshape(-1, w)
            else:
                return
            rows = rows.contiguous().numpy()
        self.seen += _len(rows)
        for r in rows:
            if r.tobytes() not in self.allowed:
                self.foreign += 1

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _is_grad_enabled():
            flat = [a for a in (*args, *kwargs.values()) if _isinstance(a, _Tensor)]
            if _len(flat) >= 2 and True in [a.requires_grad for a in flat]:
                for a in flat:  # every operand but the weights and what is computed from them alone (activations)
                    if not _isinstance(a, _Param) and _is_floating(a) and (
                            not a.requires_grad or a.is_leaf or _from_data(a)):
                        self._check(a)
        return func(*args, **kwargs)


def _from_data(t, limit: int = 400) -> bool:
    """True when the autograd graph of ``t`` reaches a leaf that is not a parameter (data made to require grad),
    False when its leaves are parameters only (a hidden activation) or the graph is larger than ``limit`` nodes."""
    stack, seen = [t.grad_fn], 0
    while stack:
        fn = stack.pop()
        if fn is None:
            continue
        seen += 1
        if seen > limit:
            return False
        var = _getattr(fn, "variable", None)  # an AccumulateGrad node: its leaf
        if var is not None and not _isinstance(var, _Param):
            return True
        stack.extend(f for f, _ in fn.next_functions)
    return False


#: what a distil_student may not call while it trains: loading data other than the loader it is given
_DATA_LOADERS = {"load_splits", "load_digits", "load_mnist", "fetch_openml"}


class _TrainingSpy:
    """Profiler hook: counts calls of the student's ``distill_one_epoch``, records ``kdutils.train``'s loops."""

    def __init__(self, code):
        self.code = code
        self.epoch_calls = 0
        self.library: list[str] = []
        self.loaded: list[str] = []

    def __call__(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code is self.code:
                self.epoch_calls += 1
            elif code.co_filename == _TRAIN_FILE and code.co_name in _LIBRARY_LOOPS and code.co_name not in self.library:
                self.library.append(code.co_name)
            elif code.co_name in _DATA_LOADERS and code.co_name not in self.loaded:
                self.loaded.append(code.co_name)


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
                raise (_Stopped if _isinstance(e, _Stopped) else _AssertionError)(say("final.fix_first", name=first_name, part=part, message=e)) from None
    part = check.default_part
    _refuse_hung(train_fn, "distil_student")
    setup = _request("cases", name, part, False)  # the transfer set: the same for everyone, no hidden values
    loader = _DataLoader(_TensorDataset(decode(setup["X"]), decode(setup["y"])), batch_size=setup["batch_size"],
                         shuffle=True, generator=_Generator().manual_seed(setup["seed"]))
    spy = _TrainingSpy(_getattr(epoch_fn, "__code__", None))
    X = decode(setup["X"])
    guard = _DataGuard(X)
    res: dict = {"epochs": epochs}

    def train():
        try:
            _manual_seed(setup["seed"])
            _setprofile(spy)
            try:
                with guard:
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

    _within_budget(train_fn, train, FINAL_HANG_SECONDS, caller="distil_student")
    res["epoch_calls"] = spy.epoch_calls
    res["library"] = spy.library
    res["loaded"] = spy.loaded
    res["foreign_rows"] = guard.foreign
    v = _request("judge", name, part, False, results=res)
    if not v["ok"]:
        raise _AssertionError(v["message"])
    _print(v["message"])
