"""The pristine reference: ``kdutils/losses.py`` (and models, data) loaded from disk in the grading worker.

Loaded as a private package ``_kdref`` without ``kdutils/__init__``, so nothing the student's
kernel does can reach it (book chapter "For instructors"; both assignments). ``losses`` is
loaded at once; ``models`` and ``data`` (slower) on first use, with ``load_reference("models")``.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import types

__all__ = ["load_reference"]

_KDUTILS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_EAGER, _LAZY = ("_checks", "losses"), ("models", "data")


def _load(pkg, sub: str):
    spec = importlib.util.spec_from_file_location(f"_kdref.{sub}", os.path.join(_KDUTILS, f"{sub}.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[f"_kdref.{sub}"] = mod
    setattr(pkg, sub, mod)
    spec.loader.exec_module(mod)
    return mod


def load_reference(module: str | None = None):
    """The private package ``_kdref`` (with ``losses``), or one of its modules (``"models"``, ``"data"``)."""
    pkg = sys.modules.get("_kdref")
    if pkg is None:
        pkg = types.ModuleType("_kdref")
        pkg.__path__ = [_KDUTILS]
        sys.modules["_kdref"] = pkg
        for sub in _EAGER:
            _load(pkg, sub)
    if module is None:
        return pkg
    if module not in _EAGER + _LAZY:
        raise ValueError(f"module must be one of {_EAGER + _LAZY}, got module={module!r}")
    return getattr(pkg, module, None) or _load(pkg, module)
