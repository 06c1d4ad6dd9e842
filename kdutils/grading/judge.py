"""Judging: compare a student's results with the reference, and name the mistake where it is known.

Runs in the grading worker only; one ``judge_*`` per kind of check of the ``losses`` and
``training`` assignments (book chapter "For instructors"). A verdict is
``{"ok": bool, "message": str, "mistake": id}``: ``id`` keys ``messages.MESSAGES``.
"""
from __future__ import annotations

import math

import torch

from .cases import final_transfer_set
from .messages import say
from .mistakes import FIT_VARIANTS, LOOP_VARIANTS, distill_reference, fit_reference
from .protocol import build, decode, hint_values
from .reference import load_reference
from .rules import FINAL_ACCURACY, FINAL_MAX_EPOCHS, FINAL_MAX_HIDDEN

__all__ = ["verdict", "judge_loss", "judge_distill", "judge_accuracy", "judge_fit", "judge_final"]


def verdict(id: str, ok: bool = False, **values) -> dict:
    """The reply for mistake ``id`` (``"ok"`` for a pass), its message filled with ``values``."""
    return {"ok": ok, "message": say(id, **values), "mistake": id}


OK = {"ok": True, "message": "ok", "mistake": "ok"}


def close(a, b, rtol=1e-3, atol=1e-4) -> bool:
    """Nested lists (or numbers) equal within tolerance; NaN never matches."""
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(close(x, y, rtol, atol) for x, y in zip(a, b))
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or isinstance(a, bool):
        return False
    if math.isnan(a) or math.isnan(b):
        return False
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def _same(a, b) -> bool:
    return close(a, b, rtol=0, atol=0)


def _flat(x):
    if isinstance(x, list):
        return [v for e in x for v in _flat(e)]
    return [x]


def _finite(x) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in _flat(x))


def _describe_case(check, args) -> str:
    parts = []
    for a in args:
        if isinstance(a, torch.Tensor):
            parts.append(f"shape {tuple(a.shape)}" if a.dim() != 1 or a.numel() > 4 else f"{[round(v, 4) for v in a.tolist()]}")
        else:
            parts.append(f"{a!r}")
    return f"{check}({', '.join(parts)})"


def _fmt(v) -> str:
    if isinstance(v, list):
        f = _flat(v)
        s = ", ".join(f"{x:.4g}" if isinstance(x, float) else repr(x) for x in f[:6])
        bad = [i for i, x in enumerate(f) if isinstance(x, float) and not math.isfinite(x)]
        if bad and bad[0] >= 6:  # a NaN or inf the first six values would hide: show where it is
            return f"[{s}, ..., " + say("loss.not_finite_at", value=f[bad[0]], i=bad[0], n=len(f), bad=len(bad)) + "]"
        return f"[{s}{', ...' if len(f) > 6 else ''}]"
    return f"{v:.6g}" if isinstance(v, float) else repr(v)


def _eval_variant(f, args, grad_index, weight):
    """Value (and gradient) of a reference or variant function on decoded args, as plain lists."""
    args = [a.clone().requires_grad_(True) if (i == grad_index) else a for i, a in enumerate(args)]
    try:
        with torch.enable_grad(), torch.autograd.set_detect_anomaly(False):
            out = f(*args)
            val = out.detach().tolist()
            g = None
            if grad_index is not None:
                obj = (out * weight).sum() if weight is not None else out.sum()
                (gr,) = torch.autograd.grad(obj, [args[grad_index]], allow_unused=True)
                g = None if gr is None else gr.tolist()
        return val, g
    except Exception:
        return None, None


# ----- loss functions --------------------------------------------------------------------------------
def _known_mistake(check, cases, decoded, results, gradients: bool):
    """The id of the first known mistake that reproduces every value the student returned, or None.

    Non-finite values must be reproduced too (``inf`` matches ``inf``, NaN nothing); with
    ``gradients``, the gradients must also match (a mistake whose value is right, its gradient not).
    """
    for id, variant in check.variants():
        for case, args, res in zip(cases, decoded, results):
            gi = case.get("grad") if gradients else None
            w = decode(case["weight"]) if gi is not None and "weight" in case else None
            v, g = _eval_variant(variant, args, gi, w)
            if v is None or not close(res["value"], v):
                break
            if gi is not None and res.get("grad") is not None and not close(res["grad"], g):
                break
        else:
            return id
    return None


