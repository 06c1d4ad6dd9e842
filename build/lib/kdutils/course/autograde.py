"""``python -m kdutils.course autograde ASSIGNMENT --jobs N``: autograde a whole class in parallel.

nbgrader grades one submission after another (its issue #174, open since 2015). This command
starts the stock ``nbgrader autograde ASSIGNMENT --student S --force`` once per student, up to
``--jobs`` at a time, each in its own process group, and records the outcome of every student
in the grading status files (``gradestatus.py``), so that

* a failed student (nbgrader error, dead or unresponsive kernel, a cell interrupted by the
  timeout, a missing notebook, a wall-clock limit) is named with the reason, in the summary
  table and in ``grading_status/<assignment>/<student>.json``;
* a run that is interrupted, even by SIGKILL, can be started again and grades only the
  students without a record (every nbgrader child dies with its parent: ``PR_SET_PDEATHSIG``);
  ``--force`` regrades everyone, ``--retry-failed`` the failed ones;
* the gradebook gets exactly one submission per student. With the default SQLite gradebook,
  concurrent writers wait for each other (``?timeout=`` on the SQLite URL sets the busy
  timeout), and a student whose nbgrader still hit "database is locked" is graded again;
* several machines sharing the course folder can write one PostgreSQL gradebook
  (``--db-url postgresql+psycopg://…``), each grading its ``--shard i/n`` of the students
  (a student's shard depends only on its id, not on who else submitted);
* the kernels share one grading worker (``kdutils.grading.worker --serve``, on a Unix socket
  named to each nbgrader child in ``KDUTILS_GRADING_WORKER``), started once for the run, so a
  notebook does not pay for the worker's own ``import torch``; ``--private-workers`` gives each
  kernel its own, as stock ``nbgrader autograde`` does;
* the kernels are forked from a *zygote* (``zygote.py``) that has imported torch, ``torch._dynamo``,
  scikit-learn and ipykernel once for the run, so a notebook does not pay for them either; each
  kernel is still its own process (if a notebook kills the zygote, the students graded at that
  moment are graded again with ordinary kernels). ``--no-zygote`` starts ordinary kernels.

The gradebook must already know the assignment (``nbgrader generate_assignment``, run with the
same ``--CourseDirectory.db_url``). See the book chapter "For instructors", section "Grading a
large class".
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from .gradestatus import StatusRecord, read_records, write_record

__all__ = ["autograde", "parse_shard", "in_shard", "submitted_students", "default_db_url", "gradebook_scores",
           "AutogradeError"]

#: busy timeout (seconds) given to SQLite: how long a writer waits for another one's lock
SQLITE_BUSY_TIMEOUT = 120
#: seconds to wait for nbgrader's output after it has exited (see ``_wait``)
OUTPUT_GRACE = 10
#: seconds a student whose grading failed waits to learn whether the zygote died (see ``_Runner._zygote_died``)
ZYGOTE_GRACE = 1.0
#: how often a student whose nbgrader failed on a locked database is started again
DB_RETRIES = 4
_LOCKED = ("database is locked", "There was an error accessing the nbgrader database")
#: words of the grader's diagnosis of a student function that overran its time budget (messages "hang.*")
_HANG = "; an infinite loop?"


class AutogradeError(RuntimeError):
    """Bad arguments or a course that cannot be graded (the message says which)."""


# --------------------------------------------------------------------------------------- students
def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/n"`` (1 <= i <= n) -> ``(i, n)``; ``None`` -> ``(1, 1)``."""
    if text is None:
        return 1, 1
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise AutogradeError(f"--shard must look like i/n (e.g. 1/2), got {text!r}") from None
    if not (n >= 1 and 1 <= i <= n):
        raise AutogradeError(f"--shard i/n needs 1 <= i <= n, got {text!r}")
    return i, n


