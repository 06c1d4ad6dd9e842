"""One term of a small class, end to end, with the stock ``nbgrader`` commands and
``python -m kdutils.course`` in the order of the book's page "For instructors":

roster import -> due date and release -> students fetch and submit (exchange) / LMS zip ->
extension -> collect and zip_collect -> autograde -> report -> manual grading -> feedback
(regenerated with --force) -> release feedback (exchange and zip-collected) -> export.

The class (assignment ``losses``):

* ``kdalice`` a real Unix user, fetches and submits a complete notebook through the exchange, on
  time. Creating that user needs root or passwordless sudo, and the environment where other users
  can reach it (tests/unix_users.py, ``problem()``); otherwise the student who uses the exchange is
  the user running the tests (nbgrader names a submission
  after its Unix user), and the rest of the term is the same;
* ``bob``    submits a complete notebook through the LMS 30 h after the due date, with a 1-day extension;
* ``carol``  is on the roster and submits nothing;
* ``dave``   kills his own kernel (``os.kill(os.getpid(), 9)`` in a solution cell);
* ``erin``   loops forever (``while True: pass``).

The per-cell time limit is lowered to TIMEOUT s here (the course's own is 60 s) so that the hang
costs less; it stays well above the slowest honest cell on a loaded 2-core machine.
"""
from __future__ import annotations

import csv
import datetime as dt
import html
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
import unix_users  # tests/unix_users.py

from kdutils import course
from kdutils.course import catalogue as cat
from kdutils.course.report import hints

pytestmark = [pytest.mark.slow, pytest.mark.full]
A = "losses"
TIMEOUT = 30
# The exchange student: a Unix user of its own when the test can create one, else the tester.
SEPARATE_USER = unix_users.problem() is None
ALICE = "kdalice" if SEPARATE_USER else pwd.getpwuid(os.getuid()).pw_name
ROSTER = ("id,first_name,last_name,email,lms_user_id\n"
          f"{ALICE},Alice,Liddell,alice@example.org,40123\n"
          "bob,Bob,Builder,bob@example.org,40124\n"
          "carol,Carol,Danvers,carol@example.org,40125\n"
          "dave,Dave,Bowman,dave@example.org,40126\n"
          "erin,Erin,Brockovich,erin@example.org,40127\n")


