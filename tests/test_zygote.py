"""The kernel zygote of ``kdutils.course autograde`` (``kdutils/course/zygote.py``).

A kernel forked from the zygote must behave as a fresh ``python -m ipykernel_launcher`` for
everything grading relies on: its own process and state, the client's working directory and
environment, interrupts and kills from jupyter_client, and an ordinary kernel when the zygote is
not there. The oracle for scores is an autograde with ordinary kernels
(tests/test_autograde_parallel.py, ``--no-zygote``).
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from kdutils.course.runner import StudentRunner, start_zygote, zygote_ready
from kdutils.course.zygote import kernelspec


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    """A running zygote and a ``JUPYTER_PATH`` whose ``python3`` kernelspec asks it for kernels."""
    folder = tmp_path_factory.mktemp("zy")
    p = start_zygote(folder, dict(os.environ))
    path = zygote_ready(p, folder)
    assert path is not None, "the zygote did not come up"
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = path
    yield p, folder
    if old is None:
        os.environ.pop("JUPYTER_PATH")
    else:
        os.environ["JUPYTER_PATH"] = old
    p.kill()
    p.wait()


def _run(kc, code: str, timeout: float = 60) -> str:
    """Execute ``code`` in the kernel; its stdout (raises on an error reply)."""
    out = []
    reply = kc.execute_interactive(code, timeout=timeout,
                                   output_hook=lambda m: out.append(m["content"].get("text", ""))
                                   if m["msg_type"] == "stream" else None)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out).strip()


@contextlib.contextmanager
def _kernel(cwd: Path, **env):
    """``(manager, client)`` of a ``python3`` kernel started in ``cwd``; shut down afterwards."""
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(cwd), env=dict(os.environ, **env), startup_timeout=60)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_forked_kernel_is_fresh_and_has_its_clients_directory_and_environment(zygote, tmp_path):
    p, folder = zygote
    with _kernel(tmp_path, KD_ZYGOTE_TEST="one") as (_, kc1), _kernel(folder, KD_ZYGOTE_TEST="two") as (_, kc2):
        probe = ("import os, sys; print(os.getcwd(), os.environ['KD_ZYGOTE_TEST'], 'torch._dynamo' in sys.modules, "
                 "os.getppid() == {zpid}, sys.path[0])").format(zpid=p.pid)
        assert _run(kc1, probe).split() == [str(tmp_path), "one", "True", "True", str(tmp_path)]
        assert _run(kc2, probe).split() == [str(folder), "two", "True", "True", str(folder)]
        # what one notebook does to a module stays in its own process
        _run(kc1, "import torch; torch.nn.functional.kl_div = None; torch.manual_seed(0); x = 1")
        assert _run(kc2, "import torch; print(torch.nn.functional.kl_div is None, 'x' in globals())") == "False False"
        pids = {_run(kc1, "import os; print(os.getpid())"), _run(kc2, "import os; print(os.getpid())")}
        assert len(pids) == 2 and str(p.pid) not in pids
        # numpy's and random's seeds are drawn again in every kernel, as in a new process
        draw = "import random, numpy; print(random.random(), numpy.random.rand())"
        assert _run(kc1, draw) != _run(kc2, draw)
    # the zygote stays one thread (it forks), and only its owner may connect
    assert len(os.listdir(f"/proc/{p.pid}/task")) == 1
    assert (folder / "zygote.sock").stat().st_mode & 0o077 == 0


def test_an_interrupt_reaches_the_kernel_and_a_killed_client_takes_its_kernel_along(zygote, tmp_path):
    with _kernel(tmp_path) as (km, kc):
        kernel_pid = int(_run(kc, "import os; print(os.getpid())"))
        assert kernel_pid != km.provisioner.process.pid  # the client is not the kernel
        msg = kc.execute("import time\ntry:\n    print('started', flush=True)\n    time.sleep(60)\n"
                         "except KeyboardInterrupt:\n    print('interrupted')")
        out, sent = [], False
        while True:
            m = kc.get_iopub_msg(timeout=30)
            if m["parent_header"].get("msg_id") != msg:
                continue
            if m["msg_type"] == "stream":
                out.append(m["content"]["text"])
                if not sent and "started" in "".join(out):
                    km.interrupt_kernel()  # SIGINT to the client's process group, forwarded to the kernel
                    sent = True
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
        assert "".join(out).split() == ["started", "interrupted"]
        os.kill(km.provisioner.process.pid, signal.SIGKILL)  # what jupyter_client's kill does
        for _ in range(100):
            try:
                os.kill(kernel_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the kernel {kernel_pid} outlived its killed client")


def test_a_dead_kernel_is_seen_as_dead(zygote, tmp_path):
    with _kernel(tmp_path) as (km, kc):
        kc.execute("import ctypes; ctypes.string_at(0)")  # a segfault
        for _ in range(100):
            if not km.is_alive():
                break
            time.sleep(0.1)
        assert not km.is_alive()
        assert km.provisioner.process.returncode == 128 + signal.SIGSEGV  # the client exits as its kernel did


def test_a_forked_kernel_sizes_its_thread_pools_from_its_own_environment(zygote, tmp_path):
    """The zygote imports with one thread (it forks); a kernel gets the OMP_NUM_THREADS autograde gives it."""
    with _kernel(tmp_path, OMP_NUM_THREADS="2") as (km, kc):
        assert _run(kc, "import torch; print(torch.get_num_threads())") == "2"
        # numpy's OpenBLAS and the OpenMP runtimes loaded in the zygote (1 thread) are resized too
        pools = _run(kc, "import numpy, threadpoolctl\n"
                         "print(sorted({(i['user_api'], i['num_threads']) for i in threadpoolctl.threadpool_info()}))")
        assert pools == "[('blas', 2), ('openmp', 2)]", pools


def _children(pid: int) -> set[int]:
    out = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.add(int(d))
    return out


def _gone(pid: int, seconds: float = 10) -> bool:
    for _ in range(int(seconds * 10)):
        if not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.1)
    return False


def test_a_client_whose_parent_dies_takes_its_kernel_along(zygote, tmp_path):
    """nbgrader killed (--student-timeout, Ctrl-C): its kernel must not keep a core busy for the rest of the run."""
    from jupyter_client.connect import write_connection_file

    p, folder = zygote
    conn_file, _ = write_connection_file(str(tmp_path / "kernel.json"))
    script = Path(__file__).resolve().parents[1] / "kdutils" / "course" / "zygote.py"
    before = _children(p.pid)
    shell = subprocess.Popen(["/bin/sh", "-c", f'"{sys.executable}" -I -S "{script}" connect '
                                               f'"{folder / "zygote.sock"}" -f "{conn_file}" & wait'],
                             start_new_session=True)
    for _ in range(300):
        new = _children(p.pid) - before
        if new:
            break
        time.sleep(0.1)
    assert len(new) == 1, "the zygote forked no kernel"
    kernel = new.pop()
    os.kill(shell.pid, signal.SIGKILL)  # the client's parent dies; the client is orphaned
    shell.wait()
    assert _gone(kernel), f"the kernel {kernel} outlived its client's parent"


def test_bad_requests_leave_the_zygote_serving(zygote, tmp_path):
    import socket

    p, folder = zygote
    open_fds = len(os.listdir(f"/proc/{p.pid}/fd"))
    for payload in (b"not json\n", b"[" * 100000 + b"\n", b'{"argv": ["-f"], "cwd": "/", "env": {}}\n'):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(folder / "zygote.sock"))
        r, w = os.pipe()
        socket.send_fds(s, [payload], [r, w])  # two descriptors, not three: refused too
        s.close()
        os.close(r)
        os.close(w)
    time.sleep(0.5)
    assert p.poll() is None, "a bad request stopped the zygote"
    assert len(os.listdir(f"/proc/{p.pid}/fd")) == open_fds  # it closed the refused requests' descriptors
    assert (folder / "zygote.log").read_text().count("bad request") == 3
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(str(folder / "zygote.sock"))  # connects and sends nothing, while a kernel starts
    try:
        with _kernel(tmp_path) as (km, kc):
            assert _run(kc, "print(6 * 7)") == "42"
        # the kernel did not wait for the silent connection to time out: it is still open, never refused
        assert (folder / "zygote.log").read_text().count("bad request") == 3
    finally:
        silent.close()
    time.sleep(0.5)
    assert (folder / "zygote.log").read_text().count("bad request") == 4  # its close is a (refused) empty request
    assert len(os.listdir(f"/proc/{p.pid}/fd")) == open_fds


def test_without_a_zygote_the_client_starts_an_ordinary_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", kernelspec(tmp_path / "jp", str(tmp_path / "nobody.sock")))
    with _kernel(tmp_path) as (km, kc):
        assert _run(kc, "import sys; print(2 + 2, 'torch' in sys.modules)") == "4 False"


def test_the_client_needs_only_the_standard_library():
    script = Path(__file__).resolve().parents[1] / "kdutils" / "course" / "zygote.py"
    p = subprocess.run([sys.executable, "-I", "-S", str(script), "connect"], capture_output=True, text=True)
    assert p.returncode != 0 and "usage: zygote.py" in p.stderr, p.stderr


def test_a_dead_zygote_is_seen_dead_while_another_thread_polls_it(tmp_path):
    """Two students whose kernels died with the zygote ask at the same moment; both must learn it is dead."""
    runner = StudentRunner(tmp_path, "losses", "sqlite://", [], 1, [], None)
    assert runner._zygote_died() is False  # no zygote in this run
    runner.zygote = subprocess.Popen([sys.executable, "-c", "pass"])
    time.sleep(0.5)  # it has exited, not yet reaped
    polling, done = threading.Event(), threading.Event()

    def other_student():  # holds what a concurrent Popen.poll holds, for 0.3 s
        with runner.zygote._waitpid_lock:
            polling.set()
            done.wait(0.3)

    t = threading.Thread(target=other_student)
    t.start()
    polling.wait()
    assert runner.zygote.poll() is None  # what the grader used to ask: "alive", while the other thread polls
    assert runner._zygote_died()
    done.set()
    t.join()
    runner.zygote = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not runner._zygote_died()
    finally:
        runner.zygote.kill()
        runner.zygote.wait()
