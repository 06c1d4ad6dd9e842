"""``kdutils.course.failures``: every grading failure gets its kind from the exception's class name, in any language."""
from __future__ import annotations

import nbformat

from kdutils.course import failures


def _notebook(tmp_path, outputs_per_cell: list[list[dict]], name: str = "losses_zh"):
    nb = nbformat.v4.new_notebook()
    for i, outputs in enumerate(outputs_per_cell):
        cell = nbformat.v4.new_code_cell("pass")
        cell.metadata["nbgrader"] = {"grade_id": f"test_{i}", "grade": True, "points": 1}
        cell.outputs = [nbformat.v4.new_output("error", ename=o["ename"], evalue=o["evalue"], traceback=[])
                        for o in outputs]
        nb.cells.append(cell)
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_stopped_function_is_a_hang_in_chinese_too(tmp_path):
    """The kind comes from ``StoppedFunction`` (the ename), not from the English words of the diagnosis."""
    zh = "你的 kd_kl_loss 在 10 秒内没有返回；是死循环吗？评分程序已停止它"
    path = _notebook(tmp_path, [[{"ename": failures.STOPPED, "evalue": zh}],
                                [{"ename": "CheckFailed", "evalue": "你的 softmax 不对"}]])
    got = failures.notebook_problems(path)
    assert got == [{"notebook": "losses_zh", "cell": "test_0", "kind": "hang", "message": zh}]


def test_timeouts_and_dead_kernels_are_named_once_per_cell(tmp_path):
    """An interrupted cell with two error outputs is one timeout; a dead kernel is its own kind."""
    path = _notebook(tmp_path, [[{"ename": "KeyboardInterrupt", "evalue": ""}, {"ename": "CellTimeoutError", "evalue": ""}],
                                [{"ename": "DeadKernelError", "evalue": "Kernel died"}]], name="losses")
    assert [(p["cell"], p["kind"]) for p in failures.notebook_problems(path)] == [
        ("test_0", "timeout"), ("test_1", "dead_kernel")]


def test_nbgrader_output_is_classified_with_the_cell_it_quotes():
    log = ("Here is a preview of the cell contents:\n-------------------\nkd_kl_loss(s, t)\n"
           "nbclient.exceptions.DeadKernelError: Kernel died\n")
    reason, problems = failures.from_nbgrader_output(log, 1)
    assert "kernel died in the cell 'kd_kl_loss(s, t)'" in reason and problems[0]["kind"] == "dead_kernel"
    assert failures.from_nbgrader_output("", -9)[0] == "nbgrader was killed by signal SIGKILL"
    assert failures.from_nbgrader_output("x\n[ERROR] bad thing\n", 2)[0] == "nbgrader exited with code 2: [ERROR] bad thing"


def test_every_kind_is_explained():
    kinds = {"hang", "timeout", "dead_kernel", "unresponsive_kernel", "missing_notebook", "gradebook"}
    assert set(failures.KINDS) == kinds and all(len(v) > 10 for v in failures.KINDS.values())
