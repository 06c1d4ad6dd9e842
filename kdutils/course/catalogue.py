"""The catalogue of sample submissions: correct, alternative, partial, buggy and tampered.

A submission is the *released* notebook of an assignment with its solution cells filled in:
by default with the reference solution (markers removed), and with other code where the entry
says so. Entries also say which autograded cells must lose points and which diagnostic words
the feedback must contain. Used by ``make grade-demo`` (``kdutils.course.demo``), the benchmark
(``make bench``) and the tests (``tests/test_nbgrader.py``, ``tests/test_grading.py``), and
described in the book chapter "For instructors".

Public helpers: ``catalogue()``, ``write(sub, course)``, ``write_demo_class(course)``,
``solution_cells(assignment)``, ``max_points``, ``tests_of``, and the function-body builders
``fn``, ``distill_loop``, ``fit_fn`` and ``accuracy_fn``; ``FIRST_FAILING`` names the test cell each
known mistake of ``LOSSES_BUGS`` must fail.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["Submission", "catalogue", "write", "write_demo_class", "build", "solution_cells", "solution_source",
           "max_points", "tests_of", "fn", "distill_loop", "fit_fn", "accuracy_fn", "FINAL", "FINAL_LABELS_ONLY", "FINAL_KD_TRAIN", "FINAL_ALL_LABELS", "FINAL_GLOBAL_SPLITS", "LOSSES_BUGS", "DL_ON_BROKEN_KD", "NAN_SHOWN", "NOT_WRITTEN", "FIRST_FAILING", "ARGS",
           "ALT_LOSSES", "TAMPER_LOSSES", "LOSSES_OTHERS", "PEEK_HIDDEN", "TRAINING", "DEMO", "WORDS_ZH", "ZH_ASSIGNMENTS",
           "in_language"]


@dataclass
class Submission:
    """One student's notebook: which cells differ from the reference and what the grader must say."""

    student: str
    assignment: str
    description: str
    cells: dict[str, str] = field(default_factory=dict)   # solution grade_id -> student source
    tests: dict[str, str] = field(default_factory=dict)   # test grade_id -> edited source (tampering)
    delete: tuple[str, ...] = ()                          # grade_ids of deleted cells (tampering)
    prepend: str = ""                                      # code cell inserted after the setup cell
    blank: tuple[str, ...] = ()                            # solution cells left as released
    lose: tuple[str, ...] = ()                             # test cells that must score 0
    words: tuple[str, ...] = ()                            # must appear in the feedback
    full_marks: bool = False                               # every autograded cell must score full points


