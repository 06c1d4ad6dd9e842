"""Unit tests of kdutils.grading, in-process (no nbgrader): every check passes correct code,
fails known mistakes with its diagnosis, and cannot be fooled by tampering.

The buggy and alternative function bodies come from the submission catalogue
(kdutils/course/catalogue.py), the same ones the nbgrader tests grade end to end.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import kdutils as kd
from kdutils.course import catalogue as cat

G = kd.grading
LOSS_FUNCTIONS = G.checks.LOSS_FUNCTIONS


def define(source: str, name: str, extra: dict | None = None):
    """Execute a submission's cell source and return the function it defines."""
    ns = {"torch": torch, "F": F, "math": math, "kd": kd, "nn": torch.nn}
    ns.update(extra or {})
    for src in [cat.solution_cells("losses")[f] for f in LOSS_FUNCTIONS] if name == "distillation_loss" else []:
        exec(src, ns)  # the reference kd_kl_loss, used by some distillation_loss bodies
    exec(source, ns)
    return ns[name]


def reference_cells(assignment):
    return cat.solution_cells(assignment)


def run(check: str, fn, part: str, hidden=G.HIDDEN) -> str | None:
    """None when the check passes, else the AssertionError's message."""
    try:
        getattr(G, f"check_{check}")(fn, part, hidden=hidden)
    except AssertionError as e:
        return str(e)
    return None


@pytest.mark.parametrize("name", LOSS_FUNCTIONS)
def test_reference_solution_passes_every_part(name):
    fn = define(reference_cells("losses")[name], name)
    for part in G.PARTS[name]:
        for hidden in (False, G.HIDDEN):
            assert run(name, fn, part, hidden) is None, (name, part, hidden)


@pytest.mark.parametrize("student", [s for s in cat.ALT_LOSSES], ids=lambda s: s.student)
def test_alternative_correct_losses_pass(student):
    ns = {}
    for name in LOSS_FUNCTIONS:
        src = student.cells.get(name, reference_cells("losses")[name])
        ns[name] = define(src, name, extra=ns)
        for part in G.PARTS[name]:
            assert run(name, ns[name], part) is None, (student.student, name, part)


@pytest.mark.parametrize("bug", sorted(cat.LOSSES_BUGS))
def test_known_loss_mistake_is_diagnosed(bug):
    name, body, words = cat.LOSSES_BUGS[bug]
    fn = define(cat.fn(name, cat.ARGS[name], body), name)
    part = cat.FIRST_FAILING[bug].removeprefix(f"test_{name}_")
    message = run(name, fn, part)
    assert message is not None, f"{bug} passed {part}"
    assert words in message, message


def test_messages_name_the_classic_mistakes():
    """The issue's examples, word for word."""
    no_t2 = define(cat.fn("kd_kl_loss", cat.KD_ARGS, cat.LOSSES_BUGS["kd_no_T2"][1]), "kd_kl_loss")
    assert "off by exactly T² = 16: multiply the KL term by T**2" in run("kd_kl_loss", no_t2, "example")
    probs = define(cat.fn("kd_kl_loss", cat.KD_ARGS, cat.LOSSES_BUGS["kd_kl_div_probs"][1]), "kd_kl_loss")
    assert "negative loss: `F.kl_div` expects log-probabilities".replace("`", "") in run("kd_kl_loss", probs, "example")
    mean = define(cat.fn("kd_kl_loss", cat.KD_ARGS, cat.LOSSES_BUGS["kd_mean"][1]), "kd_kl_loss")
    assert "off by a factor of C = 10: use reduction='batchmean', not 'mean'" in run("kd_kl_loss", mean, "batch")


def test_a_bug_only_costs_its_own_behaviours():
    """Missing T² fails the temperature-dependent parts but not the T = 1 ones."""
    no_t2 = define(cat.fn("kd_kl_loss", cat.KD_ARGS, cat.LOSSES_BUGS["kd_no_T2"][1]), "kd_kl_loss")
    assert run("kd_kl_loss", no_t2, "batch") is None
    assert run("kd_kl_loss", no_t2, "stable") is None
    assert run("kd_kl_loss", no_t2, "temperature") is not None


def test_calling_the_reference_earns_nothing_even_through_an_alias():
    from kdutils.losses import kd_kl_loss as ref

    def aliased(s, t, T):
        return ref(s, t, T)

    msg = run("kd_kl_loss", aliased, "example")
    assert msg and "reference implementation" in msg and "kdutils.losses.kd_kl_loss" in msg
    assert "reference implementation" in run("softmax_with_temperature", kd.losses.softmax_with_temperature, "batch")


