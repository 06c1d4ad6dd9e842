"""Training loops: supervised, and distillation from a frozen teacher (Hinton et al. 2015).

Every loop is deterministic under a seed on the CPU, returns a history
(``{"loss": [...], "val_accuracy": [...]}``, one entry per epoch) and shows a
tqdm bar only when asked (``progress=True``), so tests and the book build stay quiet.
Every loop leaves the trained model in **eval mode** (dropout off), ready to be evaluated or
to teach; call ``model.train()`` to train it further by hand.

Used in "Coding problem 2", "Experiments that matter" and "Beyond logits".
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from . import losses
from ._checks import check_alpha, check_positive_int, check_temperature

__all__ = [
    "TrainConfig",
    "set_seed",
    "predict_logits",
    "evaluate",
    "train_supervised",
    "train_distillation",
    "fit_tensors",
    "fit_custom",
]

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class TrainConfig:
    """Optimiser settings shared by the loops (Adam, optional cosine decay)."""

    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    cosine: bool = True


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so that a CPU run repeats exactly.

    String hashing (``PYTHONHASHSEED``) can only be fixed before the interpreter starts;
    nothing here depends on it (``make`` exports ``PYTHONHASHSEED=0`` all the same).
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def predict_logits(model: nn.Module, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Logits of ``model`` on ``X`` in eval mode without gradients. ``(N, ...) -> (N, C)``."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(X[i : i + batch_size]) for i in range(0, len(X), batch_size)])
    model.train(was_training)
    return out


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, teacher: nn.Module | None = None) -> dict[str, float]:
    """Accuracy of ``model`` on ``loader``; with a ``teacher``, also top-1 agreement with it.

    Returns ``{"accuracy": float, "agreement": float}`` (agreement only when a
    teacher is given). Both models are put in eval mode and restored afterwards.
    """
    modes = [(m, m.training) for m in (model, teacher) if m is not None]
    for m, _ in modes:
        m.eval()
    correct = agree = total = 0
    for x, y in loader:
        pred = model(x).argmax(dim=-1)
        correct += (pred == y).sum().item()
        if teacher is not None:
            agree += (pred == teacher(x).argmax(dim=-1)).sum().item()
        total += len(y)
    for m, mode in modes:
        m.train(mode)
    out = {"accuracy": correct / max(total, 1)}
    if teacher is not None:
        out["agreement"] = agree / max(total, 1)
    return out


def _optimizer(model: nn.Module, cfg: TrainConfig, extra_params=()) -> tuple[torch.optim.Optimizer, object]:
    params = list(model.parameters()) + list(extra_params)
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs) if cfg.cosine else None
    return opt, sched


def _run(
    model: nn.Module,
    loader: DataLoader,
    batch_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    cfg: TrainConfig,
    val_loader: DataLoader | None,
    augment: Augment | None,
    seed: int,
    progress: bool,
    desc: str,
    extra_params=(),
) -> dict[str, list[float]]:
    check_positive_int("epochs", cfg.epochs)
    opt, sched = _optimizer(model, cfg, extra_params)
    aug_gen = torch.Generator().manual_seed(seed + 1)
    history: dict[str, list[float]] = {"loss": [], "val_accuracy": []}
    if progress:  # imported only when asked: tqdm.auto warns "IProgress not found" at import without ipywidgets
        from tqdm.auto import tqdm

        bar = tqdm(range(cfg.epochs), desc=desc, leave=False)
    else:
        bar = range(cfg.epochs)
    for _ in bar:
        model.train()
        total, n = 0.0, 0
        for x, y in loader:
            if augment is not None:
                x = augment(x, aug_gen)
            loss = batch_loss(x, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            n += len(y)
        if sched is not None:
            sched.step()
        history["loss"].append(total / max(n, 1))
        if val_loader is not None:
            history["val_accuracy"].append(evaluate(model, val_loader)["accuracy"])
            if progress:
                bar.set_postfix(loss=history["loss"][-1], val_acc=history["val_accuracy"][-1])
    model.eval()
    return history


def train_supervised(
    model: nn.Module,
    loader: DataLoader,
    config: TrainConfig | None = None,
    val_loader: DataLoader | None = None,
    augment: Augment | None = None,
    label_smoothing: float = 0.0,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, list[float]]:
    """Train ``model`` in place with cross-entropy on the labels (the "student from scratch")."""
    cfg = config or TrainConfig()

    def batch_loss(x, y):
        return F.cross_entropy(model(x), y, label_smoothing=label_smoothing)

    return _run(model, loader, batch_loss, cfg, val_loader, augment, seed, progress, "supervised")


def train_distillation(
    student: nn.Module,
    teacher: nn.Module,
    loader: DataLoader,
    T: float = 4.0,
    alpha: float = 0.9,
    config: TrainConfig | None = None,
    val_loader: DataLoader | None = None,
    augment: Augment | None = None,
    logit_bias: torch.Tensor | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, list[float]]:
    """Train ``student`` in place on ``kdutils.losses.distillation_loss`` against a frozen teacher.

    The teacher is put in ``eval()`` mode and run under ``torch.no_grad()``;
    its parameters are never updated. ``alpha`` weights the soft term. With
    ``augment``, teacher and student see the *same* augmented batch.
    ``logit_bias`` (``(C,)``) is added to the teacher's logits, e.g. to boost
    a class the transfer set lacks.
    """
    T = check_temperature(T)
    alpha = check_alpha(alpha)
    cfg = config or TrainConfig()
    teacher.eval()

    def batch_loss(x, y):
        with torch.no_grad():
            t_logits = teacher(x)
            if logit_bias is not None:
                t_logits = t_logits + logit_bias
        return losses.distillation_loss(student(x), t_logits, y, T=T, alpha=alpha)

    return _run(student, loader, batch_loss, cfg, val_loader, augment, seed, progress, "distillation")


def fit_tensors(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    teacher: nn.Module | None = None,
    T: float = 4.0,
    alpha: float = 0.9,
    config: TrainConfig | None = None,
    batch_size: int = 128,
    augment: Augment | None = None,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Fast path for in-memory tensors: mini-batches by index, no ``DataLoader``.

    Without a ``teacher`` it trains ``model`` with cross-entropy on ``y`` (as
    ``train_supervised``); with one it minimises
    ``kdutils.losses.distillation_loss`` against the frozen teacher (as
    ``train_distillation``; ``alpha`` weights the soft term). Without
    ``augment`` the teacher's logits are computed once for all of ``X``;
    with ``augment`` (e.g. ``kdutils.data.random_shift``) teacher and student
    see the *same* augmented batch, the "consistent teaching" of Beyer et al.
    (2022). ``X`` is ``(N, ...)``, ``y`` ``(N,)``; batches are shuffled by a
    generator seeded with ``seed``. Returns ``{"loss": [...]}``, one mean loss
    per epoch, and leaves ``model`` in eval mode. Used in "Experiments that
    matter", "Beyond logits" and by
    ``kdutils.recipes``, where small models make ``DataLoader`` overhead dominate.
    """
    from ._checks import check_tensor

    check_tensor("X", X, min_dim=1)
    check_tensor("y", y, floating=False)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer class indices, got y.dtype={y.dtype}")
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X and y must have the same non-zero length, got len(X)={len(X)} and len(y)={len(y)}")
    batch_size = check_positive_int("batch_size", batch_size)
    cfg = config or TrainConfig()
    check_positive_int("epochs", cfg.epochs)
    all_t_logits = None
    if teacher is not None:
        T = check_temperature(T)
        alpha = check_alpha(alpha)
        teacher.eval()
        with torch.no_grad():
            all_t_logits = teacher(X) if augment is None else None  # (N, C), reused every epoch

    def step_loss(xb, yb, idx, gen):
        if augment is not None:
            xb = augment(xb, gen)
        out = model(xb)  # (B, C)
        if teacher is None:
            return F.cross_entropy(out, yb)
        if all_t_logits is not None:
            t_logits = all_t_logits[idx]
        else:
            with torch.no_grad():
                t_logits = teacher(xb)
        return losses.distillation_loss(out, t_logits, yb, T=T, alpha=alpha)

    return _fit_indexed(model, X, y, step_loss, cfg, batch_size, seed)


