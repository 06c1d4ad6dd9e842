"""``nbgrader zip_collect`` with kdutils' LMS collector, on real-looking Blackboard, Canvas and
Moodle downloads made in the test: underscores and dots in user names, resubmissions
(``losses-1.ipynb``, several attempts; the latest wins), local-time timestamps, and a file that
matches nothing (an ERROR, exit code 1, nothing collected)."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from kdutils import course
from kdutils.course.collect import parse_name, read_worksheet, roster_names

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


class _S:
    def __init__(self, id, first, last, email=""):
        self.id, self.first_name, self.last_name, self.email = id, first, last, email


NAMES = roster_names([_S("alice", "Alice", "Liddell"), _S("bob", "Bob", "Builder"), _S("zoe", "Zoë", "Müller"),
                      _S("wang", "小明", "王"), _S("tw1", "Ann", "Lee"), _S("tw2", "Ann", "Lee")])


def test_canvas_maps_user_ids_and_keeps_the_late_mark():
    p = parse_name("liddellalice_LATE_40123_9988776_losses-1.ipynb", ROSTER, LMS, RELEASED)
    assert (p.lms, p.student_id, p.notebook, p.resubmission, p.late) == ("canvas", "alice", "losses.ipynb", 1, True)
    assert p.prefix == "liddellalice_LATE_40123_9988776_" and p.lms_id == "40123"
    assert parse_name("liddellalice_40123_9988777_losses.ipynb", ROSTER, LMS, RELEASED).late is False
    with pytest.raises(ValueError, match="lms_user_id"):
        parse_name("xy_99999_1_losses.ipynb", ROSTER, LMS, RELEASED)


@pytest.mark.parametrize("name, student, late", [
    ("müllerzoë_LATE_410006_6789012_losses.ipynb", "zoe", True),     # issue 23 §1.1: Canvas keeps Unicode letters
    ("王小明_410007_6789013_losses.ipynb", "wang", False),
    ("mu\u0308llerzoe\u0308_410006_6789014_losses.ipynb", "zoe", False),  # decomposed (a zip made on macOS)
])
def test_canvas_names_in_any_script(name, student, late):
    p = parse_name(name, {"zoe", "wang"}, {"410006": "zoe", "410007": "wang"}, RELEASED)
    assert (p.lms, p.student_id, p.late) == ("canvas", student, late)


def test_moodle_is_matched_by_full_name_not_by_its_participant_id():
    # 40123 is alice's Canvas id: a Moodle participant id must never be read as a user id
    p = parse_name("Bob Builder_40123_assignsubmission_file_losses.ipynb", ROSTER, LMS, RELEASED, names=NAMES)
    assert (p.lms, p.student_id, p.lms_id) == ("moodle", "bob", "40123")
    assert p.prefix == "Bob Builder_40123_assignsubmission_file_"
    for name in ("Zoë Müller_410006_assignsubmission_file_/losses.ipynb",     # issue 23 §1.2: the folder form
                 "Zoe\u0308 MU\u0308LLER_410006_assignsubmission_file_/losses.ipynb",
                 "Müller Zoë_410006_assignsubmission_file_losses-2.ipynb"):
        p = parse_name(name, ROSTER, {}, RELEASED, names=NAMES)
        assert (p.lms, p.student_id, p.notebook) == ("moodle", "zoe", "losses.ipynb"), name
    assert parse_name("王小明_77_assignsubmission_file_/losses.ipynb", ROSTER, {}, RELEASED, names=NAMES).student_id == "wang"
    assert parse_name("Bob Builder_40124_assignsubmission_file/losses.ipynb", ROSTER, {}, RELEASED,
                      names=NAMES).student_id == "bob"


def test_moodle_refuses_a_name_two_roster_rows_share_and_an_unknown_name():
    with pytest.raises(ValueError, match="2 roster students are named 'Ann Lee': tw1, tw2.*moodle_worksheet"):
        parse_name("Ann Lee_12_assignsubmission_file_/losses.ipynb", ROSTER, {}, RELEASED, names=NAMES)
    with pytest.raises(ValueError, match="no roster student is named 'Mallory X'.*participant id"):
        parse_name("Mallory X_13_assignsubmission_file_losses.ipynb", ROSTER, {}, RELEASED, names=NAMES)


def test_moodle_worksheet_maps_participants_by_email(tmp_path):
    ws = tmp_path / "worksheet.csv"
    ws.write_text("\ufeffIdentifier,Full name,Email address,Status\n"
                  "Participant 12,Ann Lee,ann1@example.org,Submitted\nParticipant 14,Ann Lee,ann2@example.org,Submitted\n",
                  encoding="utf-8")
    parts = read_worksheet(str(ws), {"ann1@example.org": "tw1", "ANN2@example.org": "tw2"})
    assert parts == {"12": "tw1", "14": "tw2"}
    p = parse_name("Ann Lee_14_assignsubmission_file_/losses.ipynb", ROSTER, {}, RELEASED, names=NAMES,
                   participants=parts)
    assert p.student_id == "tw2"
    with pytest.raises(ValueError, match="no roster student has the email of Participant 14"):
        read_worksheet(str(ws), {"ann1@example.org": "tw1"})


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


# ------------------------------------------------- issue 23 §1: the downloads Canvas and Moodle really make
UNICODE_ROSTER = ("id,first_name,last_name,email,lms_user_id\n"
                  "zoe,Zoë,Müller,zoe@example.org,410006\n"
                  "wang,小明,王,wang@example.org,410007\n"
                  "alice,Alice,Liddell,alice@example.org,40123\n"
                  "ann1,Ann,Lee,ann1@example.org,40130\n"
                  "ann2,Ann,Lee,ann2@example.org,40131\n")


@pytest.fixture(scope="module")
def lms_term(tmp_path_factory):
    """A course with a Unicode roster; a Canvas download (Unicode names, _LATE) and a Moodle download in folders
    (participant ids that are not user ids) collected; the late Canvas student autograded, reported, exported
    and given feedback."""
    import csv

    from kdutils.course import catalogue as cat

    root = course.make_course(tmp_path_factory.mktemp("lms") / "course")
    course.nbgrader("generate_assignment", "losses", "--force", cwd=root)
    (root / "roster.csv").write_text(UNICODE_ROSTER, encoding="utf-8")
    course.nbgrader("db", "student", "import", "roster.csv", cwd=root)
    course.nbgrader("db", "assignment", "add", "losses", "--duedate=2026-12-04 23:59:00 Europe/Berlin", cwd=root)
    (root / "downloaded" / "losses" / "archive").mkdir(parents=True)
    solution = nbformat.writes(cat.build(cat.Submission("zoe", "losses", "reference"), root / "exercises")).encode()
    out = {"root": root}
    _zip(root, "submissions.zip", {  # Canvas: lastfirst in any script, _LATE, user id, attachment id
        "müllerzoë_LATE_410006_6789012_losses.ipynb": solution,
        "王小明_410007_6789013_losses.ipynb": _marked(root, "wang"),
    })
    _zip(root, "KD-Losses-1234567.zip", {  # Moodle 3.1+ "in folders": participant ids, not user ids
        "Alice Liddell_410006_assignsubmission_file_/losses.ipynb": _marked(root, "alice"),
    })
    out["collect"] = course.nbgrader("zip_collect", "losses", "--force", cwd=root)
    course.nbgrader("autograde", "losses", "--force", "--student=zoe", cwd=root)
    out["report"] = subprocess.run([sys.executable, "-m", "kdutils.course", "report", "losses", "--allow-pending"],
                                   cwd=root, capture_output=True, text=True)
    course.nbgrader("export", "--LatePenalty.lms_late_penalty=0.1", cwd=root)
    out["raw"] = (root / "grades.csv").read_bytes()
    with open(root / "grades.csv", newline="", encoding="utf-8-sig") as fh:
        out["grades"] = {r["student_id"]: r for r in csv.DictReader(fh)}
    course.nbgrader("generate_feedback", "losses", "--force", cwd=root)
    out["release"] = subprocess.run([sys.executable, "-m", "kdutils.course", "release-feedback", "losses"],
                                    cwd=root, capture_output=True, text=True)
    # the same Moodle download, now with two roster rows for one name
    _zip(root, "KD-Losses-1234567.zip", {"Ann Lee_410009_assignsubmission_file_/losses.ipynb": _marked(root, "ann")})
    out["dup"] = course.nbgrader("zip_collect", "losses", "--force", cwd=root, check=False)
    return out


@pytest.mark.slow
def test_canvas_unicode_and_moodle_folders_collect_without_renaming(lms_term):
    root, sub = lms_term["root"], lms_term["root"] / "submitted"
    assert sorted(p.name for p in sub.iterdir()) == ["alice", "wang", "zoe"], lms_term["collect"].stderr
    assert _tag(sub / "wang" / "losses" / "losses.ipynb") == "submission wang"
    assert _tag(sub / "alice" / "losses" / "losses.ipynb") == "submission alice"  # 410006 is zoe's Canvas id
    from kdutils.course.collect import read_marks
    marks = read_marks(root, "losses")
    assert marks["zoe"]["late"] is True and marks["zoe"]["prefix"] == "müllerzoë_LATE_410006_6789012_"
    assert marks["wang"]["late"] is False and marks["alice"]["lms"] == "moodle"


@pytest.mark.slow
def test_canvas_late_mark_reaches_report_and_export(lms_term):
    rep = lms_term["report"]
    assert rep.returncode == 0, rep.stdout + rep.stderr
    late = rep.stdout.split("\nLATE\n")[1]
    assert re.search(r"zoe: late per LMS \(canvas marked it late.*penalty [\d.]+ of [\d.]+ points", late), rep.stdout
    g = lms_term["grades"]
    zoe = g["zoe"]
    assert zoe["losses late per LMS"] == "yes" and zoe["losses hours late"] == ""
    full = float(zoe["losses max"])
    assert float(zoe["losses late penalty"]) == pytest.approx(0.1 * full)
    earned = sum(float(v) for k, v in zoe.items() if k.startswith("losses:") and v)  # written answers: ""
    assert earned > 0 and float(zoe["losses"]) == pytest.approx(earned - 0.1 * full)
    assert g["wang"]["losses late per LMS"] == "" and g["wang"]["last_name"] == "王"


@pytest.mark.slow
def test_grades_csv_has_a_bom_for_excel(lms_term):
    raw = lms_term["raw"]
    assert raw.startswith(b"\xef\xbb\xbfstudent_id,")
    assert "Müller".encode() in raw and "王".encode() in raw


@pytest.mark.slow
def test_feedback_zip_has_the_lms_bulk_upload_names(lms_term):
    out = lms_term["release"]
    assert out.returncode == 0, out.stdout + out.stderr
    assert "exports/feedback-losses-canvas.zip: zoe" in out.stdout, out.stdout
    names = zipfile.ZipFile(lms_term["root"] / "exports" / "feedback-losses-canvas.zip").namelist()
    assert names == ["müllerzoë_LATE_410006_6789012_losses.html"], names


@pytest.mark.slow
def test_moodle_duplicate_names_are_refused_with_the_names(lms_term):
    proc = lms_term["dup"]
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "2 roster students are named 'Ann Lee': ann1, ann2" in out, out
