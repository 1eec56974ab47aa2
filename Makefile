# The two commands a new user needs: `make demo` and `make test`. Everything installs
# into .venv; torch==2.13.0 goes in first so that nothing pulls CUDA wheels.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/var/dagster
export HF_HUB_OFFLINE ?= 1

.PHONY: install ui-deps cypher-lint-deps test test-neo4j demo validate dev bench services-up services-down services-status clean \
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

# Neo4j's own Cypher parser (npm @neo4j-cypher/language-support, pinned in the lock file) for
# test_neo4j_dialect.py: no Neo4j server can run on the test machines, so the Neo4j dialect's
# statements are at least parsed by Neo4j's grammar in every `make test`.
CYPHER_LINT := tools/cypher-lint
cypher-lint-deps: $(CYPHER_LINT)/node_modules/.installed

$(CYPHER_LINT)/node_modules/.installed: $(CYPHER_LINT)/package.json $(CYPHER_LINT)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  [ "$$(id -u)" = 0 ] || { echo "The Cypher lint needs Node.js and npm: sudo apt-get install -y nodejs npm"; exit 1; }; \
	  echo "installing Debian's nodejs and npm for the Cypher lint ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --prefix $(CYPHER_LINT) --no-audit --no-fund --loglevel=error
	touch $@

# Two worker processes (pytest-xdist), each with its own embedded servers in its own
# temporary home: most tests wait on subprocesses and servers, so two workers on two cores
# measured 6m05s against 10m25s for one. TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 2
test: install ui-deps cypher-lint-deps
	$(BIN)/pytest -n $(TEST_WORKERS)

# The offline profile: the Gemini emulator and the small embedding model shipped on PyPI,
# in its own home (var/demo): servers started earlier in var/ with the production defaults
# (a 1024-d embedding column) cannot collide with the demo's 384-d one.
DEMO_PROFILE := POLYMATH_HOME=var/demo POLYMATH_OFFLINE=1 POLYMATH_EMBEDDING_MODEL=packaged-minilm POLYMATH_EMBEDDING_DIM=384
DEMO := env $(DEMO_PROFILE) $(BIN)/polymath

# Everything Neo4j-specific against a real Neo4j 5 (not available on the test machines, which
# use a Bolt stand-in): every statement of both Neo4j dialects (test_neo4j_dialect.py), the
# adapter's bookmarks, retries and dialect (test_neo4j_adapter.py) and the graph contract
# (test_graph.py). NEO4J_URI=bolt://host:7687 NEO4J_PASSWORD=... make test-neo4j.
# The tests empty that database: never point it at production.
NEO4J_TESTS := polymath_assets_tests/test_neo4j_dialect.py polymath_assets_tests/test_neo4j_adapter.py \
	polymath_assets_tests/test_graph.py
test-neo4j: install cypher-lint-deps
	@test -n "$(NEO4J_URI)" || { echo "make test-neo4j needs NEO4J_URI (and NEO4J_USER / NEO4J_PASSWORD) of a scratch Neo4j"; exit 1; }
	POLYMATH_TEST_NEO4J_URI="$(NEO4J_URI)" POLYMATH_TEST_NEO4J_USER="$${NEO4J_USER:-neo4j}" \
	POLYMATH_TEST_NEO4J_PASSWORD="$(NEO4J_PASSWORD)" POLYMATH_TEST_NEO4J_DATABASE="$(NEO4J_DATABASE)" \
	$(BIN)/pytest -q -n 0 $(NEO4J_TESTS) -k "neo4j or two_shard_syncs"


polymath.env:
	{ echo '# Written by make demo: the offline profile (delete this file for the production defaults).'; \
	  printf '%s\n' $(DEMO_PROFILE); } > $@

# The profile is passed on each command, so a stale polymath.env cannot change the demo.
demo: install polymath.env $(DAGSTER_HOME)/dagster.yaml
	$(DEMO) services up
	$(DEMO) ingest sample_corpus/corpus.jsonl
	$(DEMO) run
	$(DEMO) status
	$(DEMO) verify
	$(DEMO) search "graph neural networks for protein structure prediction" -k 3
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
	$(BIN)/python benchmarks/aligner_bench.py
	$(BIN)/python benchmarks/answer_bench.py
	$(BIN)/python benchmarks/gates_bench.py
	$(BIN)/python benchmarks/concepts_bench.py --sizes $(CONCEPT_SIZES)
	$(BIN)/python benchmarks/ui_backfill_bench.py

services-up: install
	$(BIN)/polymath services up

services-down: install
	$(BIN)/polymath services down

services-status: install
	$(BIN)/polymath services status

clean: services-down
	rm -rf var