def test_hard_coded_example_fails_the_hidden_cases():
    def hard(q, p):
        return torch.tensor(0.7593)

    assert run("soft_cross_entropy", hard, "example", hidden=False) is None  # the visible example alone...
    assert run("soft_cross_entropy", hard, "example", hidden=G.HIDDEN) is not None  # ...is not enough


def test_always_equal_objects_and_tensor_subclasses_fail():
    class AlwaysEqual(float):
        def __eq__(self, other):
            return True

    class Liar(torch.Tensor):
        def tolist(self):
            return [0.7593]

    assert "expected a torch.Tensor" in run("soft_cross_entropy", lambda q, p: AlwaysEqual(0.7593), "example")
    msg = run("soft_cross_entropy", lambda q, p: torch.tensor(0.7593).as_subclass(Liar), "example")
    assert "subclass of torch.Tensor" in msg


def test_monkeypatching_torch_numpy_math_and_kdutils_gains_nothing(monkeypatch):
    import numpy as np

    wrong = define(cat.fn("kd_kl_loss", cat.KD_ARGS, "return torch.tensor(0.0)"), "kd_kl_loss")
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: [0.0])
    monkeypatch.setattr(torch, "softmax", lambda x, dim=-1: x)
    monkeypatch.setattr(F, "log_softmax", lambda x, dim=-1: x * 0)
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(math, "isclose", lambda *a, **k: True)
    monkeypatch.setattr(math, "isfinite", lambda *a, **k: True)
    monkeypatch.setattr(kd.losses, "kd_kl_loss", wrong)
    for part in G.PARTS["kd_kl_loss"]:
        assert run("kd_kl_loss", wrong, part) is not None, part


def test_checks_cannot_be_replaced():
    with pytest.raises(AttributeError, match="read-only"):
        kd.grading.check_kd_kl_loss = lambda *a, **k: None
    with pytest.raises(AttributeError, match="read-only"):
        del kd.grading.check_kd_kl_loss


def test_same_verdict_twice():
    bad = define(cat.fn("kd_kl_loss", cat.KD_ARGS, cat.LOSSES_BUGS["kd_reversed"][1]), "kd_kl_loss")
    assert run("kd_kl_loss", bad, "temperature") == run("kd_kl_loss", bad, "temperature")


def test_an_exception_in_the_student_code_is_reported():
    def boom(logits, T=1.0):
        raise NotImplementedError()

    assert "raised NotImplementedError" in run("softmax_with_temperature", boom, "example")


def test_bad_part_is_rejected_in_the_assignments_language(monkeypatch):
    with pytest.raises(ValueError, match="part must be one of example, batch, .*, got part='nonsense'"):
        G.check_kd_kl_loss(lambda *a: None, "nonsense")
    from kdutils.grading import messages
    monkeypatch.setitem(messages._CURRENT, "lang", "zh")  # what kd.grading.prepare(lang="zh") sets
    with pytest.raises(ValueError, match="part 必须是 .* 之一，得到的是 part='nonsense'"):
        G.check_kd_kl_loss(lambda *a: None, "nonsense")


# ------------------------------------------------------------------------------- training
TRAINING_FUNCTIONS = ("fit_soft_targets", "distill_one_epoch", "evaluate_accuracy")


def train_fn(source: str, name: str):
    ns = {"torch": torch, "F": F, "kd": kd, "nn": torch.nn}
    exec(source, ns)
    return ns[name]


@pytest.mark.parametrize("student", ["solution", "alt"])
def test_correct_training_functions_pass(student):
    sub = next(s for s in cat.TRAINING if s.student == student)
    for name in TRAINING_FUNCTIONS:
        fn = train_fn(sub.cells.get(name, reference_cells("training")[name]), name)
        for part in G.PARTS[name]:
            assert run(name, fn, part) is None, (student, name, part)


@pytest.mark.parametrize("student", ["bug_a", "bug_b", "bug_c"])
def test_training_mistakes_are_diagnosed(student):
    sub = next(s for s in cat.TRAINING if s.student == student)
    messages = []
    for test_id in sub.lose:
        if test_id == "test_final_student":
            continue  # the final task needs the notebook's teacher: test_final_task_points_at_a_failing_distill_one_epoch
        name = next(n for n in TRAINING_FUNCTIONS if test_id.startswith(f"test_{n}_"))
        part = test_id.removeprefix(f"test_{name}_")
        fn = train_fn(sub.cells[name], name)
        msg = run(name, fn, part)
        assert msg is not None, (student, test_id)
        messages.append(msg)
    for word in sub.words:
        if word != "fix distill_one_epoch first":
            assert any(word in m for m in messages), (word, messages)


