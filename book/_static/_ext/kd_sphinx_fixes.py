"""Sphinx fixes for the book's HTML that configuration alone cannot make (a local extension).

Sphinx 7.4.7 registers an inline script added after ``Builder.init()`` twice:
once as ``_JavaScript(None, body=...)`` when the extension adds it, and again
as ``_JavaScript('', body=...)`` in ``prepare_writing``, because ``None`` and
``''`` compare unequal. sphinx-thebe's ``const THEBE_JS_URL = ...`` therefore
appears twice in every page and the browser reports "Identifier
'THEBE_JS_URL' has already been declared" (sphinx-togglebutton's selector
is duplicated the same way, harmlessly). This extension normalises the
filenames once reading is done, so each inline script is emitted once.

Loaded from ``_config.yml`` (``sphinx.local_extensions``); checked by
``tests/test_browser.py``, which fails on any console error.
"""
from __future__ import annotations


def _dedupe_inline_scripts(app, env) -> None:
    builder = app.builder
    files = getattr(builder, "_js_files", None)
    if files is None:  # not an HTML builder
        return
    from sphinx.builders.html._assets import _JavaScript

    seen, unique = set(), []
    for js in files:
        if js.filename is None:
            js = _JavaScript("", priority=js.priority, **js.attributes)
        if js not in seen:
            seen.add(js)
            unique.append(js)
    files[:] = unique
    # The registry is replayed into the builder in prepare_writing with `filename or ''`.
    app.registry.js_files[:] = [(name or "", attrs) for name, attrs in app.registry.js_files]


def setup(app):
    app.connect("env-updated", _dedupe_inline_scripts)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
