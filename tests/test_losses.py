"""Tests of kdutils.losses against independent oracles (NumPy formulas and PyTorch built-ins)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import kdutils as kd
from kdutils.losses import (
    distillation_loss,
    hint_loss,
    kd_kl_loss,
    rkd_distance_loss,
    soft_cross_entropy,
    softmax_with_temperature,
)

SEED_P = [0.8, 0.1, 0.1]  # the article's teacher soft label
SEED_Q = [0.6, 0.3, 0.1]  # the article's student prediction


def np_softmax(z: np.ndarray, T: float) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64) / T
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def np_kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise KL(p || q) by explicit sums, with 0 log 0 = 0."""
    out = np.zeros(p.shape[:-1])
    for idx in np.ndindex(*p.shape[:-1]):
        out[idx] = sum(pi * math.log(pi / qi) for pi, qi in zip(p[idx], q[idx]) if pi > 0)
    return out


# --- the seed article's numbers -------------------------------------------------------------

def test_seed_soft_cross_entropy_is_0_7593_not_0_16():
    value = soft_cross_entropy(torch.tensor(SEED_Q), torch.tensor(SEED_P)).item()
    expected = -sum(p * math.log(q) for p, q in zip(SEED_P, SEED_Q))
    assert round(value, 4) == 0.7593
    assert value == pytest.approx(expected, abs=1e-6)
    assert abs(value - 0.16) > 0.5


def test_seed_kl_is_0_1203():
    kl = sum(p * math.log(p / q) for p, q in zip(SEED_P, SEED_Q))
    assert round(kl, 4) == 0.1203
    # kd_kl_loss at T=1 on log-probabilities used as logits gives the same KL
    value = kd_kl_loss(torch.tensor(SEED_Q).log(), torch.tensor(SEED_P).log(), T=1.0).item()
    assert round(value, 4) == 0.1203


# --- oracle tests ---------------------------------------------------------------------------

@pytest.mark.parametrize("T", [0.5, 1.0, 2.0, 4.0, 20.0])
def test_softmax_with_temperature_matches_numpy(T):
    z = torch.randn(7, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    np.testing.assert_allclose(softmax_with_temperature(z, T).numpy(), np_softmax(z.numpy(), T), rtol=1e-12)


def test_soft_cross_entropy_matches_explicit_sum_batch_mean():
    g = torch.Generator().manual_seed(2)
    p = torch.softmax(torch.randn(5, 6, generator=g, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(5, 6, generator=g, dtype=torch.float64), -1)
    rows = [-sum(pi * math.log(qi) for pi, qi in zip(pr, qr)) for pr, qr in zip(p.tolist(), q.tolist())]
    assert soft_cross_entropy(q, p).item() == pytest.approx(np.mean(rows), rel=1e-12)


def test_soft_cross_entropy_zero_teacher_prob_counts_zero_even_where_student_is_zero():
    q = torch.tensor([0.5, 0.5, 0.0], requires_grad=True)
    p = torch.tensor([0.5, 0.5, 0.0])
    loss = soft_cross_entropy(q, p)
    assert loss.item() == pytest.approx(math.log(2))
    loss.backward()
    assert torch.isfinite(q.grad).all()


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0, 10.0])
def test_kd_kl_loss_matches_numpy_kl_times_T_squared(T):
    g = torch.Generator().manual_seed(3)
    s = torch.randn(8, 10, generator=g, dtype=torch.float64)
    t = torch.randn(8, 10, generator=g, dtype=torch.float64) * 3
    expected = T**2 * np_kl(np_softmax(t.numpy(), T), np_softmax(s.numpy(), T)).mean()
    assert kd_kl_loss(s, t, T).item() == pytest.approx(expected, rel=1e-10)


def test_kd_kl_loss_matches_torch_kl_div_batchmean():
    g = torch.Generator().manual_seed(4)
    s, t, T = torch.randn(16, 10, generator=g), torch.randn(16, 10, generator=g), 3.0
    ref = F.kl_div(F.log_softmax(s / T, -1), F.log_softmax(t / T, -1), reduction="batchmean", log_target=True) * T * T
    assert kd_kl_loss(s, t, T).item() == pytest.approx(ref.item(), rel=1e-5)


