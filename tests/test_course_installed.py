"""``kdutils.course`` installed from the wheel (issue 24 §5): no checkout next to it, so no assignment sources.

The wheel is built from this checkout and unpacked into a directory of its own (what ``pip install`` puts in
site-packages); the commands then run from elsewhere with only that copy of kdutils on the path (nbgrader
and the rest come from this environment). The commands that work on a course take ``--course DIR``;
``grade-demo`` takes its sources from ``--course DIR`` and says so when it is missing; the commands that
maintain the repository (``generate``, ``student-dist``, ``translate-status``) say they need a checkout.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds a wheel and runs nbgrader's command line (about 4 s of CPU a command)
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("installed")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp / "dist"), str(ROOT)], check=True, capture_output=True, env=env, cwd=tmp)
    wheel, = (tmp / "dist").glob("kdutils-*.whl")
    site = tmp / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
        names = z.namelist()
    assert not any(n.startswith(("solutions/", "exercises/")) or "/solutions/" in n for n in names), names
    course = tmp / "course"  # an instructor's course directory, as make_course writes it
    course.mkdir()
    shutil.copy2(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    env = dict(env, PYTHONPATH=str(site), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONHASHSEED="0")
    return {"tmp": tmp, "site": site, "course": course, "env": env}


def kdcourse(inst: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kdutils.course", *args], cwd=inst["tmp"], env=inst["env"],
                          capture_output=True, text=True, timeout=1800)


def test_the_installed_copy_knows_it_is_not_a_checkout(installed):
    code = "import kdutils.course.core as c; print(c.__file__); print(c.CHECKOUT)"
    out = subprocess.run([sys.executable, "-c", code], cwd=installed["tmp"], env=installed["env"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(installed["site"] / "kdutils" / "course" / "core.py"), "None"], out


def test_grade_demo_without_a_course_names_the_option(installed):
    proc = kdcourse(installed, "grade-demo")
    assert proc.returncode != 0
    assert "--course DIR" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("command", [["generate"], ["student-dist"], ["translate-status"]])
def test_repository_commands_say_they_need_a_checkout(installed, command):
    proc = kdcourse(installed, *command)
    assert proc.returncode != 0
    assert "needs a checkout" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_course_commands_work_on_the_course_given(installed):
    course = installed["course"]
    proc = kdcourse(installed, "secret", "--course", str(course))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (course / ".kd-course-secret").is_file()
    proc = kdcourse(installed, "report", "losses", "--course", str(installed["tmp"]))
    assert proc.returncode != 0 and "is not a course directory" in proc.stderr, proc.stderr


@pytest.mark.full
def test_grade_demo_runs_on_the_course_given(installed):
    """The whole demo (generate, autograde, feedback of a dozen students) from the installed copy."""
    proc = kdcourse(installed, "grade-demo", "--course", str(installed["course"]))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "demo class:" in proc.stdout and "feedback files" in proc.stdout, proc.stdout
