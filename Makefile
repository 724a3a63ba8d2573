# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test lint docs bench audit-demo clean

# The runtime install (embedded default: SQLite + local artifact folder).
$(VENV)/.run: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[postgres]'
	touch $@

# Everything the tests need: dev tools, PostgreSQL driver, the pinned CPU torch, Ray Serve.
$(VENV)/.test: pyproject.toml $(VENV)/.run
	$(BIN)/python -m pip install -q -e '.[dev,postgres,torch,ray]'
	touch $@

run: $(VENV)/.run
	$(BIN)/baton quickstart

# Bytecode first: the suite starts baton in fresh interpreters throughout, and
# where PYTHONDONTWRITEBYTECODE is set (CI, this project's VMs) each one would compile the
# modules it imports from source again (4 % of the CLI tests' time).
test: $(VENV)/.test
	bash scripts/test-services.sh
	$(BIN)/python -m compileall -q src testkit > /dev/null
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(VENV)/.test docs
	$(BIN)/ruff check src tests testkit bench examples
	$(BIN)/ruff format --check src tests testkit bench examples
	$(BIN)/mypy

# The docs site into site/ (git-ignored): --strict fails on a broken link or anchor, or a
# page left out of the nav. Offline: Material bundles its assets and fetches no fonts.
docs: $(VENV)/.test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

bench: $(VENV)/.test
	bash scripts/test-services.sh
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The right-size audit on a synthetic 14-day fleet in a real Prometheus (see README).
audit-demo: $(VENV)/.run
	$(BIN)/python scripts/audit_demo.py --html audit.html

clean:
	rm -rf $(VENV) .baton .pytest_cache .mypy_cache .ruff_cache site
