"""Tests of kdutils.lm: the exact language, the models' next-token alignment, sampling, the training steps, metrics."""
from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch

from kdutils import lm
from kdutils.losses import token_kd_loss

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models are faster and steadier on one thread (as in the book's chapters)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = dict(length=4, topics=2, words_per_topic=2, states_per_topic=2)


@pytest.fixture(scope="module")
def small():
    return lm.make_language(0, **SMALL)


def all_sequences(language):
    return torch.tensor(list(itertools.product(range(language.vocab_size), repeat=language.length)))


def brute_force_prob(language, x):
    """p(x) by summing over every hidden path (no forward algorithm)."""
    S = len(language.start)
    total = 0.0
    for z in itertools.product(range(S), repeat=len(x)):
        p = language.start[z[0]] * language.emit[z[0], x[0]]
        for l in range(1, len(x)):
            p *= language.trans[z[l - 1], z[l]] * language.emit[z[l], x[l]]
        total += p
    return total


# --- the language ---------------------------------------------------------------------------

def test_probabilities_sum_to_one_over_all_sequences(small):
    seqs = all_sequences(small)
    p = np.exp(lm.log_prob(small, seqs))
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert 0 < lm.is_valid(small, seqs).mean() < 0.5  # many sequences are impossible


def test_log_prob_matches_sum_over_hidden_paths(small):
    seqs = all_sequences(small)
    rng = np.random.default_rng(0)
    valid = np.flatnonzero(lm.is_valid(small, seqs))
    pick = np.concatenate([rng.choice(valid, 5, replace=False), rng.choice(len(seqs), 5, replace=False)])
    lp = lm.log_prob(small, seqs[pick])
    for x, got in zip(seqs[pick].tolist(), lp):
        want = brute_force_prob(small, x)
        assert np.exp(got) == pytest.approx(want, rel=1e-12, abs=1e-300)
        assert np.isfinite(got) == (want > 0)


def test_response_log_prob_is_conditional(small):
    seqs = all_sequences(small)
    full = lm.log_prob(small, seqs)
    resp = lm.log_prob(small, seqs, response_only=True)
    prompt = seqs[:, : small.prompt_len]
    # p(prompt) = sum over completions; conditionals of one prompt sum to 1
    for pr in {tuple(r) for r in prompt[np.isfinite(full)].tolist()}:
        rows = (prompt == torch.tensor(pr)).all(1).numpy()
        assert np.exp(resp[rows]).sum() == pytest.approx(1.0, abs=1e-12)


def test_next_token_probs_are_distributions_and_multiply_to_log_prob(small):
    seqs = lm.sample_language(small, 200, 1)
    probs, defined = lm.next_token_probs(small, seqs)
    assert defined.all()
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-12)
    chain = np.log(np.take_along_axis(probs, seqs.numpy()[..., None], -1)[..., 0]).sum(-1)
    np.testing.assert_allclose(chain, lm.log_prob(small, seqs), rtol=1e-12)


def test_samples_are_valid_and_follow_the_exact_probabilities(small):
    seqs = lm.sample_language(small, 20000, 2)
    assert lm.is_valid(small, seqs).all()
    keys, counts = np.unique(seqs.numpy(), axis=0, return_counts=True)
    p = np.exp(lm.log_prob(small, torch.from_numpy(keys)))
    se = np.sqrt(p * (1 - p) / 20000)
    assert (np.abs(counts / 20000 - p) < 5 * se + 1e-3).all()


def test_the_book_language_is_multimodal_after_a_prompt():
    lang = lm.make_language(0)
    seqs = lm.sample_language(lang, 500, 3)
    probs, _ = lm.next_token_probs(lang, seqs)
    first = probs[:, lang.prompt_len]  # distribution of the first response token
    topic_mass = np.stack([first[:, 3 + 4 * k: 7 + 4 * k].sum(-1) for k in range(3)], -1)
    np.testing.assert_allclose(topic_mass.sum(-1), 1.0, atol=1e-12)  # the response starts in a topic
    assert ((topic_mass > 0.1).sum(-1) >= 2).all()  # at least two topics are likely after every prompt
    # and a word of another topic is impossible once a topic is chosen
    x = seqs.clone()
    topic = (x[:, lang.prompt_len] - 3) // 4
    x[:, lang.prompt_len + 1] = 3 + 4 * ((topic + 1) % 3)
    assert not lm.is_valid(lang, x).any()


def test_language_rejects_bad_tokens_and_shapes(small):
    with pytest.raises(ValueError, match="tokens in"):
        lm.log_prob(small, torch.full((1, 4), 99))
    with pytest.raises(ValueError, match="length 4"):
        lm.log_prob(small, torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="length"):
        lm.make_language(0, length=2)


# --- models: alignment, sampling ------------------------------------------------------------

