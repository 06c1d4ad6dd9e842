"""What went wrong while grading a student, in one place: every failure gets a *kind*.

A failure reaches the instructor by three roads, and this module is the only one that reads them:

* an **autograded notebook**: a cell's error output. Its ``ename`` is the exception's class name,
  which does not depend on the assignment's language: ``StoppedFunction`` (the grader stopped a
  student function that overran its time budget, ``kdutils.grading.kernel.StoppedFunction``),
  ``CellTimeoutError``/``KeyboardInterrupt`` (the per-cell timeout interrupted the cell),
  ``DeadKernelError`` (the kernel died);
* **nbgrader's output** of one ``nbgrader autograde`` run (a failed run: killed, dead kernel,
  a cell that ignored the interrupt, any other error);
* **nbgrader's log file** ``.nbgrader.log`` of the stock command line (the last failure of each
  student, by exception name).

``KINDS`` says in words what each kind means; ``gradestatus.StatusRecord.problems`` stores them as
``{"notebook", "cell", "kind", "message"}``.
"""
from __future__ import annotations

import re
import signal
from pathlib import Path

__all__ = ["KINDS", "REASONS", "STOPPED", "notebook_problems", "from_nbgrader_output", "log_failures", "cell_preview"]

#: the exception class of a student function stopped by the grader's time budget (kdutils.grading.kernel)
STOPPED = "StoppedFunction"

#: kind -> what it means, for the instructor
KINDS = {
    "hang": "a student function overran the grader's time budget and was stopped (0 for the checks that reach it)",
    "timeout": "the cell did not finish within the per-cell timeout and was interrupted",
    "dead_kernel": "the kernel died while running this cell",
    "unresponsive_kernel": "a cell ignored the interrupt and the kernel had to be stopped",
    "missing_notebook": "a released notebook was not submitted",
    "gradebook": "the score could not be read from the gradebook",
}

#: exception names in nbgrader's log -> what happened, in words
REASONS = {
    "DeadKernelError": "the kernel died (crash, os.kill, out of memory)",
    "UnresponsiveKernelError": "the kernel hung and could not be interrupted",
    "CellTimeoutError": "a cell ran past the time limit",
    "TimeoutError": "a cell ran past the time limit and the kernel did not answer",
    "RuntimeError": "nbgrader failed while executing the notebook",
}

#: error output ``ename`` -> kind
_ENAME_KIND = {STOPPED: "hang", "KeyboardInterrupt": "timeout", "CellTimeoutError": "timeout",
               "DeadKernelError": "dead_kernel"}


def _error_kind(output: dict) -> str | None:
    kind = _ENAME_KIND.get(output.get("ename", ""))
    if kind is None and "Kernel died" in output.get("evalue", ""):
        kind = "dead_kernel"
    return kind


def notebook_problems(path: Path) -> list[dict]:
    """The failures recorded in one autograded notebook, one ``{"notebook", "cell", "kind", "message"}`` each."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    out = []
    for i, cell in enumerate(nb.cells):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", f"cell {i}")
        for o in cell.get("outputs", []):
            if o.get("output_type") != "error":
                continue
            kind = _error_kind(o)
            if kind is None or any(p["cell"] == gid and p["kind"] == kind for p in out):
                continue  # one problem per cell and kind (an interrupted cell may show two error outputs)
            message = o.get("evalue", "").split("\n")[0][:300] if kind == "hang" else KINDS[kind]
            out.append({"notebook": path.stem, "cell": gid, "kind": kind, "message": message})
    return out


def cell_preview(log: str) -> str:
    """The first line of the cell nbclient quotes in its last error ("Here is a preview of the cell contents")."""
    m = list(re.finditer(r"preview of the cell contents:\s*\n\s*-+\s*\n\s*(.+)", log))
    return m[-1].group(1).strip()[:120] if m else ""


def from_nbgrader_output(log: str, returncode: int) -> tuple[str, list[dict]]:
    """A one-line reason and the problems, from the output of a failed ``nbgrader autograde`` run."""
    if returncode < 0:
        return f"nbgrader was killed by signal {signal.Signals(-returncode).name}", []
    cell = cell_preview(log)
    where = f" in the cell {cell!r}" if cell else ""
    if "DeadKernelError" in log or "Kernel died" in log:
        return f"the kernel died{where} (a crash in the student's code?); nothing of this notebook was saved", [
            {"notebook": "", "cell": cell, "kind": "dead_kernel", "message": "the kernel died"}]
    if "CellTimeoutError" in log or "kernel became unresponsive" in log:
        return (f"a cell did not return within the timeout and ignored the interrupt{where} (an infinite loop "
                "that swallows KeyboardInterrupt?); nothing of this notebook was saved"), [
            {"notebook": "", "cell": cell, "kind": "unresponsive_kernel", "message": "cell ignored the interrupt"}]
    errors = [l.strip() for l in log.splitlines() if "ERROR" in l or "Error:" in l]
    errors = [e for e in errors if "Please see the" not in e and "There was an error processing" not in e] or errors
    return f"nbgrader exited with code {returncode}" + (f": {errors[-1][:300]}" if errors else ""), []


def log_failures(log: Path, assignment: str) -> dict[str, str]:
    """``{student: exception name}`` from nbgrader's log, the last failure of each student."""
    log = Path(log)
    if not log.is_file():
        return {}
    out: dict[str, str] = {}
    text = log.read_text(errors="replace")
    # nbgrader logs "There was an error processing assignment: <path>" followed by the traceback
    pat = re.compile(r"There was an error processing assignment: (?P<path>\S+)\s*\n(?P<tb>.*?)(?=\n\[|\Z)", re.S)
    for m in pat.finditer(text):
        parts = Path(m["path"]).parts
        if len(parts) < 2 or parts[-1] != assignment:
            continue
        last = [ln for ln in m["tb"].strip().splitlines() if ln.strip()]
        exc = last[-1].split(":")[0].split(".")[-1].strip() if last else "error"
        out[parts[-2]] = exc
    for m in re.finditer(r"While processing assignment (?P<path>\S+), the kernel became unresponsive", text):
        parts = Path(m["path"]).parts
        if len(parts) >= 2 and parts[-1] == assignment:
            out[parts[-2]] = "UnresponsiveKernelError"
    return out
