"""A shared PostgreSQL gradebook: shards graded concurrently, a regrade, a grader killed mid-run.

Runs against a real PostgreSQL server (Debian's ``postgresql``, installed by ``make test``): the
fixture creates a throw-away cluster in a temporary directory, listening only on a Unix socket
there, and stops it afterwards. ``initdb`` refuses to run as root, so as root the cluster
belongs to the ``postgres`` user (``runuser``). The oracle for the scores is the catalogue
(the reference solution earns full marks, the untouched release nothing) and the SQLite
gradebook of the same class.
"""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
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
    from datetime import datetime

    from nbgrader.api import Gradebook

    with Gradebook(pg.url) as gb:  # autograde --db-url refuses a gradebook without a roster or a due date
        for student in CLASS:
            gb.update_or_create_student(student)
        gb.update_or_create_assignment("losses", duedate=datetime(2030, 1, 1))
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


# ------------------------------------------------------------------ issue 23 §3: the recipe as written
RECIPE = course.ROOT / "kdutils" / "course" / "recipes" / "postgres.sh"
RECIPE_ROSTER = ("id,first_name,last_name,email,lms_user_id\n"
                 "solution,Sol,Ution,s@example.org,1\nbug_a,Bug,Alpha,b@example.org,2\n"
                 "blank,Blank,Page,p@example.org,3\ncarol,Carol,Danvers,c@example.org,4\n")
#: the recipe's due date (2026-12-04 23:59:00 Europe/Berlin) in UTC, and bug_a's submission 30 h after it
RECIPE_DUE = "2026-12-04 22:59:00"
LATE_TIMESTAMP = "2026-12-06 04:59:00"


def _recipe_course(root: Path) -> Path:
    """A course with the recipe's roster and three submissions (bug_a 30 h late; carol submits nothing)."""
    course.make_course(root)
    (root / "roster.csv").write_text(RECIPE_ROSTER)
    for sub in cat.catalogue():
        if sub.assignment == "losses" and sub.student in ("solution", "bug_a", "blank"):
            path = root / "submitted" / sub.student / "losses" / "losses.ipynb"  # from the repository's release
            path.parent.mkdir(parents=True)
            nbformat.write(cat.build(sub, course.ROOT / "exercises"), path)
            (path.parent / "timestamp.txt").write_text(LATE_TIMESTAMP if sub.student == "bug_a" else "2026-12-01 10:00:00")
    return root


def test_autograde_refuses_a_database_without_roster_or_due_date(pg, tmp_path):
    """The old recipe (generate_assignment alone into a fresh database) is refused, naming what is missing."""
    url = pg.create_database("kd_bare")
    root = _recipe_course(tmp_path / "bare")
    course.nbgrader("generate_assignment", "losses", "--force", f"--CourseDirectory.db_url={url}", cwd=root)
    p = _cli(root, url)
    out = p.communicate()[0]
    assert p.returncode == 2, out
    assert "no students (the roster was never imported into this database)" in out, out
    assert "assignment 'losses' has no due date" in out, out
    assert "run: nbgrader db student import roster.csv --CourseDirectory.db_url=" in out
    assert not (root / "grading_status").exists()  # nothing graded


def test_the_postgres_recipe_as_written_exports_what_sqlite_does(pg, tmp_path):
    import csv
    import os

    text = RECIPE.read_text()
    assert text.count("export DB=") == 1 and "generate_assignment losses --force" in text
    # 1. PostgreSQL: the recipe file, with this test's database in place of the example one
    url = pg.create_database("kd_recipe")
    pg_root = _recipe_course(tmp_path / "pg")
    script = re.sub(r'(?m)^export DB=.*$', f'export DB="{url}"', text)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", "-c", script], cwd=pg_root, env=env, capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    assert "error:" not in out and "Traceback" not in out, out
    assert "carol" in out.split("NO SUBMISSION")[1], out          # the report knows the roster
    assert re.search(r"bug_a: 30\.0 h late \(due 2026-12-04 22:59:00 UTC\)", out), out
    # 2. SQLite: the ten-command recipe of the same page
    sq_root = _recipe_course(tmp_path / "sqlite")
    course.nbgrader("db", "student", "import", "roster.csv", cwd=sq_root)
    course.nbgrader("db", "assignment", "add", "losses", "--duedate=2026-12-04 23:59:00 Europe/Berlin", cwd=sq_root)
    course.nbgrader("generate_assignment", "losses", "--force", cwd=sq_root)
    course.nbgrader("autograde", "losses", "--force", cwd=sq_root, check=False)
    course.nbgrader("export", cwd=sq_root)

    def grades(root):
        with open(root / "grades.csv", newline="", encoding="utf-8-sig") as fh:
            return {r["student_id"]: r for r in csv.DictReader(fh)}

    pg_g, sq_g = grades(pg_root), grades(sq_root)
    assert sorted(pg_g) == ["blank", "bug_a", "carol", "solution"]
    assert pg_g == sq_g
    assert pg_g["carol"]["losses status"] == "no submission"
    assert float(pg_g["bug_a"]["losses late penalty"]) > 0 and pg_g["bug_a"]["losses hours late"] == "30.00"
