"""The hidden tests' key: which hidden cases a hidden test cell is graded on.

A hidden test cell of ``solutions/`` passes ``kd.grading.HIDDEN`` as a check's ``hidden``. When the
course has a secret (``python -m kdutils.course secret``, file ``.kd-course-secret``),
``nbgrader generate_assignment`` writes the course key of that assignment in its place
(``kdutils.course.secret``: an HMAC-SHA256 of the secret, never the secret itself), so the
gradebook, from which ``autograde`` restores the test cells, holds the key (``kdk1-…``). The
released notebooks contain no hidden cells, hence no key, and the student's kernel has none
before grading. The worker seeds each hidden case from the key (``seed``), so the hidden
values of a course with a secret cannot be computed from this public code.

Without a secret, ``HIDDEN`` is the documented public default ``PUBLIC_KEY``, whose cases are
those of the public repository (the book's demo and the tests use them); a real course sets a
secret. ``hidden=True`` is refused with a message that hidden checks run only in grading.
Runs in the student's kernel and in the grading worker (no ``kdutils`` import; wording in ``messages``); book chapter
"For instructors".
"""
from __future__ import annotations

import hashlib
import hmac
import re

from .messages import say

__all__ = ["PUBLIC_KEY", "KEY_PREFIX", "hidden_key", "seed", "init_seed", "is_course_key"]

#: The hidden cases of the public repository (no course secret): documented, so not secret.
PUBLIC_KEY = "kd-public-hidden-cases"
#: A course key: this prefix and 32 lowercase hex digits (128 bits of an HMAC-SHA256).
KEY_PREFIX = "kdk1-"
_KEY = re.compile(r"kdk1-[0-9a-f]{32}")
_fullmatch, _isinstance, _str, _sum, _ord, _enumerate = _KEY.fullmatch, isinstance, str, sum, ord, enumerate
_hmac_new, _from_bytes = hmac.new, int.from_bytes


class HiddenOnlyInGrading(ValueError):
    """``hidden=True``, or a value that is not a key: hidden checks run only in grading."""


def is_course_key(value) -> bool:
    """Whether ``value`` has the form of a course key (``kdk1-`` and 32 hex digits)."""
    return _isinstance(value, _str) and _fullmatch(value) is not None


def hidden_key(hidden):
    """``False`` for the visible cases, else the key (``PUBLIC_KEY`` or a course key); any other value is refused."""
    if hidden is False or hidden is None:
        return False
    if hidden is True:
        raise HiddenOnlyInGrading(say("hidden.only_in_grading"))
    if hidden == PUBLIC_KEY or is_course_key(hidden):
        return hidden
    raise HiddenOnlyInGrading(say("hidden.bad_key", value=hidden))


def _base(check: str, part: str) -> int:
    return _sum(_ord(c) * (i + 1) for i, c in _enumerate(f"{check}/{part}"))


def seed(check: str, part: str, key) -> int:
    """The seed of the cases of ``check``/``part``: visible (``key`` False), public hidden, or a course's hidden.

    The visible and public seeds are those of the earlier releases (the catalogue's scores stay the
    same); a course key gives ``HMAC-SHA256(key, "check/part")``, 63 bits.
    """
    if not key:
        return _base(check, part)
    if key == PUBLIC_KEY:
        return _base(check, part) + 1000
    digest = _hmac_new(key.encode(), f"{check}/{part}".encode(), "sha256").digest()
    return _from_bytes(digest[:8], "big") >> 1


def init_seed(base: int, check: str, key) -> int:
    """The seed of a setup's initial weights: ``base`` visible, ``base + 1`` public hidden, from the key otherwise."""
    if not key:
        return base
    if key == PUBLIC_KEY:
        return base + 1
    return seed(check, f"init/{base}", key)
