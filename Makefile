# Local runtime of the CME platform: a real Kafka broker and PostgreSQL without
# Docker, plus the four services. See deploy/README.md.
#
#   make up | down | clean | demo | test | token ROLE=... | verify-log
#   make infra (Kafka + PostgreSQL only) | status | logs [LOG=kafka]

SHELL := /bin/bash
.DEFAULT_GOAL := help
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

BIN := deploy/bin
PY  := .venv/bin/python

# Test-suite connection settings (contract section 1 addresses). The suite logs in to Kafka as the
# operator principal, whose password set-up keeps in .local/secrets/kafka/ (testing/infra.py reads it).
TEST_ENV := CME_TEST_KAFKA_BOOTSTRAP=127.0.0.1:9092 CME_TEST_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT \
            CME_TEST_PG_ADMIN_DSN=postgresql://cme_test:cme_test@127.0.0.1:5432/postgres
# CME_KAFKA_* for a principal of the local broker: $(call kafka_login,operator)
kafka_login = eval "$$($(BIN)/kafka.sh env $(1))";

.PHONY: help up down clean demo test token verify-log outbox dispose bench infra prereqs venv \
        kafka-install kafka kafka-user postgres witness topics services status logs \
        console-install console dlq ops-tools

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 22

# ---------------------------------------------------------------- building blocks

prereqs:  ## check java 17+, mvn, python 3.11+ (and apt-get if PostgreSQL is missing)
	@$(BIN)/prereqs.sh

venv: prereqs  ## create .venv and install requirements-dev.txt when its inputs changed
	@$(BIN)/venv.sh

kafka-install: prereqs  ## fetch the Kafka jars from Maven Central (once, into the cache folder)
	@$(BIN)/kafka.sh install

kafka: venv kafka-install  ## start Kafka on 127.0.0.1:9092 (SASL/SCRAM, ACLs; logins in .local/secrets/kafka)
	@$(BIN)/kafka.sh start

kafka-user: kafka  ## a partner or operator login: make kafka-user NAME=<name> ROLE=partner|operator [ORG_ID=<org> [REQUIRE_MAC=1]]
	@if [[ -z "$(NAME)" || -z "$(ROLE)" ]]; then
	  echo "usage: make kafka-user NAME=<name> ROLE=partner|operator [ORG_ID=<org>]" >&2
	  exit 2
	fi
	$(call kafka_login,admin) $(PY) -m cme_shared.ops kafka-user --name '$(NAME)' --role '$(ROLE)' \
	  $(if $(ORG_ID),--org-id '$(ORG_ID)') $(if $(REQUIRE_MAC),--require-mac) --secrets-dir .local/secrets/kafka/users

postgres: prereqs  ## install (apt) and start PostgreSQL on 127.0.0.1:5432, create roles/databases
	@$(BIN)/postgres.sh install
	$(BIN)/postgres.sh start
	$(BIN)/postgres.sh bootstrap

infra: kafka postgres witness  ## Kafka, PostgreSQL and the log witness only (what the tests need)

witness: venv  ## build (Go) and start litewitness on 127.0.0.1:7380, the disclosure log's outside witness
	@$(BIN)/witness.sh start

topics: kafka  ## create the Kafka topics (idempotent)
	@$(call kafka_login,operator) $(PY) -m cme_shared.ops create-topics

services: infra console-install  ## migrate and start the four services and the console, wait for /readyz
	@$(BIN)/services.sh start

# -------------------------------------------------------------------- contract

up:  ## install what is missing, start everything, return when all four are ready
	@mkdir -p .local/run
	rm -f .local/run/changes
	$(MAKE) --no-print-directory services
	if [[ -s .local/run/changes ]]; then
	  echo "make up: done; all four services are ready (8001-8004), the console on http://127.0.0.1:8000."
	else
	  echo "make up: everything was already installed and running; nothing changed."
	fi

down:  ## stop the services, Kafka and PostgreSQL (data is kept)
	@$(BIN)/services.sh stop
	$(BIN)/witness.sh stop
	$(BIN)/kafka.sh stop
	$(BIN)/postgres.sh stop

clean: down  ## down, then delete .local/ (all local data)
	@$(BIN)/postgres.sh destroy
	rm -rf .local
	echo "removed .local/ (the Kafka jars stay cached in $${CME_CACHE:-$$HOME/.cache/cme})"

