"""Distilling language models on a language whose every probability is known.

The chapter "Distilling language models" compares word-level KD, sequence-level
KD (Kim & Rush 2016, "Sequence-Level Knowledge Distillation", EMNLP) and
on-policy distillation (Agarwal et al. 2024, "On-Policy Distillation of
Language Models: Learning from Self-Generated Mistakes", ICLR; GKD) with
forward and reverse KL (Gu et al. 2024, "MiniLLM", ICLR) on a CPU. Real text
has no known probabilities, so every metric there is estimated by another
model. Here the "text" comes from a hidden Markov model (``Language``), so the
probability of every sequence, and the true next-token distribution after
every prefix, are computed exactly by the forward algorithm.

The pieces, one concept per function:

* the language: ``make_language`` (the book's multi-modal HMM), ``sample_language``,
  ``log_prob`` (exact), ``is_valid``, ``next_token_probs`` (exact, per position);
* the models: ``LMConfig`` and ``TinyLM`` (a GRU language model), ``build_lm``;
* generation and scoring, kept apart: ``sample`` (never carries a gradient),
  ``model_log_prob`` (the model's own exact log-probability of given tokens);
* data and training steps: ``teacher_dataset`` (sequence-level KD data),
  ``sft_step`` (cross-entropy on given tokens), ``distill_step`` (token-level
  KD on given tokens, ``kdutils.losses.token_kd_loss``), ``on_policy_step``
  (the student samples, the teacher scores every token);
* exact metrics: ``evaluate`` and ``exposure_bias``;
* the methods compared in the chapter at one budget: ``METHODS``, ``Budget``, ``run_method``.

A sequence is a ``LongTensor (N, L)``: a prompt of ``language.prompt_len``
tokens followed by the response. The models see a beginning-of-sequence token
(index ``V``) first, and ``model(x)[:, l]`` is the distribution of ``x[:, l]``
given ``x[:, :l]``: the next-token alignment is done once, in ``TinyLM.forward``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ._checks import check_number, check_positive_int, check_temperature
from .losses import token_kd_loss

__all__ = [
    "Language",
    "make_language",
    "sample_language",
    "log_prob",
    "is_valid",
    "next_token_probs",
    "LMConfig",
    "TinyLM",
    "build_lm",
    "sample",
    "model_log_prob",
    "response_mask",
    "teacher_dataset",
    "sft_step",
    "distill_step",
    "on_policy_step",
    "evaluate",
    "exposure_bias",
    "Method",
    "METHODS",
    "Budget",
    "RunResult",
    "train_teacher",
    "run_method",
    "Setup",
    "prepare",
    "run_experiment",
]


# --------------------------------------------------------------------------- the language


@dataclass(frozen=True)
class Language:
    r"""A hidden Markov model over ``V`` tokens, emitting fixed-length sequences.

    .. math:: p(x_{1:L}) = \sum_{z_{1:L}} \pi_{z_1} B_{z_1 x_1} \prod_{l=2}^{L} A_{z_{l-1} z_l} B_{z_l x_l}

    ``start`` is :math:`\pi` ``(S,)``, ``trans`` is :math:`A` ``(S, S)`` and
    ``emit`` is :math:`B` ``(S, V)``, rows summing to 1, float64. Zeros in
    them make some sequences impossible (probability exactly 0), which is what
    "valid" means. The first ``prompt_len`` tokens are the prompt, the rest the
    response.
    """

    start: np.ndarray
    trans: np.ndarray
    emit: np.ndarray
    length: int
    prompt_len: int
    names: tuple[str, ...] = field(default=())

    def __post_init__(self):
        S, V = self.emit.shape
        for name, x, shape in (("start", self.start, (S,)), ("trans", self.trans, (S, S)), ("emit", self.emit, (S, V))):
            if x.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {name}.shape={x.shape}")
            if (x < 0).any() or not np.allclose(x.sum(-1), 1.0):
                raise ValueError(f"{name} must hold probabilities whose rows sum to 1, got row sums {x.sum(-1)}")
        check_positive_int("length", self.length)
        if not 0 <= self.prompt_len < self.length:
            raise ValueError(f"prompt_len must be in [0, length), got prompt_len={self.prompt_len}, length={self.length}")

    @property
    def vocab_size(self) -> int:
        return self.emit.shape[1]

    @property
    def response_len(self) -> int:
        return self.length - self.prompt_len


def make_language(seed: int = 0, length: int = 10, topics: int = 3, words_per_topic: int = 4,
                  states_per_topic: int = 3, concentration: float = 2.0) -> Language:
    """The book's language: a short shared opening, then one of several *topics* with disjoint vocabularies.

    Tokens ``0..2`` are "openers"; each topic ``k`` has its own ``words_per_topic``
    tokens. The first two hidden states emit openers (the prompt, two tokens); the
    second one jumps into topic ``k`` with probabilities that depend on which
    openers were used, and the sequence never leaves that topic. Inside a topic
    each of its ``states_per_topic`` states emits 2 of the topic's words and
    moves to 2 of the topic's states (weights drawn with ``seed`` from a
    Dirichlet with ``concentration``; smaller is more peaked). So after a prompt there are
    several very different ways to go on (multi-modal), a word of another topic
    is impossible, and so are many word orders within a topic.
    """
    check_positive_int("length", length)
    if length < 3:
        raise ValueError(f"length must be >= 3 (a 2-token prompt and a response), got length={length}")
    rng = np.random.default_rng(seed)
    check_positive_int("states_per_topic", states_per_topic)
    conc = check_number("concentration", concentration)
    if states_per_topic < 2 or words_per_topic < 2 or not conc > 0:
        raise ValueError(f"need states_per_topic >= 2, words_per_topic >= 2 and concentration > 0, got "
                         f"{states_per_topic}, {words_per_topic}, {concentration}")
    openers, per = 3, states_per_topic
    V = openers + topics * words_per_topic
    # hidden states: a1, b1 (position 1), a2, b2 (position 2), then `per` states per topic
    S = 4 + topics * per
    start = np.zeros(S)
    trans = np.zeros((S, S))
    emit = np.zeros((S, V))
    start[[0, 1]] = [0.5, 0.5]
    trans[0, [2, 3]] = [0.8, 0.2]
    trans[1, [2, 3]] = [0.3, 0.7]
    emit[0, :openers] = [0.7, 0.2, 0.1]
    emit[1, :openers] = [0.1, 0.3, 0.6]
    emit[2, :openers] = [0.6, 0.3, 0.1]
    emit[3, :openers] = [0.2, 0.2, 0.6]
    # position 2 -> the first state of a topic: a2 favours topic 0, b2 the last topic; every topic is reachable
    mix_a = np.linspace(3.0, 1.0, topics)
    mix_b = mix_a[::-1]
    for k in range(topics):
        first = 4 + k * per
        trans[2, first] = mix_a[k] / mix_a.sum()
        trans[3, first] = mix_b[k] / mix_b.sum()
        words = openers + k * words_per_topic + np.arange(words_per_topic)
        for j in range(per):
            s = first + j
            w = rng.choice(words, size=2, replace=False)
            emit[s, w] = rng.dirichlet([conc, conc])
            nxt = first + rng.choice(per, size=2, replace=False)
            trans[s, nxt] = rng.dirichlet([conc, conc])
    names = tuple(["<", "~", ">"] + [f"{chr(ord('a') + k)}{i}" for k in range(topics) for i in range(words_per_topic)])
    return Language(start, trans, emit, length=length, prompt_len=2, names=names)


def _as_numpy_tokens(language: Language, seqs) -> np.ndarray:
    x = seqs.detach().cpu().numpy() if isinstance(seqs, torch.Tensor) else np.asarray(seqs)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"seqs must be an integer array (N, L), got shape {x.shape} and dtype {x.dtype}")
    if x.size and (x.min() < 0 or x.max() >= language.vocab_size):
        raise ValueError(f"seqs must hold tokens in [0, {language.vocab_size - 1}], got [{x.min()}, {x.max()}]")
    return x


def sample_language(language: Language, n: int, generator: np.random.Generator | int) -> torch.Tensor:
    """``n`` sequences drawn from the language itself (ancestral sampling of the HMM). ``(n, L)`` long."""
    n = check_positive_int("n", n)
    rng = generator if isinstance(generator, np.random.Generator) else np.random.default_rng(generator)
    S, V = language.emit.shape
    z = rng.choice(S, size=n, p=language.start)
    out = np.empty((n, language.length), dtype=np.int64)
    for l in range(language.length):
        if l:
            cum = language.trans[z].cumsum(-1)
            z = (rng.random((n, 1)) > cum).sum(-1).clip(max=S - 1)
        cum = language.emit[z].cumsum(-1)
        out[:, l] = (rng.random((n, 1)) > cum).sum(-1).clip(max=V - 1)
    return torch.from_numpy(out)


def _forward(language: Language, x: np.ndarray):
    """Scaled forward algorithm: per-position predictive p(x_l = v | x_<l) ``(N, L, V)`` and log p(x_l | x_<l) ``(N, L)``."""
    N, L = x.shape
    pred = np.zeros((N, L, language.vocab_size))
    step_logp = np.zeros((N, L))
    belief = np.broadcast_to(language.start, (N, len(language.start))).copy()  # p(z_l | x_<l)
    for l in range(L):
        pred[:, l] = belief @ language.emit
        joint = belief * language.emit[:, x[:, l]].T  # p(z_l, x_l | x_<l)  (N, S)
        c = joint.sum(-1)
        with np.errstate(divide="ignore"):
            step_logp[:, l] = np.log(c)
        alive = c > 0
        post = np.zeros_like(joint)
        post[alive] = joint[alive] / c[alive, None]
        belief = post @ language.trans
    return pred, step_logp


def log_prob(language: Language, seqs, response_only: bool = False) -> np.ndarray:
    """Exact log p(x) of each sequence (float64 ``(N,)``; ``-inf`` if impossible), by the forward algorithm.

    ``response_only=True`` gives log p(response | prompt) = log p(x) - log p(prompt).
    """
    x = _as_numpy_tokens(language, seqs)
    if x.shape[1] != language.length:
        raise ValueError(f"seqs must have length {language.length}, got seqs.shape={x.shape}")
    _, step = _forward(language, x)
    first = language.prompt_len if response_only else 0
    with np.errstate(invalid="ignore"):
        return step[:, first:].sum(-1)


def is_valid(language: Language, seqs) -> np.ndarray:
    """``p(x) > 0`` for each sequence: bool ``(N,)``."""
    return np.isfinite(log_prob(language, seqs))


def next_token_probs(language: Language, seqs) -> tuple[np.ndarray, np.ndarray]:
    """The true next-token distributions along each sequence, and where they are defined.

    Returns ``probs`` ``(N, L, V)`` with ``probs[n, l] = p(x_l = . | x_<l)`` and
    ``defined`` ``(N, L)`` bool, False where the prefix ``x_<l`` itself is
    impossible (then the row is all zeros).
    """
    x = _as_numpy_tokens(language, seqs)
    pred, step = _forward(language, x)
    prefix_ok = np.concatenate([np.ones((len(x), 1), bool), np.isfinite(np.cumsum(step, -1))[:, :-1]], axis=1)
    pred[~prefix_ok] = 0.0
    return pred, prefix_ok


# --------------------------------------------------------------------------- the models


@dataclass(frozen=True)
class LMConfig:
    """A GRU language model: token embedding (``V`` tokens plus a start token) -> GRU -> logits over ``V``.

    Why a GRU and not a transformer: the sequences are 10 tokens long, so a
    recurrent model has no long-range problem to solve, it samples one token at
    a time from a hidden state (no attention cache to write), and at this size it
    trains several times faster per step on a CPU, which is what lets the
    chapter train 27 students in its time budget. It is a decoder-only
    autoregressive model like a GPT: it predicts token ``l`` from tokens ``< l``.
    What the chapter measures (prefix source, KL direction) does not depend on
    the architecture; the size gap between teacher and student does.
    """

    vocab_size: int = 15
    embed: int = 16
    hidden: int = 64
    layers: int = 1

    def __post_init__(self):
        for name in ("vocab_size", "embed", "hidden", "layers"):
            check_positive_int(name, getattr(self, name))


class TinyLM(nn.Module):
    """``forward(x)`` ``(N, L)`` -> logits ``(N, L, V)``, where ``[:, l]`` predicts ``x[:, l]`` from ``x[:, :l]``."""

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        self.bos = config.vocab_size
        self.embed = nn.Embedding(config.vocab_size + 1, config.embed)
        self.rnn = nn.GRU(config.embed, config.hidden, num_layers=config.layers, batch_first=True)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"x must be a (N, L) tensor of token ids, got x.shape={tuple(x.shape)}")
        bos = torch.full((x.shape[0], 1), self.bos, dtype=torch.long, device=x.device)
        inputs = torch.cat([bos, x[:, :-1]], dim=1)  # the shift: position l sees tokens < l
        out, _ = self.rnn(self.embed(inputs))
        return self.head(out)

    def step(self, token: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One token in ``(N,)``, logits for the next one out ``(N, V)``, and the new hidden state."""
        out, h = self.rnn(self.embed(token).unsqueeze(1), h)
        return self.head(out[:, 0]), h


