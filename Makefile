# balance-logs: `make run` and `make test` are the whole quick start.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# the real export: BALANCE_LOGS_CORPUS when set (as .ci/run sets it), else beside the checkout. Without it the
# tests of its own figures are skipped (said so in one line) and the others use the sample export; .ci/run sets
# BALANCE_LOGS_REQUIRE_CORPUS=1, which fails them instead.
CORPUS ?= $(or $(BALANCE_LOGS_CORPUS),$(abspath ../shared/corpus/balance-sync-logs))

.PHONY: help install install-dev system-deps sample ingest run test test-fast screenshots bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed  ## create .venv with the runtime dependencies

install-dev: $(VENV)/.installed-dev  ## .venv plus test dependencies

system-deps:  ## Debian packages the tests need: chromium + chromedriver, PostgreSQL server, LibreOffice Calc + poppler
	@bash scripts/system-deps.sh

sample: install  ## write a sample export into LOG_DIR if it is empty (and say so)
	$(PY) scripts/ensure_sample.py

ingest: sample  ## ingest LOG_DIR (exit 3 = finished with damaged input, see the summary)
	$(PY) ingest.py || [ $$? -eq 3 ]

run: ingest  ## set up, ingest LOG_DIR and serve the dashboard at http://127.0.0.1:8050
	$(PY) -m app

test: install-dev system-deps  ## the whole suite (SQLite, PostgreSQL, headless Chromium)
	BALANCE_LOGS_CORPUS='$(CORPUS)' $(PY) -m pytest -q

test-fast: install-dev  ## the suite without browser tests
	BALANCE_LOGS_CORPUS='$(CORPUS)' $(PY) -m pytest -q -m "not browser"

screenshots: install-dev system-deps  ## retake docs/screenshots/*.png (browser tests on the sample export)
	BALANCE_LOGS_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/test_app_browser.py -q

bench: install-dev  ## the ingest benchmark; the others are listed in docs/benchmarks.md
	$(PY) bench/bench_ingest.py

clean:  ## remove the virtualenv and caches (data/ is kept)
	rm -rf $(VENV) .pytest_cache .hypothesis
