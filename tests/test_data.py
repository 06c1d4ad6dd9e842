"""Tests of kdutils.data: offline loading, split sizes, stratification, loaders, jitter, transfer sets."""
from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

import kdutils as kd


@pytest.fixture()
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test: loading must be offline."""
    def refuse(*args, **kwargs):
        raise AssertionError("kdutils.data tried to use the network")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name, n, side, scale_max", [("digits", 1797, 8, 1.0), ("mnist", 5000, 28, 1.0)])
def test_load_arrays_offline_shapes_and_range(no_network, name, n, side, scale_max):
    X, y = kd.data.load_arrays(name)
    assert X.shape == (n, 1, side, side) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert X.min() >= 0 and X.max() <= scale_max and X.max() > 0.9
    assert set(np.unique(y)) == set(range(10))


def test_split_sizes_digits_and_mnist():
    d = kd.data.load_splits("digits")
    assert d.sizes() == {"train": 1077, "val": 270, "test": 450}
    m = kd.data.load_splits("mnist")
    assert m.sizes() == {"train": 3000, "val": 750, "test": 1250}
    assert d.image_shape == (1, 8, 8) and d.num_features == 64 and m.num_features == 784


def test_splits_are_disjoint_stratified_and_seeded():
    a, b = kd.data.load_splits("digits", seed=3), kd.data.load_splits("digits", seed=3)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    c = kd.data.load_splits("digits", seed=4)
    assert not torch.equal(a.y_train, c.y_train)
    rows = lambda X: {tuple(r) for r in X.reshape(len(X), -1).numpy().round(4).tolist()}
    # load_digits holds a few exact duplicate images; the splits share at most those
    assert len(rows(a.X_train) & rows(a.X_test)) <= 5
    full = np.bincount(np.concatenate([a.y_train, a.y_val, a.y_test]), minlength=10) / 1797
    for y in (a.y_train, a.y_val, a.y_test):
        frac = np.bincount(y.numpy(), minlength=10) / len(y)
        assert np.abs(frac - full).max() < 0.01


def test_make_loader_shuffles_reproducibly():
    d = kd.data.load_splits("digits")
    first = lambda seed: next(iter(kd.data.make_loader(d.X_train, d.y_train, 32, shuffle=True, seed=seed)))[1]
    assert torch.equal(first(1), first(1))
    assert not torch.equal(first(1), first(2))


def test_random_shift_moves_pixels_by_whole_steps_and_keeps_mass_inside():
    img = torch.zeros(1, 1, 8, 8)
    img[0, 0, 4, 4] = 1.0
    batch = img.repeat(200, 1, 1, 1)
    out = kd.data.random_shift(batch, max_shift=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == batch.shape
    pos = [divmod(int(o.argmax()), 8) for o in out[:, 0]]
    dy = {r - 4 for r, _ in pos}
    dx = {c - 4 for _, c in pos}
    assert dy == set(range(-2, 3)) and dx == set(range(-2, 3))
    assert torch.allclose(out.sum(dim=(1, 2, 3)), torch.ones(200))
    assert torch.equal(kd.data.random_shift(batch, 0), batch)


def test_transfer_subset_per_class_fraction_and_excluded_class():
    d = kd.data.load_splits("digits")
    X, y = kd.data.transfer_subset(d.X_train, d.y_train, per_class=5, seed=0)
    assert len(y) == 50 and np.bincount(y.numpy()).tolist() == [5] * 10
    X2, y2 = kd.data.transfer_subset(d.X_train, d.y_train, fraction=0.5, exclude_classes=(3,), seed=0)
    assert 3 not in set(y2.tolist()) and abs(len(y2) - 0.45 * len(d.y_train)) < 15
    X3, _ = kd.data.transfer_subset(d.X_train, d.y_train, per_class=5, seed=0)
    assert torch.equal(X, X3)


@pytest.mark.parametrize(
    "call, exc, words",
    [
        (lambda: kd.data.load_arrays("cifar"), ValueError, ["name", "'cifar'"]),
        (lambda: kd.data.load_splits("digits", test_size=1.5), ValueError, ["test_size=1.5"]),
        (lambda: kd.data.load_splits("digits", val_size=0.5, test_size=0.5), ValueError, ["val_size + test_size"]),
        (lambda: kd.data.make_loader(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long)), ValueError, ["len(X)=3"]),
        (lambda: kd.data.make_loader(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), batch_size=0), ValueError, ["batch_size=0"]),
        (lambda: kd.data.random_shift(torch.zeros(2, 8, 8)), ValueError, ["images.shape=(2, 8, 8)"]),
        (lambda: kd.data.random_shift(torch.zeros(2, 1, 8, 8), max_shift=-1), ValueError, ["max_shift=-1"]),
        (lambda: kd.data.transfer_subset(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long)), ValueError, ["per_class", "fraction"]),
        (lambda: kd.data.transfer_subset(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long), fraction=2.0), ValueError, ["fraction=2.0"]),
    ],
)
def test_bad_input_raises_and_names_the_argument(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {str(info.value)!r}"