def kdcourse(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "kdutils.course", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"kdutils.course {args} exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def student_nb(root: Path, student: str, **cells) -> bytes:
    sub = cat.Submission(student, A, "term test", cells=cells)
    return nbformat.writes(cat.build(sub, root / "exercises")).encode()


def as_user(user: str, home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``nbgrader *args`` as the Unix user ``user`` in ``home`` (tests/unix_users.py: with
    CAP_DAC_READ_SEARCH only; every write, into the exchange included, is checked against ``user``'s
    own permissions), or as the tester when the test cannot create users (``SEPARATE_USER`` false)."""
    exe = Path(sys.executable).parent / "nbgrader"
    env = {"PATH": f"{exe.parent}:/usr/bin:/bin", "HOME": str(home), "USER": user, "LOGNAME": user,
           "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg", **unix_users.keep()}
    cmd = unix_users.command(user, env, str(exe), *args) if SEPARATE_USER else [str(exe), *args]
    return subprocess.run(cmd, cwd=home, env=None if SEPARATE_USER else env, capture_output=True, text=True)


def student_home(name: str, home: Path) -> None:
    if SEPARATE_USER:
        unix_users.create(name, home)
    else:
        home.mkdir(parents=True, exist_ok=True)


def write_as(user: str, path: Path, data: bytes, scratch: Path) -> None:
    """Write ``path`` in a student's home as that student."""
    if not SEPARATE_USER:
        path.write_bytes(data)
        return
    scratch.write_bytes(data)
    scratch.chmod(0o644)
    subprocess.run(unix_users.command(user, {"PATH": "/usr/bin:/bin"}, "cp", str(scratch), str(path)),
                   check=True, capture_output=True)


def as_student(user: str, home: Path, *args: str, exchange: Path) -> None:
    proc = as_user(user, home, *args, "--course=kd-book", f"--Exchange.root={exchange}")
    assert proc.returncode == 0, f"student {user}: nbgrader {args}:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("term")
    root = course.make_course(tmp / "course")
    shared = Path(tempfile.mkdtemp(prefix="kd-term-"))  # like /srv/nbgrader: every user can enter it
    shared.chmod(0o755)
    exchange = shared / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    ex = f"--Exchange.root={exchange}"
    out = {"root": root, "exchange": exchange, "tmp": tmp}
    due = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).replace(microsecond=0, tzinfo=None)
    out["due"] = due

    # the lowered time limit in the course's own configuration, so the commands the report prints inherit it
    with open(root / "nbgrader_config.py", "a") as fh:
        fh.write(f"\nc.Execute.timeout = {TIMEOUT}\nc.ExecutePreprocessor.timeout = {TIMEOUT}\n")

    # 1. roster, 2. due date and release
    (root / "roster.csv").write_text(ROSTER)
    course.nbgrader("db", "student", "import", "roster.csv", cwd=root)
    course.nbgrader("db", "assignment", "add", A, f"--duedate={due.isoformat(' ')} UTC", cwd=root)
    course.nbgrader("generate_assignment", A, "--force", cwd=root)
    course.nbgrader("release_assignment", A, ex, "--force", cwd=root)

    # students: alice through the exchange, the others through the LMS (Blackboard names, UTC)
    alice_home = shared / "home" / ALICE
    student_home(ALICE, alice_home)
    as_student(ALICE, alice_home, "fetch_assignment", A, exchange=exchange)
    nb_path = alice_home / A / f"{A}.ipynb"
    write_as(ALICE, nb_path, student_nb(root, ALICE), shared / "alice.ipynb")
    as_student(ALICE, alice_home, "submit", A, exchange=exchange)

    def bb(student: str, when: dt.datetime) -> str:
        return f"Losses_{student}_attempt_{when:%Y-%m-%d-%H-%M-%S}_{A}.ipynb"

    archive = root / "downloaded" / A / "archive"
    archive.mkdir(parents=True)
    import zipfile
    with zipfile.ZipFile(archive / "gradebook_losses.zip", "w") as zf:
        zf.writestr(bb("bob", due + dt.timedelta(hours=30)), student_nb(root, "bob"))
        zf.writestr(bb("dave", due - dt.timedelta(days=1)),
                    student_nb(root, "dave", soft_cross_entropy="import os\nos.kill(os.getpid(), 9)"))
        zf.writestr(bb("erin", due - dt.timedelta(days=1)),
                    student_nb(root, "erin", kd_kl_loss="while True:\n    pass"))

    # 3. extension, 4. collect
    out["extend"] = kdcourse("extend", A, "bob", "--days", "1", cwd=root)
    course.nbgrader("collect", A, ex, cwd=root)
    out["zip_collect"] = course.nbgrader("zip_collect", A, "--force", cwd=root)

    # 5. autograde (a student's failure makes nbgrader exit 1; the others are graded)
    out["autograde"] = course.nbgrader("autograde", A, "--force", f"--Execute.timeout={TIMEOUT}", cwd=root, check=False)
    # issue 23 §2.1: an older status record of `kdutils.course autograde` for kdalice, whose submission changed
    # since; the stock autograde above is newer and must win
    from kdutils.course.gradestatus import StatusRecord, write_record
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).isoformat(timespec="seconds")
    write_record(root, StatusRecord("kdalice", A, "graded", submission_sha256="0" * 64, started=old, finished=old))
    # 6. report
    out["report1"] = kdcourse("report", A, cwd=root, check=False)
    # 7. feedback before manual grading, then "manual grading" (what formgrader stores), feedback again
    course.nbgrader("generate_feedback", A, "--force", cwd=root)
    out["feedback_before"] = (root / "feedback" / ALICE / A / f"{A}.html").read_text()
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for nb in gb.find_submission(A, ALICE).notebooks:
            for g in nb.grades:
                if g.needs_manual_grade:  # what formgrader's grade API stores for a manual grade
                    g.manual_score = g.max_score
                    g.needs_manual_grade = False
        gb.db.commit()
    out["report2"] = kdcourse("report", A, cwd=root, check=False)
    course.nbgrader("generate_feedback", A, cwd=root)  # without --force: stale
    out["feedback_stale"] = (root / "feedback" / ALICE / A / f"{A}.html").read_text()
    course.nbgrader("generate_feedback", A, "--force", cwd=root)
    out["feedback_after"] = (root / "feedback" / ALICE / A / f"{A}.html").read_text()
    # 8. release feedback, 9. export
    out["release"] = kdcourse("release-feedback", A, "--exchange-root", str(exchange), cwd=root)
    as_student(ALICE, alice_home, "fetch_feedback", A, exchange=exchange)
    out["alice_feedback"] = sorted(alice_home.glob(f"{A}/feedback/*/*.html"))
    out["report3"] = kdcourse("report", A, "--allow-pending", cwd=root, check=False)
    course.nbgrader("export", cwd=root)
    with open(root / "grades.csv", newline="", encoding="utf-8-sig") as fh:
        out["grades"] = {r["student_id"]: r for r in csv.DictReader(fh)}

    out["nbgrader_log"] = (root / ".nbgrader.log").read_text()  # the term's own runs, before the commands below
    # issue 23 §2.2: every command the first report printed, run as printed
    out["hints"] = [(cmd, run_hint(cmd, root)) for cmd in hints(out["report1"].stdout)]
    # issue 23 §2.3: an extension after autograding leaves bob's penalty stale; the report flags it and its
    # command fixes it
    out["extend2"] = kdcourse("extend", A, "bob", "--days", "2", cwd=root)
    out["report4"] = kdcourse("report", A, "--allow-pending", cwd=root, check=False)
    out["stale_fix"] = [(cmd, run_hint(cmd, root)) for cmd in hints(out["report4"].stdout) if "--student=bob" in cmd]
    out["report5"] = kdcourse("report", A, "--allow-pending", cwd=root, check=False)
    yield out
    if SEPARATE_USER:
        unix_users.remove_tree(shared)
        unix_users.delete(ALICE)
    else:
        shutil.rmtree(shared, ignore_errors=True)