def _constant(results, expected_values) -> bool:
    """The same scalar for every case, where the expected values differ: the function ignores its inputs."""
    got = [res["value"] for res in results]
    return (len(got) > 1 and all(isinstance(v, (int, float)) for v in got) and len(set(got)) == 1
            and any(not close(e, expected_values[0]) for e in expected_values[1:]))


def _ratio_hint(check, args, got, expected) -> str:
    """A phrase naming the factor the value is off by (T², T, C or N), or the plain ratio."""
    hv = hint_values(args, check.temperature_arg)
    known = []
    if check.temperature_ratios and hv["T"] != 1:
        known += [(1 / hv["T2"], "kd.no_T2"), (1 / hv["T"], "ratio.T")]
    if args[0].dim() > 1:
        known += [(1 / hv["C"], "ratio.C"), (float(hv["N"]), "ratio.N")]
    else:
        known += [(1 / hv["C"], "ratio.C_1d")]
    ratio = got / expected
    for r, id in known:
        if r != 1 and abs(ratio - r) <= 1e-3 * abs(r):
            return say(id, **hv)
    return say("loss.mismatch.ratio", ratio=ratio)


def judge_loss(name: str, check, part: str, hidden: bool, results: list[dict]) -> dict:
    """A loss function's verdict: reference calls, errors, shapes, finiteness, values, gradients, known mistakes."""
    cases = check.cases(name, part, hidden)
    ref = getattr(load_reference().losses, name)
    # 1. The reference may not be called from an answer in the losses assignment.
    for res in results:
        if res.get("reference_calls"):
            calls = ", ".join(f"kdutils.losses.{c}" for c in res["reference_calls"] if not c.startswith("_"))
            return verdict("loss.calls_reference", name=name, calls=calls or "kdutils.losses")
    decoded = [[decode(a) for a in case["args"]] for case in cases]
    # 2. Errors and types.
    for args, res in zip(decoded, results):
        if "error" in res:
            return verdict("loss.case_error", name=name, case=_describe_case(name, args), error=res["error"])
    # 3. Values (and gradients) against the reference; on a mismatch, look for a known mistake.
    failures = []
    for case, args, res in zip(cases, decoded, results):
        gi, w = case.get("grad"), decode(case["weight"]) if "weight" in case else None
        expected, eg = _eval_variant(ref, args, gi, w)
        got = res["value"]
        desc = _describe_case(name, args)
        exp_shape = list(torch.tensor(expected).shape) if isinstance(expected, list) else []
        if res["shape"] != exp_shape:
            hint = say("loss.wrong_shape.scalar") if exp_shape == [] else ""
            return verdict("loss.wrong_shape", case=desc, shape=tuple(res["shape"]), expected=tuple(exp_shape), hint=hint)
        if not _finite(got) and _finite(expected):
            if part == "stable" or any(abs(v) >= 1000 for v in _flat(args[0].tolist())):
                return verdict("loss.not_finite", case=desc, got=_fmt(got), how=say(check.not_finite_how))
            if check.nan_hint:
                # A known mistake that gives the same inf (xlogy with its arguments swapped) is named instead.
                id = _known_mistake(check, cases, decoded, results, gradients=False)
                if id is not None:
                    mistake = say(id, **hint_values(args, check.temperature_arg))
                    return {**verdict("loss.known_mistake", mistake=mistake, case=desc, got=_fmt(got),
                                      expected=_fmt(expected)), "mistake": id}
                return verdict(check.nan_hint, case=desc, got=_fmt(got))
        if not close(got, expected):
            failures.append((args, got, expected, "value"))
            continue
        if gi is not None:
            if res.get("grad") is None:
                return verdict("loss.no_gradient", case=desc)
            if not _finite(res["grad"]) and _finite(eg):
                return verdict("loss.gradient_not_finite", case=desc, got=_fmt(res["grad"]))
            if not close(res["grad"], eg):
                failures.append((args, res["grad"], eg, "gradient"))
    if not failures:
        return OK
    args, got, expected, kind = failures[0]
    desc = _describe_case(name, args)
    # Known mistakes: a variant that reproduces every value (and, for a wrong gradient, every gradient).
    id = _known_mistake(check, cases, decoded, results, gradients=kind == "gradient")
    if id is not None:
        mistake = say(id, **hint_values(args, check.temperature_arg))
        return {**verdict("loss.known_mistake", mistake=mistake, case=desc, got=_fmt(got), expected=_fmt(expected)),
                "mistake": id}
    expected_values = [_eval_variant(ref, a, None, None)[0] for a in decoded]
    if _constant(results, expected_values):
        return verdict("loss.constant", name=name, got=_fmt(got), n=len(results), case=desc, expected=_fmt(expected))
    diagnosis = say("loss.mismatch.value", name=name)
    if kind == "value" and isinstance(got, (int, float)) and isinstance(expected, (int, float)):
        if got < -1e-6 and expected >= 0:
            diagnosis = say("loss.mismatch.negative",
                            kl_div=say("loss.mismatch.negative_kl_div") if check.kl_div_hint else "")
        elif expected != 0 and got != 0:
            diagnosis = _ratio_hint(check, args, got, expected)
    if kind == "gradient":
        diagnosis = say("loss.mismatch.gradient")
    named = say("loss.mismatch.kind.gradient") if kind == "gradient" else say("loss.mismatch.kind.value")
    return verdict("loss.mismatch", diagnosis=diagnosis, case=desc, got=_fmt(got), kind=named, expected=_fmt(expected))


