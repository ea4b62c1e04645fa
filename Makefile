# `make run` and `make test` are all the set-up a fresh machine needs: each creates .venv and installs
# the pinned dependencies (pyproject.toml + constraints.txt) when they are missing or changed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
MANIFEST := dbt/target/manifest.json
DBT_SOURCES := $(shell find dbt/models dbt/macros -type f) dbt/dbt_project.yml dbt/profiles.yml

.PHONY: run test test-long lint install manifest docs clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Dagster loads the dbt project from its manifest: build it before anything loads the definitions.
$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	cd dbt && ../$(BIN)/dbt parse --quiet --profiles-dir . && touch target/manifest.json

manifest: $(MANIFEST)

run: $(MANIFEST)
	$(BIN)/aiadmin migrate
	$(BIN)/aiadmin demo-data --if-empty
	$(BIN)/aiadmin pipeline run
	$(BIN)/aiadmin serve

docs: $(STAMP)
	$(BIN)/python -m aiadmin.permissions_doc

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(MANIFEST) lint
	$(BIN)/pytest

# The reliability suite's deep profile: more fuzz cases and state-machine runs, a 10-minute soak; its
# figures are written into docs/reliability.md whether it passes or not (and the exit status kept).
test-long: $(MANIFEST) lint
	AIADMIN_TEST_PROFILE=long $(BIN)/pytest tests/reliability; status=$$?; \
	$(BIN)/python -m tests.reliability.figures; exit $$status

clean:
	rm -rf $(VENV) dbt/target dbt/logs .pytest_cache .ruff_cache