def run_hint(cmd: str, root: Path) -> subprocess.CompletedProcess:
    """A command a tool printed, run as printed (``nbgrader`` and ``python`` of this environment)."""
    import shlex

    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONHASHSEED="0", MPLBACKEND="Agg")
    return subprocess.run(shlex.split(cmd), cwd=root, env=env, capture_output=True, text=True, timeout=900)


def _score(page: str) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    m = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", text)
    assert m, text[:2000]
    return m.group(1)


def test_report_names_the_crash_the_hang_the_missing_the_late_and_the_pending(term):
    rep = term["report1"]
    text = rep.stdout
    assert rep.returncode == 1, text + rep.stderr
    failed = text.split("FAILED TO GRADE")[1].split("MANUAL GRADING")[0]
    assert re.search(r"dave: losses.ipynb has no autograded copy: DeadKernelError", failed), text
    # kdutils.course.failures names a hang "timeout" (main aee9ae8; the exception was CellTimeoutError before)
    assert re.search(r"erin: losses.ipynb: kd_kl_loss: timeout \(the cell did not finish", failed), text
    manual = text.split("MANUAL GRADING")[1].split("NO SUBMISSION")[0]
    assert f"{ALICE}: 2 answer(s) to grade" in manual and "bob: 2 answer(s) to grade" in manual, text
    assert "NO SUBMISSION (score 0 in the export)\n  carol\n" in text, text
    late = text.split("\nLATE\n")[1]
    assert re.search(r"bob: 6\.0 h late .*extension 24 h.*penalty [\d.]+ of", late), text


def test_report_after_manual_grading_and_allow_pending(term):
    r2 = term["report2"].stdout
    assert f"{ALICE}:" not in r2.split("MANUAL GRADING")[1].split("NO SUBMISSION")[0], r2
    assert term["report2"].returncode == 1  # dave, erin and bob still pending
    assert term["report3"].returncode == 0 and "PENDING" in term["report3"].stdout


def test_feedback_needs_force_after_manual_grading(term):
    before, stale, after = (_score(term[k]) for k in ("feedback_before", "feedback_stale", "feedback_after"))
    assert stale == before, "generate_feedback without --force was expected to skip (the page says use --force)"
    assert float(after) == float(before) + 4, (before, after)


def test_release_feedback_serves_exchange_students_and_zips_the_others(term):
    out = term["release"].stdout
    assert f"released through the exchange: {ALICE}" in out, out
    assert "bob" in out and "feedback-losses.zip" in out, out
    assert len(term["alice_feedback"]) == 1
    import zipfile
    names = zipfile.ZipFile(term["root"] / "exports" / "feedback-losses.zip").namelist()
    assert "bob/losses.html" in names and f"{ALICE}/losses.html" not in names, names


