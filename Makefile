# make demo | make test | make bench — each creates .venv and installs neurosort first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first: the CPU wheel 2.13.0 is on these machines; a plain newer torch pulls CUDA.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,peers,dask]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/neurosort demo --out neurosort_demo

test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest -q --runslow

bench: $(STAMP)
	$(BIN)/neurosort bench studies/shared.toml --out runs/bench_shared --executor dask --resume

clean:
	rm -rf $(VENV) neurosort_demo runs
