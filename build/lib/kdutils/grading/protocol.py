"""The grading protocol: what the kernel and the worker say to each other, shared by both sides.

The kernel side (``kdutils.grading.kernel``) and the grading worker (``worker.py``) exchange one
JSON object per line. Tensors travel as ``{"t": nested list, "dtype": "int64" | "float32"}``
(``encode``/``decode``), networks as a layer spec plus their weights (``build``), and the
numbers that name a mistake (T, T², C, N) are read from a case's arguments by ``hint_values``.
Nothing here imports ``kdutils``; the torch functions are bound when this module is imported
(the notebooks' locked first cell), so a student cell that replaces them later changes nothing.
Assignments ``losses`` and ``training``; book chapter "For instructors".
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["encode", "decode", "build", "parameters", "hint_values"]

_tensor, _int64, _float32, _isinstance, _dict = torch.tensor, torch.int64, torch.float32, isinstance, dict
_manual_seed, _named_parameters, _load_state_dict = torch.manual_seed, nn.Module.named_parameters, nn.Module.load_state_dict
_Sequential, _zip, _float = nn.Sequential, zip, float
_NoTorchFunction, _tolist, _detach = torch._C.DisableTorchFunction, torch.Tensor.tolist, torch.Tensor.detach
#: layer spec ``[kind, *args]`` -> the nn.Module it builds
LAYERS = {"linear": nn.Linear, "relu": nn.ReLU, "dropout": nn.Dropout, "flatten": nn.Flatten}


def encode(x: torch.Tensor) -> dict:
    """A tensor as JSON-ready data (int64 stays int64, everything else becomes float32)."""
    return {"t": x.tolist(), "dtype": "int64" if x.dtype == _int64 else "float32"}


def decode(a):
    """The inverse of ``encode``; any other value is returned as it is."""
    if _isinstance(a, _dict) and "t" in a:
        return _tensor(a["t"], dtype=_int64 if a["dtype"] == "int64" else _float32)
    return a


def plain(x) -> list:
    """A tensor's values as nested Python lists (torch-function overrides disabled)."""
    with _NoTorchFunction():
        return _tolist(_detach(x))


def build(spec: list, state: list | None = None, seed: int | None = None) -> nn.Module:
    """An ``nn.Sequential`` from a layer spec such as ``[["linear", 8, 3], ["relu"]]``.

    With ``seed`` the initial weights are drawn after ``torch.manual_seed(seed)``; with
    ``state`` (one nested list per parameter, in order) they are loaded.
    """
    if seed is not None:
        _manual_seed(seed)
    m = _Sequential(*[LAYERS[layer[0]](*layer[1:]) for layer in spec])
    if state is not None:
        names = [n for n, _ in _named_parameters(m)]
        _load_state_dict(m, {n: _tensor(v) for n, v in _zip(names, state)})
    return m


def parameters(m: nn.Module) -> list:
    """The weights of ``m`` as nested lists, in ``named_parameters`` order (``build``'s ``state``)."""
    return [plain(p) for _, p in _named_parameters(m)]


def hint_values(args: list, temperature_arg: int | None) -> dict:
    """The numbers a diagnosis may name: T and T² (1 when the check has no temperature), C classes, N rows."""
    T = args[temperature_arg] if temperature_arg is not None else None
    T = _float(T) if T else 1.0
    s = args[0]
    return {"T": T, "T2": T * T, "C": s.shape[-1], "N": s.shape[0] if s.dim() > 1 else 1}