def test_kd_kl_loss_1d_input_is_one_example():
    g = torch.Generator().manual_seed(5)
    s, t = torch.randn(10, generator=g), torch.randn(10, generator=g)
    assert kd_kl_loss(s, t, 2.0).item() == pytest.approx(kd_kl_loss(s[None], t[None], 2.0).item(), rel=1e-6)


def test_distillation_loss_alpha_0_is_cross_entropy():
    g = torch.Generator().manual_seed(6)
    s, t = torch.randn(12, 10, generator=g), torch.randn(12, 10, generator=g)
    y = torch.randint(0, 10, (12,), generator=g)
    assert distillation_loss(s, t, y, T=4.0, alpha=0.0).item() == pytest.approx(F.cross_entropy(s, y).item(), rel=1e-6)


def test_distillation_loss_alpha_1_is_kd_kl_loss():
    g = torch.Generator().manual_seed(7)
    s, t = torch.randn(12, 10, generator=g), torch.randn(12, 10, generator=g)
    y = torch.randint(0, 10, (12,), generator=g)
    assert distillation_loss(s, t, y, T=4.0, alpha=1.0).item() == pytest.approx(kd_kl_loss(s, t, 4.0).item(), rel=1e-6)


def test_distillation_loss_is_the_alpha_mixture_with_hard_term_at_T_1():
    g = torch.Generator().manual_seed(8)
    s, t = torch.randn(9, 5, generator=g), torch.randn(9, 5, generator=g)
    y = torch.randint(0, 5, (9,), generator=g)
    T, a = 3.0, 0.3
    expected = a * T**2 * np_kl(np_softmax(t.numpy(), T), np_softmax(s.numpy(), T)).mean()
    expected += (1 - a) * np.mean(-np.log(np_softmax(s.numpy(), 1.0)[np.arange(9), y.numpy()]))
    assert distillation_loss(s, t, y, T=T, alpha=a).item() == pytest.approx(expected, rel=1e-5)


def test_hint_loss_is_mse_and_uses_regressor():
    g = torch.Generator().manual_seed(9)
    fs, ft = torch.randn(4, 3, generator=g), torch.randn(4, 5, generator=g)
    reg = torch.nn.Linear(3, 5)
    expected = ((reg(fs) - ft) ** 2).mean()
    assert hint_loss(fs, ft, reg).item() == pytest.approx(expected.item(), rel=1e-6)
    assert hint_loss(ft, ft).item() == 0.0


def test_rkd_distance_loss_is_zero_for_scaled_copy_and_positive_otherwise():
    g = torch.Generator().manual_seed(10)
    t = torch.randn(6, 4, generator=g)
    assert rkd_distance_loss(3.0 * t, t).item() == pytest.approx(0.0, abs=1e-6)
    assert rkd_distance_loss(torch.randn(6, 2, generator=g), t).item() > 0


# --- the T^2 claim (Hinton et al. 2015, section 2.1) ----------------------------------------

def _grad_norm(T: float, scaled: bool) -> float:
    g = torch.Generator().manual_seed(11)
    s = torch.randn(64, 10, generator=g).requires_grad_(True)
    t = torch.randn(64, 10, generator=g)
    loss = kd_kl_loss(s, t, T)
    if not scaled:
        loss = loss / T**2
    loss.backward()
    return s.grad.norm().item()


def test_T_squared_keeps_gradient_magnitude_while_plain_kl_falls_like_inverse_T_squared():
    scaled = {T: _grad_norm(T, True) for T in (10.0, 20.0, 40.0)}
    plain = {T: _grad_norm(T, False) for T in (10.0, 20.0, 40.0)}
    # with T^2 the magnitude is roughly constant for large T
    assert scaled[40.0] / scaled[10.0] == pytest.approx(1.0, rel=0.05)
    # without it, doubling T divides the gradient by about 4
    assert plain[10.0] / plain[20.0] == pytest.approx(4.0, rel=0.05)
    assert plain[20.0] / plain[40.0] == pytest.approx(4.0, rel=0.05)


