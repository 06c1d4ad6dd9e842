"""Tests of the repository's setup: one lock file, torch pinned exactly, the two commands wired up."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
            assert m, f"requirements.txt line is not an exact pin: {line!r}"
            out[m.group(1).lower()] = m.group(2)
    return out


def test_every_requirement_is_an_exact_pin_and_torch_is_2_13_0():
    p = pins()
    assert p["torch"] == "2.13.0"
    assert p["nbgrader"] == "0.9.6"
    assert p["jupyter-book"].startswith("1.")
    for name in ("mlxtend", "scikit-learn", "matplotlib", "pytest", "hypothesis", "myst-nb", "sphinxcontrib-bibtex"):
        assert name in p, f"{name} is not pinned"


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for name in ("torch", "nbgrader", "jupyter-book", "mlxtend", "numpy", "scikit-learn"):
        assert version(name).split("+")[0] == pins()[name], name


def test_make_installs_the_lock_file_and_kdutils_without_dependencies():
    """The frozen set drives `make`; pyproject.toml's ranges are for `pip install kdutils` (test_packaging.py)."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("$(STAMP): requirements.txt pyproject.toml"):makefile.index("venv: $(STAMP)")]
    assert re.search(r"install .*-r requirements\.txt", recipe), recipe
    assert re.search(r"install .*--no-deps .*-e \.", recipe), recipe
    # torch comes first, with pip, from PyTorch's CPU-only index; only when that index is unreachable from
    # pip's configured index, saying so (issue 24: a reader's or runner's install is CPU-only).
    assert re.search(r"^TORCH_INDEX \?= https://download\.pytorch\.org/whl/cpu$", makefile, re.M)
    assert re.search(r"pip install .*--index-url '\$\(TORCH_INDEX\)' \"\$\$torch\"", recipe), recipe
    assert re.search(r"echo \"\$\(TORCH_INDEX\) is unreachable: installing .*instead", recipe), recipe
    assert recipe.index("$(TORCH_INDEX)") < recipe.index("-r requirements.txt")
    assert "torch.version.cuda" in recipe, "the recipe says whether the torch it installed is a CUDA build"


def test_make_venv_honours_another_venv_directory():
    """``make VENV=/tmp/x venv`` (the bench's install.venv_mb) builds there, not in the checkout's .venv."""
    out = subprocess.run(["make", "-n", "VENV=/tmp/kd-venv-dry", "venv"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert "/tmp/kd-venv-dry/bin/python -m pip install" in out and str(ROOT / ".venv") not in out, out


def test_ci_runs_every_tier_the_readme_names():
    """CI runs `make test-all` (both tiers); the README opens with `make book` and `make test` and names test-all."""
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "set -eo pipefail" in ci and re.search(r"^make test-all$", ci, re.M)
    assert "make book" in readme and "make test" in readme and "make test-all" in readme
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r'^test: .*\n\t.*pytest -m "not full"', makefile, re.M), "make test is the first tier"
    assert re.search(r"^test-all: ", makefile, re.M)
    assert readme.index("make book") < readme.index("## "), "the two commands come first"


def test_seed_value_from_the_command_line():
    code = ("import torch, kdutils as kd; "
            "print(f'{kd.losses.soft_cross_entropy(torch.tensor([0.6,0.3,0.1]), torch.tensor([0.8,0.1,0.1])).item():.4f}')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "0.7593"


def test_every_kdutils_module_and_public_function_has_a_docstring():
    import inspect

    import kdutils as kd

    for mod_name in kd.__all__:
        mod = getattr(kd, mod_name)
        assert mod.__doc__ and len(mod.__doc__.strip()) > 20, mod_name
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert obj.__doc__, f"kdutils.{mod_name}.{name} has no docstring"
