"""The grading worker: a fresh ``python -I`` process that makes the cases, computes the reference and judges.

Started by ``kdutils.grading.prepare()`` (the first cell of the ``losses`` and ``training``
notebooks; book chapter "For instructors"). It imports this folder as a private package
``_kdgrading`` (never ``kdutils/__init__``) and answers one JSON request per line:
``{"op": "cases" | "judge", "check": name, "part": ..., "hidden": ..., "results": ...}``,
dispatched through ``checks.CHECKS``. ``hidden`` is False or a key (``keys.hidden_key``): the hidden
cases derive from the course key written into the hidden test cells, and ``hidden: true`` gets no
cases, only the message that hidden checks run only in grading. Nothing here runs in the student's kernel.

``python -m kdutils.course autograde`` starts one *shared* worker for its whole run
(``--serve SOCKET``: the same protocol on a Unix socket, one connection per kernel, requests
answered one at a time), so that each notebook does not pay for a second ``import torch``; a
kernel that cannot reach it starts its own worker as above.
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

from .checks import CHECKS  # noqa: E402
from .keys import HiddenOnlyInGrading, hidden_key  # noqa: E402
from .messages import language, say, set_language  # noqa: E402

__all__ = ["answer", "serve", "serve_socket"]

_DEFAULT_LANG = language()  # $KDUTILS_GRADING_LANG when started, else English


def answer(req: dict) -> dict:
    """The reply to one request, its diagnoses in the request's ``lang`` (default: this process's language)."""
    set_language(req.get("lang") or _DEFAULT_LANG)
    name = req["check"]
    check = CHECKS.get(name)
    if check is None:
        return {"ok": False, "message": say("worker.unknown_check", check=name)}
    part = req.get("part")
    try:
        hidden = hidden_key(req.get("hidden", False))
    except HiddenOnlyInGrading as e:
        return {"ok": False, "message": str(e)}
    if req["op"] == "cases":
        made = check.cases(name, part, hidden)
        return {"cases": made} if isinstance(made, list) else made
    return check.judge(name, check, part, hidden, req["results"])


def serve() -> None:
    """Worker loop: one JSON request per line on stdin, one JSON reply per line on stdout."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but replies on the real stdout
    for line in sys.stdin:
        out.write(_reply(line))
        out.flush()


def _reply(line) -> str:
    try:
        reply = answer(json.loads(line))
    except Exception as e:  # never die silently: the kernel shows this message
        reply = {"ok": False, "message": say("worker.error", error=type(e).__name__, text=e), "cases": []}
    return json.dumps(reply) + "\n"


def warm_up() -> None:
    """What the first notebooks of a run would otherwise wait for: ``torch._dynamo`` (imported by the first
    optimizer a reference loop builds) and every check's visible cases (the digits splits among them)."""
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    for name, check in CHECKS.items():
        check.cases(name, check.default_part, False)


def serve_socket(path: str) -> None:
    """The shared worker of one autograde run: the line protocol on the Unix socket ``path`` (owner only),
    a thread per connection, one request answered at a time. Warms up, then prints ``ready`` once it listens."""
    import signal
    import socketserver
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    warm_up()
    lock = threading.Lock()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                with lock:
                    text = _reply(line)
                self.wfile.write(text.encode())
                self.wfile.flush()

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    old = os.umask(0o077)
    try:
        server = Server(path, Handler)
    finally:
        os.umask(old)
    out = sys.stdout
    sys.stdout = sys.stderr
    out.write("ready\n")
    out.flush()
    server.serve_forever()


if __name__ == "__main__" and "--worker" in sys.argv:
    serve()
elif __name__ == "__main__" and "--serve" in sys.argv:
    serve_socket(sys.argv[sys.argv.index("--serve") + 1])
