# The README's commands. `make demo` runs the pipeline; `make test` runs every test.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SERVICES = $(BIN)/python tools/services.py
PYTEST_ARGS ?=

.PHONY: venv up down status logs init demo test test-unit lint format fuzz bench bench-quick clean \
        up-cluster down-cluster test-cluster

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt -e .
	@touch $@

venv: $(STAMP)                      ## create/refresh .venv

up: $(STAMP)                        ## start local Kafka + Cassandra (fetches jars once)
	$(SERVICES) up

down:                               ## stop what `make up` and `make demo` started (by pid)
	-@bash tools/demo.sh stop
	@if [ -x $(BIN)/python ]; then $(SERVICES) down; else $(PY) tools/services.py down; fi

status:
	@if [ -x $(BIN)/python ]; then $(SERVICES) status; else $(PY) tools/services.py status; fi

logs:
	$(SERVICES) logs

init: up                            ## schema + topics
	$(BIN)/vitals init

demo: init                          ## a simulated ward producing while the web board runs (stop: make down)
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

# The secured single node: Kafka SASL_SSL + SCRAM-SHA-512 on 9094, Cassandra TLS + passwords
# on 9142; its CA, keystores and passwords are generated under .services/secure/ at first start.
.PHONY: up-secure env-secure down-secure test-secure
SECURE_STACK = VITALS_SERVICES_DIR=$(CURDIR)/.services/secure KAFKA_PORT=9094 \
	KAFKA_CONTROLLER_PORT=9095 CASSANDRA_PORT=9142 CASSANDRA_STORAGE_PORT=7100 CASSANDRA_JMX_PORT=7299

up-secure: $(STAMP)                 ## secured Kafka (9094) + Cassandra (9142); then: eval "$$(make -s env-secure)"
	$(SECURE_STACK) $(SERVICES) up --secure

env-secure:                         ## the VITALS_* exports that point vitals at the secured stack
	@$(SECURE_STACK) $(SERVICES) env

down-secure:                        ## stop the secured stack (by pid); the plain one keeps running
	$(SECURE_STACK) $(SERVICES) down

test-secure: $(STAMP)               ## every command against a private secured stack (own ports), then purge it
	VITALS_SECURE_TESTS=1 $(BIN)/python -m pytest tests/secure $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

fuzz: $(STAMP)                      ## >= 1,000,000 fuzzed messages through the decoder (a few minutes)
	mkdir -p .fuzz && cd .fuzz && ../$(BIN)/python ../tools/fuzz.py -runs=1000000
	VITALS_FUZZ_EXAMPLES=20000 $(BIN)/python -m pytest tests/unit/test_decode_properties.py -q -p no:cacheprovider

lint: $(STAMP)                      ## ruff (check + format) and mypy on the domain core
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: up                           ## full benchmark (< 10 min), table + .bench/*.json
	$(BIN)/python -m bench

bench-quick: up                     ## reduced benchmark (< 2 min)
	$(BIN)/python -m bench --quick

clean: down down-cluster
	rm -rf $(VENV) .services/kafka .services/cassandra .services/cluster .bench
