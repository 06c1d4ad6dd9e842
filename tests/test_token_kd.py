"""Tests of kdutils.losses.token_kd_loss (token-level KD of language models: forward KL, reverse KL, GKD's JSD).

Two independent oracles: the definition written out in NumPy (float64, explicit sums), and TRL's
``GKDTrainer.generalized_jsd_loss`` (huggingface/trl, trl/experimental/gkd/gkd_trainer.py, 2026), whose
formula is transcribed below from its source; trl itself is not imported.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kdutils.losses import kd_kl_loss, token_kd_loss


def np_log_softmax(z: np.ndarray, T: float) -> np.ndarray:
    z = np.asarray(z, np.float64) / T
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def np_token_kd(s, t, mask, beta, T):
    """The issue's definition by explicit sums over tokens and vocabulary (float64)."""
    lq, lp = np_log_softmax(s, T), np_log_softmax(t, T)
    total, count = 0.0, 0
    for n, l in np.ndindex(*mask.shape):
        if not mask[n, l]:
            continue
        p, q = np.exp(lp[n, l]), np.exp(lq[n, l])
        kl = lambda a, la, lb: sum(ai * (x - y) for ai, x, y in zip(a, la, lb) if ai > 0)  # noqa: E731
        if beta == 0:
            d = kl(p, lp[n, l], lq[n, l])
        elif beta == 1:
            d = kl(q, lq[n, l], lp[n, l])
        else:
            m = beta * p + (1 - beta) * q
            d = beta * kl(p, lp[n, l], np.log(m)) + (1 - beta) * kl(q, lq[n, l], np.log(m))
        total += d
        count += 1
    return T * T * total / count


def trl_generalized_jsd_loss(student_logits, teacher_logits, labels=None, beta=0.5, temperature=1.0):
    """TRL's GKDTrainer.generalized_jsd_loss with reduction="batchmean", transcribed from its source.

    F.kl_div(input, target, log_target=True) is sum target.exp() * (target - input), i.e. KL(target || input).
    """
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits / temperature, dim=-1)
    if beta == 0:
        jsd = F.kl_div(student_log_probs, teacher_log_probs, reduction="none", log_target=True)
    elif beta == 1:
        jsd = F.kl_div(teacher_log_probs, student_log_probs, reduction="none", log_target=True)
    else:
        beta = torch.tensor(beta, dtype=student_log_probs.dtype)
        mixture_log_probs = torch.logsumexp(
            torch.stack([student_log_probs + torch.log(1 - beta), teacher_log_probs + torch.log(beta)]), dim=0)
        kl_teacher = F.kl_div(mixture_log_probs, teacher_log_probs, reduction="none", log_target=True)
        kl_student = F.kl_div(mixture_log_probs, student_log_probs, reduction="none", log_target=True)
        jsd = beta * kl_teacher + (1 - beta) * kl_student
    if labels is not None:
        mask = labels != -100
        jsd = jsd[mask]
    return jsd.sum() / mask.sum() if labels is not None else jsd.sum() / jsd.size(0)


