# The verbs: make demo | make dev | make test | make test-fast (README), plus make bench, make lint, make lock.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
# The embedder's torch, installed by pip (which honours pip's find-links, e.g. a local CPU wheel);
# extra pip arguments for it go in TORCH_PIP_ARGS (e.g. another index serving CPU builds).
TORCH_VERSION := 2.13.0
TORCH_PIP_ARGS ?=
# An empty DAGSTER_HOME (e.g. exported from a copied .env.example) counts as unset.
ifeq ($(strip $(DAGSTER_HOME)),)
DAGSTER_HOME := $(CURDIR)/.data/dagster_home
endif
export DAGSTER_HOME
# dbt must not phone home (no internet here, and no need anywhere).
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
# The dbt manifest Dagster reads its assets from (made by `dbt parse`, no database needed).
DBT_MANIFEST := dbt_project/target/manifest.json
DBT_FILES := $(shell find dbt_project/models dbt_project/macros -type f) dbt_project/dbt_project.yml dbt_project/profiles.yml

.PHONY: instance setup settings-docs demo dev test test-fast lint format bench bench-ingest bench-memory bench-gates bench-gx-fallback bench-incremental bench-latency bench-retrieval bench-governance bench-clean-text bench-doc-sync bench-report lock clean bench-pii bench-search bench-doc-memory bench-cli bench-files bench-deps bench-catchup bench-events bench-scale

$(STAMP): pyproject.toml requirements.lock requirements.exclude
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv==$(UV_VERSION)
	$(BIN)/python -m pip install -q $(TORCH_PIP_ARGS) torch==$(TORCH_VERSION)
	$(BIN)/uv pip install -q -p $(BIN)/python --compile-bytecode --excludes requirements.exclude -r requirements.lock
	$(BIN)/uv pip install -q -p $(BIN)/python --no-deps -e .
	touch $(STAMP)

$(DBT_MANIFEST): $(STAMP) $(DBT_FILES) dagster_project/sources.yml
	$(BIN)/python -m dagster_project.onboard.dbt_sources
	cd dbt_project && ../$(BIN)/dbt parse --profiles-dir . --quiet
	touch $(DBT_MANIFEST)

setup: $(STAMP) $(DBT_MANIFEST)

# The Dagster instance: PostgreSQL storage when DAGSTER_PG_HOST is set (docker/dagster.yaml reads
# DAGSTER_PG_*), else the embedded SQLite default. Copied on every demo/dev so a switch takes effect.
INSTANCE_YAML := $(if $(DAGSTER_PG_HOST),docker/dagster.yaml,dagster_project/dagster.yaml)

instance:
	mkdir -p $(DAGSTER_HOME)
	cp $(INSTANCE_YAML) $(DAGSTER_HOME)/dagster.yaml

demo: setup instance
	$(BIN)/foundation demo

# dagster dev on :3000, with the docs server (cards, Data Docs) on FOUNDATION_DOCS_PORT (3001) beside it.
dev: setup instance
	$(BIN)/python -m dagster_project.docs_site.dev -h 127.0.0.1 -p 3000 -w workspace.yaml

test: setup
	$(BIN)/pytest

# The tests not marked slow (no end-to-end pipeline, dev server, crash or server tests): minutes, not half an hour.
test-fast: setup
	$(BIN)/pytest -m "not slow"

# .env.example and the README's settings table, from the settings' one declaration (settings.py).
settings-docs: $(STAMP)
	$(BIN)/python -m dagster_project.settings_docs

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The bench extra (benchmark peers such as dlt, never a runtime dependency), pinned in requirements-bench.lock.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) requirements-bench.lock
	$(BIN)/uv pip install -q -p $(BIN)/python --compile-bytecode --excludes requirements.exclude -r requirements-bench.lock
	touch $(BENCH_STAMP)

bench-deps: $(BENCH_STAMP)

bench-ingest: setup bench-deps
	$(BIN)/python benchmarks/bench_ingest.py

bench-catchup: setup
	$(BIN)/python benchmarks/bench_catchup.py

bench-memory: setup
	$(BIN)/python benchmarks/bench_memory.py

bench-gates: setup
	$(BIN)/python benchmarks/bench_gates.py

# An expectation GX's engine runs (not compiled) against a compiled one: time and memory ratios.
bench-gx-fallback: setup
	$(BIN)/python benchmarks/bench_gx_fallback.py

bench-incremental: setup
	$(BIN)/python benchmarks/bench_incremental.py

bench-latency: setup instance
	$(BIN)/python benchmarks/bench_latency.py

bench-retrieval: setup
	$(BIN)/python benchmarks/bench_retrieval.py

bench-governance: setup
	$(BIN)/python benchmarks/bench_governance.py

bench-clean-text: setup
	$(BIN)/python benchmarks/bench_clean_text.py

bench-doc-sync: setup
	$(BIN)/python benchmarks/bench_doc_sync.py

# PII_CORPUS=DIR also counts redactions on a real corpus (.html/.md/.txt; see bench_pii.py).
bench-pii: setup
	$(BIN)/python benchmarks/bench_pii.py $(if $(PII_CORPUS),--corpus "$(PII_CORPUS)")

bench-search: setup
	$(BIN)/python benchmarks/bench_search.py

bench-doc-memory: setup
	$(BIN)/python benchmarks/bench_doc_memory.py

# Cold `foundation status`, `search` and `--help` in fresh processes, beside `python -c pass` and `import dagster`.
bench-cli: setup
	$(BIN)/python benchmarks/bench_cli.py
# 2,000 small files land at once → raw.orders under dagster dev; one run per file measured beside it.
bench-files: setup instance
	$(BIN)/python benchmarks/bench_files.py

# One landing sensor tick over 100,000 objects on moto_server: listing the prefix against draining S3 events from SQS.
bench-events: setup
	$(BIN)/python benchmarks/bench_events.py

# The heavy steps in-process against a local Ray cluster of 1 and 2 worker nodes (rows/s, chunks/s).
bench-scale: setup
	$(BIN)/python benchmarks/bench_scale.py

bench-report: setup
	$(BIN)/python benchmarks/report.py

# Every benchmark, then one report (.data/bench/report.md and report.json).
bench: bench-ingest bench-memory bench-gates bench-gx-fallback bench-incremental bench-latency bench-retrieval bench-governance bench-clean-text bench-doc-sync bench-pii bench-search bench-doc-memory bench-cli bench-files bench-catchup bench-events bench-scale
	$(BIN)/python benchmarks/report.py

lock: setup
	$(BIN)/uv pip compile pyproject.toml --extra dev -p 3.11 --no-header --excludes requirements.exclude -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra bench -c requirements.lock -p 3.11 --no-header --excludes requirements.exclude -o requirements-bench.lock

clean:
	rm -rf .data $(VENV) dbt_project/target dbt_project/logs