def in_shard(student: str, i: int, n: int) -> bool:
    """Whether ``student`` belongs to shard ``i`` of ``n``: a hash of the id alone, the same on every machine."""
    h = int.from_bytes(hashlib.sha256(student.encode()).digest()[:8], "big")
    return h % n == i - 1


def submitted_students(course: Path, assignment: str) -> list[str]:
    """Students with a folder ``submitted/<student>/<assignment>``, sorted."""
    sub = Path(course) / "submitted"
    return sorted(p.name for p in sub.iterdir() if (p / assignment).is_dir()) if sub.is_dir() else []


def submission_digest(course: Path, student: str, assignment: str) -> str:
    """SHA-256 over the names and contents of the student's submitted files."""
    h = hashlib.sha256()
    root = Path(course) / "submitted" / student / assignment
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".ipynb_checkpoints" not in p.parts:
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


# --------------------------------------------------------------------------------------- gradebook
def default_db_url(course: Path) -> str:
    return f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


def _with_busy_timeout(db_url: str) -> str:
    """A SQLite URL with a busy timeout (SQLAlchemy passes ``?timeout=`` to ``sqlite3.connect``)."""
    if db_url.startswith("sqlite") and "timeout=" not in db_url:
        return db_url + ("&" if "?" in db_url else "?") + f"timeout={SQLITE_BUSY_TIMEOUT}"
    return db_url


def redact(db_url: str) -> str:
    """``db_url`` without its password, for printing."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable db url>"


def _assignment_notebooks(db_url: str, assignment: str) -> list[str]:
    """The notebook names of ``assignment`` in the gradebook; a clear error if it is not there."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).exists()):
        raise AutogradeError(f"no gradebook at {url.database}: run `nbgrader generate_assignment {assignment}` first")
    _venv_on_path()  # nbgrader runs the `alembic` command when it opens an empty database
    try:
        with Gradebook(db_url) as gb:
            try:
                return sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)
            except MissingEntry:
                pass
    except Exception as e:  # cannot connect, no driver, ...
        raise AutogradeError(f"cannot open the gradebook --db-url {redact(db_url)!r}: {type(e).__name__}: {e}") from e
    raise AutogradeError(
        f"assignment {assignment!r} is not in the gradebook {redact(db_url)}: run "
        f"`nbgrader generate_assignment {assignment} --CourseDirectory.db_url=...` with the same database first")


def _venv_on_path() -> None:
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


def gradebook_scores(db_url: str, assignment: str, students=None) -> dict[str, tuple[float, float, int]]:
    """``{student: (score, max_score, n_submissions)}`` of the autograded code cells, from the gradebook."""
    from nbgrader.api import Gradebook, SubmittedAssignment

    out: dict[str, tuple[float, float, int]] = {}
    with Gradebook(db_url) as gb:
        for sub in gb.assignment_submissions(assignment):
            if students is not None and sub.student_id not in students:
                continue
            score = maximum = 0.0
            for nb in sub.notebooks:
                for g in nb.grades:
                    if g.cell.cell_type == "code":
                        maximum += g.max_score
                        score += g.score if g.auto_score is not None or g.manual_score is not None else 0.0
            n = gb.db.query(SubmittedAssignment).filter(SubmittedAssignment.assignment_id == sub.assignment_id,
                                                        SubmittedAssignment.student_id == sub.student_id).count()
            out[sub.student_id] = (score, maximum, n)
    return out


