# Every target sets up .venv by itself; nothing needs installing by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= config/scenarios/default.yaml

.PHONY: demo test lint typecheck bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "setting up $(VENV) (packages from pyproject.toml) ..."
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev,gateway,api]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/proximity eval --scenario $(SCENARIO) --plot-dir out/plots

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check proximity firmware_sim tests bench
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
