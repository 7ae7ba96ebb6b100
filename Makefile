# Two commands for a fresh machine (Python 3.11+): `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
CONFIG ?= config.yaml
BIN    := $(VENV)/bin

.PHONY: run test install lint bench clean

$(BIN)/monitor: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/monitor

## Install what is needed and start the service on the example config.
run: install
	$(BIN)/monitor run --config $(CONFIG)

## Install what is needed and run the whole test suite (lint and type checks included).
test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: install
	$(BIN)/ruff check monitor tests benchmarks spiders
	$(BIN)/mypy

bench: install
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
