"""Figures for the book, in one consistent matplotlib style.

Every function returns a ``matplotlib.figure.Figure`` and never calls
``plt.show()``; the notebook displays what it is given.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .losses import softmax_with_temperature

__all__ = [
    "STYLE",
    "plot_temperature_softmax",
    "plot_learning_curves",
    "plot_accuracy_over_seeds",
    "plot_similarity_heatmap",
    "plot_series",
    "plot_soft_label_examples",
    "plot_fit_to_target",
    "plot_forward_reverse_kl",
]

STYLE = {
    "figure.dpi": 110,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 10,
    "axes.prop_cycle": matplotlib.cycler(color=["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]),
}

def _figure(width: float = 6.4, height: float = 3.6, ncols: int = 1):
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    plt.close(fig)  # the caller displays it; keep pyplot's registry empty
    for ax in axes.ravel():
        for key, value in (("top", False), ("right", False)):
            ax.spines[key].set_visible(value)
        ax.grid(True, alpha=0.3)
    return fig, list(axes.ravel())

def plot_temperature_softmax(logits, temperatures: Sequence[float] = (1, 2, 4, 10), class_names=None) -> Figure:
    """Bars of ``softmax(logits / T)`` for several temperatures, side by side (chapter "Softmax and temperature")."""
    z = torch.as_tensor(logits, dtype=torch.float32)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(z))]
    fig, axes = _figure(width=2.4 * len(temperatures), height=2.8, ncols=len(temperatures))
    for ax, T in zip(axes, temperatures):
        p = softmax_with_temperature(z, T).numpy()
        ax.bar(names, p, color="#1f77b4")
        ax.set_title(f"T = {T:g}")
        ax.set_ylim(0, 1)
        ax.set_xlabel("class")
    axes[0].set_ylabel("probability")
    fig.tight_layout()
    return fig

def plot_learning_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], metric: str = "val_accuracy") -> Figure:
    """One line per run: ``metric`` per epoch from ``kdutils.train`` histories."""
    fig, (ax,) = _figure()
    for label, h in histories.items():
        values = h[metric]
        ax.plot(range(1, len(values) + 1), values, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("_", " "))
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig

def plot_accuracy_over_seeds(results: Mapping[str, Sequence[float]], ylabel: str = "test accuracy") -> Figure:
    """Each seed as a dot, and mean ± one standard deviation as an error bar, per method."""
    fig, (ax,) = _figure(width=1.6 * max(len(results), 3) + 1.5)
    rng = np.random.default_rng(0)
    for i, (label, values) in enumerate(results.items()):
        v = np.asarray(values, dtype=float)
        ax.scatter(i + rng.uniform(-0.08, 0.08, len(v)), v, s=14, alpha=0.6, color="#7f7f7f", zorder=2)
        std = v.std(ddof=1) if len(v) > 1 else 0.0
        ax.errorbar(i + 0.22, v.mean(), yerr=std, fmt="o", capsize=5, color="#d62728", zorder=3)
    ax.set_xticks(range(len(results)), list(results.keys()))
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig

def plot_similarity_heatmap(matrix, class_names=None, title: str = "mean soft label per true class") -> Figure:
    """Heatmap of a ``(C, C)`` matrix: row = true class, column = probability given to that class."""
    m = np.asarray(matrix, dtype=float)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(m))]
    fig, (ax,) = _figure(width=5.2, height=4.4)
    ax.grid(False)
    im = ax.imshow(m, cmap="viridis")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("class in the soft label")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig

def plot_series(x, series: Mapping[str, Sequence[float]], xlabel: str, ylabel: str, errors: Mapping[str, Sequence[float]] | None = None, logx: bool = False) -> Figure:
    """Lines of y against x (e.g. accuracy against T), optionally with error bars."""
    fig, (ax,) = _figure()
    for label, ys in series.items():
        err = None if errors is None else errors.get(label)
        ax.errorbar(x, ys, yerr=err, marker="o", capsize=4, label=label)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


# --- Added for the chapters "Softmax, temperature and dark knowledge", "The distillation loss"
# --- and "Coding problem 2".

def plot_soft_label_examples(images, probs: Mapping[str, Sequence], titles: Sequence[str] | None = None, class_names=None) -> Figure:
    """One row per example: the image, then its soft labels as grouped bars (chapter "Softmax, temperature and dark knowledge").

    ``images`` is ``(K, H, W)`` or ``(K, 1, H, W)``; ``probs`` maps a legend
    label (e.g. ``"T = 1"``) to a ``(K, C)`` array of probabilities, so each
    row compares the same example's soft label at several temperatures.
    """
    imgs = np.asarray(images, dtype=float)
    if imgs.ndim == 4 and imgs.shape[1] == 1:
        imgs = imgs[:, 0]
    if imgs.ndim != 3:
        raise ValueError(f"images must be (K, H, W) or (K, 1, H, W), got images.shape={np.shape(images)}")
    if not probs:
        raise ValueError("probs must map at least one label to a (K, C) array, got probs={}")
    arrays = {label: np.asarray(p, dtype=float) for label, p in probs.items()}
    k = len(imgs)
    for label, p in arrays.items():
        if p.ndim != 2 or len(p) != k:
            raise ValueError(f"probs[{label!r}] must be (K, C) with K={k}, got shape {p.shape}")
    n_classes = next(iter(arrays.values())).shape[1]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n_classes)]
    if titles is not None and len(titles) != k:
        raise ValueError(f"titles must have one entry per image (K={k}), got len(titles)={len(titles)}")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(k, 2, figsize=(7.2, 2.2 * k), squeeze=False, gridspec_kw={"width_ratios": [1, 3.2]})
    plt.close(fig)
    width = 0.8 / len(arrays)
    x = np.arange(n_classes)
    for row in range(k):
        ax_img, ax_bar = axes[row]
        ax_img.imshow(imgs[row], cmap="gray_r")
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        if titles is not None:
            ax_img.set_title(titles[row], fontsize=9)
        for j, (label, p) in enumerate(arrays.items()):
            ax_bar.bar(x + (j - (len(arrays) - 1) / 2) * width, p[row], width=width, label=label)
        ax_bar.set_xticks(x, names)
        ax_bar.set_ylim(0, 1)
        ax_bar.set_ylabel("probability")
        for key in ("top", "right"):
            ax_bar.spines[key].set_visible(False)
        ax_bar.grid(True, axis="y", alpha=0.3)
    axes[0][1].legend(frameon=False, ncols=len(arrays), fontsize=8)
    axes[-1][1].set_xlabel("class")
    fig.tight_layout()
    return fig


def plot_fit_to_target(losses: Sequence[float], probs, target: Sequence[float], class_names=None) -> Figure:
    """Two panels: the loss per step (log scale), and each output probability per step against its target (dashed).

    ``probs`` is ``(steps, C)``, ``target`` is ``(C,)``. Used in chapter
    "Coding problem 2" to show a student's softmax converging to ``[0.8, 0.1, 0.1]``.
    """
    loss = np.asarray(losses, dtype=float)
    p = np.asarray(probs, dtype=float)
    t = np.asarray(target, dtype=float)
    if loss.ndim != 1 or loss.size == 0:
        raise ValueError(f"losses must be a non-empty 1-D sequence, got shape {loss.shape}")
    if p.ndim != 2 or t.ndim != 1 or p.shape[1] != t.size:
        raise ValueError(f"probs must be (steps, C) and target (C,), got probs.shape={p.shape}, target.shape={t.shape}")
    names = list(class_names) if class_names is not None else [f"class {i}" for i in range(t.size)]
    fig, (ax_loss, ax_p) = _figure(width=9.0, height=3.4, ncols=2)
    ax_loss.plot(np.arange(1, loss.size + 1), loss)
    if (loss > 0).all():
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    steps = np.arange(1, len(p) + 1)
    for i in range(t.size):
        (line,) = ax_p.plot(steps, p[:, i], label=names[i])
        ax_p.axhline(t[i], color=line.get_color(), linestyle="--", linewidth=1)
    ax_p.set_ylim(0, 1)
    ax_p.set_xlabel("step")
    ax_p.set_ylabel("probability (dashed: target)")
    ax_p.legend(frameon=False)
    fig.tight_layout()
    return fig



def plot_forward_reverse_kl(x, teacher, fits: Mapping[str, Sequence[float]]) -> Figure:
    """A bimodal teacher distribution on a grid and unimodal students fitted to it.

    ``x`` is the grid ``(K,)``, ``teacher`` the teacher's probabilities ``(K,)``
    and ``fits`` maps a label (e.g. ``"forward KL(p||q)"``) to a student's
    probabilities ``(K,)``. Used for the mode-covering vs mode-seeking question
    in "Interview questions" (forward vs reverse KL; Gu et al. 2024).
    """
    x = np.asarray(x, dtype=float)
    p = np.asarray(teacher, dtype=float)
    if x.ndim != 1 or p.shape != x.shape:
        raise ValueError(f"x and teacher must be 1-D of the same length, got shapes {x.shape} and {p.shape}")
    fig, (ax,) = _figure(width=6.4, height=3.4)
    ax.fill_between(x, p, color="0.8", label="teacher p (bimodal)")
    for (label, q), style in zip(fits.items(), ["-", "--", ":", "-."]):
        q = np.asarray(q, dtype=float)
        if q.shape != x.shape:
            raise ValueError(f"fits[{label!r}] must have shape {x.shape}, got {q.shape}")
        ax.plot(x, q, style, linewidth=2, label=label)
    ax.set_xlabel("outcome (grid point)")
    ax.set_ylabel("probability")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig

