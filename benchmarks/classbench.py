"""Class-size grading benchmark: a synthetic class autograded at 1 and 2 jobs, SQLite and PostgreSQL.

Part of ``make bench`` (``benchmarks/run.py`` calls ``bench_class``), or on its own::

    python benchmarks/classbench.py --students 40 --out _build/classbench.json

The class is built from the submission catalogue (correct, alternative, buggy and tampered
notebooks of both assignments; the entry whose function loops forever is left out, since its
cost is the cell timeout, not the grader): student ``s000`` gets the first catalogue entry of each
assignment, ``s001`` the second, and so on round the catalogue. Every configuration grades the
same class in a fresh copy of the course with ``python -m kdutils.course autograde`` and must
give the same scores. ``breakdown`` profiles one autograde of the reference solution: nbgrader's
start, the database and preprocessing, the kernel's start, the setup cell (``import torch``,
``import kdutils``, connecting to the grading worker), the wait for the worker (none with the
run's shared worker, as here and in a batch), the test cells, the end (kernel shutdown, saving
the grades, exit) and ``generate_feedback``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from statistics import median
from typing import Callable

from kdutils.course import ASSIGNMENTS, catalogue

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"tamper_loop"}  # a hang costs the cell timeout (issue 13 item 1), not grading throughput


def build_class(course_dir: Path, n_students: int, db_url: str | None = None) -> dict[str, dict[str, str]]:
    """A course with both assignments generated and ``n_students`` synthetic students; ``{student: {a: entry}}``."""
    from kdutils import course

    cat = catalogue
    root = course.make_course(course_dir)
    extra = [f"--CourseDirectory.db_url={db_url}"] if db_url else []
    for a in ASSIGNMENTS:
        course.nbgrader("generate_assignment", a, "--force", *extra, cwd=root)
    entries = {a: [s for s in cat.catalogue() if s.assignment == a and s.student not in SKIP] for a in ASSIGNMENTS}
    roster: dict[str, dict[str, str]] = {}
    for k in range(n_students):
        student = f"s{k:03d}"
        roster[student] = {}
        for a in ASSIGNMENTS:
            sub = entries[a][k % len(entries[a])]
            roster[student][a] = sub.student
            clone = dataclasses.replace(sub, student=student)
            cat.write(clone, root)
    return roster


def _init_db(template: Path, dest: Path, db_url: str | None) -> Path:
    """A copy of the class course; with ``db_url``, its assignments generated into that database."""
    from kdutils import course

    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("gradebook.db", "grading_status", "autograded",
                                                                   "feedback", ".nbgrader.log"))
    if db_url:
        for a in ASSIGNMENTS:
            course.nbgrader("generate_assignment", a, "--force", f"--CourseDirectory.db_url={db_url}", cwd=dest)
    else:
        shutil.copy2(template / "gradebook.db", dest / "gradebook.db")
    return dest


def grade_class(course_dir: Path, jobs: int, db_url: str | None = None) -> dict:
    """Autograde both assignments of the class; wall and CPU seconds per assignment, and the scores."""
    from kdutils.course import autograde as ag

    out: dict = {"seconds": {}, "cpu_seconds": {}, "scores": {}, "failed": {}}
    for a in ASSIGNMENTS:
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        with open(os.devnull, "w") as devnull:
            recs = ag.autograde(course_dir, a, jobs=jobs, db_url=db_url, progress=False, out=devnull)
        out["seconds"][a] = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["cpu_seconds"][a] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        scores = ag.gradebook_scores(db_url or ag.default_db_url(course_dir), a)
        out["scores"][a] = {s: v[0] for s, v in sorted(scores.items())}
        out["failed"][a] = sorted(r.student for r in recs if r.status == "failed")
        if any(v[2] != 1 for v in scores.values()):
            raise AssertionError(f"{a}: a student has not exactly one submission: {scores}")
    return out


# --------------------------------------------------------------------------------------- profile
def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _python_import_torch() -> float:
    """Seconds a fresh ``python -I`` takes to import torch (what the grading worker does first)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-I", "-c", "import torch"], check=True)
    return time.perf_counter() - t0


