"""``python -m kdutils.course autograde --jobs N``: parallel grading loses and duplicates nothing, and resumes.

The oracle is the gradebook written by one job (stock nbgrader, one student after the other):
2 and 4 jobs must give the same scores, one submission per student. A run killed with SIGKILL
mid-batch and started again must grade only the students it had not finished and end with the
same gradebook. Small class (the `losses` assignment, three students) to keep the run short.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kdutils import course
from kdutils.course import autograde as ag
from kdutils.course import gradestatus
from kdutils.course import catalogue as cat

CLASS = ("solution", "bug_a", "blank")
TIMEOUT_ARG = "--nbgrader-arg=--Execute.timeout=60"


# ------------------------------------------------------------------------------------------ fast
def test_shard_parsing_names_the_bad_value():
    assert ag.parse_shard(None) == (1, 1) and ag.parse_shard("2/3") == (2, 3)
    for bad in ("0/2", "3/2", "1-2", "a/b", "1/0"):
        with pytest.raises(ag.AutogradeError, match="--shard") as e:
            ag.parse_shard(bad)
        assert repr(bad) in str(e.value)


def test_shards_partition_the_class_deterministically():
    students = [f"s{i:03d}" for i in range(200)] + ["jane_doe", "j.smith"]
    for n in (1, 2, 3, 5):
        parts = [[s for s in students if ag.in_shard(s, i, n)] for i in range(1, n + 1)]
        assert sorted(sum(parts, [])) == sorted(students)          # every student in exactly one shard
        assert all(len(p) > len(students) / n / 2 for p in parts)  # and the shards are not lopsided
    # a student's shard depends on its id only (the same on every machine, whoever else submitted)
    assert [ag.in_shard("jane_doe", i, 3) for i in (1, 2, 3)].count(True) == 1


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ag.AutogradeError, match="not a course directory"):
        ag.autograde(tmp_path, "losses")
    course.make_course(tmp_path)
    with pytest.raises(ag.AutogradeError, match="--jobs must be >= 1, got 0"):
        ag.autograde(tmp_path, "losses", jobs=0)
    with pytest.raises(ag.AutogradeError, match="no gradebook at .*generate_assignment losses"):
        ag.autograde(tmp_path, "losses", progress=False)


def test_status_record_round_trip(tmp_path):
    rec = gradestatus.StatusRecord(student="ann", assignment="losses", status="failed", reason="the kernel died",
                                   problems=[{"notebook": "losses", "cell": "test_x", "kind": "dead_kernel",
                                              "message": "m"}])
    gradestatus.write_record(tmp_path, rec, log="nbgrader output")
    assert gradestatus.read_records(tmp_path, "losses") == {"ann": rec}
    assert gradestatus.failures(tmp_path, "losses") == [rec]
    assert (tmp_path / "grading_status" / "losses" / "ann.log").read_text() == "nbgrader output"
    with pytest.raises(ValueError, match="status must be"):
        gradestatus.StatusRecord(student="x", assignment="losses", status="ok")


def test_output_held_open_by_a_leftover_process_does_not_hang_the_run(monkeypatch):
    """nbgrader has exited but a process it started still holds its stdout: wait OUTPUT_GRACE, not forever."""
    from kdutils.course import runner

    monkeypatch.setattr(runner, "OUTPUT_GRACE", 1)
    p = subprocess.Popen(["/bin/sh", "-c", "echo graded; sleep 30 & exit 3"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    t0 = time.perf_counter()
    out, rc = runner._wait(p, None)
    assert time.perf_counter() - t0 < 10 and rc == 3
    assert out.startswith("graded") and "kept its output open" in out
    os.killpg(p.pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------ slow
@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A course with `losses` generated and three submissions, not yet graded."""
    root = course.make_course(tmp_path_factory.mktemp("template"))
    course.nbgrader("generate_assignment", "losses", "--force", cwd=root)
    for sub in cat.catalogue():
        if sub.assignment == "losses" and sub.student in CLASS:
            cat.write(sub, root)
    return root


def _copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest


