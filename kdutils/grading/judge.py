"""Judging: compare a student's results with the reference, and word the verdict (the mistake's name if known).

Runs in the grading worker only; one ``_judge_*`` per check of the ``losses`` and
``training`` assignments (book chapter "For instructors").
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .cases import _cases, _dec, _seeded_state, _setup
from .mistakes import _LOOP_VARIANTS, _distill_reference, _variants


def _close(a, b, rtol=1e-3, atol=1e-4) -> bool:
    """Nested lists (or numbers) equal within tolerance; NaN never matches."""
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(_close(x, y, rtol, atol) for x, y in zip(a, b))
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or isinstance(a, bool):
        return False
    if math.isnan(a) or math.isnan(b):
        return False
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


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


def _judge_loss(check: str, part: str, hidden: bool, results: list[dict]) -> dict:
    cases = _cases(check, part, hidden)
    ref, variants = _variants(check)
    name = check
    # 1. The reference may not be called from an answer in the losses assignment.
    for res in results:
        if res.get("reference_calls"):
            calls = ", ".join(f"kdutils.losses.{c}" for c in res["reference_calls"] if not c.startswith("_"))
            calls = calls or "kdutils.losses"
            return {"ok": False, "message": (
                f"{name} calls the reference implementation ({calls}). This exercise asks you to write "
                f"{name} yourself with PyTorch operations, so calling kdutils' reference earns no points for it.")}
    # 2. Errors and types.
    for case, res in zip(cases, results):
        args = [_dec(a) for a in case["args"]]
        if "error" in res:
            return {"ok": False, "message": f"{_describe_case(name, args)} {res['error']}"}
    # 3. Values (and gradients) against the reference; on a mismatch, look for a known mistake.
    failures = []
    for case, res in zip(cases, results):
        args = [_dec(a) for a in case["args"]]
        gi, w = case.get("grad"), _dec(case["weight"]) if "weight" in case else None
        expected, eg = _eval_variant(ref, args, gi, w)
        got = res["value"]
        exp_shape = list(torch.tensor(expected).shape) if isinstance(expected, list) else []
        if res["shape"] != exp_shape:
            hint = " (a loss must be a single number: average over the batch)" if exp_shape == [] else ""
            return {"ok": False, "message": f"{_describe_case(name, args)} returned shape {tuple(res['shape'])}, "
                                            f"expected {tuple(exp_shape)}{hint}"}
        if not _finite(got) and _finite(expected):
            if part == "stable" or any(abs(v) >= 1000 for v in _flat(args[0].tolist())):
                how = ("use torch.softmax, or subtract each row's maximum before exp()" if check == "softmax_with_temperature"
                       else "use F.log_softmax instead of log(softmax(...)), which overflows or gives log(0)")
                return {"ok": False, "message": f"not finite for extreme logits: {_describe_case(name, args)} "
                                                f"gave {_fmt(got)}; {how}"}
            if check == "soft_cross_entropy":
                return {"ok": False, "message": (
                    f"{_describe_case(name, args)} gave {_fmt(got)}: 0 * log(0) is NaN in floating point. "
                    "A term with teacher p = 0 must count as 0 (mask it with torch.where, or use torch.xlogy)")}
        if not _close(got, expected):
            failures.append((case, args, got, expected, "value"))
            continue
        if gi is not None:
            if res.get("grad") is None:
                return {"ok": False, "message": (
                    f"no gradient reaches the input of {_describe_case(name, args)}: don't call .detach(), .item(), "
                    ".numpy() or torch.tensor(...) on intermediate results; keep everything a torch operation")}
            if not _finite(res["grad"]) and _finite(eg):
                return {"ok": False, "message": (
                    f"the gradient of {_describe_case(name, args)} is not finite ({_fmt(res['grad'])}); "
                    "compute log-probabilities with F.log_softmax, not log(softmax(...))")}
            if not _close(res["grad"], eg):
                failures.append((case, args, res["grad"], eg, "gradient"))
    if not failures:
        return {"ok": True, "message": "ok"}
    # Known mistakes: a variant that reproduces every value the student returned.
    for message, variant in variants:
        ok = True
        for case, res in zip(cases, results):
            args = [_dec(a) for a in case["args"]]
            v, _ = _eval_variant(variant, args, None, None)
            if v is None or not _close(res["value"], v):
                ok = False
                break
        if ok:
            case, args, got, expected, kind = failures[0]
            T = next((a for a in args[2:] if isinstance(a, float)), None) if check != "softmax_with_temperature" else args[1]
            s = args[0]
            msg = message.format(T=T or 1.0, T2=(T or 1.0) ** 2, C=s.shape[-1], N=s.shape[0] if s.dim() > 1 else 1)
            return {"ok": False, "message": f"{msg}. Example: {_describe_case(name, args)} returned {_fmt(got)}, expected {_fmt(expected)}."}
    case, args, got, expected, kind = failures[0]
    extra = ""
    if kind == "value" and isinstance(got, (int, float)) and isinstance(expected, (int, float)):
        if got < -1e-6 and expected >= 0:
            extra = (" The loss is negative, which a cross-entropy or KL divergence never is"
                     + ("; F.kl_div expects log-probabilities as its first argument" if check in ("kd_kl_loss", "distillation_loss") else "")
                     + ".")
        elif expected != 0 and got != 0:
            ratio = got / expected
            extra = f" Your value is {ratio:.4g} times the expected one."
            T = args[2] if check == "kd_kl_loss" else None
            s = args[0]
            known = []
            if T is not None and T != 1:
                known += [(1 / T**2, f"off by exactly T² = {T**2:g}: multiply the KL term by T**2"),
                          (1 / T, f"off by a factor of T = {T:g}: the KL term is scaled by T**2")]
            if s.dim() > 1:
                known += [(1 / s.shape[-1], f"off by a factor of C = {s.shape[-1]}: use reduction='batchmean', not 'mean'"),
                          (float(s.shape[0]), f"off by a factor of N = {s.shape[0]}: average over the batch, don't sum")]
            else:
                known += [(1 / s.shape[-1], f"off by a factor of C = {s.shape[-1]} on a 1-D input: treat (C,) as a batch of one")]
            for r, msg in known:
                if r != 1 and abs(ratio - r) <= 1e-3 * abs(r):
                    extra = f" {msg[0].upper()}{msg[1:]}."
                    break
    if kind == "gradient":
        extra = " The value is right but the gradient is not: check for detached or constant terms."
    return {"ok": False, "message": (
        f"{_describe_case(name, args)} returned {_fmt(got)} as its {kind}, expected {_fmt(expected)}.{extra}")}


def _judge_distill(part: str, hidden: bool, res: dict) -> dict:
    setup = _setup("distill_one_epoch", part, hidden)
    nb = (len(_dec(setup["y"])) + setup["batch_size"] - 1) // setup["batch_size"]
    if "error" in res:
        return {"ok": False, "message": f"distill_one_epoch {res['error']}"}
    if part == "teacher":
        if not res["teacher"]:
            return {"ok": False, "message": "the teacher was never called: compute its logits for every batch"}
        if any(training for training, _ in res["teacher"]):
            return {"ok": False, "message": "teacher was in training mode (dropout active): call teacher.eval() before the loop"}
        if any(grad for _, grad in res["teacher"]):
            msg = "the teacher's forward pass ran with gradients enabled: wrap it in torch.no_grad()"
            if any(g is not None for g in res["teacher_grads"]):
                msg = "teacher received gradients: wrap its forward pass in torch.no_grad()"
            return {"ok": False, "message": msg}
        if not _close(res["teacher_weights"], setup["teacher_state"], rtol=0, atol=0):
            return {"ok": False, "message": "the teacher's weights changed: only the student's parameters may be updated"}
        return {"ok": True, "message": "ok"}
    if part == "student_mode":
        if not res["student"]:
            return {"ok": False, "message": "the student was never called"}
        if not all(res["student"]):
            return {"ok": False, "message": "student was in eval mode during training: call student.train() before the loop"}
        return {"ok": True, "message": "ok"}
    ref_losses, ref_w = _distill_reference(setup)
    if part == "steps":
        if res["steps"] != nb:
            return {"ok": False, "message": f"optimizer.step() ran {res['steps']} times for {nb} batches: call it once per batch"}
        if res["backward"] != nb:
            return {"ok": False, "message": f"loss.backward() ran {res['backward']} times for {nb} batches: call it once per batch"}
        if not _close(res["student_weights"], ref_w):
            _, w = _distill_reference(setup, "no_zero_grad")
            if _close(res["student_weights"], w):
                return {"ok": False, "message": _LOOP_VARIANTS[0][1]}
            if _close(res["student_weights"], setup["student_state"], rtol=0, atol=0):
                return {"ok": False, "message": "the student's weights did not change: call optimizer.zero_grad(), "
                                                "loss.backward(), optimizer.step() in that order"}
        return {"ok": True, "message": "ok"}
    # part == "loss": the returned mean batch loss and the trained weights match the reference epoch.
    if not _close(res["student_weights"], ref_w):
        for variant, message in _LOOP_VARIANTS:
            _, w = _distill_reference(setup, variant)
            if _close(res["student_weights"], w):
                return {"ok": False, "message": f"the student's weights after one epoch differ from the reference: {message}"}
        if _close(res["student_weights"], setup["student_state"], rtol=0, atol=0):
            return {"ok": False, "message": "the student's weights did not change: call optimizer.step() for every batch"}
        if any(training for training, _ in res["teacher"]):
            return {"ok": False, "message": "the student's weights after one epoch differ from the reference epoch because "
                                            "the teacher was in training mode (dropout active): call teacher.eval()"}
        if res["student"] and not all(res["student"]):
            return {"ok": False, "message": "the student's weights after one epoch differ from the reference epoch; "
                                            "the student was in eval mode: call student.train()"}
        return {"ok": False, "message": "the student's weights after one epoch differ from the reference epoch: use "
                                        "kd.losses.distillation_loss(student_logits, teacher_logits, labels, T, alpha), "
                                        "zero_grad, backward and step once per batch, and the teacher in eval mode"}
    mean = sum(ref_losses) / len(ref_losses)
    if "loss" not in res:
        if "loss_tensor" in res and _close(res["loss_tensor"], mean):
            return {"ok": False, "message": "returned a tensor; return the mean batch loss as a Python float (use loss.item())"}
        return {"ok": False, "message": f"returned a {res.get('loss_type')}; return the mean batch loss as a Python float"}
    got = res["loss"]
    if _close(got, mean):
        return {"ok": True, "message": "ok"}
    if _close(got, ref_losses[-1]):
        return {"ok": False, "message": "returned the last batch's loss; return the mean over all batches"}
    if _close(got, sum(ref_losses)):
        return {"ok": False, "message": f"returned the sum of the batch losses; divide by the number of batches ({nb})"}
    return {"ok": False, "message": f"returned {got:.6g}, expected the mean batch loss {mean:.6g}"}


def _judge_accuracy(part: str, hidden: bool, res: dict) -> dict:
    setup = _setup("evaluate_accuracy", part, hidden)
    if "error" in res:
        return {"ok": False, "message": f"evaluate_accuracy {res['error']}"}
    if part == "mode":
        if not res["forward"]:
            return {"ok": False, "message": "the model was never called"}
        if any(tr for tr, _ in res["forward"]):
            return {"ok": False, "message": "model was in training mode (dropout active): call model.eval() first"}
        if any(g for _, g in res["forward"]):
            return {"ok": False, "message": "gradients were tracked during evaluation: wrap the loop in torch.no_grad()"}
        return {"ok": True, "message": "ok"}
    m, _ = _seeded_state(setup["model_spec"], 0)
    with torch.no_grad():
        for p, v in zip(m.parameters(), setup["model_state"]):
            p.copy_(torch.tensor(v))
        m.eval()
        X, y = _dec(setup["X"]), _dec(setup["y"])
        correct = (m(X).argmax(-1) == y)
    acc = correct.float().mean().item()
    bs = setup["batch_size"]
    per_batch = [correct[i:i + bs].float().mean().item() for i in range(0, len(y), bs)]
    if "value" not in res:
        if "value_tensor" in res and _close(res["value_tensor"], acc):
            return {"ok": False, "message": "returned a tensor; return a Python float (use .item() or float(...))"}
        return {"ok": False, "message": f"returned a {res.get('value_type')}; return the accuracy as a Python float in [0, 1]"}
    got = res["value"]
    if _close(got, acc, rtol=0, atol=1e-6):
        return {"ok": True, "message": "ok"}
    if _close(got, 100 * acc, rtol=0, atol=1e-4):
        return {"ok": False, "message": f"returned a percentage ({got:g}); return a fraction in [0, 1]"}
    if _close(got, float(correct.sum().item()), rtol=0, atol=1e-6):
        return {"ok": False, "message": f"returned the number of correct predictions ({got:g}); divide by the number of examples"}
    if _close(got, sum(per_batch) / len(per_batch), rtol=0, atol=1e-6):
        return {"ok": False, "message": "averaged the per-batch accuracies, but the last batch is smaller: "
                                        "count the correct predictions over all batches and divide by the total"}
    why = ""
    if any(tr for tr, _ in res["forward"]):
        why = ": the model was in training mode (dropout active), call model.eval() first"
    return {"ok": False, "message": f"returned {got:.6g}, expected the accuracy {acc:.6g}{why}"}


def _judge_fit(part: str, hidden: bool, res: dict) -> dict:
    setup = _setup("fit_soft_targets", part, hidden)
    steps = setup["steps"]
    if "error" in res:
        return {"ok": False, "message": f"fit_soft_targets {res['error']}"}
    if part == "losses":
        if "losses" not in res:
            return {"ok": False, "message": f"returned a {res.get('losses_type')}; return the list of per-step loss values"}
        vals = res["losses"]
        if len(vals) != steps:
            return {"ok": False, "message": f"returned {len(vals)} loss values for steps={steps}: record one per step"}
        if any(v is None for v in vals):
            return {"ok": False, "message": "the list must hold numbers (use loss.item())"}
        if not _finite(vals):
            return {"ok": False, "message": "the loss became NaN or infinite: check the loss and the learning rate"}
        if not vals[-1] < vals[0] - 1e-3:
            return {"ok": False, "message": (
                f"the loss does not go down (first {vals[0]:.4g}, last {vals[-1]:.4g}): the target must be teacher_probs, "
                "not something computed from the student's own output, which leaves it nothing to learn")}
        return {"ok": True, "message": "ok"}
    # part == "fit": the module itself now predicts teacher_probs.
    spec = setup["student_spec"]
    m, _ = _seeded_state(spec, 0)
    X, P = _dec(setup["inputs"]), _dec(setup["teacher_probs"])
    with torch.no_grad():
        for p, v in zip(m.parameters(), res["weights"]):
            p.copy_(torch.tensor(v))
        q = torch.softmax(m(X), -1)
    err = (q - P).abs().max().item()
    if not math.isfinite(err):
        return {"ok": False, "message": "the trained student outputs NaN: the loss diverged"}
    if err <= 0.05:
        return {"ok": True, "message": "ok"}
    if _close(res["weights"], setup["student_state"], rtol=0, atol=0):
        return {"ok": False, "message": ("the module passed in did not change: train it in place (optimizer over "
                                         "student.parameters(), then loss.backward() and optimizer.step())")}
    sharp = q.max(-1).values.mean().item()
    if sharp > 0.95:
        return {"ok": False, "message": (
            f"the student's predictions are nearly one-hot (mean top probability {sharp:.3f}) while the targets are "
            "soft: a hard-label loss (cross-entropy on class indices, like the source article's sparse loss) drives the "
            "output to one-hot; minimise a soft-target loss against the full teacher_probs")}
    return {"ok": False, "message": (
        f"after training, softmax(student(inputs)) is up to {err:.3f} away from teacher_probs (allowed 0.05): "
        "minimise a soft-target loss such as KL(teacher_probs || softmax(student(inputs)))")}

