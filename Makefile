# `make demo` and `make test` each set up .venv from nothing, install every
# distribution of the workspace (editable) and run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench reference packaging clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements-dev.txt VERSION core/pyproject.toml $(wildcard plugins/*/pyproject.toml) $(wildcard examples/*/pyproject.toml)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# A supervisor run on ./.evstore/store.db (evstore-supervisor's `evstore demo`); safe to re-run.
# Ends with the command that opens the dashboard on it.
demo: install
	$(BIN)/evstore demo
	@echo
	@echo "Look at it in a browser (read-only dashboard on 127.0.0.1:8765; Ctrl-C stops it):"
	@echo "  $(BIN)/evstore --db .evstore/store.db ui --open"

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/mypy plugins/*/src examples/activity_board/src examples/quickstart.py examples/activity_board_demo.py

# Without the example plugin, as docs/performance.md measures (the six first-party projections).
bench: install
	EVSTORE_DISABLE_PLUGINS=activity_board $(BIN)/evstore bench

# Rewrite the reference pages generated from the code (tests/test_docs.py checks them).
reference: install
	$(BIN)/python docs/reference/generate.py

# Build, check and install the wheels in fresh venvs, as CI does (.ci/packaging);
# DIST=folder keeps the artefacts.
packaging:
	.ci/packaging

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
