"""The JupyterHub recipe of "For instructors", on one machine: two Unix users (an instructor and a
student, created by the test; it runs as root like `make test` in CI), one exchange made as the
page says, and a system-wide config with ``Exchange.root`` and ``course_id`` (here in a directory
on ``JUPYTER_CONFIG_PATH`` instead of ``/etc/jupyter``). The instructor generates and releases,
the student fetches and submits without naming the exchange or the course, the instructor collects.

The interpreter lives under /root (pyenv), which other users cannot enter, so both users run with
CAP_DAC_READ_SEARCH (they may read anything); writes are still checked against their own
permissions, so the test does show that the exchange's permissions let each user do their part.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from kdutils import course

pytestmark = [pytest.mark.slow, pytest.mark.full]
TEACHER, STUDENT = "kdteach", "kdstud"
BIN = Path(sys.executable).parent


def as_user(user: str, cwd: Path, config_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), "USER": user, "LOGNAME": user,
           "JUPYTER_CONFIG_PATH": str(config_path), "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}
    cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--inh-caps=+dac_read_search",
           "--ambient-caps=+dac_read_search", str(BIN / "nbgrader"), *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{user}: nbgrader {args}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def hub():
    if os.geteuid() != 0:
        pytest.fail("this test creates two Unix users and must run as root (as `make test` in CI does)")
    for user in (TEACHER, STUDENT):
        if subprocess.run(["id", user], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", user], check=True)
    shared = Path(tempfile.mkdtemp(prefix="kd-hub-"))
    shared.chmod(0o755)
    yield shared
    shutil.rmtree(shared, ignore_errors=True)
    for user in (TEACHER, STUDENT):
        subprocess.run(["userdel", user], capture_output=True)


def test_release_fetch_submit_collect_between_two_unix_users(hub):
    # the admin, once: the exchange (everyone may write; nbgrader sets the per-course modes) and the
    # system-wide config that every user's nbgrader reads
    exchange = hub / "srv" / "nbgrader" / "exchange"
    exchange.mkdir(parents=True)
    exchange.chmod(0o777)
    etc = hub / "etc" / "jupyter"
    etc.mkdir(parents=True)
    (etc / "nbgrader_config.py").write_text(
        f'c = get_config()\nc.Exchange.root = "{exchange}"\nc.CourseDirectory.course_id = "kd-book"\n')
    # the instructor's private course copy and the student's home
    course_dir = course.make_course(hub / "home" / TEACHER / "kd-course")
    student_home = hub / "home" / STUDENT
    student_home.mkdir(parents=True)
    for user, path in ((TEACHER, hub / "home" / TEACHER), (STUDENT, student_home)):
        subprocess.run(["chown", "-R", f"{user}:{user}", str(path)], check=True)

    as_user(TEACHER, course_dir, etc, "generate_assignment", "losses", "--force")
    as_user(TEACHER, course_dir, etc, "release_assignment", "losses")
    listed = as_user(STUDENT, student_home, etc, "list")
    assert "kd-book losses" in listed.stdout + listed.stderr
    as_user(STUDENT, student_home, etc, "fetch_assignment", "losses")
    nb_path = student_home / "losses" / "losses.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("kdstud was here"))
    nbformat.write(nb, nb_path)
    as_user(STUDENT, student_home, etc, "submit", "losses")
    as_user(TEACHER, course_dir, etc, "collect", "losses")

    got = course_dir / "submitted" / STUDENT / "losses" / "losses.ipynb"
    assert got.is_file()
    assert nbformat.read(got, as_version=4).cells[-1].source == "kdstud was here"
    assert got.stat().st_uid == int(subprocess.run(["id", "-u", TEACHER], capture_output=True, text=True).stdout)
    inbound = exchange / "kd-book" / "inbound"
    owners = {p.stat().st_uid for p in inbound.iterdir()}
    assert owners == {int(subprocess.run(["id", "-u", STUDENT], capture_output=True, text=True).stdout)}
