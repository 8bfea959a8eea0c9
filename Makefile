# The single entry point for people, hooks and CI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed

.PHONY: help venv test test-unit test-integration lint demo bench bench-ui compat clean browser

help:
	@echo "make demo   - set up .venv and run the example ETL pipeline on the embedded executor"
	@echo "make test   - set up .venv and run the whole test suite"
	@echo "make lint   - ruff + mypy --strict"
	@echo "make bench  - side-by-side benchmark (dagcore, Luigi, Dask, Celery)"
	@echo "make bench-ui - time dagcore ui's API and first render on a 30,001-task run"
	@echo "make compat - Luigi 3.8.1's own authoring-API tests, on Luigi and on dagcore"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo needs only the core and pandas; a full development venv serves it too.
$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $(DEMO_STAMP)

venv: $(STAMP)

# The UI's browser tests drive Debian's chromium (never a browser Playwright downloads).
browser:
	command -v chromium || (apt-get update && apt-get install -y chromium)

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

test-integration: $(STAMP) browser
	$(BIN)/python -m pytest -q tests/integration

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: $(if $(wildcard $(STAMP)),$(STAMP),$(DEMO_STAMP))
	$(BIN)/python -m examples.etl

compat: $(STAMP)
	$(BIN)/python tests/compat/luigi_suite.py

bench: $(STAMP)
	$(BIN)/python -m bench.run

# dagcore ui on a 30,001-task run: the run page's API and its first render in chromium.
bench-ui: $(STAMP) browser
	$(BIN)/python -m bench.ui

clean:
	rm -rf $(VENV) .dagcore .compat build *.egg-info
