"""Autograding checks for the nbgrader assignments (filled in by the exercises work).

Each ``check_*`` function compares a student's implementation with the
reference in ``kdutils.losses`` and raises ``AssertionError`` with a
diagnosis of the likely mistake.
"""
from __future__ import annotations

__all__: list[str] = []
