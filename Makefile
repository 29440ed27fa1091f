# Two commands set up a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install the project with its pinned dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := data/demo
DEMO_LEADS ?= 20000
export GX_ANALYTICS_ENABLED := False
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false
export BENTOML_DO_NOT_TRACK := True

.PHONY: install demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"

$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/generate.py

clean:
	rm -rf $(DEMO_DIR) data/demo_careless models/mlflow.db models/mlartifacts models/.bundle-cache models/bundles .pytest_cache
