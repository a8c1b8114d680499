# Two commands set everything up on a machine with python3.11 (or later: PYTHON=python3.12)
# and make:
#   make run   - the whole suite on embedded defaults
#   make test  - lint, type check and the test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench fmt install clean-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/coop run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers (CI has two cores), each module's tests on one worker (its module-scoped
# worlds built once), modules holding a `slow` test handed out first. One test alone:
#   make pytest PYTEST_ARGS="tests/x -n0"
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/coop bench run
	$(BIN)/coop bench rappels
	$(BIN)/coop bench exports

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-data:
	if [ -x $(BIN)/coop ]; then $(BIN)/coop stop-databases; fi
	rm -rf .coop
