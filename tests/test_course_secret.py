"""The course secret and the student distribution (issue 14 item 1, issue 15 item 4).

* The hidden cases of a course with a secret derive from its course key, which only the gradebook's
  hidden cells hold: a student's kernel (``hidden=True``, the public ``kd.grading.HIDDEN``, the
  grader's own ``kernel.ask``) cannot produce them.
* ``make student-dist``'s zip holds no solution, model answer, hidden-test source, secret or key.
"""
from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

import kdutils.grading as G
from kdutils import course
from kdutils.course import catalogue as cat
from kdutils.course import dist, secret
from kdutils.grading import keys

ROOT = Path(__file__).resolve().parents[1]
SECRET = "0123456789abcdef" * 4


def define(source: str, name: str):
    ns: dict = {}
    exec("import torch\nimport torch.nn.functional as F\nimport kdutils as kd\n" + source, ns)
    return ns[name]


def _floats(obj) -> set[float]:
    """Every float in a nested JSON-like value."""
    if isinstance(obj, float):
        return {obj}
    if isinstance(obj, dict):
        return set().union(*[_floats(v) for v in obj.values()]) if obj else set()
    if isinstance(obj, (list, tuple)):
        return set().union(*[_floats(v) for v in obj]) if obj else set()
    return set()


def _rows(obj) -> set[tuple]:
    """Every innermost list of numbers (a tensor's row, a weight row) in a nested JSON-like value, as a tuple."""
    if isinstance(obj, dict):
        return set().union(*[_rows(v) for v in obj.values()]) if obj else set()
    if isinstance(obj, list):
        if obj and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj):
            return {tuple(obj)} if len(obj) > 1 else set()
        return set().union(*[_rows(v) for v in obj]) if obj else set()
    return set()


def _cases(check, part, hidden):
    return G.worker.answer({"op": "cases", "check": check, "part": part, "hidden": hidden})


