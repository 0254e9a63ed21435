# The README's quick start: `make demo` and `make test`. Both install what they need first:
# GroupSync and, beside it, the local Google emulator (emulator/, its own distribution) for tests and the demo.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck services browser bench clean

$(STAMP): pyproject.toml emulator/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e ./emulator
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/groupsync-demo

services:
	bash scripts/services-up

browser:
	bash scripts/browser-up

lint: install
	$(BIN)/ruff check app emulator tests bench
	$(BIN)/ruff format --check app emulator tests bench

typecheck: install
	$(BIN)/mypy

test: install services browser lint typecheck
	$(BIN)/python -m pytest -n 2 --dist loadgroup

bench: install services
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