def fit_custom(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    batch_loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    config: TrainConfig | None = None,
    batch_size: int = 128,
    seed: int = 0,
    extra_params=(),
) -> dict[str, list[float]]:
    """Mini-batch training on in-memory tensors with any loss: ``batch_loss(x, y, idx) -> scalar``.

    ``idx`` (``(B,)``) are the batch's row indices in ``X``, so a caller can
    look up precomputed teacher outputs (logits, features) for the batch.
    ``extra_params`` are optimised together with ``model`` (e.g. a FitNets
    regressor). Adam with optional cosine decay as ``TrainConfig`` says;
    batches shuffled by a generator seeded with ``seed``. Returns
    ``{"loss": [...]}`` per epoch and leaves ``model`` in eval mode.
    Used in "Beyond logits" (FitNets hints, RKD, born-again networks).
    """
    from ._checks import check_tensor

    check_tensor("X", X, min_dim=1)
    check_tensor("y", y, floating=False)
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X and y must have the same non-zero length, got len(X)={len(X)} and len(y)={len(y)}")
    if not callable(batch_loss):
        raise TypeError(f"batch_loss must be callable, got batch_loss={batch_loss!r}")
    batch_size = check_positive_int("batch_size", batch_size)
    cfg = config or TrainConfig()
    check_positive_int("epochs", cfg.epochs)
    step_loss = lambda xb, yb, idx, gen: batch_loss(xb, yb, idx)  # noqa: E731
    return _fit_indexed(model, X, y, step_loss, cfg, batch_size, seed, list(extra_params))


def _fit_indexed(model, X, y, step_loss, cfg, batch_size, seed, extra_params=()):
    """The loop shared by ``fit_tensors`` and ``fit_custom``: shuffled index batches, Adam, cosine decay.

    ``step_loss(xb, yb, idx, gen)`` returns the batch loss; ``gen`` is the
    generator that also shuffles, so augmentation draws stay reproducible.
    """
    opt, sched = _optimizer(model, cfg, extra_params)
    gen = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"loss": []}
    n = len(X)
    model.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]  # (B,)
            loss = step_loss(X[idx], y[idx], idx, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if sched is not None:
            sched.step()
        history["loss"].append(total / n)
    model.eval()
    return history