def build_lm(config: LMConfig, seed: int) -> TinyLM:
    """A freshly initialised ``TinyLM``; the same ``seed`` gives the same weights."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return TinyLM(config)


# --------------------------------------------------------------------------- generation and scoring


@torch.no_grad()
def sample(model: TinyLM, prompts: torch.Tensor, length: int, generator: torch.Generator | None = None,
           greedy: bool = False, temperature: float = 1.0) -> torch.Tensor:
    """Complete each prompt ``(N, P)`` to ``length`` tokens: ``(N, length)``; no gradient, model left in its mode.

    ``greedy=True`` takes the argmax at every step (the teacher's "mode", as
    beam search approximates in Kim & Rush 2016); otherwise tokens are drawn from
    ``softmax(logits / temperature)`` with ``generator``.
    """
    check_positive_int("length", length)
    temperature = check_temperature(temperature)
    if prompts.dim() != 2 or prompts.shape[1] >= length:
        raise ValueError(f"prompts must be (N, P) with P < length={length}, got prompts.shape={tuple(prompts.shape)}")
    was_training = model.training
    model.eval()
    try:
        N, P = prompts.shape
        out = torch.empty((N, length), dtype=torch.long)
        out[:, :P] = prompts
        token = torch.full((N,), model.bos, dtype=torch.long)
        h = None
        for l in range(length):
            logits, h = model.step(token, h)
            if l < P:
                token = prompts[:, l]
                continue
            if greedy:
                token = logits.argmax(-1)
            else:
                probs = torch.softmax(logits.double() / temperature, -1)
                token = torch.multinomial(probs, 1, generator=generator)[:, 0]
            out[:, l] = token
        return out
    finally:
        model.train(was_training)


def response_mask(seqs: torch.Tensor, prompt_len: int) -> torch.Tensor:
    """True on the response tokens (positions ``>= prompt_len``): the tokens a loss counts. ``(N, L)`` bool."""
    mask = torch.zeros(seqs.shape, dtype=torch.bool)
    mask[:, prompt_len:] = True
    return mask


@torch.no_grad()
def model_log_prob(model: TinyLM, seqs: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """The model's exact log q of the tokens where ``mask`` is True, summed per sequence: float64 ``(N,)``."""
    was_training = model.training
    model.eval()
    try:
        logp = torch.log_softmax(model(seqs).double(), -1)  # (N, L, V)
        tok = logp.gather(-1, seqs.unsqueeze(-1))[..., 0]  # (N, L)
        return torch.where(mask, tok, torch.zeros_like(tok)).sum(-1).numpy()
    finally:
        model.train(was_training)


