"""Every diagnosis the grader can give, keyed by a stable mistake id: the one source of the feedback's wording.

``MESSAGES[id]`` is a ``str.format`` template; its fields (``{T:g}``, ``{C}``, ``{call}``, ...) are
filled by ``say(id, **values)``. The ids are what the checks, the known-mistake tables
(``mistakes.py``) and the tests refer to; the wording lives only here. A translation is another
dict with the same ids and fields: ``TRANSLATIONS["zh"]`` is ``messages_zh.MESSAGES_ZH`` (issue 17;
no fallback: tests/test_grading.py fails when an id or a field exists in one language only). The
language is the assignment's: the Chinese releases' locked first cell calls
``kd.grading.prepare(lang="zh")``, which calls ``set_language`` in the kernel and starts the worker
with ``KDUTILS_GRADING_LANG=zh``; ``say(..., lang="zh")`` names it explicitly.
Assignments ``losses`` and ``training``; book chapter "For instructors".
"""
from __future__ import annotations

import os

from .messages_zh import MESSAGES_ZH

__all__ = ["MESSAGES", "TRANSLATIONS", "LANGUAGES", "say", "set_language", "language"]

_SOFTMAX_EXPECTED = "a softmax was applied to inputs that are already probabilities; use them as they are"
_ALPHA_SWAPPED = "alpha swapped: alpha weights the soft (teacher) term and 1 - alpha the hard-label term"
_CE_AT_T = "hard-label cross-entropy computed at temperature T; it must use the raw logits (T = 1)"
_TEACHER_TRAIN = "teacher was in training mode (dropout active): call teacher.eval() before the loop"

