"""The registry of the grader's checks: ``CHECKS = {name: Check(...)}``, one entry per checked function.

Both sides read it: the kernel (``kernel.py``) makes ``kdutils.grading.check_<name>`` from
each entry and runs it with the entry's ``run``; the worker (``worker.py``) answers with its
``cases`` and ``judge``. Adding a checked function is adding one entry here (with its cases
in ``cases.py``, its known mistakes in ``mistakes.py`` and their wording in ``messages.py``).
Assignments ``losses`` and ``training``; book chapter "For instructors".
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from . import cases as C
from . import judge as J
from . import kernel as K
from . import mistakes as M

__all__ = ["Check", "CHECKS", "PARTS", "LOSS_FUNCTIONS"]


def _none():
    return []


@dataclass(frozen=True)
class Check:
    """How one student function is checked.

    * ``parts``: the behaviours it is tested on, one per test cell (``default``, else the first, when none is named);
    * ``cases(name, part, hidden)``: the worker's seeded inputs (a list of cases, or a setup dict);
    * ``variants()``: ``[(message id, wrong function), ...]``, the known mistakes, tried in order;
    * ``judge(name, check, part, hidden, results)``: the worker's verdict ``{"ok", "message", "mistake"}``;
    * ``run(name, check, *args)``: the kernel side, which calls the student's function;
    * ``doc``: the docstring of ``kdutils.grading.check_<name>``;
    * ``first``: ``((name, Check), ...)``, checks the student's helper must pass before this one runs
      (the final task checks the student's ``distill_one_epoch`` first); for a loss, the helpers that a failing
      answer calls are checked after the failure, to say "fix <helper> first" (``distillation_loss``, ``kd_kl_loss``).

    Loss checks also say which argument is the temperature (for the T and T² hints), whether a
    value off by T or T² is named, how to fix a non-finite value, and the hint for NaN at p = 0.
    """

    parts: tuple[str, ...]
    cases: Callable
    judge: Callable
    run: Callable
    doc: str
    variants: Callable = _none
    temperature_arg: int | None = None
    temperature_ratios: bool = False
    not_finite_how: str = "loss.not_finite.log_how"
    nan_hint: str | None = None
    kl_div_hint: bool = False
    default: str | None = None
    first: tuple = ()

    @property
    def default_part(self) -> str:
        """The part a test cell checks when it names none: ``default``, else the first part."""
        return self.default or self.parts[0]


def _loss(parts, table, variants, doc, **hints) -> Check:
    return Check(parts, C.loss_cases(table), J.judge_loss, K.run_loss, doc, variants, **hints)


CHECKS: dict[str, Check] = {
    "softmax_with_temperature": _loss(
        ("example", "batch", "temperature", "stable", "gradient"), C.SOFTMAX_CASES, M.softmax_variants,
        'Check a student\'s ``softmax_with_temperature(logits, T)`` (chapter "Softmax, temperature and dark knowledge").',
        temperature_arg=1, not_finite_how="loss.not_finite.softmax_how"),
    "soft_cross_entropy": _loss(
        ("example", "batch", "zeros", "gradient"), C.SOFT_CE_CASES, M.soft_ce_variants,
        'Check a student\'s ``soft_cross_entropy(student_probs, teacher_probs)`` (chapter "Coding problem 1").',
        nan_hint="loss.zero_log_zero"),
    "kd_kl_loss": _loss(
        ("example", "batch", "temperature", "stable", "gradient"), C.KD_KL_CASES, M.kd_kl_variants,
        'Check a student\'s ``kd_kl_loss(student_logits, teacher_logits, T)`` (chapter "The distillation loss").',
        temperature_arg=2, temperature_ratios=True, kl_div_hint=True),
    "distillation_loss": _loss(
        ("example", "alpha", "temperature", "gradient"), C.DISTILLATION_CASES, M.distillation_variants,
        'Check a student\'s ``distillation_loss(s, t, labels, T, alpha)`` (chapter "The distillation loss").',
        temperature_arg=3, kl_div_hint=True),
    "fit_soft_targets": Check(
        ("losses", "fit"), C.fit_setup, J.judge_fit, K.run_fit,
        'Check a student\'s ``fit_soft_targets(student, inputs, teacher_probs, steps, lr)`` (chapter "Coding problem 2").\n\n'
        "The grader owns the module, the inputs and the targets, and judges the trained weights.", default="fit"),
    "distill_one_epoch": Check(
        ("loss", "teacher", "student_mode", "steps"), C.distill_setup, J.judge_distill, K.run_distill,
        "Check a student's ``distill_one_epoch(student, teacher, loader, optimizer, T, alpha)``.\n\n"
        "Records, from outside the student's code, the modes and grad state seen by each forward pass, how many "
        "optimiser steps and backward passes ran, and the weights afterwards; the worker compares them with the "
        "reference loop."),
    "evaluate_accuracy": Check(
        ("value", "mode"), C.accuracy_setup, J.judge_accuracy, K.run_accuracy,
        "Check a student's ``evaluate_accuracy(model, loader)``: a fraction in [0, 1], eval mode, no gradients."),
}
# A failing distillation_loss that calls the student's own kd_kl_loss checks that one first (kernel._blame_first).
CHECKS["distillation_loss"] = dataclasses.replace(CHECKS["distillation_loss"], first=(("kd_kl_loss", CHECKS["kd_kl_loss"]),))
CHECKS["final_student"] = Check(
    ("accuracy",), C.final_setup, J.judge_final, K.run_final,
    "The training assignment's final task: ``distil_student(teacher, loader, epochs)`` distils ``teacher`` into a "
    "student MLP that must reach ``FINAL_ACCURACY`` on the digits test split within ``FINAL_MAX_EPOCHS``.\n\n"
    "The student's ``distill_one_epoch`` must pass its own checks first. The grader then runs ``distil_student`` "
    "itself, under its own seed, on the transfer set (``FINAL_PER_CLASS`` labelled digits per class), counts the "
    "calls to ``distill_one_epoch`` (one per epoch) and rejects ``kdutils.train``'s training loops; the worker "
    "rebuilds the student from its weights and measures the test accuracy itself.",
    first=(("distill_one_epoch", CHECKS["distill_one_epoch"]),))

#: The behaviours each check of a student function knows, one per test cell.
PARTS = {name: c.parts for name, c in CHECKS.items() if c.run is not K.run_final}
LOSS_FUNCTIONS = tuple(name for name, c in CHECKS.items() if c.run is K.run_loss)