def _forward_mistake(log: list, never_called: str, training: str, grad_enabled: str) -> dict | None:
    """From a log of ``[training, grad enabled]`` per forward pass: the first mistake it shows, or None."""
    if not log:
        return verdict(never_called)
    if any(tr for tr, _ in log):
        return verdict(training)
    if any(g for _, g in log):
        return verdict(grad_enabled)
    return None


# ----- distill_one_epoch ----------------------------------------------------------------------------
def _judge_teacher(setup, res):
    got_grads = any(g is not None for g in res["teacher_grads"])
    mistake = _forward_mistake(res["teacher"], "loop.teacher_not_called", "loop.teacher_train_mode",
                               "loop.teacher_got_grads" if got_grads else "loop.teacher_grad_enabled")
    if mistake:
        return mistake
    if not _same(res["teacher_weights"], setup["teacher_state"]):
        return verdict("loop.teacher_changed")
    return OK


def _judge_student_mode(setup, res):
    if not res["student"]:
        return verdict("loop.student_not_called")
    if not all(res["student"]):
        return verdict("loop.student_eval_mode")
    return OK


def _judge_steps(setup, res):
    nb = _batches(setup)
    if res["steps"] == 0 and res["backward"] == nb:
        return verdict("loop.own_optimizer", batches=nb)
    if res["steps"] != nb:
        return verdict("loop.step_count", steps=res["steps"], batches=nb)
    if res["backward"] != nb:
        return verdict("loop.backward_count", backward=res["backward"], batches=nb)
    _, ref_w = distill_reference(setup)
    if not close(res["student_weights"], ref_w):
        _, w = distill_reference(setup, "no_zero_grad")
        if close(res["student_weights"], w):
            return verdict("loop.no_zero_grad")
        if _same(res["student_weights"], setup["student_state"]):
            return verdict("loop.weights_unchanged_order")
    return OK


def _judge_epoch_loss(setup, res):
    """The returned mean batch loss and the trained weights match the reference epoch."""
    ref_losses, ref_w = distill_reference(setup)
    if not close(res["student_weights"], ref_w):
        if res.get("steps") == 0 and res.get("backward"):
            return verdict("loop.own_optimizer", batches=_batches(setup))
        for variant in LOOP_VARIANTS:
            _, w = distill_reference(setup, variant)
            if close(res["student_weights"], w):
                return {**verdict("loop.weights_known_mistake", mistake=say(f"loop.{variant}")), "mistake": f"loop.{variant}"}
        if _same(res["student_weights"], setup["student_state"]):
            return verdict("loop.weights_unchanged")
        if any(training for training, _ in res["teacher"]):
            return verdict("loop.weights_teacher_train")
        if res["student"] and not all(res["student"]):
            return verdict("loop.weights_student_eval")
        return verdict("loop.weights_differ")
    mean = sum(ref_losses) / len(ref_losses)
    if "loss" not in res:
        if "loss_tensor" in res and close(res["loss_tensor"], mean):
            return verdict("loop.returned_tensor")
        return verdict("loop.returned_type", type=res.get("loss_type"))
    got = res["loss"]
    if close(got, mean):
        return OK
    if close(got, ref_losses[-1]):
        return verdict("loop.last_batch")
    if close(got, sum(ref_losses)):
        return verdict("loop.sum", batches=_batches(setup))
    return verdict("loop.wrong_mean", got=got, expected=mean)


