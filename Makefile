# `make run` and `make test` are all the set-up a fresh machine needs: each creates .venv and installs the
# locked dependencies (requirements/lock.txt, every file checked against its hash) when they are missing or
# changed. The installer, uv, is itself installed with pip from a pinned, hashed requirement.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCK := requirements/lock.txt
UV_HOME := .uv
UV := $(UV_HOME)/bin/uv
# uv installs from PyPI alone (not a local index of the machine's pip), into the Python given, never one of
# its own downloads, and does not read a uv.toml of the user's: the lock is all it installs.
UV_ENV := UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1 UV_CACHE_DIR=$${UV_CACHE_DIR:-$$HOME/.cache/uv}
MANIFEST := dbt/target/manifest.json
DBT_SOURCES := $(shell find dbt/models dbt/macros -type f) dbt/dbt_project.yml dbt/profiles.yml

.PHONY: run test test-long lint install lock manifest docs clean

$(UV): requirements/uv.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --require-hashes \
		--only-binary :all: --no-deps --upgrade --target $(UV_HOME) -r requirements/uv.txt
	@touch $(UV)

# Wheels only (--no-build): building a source distribution would fetch its build backend unpinned. The
# project itself is built offline by the locked setuptools (requirements/build.in), without build isolation.
# Compiled to bytecode once here: every process the tests start (workers, pipeline runs, dbt, servers)
# would otherwise compile what it imports again (always, where PYTHONDONTWRITEBYTECODE is set).
$(STAMP): $(LOCK) pyproject.toml | $(UV)
	@test -x $(BIN)/python || $(UV_ENV) $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV_ENV) $(UV) pip sync --quiet --python $(BIN)/python --require-hashes --no-build --compile-bytecode $(LOCK)
	$(UV_ENV) $(UV) pip install --quiet --python $(BIN)/python --offline --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

# Resolve pyproject.toml (the project and its dev extras) and the build backend against constraints.txt into
# the lock, with the hash of every file; and uv's own pin, the DuckDB 1.4 a test installs and the LiteLLM the
# gateway benchmark installs, with theirs. Nothing is upgraded: constraints.txt and the .in files decide, and
# uv keeps the versions already in each .txt. No file uploaded in the last COOLDOWN enters a lock: malicious
# releases (LiteLLM 1.82.7 and 1.82.8, March 2026) were found and removed within hours. LiteLLM's tree is
# resolved as it stood before March 2026, when its pinned release was current (docs/operations.md).
COOLDOWN := 7 days
LOCK_COMPILE := $(UV_ENV) $(UV) pip compile --quiet --generate-hashes --custom-compile-command "make lock"
lock: | $(UV)
	$(LOCK_COMPILE) --exclude-newer "$(COOLDOWN)" --python-version 3.11 --extra dev -c constraints.txt \
		pyproject.toml requirements/build.in -o $(LOCK)
	$(LOCK_COMPILE) --exclude-newer "$(COOLDOWN)" requirements/uv.in -o requirements/uv.txt
	$(LOCK_COMPILE) --exclude-newer "$(COOLDOWN)" --python-version 3.11 \
		requirements/duckdb14.in -o requirements/duckdb14.txt
	$(LOCK_COMPILE) --exclude-newer 2026-03-01T00:00:00Z --python-version 3.11 \
		requirements/litellm.in -o requirements/litellm.txt

# Dagster loads the dbt project from its manifest: build it before anything loads the definitions.
$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	cd dbt && ../$(BIN)/dbt parse --quiet --profiles-dir . && touch target/manifest.json

manifest: $(MANIFEST)

# One supervisor per data directory (docs/decisions/0037): it takes the data directory's lock, migrates, adds
# demo data when the database is empty, runs the pipeline once, then starts every service; Ctrl-C, closing the
# terminal or killing it (or make) stops everything it started.
run: $(MANIFEST)
	$(BIN)/aiadmin serve --prepare --stop-with-parent

docs: $(STAMP)
	$(BIN)/python -m aiadmin.permissions_doc

# ruff, then the architecture's import contracts (.importlinter, docs/architecture.md).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Every test but the long ones, on WORKERS processes (pytest-xdist; `auto`: one per core; WORKERS=0 for one
# process). Tests that share a module's expensive fixture stay on one worker (xdist_group, loadgroup).
WORKERS ?= auto
test: $(MANIFEST) lint
	$(BIN)/pytest -n $(WORKERS) --dist loadgroup -m "not long"

# The long tests (`long`: the soak, the 100k-row memory test, the pipeline killed at every stage, the full
# disk) and the whole reliability suite in its deep profile (more fuzz cases and state-machine runs, a
# 10-minute soak), in one process, so that no other test shares the machine with their timings; the
# figures are written into docs/reliability.md whether it passes or not (and the exit status kept).
test-long: $(MANIFEST) lint
	AIADMIN_TEST_PROFILE=long $(BIN)/pytest -m "long or reliability"; status=$$?; \
	$(BIN)/python -m tests.reliability.figures; exit $$status

clean:
	rm -rf $(VENV) $(UV_HOME) dbt/target dbt/logs .pytest_cache .ruff_cache
