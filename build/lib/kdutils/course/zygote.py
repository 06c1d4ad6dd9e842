"""The kernel zygote of ``python -m kdutils.course autograde``: fresh kernels without the imports.

Every notebook nbgrader grades gets a new IPython kernel, and each new kernel imports torch,
``torch._dynamo`` (pulled in by the first ``torch.optim`` optimizer a cell builds), scikit-learn
and ipykernel again: about 5 CPU-seconds of a ``training`` notebook before any of its own work.
The zygote imports them once (the pattern of Android's zygote and of ``multiprocessing``'s
forkserver) and forks one kernel per notebook from that state. A forked kernel is a separate
process, like a fresh one: nothing a notebook does to its Python state reaches the zygote or the
next kernel, and the zygote itself never runs a cell or a torch operation.

Two sides, one file (a script that needs only the standard library on the client side):

* ``python zygote.py serve SOCKET``: the zygote. Imports ``PRELOAD``, checks it is still a single
  thread (a fork copies only the forking thread), prints ``ready`` and listens on the Unix socket
  (owner only). For each request it forks a kernel: new session, the client's stdin/stdout/stderr,
  working directory, environment and argv; then what a fresh process would have drawn or read at
  start (``random``/``numpy`` seeds, ``multiprocessing``'s authkey, thread-pool sizes from
  ``OMP_NUM_THREADS``, ipykernel's ``JPY_PARENT_PID``), ``PR_SET_PDEATHSIG``, and ipykernel's
  ``launch_new_instance``. It reaps the kernel and tells the client how it ended; a client that goes
  away takes its kernel with it (SIGKILL to the kernel's session). A request is read once it
  arrives, so a connection that sends nothing holds up no other kernel; a bad request is refused
  and logged, and the zygote keeps serving.
* ``python -I -S zygote.py connect SOCKET -f CONNECTION_FILE``: what the run's ``python3``
  kernelspec starts instead of ``python -m ipykernel_launcher``. It hands its stdio to the zygote,
  forwards the signals jupyter_client sends (SIGINT for an interrupt or a cell timeout, SIGTERM) to
  the kernel, and exits as the kernel did. It also exits, and so ends its kernel, when its own
  parent (nbgrader) dies, as ipykernel's parent poller would. If the zygote cannot be reached it
  becomes an ordinary kernel (``exec python -m ipykernel_launcher``).

``autograde`` starts the zygote for its run, points nbgrader at the kernelspec with ``JUPYTER_PATH``
and counts the forks in ``zygote.log``; if the zygote dies (it is every forked kernel's parent, so
a notebook can kill it), the students graded at that moment are graded again with ordinary kernels.
``--no-zygote`` grades with ordinary kernels. Kernels are not sandboxed, forked or not: they run as
the grader's user, as with stock nbgrader.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys

__all__ = ["PRELOAD", "kernelspec", "serve", "connect"]

#: What a ``losses`` or ``training`` kernel imports that costs time; imported once by the zygote.
#: Never ``kdutils`` itself: ``kdutils.grading`` reads the grading environment when it is imported.
PRELOAD = (
    "numpy", "scipy", "scipy.special", "torch", "torch.nn", "torch.nn.functional", "torch.optim",
    "torch.utils.data", "torch._dynamo", "sklearn", "sklearn.datasets", "sklearn.model_selection",
    "sklearn.preprocessing", "pandas", "tqdm", "IPython", "ipykernel.kernelapp", "ipykernel.ipkernel",
    "ipykernel.zmqshell", "debugpy",
)
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
_PR_SET_PDEATHSIG = 1
_MAX_HEADER = 1 << 20
#: seconds the rest of a request may take once its first bytes have arrived
_REQUEST_TIMEOUT = 2


def kernelspec(folder: str | os.PathLike, sock: str) -> str:
    """Write ``folder/kernels/python3/kernel.json`` (a client of the zygote on ``sock``); return ``folder``
    for ``JUPYTER_PATH``. Notebooks name the kernel ``python3``; the first ``JUPYTER_PATH`` entry wins."""
    spec = {
        "argv": [sys.executable, "-I", "-S", os.path.abspath(__file__), "connect", str(sock),
                 "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": False, "kdutils_zygote": True},
    }
    d = os.path.join(folder, "kernels", "python3")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "kernel.json"), "w") as f:
        json.dump(spec, f, indent=1)
    return str(folder)


# --------------------------------------------------------------------------------------- the zygote
def _preload() -> list[str]:
    import importlib
    import threading

    missing = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # an optional import a kernel may not need either
            missing.append(name)
    if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
        raise RuntimeError(f"the preloaded modules started threads ({len(os.listdir('/proc/self/task'))} tasks); "
                           "a fork would copy a broken state")
    return missing


def serve(path: str) -> None:
    """Preload, print ``ready``, then fork a kernel per connection on the Unix socket ``path``, forever."""
    import selectors

    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # run as a script: this folder is not on a kernel's path
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _preload()
    old = os.umask(0o077)
    try:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that SIGCHLD writes to the wakeup fd
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(wake_r, selectors.EVENT_READ, "child")
    kernels: dict[int, socket.socket] = {}  # kernel pid -> its client's connection
    by_conn: dict[socket.socket, int] = {}
    pending: set[socket.socket] = set()  # accepted, request not read yet: a silent client holds up nobody
    print("ready", flush=True)
    sys.stdout = sys.stderr  # (the autograde run's zygote.log)
    while True:
        for key, _ in sel.select():
            try:
                if key.data == "accept":
                    conn, _ = listener.accept()
                    pending.add(conn)
                    sel.register(conn, selectors.EVENT_READ, "request")
                elif key.data == "request":  # its request has begun to arrive
                    conn = key.fileobj
                    pending.discard(conn)
                    sel.unregister(conn)
                    pid = _spawn(conn, (listener, *pending, *by_conn), (wake_r, wake_w), sel)
                    if pid is None:
                        conn.close()
                        continue
                    kernels[pid], by_conn[conn] = conn, pid
                    sel.register(conn, selectors.EVENT_READ, "client")
                    print(f"forked kernel {pid}", flush=True)
                elif key.data == "child":
                    try:
                        os.read(wake_r, 4096)
                    except BlockingIOError:
                        pass
                    _reap(kernels, by_conn, sel)
                elif key.fileobj in by_conn:  # a client sends nothing after its request: readable means it is gone
                    conn = key.fileobj
                    pid = by_conn.pop(conn)
                    sel.unregister(conn)
                    conn.close()
                    kernels.pop(pid, None)
                    _killpg(pid)
            except Exception as e:  # one bad event must not stop the zygote (its kernels would die with it)
                print(f"zygote: {type(e).__name__}: {e}", flush=True)
        _reap(kernels, by_conn, sel)


def _reap(kernels, by_conn, sel) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = kernels.pop(pid, None)
        if conn is None:
            continue
        by_conn.pop(conn, None)
        try:
            conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
        except OSError:
            pass
        sel.unregister(conn)
        conn.close()


def _killpg(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _spawn(conn: socket.socket, others, wake, sel) -> int | None:
    """Read one request (a JSON line and three file descriptors), fork its kernel; the kernel's pid, or None.
    Called once the request has begun to arrive: the rest of its line gets ``_REQUEST_TIMEOUT`` seconds."""
    conn.settimeout(_REQUEST_TIMEOUT)
    fds: list[int] = []
    try:
        data, fds, _, _ = socket.recv_fds(conn, _MAX_HEADER, 3)
        while not data.endswith(b"\n") and len(data) < _MAX_HEADER:
            more = conn.recv(_MAX_HEADER)
            if not more:
                break
            data += more
        req = json.loads(data)
        argv, cwd, env = list(req["argv"]), str(req["cwd"]), dict(req["env"])
        if len(fds) != 3 or not all(isinstance(a, str) for a in argv):
            raise ValueError("a request needs argv, cwd, env and three file descriptors")
    except Exception as e:  # RecursionError of a deeply nested JSON too
        print(f"zygote: bad request: {type(e).__name__}: {e}", flush=True)
        for fd in fds:
            os.close(fd)
        return None
    zygote = os.getpid()
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        conn.settimeout(None)
        try:
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        except OSError:
            _killpg(pid)
        return pid
    # ---- the kernel (never returns)
    code = 1
    try:
        os.setsid()
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass
        if os.getppid() != zygote:
            os._exit(1)
        signal.set_wakeup_fd(-1)
        for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(s, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sel.close()
        for s in (conn, *others):
            s.close()
        for fd in wake:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = ["ipykernel_launcher", *argv]
        if env.get("JPY_PARENT_PID", "").isdigit():  # ipykernel reads it when imported, i.e. in the zygote
            sys.argv.append(f"--IPKernelApp.parent_handle={env['JPY_PARENT_PID']}")
        sys.path.insert(0, cwd)  # what ``python -m ipykernel_launcher`` puts first
        _fresh_state(env, cwd)
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            import atexit

            atexit._run_exitfuncs()  # what the interpreter's exit would run (IPython's history, ...)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _fresh_state(env: dict, cwd: str) -> None:
    """In a forked kernel: what a fresh process would have computed from its own environment and start."""
    import random

    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "multiprocessing" in sys.modules:
        sys.modules["multiprocessing"].current_process().authkey = os.urandom(32)
    # Thread pools size themselves from OMP_NUM_THREADS & co. when their libraries load, i.e. in the
    # zygote (one thread, so that it may fork): give the kernel its own environment's count.
    n = env.get("OMP_NUM_THREADS", "")
    if n.isdigit() and int(n) > 0:
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(int(n))
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(int(n))
        except Exception:
            pass
    dynamo_config = sys.modules.get("torch._dynamo.config")
    if dynamo_config is not None:
        try:
            dynamo_config.debug_dir_root = os.path.join(cwd, "torch_compile_debug")
        except Exception:
            pass


# --------------------------------------------------------------------------------------- the client
def connect(sock: str, argv: list[str]) -> int:
    """Ask the zygote on ``sock`` for a kernel with ``argv`` (``-f CONNECTION_FILE``); exit as it does."""
    parent = os.getppid()
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(sock)
        header = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode() + b"\n"
        socket.send_fds(conn, [header], [0, 1, 2])
        lines = _lines(conn, parent)
        pid = int(json.loads(next(lines))["pid"])
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        # no zygote: be an ordinary kernel
        os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv])

    def forward(signum, _frame):
        for kill in (os.killpg, os.kill):  # the kernel's own group, once it has made it (setsid)
            try:
                return kill(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    for s in _SIGNALS:
        signal.signal(s, forward)
    try:
        code = int(json.loads(next(lines))["exit"])  # waits until the zygote reports the kernel's end
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        # the zygote is gone (and its kernels with it: PR_SET_PDEATHSIG), or our parent is: nbgrader was
        # killed, and a fresh kernel would notice within a second (ipykernel's parent poller). Closing the
        # connection makes the zygote kill the kernel.
        conn.close()
        return 1
    return code if code >= 0 else 128 - code


def _lines(conn: socket.socket, parent: int):
    """The zygote's reply lines; ends when the connection closes or when this client's parent has died."""
    import select

    buf = b""
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line
        ready, _, _ = select.select([conn], [], [], 1.0)
        if not ready:
            if os.getppid() != parent:
                return
            continue
        chunk = conn.recv(4096)
        if not chunk:
            return
        buf += chunk


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "connect":
        sys.exit(connect(sys.argv[2], sys.argv[3:]))
    else:
        sys.exit("usage: zygote.py serve SOCKET | zygote.py connect SOCKET -f CONNECTION_FILE")