def _batches(setup) -> int:
    return (len(decode(setup["y"])) + setup["batch_size"] - 1) // setup["batch_size"]


_DISTILL_PARTS = {"teacher": _judge_teacher, "student_mode": _judge_student_mode, "steps": _judge_steps,
                  "loss": _judge_epoch_loss}


def judge_distill(name: str, check, part: str, hidden: bool, res: dict) -> dict:
    if "error" in res:
        return verdict("loop.error", error=res["error"])
    return _DISTILL_PARTS[part](check.cases(name, part, hidden), res)


# ----- evaluate_accuracy ----------------------------------------------------------------------------
def _judge_accuracy_mode(setup, res):
    return _forward_mistake(res["forward"], "acc.not_called", "acc.train_mode", "acc.grad_enabled") or OK


def _judge_accuracy_value(setup, res):
    m = build(setup["model_spec"], setup["model_state"], seed=0)
    with torch.no_grad():
        m.eval()
        X, y = decode(setup["X"]), decode(setup["y"])
        correct = (m(X).argmax(-1) == y)
    acc = correct.float().mean().item()
    bs = setup["batch_size"]
    per_batch = [correct[i:i + bs].float().mean().item() for i in range(0, len(y), bs)]
    if "value" not in res:
        if "value_tensor" in res and close(res["value_tensor"], acc):
            return verdict("acc.returned_tensor")
        return verdict("acc.returned_type", type=res.get("value_type"))
    got = res["value"]
    if close(got, acc, rtol=0, atol=1e-6):
        return OK
    if close(got, 100 * acc, rtol=0, atol=1e-4):
        return verdict("acc.percentage", got=got)
    if close(got, float(correct.sum().item()), rtol=0, atol=1e-6):
        return verdict("acc.count", got=got)
    if close(got, sum(per_batch) / len(per_batch), rtol=0, atol=1e-6):
        return verdict("acc.batch_mean")
    why = say("acc.wrong.train_mode") if any(tr for tr, _ in res["forward"]) else ""
    return verdict("acc.wrong", got=got, expected=acc, why=why)


_ACCURACY_PARTS = {"mode": _judge_accuracy_mode, "value": _judge_accuracy_value}


def judge_accuracy(name: str, check, part: str, hidden: bool, res: dict) -> dict:
    if "error" in res:
        return verdict("acc.error", error=res["error"])
    return _ACCURACY_PARTS[part](check.cases(name, part, hidden), res)


# ----- fit_soft_targets -----------------------------------------------------------------------------
def _judge_fit_losses(setup, res):
    steps = setup["steps"]
    if "losses" not in res:
        return verdict("fit.returned_type", type=res.get("losses_type"))
    vals = res["losses"]
    if len(vals) != steps:
        return verdict("fit.length", n=len(vals), steps=steps)
    if any(v is None for v in vals):
        return verdict("fit.not_numbers")
    if res.get("tensors"):
        return verdict("fit.tensors")
    if not _finite(vals):
        return verdict("fit.not_finite")
    if not vals[-1] < vals[0] - 1e-3:
        return verdict("fit.not_decreasing", first=vals[0], last=vals[-1])
    return OK


#: message id of each of mistakes.FIT_VARIANTS
_FIT_MISTAKES = {"no_zero_grad": "fit.no_zero_grad", "kl_div_probs": "fit.kl_div_probs"}


