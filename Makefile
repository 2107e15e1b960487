# The two commands of the README: `make run` and `make test`. Each sets up what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL_STAMP := models/.trained
BOT_DATA := config.yml domain.yml $(filter-out data/campaigns.yml,$(wildcard data/*.yml)) $(wildcard bot/*.py)

# Customer conversations leave the machine only towards Meta.
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONPATH := $(CURDIR)

.PHONY: help setup run test test-python test-bot lint validate train chromium clean

help:
	@echo "make run    set up, train when the bot changed, and start the product"
	@echo "make test   set up and run the whole suite (lint first)"
	@echo "make lint   ruff (lint and format check) and mypy, as configured in pyproject.toml"

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@PY=$$(scripts/find-python310) || exit 1; \
	  [ -x $(BIN)/python ] || $$PY -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip check
	touch $@

train: $(MODEL_STAMP)

$(MODEL_STAMP): $(STAMP) $(BOT_DATA)
	$(BIN)/rasa train --fixed-model-name bot --out models
	touch $@

chromium:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the desk's browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: $(MODEL_STAMP)
	scripts/run.sh

validate: $(STAMP)
	$(BIN)/rasa data validate --fail-on-warnings
	$(BIN)/python -m handoff.campaigns check data/campaigns.yml

# Seconds, not minutes: make test runs it first so a lint failure stops before the suite.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(MODEL_STAMP) chromium
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory validate
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not timing"
	$(BIN)/python -m pytest -m timing
	$(BIN)/rasa test core --model models --stories tests/test_stories.yml --fail-on-prediction-errors --out results/core

# bench/ is also a directory: without .PHONY make would call it up to date.
.PHONY: bench
bench: $(MODEL_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf models results var .pytest_cache
