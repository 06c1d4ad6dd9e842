"""The student distribution: what a student may be given, as one zip with no answers in it.

``python -m kdutils.course student-dist`` (``make student-dist``) writes ``dist/kd-student.zip``, whose
files are all in one folder ``kd-student/`` (unzipping it makes that folder, not a dozen loose files),
with ordinary modes (files 0644, folders 0755) and a fixed date:

* ``<assignment>/*.ipynb`` and ``<assignment>/nbgrader_config.py``: the released notebooks (the course's
  release folder, ``exercises/``), as ``nbgrader generate_assignment`` made them: no solution, no hidden
  test, no model answer; the empty config (also at the top) lets ``nbgrader validate`` run without a warning;
* ``kdutils-<version>-py3-none-any.whl``: ``kdutils`` built as a package **without**
  ``kdutils.course`` (the instructor's tooling: its submission catalogue holds correct
  alternative solutions of every graded function);
* ``INSTALL.md``: how to install that wheel (CPU-only torch first, stopping if that fails) and open,
  check (``nbgrader validate``) and submit the notebooks, in English and Chinese; ``LICENSE``.

Before writing, every file is searched for what a student must not get (``leaks``): the
nbgrader solution and hidden-test markers, the solution code of each graded function (from
``solutions/``), the course secret and its course keys. A hit stops the build with an error.
What the wheel still holds on purpose (``kdutils/losses.py``, the book's reference losses,
which the grading worker needs in the student's environment) is explained in the book chapter
"For instructors".

A course without a secret (``make course-secret``) grades its hidden tests on the public default
cases, which anyone holding this zip can compute: the command then refuses, naming the two ways on,
unless ``--public`` says that this is meant (a public or self-study release), and even then prints a
warning.
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

__all__ = ["DIST_NAME", "build_student_wheel", "forbidden", "leaks", "student_dist", "NoSecret", "PUBLIC_WARNING"]

#: printed by ``student-dist --public`` in a course without a secret
PUBLIC_WARNING = ("WARNING: this course has no secret: its hidden tests are graded on the public default cases, "
                  "and every student who has this zip can compute them (kd.grading.HIDDEN). Fine for a public or "
                  "self-study release; for a graded course run `python -m kdutils.course secret` first.")


class NoSecret(SystemExit):
    """``student-dist`` in a course without a secret and without ``--public``."""

DIST_NAME = "kd-student.zip"
#: How a hidden test cell of solutions/ names its hidden cases (never in a released notebook).
PLACEHOLDER_CALL = f"hidden={PLACEHOLDER}"
#: Packages of the student wheel: kdutils without the instructor's kdutils.course.
STUDENT_PACKAGES = ["kdutils", "kdutils.grading"]
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "BEGIN MARK SCHEME", "END MARK SCHEME")

#: The folder every file of the zip is in.
TOP = "kd-student"
#: zip entries' date (a fixed one: the same sources give the same zip)
ZIP_DATE = (2026, 1, 1, 0, 0, 0)

INSTALL = """# Knowledge Distillation, Measured: the assignments

This folder holds the assignment notebooks of your course ({assignments}) and `kdutils`, the
book's helper library that the notebooks import (`import kdutils as kd`).

1. Install Python 3.11 or newer. Then, in this folder (`cd {top}`), make a fresh virtual
   environment and install PyTorch's CPU-only build, then `kdutils`:

   ```bash
   python -m venv kd && source kd/bin/activate        # on Windows: kd\\Scripts\\activate
   pip install "torch=={torch}" --index-url https://download.pytorch.org/whl/cpu && pip install {wheel} jupyterlab
   ```

   The assignments need no GPU. If the torch part fails (for example, when your network cannot
   reach download.pytorch.org), the `&&` stops the line there. Do not run
   `pip install {wheel}` on its own then: pip would fetch torch's CUDA build from PyPI instead,
   several GB. Ask your course staff, or install torch as pytorch.org says for your machine first.

2. Open a notebook (`jupyter lab {first}`), run its first code cell, write each function
   where it says `YOUR CODE HERE`, and run the test cell below it.

3. Before you submit, check the notebook the way the grader runs it, from the top in a fresh
   kernel: in JupyterLab, *Kernel > Restart Kernel and Run All Cells*; or with nbgrader
   (`pip install "nbgrader=={nbgrader}"`):

   ```bash
   nbgrader validate {first}
   ```

   It prints each visible test that fails, or "Success! Your notebook passes all the tests."

The test cells you see are not all the grader runs: it also runs hidden tests of the same
behaviours on other values, which only the grader has. Submit the notebook as your course says.

## 中文

{zh_notebooks}安装方法同上（第 1 步）：先安装 PyTorch 的 CPU 版，再安装 `kdutils`。安装 torch 的那部分失败时，`&&`
让这一行就此停下；这时不要单独运行 `pip install {wheel}`，否则 pip 会从 PyPI 下载 CUDA 版 torch（好几 GB）。
请先问课程助教，或按 pytorch.org 的说明为你的机器装好 torch。

