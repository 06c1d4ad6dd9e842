"""Argument checks shared by the library: every error names the argument and the value.

A bad input should fail loudly and early, with a message a student can act on,
e.g. ``T must be > 0, got T=0``.
"""
from __future__ import annotations

import math
import numbers

import torch


def _short(value) -> str:
    """A compact repr for error messages (tensors show shape and dtype, not data)."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return f"tensor({value.item()!r}, dtype={value.dtype})"
        return f"tensor(shape={tuple(value.shape)}, dtype={value.dtype})"
    return repr(value)


def check_tensor(name: str, x, *, floating: bool = True, min_dim: int = 0, nan: bool = True) -> torch.Tensor:
    """Require a tensor (floating point unless ``floating=False``) with no NaN.

    ``nan=False`` leaves out the NaN scan (a full pass over the data): for a hot path that checks its result
    instead and calls ``check_no_nan`` only when the result is NaN (``kdutils.losses.kd_kl_loss``)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {name}={_short(x)} ({type(x).__name__})")
    if floating and not x.is_floating_point():
        raise TypeError(
            f"{name} must have a floating-point dtype, got {name}.dtype={x.dtype}; "
            f"convert it with {name}.float()"
        )
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimension(s), got {name}.shape={tuple(x.shape)}")
    if nan and x.is_floating_point() and torch.isnan(x).any():
        raise ValueError(f"{name} contains NaN, got {name}={_short(x)}")
    return x


def check_no_nan(**tensors: torch.Tensor) -> None:
    """Raise the NaN error of ``check_tensor`` for the first of ``tensors`` (in order) that contains NaN."""
    for name, x in tensors.items():
        if x.is_floating_point() and torch.isnan(x).any():
            raise ValueError(f"{name} contains NaN, got {name}={_short(x)}")


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Require two tensors of identical shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, "
            f"got {name_a}.shape={tuple(a.shape)} and {name_b}.shape={tuple(b.shape)}"
        )


def check_number(name: str, value) -> float:
    """Require a real number (a Python number or a one-element tensor), not a bool."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype == torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {name}={_short(value)} ({type(value).__name__})")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must not be NaN, got {name}={value}")
    return value


def check_temperature(T) -> float:
    """Require a finite temperature T > 0."""
    t = check_number("T", T)
    if not t > 0 or math.isinf(t):
        raise ValueError(f"T must be > 0 and finite, got T={T!r}")
    return t


def check_alpha(alpha) -> float:
    """Require 0 <= alpha <= 1."""
    a = check_number("alpha", alpha)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got alpha={alpha!r}")
    return a


def check_positive_int(name: str, value) -> int:
    """Require an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {name}={value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {name}={value!r}")
    return int(value)
