"""Tests of kdutils.models: shapes, configs, parameter counts against hand formulas, size and latency."""
from __future__ import annotations

import pytest
import torch

import kdutils as kd
from kdutils.models import CNNConfig, MLPConfig


def test_mlp_shapes_features_and_parameter_count():
    m = kd.models.build_model(MLPConfig(in_features=64, hidden=(32, 16), num_classes=10))
    x = torch.randn(5, 1, 8, 8)
    assert m(x).shape == (5, 10) and m.features(x).shape == (5, 16)
    expected = (64 * 32 + 32) + (32 * 16 + 16) + (16 * 10 + 10)
    assert kd.models.count_parameters(m) == expected
    assert kd.models.model_size_bytes(m) == 4 * expected


@pytest.mark.parametrize("size", [8, 28])
def test_cnn_shapes(size):
    m = kd.models.build_model(CNNConfig(image_size=size, channels=(4, 8), hidden=12))
    x = torch.randn(3, 1, size, size)
    assert m(x).shape == (3, 10) and m.features(x).shape == (3, 12)


def test_default_teacher_is_much_larger_than_default_student():
    t = kd.models.build_model(kd.models.teacher_config(8))
    s = kd.models.build_model(kd.models.student_config(8))
    assert kd.models.count_parameters(t) > 50 * kd.models.count_parameters(s)
    assert isinstance(kd.models.build_model(kd.models.teacher_config(28, "cnn")), kd.models.SmallCNN)


def test_count_parameters_trainable_only():
    m = kd.models.build_model(MLPConfig(in_features=4, hidden=(3,), num_classes=2))
    m.head.weight.requires_grad_(False)
    assert kd.models.count_parameters(m) == 4 * 3 + 3 + 2
    assert kd.models.count_parameters(m, trainable_only=False) == 4 * 3 + 3 + 2 * 3 + 2


def test_measure_latency_returns_positive_median_and_restores_mode():
    m = kd.models.build_model(MLPConfig())
    m.train()
    t = kd.models.measure_latency(m, torch.randn(32, 64), repeats=5, warmup=1)
    assert 0 < t < 1.0 and m.training


@pytest.mark.parametrize(
    "call, exc, words",
    [
        (lambda: kd.models.build_model({"hidden": 3}), TypeError, ["config", "hidden"]),
        (lambda: kd.models.teacher_config(8, "rnn"), ValueError, ["kind='rnn'"]),
        (lambda: kd.models.measure_latency(torch.nn.Identity(), torch.zeros(1), repeats=0), ValueError, ["repeats=0"]),
    ],
)
def test_bad_input_raises_and_names_the_argument(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value)