# --- properties (hypothesis) ----------------------------------------------------------------

logit_rows = arrays(np.float64, (3, 5), elements=st.floats(-30, 30, allow_nan=False))
temperatures = st.floats(0.2, 20.0)


@settings(max_examples=60, deadline=None)
@given(logit_rows, logit_rows, temperatures)
def test_kl_is_non_negative(s, t, T):
    assert kd_kl_loss(torch.from_numpy(s), torch.from_numpy(t), T).item() >= -1e-9


@settings(max_examples=60, deadline=None)
@given(logit_rows, temperatures)
def test_kl_is_zero_for_equal_logits(s, T):
    x = torch.from_numpy(s)
    assert kd_kl_loss(x, x.clone(), T).item() == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(logit_rows, logit_rows)
def test_soft_cross_entropy_is_at_least_teacher_entropy(s, t):
    p, q = torch.softmax(torch.from_numpy(t), -1), torch.softmax(torch.from_numpy(s), -1)
    entropy = soft_cross_entropy(p, p).item()
    assert soft_cross_entropy(q, p).item() >= entropy - 1e-9


@settings(max_examples=60, deadline=None)
@given(logit_rows, logit_rows, temperatures, st.floats(-100, 100))
def test_adding_a_constant_to_logits_changes_nothing(s, t, T, c):
    s, t = torch.from_numpy(s), torch.from_numpy(t)
    base = kd_kl_loss(s, t, T).item()
    assert kd_kl_loss(s + c, t - c, T).item() == pytest.approx(base, abs=1e-7, rel=1e-7)
    np.testing.assert_allclose(softmax_with_temperature(s + c, T).numpy(), softmax_with_temperature(s, T).numpy(), atol=1e-10)


# --- stability -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_logits_give_finite_loss_and_gradients(dtype):
    s = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype=dtype, requires_grad=True)
    t = torch.tensor([[-1e4, 1e4, 0.0], [1e4, -1e4, -5.0]], dtype=dtype)
    y = torch.tensor([0, 2])
    for loss in (kd_kl_loss(s, t, 2.0), distillation_loss(s, t, y, 2.0, 0.5)):
        s.grad = None
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(s.grad).all()
    assert torch.isfinite(softmax_with_temperature(s.detach(), 0.01)).all()


# --- input validation ----------------------------------------------------------------------

S, TT, Y = torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([0, 1])