# --------------------------------------------------------------------------------------- one student
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _problems(course: Path, student: str, assignment: str, notebooks: list[str]) -> list[dict]:
    """Cells of the autograded notebooks that timed out or lost their kernel, and missing notebooks."""
    out = []
    sub_dir = Path(course) / "submitted" / student / assignment
    ag_dir = Path(course) / "autograded" / student / assignment
    for name in notebooks:
        if not (sub_dir / f"{name}.ipynb").exists():
            out.append({"notebook": name, "cell": "", "kind": "missing_notebook",
                        "message": f"{name}.ipynb was not submitted"})
            continue
        path = ag_dir / f"{name}.ipynb"
        if not path.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            for o in cell.get("outputs", []):
                if o.get("output_type") != "error":
                    continue
                ename = o.get("ename", "")
                if ename in ("KeyboardInterrupt", "CellTimeoutError"):
                    out.append({"notebook": name, "cell": gid, "kind": "timeout",
                                "message": "the cell did not finish within the per-cell timeout and was interrupted"})
                elif ename == "DeadKernelError" or "Kernel died" in o.get("evalue", ""):
                    out.append({"notebook": name, "cell": gid, "kind": "dead_kernel",
                                "message": "the kernel died while running this cell"})
                elif _HANG in o.get("evalue", ""):
                    out.append({"notebook": name, "cell": gid, "kind": "hang",
                                "message": o["evalue"].split("\n")[0][:300]})
    return out


def _cell_preview(log: str) -> str:
    """The first line of the cell nbclient quotes in its last error ("Here is a preview of the cell contents")."""
    m = list(re.finditer(r"preview of the cell contents:\s*\n\s*-+\s*\n\s*(.+)", log))
    return m[-1].group(1).strip()[:120] if m else ""


def _reason_from_log(log: str, returncode: int) -> tuple[str, list[dict]]:
    """A one-line reason and the problems, from nbgrader's output of a failed run."""
    if returncode < 0:
        return f"nbgrader was killed by signal {signal.Signals(-returncode).name}", []
    cell = _cell_preview(log)
    where = f" in the cell {cell!r}" if cell else ""
    if "DeadKernelError" in log or "Kernel died" in log:
        return f"the kernel died{where} (a crash in the student's code?); nothing of this notebook was saved", [
            {"notebook": "", "cell": cell, "kind": "dead_kernel", "message": "the kernel died"}]
    if "CellTimeoutError" in log or "kernel became unresponsive" in log:
        return (f"a cell did not return within the timeout and ignored the interrupt{where} (an infinite loop "
                "that swallows KeyboardInterrupt?); nothing of this notebook was saved"), [
            {"notebook": "", "cell": cell, "kind": "unresponsive_kernel", "message": "cell ignored the interrupt"}]
    errors = [l.strip() for l in log.splitlines() if "ERROR" in l or "Error:" in l]
    errors = [e for e in errors if "Please see the" not in e and "There was an error processing" not in e] or errors
    return f"nbgrader exited with code {returncode}" + (f": {errors[-1][:300]}" if errors else ""), []


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


class _Runner:
    """Starts the nbgrader children, remembers them so that an interrupt can kill them all."""

    def __init__(self, course: Path, assignment: str, db_url: str, notebooks: list[str], threads: int,
                 nbgrader_args: list[str], student_timeout: float | None, shared_worker: str | None = None,
                 jupyter_path: str | None = None):
        self.course, self.assignment, self.db_url, self.shared_worker = course, assignment, db_url, shared_worker
        self.jupyter_path = jupyter_path
        self.zygote: subprocess.Popen | None = None  # the run's zygote, if its kernelspec is in use
        self.regraded: list[str] = []  # students graded again with ordinary kernels after the zygote died
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

    def grade(self, student: str, _again: bool = False) -> StatusRecord:
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
            status, (reason, more) = "failed", _reason_from_log(log, rc)
            problems += more
        else:
            status, reason = "graded", ""
            for kind, why in (("missing_notebook", "a notebook is missing"), ("dead_kernel", "the kernel died")):
                hit = [p for p in problems if p["kind"] == kind]
                if hit:
                    status, reason = "failed", f"{why}: " + ", ".join(f"{p['notebook']} {p['cell']}".strip() for p in hit)
                    break
        if not _again and forked and (status == "failed" or any(p["kind"] == "dead_kernel" for p in problems)) \
                and self._zygote_died():
            # The zygote died (its kernels die with it): not necessarily this student's doing. From now on the
            # kernels are ordinary ones, and this student is graded again with them.
            with self.lock:
                self.jupyter_path = None
                self.regraded.append(student)
            return self.grade(student, _again=True)
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


