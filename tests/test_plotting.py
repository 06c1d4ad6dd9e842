"""Tests of kdutils.plotting: every helper returns a Figure with the expected content and never shows it."""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import yaml
import numpy as np
import pytest
from matplotlib.figure import Figure

import kdutils as kd

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_show(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("kdutils.plotting must not call plt.show()"))


def test_temperature_softmax_one_panel_per_temperature():
    fig = kd.plotting.plot_temperature_softmax([3.0, 1.0, 0.2], temperatures=(1, 5))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    heights = [[p.get_height() for p in ax.patches] for ax in fig.axes]
    assert np.isclose(sum(heights[0]), 1) and max(heights[1]) < max(heights[0])


def test_learning_curves_one_line_per_run():
    fig = kd.plotting.plot_learning_curves({"a": {"val_accuracy": [0.1, 0.5]}, "b": {"val_accuracy": [0.2, 0.6, 0.7]}})
    assert [len(l.get_xdata()) for l in fig.axes[0].lines] == [2, 3]


def test_accuracy_over_seeds_has_error_bars():
    fig = kd.plotting.plot_accuracy_over_seeds({"scratch": [0.8, 0.82, 0.81], "kd": [0.85, 0.86, 0.87]})
    assert isinstance(fig, Figure)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["scratch", "kd"]


def test_similarity_heatmap_and_series():
    fig = kd.plotting.plot_similarity_heatmap(np.eye(3) * 0.9 + 0.05)
    assert fig.axes[0].images[0].get_array().shape == (3, 3)
    fig2 = kd.plotting.plot_series([1, 2, 4], {"kd": [0.8, 0.9, 0.85]}, "T", "acc", errors={"kd": [0.01, 0.02, 0.01]}, logx=True)
    assert fig2.axes[0].get_xscale() == "log"


# --- plot_soft_label_examples and plot_fit_to_target (chapters 2 and 6) ---

def test_soft_label_examples_rows_and_bars():
    images = np.random.default_rng(0).random((2, 1, 8, 8))
    probs = {"T = 1": [[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]], "T = 4": [[0.5, 0.25, 0.25], [0.3, 0.4, 0.3]]}
    fig = kd.plotting.plot_soft_label_examples(images, probs, titles=["a", "b"])
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    bar_axes = fig.axes[1::2]
    # two temperatures x three classes per row, with the heights that were given
    assert [len(ax.patches) for ax in bar_axes] == [6, 6]
    assert np.allclose([p.get_height() for p in bar_axes[1].patches], [0.2, 0.7, 0.1, 0.3, 0.4, 0.3])
    assert fig.axes[0].get_title() == "a"


def test_soft_label_examples_rejects_bad_shapes():
    with pytest.raises(ValueError, match="images"):
        kd.plotting.plot_soft_label_examples(np.zeros((8, 8)), {"x": [[1.0]]})
    with pytest.raises(ValueError, match="probs"):
        kd.plotting.plot_soft_label_examples(np.zeros((2, 8, 8)), {"x": [[0.5, 0.5]]})
    with pytest.raises(ValueError, match="titles"):
        kd.plotting.plot_soft_label_examples(np.zeros((1, 8, 8)), {"x": [[0.5, 0.5]]}, titles=["a", "b"])


def test_fit_to_target_draws_targets_and_log_loss():
    probs = np.array([[0.3, 0.4, 0.3], [0.6, 0.2, 0.2], [0.8, 0.1, 0.1]])
    fig = kd.plotting.plot_fit_to_target([1.0, 0.1, 0.01], probs, [0.8, 0.1, 0.1])
    ax_loss, ax_p = fig.axes
    assert ax_loss.get_yscale() == "log"
    assert len(ax_p.lines) == 6  # three probability curves and three dashed targets
    assert np.allclose(ax_p.lines[0].get_ydata(), probs[:, 0])
    assert np.allclose(ax_p.lines[1].get_ydata(), [0.8, 0.8])


