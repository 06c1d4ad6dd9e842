"""How long the two test tiers take on a fresh clone: ``tests.make_test_s`` and ``tests.make_test_all_s``.

A fresh clone of the current commit (``git clone`` of this checkout into a temporary folder) runs
``make test`` (its own ``.venv`` included, as a newcomer or CI would), then the full tier
(``pytest -m full``) in the same clone. ``make_test_all_s`` is their sum: the full tier reuses the
clone's venv and jupyter-cache, as ``make test-all`` does after its first tier, and its fixtures
grade the catalogue again, so the sum is an upper bound of one ``make test-all``. Part ``tests`` of
``benchmarks/run.py --update tests`` calls ``measure``; it is not part of a plain ``make bench``
(it takes as long as CI).
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["measure"]


def _run(cmd: list[str], cwd: Path, log: Path) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV",
                                                             "PYTHONPATH")}
    t0 = time.perf_counter()
    with open(log, "a") as out:
        rc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    return time.perf_counter() - t0, rc


def measure(keep: bool = False) -> dict:
    """Time ``make test`` and the full tier on a fresh clone of HEAD; raise if either fails (with the log's path)."""
    work = Path(tempfile.mkdtemp(prefix="kd-testtime-"))
    clone, log = work / "clone", work / "tests.log"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    fast_s, rc = _run(["make", "--no-print-directory", "test"], clone, log)
    if rc != 0:
        raise RuntimeError(f"make test failed on a fresh clone of {commit} (exit {rc}); see {log}")
    full_s, rc = _run([str(clone / ".venv" / "bin" / "python"), "-m", "pytest", "-m", "full"], clone, log)
    if rc != 0:
        raise RuntimeError(f"the full tier failed on a fresh clone of {commit} (exit {rc}); see {log}")
    tail = log.read_text(errors="replace").splitlines()[-3:]
    if not keep:
        subprocess.run(["rm", "-rf", str(clone)], check=False)
    return {"commit": commit, "make_test_s": round(fast_s, 1), "full_tier_s": round(full_s, 1),
            "make_test_all_s": round(fast_s + full_s, 1), "log_tail": tail}


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=2))