def test_export_has_lateness_status_and_questions(term):
    g = term["grades"]
    assert set(g) == {ALICE, "bob", "carol", "dave", "erin"}
    assert g["carol"]["losses status"] == "no submission" and g["carol"]["losses"] == "0"
    assert g[ALICE]["losses status"] == "graded" and g[ALICE]["losses hours late"] == "0.00"
    assert g["bob"]["losses status"] == "needs manual grade"
    assert g["dave"]["losses status"] == "failed to grade" and g["dave"]["losses"] == "0"
    assert g["bob"]["losses hours late"] == "6.00"
    max_score = float(g["bob"]["losses max"])
    # 6 h past the extended due date: one started day at 10 % of the maximum
    assert float(g["bob"]["losses late penalty"]) == pytest.approx(0.1 * max_score)
    assert g["bob"]["losses:written_t_squared"] == ""  # not graded yet: empty, not 0
    assert g[ALICE]["losses:written_t_squared"] == "2"
    assert g["erin"]["losses:test_kd_kl_loss_example"] == "0"
    assert float(g[ALICE]["losses"]) == max_score


def test_checksum_warnings_are_exactly_the_test_cells_with_hidden_tests(term):
    """The page explains nbgrader's "checksum has changed" warnings: one per test cell with hidden
    tests and per submission, and none for any other cell of an untampered submission."""
    root = term["root"]
    log = term["nbgrader_log"]
    warned = re.findall(r"Attribute 'checksum' for cell (\S+) has changed", log)
    nb = nbformat.read(root / "solutions" / A / f"{A}.ipynb", as_version=4)
    hidden = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "BEGIN HIDDEN TESTS" in c.source}
    assert hidden and set(warned) == hidden
    assert len(warned) == len(hidden) * 4, (len(warned), len(hidden))  # four submissions were autograded


def test_a_stock_autograde_after_a_kdutils_one_wins_in_the_report(term):
    """Issue 23 §2.1: kdalice's older status record (another digest) does not make her 'resubmitted'."""
    text = term["report1"].stdout
    assert "resubmitted" not in text and "kdalice:" not in text.split("FAILED TO GRADE")[1].split("MANUAL GRADING")[0]


def test_every_command_the_report_prints_works(term):
    """Issue 23 §2.2: each `run:` line of the report, run as printed, is accepted and does its work."""
    ran = term["hints"]
    cmds = [c for c, _ in ran]
    assert f"nbgrader autograde {A} --force --student=dave" in cmds and f"nbgrader autograde {A} --force --student=erin" in cmds
    assert f"nbgrader generate_feedback {A} --force" in cmds, cmds
    for cmd, proc in ran:
        out = proc.stdout + proc.stderr
        assert "must be specified" not in out and "Unrecognized" not in out and "usage:" not in out.lower(), (cmd, out)
        student = re.search(r"--student=(\S+)", cmd)
        if student:  # nbgrader worked on that student (dave's kernel dies again: exit 1 is his, not the command's)
            assert proc.returncode in (0, 1) and f"submitted/{student.group(1)}/{A}" in out, (cmd, out)
        else:
            assert proc.returncode == 0, (cmd, out)


def test_a_stale_penalty_is_flagged_with_the_command_that_fixes_it(term):
    """Issue 23 §2.3: an extension after autograding leaves bob's stored penalty; report says so and the command
    it prints clears it."""
    assert f"run: nbgrader autograde {A} --force --student=bob" in term["extend2"].stdout, term["extend2"].stdout
    r4 = term["report4"].stdout
    stale = r4.split("STALE LATE PENALTY")[1]
    assert re.search(r"bob: stored penalty [\d.]+ points, but at the current due date .* UTC.*penalty 0 points", stale), r4
    assert f"run: nbgrader autograde {A} --force --student=bob" in stale
    assert "PENDING" in r4
    ((cmd, proc),) = term["stale_fix"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "STALE LATE PENALTY" not in term["report5"].stdout, term["report5"].stdout
    assert not re.search(r"^  bob: .* h late", term["report5"].stdout, re.M), term["report5"].stdout


def test_due_dates_in_the_report_carry_their_time_zone(term):
    late = term["report1"].stdout.split("\nLATE\n")[1]
    assert re.search(r"bob: 6\.0 h late \(due \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, extension 24 h\)", late), late
