"""Figures for the book, in one consistent matplotlib style, in English or in Chinese.

Every function returns a ``matplotlib.figure.Figure`` and never calls
``plt.show()``; the notebook displays what it is given.

Every function takes ``lang="en"`` or ``lang="zh"``. With ``lang="zh"`` every
word the figure shows (titles, axis labels, legend entries, tick labels that are
words) goes through :func:`translate`, which looks it up in ``ZH`` (terms of
``zh/glossary.yml``) and refuses to leave an English word in the figure, and the
text is set in a CJK font (:func:`cjk_font`). A code cell draws each figure once
per language and glues ``fig_x`` and ``fig_x_zh``; the Chinese page shows the
``_zh`` twin (zh/TRANSLATING.md).
"""
from __future__ import annotations

import functools
import os
import re
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import matplotlib.font_manager as font_manager
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .losses import softmax_with_temperature

__all__ = [
    "STYLE",
    "LANGS",
    "ZH",
    "translate",
    "cjk_font",
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

LANGS = ("en", "zh")

# English label -> Chinese label, with the terms of zh/glossary.yml. "{}" in a key stands for any
# text (a number, a name), carried over to the same place of the Chinese label.
ZH: dict[str, str] = {
    # words the functions write themselves
    "class": "类别",
    "class {}": "类别 {}",
    "probability": "概率",
    "probability (dashed: target)": "概率（虚线：目标）",
    "epoch": "轮数",
    "step": "步数",
    "loss": "损失",
    "test accuracy": "测试集准确率",
    "class in the soft label": "软标签中的类别",
    "true class": "真实类别",
    "mean soft label per true class": "各真实类别的平均软标签",
    "teacher p (bimodal)": "教师分布 p（双峰）",
    "outcome (grid point)": "取值（网格点）",
    # metrics of kdutils.train histories (plot_learning_curves writes metric.replace("_", " "))
    "val accuracy": "验证集准确率",
    "val loss": "验证集损失",
    "train loss": "训练损失",
    "train accuracy": "训练集准确率",
    # labels the chapters pass in
    "temperature T": "温度 T",
    "entropy (bits)": "熵（比特）",
    "teacher's soft labels (test mean)": "教师模型的软标签（测试集均值）",
    "uniform: log2 10": "均匀分布：log2 10",
    "test image {}": "测试集图像 {}",
    "mean soft label at T = {} (diagonal hidden)": "T = {} 时的平均软标签（隐去对角线）",
    "gradient norm w.r.t. student logits": "对学生模型 logit 的梯度范数",
    "KL without T²": "不乘 T² 的 KL",
    "high-T prediction (z − v)/(C T²)": "高温预测 (z − v)/(C T²)",
    "student fitted by forward KL(p||q)": "用正向 KL(p||q) 拟合的学生模型",
    "student fitted by reverse KL(q||p)": "用反向 KL(q||p) 拟合的学生模型",
    "labels only": "仅用标签",
    "hint, beta={}": "特征提示，β={}",
    "RKD-D, beta={}": "RKD-D，β={}",
    "logit KD": "logit 蒸馏",
    "logit KD + RKD-D": "logit 蒸馏 + RKD-D",
    # labels of the chapters Experiments, Tuning and Coding problem 2 (their cells do not ask for Chinese yet)
    "teacher": "教师模型",
    "scratch": "从零训练",
    "recommended": "推荐方案",
    "test accuracy (%)": "测试集准确率（%）",
    "temperature T (log scale)": "温度 T（对数坐标）",
    "soft weight alpha": "软标签项权重 α",
    "student hidden units (log scale)": "学生模型隐藏单元数（对数坐标）",
    "epochs = optimiser steps (log scale)": "轮数 = 优化器步数（对数坐标）",
    "KD, alpha={}": "蒸馏，α={}",
    "KD, T={}": "蒸馏，T={}",
    "student from scratch": "从零训练的学生模型",
    "distilled student": "蒸馏学生模型",
    # the chapter "Distilling language models"
    "fine-tune (no teacher)": "微调（不用教师模型）",
    "word-level KD": "词级知识蒸馏",
    "seq-KD, greedy": "序列级知识蒸馏，贪心",
    "seq-KD, sampled": "序列级知识蒸馏，采样",
    "on-policy reverse KL": "在线策略反向 KL",
    "GKD JSD(0.5), λ=1": "GKD JSD(0.5)，λ=1",
    "GKD JSD(0.5), λ=0.5": "GKD JSD(0.5)，λ=0.5",
    "data prefixes, reverse KL": "数据前缀，反向 KL",
    "on-policy forward KL": "在线策略正向 KL",
    "coverage: exact NLL of true responses (nats, log scale; lower is better)":
        "覆盖：真实回复的精确 NLL（奈特，对数坐标；越低越好）",
    "quality: valid samples (%)": "质量：有效样本（%）",
    "true prefixes": "真实前缀",
    "its own prefixes": "它自己的前缀",
    "token position": "词元位置",
    "mass on impossible tokens (%)": "不可能词元上的概率质量（%）",
}

# Latin words a Chinese label may keep (zh/glossary.yml keeps these terms in Latin letters).
# Identifiers with an underscore (recipe names such as `high_T8`) are kept too: both editions name them so.
LATIN_OK = frozenset({"KL", "KD", "RKD", "GKD", "JSD", "NLL", "softmax", "logit", "logits", "log", "MLP", "SGD"})
_IDENTIFIER = re.compile(r"\b\w*_\w*\b")
_WORD = re.compile(r"[A-Za-z]{2,}")


def english_words(text: str) -> list[str]:
    """The English words of ``text`` (runs of two or more Latin letters, minus ``LATIN_OK`` and identifiers)."""
    return [w for w in _WORD.findall(_IDENTIFIER.sub(" ", text)) if w not in LATIN_OK]


def _check_lang(lang) -> str:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got lang={lang!r}")
    return lang


@functools.lru_cache(maxsize=None)
def _templates() -> list[tuple[re.Pattern, str]]:
    out = []
    for en, zh in ZH.items():
        if "{}" in en:
            pattern = "^" + "(.+?)".join(re.escape(part) for part in en.split("{}")) + "$"
            out.append((re.compile(pattern), zh))
    return out


def translate(text, lang: str = "en") -> str:
    """``text`` as a figure in ``lang`` shows it: unchanged in English, from ``ZH`` in Chinese.

    A text without English words (``"T = 4"``, ``"7"``, ``"RKD-D"``) is kept in Chinese as
    it is; a text with English words and no entry in ``ZH`` raises a ``ValueError`` naming
    it, so that no English label reaches a Chinese figure unnoticed.
    """
    _check_lang(lang)
    text = str(text)
    if lang == "en":
        return text
    if text in ZH:
        return ZH[text]
    for pattern, zh in _templates():
        m = pattern.match(text)
        if m:
            return zh.format(*m.groups())
    if english_words(text):
        raise ValueError(f"no Chinese label for {text!r} (lang='zh'): add it to kdutils.plotting.ZH")
    return text


# --- the Chinese font

CJK_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Zen Hei")
"""CJK families for Chinese figures, in order of preference (Simplified Chinese glyph forms first)."""

FONT_CACHE = Path(matplotlib.get_cachedir()) / "kdutils-fonts"


def _has_family(family: str) -> bool:
    try:
        font_manager.findfont(family, fallback_to_default=False)
        return True
    except ValueError:
        return False


def _font_sources():
    """Files that may hold a CJK sans face (Debian's fonts-noto-cjk: NotoSansCJK-Regular.ttc).

    Faces written before (``FONT_CACHE``) first, then the files matplotlib's font list
    knows, then (slow: seconds) a scan of the system's font folders.
    """
    def cjk(paths):
        return sorted({p for p in paths
                       if re.search(r"(?i)(notosanscjk|sourcehansans|notosanssc|wqy-zenhei).*\.(ttc|otf|ttf)$", os.path.basename(p))
                       and "bold" not in os.path.basename(p).lower()})
    cached = sorted(str(p) for p in FONT_CACHE.glob("*.otf")) if FONT_CACHE.is_dir() else []
    known = cjk(f.fname for f in font_manager.fontManager.ttflist)
    yield from cached + known
    yield from (p for p in cjk(font_manager.findSystemFonts()) if p not in known)


def _add_face(path: str) -> None:
    """Make matplotlib know the fonts of ``path``.

    matplotlib (3.10) reads only the first face of a collection (.ttc), which in
    Debian's NotoSansCJK-Regular.ttc is the Japanese one: write the Simplified
    Chinese face once as a standalone .otf in ``FONT_CACHE`` and register that.
    """
    if not path.lower().endswith(".ttc"):
        font_manager.fontManager.addfont(path)
        return
    from fontTools.ttLib import TTCollection  # a dependency of matplotlib

    for i, face in enumerate(TTCollection(path, lazy=True).fonts):
        family = face["name"].getDebugName(1)
        if family in CJK_FAMILIES:
            for folder in (FONT_CACHE, Path(tempfile.gettempdir()) / "kdutils-fonts"):  # the second if the first is read-only
                out = folder / f"{Path(path).stem}-{i}.otf"
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    if not out.exists():
                        tmp = out.with_suffix(f".{os.getpid()}.tmp")
                        face.save(tmp)
                        os.replace(tmp, out)  # atomic: two builds may write it at once
                except OSError:
                    continue
                font_manager.fontManager.addfont(str(out))
                return


@functools.lru_cache(maxsize=None)
def cjk_font() -> str:
    """The font family for Chinese figures: the first of ``CJK_FAMILIES`` that matplotlib finds.

    Raises ``RuntimeError`` when no CJK font is installed (``make system`` installs fonts-noto-cjk).
    """
    for family in CJK_FAMILIES:
        if _has_family(family):
            return family
    problems = []
    for path in _font_sources():
        try:
            _add_face(path)
        except Exception as e:  # an unreadable font file: try the next one
            problems.append(f"{path}: {e}")
            continue
        for family in CJK_FAMILIES:
            if _has_family(family):
                return family
    raise RuntimeError(
        f"lang='zh' needs a CJK font, but matplotlib finds none of {CJK_FAMILIES} "
        "and no installed NotoSansCJK/SourceHanSans file: install fonts-noto-cjk (`make system`, "
        "or apt-get install fonts-noto-cjk) and build again"
        + (f" (files tried: {'; '.join(problems)})" if problems else ""))


def _rc(lang: str) -> dict:
    if _check_lang(lang) == "en":
        return dict(STYLE)
    # concrete family names, not "sans-serif": a text resolves its family when drawn, after this context
    return {**STYLE, "font.family": [cjk_font(), "DejaVu Sans"]}


def _in_language(fn):
    """Validate ``lang`` first and draw the whole figure (texts, legend, layout) in its fonts."""
    @functools.wraps(fn)
    def wrapper(*args, lang: str = "en", **kwargs):
        with plt.rc_context(_rc(lang)):
            return fn(*args, lang=lang, **kwargs)
    return wrapper

def _figure(width: float = 6.4, height: float = 3.6, ncols: int = 1):
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    plt.close(fig)  # the caller displays it; keep pyplot's registry empty
    for ax in axes.ravel():
        for key, value in (("top", False), ("right", False)):
            ax.spines[key].set_visible(value)
        ax.grid(True, alpha=0.3)
    return fig, list(axes.ravel())

@_in_language
def plot_temperature_softmax(logits, temperatures: Sequence[float] = (1, 2, 4, 10), class_names=None, *, lang: str = "en") -> Figure:
    """Bars of ``softmax(logits / T)`` for several temperatures, side by side (chapter "Softmax and temperature")."""
    z = torch.as_tensor(logits, dtype=torch.float32)
    names = [translate(n, lang) for n in class_names] if class_names is not None else [str(i) for i in range(len(z))]
    fig, axes = _figure(width=2.4 * len(temperatures), height=2.8, ncols=len(temperatures))
    for ax, T in zip(axes, temperatures):
        p = softmax_with_temperature(z, T).numpy()
        ax.bar(names, p, color="#1f77b4")
        ax.set_title(f"T = {T:g}")
        ax.set_ylim(0, 1)
        ax.set_xlabel(translate("class", lang))
    axes[0].set_ylabel(translate("probability", lang))
    fig.tight_layout()
    return fig

@_in_language
def plot_learning_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], metric: str = "val_accuracy", *, lang: str = "en") -> Figure:
    """One line per run: ``metric`` per epoch from ``kdutils.train`` histories."""
    fig, (ax,) = _figure()
    for label, h in histories.items():
        values = h[metric]
        ax.plot(range(1, len(values) + 1), values, label=translate(label, lang))
    ax.set_xlabel(translate("epoch", lang))
    ax.set_ylabel(translate(metric.replace("_", " "), lang))
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig

@_in_language
def plot_accuracy_over_seeds(results: Mapping[str, Sequence[float]], ylabel: str = "test accuracy", xtick_rotation: float = 0, *, lang: str = "en") -> Figure:
    """Each seed as a dot, and mean ± one standard deviation as an error bar, per method.

    ``xtick_rotation`` (degrees) tilts the method names when they are long.
    """
    fig, (ax,) = _figure(width=1.6 * max(len(results), 3) + 1.5)
    rng = np.random.default_rng(0)
    for i, (label, values) in enumerate(results.items()):
        v = np.asarray(values, dtype=float)
        ax.scatter(i + rng.uniform(-0.08, 0.08, len(v)), v, s=14, alpha=0.6, color="#7f7f7f", zorder=2)
        std = v.std(ddof=1) if len(v) > 1 else 0.0
        ax.errorbar(i + 0.22, v.mean(), yerr=std, fmt="o", capsize=5, color="#d62728", zorder=3)
    ax.set_xticks(range(len(results)), [translate(k, lang) for k in results])
    if xtick_rotation:
        ax.tick_params(axis="x", labelrotation=xtick_rotation)
    ax.set_ylabel(translate(ylabel, lang))
    fig.tight_layout()
    return fig

@_in_language
def plot_similarity_heatmap(matrix, class_names=None, title: str = "mean soft label per true class", *, lang: str = "en") -> Figure:
    """Heatmap of a ``(C, C)`` matrix: row = true class, column = probability given to that class."""
    m = np.asarray(matrix, dtype=float)
    names = [translate(n, lang) for n in class_names] if class_names is not None else [str(i) for i in range(len(m))]
    fig, (ax,) = _figure(width=5.2, height=4.4)
    ax.grid(False)
    im = ax.imshow(m, cmap="viridis")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(translate("class in the soft label", lang))
    ax.set_ylabel(translate("true class", lang))
    ax.set_title(translate(title, lang))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig

@_in_language
def plot_series(x, series: Mapping[str, Sequence[float]], xlabel: str, ylabel: str, errors: Mapping[str, Sequence[float]] | None = None,
                logx: bool = False, logy: bool = False, *, lang: str = "en") -> Figure:
    """Lines of y against x (e.g. accuracy against T), optionally with error bars and log axes."""
    fig, (ax,) = _figure()
    for label, ys in series.items():
        err = None if errors is None else errors.get(label)
        ax.errorbar(x, ys, yerr=err, marker="o", capsize=4, label=translate(label, lang))
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(translate(xlabel, lang))
    ax.set_ylabel(translate(ylabel, lang))
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


# --- Added for the chapters "Softmax, temperature and dark knowledge", "The distillation loss"
# --- and "Coding problem 2".

@_in_language
def plot_soft_label_examples(images, probs: Mapping[str, Sequence], titles: Sequence[str] | None = None, class_names=None, *, lang: str = "en") -> Figure:
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
    names = [translate(n, lang) for n in class_names] if class_names is not None else [str(i) for i in range(n_classes)]
    if titles is not None and len(titles) != k:
        raise ValueError(f"titles must have one entry per image (K={k}), got len(titles)={len(titles)}")
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
            ax_img.set_title(translate(titles[row], lang), fontsize=9)
        for j, (label, p) in enumerate(arrays.items()):
            ax_bar.bar(x + (j - (len(arrays) - 1) / 2) * width, p[row], width=width, label=translate(label, lang))
        ax_bar.set_xticks(x, names)
        ax_bar.set_ylim(0, 1)
        ax_bar.set_ylabel(translate("probability", lang))
        for key in ("top", "right"):
            ax_bar.spines[key].set_visible(False)
        ax_bar.grid(True, axis="y", alpha=0.3)
    axes[0][1].legend(frameon=False, ncols=len(arrays), fontsize=8)
    axes[-1][1].set_xlabel(translate("class", lang))
    fig.tight_layout()
    return fig


