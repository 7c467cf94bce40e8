# Two commands on a fresh machine: `make book` and `make test`. Both build .venv first if needed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.spikelib-installed
SCALE ?= quick
NOTEBOOKS ?=
DEVICE ?= cpu
JOBS ?= 0
# pytest workers; the suite is CPU bound and CI has 2 cores.
TEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: help venv data book test bench clean browser

help:
	@echo "make book   [SCALE=smoke|quick|paper] [NOTEBOOKS='a b'] [DEVICE=cpu|cuda]  execute notebooks, build the site"
	@echo "make test   run the test suite (installs .venv first)"
	@echo "make data   fetch and verify MNIST, Fashion-MNIST and FSDD into \$$SPIKELIB_DATA (~/.cache/spikelib)"
	@echo "make bench  run the benchmarks in benchmarks/ (one JSON line each)"

# .venv gets the package with the extras a target needs (pyproject.toml: book, test, cluster), every other
# package pinned by constraints.txt, the lock of the whole environment `make test` installs (a rebuild
# years from now gets the same packages). The stamps depend on both files so a changed pin reinstalls.
BOOK_STAMP := $(VENV)/.spikelib-book
PIP_INSTALL = $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

$(BOOK_STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e ".[book]"
	@touch $(BOOK_STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e ".[book,test,cluster]"
	@touch $(STAMP) $(BOOK_STAMP)

venv: $(STAMP)

data: $(BOOK_STAMP)
	$(PY) -m spikelib data

book: $(BOOK_STAMP)
	$(PY) -m spikelib data
	$(PY) -m spikelib book --scale "$(SCALE)" --notebooks "$(NOTEBOOKS)" --device "$(DEVICE)" --jobs "$(JOBS)"

# tests/test_book_browser.py loads the pages in Debian's chromium. It is installed here, never from a test:
# as root with apt-get when missing; elsewhere the browser test is skipped and says why.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing Debian's chromium for the browser test"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; } || \
	  echo "make: could not install chromium; the browser test will be skipped"; \
	else echo "make: no chromium (install Debian's chromium package); the browser test will be skipped"; fi

# The tests use the real datasets where they check published numbers, so fetch them first (seconds).
test: $(STAMP) browser
	$(PY) -m spikelib data
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "# $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf book/_build book/executed .pytest_cache
