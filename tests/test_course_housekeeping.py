"""Housekeeping of a running course: student data is git-ignored, the commands refuse to write
outside a course directory, the late policy is the one configured, the export and report read the
gradebook the way nbgrader writes it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kdutils.course.late import Policy, penalty
from kdutils.course.where import NotACourseError, require_course_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", ["downloaded/losses/archive/x.zip", "submitted/alice/losses/losses.ipynb",
                                  "autograded/alice/losses/losses.ipynb", "feedback/alice/losses/losses.html",
                                  "release/losses/losses.ipynb", "exports/feedback-losses.zip", "grades.csv",
                                  "roster.csv", "roster-2026.csv", "gradebook.db", ".nbgrader.log",
                                  "lms/losses.json"])
def test_student_data_is_git_ignored(path):
    proc = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
    assert proc.returncode == 0, f"{path} is not git-ignored"


def test_course_files_are_not_ignored():
    for path in ("solutions/losses/losses.ipynb", "exercises/losses/losses.ipynb", "nbgrader_config.py"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 1, path


def test_require_course_dir_names_the_path(tmp_path):
    with pytest.raises(NotACourseError, match=f"{tmp_path} is not a course directory.*nbgrader_config.py"):
        require_course_dir(tmp_path)
    (tmp_path / "nbgrader_config.py").write_text("")
    with pytest.raises(NotACourseError, match="solutions/ is missing"):
        require_course_dir(tmp_path)
    (tmp_path / "solutions").mkdir()
    assert require_course_dir(tmp_path) == tmp_path.resolve()
    assert require_course_dir(ROOT) == ROOT


@pytest.mark.parametrize("command", [["report", "losses"], ["extend", "losses", "alice", "--days", "1"],
                                     ["release-feedback", "losses"]])
def test_commands_refuse_to_run_outside_a_course(tmp_path, command):
    proc = subprocess.run([sys.executable, "-m", "kdutils.course", *command], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert f"{tmp_path.resolve()} is not a course directory" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_late_policy():
    p = Policy(grace_minutes=15, per_day=0.1, max_days=7)
    assert penalty(p, 22, 0) == 0 and penalty(p, 22, 14 * 60) == 0
    assert penalty(p, 22, 16 * 60) == pytest.approx(2.2)          # first started day
    assert penalty(p, 22, 30 * 3600) == pytest.approx(4.4)        # second started day
    assert penalty(p, 22, 7 * 86400 + 1) == 22                    # past max_days: everything
    assert penalty(Policy(per_day=0.5), 10, 5 * 86400) == 10       # capped at the maximum
    with pytest.raises(ValueError, match="per_day=1.5"):
        Policy(per_day=1.5)
    with pytest.raises(ValueError, match="grace_minutes=-1"):
        Policy(grace_minutes=-1)


def test_help_lists_every_command_and_loads_neither_nbgrader_nor_torch():
    """``python -m kdutils.course --help`` imports only the command table (its time is in ``make bench``)."""
    code = ("import sys, runpy, contextlib, io\n"
            "sys.argv = ['kdutils.course', '--help']\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    try:\n        runpy.run_module('kdutils.course', run_name='__main__')\n"
            "    except SystemExit:\n        pass\n"
            "print(out.getvalue())\n"
            "print('LOADED', sorted(m for m in ('torch', 'nbgrader', 'nbformat') if m in sys.modules))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    from kdutils.course.__main__ import COMMANDS

    for name in COMMANDS:
        assert name in p.stdout, (name, p.stdout, p.stderr)
    assert "LOADED []" in p.stdout, p.stdout


def test_the_course_key_preprocessor_does_not_import_the_grader_or_torch():
    """``nbgrader generate_assignment`` runs ``InsertCourseKey``: making a key loads no torch, and its form is the
    one the grader checks."""
    code = ("import sys\nfrom kdutils.course import secret\n"
            "key = secret.course_key('ab' * 32, 'losses')\n"
            "print(key, 'torch' in sys.modules, 'kdutils.grading' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    key, torch_loaded, grader_loaded = p.stdout.split()
    assert (torch_loaded, grader_loaded) == ("False", "False"), p.stdout + p.stderr
    from kdutils.course import secret
    from kdutils.grading import keys

    assert secret.KEY_PREFIX == keys.KEY_PREFIX and keys.is_course_key(key)


def test_feedback_names_for_lms_bulk_upload_and_unfetchable_pages(tmp_path):
    """Issue 23 §1.5 and §2.5: feedback files named as Canvas and Moodle re-import them; a page whose notebook the
    student renamed is found, since fetch_feedback looks for the submitted names."""
    from kdutils.course.feedback import feedback_name, unfetchable

    canvas = {"lms": "canvas", "prefix": "müllerzoë_LATE_410006_6789012_"}
    assert feedback_name("zoe", "losses.html", canvas) == ("canvas", "müllerzoë_LATE_410006_6789012_losses.html")
    moodle = {"lms": "moodle", "prefix": "Zoë Müller_77_assignsubmission_file_"}
    assert feedback_name("zoe", "losses.html", moodle) == ("moodle", "Zoë Müller_77_assignsubmission_file_losses.html")
    folder = {"lms": "moodle", "prefix": "Zoë Müller_77_assignsubmission_file"}
    assert feedback_name("zoe", "losses.html", folder)[1] == "Zoë Müller_77_assignsubmission_file_losses.html"
    assert feedback_name("bob", "losses.html", None) == ("", "bob/losses.html")
    fb, sub = tmp_path / "feedback", tmp_path / "submitted"
    fb.mkdir()
    sub.mkdir()
    (fb / "losses.html").write_text("x")
    (sub / "losses-Copy1.ipynb").write_text("{}")
    assert unfetchable(fb, sub) == ["losses.html"]
    (sub / "losses.ipynb").write_text("{}")
    assert unfetchable(fb, sub) == []


def test_importing_kdutils_does_not_import_tqdm_auto():
    """Issue 23 §4.5: tqdm.auto warns 'IProgress not found' when imported in a Jupyter kernel without ipywidgets
    (a student who installed only jupyterlab); kdutils imports it only for a progress bar that was asked for."""
    code = ("import sys, kdutils as kd, kdutils.train, kdutils.data, kdutils.models; "
            "print([m for m in ('tqdm.auto', 'tqdm.autonotebook', 'tqdm.notebook') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
