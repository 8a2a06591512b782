# Default target: lint and tests. `make test` is the README's test command.
PY ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)

.PHONY: all lint test test-fast bench fmt
all: lint test

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

fmt:
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

test:
	$(PY) -m pytest -n 2 -q -p no:cacheprovider

test-fast:
	$(PY) -m pytest -q -x -k "not postgresql and not browser"

bench:
	$(PY) bench/run_all.py
