"""One configuration for both editions: the Chinese edition's ``_config.yml`` is generated.

Jupyter Book 1.x has no configuration inheritance, so a second book (``zh/``) would need a
second, full ``_config.yml`` that repeats the English one, URLs included. Instead, ``make book``
writes the Chinese edition's configuration into ``_build/zh/_config.yml`` and builds with
``jupyter-book build zh --config _build/zh/_config.yml``. That file is

    the English ``_config.yml``  +  ``zh/_config.override.yml`` (only what differs)

merged key by key (a mapping is merged, a list or a scalar of the override replaces), with:

* **paths made absolute.** A path in ``_config.yml`` is relative to the repository root, one in
  the override relative to ``zh/``; the keys that hold paths are listed in ``PATH_KEYS`` (a test
  fails when ``_config.yml`` gains a path that is not listed). Absolute paths mean the same thing
  to Jupyter Book (``local_extensions``: relative to the configuration file) and to Sphinx
  (``logo``, ``bibtex_bibfiles``, static paths: relative to the source folder).
* **the edition's URL derived.** ``html.baseurl`` becomes the English book's URL plus the
  Chinese edition's folder (``sphinx.config.kd_other_edition.root`` of ``_config.yml``,
  ``zh/``), so the book's home stays written once (``tests/test_links.py``).

Usage: ``python book/_static/_ext/kd_edition_config.py zh _build/zh/_config.yml``
(writes only when the content changes, so Sphinx does not see a changed configuration).
Tested by ``tests/test_zh.py``.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import yaml

OVERRIDE = "_config.override.yml"

# Dotted keys whose value is a path (a string, a list of strings, or a mapping of strings).
PATH_KEYS = (
    "logo",
    "html.favicon",
    "bibtex_bibfiles",
    "execute.cache",
    "sphinx.local_extensions",
    "sphinx.config.html_extra_path",
    "sphinx.config.html_static_path",
    "sphinx.config.kd_exercises_dir",
)


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _absolute(value, base: Path):
    if isinstance(value, str):
        return str((base / value).resolve())
    if isinstance(value, list):
        return [_absolute(v, base) for v in value]
    if isinstance(value, dict):
        return {k: _absolute(v, base) for k, v in value.items()}
    raise TypeError(f"a path key holds {value!r}, not a path, a list or a mapping of paths")


def _with_absolute_paths(cfg: dict, base: Path) -> dict:
    cfg = copy.deepcopy(cfg)
    for key in PATH_KEYS:
        *parents, last = key.split(".")
        d = _get(cfg, ".".join(parents)) if parents else cfg
        if isinstance(d, dict) and d.get(last) is not None:
            d[last] = _absolute(d[last], base)
    return cfg


def merge(base: dict, override: dict) -> dict:
    """``base`` updated by ``override``: mappings merged recursively, anything else replaced."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _read(path: Path) -> dict:
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(cfg).__name__}")
    return cfg


def english_config(root: Path, cache: Path | None = None) -> dict:
    """``root/_config.yml`` with absolute paths (and ``execute.cache`` set to ``cache`` if given)."""
    root = Path(root).resolve()
    cfg = _with_absolute_paths(_read(root / "_config.yml"), root)
    if cache is not None:
        cfg.setdefault("execute", {})["cache"] = str(Path(cache).resolve())
    return cfg


def edition_config(root: Path, edition: str, cache: Path | None = None) -> dict:
    """The full configuration of the edition in ``root/edition`` (e.g. ``zh``).

    ``cache`` replaces the jupyter-cache folder of both (the benchmark's clean builds use their own).
    """
    root = Path(root).resolve()
    en = _read(root / "_config.yml")
    folder = root / edition
    if not (folder / OVERRIDE).is_file():
        raise FileNotFoundError(f"edition={edition!r}: {folder / OVERRIDE} does not exist")
    override = _read(folder / OVERRIDE)
    if _get(override, "html.baseurl") is not None:
        raise ValueError(f"{folder / OVERRIDE}: html.baseurl is derived from _config.yml; remove it")
    sub = (_get(en, "sphinx.config.kd_other_edition") or {}).get("root")
    if sub != f"{edition}/":
        raise ValueError(f"_config.yml: sphinx.config.kd_other_edition.root must be {edition + '/'!r}, got {sub!r}")
    cfg = merge(_with_absolute_paths(en, root), _with_absolute_paths(override, folder))
    baseurl = _get(en, "html.baseurl")
    if not isinstance(baseurl, str) or not baseurl.endswith("/"):
        raise ValueError(f"_config.yml: html.baseurl must be a URL ending in '/', got {baseurl!r}")
    cfg.setdefault("html", {})["baseurl"] = baseurl + sub
    if cache is not None:
        cfg.setdefault("execute", {})["cache"] = str(Path(cache).resolve())
    return cfg


def write_config(cfg: dict, dest: Path, source: str = "") -> bool:
    """Write a configuration to ``dest``; return whether the file changed."""
    text = (f"# Generated by book/_static/_ext/kd_edition_config.py{' from ' + source if source else ''}.\n"
            "# Do not edit: `make book` rewrites it.\n"
            + yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    dest = Path(dest)
    if dest.exists() and dest.read_text(encoding="utf-8") == text:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    return True


def write_edition_config(root: Path, edition: str, dest: Path) -> bool:
    """Write the edition's configuration to ``dest``; return whether the file changed."""
    return write_config(edition_config(root, edition), dest, f"_config.yml and {edition}/{OVERRIDE}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: kd_edition_config.py EDITION DEST   (e.g. zh _build/zh/_config.yml)")
    write_edition_config(Path.cwd(), sys.argv[1], Path(sys.argv[2]))
