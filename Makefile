# vega_lab: `make lab` to work, `make test` to check. Both create or reuse the environment first.
SHELL := /bin/bash
VENV := .venv
export VEGA_EXTRAS ?= dev,ray,chat,federated,privacy,tensorflow,vision,audio,docs
PYTEST_ARGS ?=

.PHONY: env lab dashboards test lint format lock system-deps clean

env:  ## create or reuse the pinned environment, reachable at .venv/
	@.ci/ensure-env

lab: env  ## JupyterLab + real-time collaboration on 127.0.0.1, token required
	@$(VENV)/bin/vega-lab lab

dashboards: env  ## Voila dashboards (widgets/) on 127.0.0.1, token required
	@$(VENV)/bin/vega-lab dashboards

system-deps:  ## test-only system pieces (Debian chromium for browser tests)
	@.ci/ensure-system-deps

test: env system-deps  ## the whole suite
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check vega_lab tests

format: env
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format vega_lab tests

lock:  ## re-resolve requirements.lock from pyproject.toml (all extras, Python 3.11, Linux x86_64)
	@.ci/ensure-env >/dev/null
	$$(dirname $$(readlink -f $(VENV)))/../tools-uv-*/bin/uv pip compile pyproject.toml --all-extras \
	  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --no-header \
	  --annotation-style line -o requirements.lock

clean:  ## remove generated run outputs (keeps the environment cache)
	rm -rf reports/runs reports/sweeps data/results.sqlite* data/ray data/logs
