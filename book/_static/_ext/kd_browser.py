"""Which Chromium the browser tests (and the PDF printer) drive, from one environment variable.

``KD_CHROMIUM`` (the Makefile exports it):

* unset or ``/usr/bin/chromium``: Debian's ``chromium`` package (``make system`` installs it);
* another path: that executable (e.g. ``/usr/bin/google-chrome``);
* ``playwright``: Playwright's own Chromium build, installed with
  ``python -m playwright install --with-deps chromium``. The workflows use it: on Ubuntu 24.04 the
  ``chromium`` package is a transitional package for a snap.

:func:`executable` returns the path to give Playwright's ``executable_path`` (``None`` for Playwright's
own build); :func:`problem` says why it cannot be used, or returns ``None`` when it can.
"""
from __future__ import annotations

import os

DEFAULT = "/usr/bin/chromium"
PLAYWRIGHT = "playwright"


def setting() -> str:
    """The value of ``KD_CHROMIUM`` (default: Debian's ``/usr/bin/chromium``)."""
    return os.environ.get("KD_CHROMIUM", "").strip() or DEFAULT


def executable() -> str | None:
    """``executable_path`` for Playwright's ``chromium.launch*``: a path, or None for Playwright's own build."""
    value = setting()
    return None if value == PLAYWRIGHT else value


def problem() -> str | None:
    """Why the configured browser cannot be launched (a sentence naming ``KD_CHROMIUM`` and its value), or None."""
    value = setting()
    if value == PLAYWRIGHT:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            return "KD_CHROMIUM='playwright' but the playwright package is not installed"
        with sync_playwright() as p:
            path = p.chromium.executable_path
        if not os.access(path, os.X_OK):
            return (f"KD_CHROMIUM='playwright' but Playwright's Chromium is not installed at {path}: "
                    "run `python -m playwright install --with-deps chromium`")
        return None
    if not os.path.isabs(value):
        return f"KD_CHROMIUM={value!r} is neither an absolute path nor 'playwright'"
    if not os.access(value, os.X_OK):
        hint = (" (install Debian's package: `sudo make system`, or `sudo apt-get install chromium`)"
                if value == DEFAULT else "")
        return f"KD_CHROMIUM={value!r}: no executable browser there{hint}"
    return None