def test_fit_to_target_rejects_mismatched_target():
    with pytest.raises(ValueError, match="target"):
        kd.plotting.plot_fit_to_target([1.0], np.zeros((1, 3)), [0.5, 0.5])
    with pytest.raises(ValueError, match="losses"):
        kd.plotting.plot_fit_to_target([], np.zeros((1, 2)), [0.5, 0.5])


# --- the Chinese edition's figures (issue 22 §3): lang="zh" draws every word in Chinese ---

CJK = re.compile(r"[\u4e00-\u9fff]")


def figure_words(fig: Figure) -> list[str]:
    """Every text a reader sees that can be a word: titles, axis labels, legend entries, tick labels."""
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_title("left"), ax.get_title("right"), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
    out = [re.sub(r"\$[^$]*\$", "", t) for t in out]  # mathtext tick labels ($\mathdefault{10^{2}}$) are numbers
    return [t for t in out if t.strip()]


def _images(k=2):
    return np.random.default_rng(0).random((k, 1, 8, 8))


# Each plotting function with the labels the chapters give it (book/*.md), so that the table kd.plotting.ZH
# is tested on the strings the book really draws.
ZH_CASES = {
    "plot_temperature_softmax": lambda lang: kd.plotting.plot_temperature_softmax(
        [5.0, 2.5, 1.0, 0.0, -1.0], temperatures=(0.5, 1, 4, 10), class_names=list("ABCDE"), lang=lang),
    "plot_learning_curves": lambda lang: kd.plotting.plot_learning_curves(
        {"student from scratch": {"val_accuracy": [0.5, 0.7]}, "distilled student": {"val_accuracy": [0.6, 0.8]}}, lang=lang),
    "plot_accuracy_over_seeds": lambda lang: kd.plotting.plot_accuracy_over_seeds(
        {k: [0.8, 0.81, 0.82] for k in ("labels only", "hint, beta=1", "hint, beta=10", "RKD-D, beta=25",
                                         "logit KD", "logit KD + RKD-D")}, xtick_rotation=30, lang=lang),
    "plot_similarity_heatmap": lambda lang: kd.plotting.plot_similarity_heatmap(
        np.eye(10) * 0.9 + 0.01, title="mean soft label at T = 4 (diagonal hidden)", lang=lang),
    "plot_series": lambda lang: kd.plotting.plot_series(
        [0.5, 1, 2, 4], {"teacher's soft labels (test mean)": [0.1, 0.4, 1.2, 2.0], "uniform: log2 10": [3.32] * 4},
        xlabel="temperature T", ylabel="entropy (bits)", logx=True, lang=lang),
    "plot_series (T² figure)": lambda lang: kd.plotting.plot_series(
        [1, 2, 4], {"KL without T²": [1, 0.3, 0.1], "T² · KL": [1, 1.2, 1.3], "high-T prediction (z − v)/(C T²)": [2, 0.5, 0.1]},
        xlabel="temperature T", ylabel="gradient norm w.r.t. student logits", logx=True, logy=True, lang=lang),
    "plot_soft_label_examples": lambda lang: kd.plotting.plot_soft_label_examples(
        _images(), {"T = 1": [[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]], "T = 4": [[0.5, 0.25, 0.25], [0.3, 0.4, 0.3]]},
        titles=["test image 17", "test image 4242"], lang=lang),
    "plot_fit_to_target": lambda lang: kd.plotting.plot_fit_to_target(
        [1.0, 0.1, 0.01], [[0.3, 0.4, 0.3], [0.6, 0.2, 0.2], [0.8, 0.1, 0.1]], [0.8, 0.1, 0.1], lang=lang),
    "plot_forward_reverse_kl": lambda lang: kd.plotting.plot_forward_reverse_kl(
        np.linspace(-3, 3, 31), np.full(31, 1 / 31),
        {"student fitted by forward KL(p||q)": np.full(31, 1 / 31), "student fitted by reverse KL(q||p)": np.full(31, 1 / 31)},
        lang=lang),
}


def test_every_plotting_function_is_covered():
    covered = {name.split(" ")[0] for name in ZH_CASES}
    assert covered == {n for n in kd.plotting.__all__ if n.startswith("plot_")}