def profile_autograde(course_dir: Path, assignment: str, student: str, batch: bool = True) -> dict:
    """Seconds of each phase of one ``nbgrader autograde --student``, from its timestamped log and cell timings.

    ``batch``: as ``kdutils.course autograde`` runs it (the kernel forked from the run's zygote, the run's
    shared grading worker); else as stock ``nbgrader autograde`` (a fresh kernel and its own worker)."""
    import nbformat

    from kdutils import course
    from kdutils.course.runner import start_shared_worker, start_zygote, zygote_ready

    exe = Path(sys.executable).parent / "nbgrader"
    env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
    env["PATH"] = f"{exe.parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("KDUTILS_GRADING_WORKER", None)
    with tempfile.TemporaryDirectory(prefix="kd-w-") as sock_dir:
        servers = []
        if batch:
            forker = start_zygote(Path(sock_dir), env)
            servers.append(forker)
            server = start_shared_worker(Path(sock_dir))
            jupyter_path = zygote_ready(forker, Path(sock_dir))
            if server is None or jupyter_path is None:
                raise RuntimeError("the shared grading worker or the zygote did not start")
            servers.append(server)
            env["KDUTILS_GRADING_WORKER"] = str(Path(sock_dir) / "worker.sock")
            env["JUPYTER_PATH"] = jupyter_path
        try:
            t_spawn = time.time()
            proc = subprocess.run([str(exe), "autograde", assignment, "--student", student, "--force",
                                   "--Application.log_format=KDT %(created).6f %(message)s"],
                                  cwd=course_dir, env=env, capture_output=True, text=True)
            t_end = time.time()
        finally:
            for server in servers:
                server.kill()
                server.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"autograde failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    log = [(float(m.group(1)), m.group(2)) for m in re.finditer(r"KDT (\d+\.\d+) (.*)", proc.stdout + proc.stderr)]
    first_log = log[0][0]
    execute_start = [t for t, msg in log if msg.startswith("Converting notebook") and "autograded" in msg][0]
    last_log = log[-1][0]
    nb = nbformat.read(course_dir / "autograded" / student / assignment / f"{assignment}.ipynb", as_version=4)
    cells = [(c.metadata.get("nbgrader", {}).get("grade_id", ""), _epoch(c.metadata.execution["iopub.status.busy"]),
              _epoch(c.metadata.execution["shell.execute_reply"]))
             for c in nb.cells if c.cell_type == "code" and "execution" in c.metadata]
    setup = [c for c in cells if c[0] == "setup"][0]
    first_check = next(c for c in cells if c[0].startswith("test_"))
    later_checks = [c[2] - c[1] for c in cells if c[0].startswith("test_") and c is not first_check]
    worker_wait = max(0.0, (first_check[2] - first_check[1]) - median(later_checks))
    t0 = time.perf_counter()
    course.nbgrader("generate_feedback", assignment, "--student", student, "--force", cwd=course_dir)
    feedback = time.perf_counter() - t0
    phases = {
        "nbgrader_start_s": first_log - t_spawn,
        "database_and_preprocessing_s": execute_start - first_log,
        "kernel_start_s": cells[0][1] - execute_start,
        "setup_cell_import_torch_kdutils_s": setup[2] - setup[1],
        "worker_import_torch_wait_s": worker_wait,
        "cells_s": sum(c[2] - c[1] for c in cells if c is not setup) - worker_wait,
        "kernel_shutdown_and_save_grades_s": last_log - cells[-1][2],
        "exit_s": t_end - last_log,
        "feedback_s": feedback,
    }
    phases["autograde_total_s"] = t_end - t_spawn
    phases["python_import_torch_s"] = _python_import_torch()
    return {k: round(v, 3) for k, v in phases.items()}


# --------------------------------------------------------------------------------------- the benchmark
def bench_class(n_students: int = 40, postgres: bool = True, profile_repeats: int = 3,
                on_step: Callable[[str], None] | None = None) -> dict:
    """``grading.{batch_seconds_per_notebook, class, breakdown}`` of ``make bench``."""
    step = on_step or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if n_students < 1:
        raise ValueError(f"n_students must be >= 1, got {n_students}")
    with tempfile.TemporaryDirectory(prefix="kd-classbench-") as tmp:
        tmp = Path(tmp)
        step(f"class: build {n_students} students")
        roster = build_class(tmp / "template", n_students)
        step("class: profile one autograde per assignment")
        breakdown, breakdown_stock = {}, {}
        prof = _init_db(tmp / "template", tmp / "profile", None)
        for a in ASSIGNMENTS:
            for batch, into in ((True, breakdown), (False, breakdown_stock)):
                runs = [profile_autograde(prof, a, "s000", batch=batch) for _ in range(profile_repeats)]
                into[a] = {k: round(median(r[k] for r in runs), 3) for k in runs[0]}
        runs = {}
        for jobs in (1, 2):
            step(f"class: SQLite, {jobs} job(s)")
            runs[f"sqlite_jobs{jobs}"] = grade_class(_init_db(tmp / "template", tmp / f"j{jobs}", None), jobs)
        if postgres:
            from kdutils.course.pgcluster import Cluster

            step("class: PostgreSQL, 2 jobs")
            with Cluster(port=55433) as pg:
                runs["postgres_jobs2"] = grade_class(_init_db(tmp / "template", tmp / "pg", pg.url), 2, pg.url)
    ref = runs["sqlite_jobs1"]["scores"]
    same = all(r["scores"] == ref for r in runs.values())
    if not same:
        raise AssertionError("the configurations gave different scores: " +
                             json.dumps({k: r["scores"] for k, r in runs.items()})[:3000])
    total = {k: sum(r["seconds"].values()) for k, r in runs.items()}
    n_nb = n_students * len(ASSIGNMENTS)
    j1, j2 = total["sqlite_jobs1"], total["sqlite_jobs2"]
    cls = {
        "students": n_students,
        "notebooks": n_nb,
        "profile_repeats": profile_repeats,
        "jobs1_s": round(j1, 1),
        "jobs2_s": round(j2, 1),
        "speedup": round(j1 / j2, 2),
        "students_per_minute_jobs1": round(n_students / j1 * 60, 2),
        "students_per_minute_jobs2": round(n_students / j2 * 60, 2),
        "extrapolated_200_students_s": round(j2 / n_students * 200, 1),
        "sqlite_s": round(j2, 1),
        "cpu_seconds_per_notebook": round(sum(runs["sqlite_jobs1"]["cpu_seconds"].values()) / n_nb, 2),
        "same_scores": same,
        "failed": runs["sqlite_jobs1"]["failed"],
        "roster": {a: sorted({e[a] for e in roster.values()}) for a in ASSIGNMENTS},
    }
    if postgres:
        cls["postgres_s"] = round(total["postgres_jobs2"], 1)
    per_nb = {a: round(runs["sqlite_jobs2"]["seconds"][a] / n_students, 2) for a in ASSIGNMENTS}
    per_nb_1 = {a: round(runs["sqlite_jobs1"]["seconds"][a] / n_students, 2) for a in ASSIGNMENTS}
    return {"batch_seconds_per_notebook": per_nb, "batch_seconds_per_notebook_jobs1": per_nb_1,
            "class": cls, "breakdown": breakdown, "breakdown_stock": breakdown_stock}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/classbench.py", description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=40, help="class size (default 40)")
    p.add_argument("--no-postgres", action="store_true", help="leave out the PostgreSQL run")
    p.add_argument("--profile-repeats", type=int, default=3, help="profiled autogrades per assignment (median)")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    if args.students < 1:
        p.error(f"--students must be >= 1, got {args.students}")
    res = bench_class(args.students, postgres=not args.no_postgres, profile_repeats=args.profile_repeats)
    text = json.dumps({"grading": res}, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