demo: up  ## up, then play the demo scenario (its partner logs in as the principal demo-partner)
	@login="$$($(MAKE) --no-print-directory -s kafka-user NAME=demo-partner ROLE=partner | tail -n1)"
	CME_KAFKA_BOOTSTRAP=127.0.0.1:9092 CME_DEMO_KAFKA_LOGIN="$$login" CME_JWT_SECRET="$$($(BIN)/services.sh jwt-secret)" \
	  $(PY) deploy/demo.py

test: infra console-install  ## run the whole test suite against real Kafka and PostgreSQL (PYTEST_ARGS=...)
	@$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

token: venv  ## print a development JWT: make token ROLE=officer [BOROUGH=..] [SUB=..] [ORG_ID=..] [TTL=seconds]
	@if [[ -z "$(ROLE)" ]]; then
	  echo "usage: make token ROLE=officer|manager|dpo|auditor|partner [BOROUGH=westminster] [SUB=user-id] [ORG_ID=org] [TTL=28800]" >&2
	  exit 2
	fi
	CME_JWT_SECRET="$$($(BIN)/services.sh jwt-secret)" $(PY) -m cme_shared.token --role '$(ROLE)' \
	  $(if $(BOROUGH),--borough '$(BOROUGH)') $(if $(SUB),--sub '$(SUB)') $(if $(ORG_ID),--org-id '$(ORG_ID)') \
	  $(if $(TTL),--ttl '$(TTL)')

verify-log: venv postgres  ## check the disclosure log end to end (non-zero on inconsistency)
	@$(BIN)/services.sh exec disclosure verify-log

outbox: venv postgres  ## quarantined outbox rows: make outbox SERVICE=intake [ARGS="show|release|drop ID"]
	@$(BIN)/services.sh exec '$(SERVICE)' outbox $(or $(ARGS),quarantined)

dispose: venv postgres  ## retention disposal: make dispose SERVICE=casework [ARGS="--dry-run"] (every service when SERVICE is unset)
	@for svc in $(or $(SERVICE),casework rights intake disclosure); do
	  $(BIN)/services.sh dispose "$$svc" $(ARGS) || exit $$?
	done

bench: up  ## benchmark the platform against its own broker and database (BENCH_ARGS="--n 2000 ...")
	@$(call kafka_login,operator) CME_JWT_SECRET="$$($(BIN)/services.sh jwt-secret)" \
	  $(PY) bench/platform_bench.py $(BENCH_ARGS)

# ------------------------------------------------------- the officer console (console/, issue 15)
# `make up` starts it and `make down` stops it (services.sh calls console.sh); `make test` installs it for
# its browser tests.

console-install: venv  ## install the console (pip, npm ci) and chromium for its browser tests (apt-get)
	@$(BIN)/console.sh install

console: console-install  ## (re)start only the officer console on http://127.0.0.1:8000
	@$(BIN)/console.sh stop
	$(BIN)/console.sh start

# ------------------------------------------------------- dead letters and deploy/ checks (issue 17)

dlq: venv  ## dead letters: make dlq ARGS="list --topic cme.referrals.v1" (show P:O, replay P:O --reason T, journal)
	@if [[ -z "$(ARGS)" ]]; then
	  echo 'usage: make dlq ARGS="list|show|replay|journal|outbox ..." (python -m cme_shared.dlq --help)' >&2
	  exit 2
	fi
	$(call kafka_login,operator) $(PY) -m cme_shared.dlq $(ARGS)

ops-tools: venv  ## go install kustomize and promtool into .local/bin (deploy/k8s and deploy/monitoring checks)
	@$(BIN)/ops-tools.sh install

# --------------------------------------------------------------------- extras

status:  ## what runs and answers
	@$(BIN)/kafka.sh status || true
	$(BIN)/postgres.sh status || true
	$(BIN)/services.sh status || true

logs:  ## last lines of every log, or follow one: make logs LOG=kafka
	@if [[ -n "$(LOG)" ]]; then
	  exec tail -n 100 -F .local/logs/$(LOG).log
	fi
	shopt -s nullglob
	for f in .local/logs/*.log; do
	  echo "===== $$f"
	  tail -n 20 "$$f"
	done
