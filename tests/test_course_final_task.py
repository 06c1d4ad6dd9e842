"""Issue 23 §4.1: the final task passes only a student trained on the data it was given.

In-process (no nbgrader), with the notebook's own teacher cell: the loophole a student found
(``kd.data.load_splits`` inside ``distil_student``, all 1,077 labels, ``alpha=0``: 0.9756 passed
before), the same through the notebook's global ``splits`` with a hand-written forward pass, noised
images, and, on the other side, honest code that evaluates on the test split under
``torch.no_grad()`` inside ``distil_student``: it still passes. The catalogue entries
``final_all_labels`` and ``final_global_splits`` are also graded end to end by
``tests/test_nbgrader.py`` (slow).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import kdutils as kd
from kdutils.course import catalogue as cat

G = kd.grading


@pytest.fixture(scope="module")
def final_task():
    import nbformat

    nb = nbformat.read(cat.ROOT / "solutions" / "training" / "training.ipynb", as_version=4)
    ns = {"torch": torch, "F": F, "kd": kd, "nn": torch.nn}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "final_teacher":
            exec(cell.source, ns)
    exec(cat.solution_cells("training")["distill_one_epoch"], ns)
    yield ns
    torch.set_num_threads(threads)


def run_final(ns, source: str, lang: str = "en") -> str | None:
    ns = dict(ns)
    exec(source, ns)
    G.messages.set_language(lang)
    try:
        G.check_final_student(ns["distil_student"], ns["distill_one_epoch"], ns["teacher"], ns["EPOCHS"])
    except AssertionError as e:
        return str(e)
    finally:
        G.messages.set_language("en")
    return None


def test_the_label_loophole_fails_and_says_why(final_task):
    msg = run_final(final_task, cat.FINAL_ALL_LABELS)
    assert msg is not None, "the student trained on all 1,077 labels passed the final task"
    assert msg.startswith("distil_student trained on 29310 image(s) that are not among the 100 images of the loader"), msg
    assert "(it called kd.data.load_splits)" in msg
    zh = run_final(final_task, cat.FINAL_ALL_LABELS, lang="zh")
    assert "不在所给 loader 的 100 张图像之中" in zh and "迁移集" in zh and "它调用了 kd.data.load_splits" in zh, zh


def test_the_global_split_and_a_hand_written_forward_fail_too(final_task):
    msg = run_final(final_task, cat.FINAL_GLOBAL_SPLITS)
    assert msg and "not among the 100 images of the loader" in msg and "it called" not in msg, msg


def test_noised_images_fail(final_task):
    answer = cat.solution_cells("training")["final_student"]
    noisy = answer.replace("    for _ in range(epochs):\n",
                           "    loader = [(x + 0.01 * torch.randn_like(x), y) for x, y in loader]\n"
                           "    for _ in range(epochs):\n")
    assert noisy != answer
    msg = run_final(final_task, noisy)
    assert msg and "not among the 100 images of the loader" in msg, msg


def test_images_made_to_require_gradients_fail_too(final_task):
    """Data that requires grad itself (a leaf, or a non-leaf view of one) is not mistaken for a weight."""
    answer = cat.FINAL_ALL_LABELS.replace("    big = kd.data.make_loader(full.X_train, full.y_train, batch_size=32, shuffle=True)\n",
                                          "    X = full.X_train.clone().requires_grad_()\n"
                                          "    class Big:\n"
                                          "        def __iter__(self):\n"
                                          "            for i in range(0, len(X), 32):\n"
                                          "                yield X[i:i + 32] * 1.0, full.y_train[i:i + 32]\n"
                                          "    big = Big()\n")
    assert answer != cat.FINAL_ALL_LABELS
    msg = run_final(final_task, answer)
    assert msg and "not among the 100 images of the loader" in msg, msg


def test_evaluating_on_the_test_split_without_gradients_still_passes(final_task):
    answer = cat.solution_cells("training")["final_student"]
    watched = answer.replace("    return student\n",
                             "    with torch.no_grad():\n"
                             "        acc = (student(splits.X_test).argmax(-1) == splits.y_test).float().mean()\n"
                             "    return student\n")
    assert watched != answer
    assert run_final(final_task, watched) is None


def test_a_student_at_the_epoch_limit_is_not_told_to_train_longer(final_task):
    answer = cat.solution_cells("training")["final_student"]
    slow = answer.replace("lr=1e-2", "lr=1e-5").replace("EPOCHS = 60", f"EPOCHS = {G.FINAL_MAX_EPOCHS}")
    msg = run_final(final_task, slow)
    assert msg and "the most allowed: more epochs will not do it" in msg and "train longer" not in msg, msg
    short = answer.replace("lr=1e-2", "lr=1e-5").replace("EPOCHS = 60", "EPOCHS = 3")
    assert "train longer (up to 100 epochs)" in run_final(final_task, short)
