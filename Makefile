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

.PHONY: install demo test test-dask bench screenshot messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"

$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh

# The browser tests (tests/serving/test_ui_browser.py) drive Debian's Chromium through Playwright
# (a dev dependency); it is installed here when missing, as root, so a fresh machine gets it.
define need_chromium
	@command -v chromium >/dev/null || { \
	    if [ "$$(id -u)" != 0 ]; then echo "Chromium is missing: run 'apt-get install -y chromium' as root" >&2; exit 1; fi; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
endef

# The store's tests run on PostgreSQL too, on a throw-away server the tests start
# (tests/serving/postgres.py) from Debian's postgresql package (binaries in
# /usr/lib/postgresql/<version>/bin), installed here when missing, as root.
define need_postgresql
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	    if [ "$$(id -u)" != 0 ]; then echo "PostgreSQL is missing: run 'apt-get install -y postgresql' as root" >&2; exit 1; fi; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }
endef

test: $(STAMP)
	$(need_chromium)
	$(need_postgresql)
	$(BIN)/python -m pytest

# The Dask tests alone (issue 16): a LocalCluster of 2 workers on small data, a few minutes.
test-dask: $(STAMP)
	$(BIN)/python -m pytest -m dask tests/dask

bench: $(STAMP)
	$(BIN)/python benchmarks/generate.py

# The README's pictures, taken in headless Chromium by Playwright: the outcome report
# (docs/images/report.png), the web pages (docs/images/ui-*.png), from the demo loop's
# scores, and the champion's MLflow run and version pages (docs/images/mlflow-*.png); run
# `make demo` first for fresh ones.
screenshot: $(STAMP)
	$(need_chromium)
	@[ -f $(DEMO_DIR)/report.html ] || $(BIN)/python scripts/demo_loop.py
	$(BIN)/python scripts/screenshot_report.py $(DEMO_DIR)/report.html docs/images/report.png
	$(BIN)/python scripts/screenshot_pages.py docs/images
	$(BIN)/python scripts/screenshot_mlflow.py docs/images

# The English messages marked for translation (features/i18n.py), extracted into the catalogue
# template and merged into each language's catalogue; translate what is new in the .po files.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --no-wrap --project leadscore \
	    -o features/locale/leadscore.pot .
	$(BIN)/pybabel update -i features/locale/leadscore.pot -d features/locale -D leadscore --no-wrap --no-fuzzy-matching

clean:
	rm -rf $(DEMO_DIR) data/demo_careless models/mlflow.db models/mlartifacts models/.bundle-cache models/bundles .pytest_cache