MESSAGES: dict[str, str] = {
    # --- any check: what the kernel saw ------------------------------------------------------------
    "result.not_tensor": "returned a {type}, expected a torch.Tensor",
    "result.tensor_subclass": "returned a subclass of torch.Tensor ({type}); return a plain torch.Tensor",
    "result.not_floating": "returned a tensor of dtype {dtype}, expected floating point",
    "result.raised": "raised {error}: {text}",
    "result.raised_bare": "raised {error}",
    "result.not_implemented": ("raised NotImplementedError: not written yet; replace `raise NotImplementedError()` "
                               "with your code"),
    "input.not_function": "{name} must be a function, got {type}",
    "input.not_module": "{name} must be an nn.Module, got {type}",
    "input.bad_epochs": "EPOCHS must be a positive int, got EPOCHS={epochs!r}",
    "input.bad_part": "part must be one of {parts}, got part={part!r}",
    "worker.no_answer": "the grading worker did not answer; re-run the notebook's first code cell (setup)",
    "worker.unknown_check": "unknown check {check!r}",
    "worker.error": "grading error: {error}: {text}",
    "hidden.only_in_grading": ("hidden=True: hidden checks run only in grading, on the cases of the course key that "
                               "the grader writes into the hidden test cells; call the check without hidden= to run "
                               "the visible tests"),
    "hidden.bad_key": ("hidden={value!r}: hidden must be False or a course key (kd.grading.HIDDEN, or 'kdk1-' and "
                       "32 hex digits); hidden checks run only in grading"),
    "kernel.no_exit": "os._exit() is disabled while the notebook is graded",
    "ok": "ok",
    # --- loss functions: generic verdicts ---------------------------------------------------------
    "loss.calls_reference": ("{name} calls the reference implementation ({calls}). This exercise asks you to write "
                             "{name} yourself with PyTorch operations, so calling kdutils' reference earns no points for it."),
    "loss.case_error": "{name} {error}. Example: {case}",
    "loss.wrong_shape": "returned shape {shape}, expected {expected}{hint}. Example: {case}",
    "loss.wrong_shape.scalar": " (a loss must be a single number: average over the batch)",
    "loss.not_finite": "not finite for extreme logits: {how}. Example: {case} gave {got}",
    "loss.not_finite.softmax_how": "subtract each row's maximum before exp(), or use torch.softmax",
    "loss.not_finite.log_how": "use F.log_softmax instead of log(softmax(...)), which overflows or gives log(0)",
    "loss.zero_log_zero": ("0 * log(0) is NaN: a term with teacher p = 0 must count as 0 (use torch.xlogy or "
                           "torch.where). Example: {case} gave {got}"),
    "loss.no_gradient": ("no gradient reaches the input: don't call .detach(), .item(), .numpy() or "
                         "torch.tensor(...) on intermediate results. Example: {case}"),
    "loss.gradient_not_finite": ("the gradient is not finite: compute log-probabilities with F.log_softmax, "
                                 "not log(softmax(...)). Example: {case} gave {got}"),
    "loss.not_finite_at": "{value} at flat index {i} of {n}; {bad} value(s) not finite",
    "loss.known_mistake": "{mistake}. Example: {case} returned {got}, expected {expected}.",
    "loss.constant": ("{name} does not depend on its inputs: it returns {got} for every input ({n} cases). "
                      "Example: {case} returned {got}, expected {expected}."),
    "loss.mismatch": "{diagnosis}. Example: {case} returned {got} as its {kind}, expected {expected}.",
    "loss.mismatch.value": "{name} returns a wrong value",
    "loss.mismatch.negative": "negative loss, which a cross-entropy or KL divergence never is{kl_div}",
    "loss.mismatch.negative_kl_div": "; F.kl_div expects log-probabilities as its first argument",
    "loss.mismatch.ratio": "your value is {ratio:.4g} times the expected one",
    "loss.mismatch.kind.value": "value",
    "loss.mismatch.kind.gradient": "gradient",
    "loss.mismatch.gradient": "the value is right but the gradient is not: check for detached or constant terms",
    # --- loss functions: values off by a known factor (the ratio hints) -----------------------------
    # (a value 1/T² of the expected one is "kd.no_T2", below)
    "ratio.T": "off by a factor of T = {T:g}: the KL term is scaled by T**2",
    "ratio.C": "off by a factor of C = {C}: use reduction='batchmean', not 'mean'",
    "ratio.N": "off by a factor of N = {N}: average over the batch, don't sum",
    "ratio.C_1d": "off by a factor of C = {C} on a 1-D input: treat (C,) as a batch of one",
    # --- softmax_with_temperature: known mistakes -------------------------------------------------
    "softmax.wrong_dim": "softmax over the wrong dimension: normalise each row over the classes, use dim=-1",
    "softmax.times_T": "the logits were multiplied by T; divide them by T (logits / T)",
    "softmax.no_T": "the temperature T is ignored: divide the logits by T before the softmax",
    "softmax.T_squared": "the logits were divided by T² instead of T",
    "softmax.log_softmax": "returned log-probabilities (log_softmax); return probabilities",
    "softmax.not_normalised": "the outputs are not normalised: divide exp(z/T) by its sum over the classes (rows must sum to 1)",
    "softmax.normalised_globally": ("normalised over the whole tensor, not per row: sum over the last dimension only "
                                    "(dim=-1, keepdim=True)"),
    # --- soft_cross_entropy: known mistakes -------------------------------------------------------
    "sce.swapped": ("arguments swapped: the teacher's p weights the log of the student's q, -sum(p * log q), "
                    "and the student comes first: soft_cross_entropy(student_probs, teacher_probs)"),
    "sce.xlogy_swapped": ("xlogy arguments swapped: use torch.xlogy(teacher_probs, student_probs), "
                          "the teacher's p first: -sum(p * log q)"),
    "sce.cross_entropy_of_log": ("F.cross_entropy(log q, p) normalises a second time: it takes log_softmax of its "
                                 "input, which must be logits. Here the inputs are probabilities: use -sum(p * log q)"),
    "sce.negative": "negative loss: missing minus sign, cross-entropy is -sum(p * log q)",
    "sce.log10": "wrong logarithm base (log10): use the natural log, torch.log, which gives nats",
    "sce.log2": "wrong logarithm base (log2): use the natural log, torch.log, which gives nats",
    "sce.batch_sum": "summed over the batch: average over the rows (batch mean), don't sum",
    "sce.mean_over_classes": ("off by a factor of C: you averaged over the rows and over the classes; "
                              "sum over classes, then average over the batch"),
    "sce.kl": ("you computed KL(p || q), which is the cross-entropy minus the teacher's entropy; "
               "the cross-entropy is -sum(p * log q)"),
    "sce.softmax_of_probs": _SOFTMAX_EXPECTED,
    # --- kd_kl_loss: known mistakes ---------------------------------------------------------------
    "kd.no_T2": "off by exactly T² = {T2:g}: multiply the KL term by T**2",
    "kd.times_T": "off by a factor of T = {T:g}: the KL term is scaled by T**2, not T",
    "kd.mean": "off by a factor of C = {C}: use reduction='batchmean', not 'mean' (sum over classes, average over rows)",
    "kd.batch_sum": "summed over the batch (off by N = {N}): use reduction='batchmean'",
    "kd.one_d": ("a 1-D input (C,) is one example: F.kl_div's 'batchmean' divides by input.size(0) = C = {C}; "
                 "treat a 1-D input as a batch of one (unsqueeze(0))"),
    "kd.reversed": "KL direction reversed: the loss is KL(teacher || student), with the teacher's probabilities as the target",
    "kd.T_student_only": "temperature applied to the student's logits only: divide both logits by T",
    "kd.T_teacher_only": "temperature applied to the teacher's logits only: divide both logits by T",
    "kd.no_T": "the temperature is ignored inside the softmax: divide both logits by T",
    "kd.kl_div_probs": "negative loss: F.kl_div expects log-probabilities as its first argument (use log_softmax, not softmax)",
    "kd.kl_div_args": ("F.kl_div expects log-probabilities as its first argument and probabilities as its target "
                       "(or log-probabilities with log_target=True)"),
    "kd.cross_entropy": "you computed the cross-entropy H(p, q) = KL + the teacher's entropy; use the KL divergence",
    "kd.wrong_dim": "softmax over the wrong dimension: use dim=-1 (the classes)",
    # --- distillation_loss: known mistakes --------------------------------------------------------
    "dl.alpha_swapped": _ALPHA_SWAPPED,
    "dl.ce_at_T": _CE_AT_T,
    "dl.ce_times_T2": "hard-label cross-entropy scaled by T²; only the soft term gets T**2",
    "dl.no_T2": "soft term not scaled: off by exactly T² = {T2:g} in the KL term; multiply it by T**2",
    "dl.no_hard": "hard-label term missing: add (1 - alpha) * cross_entropy(student_logits, labels)",
    "dl.no_soft": "soft term missing: add alpha * kd_kl_loss(student_logits, teacher_logits, T)",
    "dl.unweighted": "the terms are not weighted: use alpha * soft + (1 - alpha) * hard",
    "dl.teacher_labels": "the hard term uses the teacher's argmax instead of the true labels",
    "dl.teacher_argmax": ("the soft term is a cross-entropy against the teacher's argmax, a hard label that throws "
                          "away the teacher's soft label; use kd_kl_loss(student_logits, teacher_logits, T), the KL "
                          "between the two softened distributions"),
    "dl.reversed": "KL direction reversed in the soft term: the loss is KL(teacher || student)",
    # --- distill_one_epoch ------------------------------------------------------------------------
    "loop.error": "distill_one_epoch {error}",
    "loop.teacher_not_called": "the teacher was never called: compute its logits for every batch",
    "loop.teacher_train_mode": _TEACHER_TRAIN,
    "loop.teacher_grad_enabled": "the teacher's forward pass ran with gradients enabled: wrap it in torch.no_grad()",
    "loop.teacher_got_grads": "teacher received gradients: wrap its forward pass in torch.no_grad()",
    "loop.teacher_changed": "the teacher's weights changed: only the student's parameters may be updated",
    "loop.student_not_called": "the student was never called",
    "loop.student_eval_mode": "student was in eval mode during training: call student.train() before the loop",
    "loop.step_count": "optimizer.step() ran {steps} times for {batches} batches: call it once per batch",
    "loop.own_optimizer": ("the optimizer you were given never stepped (0 steps for {batches} batches) while "
                           "loss.backward() ran: use the optimizer passed in as `optimizer`, not a new one of your "
                           "own; call optimizer.step() once per batch"),
    "loop.backward_count": "loss.backward() ran {backward} times for {batches} batches: call it once per batch",
    "loop.no_zero_grad": ("gradients accumulate across batches: call optimizer.zero_grad() before loss.backward() "
                          "in every batch"),
    "loop.alpha_swapped": _ALPHA_SWAPPED,
    "loop.ce_at_T": _CE_AT_T,
    "loop.no_T2": "the soft term is missing its T² factor; use kd.losses.distillation_loss",
    "loop.kl_only": "only the soft term is used: the loss is kd.losses.distillation_loss(..., T, alpha), with the labels",
    "loop.ce_only": "only the hard-label cross-entropy is used: the loss is kd.losses.distillation_loss(..., T, alpha)",
    "loop.weights_unchanged_order": ("the student's weights did not change: call optimizer.zero_grad(), "
                                     "loss.backward(), optimizer.step() in that order"),
    "loop.weights_known_mistake": "the student's weights after one epoch differ from the reference: {mistake}",
    "loop.weights_unchanged": "the student's weights did not change: call optimizer.step() for every batch",
    "loop.weights_teacher_train": ("the student's weights after one epoch differ from the reference epoch because "
                                   "the teacher was in training mode (dropout active): call teacher.eval()"),
    "loop.weights_student_eval": ("the student's weights after one epoch differ from the reference epoch; "
                                  "the student was in eval mode: call student.train()"),
    "loop.weights_differ": ("the student's weights after one epoch differ from the reference epoch: use "
                            "kd.losses.distillation_loss(student_logits, teacher_logits, labels, T, alpha), "
                            "zero_grad, backward and step once per batch, and the teacher in eval mode"),
    "loop.returned_tensor": "returned a tensor; return the mean batch loss as a Python float (use loss.item())",
    "loop.returned_type": "returned a {type}; return the mean batch loss as a Python float",
    "loop.last_batch": "returned the last batch's loss; return the mean over all batches",
    "loop.sum": "returned the sum of the batch losses; divide by the number of batches ({batches})",
    "loop.wrong_mean": "returned {got:.6g}, expected the mean batch loss {expected:.6g}",
    # --- evaluate_accuracy ------------------------------------------------------------------------
    "acc.error": "evaluate_accuracy {error}",
    "acc.not_called": "the model was never called",
    "acc.train_mode": "model was in training mode (dropout active): call model.eval() first",
    "acc.grad_enabled": "gradients were tracked during evaluation: wrap the loop in torch.no_grad()",
    "acc.returned_tensor": "returned a tensor; return a Python float (use .item() or float(...))",
    "acc.returned_type": "returned a {type}; return the accuracy as a Python float in [0, 1]",
    "acc.percentage": "returned a percentage ({got:g}); return a fraction in [0, 1]",
    "acc.count": "returned the number of correct predictions ({got:g}); divide by the number of examples",
    "acc.batch_mean": ("averaged the per-batch accuracies, but the last batch is smaller: "
                       "count the correct predictions over all batches and divide by the total"),
    "acc.wrong": "returned {got:.6g}, expected the accuracy {expected:.6g}{why}",
    "acc.wrong.train_mode": ": the model was in training mode (dropout active), call model.eval() first",
    # --- fit_soft_targets -------------------------------------------------------------------------
    "fit.error": "fit_soft_targets {error}",
    "fit.returned_type": "returned a {type}; return the list of per-step loss values",
    "fit.length": "returned {n} loss values for steps={steps}: record one per step",
    "fit.not_numbers": "the list must hold numbers (use loss.item())",
    "fit.tensors": "the list holds tensors, not Python floats: record loss.item() at each step",
    "fit.not_finite": "the loss became NaN or infinite: check the loss and the learning rate",
    "fit.not_decreasing": ("the loss does not go down (first {first:.4g}, last {last:.4g}): the target must be "
                           "teacher_probs, not something computed from the student's own output, which leaves it "
                           "nothing to learn"),
    "fit.nan": "the trained student outputs NaN: the loss diverged",
    "fit.unchanged": ("the module passed in did not change: train it in place (optimizer over "
                      "student.parameters(), then loss.backward() and optimizer.step())"),
    "fit.one_hot": ("the student's predictions are nearly one-hot (mean top probability {sharp:.3f}) while the targets "
                    "are soft: a hard-label loss (cross-entropy on class indices, like the source article's sparse loss) "
                    "drives the output to one-hot, and so does F.kl_div given probabilities where it expects "
                    "log-probabilities (F.log_softmax); minimise a soft-target loss against the full teacher_probs"),
    "fit.far": ("after training, softmax(student(inputs)) is up to {err:.3f} away from teacher_probs (allowed 0.05): "
                "minimise a soft-target loss such as KL(teacher_probs || softmax(student(inputs))). Common causes: "
                "no optimizer.zero_grad() in each step (the gradients add up), F.kl_div given probabilities where it "
                "expects log-probabilities (F.log_softmax)"),
    "fit.no_zero_grad": ("the gradients add up across steps: call optimizer.zero_grad() before loss.backward() in "
                         "every step (softmax(student(inputs)) ends up to {err:.3f} away from teacher_probs)"),
    "fit.kl_div_probs": ("F.kl_div expects log-probabilities as its first argument: pass F.log_softmax(logits, -1), "
                         "not softmax probabilities (softmax(student(inputs)) ends up to {err:.3f} away from "
                         "teacher_probs)"),
    # --- the final student ------------------------------------------------------------------------
    "final.epochs": "EPOCHS = {epochs}: reach the target within {max_epochs} epochs",
    "final.fix_first": "fix {name} first: its {part!r} check fails: {message}",
    "loss.fix_first": "fix {name} first; its {what} fails: {message}",
    "loss.fix_first.T": "T = {T} case",
    "loss.fix_first.part": "{part!r} check",
    "final.profiler_removed": "removed the grader's profiler (sys.setprofile) while training",
    "final.error": "distil_student {error}",
    "final.library_loop": ("distil_student calls kd.train.{loop}: train with your own distill_one_epoch, once per epoch. "
                           "The grader runs distil_student itself and counts the calls to your distill_one_epoch."),
    "final.returned_type": "distil_student returned a {type}; return the trained student",
    "final.architecture": ("the student must be kd.models.build_model(kd.models.student_config(hidden=...)), "
                           "a one-hidden-layer MLP on 64 pixels; got parameter shapes {shapes}"),
    "final.too_wide": "the student's hidden layer has {hidden} units; at most {max_hidden} are allowed",
    "final.labels_alone": ("distil_student never called your distill_one_epoch (test accuracy {acc:.4f}). Trained on "
                           "the {n} labels alone, a student stays below {target}: a label says only which digit an "
                           "image is, the teacher's soft label also says how much it looks like each other digit. "
                           "Distil the teacher."),
    "final.epoch_calls": ("distil_student called your distill_one_epoch {calls} times for epochs={epochs}: "
                          "call it once per epoch"),
    "final.below_target": ("test accuracy {acc:.4f} is below the target {target} after {epochs} epochs: train longer "
                           "(up to {max_epochs} epochs), or check T, alpha and the learning rate"),
    "final.below_target_at_max": ("test accuracy {acc:.4f} is below the target {target} after {epochs} epochs, the most "
                                  "allowed: more epochs will not do it; check T, alpha and the learning rate"),
    "final.other_data": ("distil_student trained on {rows} image(s) that are not among the {n} images of the "
                         "loader it was given{loaded}: the student may learn only from those images and the "
                         "teacher's soft labels for them (no other split, no changed or added images). "
                         "Evaluate under torch.no_grad()."),
    "final.other_data.loaded": " (it called {call})",
    "final.ok": "test accuracy {acc:.4f} (target {target}) after {epochs} epochs of your distill_one_epoch",
    # --- any check: a student function that does not return (rules.HANG_SECONDS) -------------------
    "hang.first": ("your {name} did not return within {seconds:g} s; an infinite loop? The grader stopped it, and "
                   "every later check that calls it fails at once."),
    "hang.again": ("your {name} did not return within {seconds:g} s; an infinite loop? (An earlier check stopped it: "
                   "fix {name}, run the cell that defines {name} again, then this cell.)"),
    "hang.calls": "your {name} did not return within {seconds:g} s; an infinite loop? {caller} calls it: fix {name} first.",
}

#: language code -> {mistake id: template}; English is ``MESSAGES`` itself.
TRANSLATIONS: dict[str, dict[str, str]] = {"en": MESSAGES, "zh": MESSAGES_ZH}
LANGUAGES = tuple(TRANSLATIONS)
#: the kernel's language, set by ``set_language`` (``kd.grading.prepare(lang=...)``); None: the environment's
_CURRENT: dict[str, str | None] = {"lang": None}


def _checked(lang: str) -> str:
    if lang not in TRANSLATIONS:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got lang={lang!r}")
    return lang


def set_language(lang: str) -> None:
    """Make ``lang`` the language of every later diagnosis in this process."""
    _CURRENT["lang"] = _checked(lang)


def language() -> str:
    """The language in use: ``set_language``'s, else ``$KDUTILS_GRADING_LANG``, else English."""
    return _checked(_CURRENT["lang"] or os.environ.get("KDUTILS_GRADING_LANG") or "en")


def say(id: str, lang: str | None = None, **values) -> str:
    """The message ``id`` in ``lang`` (default: ``language()``), filled with ``values``."""
    return TRANSLATIONS[_checked(lang) if lang else language()][id].format(**values)
