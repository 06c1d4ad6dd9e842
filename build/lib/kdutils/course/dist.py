"""The student distribution: what a student may be given, as one zip with no answers in it.

``python -m kdutils.course student-dist`` (``make student-dist``) writes ``dist/kd-student.zip``:

* ``<assignment>/*.ipynb``: the released notebooks (the course's release folder, ``exercises/``),
  as ``nbgrader generate_assignment`` made them: no solution, no hidden test, no model answer;
* ``kdutils-<version>-py3-none-any.whl``: ``kdutils`` built as a package **without**
  ``kdutils.course`` (the instructor's tooling: its submission catalogue holds correct
  alternative solutions of every graded function);
* ``INSTALL.md``: how to install that wheel and open the notebooks.

Before writing, every file is searched for what a student must not get (``leaks``): the
nbgrader solution and hidden-test markers, the solution code of each graded function (from
``solutions/``), the course secret and its course keys. A hit stops the build with an error.
What the wheel still holds on purpose (``kdutils/losses.py``, the book's reference losses,
which the grading worker needs in the student's environment) is explained in the book chapter
"For instructors".
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat

from .core import ASSIGNMENTS, ROOT
from .translate import TRANSLATED
from .secret import PLACEHOLDER, course_key, read_secret
from .where import course_config, require_course_dir

__all__ = ["DIST_NAME", "build_student_wheel", "forbidden", "leaks", "student_dist"]

DIST_NAME = "kd-student.zip"
#: How a hidden test cell of solutions/ names its hidden cases (never in a released notebook).
PLACEHOLDER_CALL = f"hidden={PLACEHOLDER}"
#: Packages of the student wheel: kdutils without the instructor's kdutils.course.
STUDENT_PACKAGES = ["kdutils", "kdutils.grading"]
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "BEGIN MARK SCHEME", "END MARK SCHEME")

INSTALL = """# Knowledge Distillation, Measured: the assignments

This archive holds the assignment notebooks of your course ({assignments}) and `kdutils`, the
book's helper library that the notebooks import (`import kdutils as kd`).

1. Install Python 3.10 or newer, then, in a fresh virtual environment:

   ```bash
   python -m venv kd && source kd/bin/activate
   pip install torch --index-url https://download.pytorch.org/whl/cpu   # the CPU build is enough
   pip install {wheel} jupyterlab
   ```

2. Open a notebook (`jupyter lab {first}`), run its first code cell, write each function
   where it says `YOUR CODE HERE`, and run the test cell below it.

The test cells you see are not all the grader runs: it also runs hidden tests of the same
behaviours on other values, which only the grader has. Submit the notebook as your course says.

（中文）安装方法同上。打开 notebook（`jupyter lab {first}`），先运行第一个代码单元格，在
`YOUR CODE HERE` 处写出每个函数，再运行它下面的测试单元格。评分程序还会运行你看不到的隐藏测试：
同样的行为，不同的数值。按课程的要求提交 notebook。
"""


def build_student_wheel(dest: Path) -> Path:
    """Build the ``kdutils`` wheel without ``kdutils.course`` into ``dest``; return its path."""
    with tempfile.TemporaryDirectory(prefix="kd-student-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        shutil.copytree(ROOT / "kdutils", src / "kdutils",
                        ignore=shutil.ignore_patterns("course", "__pycache__", "*.pyc", "*.egg-info"))
        pyproject = (src / "pyproject.toml").read_text()
        new, n = re.subn(r'(?m)^packages = \[.*\]$', f"packages = {STUDENT_PACKAGES!r}".replace("'", '"'), pyproject)
        if n != 1:
            raise RuntimeError("pyproject.toml: no single `packages = [...]` line under [tool.setuptools]")
        (src / "pyproject.toml").write_text(new)
        out = Path(tmp) / "wheel"
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                               "--disable-pip-version-check", "-w", str(out), str(src)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"building the student wheel failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        (wheel,) = out.glob("kdutils-*.whl")
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(wheel, dest / wheel.name))


def _normal_lines(text: str) -> list[str]:
    """The lines of ``text`` that carry code or prose: stripped, without blanks, comments and docstring quotes."""
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith(("#", '"""'))]


def _normalized(text: str) -> str:
    return "\n".join(_normal_lines(text))


def _fingerprints(code: str, window: int = 3) -> list[str]:
    """Every run of ``window`` consecutive lines of a solution's body (the whole body when shorter), normalized."""
    lines = [s for s in _normal_lines(code) if not s.startswith("def ")]
    if len(lines) <= window:
        return ["\n".join(lines)] if lines else []
    return ["\n".join(lines[i:i + window]) for i in range(len(lines) - window + 1)]


def forbidden(root: Path, assignments=ASSIGNMENTS) -> dict[str, list[str]]:
    """``{what: [strings]}`` that no file given to students may contain (see ``leaks``)."""
    from .catalogue import solution_source

    found: dict[str, list[str]] = {"marker": list(MARKERS) + [PLACEHOLDER_CALL, 'hidden="kdk1-'],
                                   "solution": [], "secret": []}
    source_dir = course_config(root).source_directory
    for a in assignments:
        for path in sorted((root / source_dir / a).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if cell.cell_type == "code" and meta.get("solution"):  # the solution code of a graded function
                    found["solution"] += _fingerprints(solution_source(cell.source))
                elif meta.get("solution"):  # a written question's model answer: its sentences
                    found["solution"] += [s for s in _normal_lines(cell.source) if len(s) >= 30]
                if "BEGIN HIDDEN TESTS" in cell.source:  # the hidden tests' source
                    hidden = cell.source.split("BEGIN HIDDEN TESTS", 1)[1].split("END HIDDEN TESTS", 1)[0]
                    found["solution"] += [s for s in _normal_lines(hidden) if len(s) >= 12]
    secret = read_secret(root)
    if secret:
        found["secret"] = [secret] + [course_key(secret, a) for a in assignments]
    found["solution"] = sorted(set(found["solution"]))
    return found


def _texts(zip_bytes: bytes):
    """``(name, text)`` of every file in a zip, and of every file inside the zips (wheels) it holds."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as z:
        for name in z.namelist():
            data = z.read(name)
            if name.endswith((".whl", ".zip")):
                for inner, text in _texts(data):
                    yield f"{name}!{inner}", text
            else:
                yield name, data.decode("utf-8", errors="replace")


def leaks(zip_bytes: bytes, bad: dict[str, list[str]], allowed: tuple[str, ...] = ()) -> list[str]:
    """Every ``file: what: string`` of ``bad`` found in the zip (and its wheels), except in files ending in ``allowed``.

    Texts are compared line-normalized (stripped lines, no blanks or comments), so re-indenting a solution or
    putting it in a notebook's JSON does not hide it; a notebook is searched cell by cell.
    """
    out = []
    for name, text in _texts(zip_bytes):
        if name.endswith(allowed):
            continue
        if name.endswith(".ipynb"):
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        norm = _normalized(text)
        for what, strings in bad.items():
            for s in strings:
                if s in text or s in norm:
                    out.append(f"{name}: {what}: {s[:80]!r}")
    return out


#: Files of the student wheel allowed to hold solution-like code, and why (book chapter "For instructors"):
#: the book's reference implementations (``losses.py``, ``train.py``: the library the book teaches with), and
#: the grading worker's reference loop (``grading/mistakes.py``), which the worker runs in the student's
#: environment to compute the expected values of the visible tests (``nbgrader validate``, a test cell).
REFERENCE_FILES = ("kdutils/losses.py", "kdutils/train.py", "kdutils/grading/mistakes.py")


#: what ``make student-dist`` gives by default: both assignments, in English and in Chinese
RELEASES = ASSIGNMENTS + tuple(TRANSLATED)
LANGUAGES = {"en": ASSIGNMENTS, "zh": tuple(TRANSLATED), "both": RELEASES}


def student_dist(root: Path, out: Path | None = None, assignments=RELEASES) -> Path:
    """Write ``<root>/dist/kd-student.zip`` (or ``out``) after checking that it leaks nothing; return its path."""
    cfg = course_config(root)
    release = root / cfg.release_directory
    out = out or root / "dist" / DIST_NAME
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_student_wheel(Path(tmp))
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for a in assignments:
                notebooks = sorted((release / a).glob("*.ipynb"))
                if not notebooks:
                    raise SystemExit(f"ERROR: no released notebooks in {release / a}: run `make exercises` "
                                     f"(or `nbgrader generate_assignment {a}`) first")
                for nb in notebooks:
                    z.write(nb, f"{a}/{nb.name}")
            z.write(wheel, wheel.name)
            first = f"{assignments[0]}/{assignments[0]}.ipynb"
            z.writestr("INSTALL.md", INSTALL.format(assignments=", ".join(assignments), wheel=wheel.name, first=first))
    bad = forbidden(root, assignments)
    found = leaks(buf.getvalue(), {"marker": bad["marker"], "secret": bad["secret"]})
    found += leaks(buf.getvalue(), {"solution": bad["solution"]}, allowed=REFERENCE_FILES)
    if found:
        raise SystemExit("ERROR: the student distribution would leak answers:\n  " + "\n  ".join(found[:20]))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    return out


def add_parser(sub) -> None:
    p = sub.add_parser("student-dist", help="dist/kd-student.zip: released notebooks and the kdutils wheel, no answers")
    p.add_argument("--out", type=Path, default=None, help="where to write the zip (default: dist/kd-student.zip)")
    p.add_argument("--lang", choices=sorted(LANGUAGES), default="both",
                   help="the releases to include: en (losses, training), zh (losses_zh, training_zh) or both (default)")


def run(args) -> int:
    from .core import require_checkout

    require_checkout("student-dist")
    root = require_course_dir()
    path = student_dist(root, args.out, LANGUAGES[args.lang])
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB): " + ", ".join(names))
    print("checked: no solution or hidden-test marker, no solution code, no course secret or key")
    return 0
