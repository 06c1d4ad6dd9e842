"""Tests of kdutils.train: learning happens, the teacher stays frozen, runs repeat exactly under a seed."""
from __future__ import annotations

import copy

import pytest
import torch

import kdutils as kd
from kdutils.models import MLPConfig
from kdutils.train import TrainConfig


@pytest.fixture(scope="module")
def digits():
    return kd.data.load_splits("digits")


def _loaders(d, seed=0):
    return kd.data.make_loader(d.X_train, d.y_train, 64, shuffle=True, seed=seed), kd.data.make_loader(d.X_val, d.y_val, 512)


@pytest.fixture(scope="module")
def teacher(digits):
    kd.train.set_seed(0)
    t = kd.models.build_model(MLPConfig(hidden=(128,)))
    train, _ = _loaders(digits)
    kd.train.train_supervised(t, train, TrainConfig(epochs=8, lr=1e-2))
    return t


def test_supervised_training_learns_and_records_history(digits):
    kd.train.set_seed(0)
    m = kd.models.build_model(MLPConfig(hidden=(32,)))
    train, val = _loaders(digits)
    before = kd.train.evaluate(m, val)["accuracy"]
    h = kd.train.train_supervised(m, train, TrainConfig(epochs=5, lr=1e-2), val_loader=val)
    assert len(h["loss"]) == 5 and len(h["val_accuracy"]) == 5
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] > max(0.8, before + 0.5)
    assert not m.training, "every training loop leaves the model in eval mode"


def test_set_seed_repeats_draws_and_leaves_the_environment_alone(monkeypatch):
    import os

    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    kd.train.set_seed(3)
    a = torch.rand(3)
    kd.train.set_seed(3)
    assert torch.equal(a, torch.rand(3))
    assert "PYTHONHASHSEED" not in os.environ  # it only acts before the interpreter starts


def test_distillation_freezes_teacher_and_student_learns_to_agree(digits, teacher):
    snapshot = copy.deepcopy(teacher.state_dict())
    teacher.zero_grad(set_to_none=True)
    teacher.train()  # the loop must switch it to eval itself
    kd.train.set_seed(1)
    s = kd.models.build_model(MLPConfig(hidden=(32,)))
    train, val = _loaders(digits)
    h = kd.train.train_distillation(s, teacher, train, T=4.0, alpha=0.9, config=TrainConfig(epochs=5, lr=1e-2), val_loader=val)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, snapshot[k]), f"teacher parameter {k} changed"
    assert all(p.grad is None for p in teacher.parameters())
    assert not teacher.training and not s.training
    ev = kd.train.evaluate(s, val, teacher=teacher)
    assert ev["agreement"] > 0.8 and ev["accuracy"] > 0.8 and len(h["loss"]) == 5


def test_distillation_with_shared_augmentation_and_logit_bias_runs(digits, teacher):
    kd.train.set_seed(2)
    s = kd.models.build_model(MLPConfig(hidden=(16,)))
    train, _ = _loaders(digits)
    bias = torch.zeros(10)
    bias[3] = 2.0
    h = kd.train.train_distillation(s, teacher, train, T=2.0, alpha=0.5, config=TrainConfig(epochs=2),
                                    augment=lambda x, g: kd.data.random_shift(x, 1, g), logit_bias=bias)
    assert len(h["loss"]) == 2 and all(torch.isfinite(torch.tensor(h["loss"])))


def test_two_seeded_runs_give_identical_weights(digits, teacher):
    def run():
        kd.train.set_seed(123)
        s = kd.models.build_model(MLPConfig(hidden=(16,)))
        train, _ = _loaders(digits, seed=5)
        kd.train.train_distillation(s, teacher, train, T=3.0, alpha=0.7, config=TrainConfig(epochs=2),
                                    augment=lambda x, g: kd.data.random_shift(x, 1, g), seed=5)
        return s.state_dict()

    a, b = run(), run()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_evaluate_restores_training_mode_and_uses_no_grad(digits, teacher):
    m = kd.models.build_model(MLPConfig(hidden=(8,), dropout=0.5))
    m.train()
    _, val = _loaders(digits)
    out = kd.train.evaluate(m, val)
    assert m.training and 0.0 <= out["accuracy"] <= 1.0 and "agreement" not in out
    logits = kd.train.predict_logits(teacher, digits.X_val)
    assert logits.shape == (270, 10) and not logits.requires_grad


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"T": 0}, ValueError, ["T=0"]),
        ({"alpha": 2}, ValueError, ["alpha=2"]),
        ({"config": TrainConfig(epochs=0)}, ValueError, ["epochs=0"]),
    ],
)
def test_bad_training_arguments_raise(digits, teacher, kwargs, exc, words):
    s = kd.models.build_model(MLPConfig(hidden=(4,)))
    train, _ = _loaders(digits)
    with pytest.raises(exc) as info:
        kd.train.train_distillation(s, teacher, train, **kwargs)
    for w in words:
        assert w in str(info.value)
