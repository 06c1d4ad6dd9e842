"""Binder: put the readers' notebooks where the book's launch buttons open them.

A page's Binder button opens ``book/<page>.reader.ipynb`` (``zh/book/<page>.reader.ipynb`` for the
Chinese edition; ``book/_static/_ext/kd_notebooks.py`` writes the links): the reader's notebook
the site offers for download (figures in their cells, glued numbers as text, no MyST), which
this script fetches from the published book (``html.baseurl`` of ``_config.yml``) when
repo2docker builds the image (``binder/postBuild``). The notebook sits next to the page's source,
so it runs in the folder the build ran it in. When a notebook cannot be fetched (the site is not
published yet, no network), the page's MyST source is converted with jupytext instead, so the
button never opens a missing file; the script says which.

Usage: ``python binder/reader_notebooks.py [--offline]`` from the repository root.
"""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EDITIONS = {"": ROOT / "book", "zh/": ROOT / "zh" / "book"}


def baseurl(root: Path = ROOT) -> str:
    import yaml

    url = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))["html"]["baseurl"]
    if not isinstance(url, str) or not url.endswith("/"):
        raise SystemExit(f"_config.yml: html.baseurl must be a URL ending in '/', got {url!r}")
    return url


def pages(folder: Path) -> list[Path]:
    """The pages with code cells (the ones with a notebook and a launch button)."""
    return sorted(p for p in folder.glob("*.md") if "```{code-cell}" in p.read_text(encoding="utf-8"))


def fetch(url: str, timeout: float = 30) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        nb = json.loads(response.read().decode("utf-8"))
    if not isinstance(nb, dict) or "cells" not in nb:
        raise ValueError(f"{url} is not a notebook")
    return nb


def main(argv: list[str]) -> int:
    offline = "--offline" in argv
    base = baseurl()
    fetched, converted = [], []
    for prefix, folder in EDITIONS.items():
        for md in pages(folder):
            dest = md.with_suffix(".reader.ipynb")
            url = f"{base}{prefix}_sources/book/{md.stem}.ipynb"
            try:
                if offline:
                    raise OSError("--offline")
                nb = fetch(url)
                dest.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
                fetched.append(dest)
            except (OSError, ValueError) as exc:
                subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--from", "myst", "--to", "ipynb", "-o", str(dest), str(md)],
                               check=True)
                converted.append((dest, f"{url}: {exc}"))
    print(f"readers' notebooks: {len(fetched)} fetched from {base}, {len(converted)} converted from MyST")
    for dest, why in converted:
        print(f"  {dest.relative_to(ROOT)} (not fetched: {why})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
