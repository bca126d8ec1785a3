# riskpipe: two commands from a clean clone, `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JARS_STAMP := .cache/jars/.resolved
export AIRFLOW_HOME ?= $(CURDIR)/airflow_home
export PYTHONUNBUFFERED := 1

.PHONY: help venv lock jars system-deps test-tools lint format demo test test-all bench clean distclean

help:
	@echo "make demo   - install everything, simulate data and run the pipeline end to end"
	@echo "make test   - install everything and run the test suite without the slow tier (what CI runs)"
	@echo "make test-all - the whole suite: also the fault-injection loops, the simulator pipeline end to end"
	@echo "              and the production-like run (docs/testing.md)"
	@echo "make lint   - ruff, mypy and the layer contract (make test runs it first); make format fixes what ruff can"
	@echo "make bench  - benchmarks (not part of make test)"
	@echo "make clean  - remove generated data (var/), keep the venv and jar cache"

# The versions tested together are pinned in requirements.lock (from pyproject.toml's ranges);
# riskpipe itself is installed editable on top, without resolving again.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "Installing Python packages (first time takes a few minutes)..."
	$(BIN)/python -m pip install --progress-bar off -r requirements.lock
	$(BIN)/python -m pip install --progress-bar off --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

# Pin again after a change of pyproject.toml: versions already in the lock are kept where they
# still fit (add --upgrade-package NAME to move one).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra s3 --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --no-annotate --custom-compile-command "make lock" \
	  -o requirements.lock

# Delta Lake and PostgreSQL JDBC jars from Maven Central through Spark's Ivy,
# cached in .cache/jars so that later runs start without downloading.
$(JARS_STAMP): $(STAMP) conf/default.yaml
	$(BIN)/riskpipe jars
	@touch $(JARS_STAMP)

jars: $(JARS_STAMP)

demo: $(JARS_STAMP)
	$(BIN)/riskpipe demo

# Two pytest workers (pytest-xdist): most tests wait on Spark's JVM, Delta commits or a service, so
# two processes keep both cores busy. --dist loadfile keeps a module's tests (and its module
# fixtures) on one worker; the simulator-pipeline tests are one module (tests/test_end_to_end.py).
# --no-loadscope-reorder: modules go out heaviest first (tests/conftest.py, MODULES_BY_COST).
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?= -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

# PostgreSQL, Chromium, a CJK font and Java: installed from Debian's packages when run as root,
# otherwise make stops at once with the command that installs them.
system-deps:
	@tests/system-deps.sh

# The S3-compatible server of tests/test_s3_lakehouse.py (the slow tier), built from Go sources once
# per clone (.cache/tools/): started in the background before lint so that its build (minutes of CPU
# from nothing, none once cached) overlaps lint and the jars; the test waits for it through a file lock.
test-tools:
	@tests/s3/build-s3-server.sh --background

# ruff (lint and format) on the whole tree, mypy on the core and models/, the import layers (pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# make test leaves out the tests marked slow (tests/conftest.py, SLOW_MODULES): CI runs make test at
# every stop, and its time is everyone's. make test-all runs them too (docs/testing.md says when).
test: system-deps lint $(JARS_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS) -m "not slow"

test-all: system-deps test-tools lint $(JARS_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# BENCH_ARGS: e.g. "--pause-after 110" then "--resume" for a size longer than one sitting
BENCH_ARGS ?=
bench: $(JARS_STAMP)
	$(BIN)/riskpipe bench $(BENCH_ARGS)

clean:
	rm -rf var airflow_home spark-warehouse metastore_db derby.log

distclean: clean
	rm -rf $(VENV) .cache *.egg-info
