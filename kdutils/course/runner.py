"""The processes of ``kdutils.course autograde``: one stock ``nbgrader autograde`` per student, the shared
grading worker and the kernel zygote.

``StudentRunner.grade`` starts ``nbgrader autograde ASSIGNMENT --student S --force`` in its own process
group (it dies with its parent: ``PR_SET_PDEATHSIG``), retries a student whose nbgrader met a locked
SQLite gradebook, classifies what went wrong (``failures``) and writes the student's status record
(``gradestatus``). ``start_shared_worker`` and ``start_zygote`` start the run's two helpers.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from .failures import from_nbgrader_output, notebook_problems
from .gradebook import gradebook_scores
from .gradestatus import StatusRecord, write_record

__all__ = ["StudentRunner", "submission_digest", "start_shared_worker", "start_zygote", "zygote_ready",
           "zygote_forks", "OUTPUT_GRACE", "ZYGOTE_GRACE", "DB_RETRIES"]

#: seconds to wait for nbgrader's output after it has exited (see ``_wait``)
OUTPUT_GRACE = 10
#: seconds a student whose grading failed waits to learn whether the zygote died (see ``StudentRunner._zygote_died``)
ZYGOTE_GRACE = 1.0
#: how often a student whose nbgrader failed on a locked database is started again
DB_RETRIES = 4
_LOCKED = ("database is locked", "There was an error accessing the nbgrader database")


def submission_digest(course: Path, student: str, assignment: str) -> str:
    """SHA-256 over the names and contents of the student's submitted files."""
    h = hashlib.sha256()
    root = Path(course) / "submitted" / student / assignment
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".ipynb_checkpoints" not in p.parts:
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


# --------------------------------------------------------------------------------------- one student
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _problems(course: Path, student: str, assignment: str, notebooks: list[str]) -> list[dict]:
    """Missing notebooks, and the failures recorded in the autograded ones (``failures.notebook_problems``)."""
    out = []
    sub_dir = Path(course) / "submitted" / student / assignment
    ag_dir = Path(course) / "autograded" / student / assignment
    for name in notebooks:
        if not (sub_dir / f"{name}.ipynb").exists():
            out.append({"notebook": name, "cell": "", "kind": "missing_notebook",
                        "message": f"{name}.ipynb was not submitted"})
        elif (ag_dir / f"{name}.ipynb").exists():
            out += notebook_problems(ag_dir / f"{name}.ipynb")
    return out


def _wait(p: subprocess.Popen, timeout: float | None) -> tuple[str, int | None]:
    """nbgrader's output and exit code (None: killed after ``timeout`` seconds). Once nbgrader has exited,
    its output is awaited for at most ``OUTPUT_GRACE`` seconds more: a kernel it started whose own
    exit was blocked by the notebook may hold the pipe open long after."""
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(p.stdout), daemon=True)
    reader.start()
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        rc = None
    reader.join(OUTPUT_GRACE)
    out = "".join(list(chunks))
    if reader.is_alive():
        out += f"\n[kdutils.course autograde: a process started by nbgrader kept its output open " \
               f"{OUTPUT_GRACE:g} s after nbgrader exited; stopped reading]\n"
    return out, rc


