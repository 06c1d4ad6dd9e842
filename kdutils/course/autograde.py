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
  kernel is still its own process. If a notebook kills the zygote, forking stops, and the students whose
  kernels died with it are graded again with ordinary kernels in a second pass, once the first has
  drained. ``--no-zygote`` starts ordinary kernels.

The gradebook must already know the assignment (``nbgrader generate_assignment``, run with the
same ``--CourseDirectory.db_url``). See the book chapter "For instructors", section "Grading a
large class".
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from .gradebook import AutogradeError, assignment_notebooks, default_db_url, gradebook_scores, redact, with_busy_timeout
from .gradestatus import StatusRecord, read_records
from .runner import StudentRunner, start_shared_worker, start_zygote, submission_digest, zygote_forks, zygote_ready

__all__ = ["autograde", "parse_shard", "in_shard", "submitted_students", "submission_digest", "default_db_url", "gradebook_scores",
           "AutogradeError"]



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
    db_url = with_busy_timeout(db_url or default_db_url(course))
    everyone = submitted_students(course, assignment)
    if students:
        unknown = sorted(set(students) - set(everyone))
        if unknown:
            raise AutogradeError(f"--students {','.join(unknown)} have no submitted/<student>/{assignment} folder")
        everyone = sorted(set(students))
    notebooks = assignment_notebooks(db_url, assignment)
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
    runner = StudentRunner(course, assignment, db_url, notebooks, threads, list(nbgrader_args or []), student_timeout)
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

    def one_pass(students: list[str]) -> list[str]:
        """Grade ``students`` with ``jobs`` threads; the ones to grade again (their kernel died with the zygote)."""
        again: list[str] = []
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(runner.grade, s): s for s in students}
            try:
                for fut in as_completed(futures):
                    rec = fut.result()
                    if rec is None:
                        again.append(futures[fut])
                        continue
                    done.append(rec)
                    failed = sum(r.status == "failed" for r in done)
                    bar.set_postfix_str(f"done {len(done) - failed}, failed {failed}, left {len(todo) - len(done)}")
                    bar.update(1)
            except BaseException:
                runner.kill_all()
                for f in futures:
                    f.cancel()
                raise
        return again

    try:
        runner.regraded = sorted(one_pass(todo))
        if runner.regraded:  # the zygote died: every kernel of the second pass is an ordinary one
            leftover = one_pass(runner.regraded)
            assert not leftover, leftover  # no zygote any more, so no kernel can die with it
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