def autograde(course: Path, assignment: str, jobs: int = 1, db_url: str | None = None, shard: str | None = None,
              force: bool = False, retry_failed: bool = False, students: list[str] | None = None,
              student_timeout: float | None = None, nbgrader_args: list[str] | None = None,
              progress: bool = True, out=sys.stdout, shared_worker: bool = True,
              zygote: bool = True) -> list[StatusRecord]:
    """Autograde the students of ``assignment`` who still need it; returns the records written by this run."""
    course = Path(course).resolve()
    if not (course / "nbgrader_config.py").exists():
        raise AutogradeError(f"--course {str(course)!r} is not a course directory (no nbgrader_config.py)")
    if jobs < 1:
        raise AutogradeError(f"--jobs must be >= 1, got {jobs}")
    if student_timeout is not None and student_timeout <= 0:
        raise AutogradeError(f"--student-timeout must be > 0 seconds, got {student_timeout}")
    i, n = parse_shard(shard)
    db_url = _with_busy_timeout(db_url or default_db_url(course))
    everyone = submitted_students(course, assignment)
    if students:
        unknown = sorted(set(students) - set(everyone))
        if unknown:
            raise AutogradeError(f"--students {','.join(unknown)} have no submitted/<student>/{assignment} folder")
        everyone = sorted(set(students))
    notebooks = _assignment_notebooks(db_url, assignment)
    mine = [s for s in everyone if in_shard(s, i, n)]
    records = read_records(course, assignment)
    todo = []
    for s in mine:
        r = records.get(s)
        if force or r is None or (r.status == "failed" and retry_failed) \
                or r.submission_sha256 != submission_digest(course, s, assignment):
            todo.append(s)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    tmp = Path(tempfile.mkdtemp(prefix="kd-grading-"))  # short: a Unix socket path has at most 107 bytes
    runner = _Runner(course, assignment, db_url, notebooks, threads, list(nbgrader_args or []), student_timeout)
    forker = start_zygote(tmp, runner._env()) if zygote and todo else None  # imports while the worker does
    server = start_shared_worker(tmp) if shared_worker and todo else None
    runner.shared_worker = str(tmp / "worker.sock") if server else None
    runner.jupyter_path = zygote_ready(forker, tmp) if forker else None
    runner.zygote = forker if runner.jupyter_path else None
    if forker is not None and runner.jupyter_path is None:
        print("the kernel zygote did not start: grading with ordinary kernels", file=out, flush=True)
    print(f"autograde {assignment}: {len(everyone)} submitted, shard {i}/{n} has {len(mine)}, "
          f"{len(mine) - len(todo)} already graded, {len(todo)} to grade with {jobs} job(s) "
          f"into {redact(db_url)}", file=out, flush=True)
    from tqdm import tqdm

    done: list[StatusRecord] = []
    bar = tqdm(total=len(todo), unit="student", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    t0 = time.perf_counter()
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, _terminate) if main else None
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(runner.grade, s): s for s in todo}
            try:
                for fut in as_completed(futures):
                    rec = fut.result()
                    done.append(rec)
                    failed = sum(r.status == "failed" for r in done)
                    bar.set_postfix_str(f"done {len(done) - failed}, failed {failed}, left {len(todo) - len(done)}")
                    bar.update(1)
            except BaseException:
                runner.kill_all()
                for f in futures:
                    f.cancel()
                raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, old)
        bar.close()
        for p in (server, forker):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        forks = zygote_forks(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    print_summary(done, elapsed, jobs, out=out)
    if done:
        print(f"kernels forked by the zygote: {forks}" if forker is not None else
              "kernels: ordinary (--no-zygote)", file=out)
        if runner.regraded:
            print(f"the kernel zygote stopped during the run; graded again with ordinary kernels: "
                  f"{', '.join(sorted(runner.regraded))}", file=out)
    return done


def _terminate(*_):
    raise KeyboardInterrupt  # SIGTERM: stop like Ctrl-C (kill the children, keep the records)


def print_summary(done: list[StatusRecord], elapsed: float, jobs: int, out=sys.stdout) -> None:
    if not done:
        print("nothing to grade (use --force to regrade, --retry-failed to retry failed students)", file=out)
        return
    w = max(7, *(len(r.student) for r in done)) + 2
    print(f"\n{'student':<{w}}{'status':<8}{'score':>12}{'seconds':>9}  reason", file=out)
    for r in sorted(done, key=lambda r: (r.status != "failed", r.student)):
        score = f"{r.score:g}/{r.max_score:g}" if r.score is not None else "-"
        why = r.reason or "; ".join(f"{p['kind']} in {p['cell'] or p['notebook']}" for p in r.problems)
        print(f"{r.student:<{w}}{r.status:<8}{score:>12}{r.seconds:>9.1f}  {why}", file=out)
    failed = [r.student for r in done if r.status == "failed"]
    print(f"\n{len(done)} graded in {elapsed:.1f} s with {jobs} job(s) ({elapsed / len(done):.1f} s per student); "
          f"{len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""), file=out)


def add_parser(sub) -> None:
    p = sub.add_parser("autograde", help="autograde many students in parallel (stock nbgrader per student)",
                       description=__doc__.splitlines()[0])
    p.add_argument("assignment", help="the assignment id, e.g. losses")
    p.add_argument("--jobs", "-j", type=int, default=1, help="students graded at once (default 1; 2 on 2 cores)")
    p.add_argument("--course", type=Path, default=Path.cwd(), help="the course directory (default: here)")
    p.add_argument("--db-url", default=None,
                   help="SQLAlchemy URL of the gradebook (default sqlite:///<course>/gradebook.db), "
                        "e.g. postgresql+psycopg://grader@dbhost/kd")
    p.add_argument("--shard", default=None, metavar="I/N", help="grade only shard I of N (1 <= I <= N)")
    p.add_argument("--force", action="store_true", help="regrade every student, also those already graded")
    p.add_argument("--retry-failed", action="store_true", help="regrade the students whose grading failed")
    p.add_argument("--students", default=None, help="comma-separated student ids (default: every submission)")
    p.add_argument("--student-timeout", type=float, default=None, metavar="SECONDS",
                   help="kill a student's nbgrader after this many seconds (default: no limit)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--private-workers", action="store_true",
                   help="each kernel starts its own grading worker (as stock nbgrader autograde), instead of one "
                        "shared worker for the run")
    p.add_argument("--no-zygote", action="store_true",
                   help="start every kernel from scratch, instead of forking it from a process that has imported "
                        "torch, scikit-learn and ipykernel once for the run")
    p.add_argument("--nbgrader-arg", action="append", default=[], dest="nbgrader_args", metavar="OPTION",
                   help="an extra option for every nbgrader autograde, e.g. --nbgrader-arg=--Execute.timeout=30 "
                        "(repeatable)")


def run(args) -> int:
    extra = list(args.nbgrader_args)
    try:
        done = autograde(args.course, args.assignment, jobs=args.jobs, db_url=args.db_url, shard=args.shard,
                         force=args.force, retry_failed=args.retry_failed,
                         students=args.students.split(",") if args.students else None,
                         student_timeout=args.student_timeout, nbgrader_args=extra, progress=not args.no_progress,
                         shared_worker=not args.private_workers, zygote=not args.no_zygote)
    except AutogradeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the students graded so far are recorded; run the same command again to go on",
              file=sys.stderr)
        return 130
    return 1 if any(r.status == "failed" for r in done) else 0