def test_training_diagnoses_from_the_issue():
    grads = train_fn(cat.distill_loop(no_grad=False), "distill_one_epoch")
    assert run("distill_one_epoch", grads, "teacher") == \
        "teacher received gradients: wrap its forward pass in torch.no_grad()"
    train_mode = train_fn(cat.distill_loop(teacher_eval=False), "distill_one_epoch")
    assert "teacher was in training mode" in run("distill_one_epoch", train_mode, "teacher")
    assert "call teacher.eval()" in run("distill_one_epoch", train_mode, "teacher")
    assert "call teacher.eval()" in run("distill_one_epoch", train_mode, "loss")
    no_eval = train_fn(cat.accuracy_fn(eval_mode=False), "evaluate_accuracy")
    assert "call model.eval()" in run("evaluate_accuracy", no_eval, "value")


@pytest.fixture(scope="module")
def final_task():
    """The notebook's teacher (its locked cell, executed) and the model answer's functions."""
    import nbformat

    nb = nbformat.read(cat.ROOT / "solutions" / "training" / "training.ipynb", as_version=4)
    ns = {"torch": torch, "F": F, "kd": kd, "nn": torch.nn}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the notebook does: tiny networks, and far steadier on a busy 2-core CPU
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "final_teacher":
            exec(cell.source, ns)
    exec(reference_cells("training")["distill_one_epoch"], ns)
    yield ns
    torch.set_num_threads(threads)


def run_final(ns, final_source, doe_source=None, epochs=None):
    """None when the final task passes with these cells, else the AssertionError's message."""
    ns = dict(ns)
    if doe_source is not None:
        exec(doe_source, ns)
    exec(final_source, ns)
    try:
        G.check_final_student(ns["distil_student"], ns["distill_one_epoch"], ns["teacher"],
                              ns["EPOCHS"] if epochs is None else epochs)
    except AssertionError as e:
        return str(e)
    return None


def test_final_task_passes_with_the_model_answer_and_says_how(final_task, capsys):
    assert run_final(final_task, reference_cells("training")["final_student"]) is None
    out = capsys.readouterr().out
    assert "test accuracy" in out and f"(target {G.FINAL_ACCURACY})" in out, out


def test_final_task_needs_distillation(final_task):
    """Labels alone lose the points, with the reason; so do kdutils' own training loops."""
    msg = run_final(final_task, cat.FINAL_LABELS_ONLY)
    assert msg.startswith("distil_student never called your distill_one_epoch (test accuracy 0."), msg
    acc = float(msg.split("test accuracy ")[1].split(")")[0])
    assert acc < G.FINAL_ACCURACY and "100 labels alone" in msg
    assert "kd.train.train_distillation" in run_final(final_task, cat.FINAL_KD_TRAIN)
    supervised = cat.FINAL_KD_TRAIN.replace("train_distillation(student, teacher, loader, T=4.0, alpha=0.9,",
                                            "train_supervised(student, loader,")
    assert "kd.train.train_supervised" in run_final(final_task, supervised)


def test_final_task_checks_the_loop_and_the_budget(final_task):
    answer = reference_cells("training")["final_student"]
    once = answer.replace("    for _ in range(epochs):\n        distill_one_epoch", "    for _ in range(1):\n        distill_one_epoch")
    assert once != answer
    assert "called your distill_one_epoch 1 times for epochs=60: call it once per epoch" in run_final(final_task, once)
    assert "within" in run_final(final_task, answer, epochs=G.FINAL_MAX_EPOCHS + 1)
    wide = answer.replace("hidden=32", "hidden=64")
    assert "at most 32" in run_final(final_task, wide)
    short = answer.replace("EPOCHS = 60", "EPOCHS = 2")
    assert "below the target" in run_final(final_task, short)


def test_final_task_points_at_a_failing_distill_one_epoch(final_task):
    msg = run_final(final_task, reference_cells("training")["final_student"], doe_source=cat.distill_loop(zero_grad=False))
    assert msg.startswith("fix distill_one_epoch first: its 'loss' check fails:"), msg
    assert "zero_grad" in msg


# ------------------------------------------------------------------------- registry and messages
def test_import_kdutils_does_not_load_the_grader():
    import subprocess
    import sys

    code = "import sys, kdutils as kd; assert 'kdutils.grading' not in sys.modules; kd.grading; print(sys.modules['kdutils.grading'].__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "kdutils.grading"