@pytest.mark.parametrize("name", list(ZH_CASES))
def test_chinese_figure_has_no_english_word(name):
    words = figure_words(ZH_CASES[name]("zh"))
    assert any(CJK.search(w) for w in words), f"{name}: no Chinese text in {words}"
    english = [w for w in words if kd.plotting.english_words(w)]
    assert not english, f"{name}: English words left in the Chinese figure: {english}"
    # the English figure of the same call keeps its English words (the language is only the parameter)
    en_words = figure_words(ZH_CASES[name]("en"))
    assert not any(CJK.search(w) for w in en_words) and any(kd.plotting.english_words(w) for w in en_words)


@pytest.mark.parametrize("name", list(ZH_CASES))
def test_chinese_figure_uses_a_cjk_font(name):
    fig = ZH_CASES[name]("zh")
    fam = kd.plotting.cjk_font()
    texts = [t for ax in fig.axes for t in (ax.xaxis.label, ax.yaxis.label, ax.title)] + [
        t for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    chinese = [t for t in texts if CJK.search(t.get_text())]
    assert chinese and all(t.get_fontfamily()[0] == fam for t in chinese)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing")  # a missing glyph is a tofu box
        fig.savefig(io.BytesIO(), format="png")


def test_cjk_font_is_simplified_chinese():
    assert kd.plotting.cjk_font() == "Noto Sans CJK SC", "fonts-noto-cjk is installed by `make system`"


def test_unknown_language_names_the_value():
    for name, draw in ZH_CASES.items():
        with pytest.raises(ValueError, match=r"lang must be one of \('en', 'zh'\), got lang='xx'"):
            draw("xx")
    with pytest.raises(ValueError, match="lang='fr'"):
        kd.plotting.translate("class", "fr")


def test_translate_refuses_an_english_label_it_does_not_know():
    with pytest.raises(ValueError, match="no Chinese label for 'validation perplexity'"):
        kd.plotting.plot_series([1, 2], {"KD, alpha=0.5": [1, 2]}, "temperature T", "validation perplexity", lang="zh")
    assert kd.plotting.translate("validation perplexity", "en") == "validation perplexity"
    assert kd.plotting.translate("T = 4", "zh") == "T = 4"          # no English word: kept
    assert kd.plotting.translate("test image 4242", "zh") == "测试集图像 4242"  # a template of ZH
    assert kd.plotting.translate("pytorch_tutorial", "zh") == "pytorch_tutorial"  # an identifier: kept


def test_chinese_labels_follow_the_glossary():
    """A ZH label that renders a glossary term uses its Chinese term, never an avoided variant."""
    glossary = yaml.safe_load((ROOT / "zh" / "glossary.yml").read_text(encoding="utf-8"))
    avoided = {v for e in glossary for v in e.get("avoid", [])}
    bad = {en: zh for en, zh in kd.plotting.ZH.items() if any(a in zh for a in avoided)}
    assert not bad, f"avoided terms of zh/glossary.yml in kdutils.plotting.ZH: {bad}"
    term = {e["en"]: [e["zh"], *e.get("zh_also", [])] for e in glossary}
    for en, zh in kd.plotting.ZH.items():
        for word, key in (("teacher", "teacher (model)"), ("student", "student (model)"), ("soft label", "soft label, soft target"),
                          ("temperature", "temperature"), ("entropy", "entropy"), ("test", "test set")):
            if re.search(rf"\b{word}\b", en):
                assert any(t in zh for t in term[key]), f"ZH[{en!r}] = {zh!r} should use one of {term[key]} ({key})"


def test_missing_cjk_font_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(kd.plotting, "_has_family", lambda family: False)
    monkeypatch.setattr(kd.plotting, "_font_sources", lambda: iter(()))
    kd.plotting.cjk_font.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="fonts-noto-cjk"):
            kd.plotting.plot_series([1], {"kd": [1]}, "temperature T", "entropy (bits)", lang="zh")
        assert kd.plotting.plot_series([1], {"kd": [1]}, "temperature T", "entropy (bits)")  # English needs no CJK font
    finally:
        monkeypatch.undo()
        kd.plotting.cjk_font.cache_clear()