打开 notebook（`jupyter lab {first_zh}`），先运行第一个代码单元格，在 `YOUR CODE HERE` 处写出每个函数，
再运行它下面的测试单元格。提交前，像评分程序那样在新内核中从头运行一遍：在 JupyterLab 中选择
*Kernel > Restart Kernel and Run All Cells*，或者安装 nbgrader（`pip install "nbgrader=={nbgrader}"`）后运行
`nbgrader validate {first_zh}`，它会列出没有通过的可见测试，全部通过时显示
"Success! Your notebook passes all the tests."。评分程序还会运行你看不到的隐藏测试：同样的行为，不同的数值。
按课程的要求提交 notebook。
"""


def _locked(name: str) -> str:
    """The lock file's version of ``name`` (the one the course was tested with)."""
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.split("==")[0].strip().lower() == name:
            return line.split("==")[1].split("#")[0].strip()
    raise RuntimeError(f"requirements.txt pins no {name}")


def install_md(assignments) -> str:
    """INSTALL.md for a zip holding ``assignments`` (English and/or Chinese releases)."""
    from .translate import TRANSLATED

    notebook = lambda a: f"{a}/{a}.ipynb"  # noqa: E731  (nbgrader releases <a>/<a>.ipynb)
    english = [a for a in assignments if a not in TRANSLATED] or list(assignments)
    chinese = [a for a in assignments if a in TRANSLATED]
    zh_list = "、".join(f"`{notebook(a)}`" for a in chinese)
    zh_notebooks = (f"中文版作业是 {zh_list}。" if chinese
                    else "这个压缩包里没有中文版作业（`losses_zh`、`training_zh`）；下面用英文版的路径。")
    return INSTALL.format(assignments=", ".join(assignments), top=TOP, wheel="{wheel}", first=notebook(english[0]),
                          first_zh=notebook((chinese or english)[0]), zh_notebooks=zh_notebooks,
                          torch=_locked("torch"), nbgrader=_locked("nbgrader"))


def build_student_wheel(dest: Path) -> Path:
    """Build the ``kdutils`` wheel without ``kdutils.course`` into ``dest``; return its path."""
    with tempfile.TemporaryDirectory(prefix="kd-student-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
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


def student_dist(root: Path, out: Path | None = None, assignments=RELEASES, public: bool = False) -> Path:
    """Write ``<root>/dist/kd-student.zip`` (or ``out``) after checking that it leaks nothing; return its path.

    Refuses (``NoSecret``) in a course without a secret unless ``public``.
    """
    if read_secret(root) is None and not public:
        raise NoSecret(
            "ERROR: this course has no secret (.kd-course-secret), so its hidden tests are graded on the public "
            "default cases, which every student with this zip can compute. For a graded course, make a secret and "
            "record the keyed hidden tests in the gradebook, then build the zip again:\n"
            "  run: python -m kdutils.course secret\n"
            + "".join(f"  run: nbgrader generate_assignment {a} --force\n" for a in assignments)
            + "For a public or self-study release, say so:\n  run: python -m kdutils.course student-dist --public")
    cfg = course_config(root)
    release = root / cfg.release_directory
    out = out or root / "dist" / DIST_NAME
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_student_wheel(Path(tmp))
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            def add(name: str, data: bytes | None) -> None:  # None: a folder
                info = zipfile.ZipInfo("/".join(filter(None, (TOP, name))) + ("/" if data is None else ""),
                                       date_time=ZIP_DATE)
                info.create_system = 3  # Unix, so that unzip applies the modes below
                info.external_attr = ((0o40755 << 16) | 0x10) if data is None else 0o100644 << 16
                info.compress_type = zipfile.ZIP_STORED if data is None else zipfile.ZIP_DEFLATED
                z.writestr(info, data or b"")

            add("", None)
            for a in assignments:
                notebooks = sorted((release / a).glob("*.ipynb"))
                if not notebooks:
                    raise SystemExit(f"ERROR: no released notebooks in {release / a}; run: nbgrader "
                                     f"generate_assignment {a} --force")
                add(a, None)
                for f in notebooks + sorted((release / a).glob("nbgrader_config.py")):
                    add(f"{a}/{f.name}", f.read_bytes())
            configs = sorted(release.glob("*/nbgrader_config.py"))
            if configs:  # nbgrader validate <a>/<a>.ipynb from the top folder, as INSTALL.md says, without a warning
                add("nbgrader_config.py", configs[0].read_bytes())
            add(wheel.name, wheel.read_bytes())
            add("INSTALL.md", install_md(assignments).replace("{wheel}", wheel.name).encode())
            add("LICENSE", (ROOT / "LICENSE").read_bytes())
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
    p.add_argument("--public", action="store_true",
                   help="build the zip in a course without a secret (a public or self-study release: the hidden "
                        "tests' cases are then the public default, which students can compute)")


def run(args) -> int:
    from .core import require_checkout

    require_checkout("student-dist")
    root = require_course_dir()
    if args.public and read_secret(root) is None:
        print(PUBLIC_WARNING, file=sys.stderr)
    path = student_dist(root, args.out, LANGUAGES[args.lang], public=args.public)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB): " + ", ".join(names))
    print("checked: no solution or hidden-test marker, no solution code, no course secret or key")
    return 0
