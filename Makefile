# The two commands a new user needs: `make demo` and `make test`. Everything installs
# into .venv; torch==2.13.0 goes in first so that nothing pulls CUDA wheels.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/var/dagster
export HF_HUB_OFFLINE ?= 1

.PHONY: install ui-deps test demo validate dev bench services-up services-down services-status clean \
	gemini_passage_pilot gemini_backfill_status gemini_passage_backfill

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# The UI tests drive Debian's headless Chromium (never a downloaded browser build).
ui-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  [ "$$(id -u)" = 0 ] || { echo "The UI tests need Debian's chromium: sudo apt-get install -y chromium"; exit 1; }; \
	  echo "installing Debian's chromium for the UI tests ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: install ui-deps
	$(BIN)/pytest

# The offline profile: the Gemini emulator and the small embedding model shipped on PyPI.
polymath.env:
	printf '# Written by make demo: the offline profile (delete this file for the production defaults).\nPOLYMATH_OFFLINE=1\nPOLYMATH_EMBEDDING_MODEL=packaged-minilm\nPOLYMATH_EMBEDDING_DIM=384\n' > $@

demo: install polymath.env $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/polymath services up
	$(BIN)/polymath ingest sample_corpus/corpus.jsonl
	$(BIN)/polymath run
	$(BIN)/polymath status
	$(BIN)/polymath verify
	$(BIN)/polymath search "graph neural networks for protein structure prediction" -k 3
	@echo
	@echo "QC reports and charts: docs/runlogs/.  Services keep running: 'make services-status' / 'make services-down'."
	@echo "The Dagster UI with these runs: 'make dev', then open http://127.0.0.1:3000"

validate: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster definitions validate -w workspace.yaml
	$(BIN)/polymath assets

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/polymath services up
	@echo "Dagster UI on http://127.0.0.1:3000"
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

# The operations of the Gemini backfill. OFFLINE=1 uses the offline emulator.
GEMINI_FLAGS := $(if $(filter 1,$(OFFLINE)),--offline,)

gemini_passage_pilot: install
	$(BIN)/polymath pilot $(GEMINI_FLAGS)

gemini_backfill_status: install
	$(BIN)/polymath status

gemini_passage_backfill: install
	$(BIN)/polymath backfill $(GEMINI_FLAGS)

# Synthetic surface counts for the canonical-concept scale runs (e.g. CONCEPT_SIZES=125000,500000).
CONCEPT_SIZES ?= 25000,100000

bench: install
	$(BIN)/python benchmarks/extraction_bench.py
	$(BIN)/python benchmarks/embedding_bench.py
	$(BIN)/python benchmarks/graph_bench.py
	$(BIN)/python benchmarks/concepts_bench.py --sizes $(CONCEPT_SIZES)

services-up: install
	$(BIN)/polymath services up

services-down: install
	$(BIN)/polymath services down

services-status: install
	$(BIN)/polymath services status

clean: services-down
	rm -rf var
