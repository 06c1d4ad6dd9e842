"""The grading worker: a fresh ``python -I`` process that makes the cases, computes the reference and judges.

Started by ``kdutils.grading.prepare()`` (the first cell of the ``losses`` and ``training``
notebooks; book chapter "For instructors"). It imports this folder as a private package
``_kdgrading`` (never ``kdutils/__init__``) and answers one JSON request per line.
Nothing here runs in the student's kernel.
"""
from __future__ import annotations

import json
import os
import sys
import types

if __name__ == "__main__":
    # Run as a script: make this folder importable as the private package ``_kdgrading``.
    _pkg = types.ModuleType("_kdgrading")
    _pkg.__path__ = [os.path.dirname(os.path.abspath(__file__))]
    sys.modules["_kdgrading"] = _pkg
    __package__ = "_kdgrading"

import torch  # noqa: E402

from .cases import _cases, _setup  # noqa: E402
from .final import _judge_final, _setup_final  # noqa: E402
from .judge import _judge_accuracy, _judge_distill, _judge_fit, _judge_loss  # noqa: E402
from .rules import _LOSS_FUNCTIONS  # noqa: E402


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
                reply = _setup_final() if check == "final_student" else _setup(check, part, hidden)
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


if __name__ == "__main__" and "--worker" in sys.argv:
    _serve()
