"""The pristine reference: ``kdutils/losses.py`` (and models, data) loaded from disk in the grading worker.

Loaded as a private package ``_kdref`` without ``kdutils/__init__``, so nothing the student's
kernel does can reach it (book chapter "For instructors"; both assignments).
"""
from __future__ import annotations

import os
import sys

_KDUTILS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_reference():
    """Load kdutils' losses (and models, data) from disk as a private package, without kdutils/__init__."""
    import importlib.util
    import types

    if "_kdref" in sys.modules:
        return sys.modules["_kdref"]
    pkg = types.ModuleType("_kdref")
    pkg.__path__ = [_KDUTILS]
    sys.modules["_kdref"] = pkg
    for sub in ("_checks", "losses", "models", "data"):
        spec = importlib.util.spec_from_file_location(f"_kdref.{sub}", os.path.join(_KDUTILS, f"{sub}.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[f"_kdref.{sub}"] = mod
        setattr(pkg, sub, mod)
        if sub in ("_checks", "losses"):
            spec.loader.exec_module(mod)
        else:
            pkg.__dict__[f"_spec_{sub}"] = (spec, mod)
    return pkg


def _lazy(pkg, sub):
    spec, mod = pkg.__dict__.pop(f"_spec_{sub}", (None, None))
    if spec is not None:
        spec.loader.exec_module(mod)
    return getattr(pkg, sub)