def solution_source(source: str) -> str:
    """A solution cell's code with the nbgrader markers removed (what a good student writes)."""
    return "\n".join(l for l in source.splitlines() if l.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def solution_cells(assignment: str) -> dict[str, str]:
    """``{grade_id: code}`` of the solution cells of ``solutions/<assignment>`` (of the checkout or of the course
    given with ``--course``: ``core.source_course()``), markers removed."""
    from .core import source_course  # the checkout, or the course given with --course

    nb = nbformat.read(source_course() / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: solution_source(c.source) for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}


def build(sub: Submission, release: Path) -> nbformat.NotebookNode:
    """The submitted notebook for ``sub``, from the released notebook in ``release``."""
    nb = nbformat.read(release / sub.assignment / f"{sub.assignment}.ipynb", as_version=4)
    reference = solution_cells(sub.assignment)
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid in sub.delete:
            continue
        if meta.get("solution") and cell.cell_type == "code" and gid not in sub.blank:
            cell.source = sub.cells.get(gid, reference[gid])
        elif meta.get("solution") and cell.cell_type == "markdown":
            cell.source = "The teacher is frozen; the T² keeps the gradients on one scale."
        if gid in sub.tests:
            cell.source = sub.tests[gid]
        cells.append(cell)
        if gid == "setup" and sub.prepend:
            cells.append(nbformat.v4.new_code_cell(sub.prepend))
    nb.cells = cells
    return nb


def write(sub: Submission, course: Path) -> Path:
    """Write ``sub``'s notebook into ``course/submitted/<student>/<assignment>/``; returns its path."""
    path = course / "submitted" / sub.student / sub.assignment / f"{sub.assignment}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(build(sub, course / "exercises"), path)
    return path


def tests_of(fn: str, assignment: str = "losses") -> tuple[str, ...]:
    """The grade ids of the test cells of function ``fn`` (one per part of its check)."""
    from kdutils.grading import PARTS
    return tuple(f"test_{fn}_{p}" for p in PARTS[fn])


def max_points(course: Path, assignment: str) -> float:
    """The autograded points of ``assignment`` in ``course``."""
    nb = nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return sum(c.metadata["nbgrader"].get("points", 0) for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")


# ---------------------------------------------------------------------------------------------
# Function bodies used by the entries
# ---------------------------------------------------------------------------------------------
def fn(name: str, args: str, body: str) -> str:
    """The source of ``def name(args):`` with ``body`` indented."""
    return f"def {name}({args}):\n" + "\n".join("    " + l for l in body.strip("\n").splitlines())


SM, SCE, KD, DL = "softmax_with_temperature", "soft_cross_entropy", "kd_kl_loss", "distillation_loss"
SM_ARGS, SCE_ARGS, KD_ARGS, DL_ARGS = "logits, T=1.0", "student_probs, teacher_probs", \
    "student_logits, teacher_logits, T", "student_logits, teacher_logits, labels, T, alpha"
# A correct, self-contained soft term for the buggy distillation_loss entries.
_KD_INLINE = ("soft = T * T * F.kl_div(F.log_softmax(student_logits / T, -1), F.softmax(teacher_logits / T, -1), "
              "reduction='batchmean')")

LOSSES_BUGS = {
    # name: (function, body, diagnostic words)
    "softmax_wrong_dim": (SM, "return torch.softmax(logits / T, dim=0)", "wrong dimension"),
    "softmax_times_T": (SM, "return torch.softmax(logits * T, dim=-1)", "multiplied by T"),
    "softmax_overflow": (SM, "e = torch.exp(logits / T)\nreturn e / e.sum(dim=-1, keepdim=True)", "not finite for extreme logits"),
    "softmax_global_max": (SM, "z = logits / T\ne = torch.exp(z - z.max())\nreturn e / e.sum(dim=-1, keepdim=True)",
                           "subtract each row's maximum"),
    "sce_swapped": (SCE, "return -(student_probs * torch.log(teacher_probs)).sum(-1).mean()", "arguments swapped"),
    "sce_nan_at_zero": (SCE, "return -(teacher_probs * torch.log(student_probs)).sum(-1).mean()", "0 * log(0)"),
    "sce_xlogy_swapped": (SCE, "return -torch.xlogy(student_probs, teacher_probs).sum(-1).mean()",
                          "xlogy arguments swapped"),
    "sce_cross_entropy_of_log": (SCE, "return F.cross_entropy(torch.log(student_probs), teacher_probs)",
                                 "normalises a second time"),
    "sce_constant": (SCE, "return torch.tensor(0.7593)", "does not depend on its inputs"),
    "sce_log10": (SCE, "return -(torch.xlogy(teacher_probs, student_probs) / math.log(10)).sum(-1).mean()", "log10"),
    "kd_no_T2": (KD, "s = student_logits.reshape(-1, student_logits.shape[-1]); t = teacher_logits.reshape(s.shape)\n"
                     "return F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction='batchmean')",
                 "T² = 16"),
    "kd_kl_div_probs": (KD, "s = student_logits.reshape(-1, student_logits.shape[-1]); t = teacher_logits.reshape(s.shape)\n"
                            "return T * T * F.kl_div(F.softmax(s / T, -1), F.softmax(t / T, -1), reduction='batchmean')",
                        "F.kl_div expects log-probabilities"),
    "kd_mean": (KD, "s = student_logits.reshape(-1, student_logits.shape[-1]); t = teacher_logits.reshape(s.shape)\n"
                    "return T * T * F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction='mean')",
                "reduction='batchmean'"),
    "kd_log_of_softmax": (KD, "p = torch.softmax(teacher_logits / T, -1); q = torch.softmax(student_logits / T, -1)\n"
                              "kl = (p * (torch.log(p) - torch.log(q))).sum(-1)\n"
                              "return T * T * (kl.mean() if kl.dim() else kl)", "not finite for extreme logits"),
    "kd_reversed": (KD, "lq = F.log_softmax(student_logits / T, -1); lp = F.log_softmax(teacher_logits / T, -1)\n"
                        "kl = (lq.exp() * (lq - lp)).sum(-1)\nreturn T * T * (kl.mean() if kl.dim() else kl)",
                    "KL direction reversed"),
    "kd_T_student_only": (KD, "lq = F.log_softmax(student_logits / T, -1); lp = F.log_softmax(teacher_logits, -1)\n"
                              "kl = (lp.exp() * (lp - lq)).sum(-1)\nreturn T * T * (kl.mean() if kl.dim() else kl)",
                          "student's logits only"),
    "dl_alpha_swapped": (DL, _KD_INLINE + "\nreturn (1 - alpha) * soft + alpha * F.cross_entropy(student_logits, labels)",
                         "alpha swapped"),
    "dl_ce_at_T": (DL, _KD_INLINE + "\nreturn alpha * soft + (1 - alpha) * F.cross_entropy(student_logits / T, labels)",
                   "cross-entropy computed at temperature T"),
    "dl_calls_reference": (DL, "return kd.losses.distillation_loss(student_logits, teacher_logits, labels, T, alpha)",
                           "reference implementation"),
    # issue 23 §4.4: the teacher's argmax through cross-entropy as the soft term (was only "59.44 times the expected")
    "dl_teacher_argmax": (DL, "soft = T * T * F.cross_entropy(student_logits / T, teacher_logits.argmax(-1))\n"
                              "return alpha * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)",
                          "cross-entropy against the teacher's argmax"),
}
ARGS = {SM: SM_ARGS, SCE: SCE_ARGS, KD: KD_ARGS, DL: DL_ARGS}


def losses_bug_students() -> list[Submission]:
    """The buggy losses submissions: each student makes one mistake in several different functions."""
    groups = [
        ("bug_a", ["softmax_wrong_dim", "sce_swapped", "kd_no_T2", "dl_alpha_swapped"]),
        ("bug_b", ["softmax_times_T", "sce_nan_at_zero", "kd_kl_div_probs", "dl_ce_at_T"]),
        ("bug_c", ["softmax_overflow", "sce_log10", "kd_mean", "dl_calls_reference"]),
        ("bug_d", ["kd_T_student_only", "sce_cross_entropy_of_log"]),
        ("bug_e", ["softmax_global_max", "sce_xlogy_swapped", "kd_no_T2"]),
        ("bug_f", ["sce_constant", "dl_teacher_argmax"]),
    ]
    subs = []
    for student, bugs in groups:
        cells, lose, words = {}, [], []
        for b in bugs:
            f, body, word = LOSSES_BUGS[b]
            cells[f] = fn(f, ARGS[f], body)
            words.append(word)
            lose.append(FIRST_FAILING[b])
        if student == "bug_e":  # the reference distillation_loss, on top of this student's kd_kl_loss without T²
            lose.append("test_distillation_loss_example")
            words.append(DL_ON_BROKEN_KD)
            words.append(NAN_SHOWN)  # issue 23 §4.4: the global max's NaN is shown, not hidden behind "..."
            bugs = bugs + ["a correct distillation_loss calling that kd_kl_loss"]
        subs.append(Submission(student, "losses", "buggy: " + ", ".join(bugs), cells=cells,
                               lose=tuple(lose), words=tuple(words)))
    return subs


#: What a correct distillation_loss calling a kd_kl_loss without T² is told (student bug_e).
DL_ON_BROKEN_KD = "fix kd_kl_loss first; its T = 4 case fails"
#: Where the first NaN of an example's output is, past the six values shown (student bug_e's global max).
NAN_SHOWN = "nan at flat index"
#: What an untouched released function is told (issue 23 §4.4: was "raised NotImplementedError: . Example:").
NOT_WRITTEN = "not written yet; replace `raise NotImplementedError()` with your code"


# The test cell that each mistake must fail (it may fail others of the same function too).
FIRST_FAILING = {
    "softmax_wrong_dim": "test_softmax_with_temperature_batch",
    "softmax_times_T": "test_softmax_with_temperature_temperature",
    "softmax_overflow": "test_softmax_with_temperature_stable",
    "sce_swapped": "test_soft_cross_entropy_example",
    "sce_nan_at_zero": "test_soft_cross_entropy_zeros",
    "sce_log10": "test_soft_cross_entropy_example",
    "softmax_global_max": "test_softmax_with_temperature_stable",
    "sce_xlogy_swapped": "test_soft_cross_entropy_zeros",
    "sce_cross_entropy_of_log": "test_soft_cross_entropy_gradient",
    "sce_constant": "test_soft_cross_entropy_batch",
    "kd_no_T2": "test_kd_kl_loss_temperature",
    "kd_kl_div_probs": "test_kd_kl_loss_example",
    "kd_mean": "test_kd_kl_loss_batch",
    "kd_log_of_softmax": "test_kd_kl_loss_stable",
    "kd_reversed": "test_kd_kl_loss_example",
    "kd_T_student_only": "test_kd_kl_loss_temperature",
    "dl_alpha_swapped": "test_distillation_loss_alpha",
    "dl_ce_at_T": "test_distillation_loss_temperature",
    "dl_calls_reference": "test_distillation_loss_example",
    "dl_teacher_argmax": "test_distillation_loss_example",
}

ALT_LOSSES = [
    Submission("alt_a", "losses", "alternative correct: max-shifted exp, torch.xlogy, F.kl_div(log_target=True)", cells={
        SM: fn(SM, SM_ARGS, "z = logits / T\nz = z - z.max(dim=-1, keepdim=True).values\ne = torch.exp(z)\n"
                            "return e / e.sum(dim=-1, keepdim=True)"),
        SCE: fn(SCE, SCE_ARGS, "h = -torch.xlogy(teacher_probs, student_probs).sum(dim=-1)\n"
                               "return h.mean() if h.dim() else h"),
        KD: fn(KD, KD_ARGS, "s = (student_logits / T).reshape(-1, student_logits.shape[-1])\n"
                            "t = (teacher_logits / T).reshape(s.shape)\n"
                            "return T ** 2 * F.kl_div(F.log_softmax(s, dim=1), F.log_softmax(t, dim=1), "
                            "reduction='batchmean', log_target=True)"),
        DL: fn(DL, DL_ARGS, "hard = F.cross_entropy(student_logits, labels)\n"
                            "return alpha * kd_kl_loss(student_logits, teacher_logits, T) + (1.0 - alpha) * hard"),
    }, full_marks=True),
    Submission("alt_b", "losses", "alternative correct: explicit loops and sums, cross-entropy minus entropy", cells={
        SM: fn(SM, SM_ARGS, "return F.softmax(logits.div(T), dim=logits.dim() - 1)"),
        SCE: fn(SCE, SCE_ARGS, "p = teacher_probs.reshape(-1, teacher_probs.shape[-1])\n"
                               "q = student_probs.reshape(p.shape)\ntotal = 0\n"
                               "for i in range(p.shape[0]):\n"
                               "    mask = p[i] > 0\n"
                               "    total = total - (p[i][mask] * torch.log(q[i][mask])).sum()\n"
                               "return total / p.shape[0]"),
        KD: fn(KD, KD_ARGS, "p = F.softmax(teacher_logits / T, dim=-1)\n"
                            "cross = -(p * F.log_softmax(student_logits / T, dim=-1)).sum(-1)\n"
                            "entropy = -torch.xlogy(p, p).sum(-1)\n"
                            "kl = cross - entropy\n"
                            "return T * T * kl.mean()"),
        DL: fn(DL, DL_ARGS, "C = student_logits.shape[-1]\nonehot = F.one_hot(labels, C).float()\n"
                            "hard = -(onehot * F.log_softmax(student_logits, -1)).sum(-1).mean()\n"
                            "return alpha * kd_kl_loss(student_logits, teacher_logits, T) + (1 - alpha) * hard"),
    }, full_marks=True),
]

_EVERY_LOSS_TEST = tuple(t for f in (SM, SCE, KD, DL) for t in tests_of(f))

TAMPER_LOSSES = [
    Submission("tamper_monkeypatch", "losses", "tampered: patches torch, numpy, math, builtins and kdutils, wrong answers",
               prepend=(
                   "import builtins, math, numpy as np\n"
                   "torch.allclose = lambda *a, **k: True\n"
                   "torch.isclose = lambda a, b, *r, **k: torch.ones_like(a, dtype=torch.bool)\n"
                   "torch.testing.assert_close = lambda *a, **k: None\n"
                   "np.allclose = lambda *a, **k: True\n"
                   "math.isclose = lambda *a, **k: True\n"
                   "builtins.sum = lambda *a, **k: 0.0\n"
                   "torch.Tensor.tolist = lambda self: [0.7593]\n"
                   "for name in ('softmax_with_temperature', 'soft_cross_entropy', 'kd_kl_loss', 'distillation_loss'):\n"
                   "    setattr(kd.losses, name, lambda *a, **k: torch.tensor(0.0))\n"
                   "for name in ('check_softmax_with_temperature', 'check_soft_cross_entropy', 'check_kd_kl_loss',\n"
                   "             'check_distillation_loss'):\n"
                   "    try:\n"
                   "        setattr(kd.grading, name, lambda *a, **k: None)\n"
                   "    except AttributeError:\n"
                   "        pass\n"),
               cells={f: fn(f, ARGS[f], "return torch.tensor(0.7593)") for f in (SM, SCE, KD, DL)},
               lose=_EVERY_LOSS_TEST, words=("returned shape",)),
    Submission("tamper_objects", "losses", "tampered: always-equal objects, a lying Tensor subclass, hard-coded example",
               prepend=(
                   "class AlwaysEqual(float):\n"
                   "    def __eq__(self, other): return True\n"
                   "    def __ne__(self, other): return False\n"
                   "    def __lt__(self, other): return True\n"
                   "    def __le__(self, other): return True\n"
                   "    def __gt__(self, other): return True\n"
                   "    def __ge__(self, other): return True\n"
                   "    def __abs__(self): return 0.0\n"
                   "    def __sub__(self, other): return AlwaysEqual(0.0)\n"
                   "    __rsub__ = __sub__\n"
                   "class Liar(torch.Tensor):\n"
                   "    def tolist(self): return [0.7593]\n"
                   "    def __eq__(self, other): return True\n"
                   "    @classmethod\n"
                   "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                   "        return AlwaysEqual(0.0)\n"),
               cells={SM: fn(SM, SM_ARGS, "return AlwaysEqual(1.0)"),
                      SCE: fn(SCE, SCE_ARGS, "return torch.tensor(0.7593).as_subclass(Liar)"),
                      KD: fn(KD, KD_ARGS, "return torch.tensor(0.242898)"),
                      DL: fn(DL, DL_ARGS, "return torch.tensor(0.316763)")},
               lose=_EVERY_LOSS_TEST, words=("expected a torch.Tensor", "subclass of torch.Tensor")),
    Submission("tamper_tests", "losses", "tampered: blank answers, test cells edited to pass and others deleted",
               blank=(SM, SCE, KD, DL),
               tests={t: '"""edited"""\npass' for t in tests_of(SM) + tests_of(SCE)},
               delete=tests_of(KD) + tests_of(DL),
               lose=_EVERY_LOSS_TEST, words=("NotImplementedError",)),
    Submission("tamper_loop", "losses", "tampered: the kd_kl_loss cell loops forever (cell timeout); the rest is correct",
               cells={KD: "while True:\n    pass"},
               lose=tests_of(KD) + tests_of(DL), words=("CellTimeoutError", "name 'kd_kl_loss' is not defined")),
    Submission("tamper_exit", "losses", "tampered: distillation_loss kills the kernel with os._exit; "
                                        "kd_kl_loss reverses the KL",
               cells={DL: fn(DL, DL_ARGS, "import os\nos._exit(0)"),
                      KD: fn(KD, KD_ARGS, LOSSES_BUGS["kd_reversed"][1])},
               lose=tests_of(KD) + tests_of(DL), words=("os._exit() is disabled", "KL direction reversed")),
]

#: A student's cell that asks the grader for hidden cases: with hidden=True (refused) and with the public
#: default kd.grading.HIDDEN (the public repository's cases, not those of a course with a secret).
PEEK_HIDDEN = ("\nfor _hidden in (True, kd.grading.HIDDEN):\n"
               "    print('peek', _hidden, kd.grading.kernel.ask({'op': 'cases', 'check': 'softmax_with_temperature',\n"
               "                                                  'part': 'batch', 'hidden': _hidden}))\n"
               "    try:\n"
               "        kd.grading.check_softmax_with_temperature(softmax_with_temperature, 'batch', hidden=_hidden)\n"
               "    except Exception as e:\n"
               "        print('peek', type(e).__name__, e)\n")

LOSSES_OTHERS = [
    Submission("solution", "losses", "the reference solution", full_marks=True),
    Submission("peek_hidden", "losses", "a correct solution whose own cell asks for the hidden cases "
                                        "(hidden=True is refused; kd.grading.HIDDEN gives only the public default's)",
               cells={SM: solution_cells("losses")[SM] + PEEK_HIDDEN}, full_marks=True,
               words=("hidden checks run only in grading",)),
    Submission("blank", "losses", "the released notebook, untouched", blank=(SM, SCE, KD, DL),
               lose=_EVERY_LOSS_TEST, words=(NOT_WRITTEN,)),
    Submission("partial", "losses", "partial: kd_kl_loss unstable (log of softmax), distillation_loss not done",
               blank=(DL,), cells={KD: fn(KD, KD_ARGS, LOSSES_BUGS["kd_log_of_softmax"][1])},
               lose=("test_kd_kl_loss_stable",) + tests_of(DL), words=("not finite for extreme logits",)),
]

# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
FIT, DOE, ACC = "fit_soft_targets", "distill_one_epoch", "evaluate_accuracy"
FIT_ARGS, DOE_ARGS, ACC_ARGS = "student, inputs, teacher_probs, steps=200, lr=0.5", \
    "student, teacher, loader, optimizer, T, alpha", "model, loader"


def distill_loop(teacher_eval=True, no_grad=True, student_train=True, zero_grad=True, ret="sum(losses) / len(losses)"):
    """A ``distill_one_epoch`` source: correct by default; each flag set to False leaves out one step."""
    lines = []
    if teacher_eval:
        lines.append("teacher.eval()")
    if student_train:
        lines.append("student.train()")
    lines += ["losses = []", "for x, y in loader:"]
    if no_grad:
        lines += ["    with torch.no_grad():", "        t = teacher(x)"]
    else:
        lines += ["    t = teacher(x)"]
    lines += ["    loss = kd.losses.distillation_loss(student(x), t, y, T, alpha)"]
    if zero_grad:
        lines.append("    optimizer.zero_grad()")
    lines += ["    loss.backward()", "    optimizer.step()", "    losses.append(loss.item())", f"return {ret}"]
    return fn(DOE, DOE_ARGS, "\n".join(lines))


def fit_fn(optimizer: str, loss: str, zero_grad: str = "opt.zero_grad()", record: str = "loss.item()") -> str:
    """A ``fit_soft_targets`` source: ``steps`` steps of ``optimizer`` on ``loss`` of ``q``, the student's probabilities."""
    return fn(FIT, FIT_ARGS, "\n".join([
        f"opt = {optimizer}", "out = []", "for _ in range(steps):", "    q = F.softmax(student(inputs), dim=-1)",
        f"    loss = {loss}", f"    {zero_grad}", "    loss.backward()", "    opt.step()", f"    out.append({record})",
        "return out"]))


def accuracy_fn(eval_mode=True, no_grad=True, ret="correct / total"):
    """An ``evaluate_accuracy`` source: correct by default; a flag set to False leaves out eval() or no_grad()."""
    body = (("model.eval()\n" if eval_mode else "") + "correct = total = 0\n" +
            ("with torch.no_grad():\n" if no_grad else "if True:\n") +
            "    for x, y in loader:\n"
            "        correct += (model(x).argmax(-1) == y).sum().item()\n"
            "        total += len(y)\n"
            f"return {ret}")
    return fn(ACC, ACC_ARGS, body)


FINAL = "final_student"
#: distil_student bodies for the final task (the cell also sets EPOCHS).
FINAL_LABELS_ONLY = ("def distil_student(teacher, loader, epochs):\n"
                     "    student = kd.models.build_model(kd.models.student_config(hidden=32))\n"
                     "    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)\n"
                     "    for _ in range(epochs):\n"
                     "        student.train()\n"
                     "        for x, y in loader:\n"
                     "            loss = F.cross_entropy(student(x), y)\n"
                     "            optimizer.zero_grad()\n"
                     "            loss.backward()\n"
                     "            optimizer.step()\n"
                     "    return student\n\n\nEPOCHS = 100")
FINAL_KD_TRAIN = ("def distil_student(teacher, loader, epochs):\n"
                  "    student = kd.models.build_model(kd.models.student_config(hidden=32))\n"
                  "    kd.train.train_distillation(student, teacher, loader, T=4.0, alpha=0.9,\n"
                  "                                config=kd.train.TrainConfig(epochs=epochs, lr=1e-2))\n"
                  "    return student\n\n\nEPOCHS = 60")
#: Issue 23 §4.1, the loophole a student found: the full digits training split (1,077 labels, loaded again with
#: kd.data.load_splits) through the student's own distill_one_epoch with alpha=0, once per epoch; passed 0.9756.
FINAL_ALL_LABELS = ("def distil_student(teacher, loader, epochs):\n"
                    "    full = kd.data.load_splits('digits')\n"
                    "    big = kd.data.make_loader(full.X_train, full.y_train, batch_size=32, shuffle=True)\n"
                    "    student = kd.models.build_model(kd.models.student_config(hidden=32))\n"
                    "    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)\n"
                    "    for _ in range(epochs):\n"
                    "        distill_one_epoch(student, teacher, big, optimizer, T=1.0, alpha=0.0)\n"
                    "    return student\n\n\nEPOCHS = 30")
#: The same through the notebook's own ``splits`` (no loading call), with a hand-written forward ``x @ W.T``
#: in a first pass over the full split and the student's distill_one_epoch on the given loader afterwards.
FINAL_GLOBAL_SPLITS = ("def distil_student(teacher, loader, epochs):\n"
                       "    student = kd.models.build_model(kd.models.student_config(hidden=32))\n"
                       "    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)\n"
                       "    lin1, lin2 = [m for m in student.modules() if isinstance(m, nn.Linear)]\n"
                       "    X, y = splits.X_train, splits.y_train\n"
                       "    for _ in range(20):\n"
                       "        for i in range(0, len(X), 32):\n"
                       "            h = torch.relu(X[i:i + 32].flatten(1) @ lin1.weight.T + lin1.bias)\n"
                       "            loss = F.cross_entropy(h @ lin2.weight.T + lin2.bias, y[i:i + 32])\n"
                       "            optimizer.zero_grad(); loss.backward(); optimizer.step()\n"
                       "    for _ in range(epochs):\n"
                       "        distill_one_epoch(student, teacher, loader, optimizer, T=4.0, alpha=0.9)\n"
                       "    return student\n\n\nEPOCHS = 5")

TRAINING = [
    Submission("solution", "training", "the reference solution", full_marks=True),
    Submission("final_labels", "training", "final task trained on the 100 labels alone (own cross-entropy loop, "
                                           "100 epochs), distill_one_epoch never called",
               cells={FINAL: FINAL_LABELS_ONLY}, lose=("test_final_student",),
               words=("never called your distill_one_epoch", "100 labels alone")),
    Submission("final_kdtrain", "training", "final task trained with kd.train.train_distillation instead of the "
                                            "student's own distill_one_epoch",
               cells={FINAL: FINAL_KD_TRAIN}, lose=("test_final_student",),
               words=("kd.train.train_distillation",)),
    Submission("final_all_labels", "training", "final task trained on all 1,077 training labels (kd.data.load_splits "
                                               "inside distil_student, the student's distill_one_epoch with alpha=0)",
               cells={FINAL: FINAL_ALL_LABELS}, lose=("test_final_student",),
               words=("not among the 100 images of the loader", "kd.data.load_splits")),
    Submission("final_global_splits", "training", "final task pre-trained on the notebook's full training split with "
                                                  "a hand-written forward pass, then distilled on the loader",
               cells={FINAL: FINAL_GLOBAL_SPLITS}, lose=("test_final_student",),
               words=("not among the 100 images of the loader",)),
    Submission("blank", "training", "the released notebook, untouched", blank=(FIT, DOE, ACC, FINAL),
               lose=tests_of(FIT) + tests_of(DOE) + tests_of(ACC) + ("test_final_student",), words=(NOT_WRITTEN,)),
    Submission("bug_a", "training", "buggy: own predictions as the target, no zero_grad, a percentage",
               cells={FIT: fit_fn("torch.optim.SGD(student.parameters(), lr=lr)",
                                  "F.kl_div(q.log(), q.detach(), reduction='batchmean')"),
                      DOE: distill_loop(zero_grad=False),
                      ACC: accuracy_fn(ret="100 * correct / total")},
               lose=("test_fit_soft_targets_losses", "test_fit_soft_targets_fit", "test_distill_one_epoch_loss",
                     "test_distill_one_epoch_steps", "test_evaluate_accuracy_value", "test_final_student"),
               words=("student's own output", "zero_grad()", "percentage", "fix distill_one_epoch first")),
    Submission("bug_b", "training", "buggy: loss tensors recorded instead of floats, F.kl_div on probabilities, teacher "
                                    "left in train mode and with gradients, model not in eval mode",
               cells={FIT: fit_fn("torch.optim.SGD(student.parameters(), lr=lr)",
                                  "F.kl_div(q, teacher_probs, reduction='batchmean')", record="loss.detach()"),
                      DOE: distill_loop(teacher_eval=False, no_grad=False), ACC: accuracy_fn(eval_mode=False)},
               lose=("test_fit_soft_targets_losses", "test_fit_soft_targets_fit", "test_distill_one_epoch_teacher",
                     "test_evaluate_accuracy_mode"),
               words=("not Python floats", "not softmax probabilities", "teacher.eval()", "model.eval()")),
    Submission("bug_d", "training", "buggy: no zero_grad in fit_soft_targets, a new optimizer of its own in "
                                    "distill_one_epoch",
               cells={FIT: fit_fn("torch.optim.SGD(student.parameters(), lr=lr)",
                                  "F.kl_div(q.log(), teacher_probs, reduction='batchmean')", zero_grad="pass"),
                      DOE: distill_loop().replace("    teacher.eval()",
                                                  "    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)\n"
                                                  "    teacher.eval()")},
               lose=("test_fit_soft_targets_fit", "test_distill_one_epoch_loss", "test_distill_one_epoch_steps",
                     "test_final_student"),
               words=("the gradients add up across steps", "not a new one of your own")),
    Submission("bug_c", "training", "buggy: teacher forward with gradients, student in eval mode, returns a tensor, "
                                    "no torch.no_grad() in evaluation",
               cells={DOE: distill_loop(no_grad=False, student_train=False, ret="torch.tensor(losses).mean()"),
                      ACC: accuracy_fn(no_grad=False)},
               lose=("test_distill_one_epoch_teacher", "test_distill_one_epoch_student_mode",
                     "test_distill_one_epoch_loss", "test_evaluate_accuracy_mode"),
               words=("torch.no_grad()", "student.train()", "Python float")),
    Submission("alt", "training", "alternative correct: Adam and soft cross-entropy, inference_mode, student.zero_grad()",
               cells={FIT: fit_fn("torch.optim.Adam(student.parameters(), lr=0.05)",
                                  "kd.losses.soft_cross_entropy(q, teacher_probs)",
                                  zero_grad="student.zero_grad()", record="float(loss)"),
                      DOE: fn(DOE, DOE_ARGS, "teacher.train(False)\nstudent.train(True)\ntotal, n = 0.0, 0\n"
                                             "for x, y in loader:\n"
                                             "    with torch.inference_mode():\n        t = teacher(x)\n"
                                             "    t = t.clone()\n"
                                             "    student.zero_grad(set_to_none=True)\n"
                                             "    loss = kd.losses.distillation_loss(student(x), t, y, T=T, alpha=alpha)\n"
                                             "    loss.backward()\n    optimizer.step()\n"
                                             "    total += loss.item(); n += 1\nreturn total / n"),
                      ACC: fn(ACC, ACC_ARGS, "model.eval()\nhits = []\n"
                                             "with torch.no_grad():\n"
                                             "    for x, y in loader:\n"
                                             "        hits.append(model(x).argmax(dim=1).eq(y))\n"
                                             "return torch.cat(hits).float().mean().item()")},
               full_marks=True),
]


def catalogue() -> list[Submission]:
    """Every submission of the test catalogue."""
    return LOSSES_OTHERS + ALT_LOSSES + losses_bug_students() + TAMPER_LOSSES + TRAINING + HANG_LOSSES


DEMO_SKIP = {("bug_c", "training")}  # keeps `make grade-demo` under 3 minutes on 2 cores
DEMO = ["solution", "blank", "partial", "alt_a", "bug_a", "bug_b", "bug_c", "tamper_monkeypatch",
        "tamper_objects", "tamper_tests", "tamper_exit", "alt"]


def write_demo_class(course: Path) -> dict[str, str]:
    """Write the demo class (a dozen students) into ``course/submitted``; returns {student: description}."""
    students: dict[str, str] = {}
    for sub in catalogue():
        if sub.student in DEMO and (sub.student, sub.assignment) not in DEMO_SKIP:
            write(sub, course)
            students.setdefault(sub.student, "")
            students[sub.student] = "; ".join(x for x in (students[sub.student], f"{sub.assignment}: {sub.description}") if x)
    return students


#: Issue 13: student functions that never return. The grader stops each after ``rules.HANG_SECONDS`` and every
#: later check of it, or of a function that calls it (distillation_loss), fails at once: one budget, not one
#: cell timeout per test cell.
HANG_LOSSES = [
    Submission("hang_loop", "losses", "kd_kl_loss loops forever when called (distillation_loss calls it); "
                                      "the rest is correct",
               cells={KD: fn(KD, KD_ARGS, "while True:\n    pass")},
               lose=tests_of(KD) + tests_of(DL),
               words=("your kd_kl_loss did not return within 10 s; an infinite loop?", "distillation_loss calls it",
                      "run the cell that defines kd_kl_loss again")),
    Submission("hang_swallow", "losses", "kd_kl_loss loops forever and its bare except swallows every interrupt; "
                                         "the rest is correct",
               cells={KD: fn(KD, KD_ARGS, "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n"
                                         "    except:\n        pass")},
               lose=tests_of(KD) + tests_of(DL),
               words=("your kd_kl_loss did not return within 10 s; an infinite loop?",)),
]


# ---------------------------------------------------------------------------------------------
# Issue 17: the same submissions against the Chinese releases (losses_zh, training_zh)
# ---------------------------------------------------------------------------------------------
#: The Chinese feedback's words for each diagnostic word of the catalogue. A word that is code or
#: Python's own error text (NotImplementedError, a NameError) stays as it is.
WORDS_ZH = {
    "hidden checks run only in grading": "隐藏测试只在评分时运行",
    "wrong dimension": "softmax 的维度不对",
    "multiplied by T": "logit 乘以了 T",
    "not finite for extreme logits": "极端 logit 下结果不是有限值",
    "subtract each row's maximum": "减去每一行的最大值",
    "arguments swapped": "参数顺序反了",
    "0 * log(0)": "0 * log(0) 是 NaN",
    "xlogy arguments swapped": "xlogy 的参数顺序反了",
    "normalises a second time": "又归一化了一次",
    "does not depend on its inputs": "与输入无关",
    "log10": "对数的底不对（log10）",
    "T² = 16": "正好差了 T² = 16 倍",
    "F.kl_div expects log-probabilities": "F.kl_div 的第一个参数应是对数概率",
    "reduction='batchmean'": "用 reduction='batchmean'",
    "KL direction reversed": "KL 方向反了",
    "student's logits only": "温度只作用在学生模型的 logit 上",
    "alpha swapped": "alpha 用反了",
    "cross-entropy computed at temperature T": "硬标签交叉熵是在温度 T 下计算的",
    "reference implementation": "调用了参考实现",
    DL_ON_BROKEN_KD: "先修好 kd_kl_loss；它的 T = 4 用例没通过",
    "returned shape": "返回的形状为",
    "expected a torch.Tensor": "应返回 torch.Tensor",
    "subclass of torch.Tensor": "torch.Tensor 的子类",
    "NotImplementedError": "NotImplementedError",
    "CellTimeoutError": "CellTimeoutError",
    "name 'kd_kl_loss' is not defined": "name 'kd_kl_loss' is not defined",
    "os._exit() is disabled": "os._exit() 已被禁用",
    "your kd_kl_loss did not return within 10 s; an infinite loop?": "你的 kd_kl_loss 在 10 秒内没有返回；是死循环吗？",
    "distillation_loss calls it": "distillation_loss 调用了它",
    "never called your distill_one_epoch": "从未调用你的 distill_one_epoch",
    "100 labels alone": "只用这 100 个硬标签训练",
    "kd.train.train_distillation": "调用了 kd.train.train_distillation",
    "not among the 100 images of the loader": "不在所给 loader 的 100 张图像之中",
    "kd.data.load_splits": "它调用了 kd.data.load_splits",
    "student's own output": "学生模型自己的输出",
    "zero_grad()": "zero_grad()",
    "percentage": "返回的是百分数",
    "fix distill_one_epoch first": "先修好 distill_one_epoch",
    "cross-entropy against the teacher's argmax": "针对教师模型 argmax 的交叉熵",
    NAN_SHOWN: "展平后下标为",
    NOT_WRITTEN: "还没有实现；把 `raise NotImplementedError()` 换成你的代码",
    "not softmax probabilities": "不要传 softmax 概率",
    "the gradients add up across steps": "梯度在各步之间累加",
    "not a new one of your own": "不要自己新建一个",
    "run the cell that defines kd_kl_loss again": "重新运行定义 kd_kl_loss 的单元格",
    "not Python floats": "不是 Python float",
    "teacher.eval()": "教师模型处于训练模式",
    "model.eval()": "先调用 model.eval()",
    "torch.no_grad()": "放进 torch.no_grad()",
    "student.train()": "调用 student.train()",
    "Python float": "Python float）",
}
#: The Chinese releases, and the English assignment each is made from (kdutils/course/translate.py).
ZH_ASSIGNMENTS = {"losses_zh": "losses", "training_zh": "training"}


def in_language(sub: Submission, lang: str) -> Submission:
    """``sub`` submitted to the ``lang`` release of its assignment, with the feedback words of that language."""
    if lang == "en":
        return sub
    if lang != "zh":
        raise ValueError(f"lang must be 'en' or 'zh', got lang={lang!r}")
    missing = [w for w in sub.words if w not in WORDS_ZH]
    if missing:
        raise KeyError(f"catalogue.WORDS_ZH has no Chinese for {missing} (student {sub.student})")
    return replace(sub, assignment=f"{sub.assignment}_zh", words=tuple(WORDS_ZH[w] for w in sub.words))


# ---------------------------------------------------------------------------------------------
# Issue 23 §2.6: what one wrong helper costs ("fix X first")
# ---------------------------------------------------------------------------------------------
def cascade_cost(bug: str) -> dict:
    """Points of the ``losses`` assignment lost by the reference solution with the one mistake ``bug`` of
    ``LOSSES_BUGS``, graded in-process on the visible and the public hidden cases (every test cell is worth its
    ``points``): ``{"lost": {function: points}, "total": autograded points, "function": the buggy function}``.

    A function that calls the buggy one (``distillation_loss`` calls ``kd_kl_loss``) fails its checks with
    "fix kd_kl_loss first": its own code may be right, the value it returns is not.
    """
    import math

    import torch
    import torch.nn.functional as F

    import kdutils as kd

    G = kd.grading
    func, body, _ = LOSSES_BUGS[bug]
    ns = {"torch": torch, "F": F, "math": math, "kd": kd, "nn": torch.nn}
    for name, src in solution_cells("losses").items():
        exec(src, ns)
    exec(fn(func, ARGS[func], body), ns)
    nb = nbformat.read(ROOT / "solutions" / "losses" / "losses.ipynb", as_version=4)
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    lost: dict[str, float] = {}
    for name in (SM, SCE, KD, DL):
        for part in G.PARTS[name]:
            failed = False
            for hidden in (False, G.HIDDEN):
                try:
                    getattr(G, f"check_{name}")(ns[name], part, hidden=hidden)
                except AssertionError:
                    failed = True
            if failed:
                lost[name] = lost.get(name, 0) + points[f"test_{name}_{part}"]
    return {"lost": lost, "total": sum(points.values()), "function": func}