def test_forward_is_causal_and_aligned():
    model = lm.build_lm(lm.LMConfig(vocab_size=7, embed=4, hidden=8), seed=0)
    x = torch.randint(7, (5, 6), generator=torch.Generator().manual_seed(0))
    base = model(x)
    for l in range(6):
        y = x.clone()
        y[:, l:] = (y[:, l:] + 1) % 7
        out = model(y)
        torch.testing.assert_close(out[:, : l + 1], base[:, : l + 1])  # position l sees only x[:, :l]
        if l + 1 < 6:
            assert not torch.allclose(out[:, l + 1:], base[:, l + 1:])


def test_incremental_step_equals_forward():
    model = lm.build_lm(lm.LMConfig(vocab_size=7, embed=4, hidden=8, layers=2), seed=1).eval()
    x = torch.randint(7, (3, 5), generator=torch.Generator().manual_seed(1))
    full = model(x)
    token, h = torch.full((3,), model.bos), None
    for l in range(5):
        logits, h = model.step(token, h)
        torch.testing.assert_close(logits, full[:, l])
        token = x[:, l]


def test_sample_has_no_gradient_keeps_prompt_restores_mode_and_repeats_with_seed():
    model = lm.build_lm(lm.LMConfig(vocab_size=7), seed=0).train()
    prompts = torch.randint(7, (6, 2), generator=torch.Generator().manual_seed(2))
    a = lm.sample(model, prompts, 8, generator=torch.Generator().manual_seed(5))
    b = lm.sample(model, prompts, 8, generator=torch.Generator().manual_seed(5))
    c = lm.sample(model, prompts, 8, generator=torch.Generator().manual_seed(6))
    assert a.shape == (6, 8) and not a.requires_grad and a.grad_fn is None
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[:, :2], prompts)
    assert model.training and all(p.grad is None for p in model.parameters())
    g1 = lm.sample(model, prompts, 8, greedy=True)
    assert torch.equal(g1, lm.sample(model, prompts, 8, greedy=True))
    # greedy picks the argmax of the model's own next-token distribution
    assert torch.equal(model.eval()(g1).argmax(-1)[:, 2:], g1[:, 2:])


def test_model_log_prob_sums_the_masked_tokens():
    model = lm.build_lm(lm.LMConfig(vocab_size=7), seed=0)
    x = torch.randint(7, (4, 6), generator=torch.Generator().manual_seed(3))
    mask = lm.response_mask(x, 2)
    logp = torch.log_softmax(model.eval()(x).double(), -1).gather(-1, x[..., None])[..., 0]
    np.testing.assert_allclose(lm.model_log_prob(model, x, mask), logp[:, 2:].sum(-1).detach().numpy(), rtol=1e-12)


def test_model_probabilities_sum_to_one_over_all_responses(small):
    model = lm.build_lm(lm.LMConfig(vocab_size=small.vocab_size, hidden=8), seed=0)
    seqs = all_sequences(small)
    prompt0 = (seqs[:, :2] == seqs[0, :2]).all(1)
    lp = lm.model_log_prob(model, seqs[prompt0], lm.response_mask(seqs[prompt0], 2))
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-9)


# --- training steps -------------------------------------------------------------------------

def test_distill_step_is_zero_for_a_copy_and_leaves_the_teacher_alone():
    teacher = lm.build_lm(lm.LMConfig(vocab_size=7), seed=0)
    student = copy.deepcopy(teacher)
    x = torch.randint(7, (4, 6), generator=torch.Generator().manual_seed(4))
    before = [p.clone() for p in teacher.parameters()]
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    for beta in (0.0, 0.5, 1.0):
        assert lm.distill_step(student, teacher, x, lm.response_mask(x, 2), opt, beta=beta) == pytest.approx(0.0, abs=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(before, teacher.parameters()))
    assert all(p.grad is None for p in teacher.parameters())