def batch(seed=0, N=3, L=5, V=7, scale=3.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    s = scale * torch.randn(N, L, V, generator=g, dtype=dtype)
    t = scale * torch.randn(N, L, V, generator=g, dtype=dtype)
    mask = torch.rand(N, L, generator=g) < 0.7
    mask[0, 0] = True
    return s, t, mask


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("T", [0.5, 1.0, 2.0])
def test_matches_numpy_definition(beta, T):
    s, t, mask = batch(seed=int(10 * beta + T))
    got = token_kd_loss(s, t, mask, beta=beta, T=T).item()
    assert got == pytest.approx(np_token_kd(s.numpy(), t.numpy(), mask.numpy(), beta, T), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("beta", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_matches_trl_generalized_jsd_loss_at_T_1(beta):
    s, t, mask = batch(seed=3, N=4, L=6, V=11)
    labels = torch.where(mask, torch.zeros(mask.shape, dtype=torch.long), torch.full(mask.shape, -100))
    expected = trl_generalized_jsd_loss(s, t, labels, beta=beta).item()
    assert token_kd_loss(s, t, mask, beta=beta).item() == pytest.approx(expected, rel=1e-10)


def test_trl_differs_only_by_T_squared_at_other_temperatures():
    s, t, mask = batch(seed=4)
    labels = torch.where(mask, 0, -100)
    for beta in (0.0, 0.5, 1.0):
        trl = trl_generalized_jsd_loss(s, t, labels, beta=beta, temperature=2.0).item()
        assert token_kd_loss(s, t, mask, beta=beta, T=2.0).item() == pytest.approx(4.0 * trl, rel=1e-10)


def test_beta_endpoints_are_forward_and_reverse_kl():
    s, t, _ = batch(seed=5, N=1)
    full = torch.ones(1, 5, dtype=torch.bool)
    # forward KL(teacher || student) per position = kd_kl_loss on the (L, V) rows
    assert token_kd_loss(s, t, full, beta=0.0, T=2.0).item() == pytest.approx(kd_kl_loss(s[0], t[0], 2.0).item(), rel=1e-12)
    # reverse KL swaps the roles: KL(student || teacher)
    assert token_kd_loss(s, t, full, beta=1.0, T=2.0).item() == pytest.approx(kd_kl_loss(t[0], s[0], 2.0).item(), rel=1e-12)
    # and the two differ on asymmetric inputs
    assert abs(token_kd_loss(s, t, full, beta=0.0).item() - token_kd_loss(s, t, full, beta=1.0).item()) > 1e-3


def test_jsd_tends_to_beta_times_forward_kl_and_to_one_minus_beta_times_reverse_kl():
    s, t, mask = batch(seed=6, scale=1.0)  # moderate logits: the expansion needs beta << every q_i / p_i
    fwd = token_kd_loss(s, t, mask, beta=0.0).item()
    rev = token_kd_loss(s, t, mask, beta=1.0).item()
    eps = 1e-5
    assert token_kd_loss(s, t, mask, beta=eps).item() / eps == pytest.approx(fwd, rel=1e-3)
    assert token_kd_loss(s, t, mask, beta=1 - eps).item() / eps == pytest.approx(rev, rel=1e-3)


def test_padding_does_not_count():
    s, t, mask = batch(seed=7)
    base = token_kd_loss(s, t, mask, beta=0.5).item()
    s2, t2 = s.clone(), t.clone()
    s2[~mask] = 1e4 * torch.randn(int((~mask).sum()), s.shape[-1], dtype=s.dtype)
    t2[~mask] = -3.0
    assert token_kd_loss(s2, t2, mask, beta=0.5).item() == pytest.approx(base, rel=1e-12)
    # the mean is over the True tokens, not over N * L
    one = torch.zeros_like(mask)
    one[1, 2] = True
    single = token_kd_loss(s[1:2, 2:3], t[1:2, 2:3], torch.ones(1, 1, dtype=torch.bool), beta=0.5).item()
    assert token_kd_loss(s, t, one, beta=0.5).item() == pytest.approx(single, rel=1e-12)


def test_padding_gets_no_gradient():
    s, t, mask = batch(seed=8)
    s.requires_grad_(True)
    token_kd_loss(s, t, mask, beta=1.0).backward()
    assert (s.grad[~mask] == 0).all() and s.grad[mask].abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_extreme_logits_are_finite(dtype, beta):
    s = torch.tensor([[[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]]], dtype=dtype, requires_grad=True)
    t = torch.tensor([[[-1e4, 1e4, 0.0], [1e4, -1e4, -5.0]]], dtype=dtype, requires_grad=True)
    loss = token_kd_loss(s, t, torch.ones(1, 2, dtype=torch.bool), beta=beta, T=1.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all() and torch.isfinite(t.grad).all()


logits3 = arrays(np.float64, (2, 3, 4), elements=st.floats(-30, 30, allow_nan=False))
betas = st.floats(0.0, 1.0)


@settings(max_examples=50, deadline=None)
@given(logits3, logits3, betas, st.floats(0.3, 5.0))
def test_non_negative_and_zero_for_equal_logits(s, t, beta, T):
    s, t = torch.from_numpy(s), torch.from_numpy(t)
    mask = torch.ones(2, 3, dtype=torch.bool)
    assert token_kd_loss(s, t, mask, beta=beta, T=T).item() >= -1e-9
    assert token_kd_loss(s, s.clone(), mask, beta=beta, T=T).item() == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(logits3, logits3, st.floats(0.01, 0.99))
def test_jsd_is_symmetric_under_swapping_roles_and_beta(s, t, beta):
    """D_beta(p, q) = D_{1-beta}(q, p): GKD's JSD swaps teacher and student with beta -> 1 - beta."""
    s, t = torch.from_numpy(s), torch.from_numpy(t)
    mask = torch.ones(2, 3, dtype=torch.bool)
    a = token_kd_loss(s, t, mask, beta=beta).item()
    b = token_kd_loss(t, s, mask, beta=1 - beta).item()
    assert a == pytest.approx(b, rel=1e-7, abs=1e-10)


@settings(max_examples=50, deadline=None)
@given(logits3, logits3, st.floats(0.01, 0.99))
def test_jsd_is_bounded_by_its_entropy_bound(s, t, beta):
    """Each KL(. || m) is at most log(1/weight), so D_beta <= -beta log beta - (1-beta) log(1-beta)."""
    s, t = torch.from_numpy(s), torch.from_numpy(t)
    mask = torch.ones(2, 3, dtype=torch.bool)
    bound = -beta * math.log(beta) - (1 - beta) * math.log(1 - beta)
    assert token_kd_loss(s, t, mask, beta=beta).item() <= bound + 1e-9


S, TT, M = torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.ones(2, 3, dtype=torch.bool)


@pytest.mark.parametrize(
    "call, exc, words",
    [
        (lambda: token_kd_loss(S, torch.zeros(2, 3, 5), M), ValueError, ["teacher_logits", "(2, 3, 5)"]),
        (lambda: token_kd_loss(torch.zeros(2, 4), torch.zeros(2, 4), M), ValueError, ["student_logits", "(2, 4)"]),
        (lambda: token_kd_loss(S, TT, torch.ones(2, 4, dtype=torch.bool)), ValueError, ["mask", "(2, 4)", "(2, 3)"]),
        (lambda: token_kd_loss(S, TT, torch.zeros(2, 3, dtype=torch.bool)), ValueError, ["mask", "no True"]),
        (lambda: token_kd_loss(S, TT, torch.ones(2, 3)), TypeError, ["mask", "torch.float32"]),
        (lambda: token_kd_loss(S, TT, [[True] * 3] * 2), TypeError, ["mask", "list"]),
        (lambda: token_kd_loss(S, TT, M, beta=1.5), ValueError, ["beta", "beta=1.5"]),
        (lambda: token_kd_loss(S, TT, M, beta=-0.1), ValueError, ["beta=-0.1"]),
        (lambda: token_kd_loss(S, TT, M, beta="0.5"), TypeError, ["beta", "'0.5'"]),
        (lambda: token_kd_loss(S, TT, M, T=0), ValueError, ["T must be > 0", "T=0"]),
        (lambda: token_kd_loss(S, TT, M, T=-2.0), ValueError, ["T=-2.0"]),
        (lambda: token_kd_loss(S.long(), TT, M), TypeError, ["student_logits", "torch.int64"]),
    ],
)
def test_bad_input_raises_and_names_the_argument(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {str(info.value)!r}"


def test_docstring_has_formula_and_papers():
    doc = token_kd_loss.__doc__
    assert "math::" in doc
    for word in ("Agarwal", "Gu et al.", "Kim & Rush", "Hinton", "TRL"):
        assert word in doc, word
