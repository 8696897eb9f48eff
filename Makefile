# The README's commands. `make demo` runs the pipeline; `make test` runs every test.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SERVICES = $(BIN)/python tools/services.py
PYTEST_ARGS ?=

.PHONY: venv up down status logs init demo test test-unit lint format bench bench-quick clean \
        up-cluster down-cluster test-cluster

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt -e .
	@touch $@

venv: $(STAMP)                      ## create/refresh .venv

up: $(STAMP)                        ## start local Kafka + Cassandra (fetches jars once)
	$(SERVICES) up

down:                               ## stop what `make up` started (by pid)
	@if [ -x $(BIN)/python ]; then $(SERVICES) down; else $(PY) tools/services.py down; fi

status:
	@if [ -x $(BIN)/python ]; then $(SERVICES) status; else $(PY) tools/services.py status; fi

logs:
	$(SERVICES) logs

init: up                            ## schema + topics
	$(BIN)/vitals init

demo: init                          ## run producer + two consumers for a while, show what landed
	bash tools/demo.sh

test: up                            ## the whole suite against the real servers
	bash tools/ensure_chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

up-cluster: $(STAMP)                ## 3 Cassandra nodes (127.0.0.11-13) + 3 Kafka brokers (127.0.0.21-23)
	$(SERVICES) up --nodes 3

down-cluster:                       ## stop the cluster (by pid); the single node keeps running
	@if [ -x $(BIN)/python ]; then $(SERVICES) down --nodes 3; else $(PY) tools/services.py down --nodes 3; fi

test-cluster: $(STAMP)              ## node-failure tests on a fresh-started cluster, then stop it
	$(SERVICES) up --nodes 3 && $(BIN)/python -m pytest tests/cluster $(PYTEST_ARGS); \
	status=$$?; $(SERVICES) down --nodes 3; exit $$status

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: up                           ## full benchmark (< 10 min), table + .bench/*.json
	$(BIN)/python -m bench

bench-quick: up                     ## reduced benchmark (< 2 min)
	$(BIN)/python -m bench --quick

clean: down down-cluster
	rm -rf $(VENV) .services/kafka .services/cassandra .services/cluster .bench