def _strip_values(obj):
    """The structure of a case list with every number replaced by its type (shapes and kinds stay)."""
    if isinstance(obj, dict):
        return {k: _strip_values(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strip_values(v) for v in obj]
    return type(obj).__name__


# ----- keys and the secret -------------------------------------------------------------------------
def test_course_key_is_an_hmac_per_assignment_not_the_secret():
    k1, k2 = secret.course_key(SECRET, "losses"), secret.course_key(SECRET, "training")
    assert keys.is_course_key(k1) and keys.is_course_key(k2) and k1 != k2
    assert SECRET not in k1 and k1[len(keys.KEY_PREFIX):] not in SECRET
    assert secret.course_key(SECRET, "losses") == k1  # deterministic: regrading gives the same cases
    assert secret.course_key("f" * 64, "losses") != k1
    with pytest.raises(ValueError, match="secret must be 64 hex digits"):
        secret.course_key("short", "losses")


def test_make_secret_writes_a_private_git_ignored_file_once(tmp_path):
    path = secret.make_secret(tmp_path)
    assert path.name == ".kd-course-secret" and stat.S_IMODE(path.stat().st_mode) == 0o600
    s = secret.read_secret(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{64}", s)
    with pytest.raises(SystemExit, match="exists already"):
        secret.make_secret(tmp_path)
    secret.make_secret(tmp_path, force=True)
    assert secret.read_secret(tmp_path) != s
    path.write_text("not a secret")
    with pytest.raises(SystemExit, match="does not hold a course secret"):
        secret.read_secret(tmp_path)
    ignored = subprocess.run(["git", "check-ignore", "-q", ".kd-course-secret"], cwd=ROOT)
    assert ignored.returncode == 0, ".kd-course-secret is not git-ignored"


def test_the_command_refuses_to_run_outside_a_course(tmp_path):
    proc = subprocess.run([str(Path(os.sys.executable)), "-m", "kdutils.course", "secret"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "not a course directory" in proc.stderr
    assert not (tmp_path / ".kd-course-secret").exists()


def test_insert_key_replaces_the_placeholder_in_hidden_regions_only():
    key = secret.course_key(SECRET, "losses")
    src = ("check(f, 'a')\n### BEGIN HIDDEN TESTS\ncheck(f, 'a', hidden=kd.grading.HIDDEN)\n"
           "### END HIDDEN TESTS\nprint(hidden=kd.grading.HIDDEN)\n")
    out = secret.insert_key(src, key)
    assert out == src.replace("check(f, 'a', hidden=kd.grading.HIDDEN)", f'check(f, \'a\', hidden="{key}")')
    with pytest.raises(SystemExit, match="hidden=True"):
        secret.insert_key("### BEGIN HIDDEN TESTS\ncheck(f, 'a', hidden=True)\n### END HIDDEN TESTS\n", key)


# ----- the hidden cases ----------------------------------------------------------------------------
def test_hidden_cases_of_a_course_key_differ_from_the_public_ones_in_values_only():
    key = secret.course_key(SECRET, "losses")
    differing = 0
    for name, check in G.CHECKS.items():
        if check.run is G.kernel.run_final:
            continue
        for part in check.parts:
            public, graded = _cases(name, part, G.HIDDEN), _cases(name, part, key)
            assert _strip_values(public) == _strip_values(graded), (name, part)  # same shapes, same kinds
            differing += public != graded
            assert _cases(name, part, False) == _cases(name, part, False)
    assert differing >= 25, differing  # every part with random draws (all but a few hand-picked edge cases)


def test_the_reference_passes_and_known_mistakes_fail_on_a_course_key():
    """A course key changes the values, not the verdicts: the reference passes, a known mistake still fails."""
    key = secret.course_key(SECRET, "losses")
    ref = cat.solution_cells("losses")
    for name in G.checks.LOSS_FUNCTIONS:
        fn = define("\n".join(ref[n] for n in ("softmax_with_temperature", "kd_kl_loss")) + "\n" + ref[name], name)
        for part in G.PARTS[name]:
            getattr(G, f"check_{name}")(fn, part, hidden=key)
    bad = define(cat.fn("kd_kl_loss", cat.KD_ARGS, cat.LOSSES_BUGS["kd_no_T2"][1]), "kd_kl_loss")
    with pytest.raises(AssertionError, match=r"T\*\*2"):
        G.check_kd_kl_loss(bad, "temperature", hidden=key)


def test_a_student_kernel_cannot_produce_the_graded_hidden_cases():
    """Issue 15 item 4: with a course secret, nothing a student can call returns or prints the graded cases."""
    key = secret.course_key(SECRET, "losses")
    fn = define(cat.solution_cells("losses")["softmax_with_temperature"], "softmax_with_temperature")
    # hidden=True: refused, in the kernel and, asked directly, by the worker
    with pytest.raises(ValueError, match="hidden checks run only in grading"):
        G.check_softmax_with_temperature(fn, "batch", hidden=True)
    reply = G.kernel.ask({"op": "cases", "check": "softmax_with_temperature", "part": "batch", "hidden": True})
    assert "cases" not in reply and "hidden checks run only in grading" in reply["message"]
    for bad in ("kdk1-short", 1, "True"):
        with pytest.raises(ValueError, match=re.escape(f"hidden={bad!r}")):
            G.check_softmax_with_temperature(fn, "batch", hidden=bad)
    # what the student can ask for (the public default, a made-up key) is never the graded cases
    for name, check in G.CHECKS.items():
        if check.run is G.kernel.run_final:
            continue
        for part in check.parts:
            graded = G.kernel.ask({"op": "cases", "check": name, "part": part, "hidden": key})
            public = G.kernel.ask({"op": "cases", "check": name, "part": part, "hidden": G.HIDDEN})
            guess = G.kernel.ask({"op": "cases", "check": name, "part": part, "hidden": "kdk1-" + "0" * 32})
            # the rows of numbers that only the key gives (hand-picked edge cases are in the public code anyway)
            secret_rows = _rows(graded) - _rows(public) - _rows(_cases(name, part, False))
            assert secret_rows, (name, part)
            assert not secret_rows & (_rows(public) | _rows(guess)), (name, part)


# ----- generate_assignment with a secret -----------------------------------------------------------
@pytest.fixture(scope="module")
def keyed_course(tmp_path_factory):
    """A course with a secret, after ``nbgrader generate_assignment losses``."""
    root = course.make_course(tmp_path_factory.mktemp("secret-course"))
    (root / ".kd-course-secret").write_text(SECRET + "\n")
    course.nbgrader("generate_assignment", "losses", "--force", cwd=root)
    return root


def test_generate_writes_the_key_into_the_gradebook_and_nothing_into_the_release(keyed_course):
    from nbgrader.api import Gradebook

    key = secret.course_key(SECRET, "losses")
    with Gradebook(f"sqlite:///{keyed_course / 'gradebook.db'}") as gb:
        sources = [c.source for c in gb.find_notebook("losses", "losses").source_cells]
    hidden = [s for s in sources if "BEGIN HIDDEN TESTS" in s]
    assert len(hidden) == 18
    assert all(f'hidden="{key}"' in s and "kd.grading.HIDDEN" not in s for s in hidden)
    released = (keyed_course / "exercises" / "losses" / "losses.ipynb").read_text()
    assert key not in released and SECRET not in released and "HIDDEN TESTS" not in released
    # the release is the same as without a secret (the committed exercises/)
    ours = course.normalized(nbformat.reads(released, as_version=4))
    committed = course.normalized(nbformat.read(ROOT / "exercises" / "losses" / "losses.ipynb", as_version=4))
    assert ours == committed


@pytest.mark.slow
def test_autograde_with_a_secret_grades_on_the_key_and_a_peeking_student_sees_nothing(keyed_course):
    """End to end: the reference and the peeking student get full marks; the peek prints no graded value."""
    subs = [s for s in cat.catalogue() if s.assignment == "losses" and s.student in ("solution", "peek_hidden")]
    for sub in subs:
        cat.write(sub, keyed_course)
    course.nbgrader("autograde", "losses", "--force", cwd=keyed_course)
    scores = course.read_scores(keyed_course, "losses")
    total = cat.max_points(keyed_course, "losses")
    for sub in subs:
        assert sum(scores[sub.student].values()) == total, (sub.student, scores[sub.student])
    nb = nbformat.read(keyed_course / "autograded" / "peek_hidden" / "losses" / "losses.ipynb", as_version=4)
    out = "\n".join(o.get("text", "") + json.dumps(o.get("data", {})) for c in nb.cells if c.cell_type == "code"
                    for o in c.outputs)
    assert "hidden checks run only in grading" in out
    key = secret.course_key(SECRET, "losses")
    assert f'hidden="{key}"' in "\n".join(c.source for c in nb.cells)  # graded with the key...
    graded = _floats(_cases("softmax_with_temperature", "batch", key)) - _floats(_cases("softmax_with_temperature", "batch", G.HIDDEN))
    printed = {float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", out)}
    assert len(graded) > 50 and len(printed) > 50  # the peek printed the public default's cases...
    assert not graded & printed  # ...never the graded ones


# ----- the student distribution ----------------------------------------------------------------------
def test_student_dist_has_no_answers_no_hidden_tests_and_no_secret(keyed_course, tmp_path):
    """Issue 14: the zip holds the released notebooks, the kdutils wheel without kdutils.course and INSTALL.md."""
    zpath = dist.student_dist(keyed_course, tmp_path / "kd-student.zip", assignments=("losses",))
    data = zpath.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        wheel = next(n for n in names if n.endswith(".whl"))
        with zipfile.ZipFile(io.BytesIO(z.read(wheel))) as w:
            inside = w.namelist()
        install = z.read("kd-student/INSTALL.md").decode()
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
    # issue 23 §4.3: one top-level folder, ordinary modes (files 0644, folders 0755)
    assert all(n.startswith("kd-student/") for n in names), names
    assert {oct(m) for n, m in modes.items() if not n.endswith("/")} == {"0o100644"}, modes
    assert {oct(m) for n, m in modes.items() if n.endswith("/")} == {"0o40755"}, modes
    assert "kd-student/losses/losses.ipynb" in names and wheel.split("/")[-1] in install
    assert "kd-student/losses/nbgrader_config.py" in names and "kd-student/LICENSE" in names
    assert "kd-student/nbgrader_config.py" in names  # `nbgrader validate losses/losses.ipynb` from the top
    inside_names = [n.removeprefix("kd-student/") for n in names]
    assert not any(n.startswith(("kdutils/course/", "solutions/")) for n in inside + inside_names), inside
    assert "kdutils/grading/worker.py" in inside
    # the wheel is enough for the notebooks: a visible check runs from it (kdutils.course is not in it)
    unpacked = tmp_path / "wheel"
    with zipfile.ZipFile(io.BytesIO(data)) as z, zipfile.ZipFile(io.BytesIO(z.read(wheel))) as w:
        w.extractall(unpacked)
    probe = (f"import sys; sys.path.insert(0, {str(unpacked)!r})\n"
             "import torch, kdutils as kd, kdutils.grading\n"
             f"assert kd.__file__.startswith({str(unpacked)!r}), kd.__file__\n"
             "kd.grading.check_softmax_with_temperature(lambda z, T=1.0: torch.softmax(z / T, -1), 'batch')\n"
             "print('visible check passed')\n")
    proc = subprocess.run([os.sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0 and "visible check passed" in proc.stdout, proc.stderr[-2000:]
    assert not (unpacked / "kdutils" / "course").exists()
    bad = dist.forbidden(keyed_course, ("losses",))
    assert len(bad["solution"]) > 20 and len(bad["secret"]) == 2
    assert dist.leaks(data, bad, allowed=dist.REFERENCE_FILES) == []
    # the search can fail: the reference losses in the wheel are found when not allowed, and so is a
    # solution, a hidden test or the key slipped into a notebook
    assert any("kdutils/losses.py: solution" in x for x in dist.leaks(data, bad))
    solution_nb = (keyed_course / "solutions" / "losses" / "losses.ipynb").read_bytes()
    for extra in (solution_nb, secret.course_key(SECRET, "losses").encode()):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("losses/extra.ipynb" if extra is solution_nb else "notes.txt", extra)
        found = dist.leaks(buf.getvalue(), bad)
        assert found and all(("solution" in f or "marker" in f or "secret" in f) for f in found), found


def test_install_md_validates_stops_without_cpu_torch_and_names_real_paths():
    """Issue 23 §4.3: INSTALL.md mentions nbgrader validate; the Chinese paragraph names the Chinese releases'
    real paths; the CPU-only torch install and the wheel's are one line joined by &&, so a failure stops it."""
    from kdutils.course import translate

    text = dist.install_md(dist.RELEASES)
    english, chinese = text.split("## 中文")
    assert "nbgrader validate losses/losses.ipynb" in english and "nbgrader validate losses_zh/losses_zh.ipynb" in chinese
    for a in translate.TRANSLATED:
        assert f"`{a}/{a}.ipynb`" in chinese and (ROOT / "exercises" / a / f"{a}.ipynb").is_file()
    assert "losses/losses.ipynb" not in chinese.replace("losses_zh/losses_zh.ipynb", "")
    line = next(l for l in english.splitlines() if "download.pytorch.org/whl/cpu" in l and "pip install" in l)
    assert re.search(r'pip install "torch==[\d.]+" --index-url https://download\.pytorch\.org/whl/cpu && pip install \{wheel\}', line), line
    assert "Python 3.11" in english
    only_en = dist.install_md(("losses",))
    assert "losses_zh" in only_en.split("## 中文")[1] and "没有中文版作业" in only_en  # says the zip has none


def test_the_chinese_releases_leak_no_chinese_model_answer():
    """make student-dist gives both languages by default; the Chinese releases hold no answer of solutions/*_zh."""
    from kdutils.course import translate

    assert dist.RELEASES == course.ASSIGNMENTS + tuple(translate.TRANSLATED)
    bad = dist.forbidden(ROOT, tuple(translate.TRANSLATED))
    chinese = [s for s in bad["solution"] if re.search(r"[\u4e00-\u9fff]", s)]
    assert len(chinese) >= 3, "the Chinese model answers were not searched for"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for a in translate.TRANSLATED:
            for nb in sorted((ROOT / "exercises" / a).glob("*.ipynb")):
                z.write(nb, f"{a}/{nb.name}")
    assert dist.leaks(buf.getvalue(), bad) == []
    # and the search can fail: the Chinese source notebook is caught
    with zipfile.ZipFile(buf, "a") as z:
        z.write(ROOT / "solutions" / "losses_zh" / "losses_zh.ipynb", "losses_zh/extra.ipynb")
    assert any("solution" in f for f in dist.leaks(buf.getvalue(), bad))


def test_student_dist_refuses_a_course_without_a_secret_unless_public(tmp_path):
    """Issue 23 §4.2: without a secret the released hidden cases are the graded ones: refuse, naming the commands."""
    root = course.make_course(tmp_path / "nosecret")
    proc = subprocess.run([sys.executable, "-m", "kdutils.course", "student-dist"], cwd=root,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "this course has no secret" in proc.stderr, proc.stdout + proc.stderr
    from kdutils.course.report import hints
    assert hints(proc.stderr) == ["python -m kdutils.course secret",
                                  *(f"nbgrader generate_assignment {a} --force" for a in dist.RELEASES),
                                  "python -m kdutils.course student-dist --public"]
    assert not (root / "dist").exists()
    with pytest.raises(dist.NoSecret):
        dist.student_dist(root, tmp_path / "x.zip", assignments=("losses",))


@pytest.mark.slow
def test_the_commands_student_dist_names_work_as_printed(tmp_path):
    """Issue 23 §2.2 for student-dist: each `run:` line, run as printed, and the zip is then built."""
    import shlex

    from kdutils.course.report import hints
    root = course.make_course(tmp_path / "nosecret")
    (root / "exercises").mkdir()
    refused = subprocess.run([sys.executable, "-m", "kdutils.course", "student-dist", "--lang", "en"], cwd=root,
                             capture_output=True, text=True)
    cmds = hints(refused.stderr)
    assert cmds[-1] == "python -m kdutils.course student-dist --public"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    for cmd in cmds[:-1]:  # the secret, then the keyed gradebook: after them the zip is built without --public
        proc = subprocess.run(shlex.split(cmd), cwd=root, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, (cmd, proc.stdout, proc.stderr)
    built = subprocess.run([sys.executable, "-m", "kdutils.course", "student-dist", "--lang", "en"], cwd=root,
                           env=env, capture_output=True, text=True)
    assert built.returncode == 0 and (root / "dist" / "kd-student.zip").is_file(), built.stdout + built.stderr