@_in_language
def plot_fit_to_target(losses: Sequence[float], probs, target: Sequence[float], class_names=None, *, lang: str = "en") -> Figure:
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
    names = [translate(n, lang) for n in names]
    fig, (ax_loss, ax_p) = _figure(width=9.0, height=3.4, ncols=2)
    ax_loss.plot(np.arange(1, loss.size + 1), loss)
    if (loss > 0).all():
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel(translate("step", lang))
    ax_loss.set_ylabel(translate("loss", lang))
    steps = np.arange(1, len(p) + 1)
    for i in range(t.size):
        (line,) = ax_p.plot(steps, p[:, i], label=names[i])
        ax_p.axhline(t[i], color=line.get_color(), linestyle="--", linewidth=1)
    ax_p.set_ylim(0, 1)
    ax_p.set_xlabel(translate("step", lang))
    ax_p.set_ylabel(translate("probability (dashed: target)", lang))
    ax_p.legend(frameon=False)
    fig.tight_layout()
    return fig



@_in_language
def plot_forward_reverse_kl(x, teacher, fits: Mapping[str, Sequence[float]], *, lang: str = "en") -> Figure:
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
    ax.fill_between(x, p, color="0.8", label=translate("teacher p (bimodal)", lang))
    for (label, q), style in zip(fits.items(), ["-", "--", ":", "-."]):
        q = np.asarray(q, dtype=float)
        if q.shape != x.shape:
            raise ValueError(f"fits[{label!r}] must have shape {x.shape}, got {q.shape}")
        ax.plot(x, q, style, linewidth=2, label=translate(label, lang))
    ax.set_xlabel(translate("outcome (grid point)", lang))
    ax.set_ylabel(translate("probability", lang))
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig
