"""``nbgrader zip_collect`` with kdutils' LMS collector, on real-looking Blackboard, Canvas and
Moodle downloads made in the test: underscores and dots in user names, resubmissions
(``losses-1.ipynb``, several attempts; the latest wins), local-time timestamps, and a file that
matches nothing (an ERROR, exit code 1, nothing collected)."""
from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from kdutils import course
from kdutils.course.collect import parse_name

RELEASED = {"losses.ipynb"}
ROSTER = {"alice", "jane_doe", "doe", "j.smith", "bob"}
LMS = {"40123": "alice", "40124": "bob"}


def test_blackboard_name_uses_the_roster_for_user_names_with_underscores_and_dots():
    p = parse_name("Losses HW_jane_doe_attempt_2026-11-27-21-14-03_losses.ipynb", {"jane_doe", "j.smith"}, {}, RELEASED)
    assert (p.student_id, p.notebook, p.timestamp) == ("jane_doe", "losses.ipynb", dt.datetime(2026, 11, 27, 21, 14, 3))
    p = parse_name("Losses_HW_j.smith_attempt_2026-11-27-08-00-00_losses-2.ipynb", {"jane_doe", "j.smith"}, {}, RELEASED)
    assert (p.student_id, p.notebook, p.resubmission) == ("j.smith", "losses.ipynb", 2)


def test_blackboard_timestamp_is_local_time_converted_to_utc_not_an_offset():
    p = parse_name("HW_alice_attempt_2026-07-01-21-14-03_losses.ipynb", ROSTER, {}, RELEASED, timezone="Europe/Berlin")
    assert p.timestamp == dt.datetime(2026, 7, 1, 19, 14, 3)  # CEST = UTC+2


def test_ambiguous_and_unknown_students_are_errors():
    with pytest.raises(ValueError, match="ambiguous"):
        parse_name("HW_jane_doe_attempt_2026-11-27-21-14-03_losses.ipynb", ROSTER, {}, RELEASED)
    with pytest.raises(ValueError, match="no student of the roster"):
        parse_name("HW_mallory_attempt_2026-11-27-21-14-03_losses.ipynb", ROSTER, {}, RELEASED)


def test_canvas_and_moodle_names_map_lms_ids_through_the_roster():
    p = parse_name("liddellalice_LATE_40123_9988776_losses-1.ipynb", ROSTER, LMS, RELEASED)
    assert (p.lms, p.student_id, p.notebook, p.resubmission) == ("canvas", "alice", "losses.ipynb", 1)
    p = parse_name("Bob Builder_40124_assignsubmission_file_losses.ipynb", ROSTER, LMS, RELEASED)
    assert (p.lms, p.student_id) == ("moodle", "bob")
    p = parse_name("Bob Builder_40124_assignsubmission_file/losses.ipynb", ROSTER, LMS, RELEASED)
    assert (p.lms, p.student_id) == ("moodle", "bob")
    with pytest.raises(ValueError, match="lms_user_id"):
        parse_name("xy_99999_1_losses.ipynb", ROSTER, LMS, RELEASED)


def test_unknown_notebook_and_unknown_pattern_are_errors():
    with pytest.raises(ValueError, match="not one of the released notebooks"):
        parse_name("HW_alice_attempt_2026-11-27-21-14-03_Losses (copy).ipynb", ROSTER, {}, RELEASED)
    with pytest.raises(ValueError, match="none of the Blackboard, Canvas or Moodle"):
        parse_name("alice-losses.ipynb", ROSTER, {}, RELEASED)


# ---------------------------------------------------------------- nbgrader zip_collect, end to end

def _marked(course_root: Path, tag: str) -> bytes:
    nb = nbformat.read(course_root / "exercises" / "losses" / "losses.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(f"submission {tag}"))
    return nbformat.writes(nb).encode()


def _tag(path: Path) -> str:
    return nbformat.read(path, as_version=4).cells[-1].source


@pytest.fixture(scope="module")
def _base_course(tmp_path_factory):
    root = course.make_course(tmp_path_factory.mktemp("base") / "course")
    course.nbgrader("generate_assignment", "losses", "--force", cwd=root)
    (root / "roster.csv").write_text("id,first_name,last_name,email,lms_user_id\n"
                                     "alice,Alice,Liddell,alice@example.org,40123\n"
                                     "jane_doe,Jane,Doe,jane@example.org,40125\n"
                                     "j.smith,John,Smith,js@example.org,40126\n"
                                     "bob,Bob,Builder,bob@example.org,40124\n")
    course.nbgrader("db", "student", "import", "roster.csv", cwd=root)
    return root


@pytest.fixture
def lms_course(_base_course, tmp_path):
    root = Path(shutil.copytree(_base_course, tmp_path / "course"))
    (root / "downloaded" / "losses" / "archive").mkdir(parents=True)
    return root


def _zip(root: Path, name: str, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(root / "downloaded" / "losses" / "archive" / name, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)


@pytest.mark.slow
def test_zip_collect_blackboard_download(lms_course):
    root = lms_course
    _zip(root, "gradebook_losses.zip", {
        "Losses HW_alice_attempt_2026-11-27-21-14-03_losses.ipynb": _marked(root, "alice-1"),
        "Losses HW_alice_attempt_2026-11-28-09-00-00_losses.ipynb": _marked(root, "alice-2"),
        "Losses HW_jane_doe_attempt_2026-11-27-10-00-00_losses.ipynb": _marked(root, "jane-1"),
        "Losses HW_j.smith_attempt_2026-11-27-11-30-00_losses-1.ipynb": _marked(root, "smith-1"),
        "Losses HW_j.smith_attempt_2026-11-27-11-00-00_losses.ipynb": _marked(root, "smith-0"),
    })
    proc = course.nbgrader("zip_collect", "losses", "--force", cwd=root)
    sub = root / "submitted"
    assert sorted(p.name for p in sub.iterdir()) == ["alice", "j.smith", "jane_doe"], proc.stdout + proc.stderr
    assert _tag(sub / "alice" / "losses" / "losses.ipynb") == "submission alice-2"
    assert _tag(sub / "j.smith" / "losses" / "losses.ipynb") == "submission smith-1"
    assert (sub / "alice" / "losses" / "timestamp.txt").read_text().strip() == "2026-11-28 09:00:00"
    assert (sub / "jane_doe" / "losses" / "timestamp.txt").read_text().strip() == "2026-11-27 10:00:00"


@pytest.mark.slow
def test_zip_collect_canvas_and_moodle_downloads(lms_course):
    root = lms_course
    _zip(root, "submissions.zip", {
        "liddellalice_40123_555001_losses.ipynb": _marked(root, "alice-0"),
        "liddellalice_LATE_40123_555002_losses-1.ipynb": _marked(root, "alice-1"),
        "doejane_40125_555003_losses.ipynb": _marked(root, "jane"),
    })
    _zip(root, "moodle.zip", {"Bob Builder_40124_assignsubmission_file/losses.ipynb": _marked(root, "bob")})
    course.nbgrader("zip_collect", "losses", "--force", cwd=root)
    sub = root / "submitted"
    assert sorted(p.name for p in sub.iterdir()) == ["alice", "bob", "jane_doe"]
    assert _tag(sub / "alice" / "losses" / "losses.ipynb") == "submission alice-1"
    assert _tag(sub / "bob" / "losses" / "losses.ipynb") == "submission bob"


@pytest.mark.slow
def test_zip_collect_fails_loudly_on_a_file_it_cannot_match(lms_course):
    root = lms_course
    _zip(root, "gradebook_losses.zip", {
        "Losses HW_alice_attempt_2026-11-27-21-14-03_losses.ipynb": _marked(root, "alice"),
        "Losses HW_mallory_attempt_2026-11-27-21-14-03_losses.ipynb": _marked(root, "mallory"),
        "alice-final.ipynb": _marked(root, "x"),
    })
    proc = course.nbgrader("zip_collect", "losses", "--force", cwd=root, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "ERROR]" in out and "2 submission file(s) could not be matched" in out, out
    assert "mallory" in out and "alice-final.ipynb" in out, out
    assert not (root / "submitted").exists() or not any((root / "submitted").iterdir())
