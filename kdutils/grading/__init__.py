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
  ``worker.py``, which loads ``kdutils/losses.py`` straight from disk) makes the
  test cases (``cases``), computes the reference answers and the known mistakes
  (``reference``, ``mistakes``) and judges (``judge``). Monkeypatching
  ``torch``, ``numpy``, ``math`` or ``kdutils`` inside the notebook does not
  reach it.
* **The kernel only runs the student's function** (``kernel``) on the worker's
  inputs and sends back plain numbers, converted with functions captured when
  this package was imported (before any student cell ran), with torch-function
  overrides disabled. A result must be an exact ``torch.Tensor`` (or a Python
  number), so an object whose ``__eq__`` always returns True earns nothing.
* **Calling the reference is detected** with a profiler hook: any call into
  ``kdutils/losses.py`` during a losses check fails that check, and says why.
* Test cases are seeded, so the same submission always gets the same score. The hidden cases
  derive from the course key that ``nbgrader generate_assignment`` writes into the hidden test
  cells (``keys``, ``HIDDEN``); ``hidden=True`` from a student's kernel gets none.
* **The final task is run by the grader.** ``check_final_student`` first runs the checks of the
  student's ``distill_one_epoch``, then calls their ``distil_student`` itself, under the grader's
  seed, on the transfer set the worker sends, with a profiler hook that counts the calls to
  ``distill_one_epoch`` and spots ``kdutils.train``'s training loops; the worker measures the
  returned student's test accuracy.

The package: ``checks`` (the registry ``CHECKS``: one entry per checked function),
``protocol`` (what kernel and worker exchange), ``messages`` (every diagnosis, by
mistake id), ``kernel`` (the kernel side), ``worker``, ``cases``, ``mistakes``,
``judge``, ``reference`` (the worker side) and ``rules`` (the final task's targets).
``check_<name>`` below is made from ``CHECKS[name]``.

Importing this package makes it read-only (``kd.grading.check_x = ...`` raises) and, while
nbgrader executes a notebook (``NBGRADER_EXECUTION``), turns ``os._exit`` into an
exception; ``import kdutils`` alone does not import it.
"""
from __future__ import annotations

import inspect
import os
import sys

from . import cases, checks, judge, keys, kernel, messages, mistakes, protocol, reference, rules, worker
from .checks import CHECKS, PARTS
from .kernel import prepare
from .rules import FINAL_ACCURACY, FINAL_MAX_EPOCHS, FINAL_MAX_HIDDEN

#: What a hidden test cell of ``solutions/`` passes as ``hidden=``: ``nbgrader generate_assignment`` replaces
#: it with the course key when the course has a secret (``keys``; ``python -m kdutils.course secret``); without
#: one it is the documented public default, whose cases are the public repository's.
HIDDEN = keys.PUBLIC_KEY

__all__ = [f"check_{name}" for name in CHECKS] + [
    "prepare", "HIDDEN", "CHECKS", "PARTS", "FINAL_ACCURACY", "FINAL_MAX_EPOCHS", "FINAL_MAX_HIDDEN"]


def _public_check(name: str, check: checks.Check):
    """``check_<name>(...)``: ``check.run(name, check, ...)`` with the run's signature and the entry's doc."""
    run = check.run

    def check_fn(*args, **kwargs):
        try:
            return run(name, check, *args, **kwargs)
        except AssertionError as e:  # shown as the diagnosis alone (kernel.CheckFailed)
            stopped = kernel._isinstance(e, kernel.StoppedFunction)  # a function stopped by the time budget
            raise (kernel.StoppedFunction if stopped else kernel.CheckFailed)(*e.args) from None

    sig = inspect.signature(run)
    params = list(sig.parameters.values())[2:]
    params = [p.replace(default=check.default_part) if p.name == "part" else p for p in params]
    check_fn.__signature__ = sig.replace(parameters=params)
    check_fn.__name__ = check_fn.__qualname__ = f"check_{name}"
    check_fn.__doc__ = check.doc
    check_fn.__module__ = __name__
    return check_fn


for _name, _check in CHECKS.items():
    globals()[f"check_{_name}"] = _public_check(_name, _check)
del _name, _check


class _ReadOnlyModule(type(sys)):
    """The kernel-side modules refuse to have their functions replaced (``kd.grading.check_x = ...``)."""

    def __setattr__(self, name, value):
        raise AttributeError(f"{self.__name__} is read-only while grading: cannot set {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"{self.__name__} is read-only while grading: cannot delete {name!r}")


for _mod in (sys.modules[__name__], cases, checks, judge, keys, kernel, messages, mistakes, protocol, reference, rules, worker):
    _mod.__class__ = _ReadOnlyModule
del _mod

if os.environ.get("NBGRADER_EXECUTION"):
    # While nbgrader runs a notebook, os._exit would kill the kernel and nbgrader would drop the
    # whole notebook; raising instead costs only the cells that reach it.
    # Only the cells' (main) thread is stopped: ipykernel's parent poller thread ends an orphaned
    # kernel (its nbgrader was killed) with os._exit, and must still be able to.
    import threading

    def _stopping(real):
        def _no_exit(*args, **kwargs):
            if threading.current_thread() is not threading.main_thread():
                return real(*args, **kwargs)
            raise SystemExit(kernel.no_exit_message())

        return _no_exit

    os._exit = _stopping(os._exit)
    os.abort = _stopping(os.abort)