class StudentRunner:
    """Starts the nbgrader children, remembers them so that an interrupt can kill them all."""

    def __init__(self, course: Path, assignment: str, db_url: str, notebooks: list[str], threads: int,
                 nbgrader_args: list[str], student_timeout: float | None, shared_worker: str | None = None,
                 jupyter_path: str | None = None):
        self.course, self.assignment, self.db_url, self.shared_worker = course, assignment, db_url, shared_worker
        self.jupyter_path = jupyter_path
        self.zygote: subprocess.Popen | None = None  # the run's zygote, if its kernelspec is in use
        self.regraded: list[str] = []  # students graded again, in a second pass, after the zygote died
        self.notebooks, self.threads, self.extra, self.student_timeout = notebooks, threads, nbgrader_args, student_timeout
        self.children: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        self.stopping = False
        exe = Path(sys.executable).parent / "nbgrader"
        self.exe = str(exe) if exe.exists() else (shutil.which("nbgrader") or "nbgrader")

    def _env(self) -> dict:
        env = dict(os.environ, PYTHONHASHSEED=os.environ.get("PYTHONHASHSEED", "0"), MPLBACKEND="Agg")
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(self.threads)  # N jobs share the cores instead of fighting over them
        env.pop("KDUTILS_GRADING_WORKER", None)
        if self.shared_worker:
            env["KDUTILS_GRADING_WORKER"] = self.shared_worker
        if self.jupyter_path:  # the zygote's kernelspec "python3" comes first
            env["JUPYTER_PATH"] = os.pathsep.join(p for p in (self.jupyter_path, os.environ.get("JUPYTER_PATH")) if p)
        return env

    def kill_all(self) -> None:
        with self.lock:
            self.stopping = True
            for p in list(self.children):
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _zygote_died(self) -> bool:
        """Whether the run's zygote has exited. ``Popen.poll`` answers None while another thread is polling
        the same process, and two students whose kernels died with the zygote finish at the same moment: so
        ``wait`` (which retries), briefly, also covering the instant between the kernels' death and the zygote's."""
        if self.zygote is None:
            return False
        try:
            self.zygote.wait(timeout=ZYGOTE_GRACE)
        except subprocess.TimeoutExpired:
            return False
        return True

    def grade(self, student: str) -> StatusRecord | None:
        """Grade one student and write their status record; None (no record) if their kernel came from the
        zygote and the zygote has died: ``autograde`` grades them again in a second pass."""
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        digest = submission_digest(self.course, student, self.assignment)
        cmd = [self.exe, "autograde", self.assignment, "--student", student, "--force",
               f"--CourseDirectory.db_url={self.db_url}", *self.extra]
        log, rc, attempts, forked = "", 0, 0, False
        for attempts in range(1, DB_RETRIES + 2):
            with self.lock:
                if self.stopping:
                    raise KeyboardInterrupt
                forked = self.jupyter_path is not None  # this attempt's kernel comes from the zygote
                p = subprocess.Popen(cmd, cwd=self.course, env=self._env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                     preexec_fn=_die_with_parent)
                self.children.add(p)
            try:
                out, rc = _wait(p, self.student_timeout)
            finally:
                with self.lock:
                    self.children.discard(p)
            log += f"$ {' '.join(cmd[1:])}\n{out}\n"
            if rc is not None and rc != 0 and any(s in out for s in _LOCKED) and not self.stopping:
                time.sleep(0.5 * attempts)
                continue  # a locked SQLite gradebook: grade this student again
            break
        if self.stopping:
            raise KeyboardInterrupt
        problems = _problems(self.course, student, self.assignment, self.notebooks)
        if rc is None:
            status, reason = "failed", f"took longer than --student-timeout {self.student_timeout:g} s; killed"
        elif rc != 0:
            status, (reason, more) = "failed", from_nbgrader_output(log, rc)
            problems += more
        else:
            status, reason = "graded", ""
            for kind, why in (("missing_notebook", "a notebook is missing"), ("dead_kernel", "the kernel died")):
                hit = [p for p in problems if p["kind"] == kind]
                if hit:
                    status, reason = "failed", f"{why}: " + ", ".join(f"{p['notebook']} {p['cell']}".strip() for p in hit)
                    break
        if forked and (status == "failed" or any(p["kind"] == "dead_kernel" for p in problems)) \
                and self._zygote_died():
            # The zygote died (its kernels die with it): not necessarily this student's doing. No more forking;
            # the student is graded again, with an ordinary kernel, once the first pass has drained.
            with self.lock:
                self.jupyter_path = None
            return None
        rec = StatusRecord(student=student, assignment=self.assignment, status=status, reason=reason,
                           problems=problems, returncode=rc, attempts=attempts, seconds=round(time.perf_counter() - t0, 3),
                           started=started.isoformat(timespec="seconds"),
                           finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           host=socket.gethostname(), submission_sha256=digest)
        try:
            got = gradebook_scores(self.db_url, self.assignment, {student}).get(student)
            if got:
                rec.score, rec.max_score = got[0], got[1]
        except Exception as e:  # the grade is in nbgrader's hands; the record still says what happened
            rec.problems.append({"notebook": "", "cell": "", "kind": "gradebook", "message": f"could not read score: {e}"})
        write_record(self.course, rec, log)
        return rec


# --------------------------------------------------------------------------------------- the batch
def start_shared_worker(folder: Path) -> subprocess.Popen | None:
    """Start the run's shared grading worker on ``folder/worker.sock``; None if it did not come up."""
    script = Path(__file__).resolve().parents[1] / "grading" / "worker.py"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-I", str(script), "--serve", str(folder / "worker.sock")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         env=env, start_new_session=True, preexec_fn=_die_with_parent)
    if p.stdout.readline().strip() != "ready":  # it exited (EOF) instead of listening
        p.kill()
        p.wait()
        return None
    return p

def start_zygote(folder: Path, env: dict) -> subprocess.Popen:
    """Start the run's kernel zygote on ``folder/zygote.sock`` (``zygote.py``); wait for it with ``zygote_ready``."""
    script = Path(__file__).resolve().with_name("zygote.py")
    # One BLAS/OpenMP thread while it imports: a process that forks kernels must stay a single thread.
    env = dict(env, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("JUPYTER_PATH", None)
    with open(folder / "zygote.log", "w") as log:  # what it forked, and what went wrong
        return subprocess.Popen([sys.executable, str(script), "serve", str(folder / "zygote.sock")],
                                cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                text=True, env=env, start_new_session=True, preexec_fn=_die_with_parent)


def zygote_forks(folder: Path) -> int:
    """How many kernels the run's zygote has forked (its log)."""
    try:
        return (folder / "zygote.log").read_text().count("forked kernel ")
    except OSError:
        return 0


def zygote_ready(p: subprocess.Popen, folder: Path) -> str | None:
    """The ``JUPYTER_PATH`` entry of a started zygote's kernelspec, or None (and the zygote stopped) if it failed."""
    from .zygote import kernelspec

    if p.stdout.readline().strip() != "ready":
        p.kill()
        p.wait()
        return None
    return kernelspec(folder / "jupyter", str(folder / "zygote.sock"))
