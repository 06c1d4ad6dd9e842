# Two commands for a newcomer: `make book` and `make test`. Everything else is optional.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
# torch comes from PyTorch's CPU-only wheel index (the book needs no GPU; PyPI's default Linux wheel
# pulls several GB of CUDA libraries). Another index: make TORCH_INDEX=<url>.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# Extra arguments of `make test`'s pytest, e.g. make test PYTEST_ARGS='-m "not slow"'.
PYTEST_ARGS ?=
# The browser of the browser tests (book/_static/_ext/kd_browser.py reads it): Debian's chromium (/usr/bin/chromium, the default;
# `make system` installs it), another executable's path, or `playwright` for Playwright's own build
# (`python -m playwright install --with-deps chromium`), as the workflows do on Ubuntu 24.04, whose
# `chromium` package is only a transitional package for a snap.
KD_CHROMIUM ?= /usr/bin/chromium
export KD_CHROMIUM
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0

.PHONY: help venv book book-clean pdf linkcheck test test-all zh-check exercises course-secret student-dist grade-demo bench browser system clean test-course

help:
	@echo "make book        build the Jupyter Book into _build/html"
	@echo "make pdf         the whole book as _build/pdf/book.pdf and book_zh.pdf (Chromium prints a single-page build)"
	@echo "make test        the first tier of tests (builds the book, grades the catalogue, a few browser pages)"
	@echo "make test-all    every test: make test's tier and the full tier (every browser page, PDF, venvs, PostgreSQL, the term); what CI runs"
	@echo "make zh-check    name every Chinese paragraph whose English changed since it was translated (seconds)"
	@echo "make exercises   regenerate exercises/ from solutions/ with nbgrader, English and Chinese (no gradebook entry is kept)"
	@echo "make course-secret  once per course: the secret the hidden tests' cases derive from"
	@echo "make student-dist   dist/kd-student.zip: the released notebooks and how to install kdutils (no answers; needs make course-secret, or PUBLIC=1)"
	@echo "make grade-demo  autograde the bundled demo class in a temporary course"
	@echo "make bench       measure build, grading, distillation quality and speed"
	@echo "make test-course the course workflow tests (zip_collect, one term end to end, exchange with two Unix users)"

# The virtual environment is rebuilt only when the lock file or the package metadata change.
# torch first, with pip, from PyTorch's CPU-only index (TORCH_INDEX). When that index cannot be
# reached (as on a machine with a local mirror or wheel directory), pip's own configuration is used
# instead, and the recipe says so and whether the torch it got is a CPU or a CUDA build. Then uv
# installs the rest of the lock file requirements.txt (measured on a fresh clone: see the README; the
# torch already installed satisfies the lock's torch==2.13.0) and kdutils without dependencies.
# pip does not byte-compile torch (--no-compile, as uv does not): about 140 MB of .pyc files that
# Python writes only for the modules it imports.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@torch="$$(grep -E '^torch==' requirements.txt)"; \
	if $(BIN)/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=20)' '$(TORCH_INDEX)' 2>/dev/null; then \
	  echo "installing $$torch from $(TORCH_INDEX) (CPU only)"; \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile --index-url '$(TORCH_INDEX)' "$$torch"; \
	else \
	  echo "$(TORCH_INDEX) is unreachable: installing $$torch from the configured package index instead (pip's configuration)"; \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile "$$torch"; \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $$(grep -E '^uv==' requirements.txt)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	@$(BIN)/python -c 'import torch; print("torch", torch.__version__, "(CUDA " + torch.version.cuda + " build: several GB; a CPU-only one is smaller)" if torch.version.cuda else "(CPU-only build)")'
	@touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests need, installed when missing and we are root (as in CI).
# One package a line, each with what needs it.
ifeq ($(KD_CHROMIUM),/usr/bin/chromium)
APT_PACKAGES += chromium        # browser tests, PDF (unless KD_CHROMIUM names another browser)
endif
APT_PACKAGES += fonts-noto-cjk  # CJK glyphs in screenshots and the PDF
APT_PACKAGES += postgresql      # the shared-gradebook tests
APT_PACKAGES += poppler-utils   # pdftotext/pdfinfo in the PDF test

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run 'sudo apt-get install$$missing'); their tests will fail"; fi; \
	fi