def _cli(root: Path, *args: str, **kw) -> subprocess.Popen:
    timeout = [] if any(a.startswith("--nbgrader-arg=--Execute.timeout") for a in args) else [TIMEOUT_ARG]
    return subprocess.Popen([sys.executable, "-m", "kdutils.course", "autograde", "losses", "--course", str(root),
                             "--no-progress", *timeout, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kw)


@pytest.fixture(scope="module")
def one_job(template, tmp_path_factory):
    root = _copy(template, tmp_path_factory.mktemp("jobs") / "j1")
    p = _cli(root, "--jobs", "1")
    out, _ = p.communicate()
    assert p.returncode == 0, out
    return ag.gradebook_scores(ag.default_db_url(root), "losses")


@pytest.mark.slow
@pytest.mark.full
def test_one_job_matches_the_catalogue(one_job):
    assert set(one_job) == set(CLASS)
    score, maximum, n = one_job["solution"]
    assert score == maximum > 0 and n == 1
    assert one_job["blank"][0] == 0
    assert 0 < one_job["bug_a"][0] < maximum


@pytest.mark.slow
@pytest.mark.parametrize("jobs,stock", [(2, False), (4, False), (2, True)], ids=["2", "4", "2-stock-kernels"])
@pytest.mark.full
def test_parallel_jobs_give_the_same_gradebook(template, one_job, tmp_path, jobs, stock):
    """Also with ordinary kernels and a worker per kernel (``--no-zygote --private-workers``), as stock nbgrader."""
    root = _copy(template, tmp_path / f"j{jobs}")
    p = _cli(root, "--jobs", str(jobs), *(["--no-zygote", "--private-workers"] if stock else []))
    out, _ = p.communicate()
    assert p.returncode == 0, out
    assert ag.gradebook_scores(ag.default_db_url(root), "losses") == one_job  # same scores, one submission each
    recs = gradestatus.read_records(root, "losses")
    assert sorted(recs) == sorted(CLASS) and all(r.status == "graded" for r in recs.values()), out
    assert {s: r.score for s, r in recs.items()} == {s: v[0] for s, v in one_job.items()}
    assert ("kernels: ordinary (--no-zygote)" if stock else "kernels forked by the zygote: 3") in out, out
    # started again: nothing left to grade
    p = _cli(root, "--jobs", str(jobs))
    out, _ = p.communicate()
    assert p.returncode == 0 and "3 already graded, 0 to grade" in out, out


def _nbgrader_children(root: Path) -> list[int]:
    """Pids of nbgrader processes still working in ``root``."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.readlink(d / "cwd") == str(root) and b"autograde" in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


@pytest.mark.slow
@pytest.mark.full
def test_sigkill_mid_batch_then_rerun_loses_nothing(template, one_job, tmp_path):
    root = _copy(template, tmp_path / "killed")
    status = root / "grading_status" / "losses"
    p = _cli(root, "--jobs", "2")
    deadline = time.monotonic() + 600
    while not list(status.glob("*.json")) and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.2)
    assert p.poll() is None, "the batch finished before it could be killed"
    first = {f.stem for f in status.glob("*.json")}
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(2)
    assert _nbgrader_children(root) == [], "nbgrader children survived their parent"
    before = set(gradestatus.read_records(root, "losses"))
    assert first <= before < set(CLASS)
    q = _cli(root, "--jobs", "2")
    out, _ = q.communicate()
    assert q.returncode == 0, out
    assert f"{len(before)} already graded, {3 - len(before)} to grade" in out, out
    assert ag.gradebook_scores(ag.default_db_url(root), "losses") == one_job


@pytest.mark.slow
def test_a_missing_notebook_a_dead_kernel_and_a_swallowed_interrupt_are_named_failures(template, tmp_path):
    root = _copy(template, tmp_path / "failing")
    (root / "submitted" / "bug_a" / "losses" / "losses.ipynb").rename(root / "submitted" / "bug_a" / "losses" / "x.txt")
    segfault = cat.fn(cat.KD, cat.KD_ARGS, "import ctypes\nctypes.string_at(0)\nreturn None")
    cat.write(cat.Submission("crash", "losses", "segfault in kd_kl_loss", cells={cat.KD: segfault}), root)
    # ignores SIGALRM (the grader's time budget, which stops a plain swallowing loop: tests/test_hang.py) and SIGINT
    swallow = cat.fn(cat.SM, cat.SM_ARGS, "import signal, time\n"
                                          "signal.signal(signal.SIGALRM, signal.SIG_IGN)\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                          "while True:\n    try:\n        time.sleep(0.05)\n"
                                          "    except BaseException:\n        pass")
    cat.write(cat.Submission("swallow", "losses", "a loop that blocks the grader's signals and swallows the interrupt",
                             cells={cat.SM: swallow}), root)
    p = _cli(root, "--students", "bug_a,crash,swallow", "--jobs", "2", "--nbgrader-arg=--Execute.timeout=20")
    out, _ = p.communicate()
    assert p.returncode == 1, out
    recs = gradestatus.read_records(root, "losses")
    assert recs["bug_a"].status == "failed" and "missing" in recs["bug_a"].reason, recs["bug_a"]
    assert recs["crash"].status == "failed" and "kernel died" in recs["crash"].reason, recs["crash"]
    assert [p["kind"] for p in recs["crash"].problems] == ["dead_kernel"]
    assert recs["swallow"].status == "failed" and "ignored the interrupt" in recs["swallow"].reason, recs["swallow"]
    assert "softmax_with_temperature" in recs["swallow"].reason  # names the cell that hung
    assert {f.student for f in gradestatus.failures(root, "losses")} == {"bug_a", "crash", "swallow"}
    assert "3 failed: bug_a, crash, swallow" in out, out
    # The report reads the status records: each failure with its reason, and the exit code says pending.
    rep = subprocess.run([sys.executable, "-m", "kdutils.course", "report", "losses"], cwd=root,
                         capture_output=True, text=True)
    assert rep.returncode == 1, rep.stdout + rep.stderr
    failed = rep.stdout.split("FAILED TO GRADE")[1].split("\n  ")
    for student, words in [("bug_a", "missing"), ("crash", "kernel died"), ("swallow", "ignored the interrupt")]:
        assert any(line.startswith(f"{student}: ") and words in line for line in failed), (student, rep.stdout)


@pytest.mark.slow
@pytest.mark.full
def test_a_student_who_kills_the_zygote_costs_only_their_own_points(template, one_job, tmp_path):
    """The zygote is every forked kernel's parent; killing it kills the kernels in flight. Those students are
    graded again with ordinary kernels, where the same code kills only the student's own nbgrader."""
    root = _copy(template, tmp_path / "killer")
    kill = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + cat.fn(cat.SM, cat.SM_ARGS, "return None")
    cat.write(cat.Submission("killer", "losses", "kills its kernel's parent process", cells={cat.SM: kill}), root)
    p = _cli(root, "--jobs", "2")
    out, _ = p.communicate()
    assert p.returncode == 1, out
    recs = gradestatus.read_records(root, "losses")
    assert recs["killer"].status == "failed", recs["killer"]
    assert {s: recs[s].score for s in CLASS} == {s: one_job[s][0] for s in CLASS}, out
    assert all(recs[s].status == "graded" for s in CLASS), out
    assert "the kernel zygote stopped during the run; graded again with ordinary kernels:" in out, out
    assert "killer" in out.split("graded again with ordinary kernels:")[1], out


@pytest.mark.slow
@pytest.mark.full
def test_after_the_zygote_died_a_student_who_fails_alone_is_graded_once(template, tmp_path):
    """Only students whose kernel came from the zygote are graded again: a later crash, already in an ordinary
    kernel, is its own student's failure and is not graded twice."""
    root = _copy(template, tmp_path / "after")
    kill = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + cat.fn(cat.SM, cat.SM_ARGS, "return None")
    cat.write(cat.Submission("killer", "losses", "kills its kernel's parent process", cells={cat.SM: kill}), root)
    segfault = cat.fn(cat.KD, cat.KD_ARGS, "import ctypes\nctypes.string_at(0)\nreturn None")
    cat.write(cat.Submission("zcrash", "losses", "segfault in kd_kl_loss", cells={cat.KD: segfault}), root)
    p = _cli(root, "--students", "killer,zcrash", "--jobs", "1")  # in this order: zcrash after the zygote died
    out, _ = p.communicate()
    assert p.returncode == 1, out
    recs = gradestatus.read_records(root, "losses")
    assert recs["zcrash"].status == "failed" and "kernel died" in recs["zcrash"].reason, recs["zcrash"]
    assert "graded again with ordinary kernels: killer\n" in out, out


def test_the_shared_worker_answers_as_a_private_one_and_a_kernel_falls_back_when_it_dies(tmp_path):
    """One grading worker per autograde run (no second `import torch` per notebook); if it dies, a kernel starts its own."""
    code = f"""
import json, sys
from pathlib import Path
from kdutils.course.runner import start_shared_worker
server = start_shared_worker(Path({str(tmp_path)!r}))
assert server is not None, "the shared worker did not come up"
from kdutils.grading import kernel
req = {{"op": "cases", "check": "kd_kl_loss", "part": "temperature", "hidden": False}}
private = kernel.ask(req)
kernel._state["worker"].kill()
kernel._state.update(worker=None, shared={str(tmp_path / 'worker.sock')!r})
shared = kernel.ask(req)
assert type(kernel._state["worker"]).__name__ == "_SharedWorker"
assert shared == private
server.kill(); server.wait()
after = kernel.ask(req)
assert after == private and type(kernel._state["worker"]).__name__ == "Popen" and kernel._state["shared"] is None
print("ok")
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.stdout.strip() == "ok", p.stdout + p.stderr
    assert (tmp_path / "worker.sock").stat().st_mode & 0o077 == 0  # only its owner may connect


def test_one_shared_worker_answers_each_kernel_in_its_assignments_language(tmp_path):
    """The language travels with each request (prepare(lang=...)), so one run's worker serves losses and losses_zh."""
    code = f"""
from pathlib import Path
import torch
from kdutils.course.runner import start_shared_worker
server = start_shared_worker(Path({str(tmp_path)!r}))
import kdutils.grading as G
from kdutils.grading import kernel
kernel._state.update(worker=None, shared={str(tmp_path / 'worker.sock')!r})
for lang in ("zh", "en", "zh"):
    G.prepare(lang=lang)
    try:
        G.check_softmax_with_temperature(lambda z, T=1.0: torch.softmax(z, -1), "example")
    except AssertionError as e:
        print(lang, type(kernel._state["worker"]).__name__, str(e).split("：")[0].split(":")[0])
server.kill()
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.stdout.splitlines() == ["zh _SharedWorker 忽略了温度 T", "en _SharedWorker the temperature T is ignored",
                                     "zh _SharedWorker 忽略了温度 T"], p.stdout + p.stderr
