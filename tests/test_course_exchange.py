"""The JupyterHub recipe of "For instructors", on one machine: two Unix users (an instructor and a
student, created by the test: it needs root or passwordless sudo for that, see tests/unix_users.py,
and skips without either), one exchange made as the
page says, and a system-wide config with ``Exchange.root`` and ``course_id`` (here in a directory
on ``JUPYTER_CONFIG_PATH`` instead of ``/etc/jupyter``). The instructor generates and releases,
the student fetches and submits without naming the exchange or the course, the instructor collects.

The interpreter may live under /root (pyenv) or the tester's home, which other users cannot enter,
so both users run with CAP_DAC_READ_SEARCH (they may read anything); writes are still checked
against their own permissions, so the test does show that the exchange's permissions let each user
do their part. Everything else (the course copy, the checks) runs as the user who runs pytest.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
import unix_users  # tests/unix_users.py

from kdutils import course

pytestmark = [pytest.mark.slow, pytest.mark.full]
TEACHER, STUDENT = "kdteach", "kdstud"
BIN = Path(sys.executable).parent


def as_user(user: str, cwd: Path, config_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), "USER": user, "LOGNAME": user,
           "JUPYTER_CONFIG_PATH": str(config_path), "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}
    proc = subprocess.run(unix_users.command(user, env, str(BIN / "nbgrader"), *args), cwd=cwd,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"{user}: nbgrader {args}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def hub():
    why = unix_users.problem()
    if why is not None:
        pytest.skip(f"two Unix users (an instructor and a student): {why}")
    for user in (TEACHER, STUDENT):
        unix_users.create(user)
    shared = Path(tempfile.mkdtemp(prefix="kd-hub-"))
    shared.chmod(0o755)
    yield shared
    unix_users.remove_tree(shared)
    unix_users.delete(TEACHER, STUDENT)


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
        unix_users.give(path, user)

    as_user(TEACHER, course_dir, etc, "generate_assignment", "losses", "--force")
    as_user(TEACHER, course_dir, etc, "release_assignment", "losses")
    listed = as_user(STUDENT, student_home, etc, "list")
    assert "kd-book losses" in listed.stdout + listed.stderr
    as_user(STUDENT, student_home, etc, "fetch_assignment", "losses")
    nb_path = student_home / "losses" / "losses.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("kdstud was here"))
    edited = hub / "edited.ipynb"  # the student's file is the student's: write as the student
    nbformat.write(nb, edited)
    edited.chmod(0o644)
    as_user_cmd = unix_users.command(STUDENT, {"PATH": "/usr/bin:/bin"}, "cp", str(edited), str(nb_path))
    subprocess.run(as_user_cmd, check=True, capture_output=True)
    as_user(STUDENT, student_home, etc, "submit", "losses")
    as_user(TEACHER, course_dir, etc, "collect", "losses")

    got = course_dir / "submitted" / STUDENT / "losses" / "losses.ipynb"
    assert got.is_file()
    assert nbformat.read(got, as_version=4).cells[-1].source == "kdstud was here"
    assert got.stat().st_uid == unix_users.uid(TEACHER)
    inbound = exchange / "kd-book" / "inbound"  # not listable by other users: listed as root
    assert unix_users.owners(inbound) == {unix_users.uid(STUDENT)}
