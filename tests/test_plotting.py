"""Tests of kdutils.plotting: every helper returns a Figure with the expected content and never shows it."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

import kdutils as kd


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
