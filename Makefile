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

.PHONY: install demo test bench screenshot clean

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

# The README's picture of the outcome report (docs/images/report.png), taken in headless Chromium
# by Playwright: Debian's chromium is installed when missing (as root), Playwright as the
# `screenshot` extra; the report is the demo loop's (run `make demo` first for a fresh one).
SCREENSHOT_STAMP := $(VENV)/.installed-screenshot
$(SCREENSHOT_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev,screenshot]"
	touch $(SCREENSHOT_STAMP)

screenshot: $(SCREENSHOT_STAMP)
	@command -v chromium >/dev/null || { \
	    if [ "$$(id -u)" != 0 ]; then echo "Chromium is missing: run 'apt-get install -y chromium' as root" >&2; exit 1; fi; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	@[ -f $(DEMO_DIR)/report.html ] || $(BIN)/python scripts/demo_loop.py
	$(BIN)/python scripts/screenshot_report.py $(DEMO_DIR)/report.html docs/images/report.png

clean:
	rm -rf $(DEMO_DIR) data/demo_careless models/mlflow.db models/mlartifacts models/.bundle-cache models/bundles .pytest_cache
