# Every target sets up .venv by itself; nothing needs installing by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= config/scenarios/default.yaml
EXTRAS ?= dev,gateway,api
# This machine's pip configuration names local package folders that may not exist; say nothing
# about those, show every other message.
QUIET_PIP = 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

.PHONY: demo eval test lint typecheck bench services clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "setting up $(VENV) (packages from pyproject.toml, extras: $(EXTRAS)) ..."
	@$(BIN)/python -m pip install --quiet --upgrade pip $(QUIET_PIP)
	@$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]' $(QUIET_PIP)
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/proximity demo

eval: $(STAMP)
	$(BIN)/proximity eval --scenario $(SCENARIO) --plot-dir out/plots

services:
	@scripts/ensure-services.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check proximity firmware_sim gateway api tests bench
	$(BIN)/mypy

test: $(STAMP) services lint
	$(BIN)/python -m pytest -q

bench: $(STAMP) services
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