@pytest.mark.parametrize(
    "call, exc, words",
    [
        (lambda: kd_kl_loss(S, torch.zeros(2, 4), 2.0), ValueError, ["teacher_logits", "(2, 4)"]),
        (lambda: kd_kl_loss(S, TT, 0), ValueError, ["T must be > 0", "T=0"]),
        (lambda: kd_kl_loss(S, TT, -1.5), ValueError, ["T=-1.5"]),
        (lambda: kd_kl_loss(S, TT, "4"), TypeError, ["T", "'4'"]),
        (lambda: kd_kl_loss(S, TT, float("nan")), ValueError, ["T", "nan"]),
        (lambda: softmax_with_temperature(S, T=0.0), ValueError, ["T=0.0"]),
        (lambda: distillation_loss(S, TT, Y, 2.0, 1.5), ValueError, ["alpha", "alpha=1.5"]),
        (lambda: distillation_loss(S, TT, Y, 2.0, -0.1), ValueError, ["alpha=-0.1"]),
        (lambda: kd_kl_loss(torch.zeros(2, 3, dtype=torch.long), TT, 2.0), TypeError, ["student_logits", "torch.int64"]),
        (lambda: soft_cross_entropy(torch.tensor([1, 0, 0]), torch.tensor([0.8, 0.1, 0.1])), TypeError, ["student_probs"]),
        (lambda: soft_cross_entropy([0.6, 0.3, 0.1], torch.tensor([0.8, 0.1, 0.1])), TypeError, ["student_probs", "list"]),
        (lambda: distillation_loss(S, TT, torch.tensor([0, 3]), 2.0, 0.5), ValueError, ["labels", "[0, 3]"]),
        (lambda: distillation_loss(S, TT, torch.tensor([-1, 0]), 2.0, 0.5), ValueError, ["labels", "-1"]),
        (lambda: distillation_loss(S, TT, torch.tensor([0.0, 1.0]), 2.0, 0.5), TypeError, ["labels", "float"]),
        (lambda: distillation_loss(S, TT, torch.tensor([0, 1, 2]), 2.0, 0.5), ValueError, ["labels.shape=(3,)"]),
        (lambda: kd_kl_loss(torch.tensor([[float("nan"), 0.0, 0.0]]), torch.zeros(1, 3), 2.0), ValueError, ["student_logits", "NaN"]),
        (lambda: soft_cross_entropy(torch.tensor([0.5, 0.5]), torch.tensor([float("nan"), 0.5])), ValueError, ["teacher_probs", "NaN"]),
        (lambda: soft_cross_entropy(torch.tensor([2.0, -1.0]), torch.tensor([0.5, 0.5])), ValueError, ["student_probs", "logits"]),
        (lambda: hint_loss(torch.zeros(2, 3), torch.zeros(2, 4)), ValueError, ["teacher_features", "(2, 4)"]),
        (lambda: hint_loss(torch.zeros(2, 3), torch.zeros(2, 3), regressor=5), TypeError, ["regressor", "5"]),
    ],
)
def test_bad_input_raises_and_names_the_argument(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {str(info.value)!r}"


def test_public_losses_have_formula_and_paper_in_docstring():
    for name in kd.losses.__all__:
        doc = getattr(kd.losses, name).__doc__
        assert doc and ("math::" in doc or "=" in doc), name
    for name in ("kd_kl_loss", "distillation_loss"):
        assert "Hinton" in getattr(kd.losses, name).__doc__
    assert "FitNets" in hint_loss.__doc__ and "Park" in rkd_distance_loss.__doc__


# ---------------------------------------------------------------- DKD (Zhao et al. 2022)

DKD_FIXTURE = __import__("pathlib").Path(__file__).parent / "fixtures" / "dkd_golden.json"


def np_dkd(s, t, y, T, alpha, beta):
    """Zhao et al. (2022), Eq. 1 and Eq. 4, written out in NumPy (float64), batch mean."""
    s, t = np.atleast_2d(np.asarray(s, np.float64)), np.atleast_2d(np.asarray(t, np.float64))
    y = np.atleast_1d(np.asarray(y))
    tckd, nckd = [], []
    for si, ti, yi in zip(s, t, y):
        p, q = np_softmax(ti, T), np_softmax(si, T)
        bp, bq = np.array([p[yi], 1 - p[yi]]), np.array([q[yi], 1 - q[yi]])
        keep = np.arange(len(p)) != yi
        ph, qh = p[keep] / p[keep].sum(), q[keep] / q[keep].sum()
        tckd.append(np.sum(bp * (np.log(bp) - np.log(bq))))
        nckd.append(np.sum(ph * (np.log(ph) - np.log(qh))))
    return T * T * (alpha * np.mean(tckd) + beta * np.mean(nckd))


def test_dkd_matches_mdistiller_golden_values():
    """Golden values computed with mdistiller's own dkd_loss (the paper authors' code)."""
    import json

    cases = json.loads(DKD_FIXTURE.read_text())["cases"]
    assert len(cases) >= 4
    for c in cases:
        got = kd.losses.dkd_loss(
            torch.tensor(c["student_logits"], dtype=torch.float64),
            torch.tensor(c["teacher_logits"], dtype=torch.float64),
            torch.tensor(c["labels"]),
            T=c["T"], alpha=c["alpha"], beta=c["beta"],
        )
        assert got.item() == pytest.approx(c["mdistiller"], rel=1e-9, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 5), c=st.integers(2, 12), T=st.floats(0.5, 10.0),
    alpha=st.floats(0.0, 4.0), beta=st.floats(0.0, 10.0), seed=st.integers(0, 10_000),
)
def test_dkd_matches_the_papers_formula(n, c, T, alpha, beta, seed):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, c, generator=g, dtype=torch.float64) * 3
    t = torch.randn(n, c, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, c, (n,), generator=g)
    got = kd.losses.dkd_loss(s, t, y, T=T, alpha=alpha, beta=beta).item()
    assert got == pytest.approx(np_dkd(s.numpy(), t.numpy(), y.numpy(), T, alpha, beta), rel=1e-8, abs=1e-10)