@torch.no_grad()
def teacher_dataset(teacher: TinyLM, prompts: torch.Tensor, length: int, generator: torch.Generator | None = None,
                    greedy: bool = False) -> torch.Tensor:
    """Sequence-level KD data (Kim & Rush 2016): the teacher's completions of ``prompts`` (eval mode, no gradient)."""
    return sample(teacher, prompts, length, generator=generator, greedy=greedy)


# --------------------------------------------------------------------------- training steps


def sft_step(model: TinyLM, seqs: torch.Tensor, mask: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """One step of cross-entropy (teacher forcing) on the tokens of ``seqs`` where ``mask`` is True."""
    model.train()
    logits = model(seqs)
    nll = nn.functional.cross_entropy(logits.transpose(1, 2), seqs, reduction="none")  # (N, L)
    loss = torch.where(mask, nll, torch.zeros_like(nll)).sum() / mask.sum()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def distill_step(student: TinyLM, teacher: TinyLM, seqs: torch.Tensor, mask: torch.Tensor,
                 optimizer: torch.optim.Optimizer, beta: float, T: float = 1.0) -> float:
    """One step of token-level KD on given sequences: ``token_kd_loss`` at every position where ``mask`` is True.

    Both models read the same prefixes ``seqs[:, :l]``; the teacher in eval mode
    and without gradient. Where the prefixes come from (data, teacher or the
    student itself) is the caller's choice: this is GKD's loss for a given λ.
    """
    teacher.eval()
    with torch.no_grad():
        t_logits = teacher(seqs)
    student.train()
    loss = token_kd_loss(student(seqs), t_logits, mask, beta=beta, T=T)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def on_policy_step(student: TinyLM, teacher: TinyLM, prompts: torch.Tensor, length: int,
                   optimizer: torch.optim.Optimizer, beta: float = 1.0, generator: torch.Generator | None = None,
                   T: float = 1.0) -> float:
    """On-policy distillation (GKD with λ = 1): the student completes ``prompts``, the teacher scores every token.

    1. sample responses from the student (no gradient; ``sample``);
    2. on the student's own prefixes, the per-token divergence between the
       teacher's and the student's next-token distributions (``beta=1``: the
       reverse KL, KL(student ‖ teacher)) over the response positions;
    3. one optimizer step. Returns the loss as a float.

    As in GKD, the gradient does not flow through the sampling: the samples are
    treated as data once drawn (MiniLLM instead optimises the sequence-level
    reverse KL with a policy gradient, which this step does not do).
    """
    seqs = sample(student, prompts, length, generator=generator)
    mask = response_mask(seqs, prompts.shape[1])
    return distill_step(student, teacher, seqs, mask, optimizer, beta=beta, T=T)


# --------------------------------------------------------------------------- exact metrics


def evaluate(language: Language, model: TinyLM, heldout: torch.Tensor, n_samples: int = 2000,
             generator: torch.Generator | None = None) -> dict[str, float]:
    """Exact metrics of a model on the language, per response (nats per response of ``response_len`` tokens).

    The prompts are those of ``heldout`` (true sequences; cycled to ``n_samples``). Returns:

    * ``validity``: fraction of the model's samples with p(x) > 0;
    * ``sample_logp``: mean true log p(response | prompt) of the *valid* samples
      (quality, the reverse-KL side; invalid samples have -inf and are counted by ``validity``);
    * ``true_nll``: the model's exact -log q(response | prompt) on the held-out true
      sequences (coverage, the forward-KL side); the language's own value is ``entropy_true``;
    * ``distinct``: fraction of distinct sequences among the samples;
    * ``entropy``: -mean log q of the model's own samples (an estimate of its entropy)
      and ``entropy_true``: -mean log p of the held-out sequences (the language's, same estimator).
    """
    P, L = language.prompt_len, language.length
    idx = torch.arange(n_samples) % len(heldout)
    samples = sample(model, heldout[idx, :P], L, generator=generator)
    lp = log_prob(language, samples, response_only=True)
    valid = np.isfinite(lp)
    mask_h = response_mask(heldout, P)
    q_own = model_log_prob(model, samples, response_mask(samples, P))
    return {
        "validity": float(valid.mean()),
        "sample_logp": float(lp[valid].mean()) if valid.any() else float("-inf"),
        "true_nll": float(-model_log_prob(model, heldout, mask_h).mean()),
        "distinct": float(len({tuple(r) for r in samples.tolist()}) / len(samples)),
        "entropy": float(-q_own.mean()),
        "entropy_true": float(-log_prob(language, heldout, response_only=True).mean()),
    }


def exposure_bias(language: Language, model: TinyLM, heldout: torch.Tensor, n_samples: int = 2000,
                  generator: torch.Generator | None = None) -> dict[str, np.ndarray]:
    """Per-position error of the model on true (teacher-forced) prefixes vs its *own* prefixes.

    At each response position l, the error is the probability the model gives to
    tokens that are impossible after the prefix (the true p(. | x_<l) is 0 there),
    averaged over prefixes: ``forced[l]`` over the prefixes of the held-out true
    sequences, ``own[l]`` over the prefixes of the model's own samples that are
    still valid (an invalid prefix has no true next-token distribution).
    ``kl_forced`` and ``kl_own`` are the same averages of KL(p(. | x_<l) ‖ q(. | x_<l))
    over the tokens with p > 0 (+ the invalid mass is what makes q fall short of covering p).
    All ``(response_len,)`` arrays; ``alive`` is the fraction of own samples still valid at l.
    """
    P, L = language.prompt_len, language.length
    idx = torch.arange(n_samples) % len(heldout)
    own = sample(model, heldout[idx, :P], L, generator=generator)

    def errors(seqs: torch.Tensor):
        p, defined = next_token_probs(language, seqs)
        with torch.no_grad():
            q = torch.softmax(model.eval()(seqs).double(), -1).numpy()
        bad = np.where(p > 0, 0.0, q).sum(-1)  # (N, L)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0).sum(-1)
        d = defined[:, P:]
        mean = lambda a: np.array([a[d[:, j], P + j].mean() if d[:, j].any() else np.nan for j in range(L - P)])  # noqa: E731
        return mean(bad), mean(kl), d.mean(0)

    forced, kl_forced, _ = errors(heldout)
    own_bad, kl_own, alive = errors(own)
    return {"forced": forced, "own": own_bad, "kl_forced": kl_forced, "kl_own": kl_own, "alive": alive}


# --------------------------------------------------------------------------- the methods, at one budget


@dataclass(frozen=True)
class Method:
    """A way to train the student, as GKD parametrises it (Agarwal et al. 2024, Algorithm 1).

    ``source`` says where the training sequences come from: ``"data"`` (the
    language's own samples), ``"teacher_greedy"`` / ``"teacher_sampled"`` (the
    teacher's completions of the data prompts, made once, before training), or
    ``"mixed"`` (each step: the student's own samples with probability ``lam``,
    else the data; ``lam = 1`` is fully on-policy). ``loss`` is ``"ce"``
    (cross-entropy on the tokens: fine-tuning, sequence-level KD) or ``"kd"``
    (``token_kd_loss`` against the teacher with ``beta``).
    """

    source: str
    loss: str
    beta: float = 0.0
    lam: float = 0.0

    def __post_init__(self):
        if self.source not in ("data", "teacher_greedy", "teacher_sampled", "mixed"):
            raise ValueError(f"source must be data, teacher_greedy, teacher_sampled or mixed, got source={self.source!r}")
        if self.loss not in ("ce", "kd"):
            raise ValueError(f"loss must be 'ce' or 'kd', got loss={self.loss!r}")
        for name in ("beta", "lam"):
            v = check_number(name, getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {name}={v!r}")


METHODS: dict[str, Method] = {
    "finetune": Method("data", "ce"),                          # no teacher: the baseline
    "word_kd": Method("data", "kd", beta=0.0),                 # forward KL on data prefixes (Kim & Rush word-level)
    "seq_kd_greedy": Method("teacher_greedy", "ce"),           # Kim & Rush sequence-level, the teacher's mode
    "seq_kd_sampled": Method("teacher_sampled", "ce"),         # sequence-level, teacher samples
    "on_policy_rkl": Method("mixed", "kd", beta=1.0, lam=1.0),  # GKD lambda=1, beta=1
    "gkd_jsd": Method("mixed", "kd", beta=0.5, lam=1.0),       # GKD lambda=1, generalized JSD
    "gkd_mixed": Method("mixed", "kd", beta=0.5, lam=0.5),     # GKD lambda=0.5, generalized JSD
    "data_rkl": Method("data", "kd", beta=1.0),                # 2x2: data prefixes, reverse KL
    "on_policy_fkl": Method("mixed", "kd", beta=0.0, lam=1.0),  # 2x2: own prefixes, forward KL
}


@dataclass(frozen=True)
class Budget:
    """The training budget every method gets: ``steps`` optimizer steps of ``batch`` sequences (``lr`` for Adam)."""

    steps: int = 300
    batch: int = 32
    lr: float = 1e-2

    def __post_init__(self):
        check_positive_int("steps", self.steps)
        check_positive_int("batch", self.batch)
        if not check_number("lr", self.lr) > 0:
            raise ValueError(f"lr must be > 0, got lr={self.lr!r}")


@dataclass
class RunResult:
    """A trained student and what it cost: tokens trained on, tokens generated, teacher tokens, seconds."""

    method: str
    seed: int
    model: TinyLM
    student_tokens: int
    student_generated: int
    teacher_tokens: int
    seconds: float
    losses: list[float]


def train_teacher(language: Language, data: torch.Tensor, config: LMConfig, budget: Budget, seed: int) -> TinyLM:
    """The teacher: ``config`` trained by cross-entropy on the true ``data`` (response tokens), left in eval mode."""
    model = build_lm(config, seed)
    opt = torch.optim.Adam(model.parameters(), lr=budget.lr)
    g = torch.Generator().manual_seed(seed)
    mask_all = response_mask(data, language.prompt_len)
    for _ in range(budget.steps):
        i = torch.randint(len(data), (budget.batch,), generator=g)
        sft_step(model, data[i], mask_all[i], opt)
    return model.eval()


def run_method(name: str, language: Language, teacher: TinyLM, data: torch.Tensor, config: LMConfig,
               budget: Budget, seed: int) -> RunResult:
    """Train a fresh student (``config``, ``seed``) with ``METHODS[name]`` for ``budget``; count its cost.

    Every method makes ``budget.steps`` optimizer steps on ``budget.batch``
    sequences, so every method trains on the same number of response tokens
    (``student_tokens``). ``teacher_tokens`` counts the token positions the
    teacher read (one forward pass reads ``length`` positions per sequence,
    whether it generates or scores); ``student_generated`` the tokens the
    student sampled for itself.
    """
    if name not in METHODS:
        raise ValueError(f"name must be one of {sorted(METHODS)}, got name={name!r}")
    m = METHODS[name]
    t0 = time.perf_counter()
    P, L, R = language.prompt_len, language.length, language.response_len
    g = torch.Generator().manual_seed(1000 + seed)
    student = build_lm(config, seed)
    opt = torch.optim.Adam(student.parameters(), lr=budget.lr)
    teacher.eval()
    teacher_tokens = student_generated = 0
    pool = data
    if m.source.startswith("teacher_"):
        pool = teacher_dataset(teacher, data[:, :P], L, generator=g, greedy=m.source == "teacher_greedy")
        teacher_tokens += len(data) * L
    losses = []
    for _ in range(budget.steps):
        i = torch.randint(len(pool), (budget.batch,), generator=g)
        seqs = pool[i]
        if m.source == "mixed" and float(torch.rand((), generator=g)) < m.lam:
            losses.append(on_policy_step(student, teacher, seqs[:, :P], L, opt, beta=m.beta, generator=g))
            student_generated += budget.batch * R
            teacher_tokens += budget.batch * L
            continue
        mask = response_mask(seqs, P)
        if m.loss == "ce":
            losses.append(sft_step(student, seqs, mask, opt))
        else:
            losses.append(distill_step(student, teacher, seqs, mask, opt, beta=m.beta))
            teacher_tokens += budget.batch * L
    student.eval()
    return RunResult(name, seed, student, budget.steps * budget.batch * R, student_generated, teacher_tokens,
                     time.perf_counter() - t0, losses)


# --------------------------------------------------------------------------- the chapter's experiment


@dataclass(frozen=True)
class Setup:
    """Everything the chapter's comparison fixes: the language, the data, both models and both budgets.

    The teacher is trained once (``teacher_seed``) on ``teacher_data`` true
    sequences; each student seed changes the student's initialisation, the order
    of its batches and its samples, not the teacher or the ``data`` (``data``
    true training sequences, whose prompts sequence-level KD completes).
    """

    language_seed: int = 0
    states_per_topic: int = 4
    concentration: float = 0.5
    data: int = 2000
    heldout: int = 1000
    teacher_data: int = 20000
    teacher: LMConfig = LMConfig(embed=16, hidden=48)
    student: LMConfig = LMConfig(embed=8, hidden=8)
    teacher_budget: Budget = Budget(steps=300, batch=128, lr=1e-2)
    budget: Budget = Budget(steps=80, batch=64, lr=2e-2)
    teacher_seed: int = 0
    n_samples: int = 1000

    def language(self) -> Language:
        return make_language(self.language_seed, states_per_topic=self.states_per_topic,
                             concentration=self.concentration)


def prepare(setup: Setup) -> dict:
    """The language, its data (training, held-out, teacher's) and the trained teacher, for ``run_experiment``."""
    language = setup.language()
    data = sample_language(language, setup.data, np.random.default_rng([setup.language_seed, 1]))
    heldout = sample_language(language, setup.heldout, np.random.default_rng([setup.language_seed, 2]))
    big = sample_language(language, setup.teacher_data, np.random.default_rng([setup.language_seed, 3]))
    t0 = time.perf_counter()
    teacher = train_teacher(language, big, setup.teacher, setup.teacher_budget, setup.teacher_seed)
    seconds = time.perf_counter() - t0
    return {"language": language, "data": data, "heldout": heldout, "teacher": teacher,
            "teacher_seconds": seconds, "teacher_tokens_trained": setup.teacher_budget.steps
            * setup.teacher_budget.batch * language.response_len}


def run_experiment(setup: Setup, prepared: dict, methods, seeds) -> list[dict]:
    """Train a student per (method, seed) and measure it exactly: one row (a dict) per run.

    Each row has ``method``, ``seed``, the metrics of ``evaluate``, the last
    position's exposure-bias errors, and the costs of ``run_method``.
    """
    lang, teacher = prepared["language"], prepared["teacher"]
    rows = []
    for name in methods:
        for seed in seeds:
            r = run_method(name, lang, teacher, prepared["data"], setup.student, setup.budget, seed)
            g = torch.Generator().manual_seed(10_000 + seed)
            row = {"method": name, "seed": seed, **evaluate(lang, r.model, prepared["heldout"], setup.n_samples, g),
                   "student_tokens": r.student_tokens, "student_generated": r.student_generated,
                   "teacher_tokens": r.teacher_tokens, "seconds": r.seconds, "model": r.model}
            rows.append(row)
    return rows
