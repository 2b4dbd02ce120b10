# aixgo — run `make help` for the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install demo run test lint bench bench-peers clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install -q -e '.[dev]'  # no setuptools "editable install" banner
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install aixgo with its dev extras

demo: $(STAMP) ## The main job: a ReAct agent that remembers, offline, across two processes
	$(BIN)/python examples/session-react/main.py --demo

run: demo ## Alias of demo

test: $(STAMP) ## Run the whole test suite (starts its own redis-server when one is installed)
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff and mypy --strict
	$(BIN)/ruff check aixgo tests benchmarks examples
	$(BIN)/mypy --strict aixgo

bench: $(STAMP) ## Benchmarks: medians and p99 beside the raw floors (never part of make test)
	$(BIN)/python -m benchmarks

PEERS       := .venv-peers
PEERS_STAMP := $(PEERS)/.installed-stamp

$(PEERS_STAMP): pyproject.toml
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install -q --upgrade pip
	$(PEERS)/bin/python -m pip install -q -e '.[postgres]' 'openai-agents[sqlalchemy]' asyncpg langgraph-checkpoint-sqlite langgraph-checkpoint-postgres
	@touch $(PEERS_STAMP)

bench-peers: $(PEERS_STAMP) ## Side by side with the OpenAI Agents SDK and LangGraph stores, SQLite and PostgreSQL (own venv; not in make test)
	$(PEERS)/bin/python -m benchmarks.peers

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) $(PEERS) .pytest_cache .mypy_cache .ruff_cache .hypothesis
