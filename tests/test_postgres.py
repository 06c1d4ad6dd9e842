"""A shared PostgreSQL gradebook: shards graded concurrently, a regrade, a grader killed mid-run.

Runs against a real PostgreSQL server (Debian's ``postgresql``, installed by ``make test``): the
fixture creates a throw-away cluster in a temporary directory, listening only on a Unix socket
there, and stops it afterwards. ``initdb`` refuses to run as root, so as root the cluster
belongs to the ``postgres`` user (``runuser``). The oracle for the scores is the catalogue
(the reference solution earns full marks, the untouched release nothing) and the SQLite
gradebook of the same class.
"""
from __future__ import annotations

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
from kdutils.course.pgcluster import Cluster, PostgresMissing
from kdutils.course import catalogue as cat

pytestmark = [pytest.mark.slow, pytest.mark.full]
CLASS = ("solution", "bug_a", "blank", "partial")


@pytest.fixture(scope="module")
def pg():
    try:
        cluster = Cluster(port=55431).start()
    except PostgresMissing as e:
        pytest.fail(str(e))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def pg_course(pg, tmp_path_factory):
    """A course whose gradebook is the PostgreSQL database, with four `losses` submissions."""
    root = course.make_course(tmp_path_factory.mktemp("pgcourse"))
    course.nbgrader("generate_assignment", "losses", "--force", f"--CourseDirectory.db_url={pg.url}", cwd=root)
    for sub in cat.catalogue():
        if sub.assignment == "losses" and sub.student in CLASS:
            cat.write(sub, root)
    return root


def _cli(root: Path, url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kdutils.course", "autograde", "losses", "--course", str(root),
                             "--db-url", url, "--no-progress", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_postgres_url_is_a_real_server(pg):
    import psycopg

    with psycopg.connect(host=str(pg.dir), port=pg.port, user="postgres", dbname="kd") as conn:
        assert conn.execute("select version()").fetchone()[0].startswith("PostgreSQL")


def test_two_shards_concurrently_then_kill_and_regrade(pg, pg_course):
    root, url = pg_course, pg.url
    shards = [[s for s in CLASS if ag.in_shard(s, i, 2)] for i in (1, 2)]
    assert all(shards), shards  # both shards have work
    # 1. two graders, one per shard, at the same time, into one database
    procs = [_cli(root, url, "--shard", f"{i}/2") for i in (1, 2)]
    outs = [p.communicate()[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    scores = ag.gradebook_scores(url, "losses")
    assert sorted(scores) == sorted(CLASS)
    assert all(n == 1 for _, _, n in scores.values()), scores          # one submission per student
    full = scores["solution"][1]
    assert scores["solution"][0] == full > 0 and scores["blank"][0] == 0
    assert 0 < scores["bug_a"][0] < full and 0 < scores["partial"][0] < full
    for i, out in enumerate(outs):
        assert f"shard {i + 1}/2 has {len(shards[i])}" in out, out

    # 2. a regrade: 'blank' resubmits the reference solution; --force regrades, no duplicate
    sol = root / "submitted" / "solution" / "losses" / "losses.ipynb"
    shutil.copy2(sol, root / "submitted" / "blank" / "losses" / "losses.ipynb")
    p = _cli(root, url, "--students", "blank", "--force")
    out = p.communicate()[0]
    assert p.returncode == 0, out
    again = ag.gradebook_scores(url, "losses")
    assert again["blank"] == (full, full, 1) and again["solution"] == scores["solution"], again

    # 3. a grader killed mid-run (SIGKILL), then started again: every student graded once
    p = _cli(root, url, "--force", "--jobs", "2")
    deadline = time.monotonic() + 600
    status = root / "grading_status" / "losses"
    t_start = time.time()
    while time.monotonic() < deadline and p.poll() is None and \
            not any(f.stat().st_mtime > t_start for f in status.glob("*.json")):
        time.sleep(0.2)
    assert p.poll() is None, "the run finished before it could be killed"
    p.send_signal(signal.SIGKILL)
    p.wait()
    fresh = {f.stem for f in status.glob("*.json") if f.stat().st_mtime > t_start}
    assert fresh < set(CLASS)
    # records older than the killed run say 'graded': start over those the killed run did not redo
    for f in status.glob("*.json"):
        if f.stem not in fresh:
            f.unlink()
    p = _cli(root, url, "--jobs", "2")
    out = p.communicate()[0]
    assert p.returncode == 0, out
    assert f"{len(fresh)} already graded, {len(CLASS) - len(fresh)} to grade" in out, out
    final = ag.gradebook_scores(url, "losses")
    assert final == again, (final, again)
    assert all(r.status == "graded" for r in gradestatus.read_records(root, "losses").values())
