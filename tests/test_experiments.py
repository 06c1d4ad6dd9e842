"""Tests of kdutils.experiments: summaries, the gap-recovered fraction, soft-label matrices."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import kdutils as kd


def test_summarize_uses_sample_std():
    s = kd.experiments.summarize([0.9, 0.92, 0.94])
    assert s.mean == pytest.approx(0.92) and s.std == pytest.approx(np.std([0.9, 0.92, 0.94], ddof=1)) and s.n == 3
    assert "±" in str(s)
    with pytest.raises(ValueError, match="values"):
        kd.experiments.summarize([])


def test_gap_recovered_reproduces_hinton_mnist_figure():
    # Hinton et al. 2015: teacher 67 errors, student from scratch 146, distilled 74
    assert kd.experiments.gap_recovered(146, 74, 67) == pytest.approx(72 / 79)
    assert round(kd.experiments.gap_recovered(146, 74, 67), 2) == 0.91
    with pytest.raises(ValueError, match="err_scratch"):
        kd.experiments.gap_recovered(5, 4, 5)


def test_welch_t_sign_and_size():
    assert kd.experiments.welch_t([1.0, 1.1, 0.9], [0.0, 0.1, -0.1]) > 10
    assert kd.experiments.welch_t([0.0, 0.1, -0.1], [1.0, 1.1, 0.9]) < -10


@pytest.mark.parametrize("a, b", [
    ([0.96, 0.9644, 0.9622], [0.9644, 0.9644, 0.9644]),  # one constant sample (3 seeds on the same error count)
    ([0.89, 0.91, 0.87, 0.9], [0.93, 0.92, 0.95]),  # unequal sizes and variances
    ([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 2.5, 2.0, 9.0, 1.0]),
])
def test_welch_t_matches_scipy(a, b):
    from scipy import stats

    expected = stats.ttest_ind(a, b, equal_var=False).statistic
    assert kd.experiments.welch_t(a, b) == pytest.approx(expected, rel=1e-12)
    assert kd.experiments.welch_t(b, a) == pytest.approx(-expected, rel=1e-12)


def test_welch_t_constant_samples_and_bad_sizes():
    assert kd.experiments.welch_t([1.0, 1.0], [0.0, 0.0]) == float("inf")
    assert kd.experiments.welch_t([0.0, 0.0], [1.0, 1.0]) == float("-inf")
    assert np.isnan(kd.experiments.welch_t([1.0, 1.0], [1.0, 1.0]))
    with pytest.raises(ValueError, match="len\\(a\\)=1"):
        kd.experiments.welch_t([1.0], [0.0, 0.1])


def test_soft_label_matrix_rows_are_distributions_of_each_class():
    class Fixed(torch.nn.Module):
        def forward(self, x):  # logits favour class (label of x) strongly
            return 10.0 * torch.nn.functional.one_hot(x[:, 0].long(), 3).float()

    X = torch.tensor([[0.0], [1.0], [2.0], [2.0]])
    y = torch.tensor([0, 1, 2, 2])
    m = kd.experiments.soft_label_matrix(Fixed(), X, y, T=1.0, num_classes=3)
    assert m.shape == (3, 3)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-6)
    assert (np.argmax(m, axis=1) == np.arange(3)).all()


def test_separated_needs_non_overlapping_error_bars_in_order():
    assert kd.experiments.separated([0.96, 0.97, 0.98], [0.89, 0.90, 0.91])
    assert not kd.experiments.separated([0.89, 0.90, 0.91], [0.96, 0.97, 0.98])  # wrong order
    assert not kd.experiments.separated([0.90, 0.94, 0.98], [0.89, 0.91, 0.93])  # bars overlap


def test_fidelity_kl_and_copied_errors_against_numpy():
    import numpy as np
    import torch
    from scipy.special import softmax
    from scipy.stats import entropy

    import kdutils as kd

    torch.manual_seed(0)
    X = torch.randn(40, 1, 1, 5)
    y = torch.randint(0, 5, (40,))
    teacher = kd.models.MLP(kd.models.MLPConfig(in_features=5, hidden=(), num_classes=5))
    student = kd.models.MLP(kd.models.MLPConfig(in_features=5, hidden=(), num_classes=5))
    f = kd.experiments.fidelity(student, teacher, X, y, T=2.0)
    with torch.no_grad():
        t, s = teacher(X).numpy(), student(X).numpy()
    kl = np.mean([entropy(softmax(a / 2.0), softmax(b / 2.0)) for a, b in zip(t, s)])
    assert f.kl == pytest.approx(kl, rel=1e-5)
    wrong = t.argmax(-1) != y.numpy()
    assert f.teacher_errors == int(wrong.sum())
    assert f.copied_errors == int((s.argmax(-1)[wrong] == t.argmax(-1)[wrong]).sum())
    same = kd.experiments.fidelity(teacher, teacher, X, y)
    assert same.kl == pytest.approx(0.0, abs=1e-6) and same.copied_errors == same.teacher_errors
    assert same.copied_fraction == 1.0