def test_dkd_reformulates_classical_kd_per_example():
    """Eq. 1: KD = TCKD + (1 - p_y) NCKD, so alpha=1, beta=1-p_y recovers kd_kl_loss on one example."""
    g = torch.Generator().manual_seed(7)
    for _ in range(5):
        s, t = torch.randn(10, generator=g, dtype=torch.float64) * 2, torch.randn(10, generator=g, dtype=torch.float64) * 2
        y = torch.tensor(3)
        T = 4.0
        p_y = torch.softmax(t / T, -1)[3].item()
        dkd = kd.losses.dkd_loss(s, t, y, T=T, alpha=1.0, beta=1.0 - p_y)
        assert dkd.item() == pytest.approx(kd_kl_loss(s, t, T).item(), rel=1e-10)


def test_dkd_defaults_shapes_and_gradient():
    s = torch.randn(8, 10, requires_grad=True)
    t = torch.randn(8, 10)
    y = torch.arange(8)
    loss = kd.losses.dkd_loss(s, t, y)  # T=4, alpha=1, beta=8
    assert loss.shape == ()
    expected = np_dkd(s.detach().numpy(), t.numpy(), y.numpy(), 4.0, 1.0, 8.0)
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    loss.backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0
    # identical logits: both terms vanish
    assert kd.losses.dkd_loss(t, t, y).item() == pytest.approx(0.0, abs=1e-6)
    # a 1-D example with a 0-d label equals the same example as a batch of one
    one = kd.losses.dkd_loss(s[0].detach(), t[0], y[0])
    assert one.item() == pytest.approx(kd.losses.dkd_loss(s[:1].detach(), t[:1], y[:1]).item(), rel=1e-6)


def test_dkd_is_finite_for_extreme_logits():
    s = torch.tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]])
    t = torch.tensor([[0.0, 1e4, -1e4], [-1e4, 1e4, 0.0]])
    loss = kd.losses.dkd_loss(s, t, torch.tensor([0, 1]), T=1.0)
    assert torch.isfinite(loss)


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        (dict(T=0.0), ValueError, "T=0.0"),
        (dict(T=-1.0), ValueError, "T=-1.0"),
        (dict(alpha=-0.5), ValueError, "alpha=-0.5"),
        (dict(beta=-1.0), ValueError, "beta=-1.0"),
        (dict(beta=float("inf")), ValueError, "beta=inf"),
        (dict(alpha="1"), TypeError, "alpha='1'"),
        (dict(labels=torch.tensor([0.0, 1.0])), TypeError, "labels.dtype=torch.float32"),
        (dict(labels=torch.tensor([0, 5])), ValueError, "labels in [0, 5]"),
        (dict(labels=torch.tensor([0, 1, 2])), ValueError, "labels.shape=(3,)"),
        (dict(teacher_logits=torch.zeros(2, 4)), ValueError, "teacher_logits.shape=(2, 4)"),
        (dict(student_logits=[[0.0] * 3] * 2), TypeError, "student_logits"),
        (dict(student_logits=torch.zeros(2, 1), teacher_logits=torch.zeros(2, 1), labels=torch.tensor([0, 0])),
         ValueError, "at least 2 classes"),
    ],
)
def test_dkd_argument_errors_name_argument_and_value(kwargs, exc, words):
    args = dict(student_logits=torch.zeros(2, 3), teacher_logits=torch.zeros(2, 3), labels=torch.tensor([0, 1]))
    args.update(kwargs)
    with pytest.raises(exc) as info:
        kd.losses.dkd_loss(**args)
    assert words in str(info.value)