def _judge_fit_weights(setup, res):
    """The module itself now predicts teacher_probs."""
    m = build(setup["student_spec"], res["weights"], seed=0)
    X, P = decode(setup["inputs"]), decode(setup["teacher_probs"])
    with torch.no_grad():
        q = torch.softmax(m(X), -1)
    err = (q - P).abs().max().item()
    if not math.isfinite(err):
        return verdict("fit.nan")
    if err <= 0.05:
        return OK
    if _same(res["weights"], setup["student_state"]):
        return verdict("fit.unchanged")
    for variant in FIT_VARIANTS:  # the hinted loop (SGD at lr) with one known mistake gives these very weights
        if close(res["weights"], fit_reference(setup, variant), rtol=1e-3, atol=1e-4):
            return verdict(_FIT_MISTAKES[variant], err=err)
    sharp = q.max(-1).values.mean().item()
    if sharp > 0.95:
        return verdict("fit.one_hot", sharp=sharp)
    return verdict("fit.far", err=err)


_FIT_PARTS = {"losses": _judge_fit_losses, "fit": _judge_fit_weights}


def judge_fit(name: str, check, part: str, hidden: bool, res: dict) -> dict:
    if "error" in res:
        return verdict("fit.error", error=res["error"])
    return _FIT_PARTS[part](check.cases(name, part, hidden), res)


# ----- the final student ----------------------------------------------------------------------------
#: the data loaders the kernel's spy names (kernel._DATA_LOADERS), as a student calls them
_LOADERS = {'load_splits': 'kd.data.load_splits', 'load_digits': 'sklearn.datasets.load_digits',
            'load_mnist': "kd.data.load_splits('mnist')", 'fetch_openml': 'sklearn.datasets.fetch_openml'}


def judge_final(name: str, check, part: str, hidden: bool, res: dict) -> dict:
    """Verdict on the grader's own run of the student's ``distil_student`` (``kernel.run_final``).

    ``res`` holds the epochs, the trained student's weights (or the error, or the type returned),
    how many times the student's ``distill_one_epoch`` ran and which ``kdutils.train`` loops were
    called. The student is rebuilt here from its weights and measured on the digits test split.
    """
    epochs = res["epochs"]
    if epochs > FINAL_MAX_EPOCHS:
        return verdict("final.epochs", epochs=epochs, max_epochs=FINAL_MAX_EPOCHS)
    if "error" in res:
        return verdict("final.error", error=res["error"])
    if res.get("library"):
        return verdict("final.library_loop", loop=res["library"][0])
    if res.get("foreign_rows"):
        loaded = res.get("loaded") or []
        return verdict("final.other_data", rows=res["foreign_rows"], n=len(final_transfer_set()[1]),
                       loaded=(say("final.other_data.loaded", call=_LOADERS.get(loaded[0], loaded[0])) if loaded else ""))
    if "returned" in res:
        return verdict("final.returned_type", type=res["returned"])
    params = res["params"]
    shapes = [tuple(s) for _, s, _ in params]
    if len(shapes) != 4 or shapes[0][1:] != (64,) or shapes[-2][0] != 10:
        return verdict("final.architecture", shapes=shapes)
    hidden_units = shapes[0][0]
    if hidden_units > FINAL_MAX_HIDDEN:
        return verdict("final.too_wide", hidden=hidden_units, max_hidden=FINAL_MAX_HIDDEN)
    models = load_reference("models")
    splits, X, _ = final_transfer_set()
    m = models.build_model(models.student_config(hidden=hidden_units))
    with torch.no_grad():
        for p, (_, s, v) in zip(m.parameters(), params):
            p.copy_(torch.tensor(v))
        m.eval()
        acc = (m(splits.X_test).argmax(-1) == splits.y_test).float().mean().item()
    calls = res["epoch_calls"]
    if calls == 0:
        return verdict("final.labels_alone", acc=acc, n=len(X), target=FINAL_ACCURACY)
    if calls != epochs:
        return verdict("final.epoch_calls", calls=calls, epochs=epochs)
    if acc < FINAL_ACCURACY:
        return verdict("final.below_target" if epochs < FINAL_MAX_EPOCHS else "final.below_target_at_max",
                       acc=acc, target=FINAL_ACCURACY, epochs=epochs, max_epochs=FINAL_MAX_EPOCHS)
    return verdict("final.ok", ok=True, acc=acc, target=FINAL_ACCURACY, epochs=epochs)
