"""Tests of kdutils.train.fit_tensors, the DataLoader-free fast path used by kdutils.recipes and the book."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import kdutils as kd
from kdutils.train import TrainConfig, fit_tensors


@pytest.fixture(scope="module")
def digits():
    return kd.data.load_splits("digits")


def _student(seed=0, hidden=16):
    kd.train.set_seed(seed)
    return kd.models.build_model(kd.models.student_config(8, hidden))


def test_supervised_fit_learns_and_loss_decreases(digits):
    m = _student()
    h = fit_tensors(m, digits.X_train, digits.y_train, config=TrainConfig(epochs=15, lr=1e-2))
    assert len(h["loss"]) == 15 and h["loss"][-1] < 0.5 * h["loss"][0]
    acc = (kd.train.predict_logits(m, digits.X_test).argmax(-1) == digits.y_test).float().mean()
    assert acc > 0.85
    assert not m.training


def test_same_seed_same_weights_other_seed_other_weights(digits):
    runs = []
    for seed in (0, 0, 1):
        m = _student()
        fit_tensors(m, digits.X_train[:200], digits.y_train[:200], config=TrainConfig(epochs=2), seed=seed)
        runs.append(m.head.weight.detach().clone())
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_distillation_freezes_teacher_and_follows_it(digits):
    teacher = _student(seed=1, hidden=64)
    fit_tensors(teacher, digits.X_train, digits.y_train, config=TrainConfig(epochs=10, lr=1e-2))
    teacher.train()  # the loop must put it in eval mode itself
    before = [p.detach().clone() for p in teacher.parameters()]
    student = _student()
    h = fit_tensors(student, digits.X_train, digits.y_train, teacher=teacher, T=4.0, alpha=1.0,
                    config=TrainConfig(epochs=20, lr=1e-2))
    assert all(torch.equal(a, b) for a, b in zip(before, teacher.parameters()))
    assert not teacher.training
    assert h["loss"][-1] < h["loss"][0]
    t_pred = kd.train.predict_logits(teacher, digits.X_test).argmax(-1)
    s_pred = kd.train.predict_logits(student, digits.X_test).argmax(-1)
    assert (t_pred == s_pred).float().mean() > 0.85


class _Recorder(nn.Module):
    """A 'teacher' that records the batches it sees and returns fixed logits."""

    def __init__(self):
        super().__init__()
        self.seen = []
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        self.seen.append(x.clone())
        return torch.zeros(len(x), 10)


class _StudentRecorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.seen = []
        self.lin = nn.Linear(64, 10)

    def forward(self, x):
        self.seen.append(x.clone())
        return self.lin(x.flatten(1))


def test_augmented_batch_is_shared_by_teacher_and_student(digits):
    teacher, student = _Recorder(), _StudentRecorder()
    aug = lambda x, g: kd.data.random_shift(x, 1, g)  # noqa: E731
    fit_tensors(student, digits.X_train[:64], digits.y_train[:64], teacher=teacher,
                config=TrainConfig(epochs=1), batch_size=32, augment=aug)
    assert len(teacher.seen) == len(student.seen) == 2
    for t, s in zip(teacher.seen, student.seen):
        assert torch.equal(t, s)
    # and the augmentation really changed some images
    assert any(not torch.equal(s, digits.X_train[:64][: len(s)]) for s in student.seen)


def test_without_augmentation_teacher_runs_once_on_all_inputs(digits):
    teacher, student = _Recorder(), _StudentRecorder()
    fit_tensors(student, digits.X_train[:64], digits.y_train[:64], teacher=teacher,
                config=TrainConfig(epochs=3), batch_size=16)
    assert len(teacher.seen) == 1 and len(teacher.seen[0]) == 64


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        (dict(X=[[0.0]]), TypeError, "X"),
        (dict(y=torch.zeros(5)), TypeError, "y"),
        (dict(y=torch.zeros(4, dtype=torch.long)), ValueError, "len"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(config=TrainConfig(epochs=0)), ValueError, "epochs"),
        (dict(teacher=nn.Linear(64, 10), T=0.0), ValueError, "T"),
        (dict(teacher=nn.Linear(64, 10), alpha=2.0), ValueError, "alpha"),
    ],
)
def test_bad_arguments_are_named(kwargs, exc, word):
    args = dict(X=torch.rand(5, 64), y=torch.zeros(5, dtype=torch.long))
    args.update(kwargs)
    with pytest.raises(exc, match=word):
        fit_tensors(nn.Linear(64, 10), args.pop("X"), args.pop("y"), **args)


def test_fit_custom_trains_model_and_extra_params_with_batch_indices(digits):
    from kdutils.train import fit_custom

    X, y = digits.X_train[:256], digits.y_train[:256]
    m = _student()
    reg = nn.Linear(16, 3)
    target = torch.randn(len(X), 3)  # per-example targets looked up by index
    seen = []

    def batch_loss(xb, yb, idx):
        seen.append(idx.clone())
        assert torch.equal(xb, X[idx]) and torch.equal(yb, y[idx])
        return nn.functional.cross_entropy(m(xb), yb) + nn.functional.mse_loss(reg(m.features(xb)), target[idx])

    reg_before = reg.weight.detach().clone()
    h = fit_custom(m, X, y, batch_loss, config=TrainConfig(epochs=5, lr=1e-2), batch_size=64, extra_params=reg.parameters())
    assert len(h["loss"]) == 5 and h["loss"][-1] < h["loss"][0]
    assert not torch.equal(reg_before, reg.weight)  # the regressor was optimised too
    assert sorted(torch.cat(seen[:4]).tolist()) == list(range(256))  # one epoch visits every row once
    with pytest.raises(TypeError, match="batch_loss"):
        fit_custom(m, X, y, batch_loss=None)