browser: system

# Strict: any warning or cell error fails the build. Notebooks execute once and are then
# served from the jupyter-cache in _build/.jupyter_cache. Sphinx re-renders only changed
# pages, so after an edit to _toc.yml or _config.yml every page is re-rendered (--all),
# or the other pages would keep a stale sidebar.
# Two editions: English (., into _build/html/) first, then 中文版 (zh/, built in _build/zh/
# and copied to _build/html/zh/). The Chinese configuration is generated: _config.yml merged
# with zh/_config.override.yml into _build/zh/_config.yml (written only when it changes).
# Both use the one jupyter-cache, which keys a page on its code cells: the Chinese pages'
# code cells are byte-identical, so that build executes nothing.
book: venv
	@all=""; if [ -f _build/html/index.html ] && [ -n "$$(find _toc.yml _config.yml -newer _build/html/index.html)" ]; then \
	  all="--all"; echo "_toc.yml or _config.yml changed: re-rendering every page"; fi; \
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going $$all
	$(BIN)/python book/_static/_ext/kd_edition_config.py zh _build/zh/_config.yml
	@all=""; if [ -f _build/zh/_build/html/index.html ] && [ -n "$$(find _config.yml zh/_config.override.yml zh/_toc.yml zh/glossary.yml -newer _build/zh/_build/html/index.html)" ]; then \
	  all="--all"; echo "zh/_toc.yml, the zh configuration or zh/glossary.yml changed: re-rendering every Chinese page"; fi; \
	$(BIN)/jupyter-book build zh --config _build/zh/_config.yml --path-output _build/zh --builder html -W -n --keep-going $$all
	@rm -rf _build/html/zh && cp -a _build/zh/_build/html _build/html/zh
	@echo "The book is at $(CURDIR)/_build/html/index.html (中文版: $(CURDIR)/_build/html/zh/index.html)"

book-clean:
	rm -rf _build

# Chromium prints a strict single-page build of each edition (notebooks come from the shared
# jupyter-cache) into _build/pdf/book.pdf and _build/pdf/book_zh.pdf; then `make book` copies
# them into the site and links them from every page's sidebar (a book built before any PDF
# exists links none). The sub-make is told the environment is up to date (-o), as this one was.
pdf: venv system
	$(BIN)/python book/_static/_ext/kd_pdf.py
	@$(MAKE) --no-print-directory -o $(STAMP) book

# External links (needs the network; the scheduled linkcheck workflow runs it).
linkcheck: venv
	$(BIN)/jupyter-book build . --builder linkcheck

# Two tiers (pytest marker `full`, tests/conftest.py and pyproject.toml). `make test` proves the library,
# the strict book build, the whole catalogue graded once per language, one of each grading failure and
# the browser on a few pages; `make test-all` runs every test: the full tier adds the browser on every
# page, the PDF, fresh packaging venvs, PostgreSQL, the whole term, the exchange, the zygote's deaths and
# stock nbgrader on the whole catalogue. CI (.ci/run) runs `make test-all`.
# zh-check first: a stale translation is named in seconds, before the long suite.
test: venv system zh-check
	$(BIN)/python -m pytest -m "not full" $(PYTEST_ARGS)

test-all: venv system zh-check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

zh-check: venv
	$(BIN)/python zh/prose_sync.py check

exercises: venv
	$(BIN)/python -m kdutils.course generate

# Once per course (in the private copy): the secret the hidden tests' cases derive from.
course-secret: venv
	$(BIN)/python -m kdutils.course secret

# What students may be given: the released notebooks and kdutils's install line, as dist/kd-student.zip.
student-dist: venv
	$(BIN)/python -m kdutils.course student-dist $(if $(PUBLIC),--public)

test-course: venv
	$(BIN)/python -m pytest -q tests/test_course_*.py

grade-demo: venv
	$(BIN)/python -m kdutils.course grade-demo

bench: venv
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf _build .pytest_cache
