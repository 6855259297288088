# Champollion: `make demo` runs the pipeline end to end on the simulated population; `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SIMULATED := data/simulated
PRESET ?= default

.PHONY: install demo serve lint test clean-data

# setup.py compiles the DSN parser and the rule checks' passes with Cython: editing them means installing again.
$(BIN)/champollion: pyproject.toml setup.py warehouse/dsn/parser.py warehouse/dsn/records.py warehouse/dsn/line_runs.py \
		warehouse/dsn/line_runs.pxd features/job_posts.py features/job_posts.pxd \
		features/replacements.py features/replacements.pxd
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/champollion

demo: install
	$(BIN)/champollion init-key
	$(BIN)/champollion simulate --out $(SIMULATED) --preset $(PRESET)
	$(BIN)/champollion ingest $(SIMULATED)/dsn
	$(BIN)/champollion import-inspections $(SIMULATED)/inspections.csv
	$(BIN)/champollion features --as-of latest
	$(BIN)/champollion train --truth $(SIMULATED)/truth
	$(BIN)/champollion evaluate --truth $(SIMULATED)/truth
	$(BIN)/champollion score --month latest
	-$(BIN)/champollion audit --truth $(SIMULATED)/truth  # a failed audit is reported, the demo goes on
	@echo "Simulated DSN files: $(SIMULATED)/dsn  |  warehouse: data/warehouse  |  features: data/features  |  issues: data/ingest-reports"
	@echo "Models: mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db"
	@echo "Audit report: $$(ls $(CURDIR)/reports/audit-*.html | tail -1)"
	@echo "Control lists of the last month: $$(ls -d $(CURDIR)/lists/*/ | tail -1)"

# The web application over this home (after `make demo`): http://127.0.0.1:8000, accounts with `champollion users add`.
serve: install
	$(BIN)/champollion serve

# The HTML pages are tested in Debian's Chromium (tests marked `browser`); installed when missing (needs root).
/usr/bin/chromium:
	apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium

# The Spark engine's parity tests need Java 17; installed when missing (needs root).
/usr/bin/java:
	apt-get update -qq && apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless

# Style and types (ruff, mypy) and the layers (import-linter: a lower stage importing a higher one fails).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint /usr/bin/chromium /usr/bin/java
	$(BIN)/python -m pytest -n 2 -q

clean-data:
	rm -rf data lists