def test_nbgraders_late_penalty_plugin_does_not_import_torch():
    """Every `nbgrader autograde` imports kdutils.course.late (the course's LatePenalty); torch would add ~1.5 s."""
    import subprocess
    import sys

    code = "import sys, kdutils.course.late; print(sorted({'torch', 'kdutils.grading'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    # and the package's functions are not shadowed by their submodules, whatever was imported first
    code = ("import kdutils.course.generate, kdutils.course.demo; from kdutils import course; "
            "print(callable(course.generate), callable(course.grade_demo))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True True"


def test_every_check_comes_from_the_registry():
    assert set(G.PARTS) | {"final_student"} == set(G.CHECKS)
    for name, check in G.CHECKS.items():
        public = getattr(G, f"check_{name}")
        assert public.__doc__ == check.doc and check.default_part in check.parts
    assert LOSS_FUNCTIONS == ("softmax_with_temperature", "soft_cross_entropy", "kd_kl_loss", "distillation_loss")


def test_every_message_id_is_defined_and_every_message_is_used():
    """One source of wording: the ids the grader names are exactly the keys of MESSAGES."""
    import inspect
    import re

    source = "\n".join(inspect.getsource(m) for m in (G.judge, G.kernel, G.mistakes, G.checks, G.worker, G.keys))
    used = set(re.findall(r'"((?:[a-z_]+)\.[A-Za-z0-9_.]+)"', source)) | {"ok"}
    used |= {f"loop.{v}" for v in G.mistakes.LOOP_VARIANTS}
    used |= {id for c in G.CHECKS.values() for id, _ in c.variants()}
    used = {u for u in used if not u.endswith(".py") and not u.startswith("kdutils.")}
    assert used - set(G.messages.MESSAGES) == set()
    assert set(G.messages.MESSAGES) - used == set()


def test_messages_can_be_translated_by_id():
    say = G.messages.say
    assert say("kd.no_T2", T2=16.0) == "off by exactly T² = 16: multiply the KL term by T**2"
    assert say("kd.no_T2", lang="zh", T2=16.0) == "正好差了 T² = 16 倍：KL 项要乘以 T**2"
    with pytest.raises(ValueError, match="lang='xx'"):  # an unknown language is an error, not English
        say("kd.no_T2", lang="xx", T2=4.0)


def test_a_verdict_names_its_mistake_id():
    """The worker's verdict carries the id of the mistake, for tools that translate or count diagnoses."""
    bad = define(cat.fn("kd_kl_loss", cat.KD_ARGS, cat.LOSSES_BUGS["kd_no_T2"][1]), "kd_kl_loss")
    request = {"check": "kd_kl_loss", "part": "temperature", "hidden": False}
    results = []
    for case in G.worker.answer({"op": "cases", **request})["cases"]:
        out = bad(*[G.protocol.decode(a) for a in case["args"]])
        results.append({"value": out.tolist(), "shape": list(out.shape)})
    v = G.worker.answer({"op": "judge", **request, "results": results})
    assert v["ok"] is False and v["mistake"] == "kd.no_T2" and v["message"].startswith("off by exactly T² = 16")


# ----- issue 15: visible checks catch every class of bug the hidden ones do; messages that tell the truth -----
def _catches(name, variant, part, hidden) -> bool:
    """Whether ``variant`` gives a value that differs from the reference (or is not finite) on some case."""
    check = G.CHECKS[name]
    ref = getattr(kd.losses, name)
    for c in check.cases(name, part, hidden):
        args = [G.protocol.decode(a) for a in c["args"]]
        try:
            got, want = variant(*args), ref(*args)
        except Exception:
            return True
        if got.shape != want.shape or not torch.isfinite(got).all() or not torch.allclose(got, want, rtol=1e-3, atol=1e-4):
            return True
    return False


def _global_max_softmax(z, T=1.0):
    z = z / T
    e = torch.exp(z - z.max())
    return e / e.sum(dim=-1, keepdim=True)


@pytest.mark.parametrize("name", LOSS_FUNCTIONS)
def test_every_mistake_a_hidden_case_catches_a_visible_case_catches(name):
    """Rule of issue 15: hidden tests differ in values, not in what they check (known mistakes, per part)."""
    variants = list(G.CHECKS[name].variants())
    if name == "softmax_with_temperature":
        variants.append(("softmax.global_max", _global_max_softmax))
    for id, variant in variants:
        hidden = [part for part in G.PARTS[name] if _catches(name, variant, part, hidden=G.HIDDEN)]
        if hidden:  # some visible test cell of the same function fails too, before the student submits
            assert any(_catches(name, variant, part, hidden=False) for part in G.PARTS[name]), (name, id, hidden)


def test_whole_tensor_max_softmax_fails_the_visible_stable_test():
    msg = run("softmax_with_temperature", _global_max_softmax, "stable", hidden=False)
    assert msg and msg.startswith("not finite for extreme logits") and "each row's maximum" in msg[:70]


def test_swapped_xlogy_is_told_the_arguments_are_swapped_not_to_use_xlogy():
    def swapped(q, p):
        return -torch.xlogy(q, p).sum(-1).mean()

    msg = run("soft_cross_entropy", swapped, "zeros", hidden=False)
    assert msg.startswith("xlogy arguments swapped: use torch.xlogy(teacher_probs, student_probs)"), msg
    assert "0 * log(0)" not in msg


def test_cross_entropy_of_log_probabilities_is_told_it_normalises_twice():
    def twice(q, p):
        return F.cross_entropy(torch.log(q), p)

    assert run("soft_cross_entropy", twice, "example") is None  # the value is right...
    msg = run("soft_cross_entropy", twice, "gradient")  # ...its gradient is not
    assert msg.startswith("F.cross_entropy(log q, p) normalises a second time"), msg
    assert "detached" not in msg


@pytest.mark.parametrize("name", ["soft_cross_entropy", "kd_kl_loss", "distillation_loss"])
def test_a_constant_is_told_it_does_not_depend_on_its_inputs(name):
    def constant(*args):
        return torch.tensor(0.7593)

    for part in G.PARTS[name]:
        msg = run(name, constant, part, hidden=G.HIDDEN)
        assert msg.startswith(f"{name} does not depend on its inputs: it returns 0.7593 for every input"), (part, msg)
        assert "times the expected one" not in msg


def test_distillation_loss_on_a_broken_kd_kl_loss_says_fix_kd_kl_loss_first():
    bad_kd = cat.fn("kd_kl_loss", cat.KD_ARGS, cat.LOSSES_BUGS["kd_no_T2"][1])
    good_dl = reference_cells("losses")["distillation_loss"]
    ns = {"torch": torch, "F": F, "math": math, "kd": kd}
    exec(bad_kd, ns)
    exec(good_dl, ns)
    for part in G.PARTS["distillation_loss"]:
        msg = run("distillation_loss", ns["distillation_loss"], part, hidden=G.HIDDEN)
        assert msg.startswith(cat.DL_ON_BROKEN_KD + ": off by exactly T² = 16"), (part, msg)
    # A wrong distillation_loss on a correct kd_kl_loss is diagnosed by itself, not blamed on kd_kl_loss.
    exec(reference_cells("losses")["kd_kl_loss"], ns)
    exec(cat.fn("distillation_loss", cat.DL_ARGS, "return (1 - alpha) * kd_kl_loss(student_logits, teacher_logits, T)"
                " + alpha * F.cross_entropy(student_logits, labels)"), ns)
    assert run("distillation_loss", ns["distillation_loss"], "alpha").startswith("alpha swapped")


def test_every_loss_diagnosis_comes_first_within_90_characters():
    """nbgrader validate cuts its lines at 90 characters, "    AssertionError: " included, so a student sees
    the first 70 characters of a message: the diagnosis must come there, before the example."""
    for bug, (name, body, words) in cat.LOSSES_BUGS.items():
        fn = define(cat.fn(name, cat.ARGS[name], body), name)
        msg = run(name, fn, cat.FIRST_FAILING[bug].removeprefix(f"test_{name}_"))
        assert words in msg[:70] and not msg.startswith(f"{name}("), (bug, msg)
    def off(s, t, T):
        return 1.7 * T * T * F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean")

    ratio = run("kd_kl_loss", off, "example")
    assert ratio.startswith("your value is 1.7 times the expected one. Example: kd_kl_loss("), ratio


def test_fit_soft_targets_must_return_python_floats():
    src = cat.fit_fn("torch.optim.SGD(student.parameters(), lr=lr)",
                     "F.kl_div(q.log(), teacher_probs, reduction='batchmean')", record="loss.detach()")
    fit = define(src, "fit_soft_targets")
    assert "not Python floats" in run("fit_soft_targets", fit, "losses")
    assert run("fit_soft_targets", fit, "fit") is None