def test_on_policy_step_scores_the_students_own_samples_with_reverse_kl():
    teacher = lm.build_lm(lm.LMConfig(vocab_size=7, hidden=16), seed=0)
    student = lm.build_lm(lm.LMConfig(vocab_size=7, hidden=4), seed=1)
    prompts = torch.randint(7, (8, 2), generator=torch.Generator().manual_seed(5))
    # what the step should compute: the student's samples (same generator seed), reverse KL on the response
    seqs = lm.sample(student, prompts, 6, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        want = token_kd_loss(student(seqs), teacher(seqs), lm.response_mask(seqs, 2), beta=1.0).item()
    t_before = [p.clone() for p in teacher.parameters()]
    s_before = [p.clone() for p in student.parameters()]
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    got = lm.on_policy_step(student, teacher, prompts, 6, opt, beta=1.0, generator=torch.Generator().manual_seed(9))
    assert isinstance(got, float) and got == pytest.approx(want, rel=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(t_before, teacher.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(s_before, student.parameters()))


def test_sft_step_lowers_the_loss_on_its_batch():
    model = lm.build_lm(lm.LMConfig(vocab_size=7), seed=0)
    x = torch.randint(7, (8, 6), generator=torch.Generator().manual_seed(6))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = [lm.sft_step(model, x, lm.response_mask(x, 2), opt) for _ in range(20)]
    assert losses[-1] < losses[0]


# --- metrics --------------------------------------------------------------------------------

def uniform_model(V):
    model = lm.build_lm(lm.LMConfig(vocab_size=V), seed=0)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    return model


def test_exposure_bias_of_a_uniform_model_is_the_fraction_of_impossible_tokens(small):
    model = uniform_model(small.vocab_size)
    held = lm.sample_language(small, 300, 7)
    eb = lm.exposure_bias(small, model, held, n_samples=300, generator=torch.Generator().manual_seed(0))
    p, _ = lm.next_token_probs(small, held)
    want = (p[:, small.prompt_len:] == 0).mean(0).mean(-1)
    np.testing.assert_allclose(eb["forced"], want, rtol=1e-12)
    assert eb["own"].shape == eb["kl_own"].shape == eb["alive"].shape == (small.response_len,)
    assert eb["alive"][0] == 1.0 and (np.diff(eb["alive"]) <= 0).all()


def test_evaluate_of_a_uniform_model_is_exact(small):
    model = uniform_model(small.vocab_size)
    held = lm.sample_language(small, 300, 8)
    m = lm.evaluate(small, model, held, n_samples=400, generator=torch.Generator().manual_seed(0))
    R, V = small.response_len, small.vocab_size
    assert m["true_nll"] == pytest.approx(R * np.log(V), rel=1e-9)
    assert m["entropy"] == pytest.approx(R * np.log(V), rel=1e-9)
    # a uniform response is valid with probability (# valid responses of the prompt) / V^R, averaged over prompts
    seqs = all_sequences(small)
    valid = lm.is_valid(small, seqs)
    per_prompt = {}
    for x, v in zip(seqs.tolist(), valid):
        per_prompt.setdefault(tuple(x[:2]), []).append(v)
    expected = np.mean([np.mean(per_prompt[tuple(pr)]) for pr in (held[torch.arange(400) % 300, :2]).tolist()])
    assert abs(m["validity"] - expected) < 4 * np.sqrt(expected * (1 - expected) / 400) + 1e-9
    assert m["entropy_true"] == pytest.approx(-lm.log_prob(small, held, response_only=True).mean())


# --- methods at one budget ------------------------------------------------------------------

def test_every_method_trains_on_the_same_tokens_and_counts_its_teacher(small):
    teacher = lm.build_lm(lm.LMConfig(vocab_size=small.vocab_size, hidden=16), seed=0).eval()
    data = lm.sample_language(small, 64, 9)
    cfg, budget = lm.LMConfig(vocab_size=small.vocab_size, embed=4, hidden=4), lm.Budget(steps=3, batch=8)
    R, L = small.response_len, small.length
    out = {name: lm.run_method(name, small, teacher, data, cfg, budget, seed=0) for name in lm.METHODS}
    assert {r.student_tokens for r in out.values()} == {3 * 8 * R}
    assert out["finetune"].teacher_tokens == 0 and out["finetune"].student_generated == 0
    assert out["word_kd"].teacher_tokens == 3 * 8 * L
    assert out["seq_kd_greedy"].teacher_tokens == 64 * L
    assert out["on_policy_rkl"].student_generated == 3 * 8 * R and out["on_policy_rkl"].teacher_tokens == 3 * 8 * L
    again = lm.run_method("on_policy_rkl", small, teacher, data, cfg, budget, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(again.model.parameters(), out["on_policy_rkl"].model.parameters()))


@pytest.mark.parametrize("call, exc, words", [
    (lambda: lm.Method("web", "ce"), ValueError, ["source", "'web'"]),
    (lambda: lm.Method("data", "mse"), ValueError, ["loss", "'mse'"]),
    (lambda: lm.Method("mixed", "kd", beta=1.5), ValueError, ["beta=1.5"]),
    (lambda: lm.Method("mixed", "kd", lam=-0.1), ValueError, ["lam=-0.1"]),
    (lambda: lm.Budget(steps=0), ValueError, ["steps", "0"]),
    (lambda: lm.Budget(lr=0.0), ValueError, ["lr=0.0"]),
    (lambda: lm.LMConfig(hidden=0), ValueError, ["hidden", "0"]),
    (lambda: lm.run_method("magic", None, None, None, None, None, 0), ValueError, ["name", "'magic'"]),
    (lambda: lm.sample(lm.build_lm(lm.LMConfig(), 0), torch.zeros(2, 5, dtype=torch.long), 4), ValueError, ["prompts", "(2, 5)"]),
])
def test_bad_input_names_argument_and_value(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {info.value}"
