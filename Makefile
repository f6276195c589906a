# Thin wrappers: the work is in infra/ and tests/. See README.md.
.PHONY: setup up down status check env test bench demo demo-down clean-state reset-group

PY := .venv/bin/python

setup:
	@bash infra/setup.sh

up: setup
	@$(PY) -m infra.stack up

# down, status, check, env: make up's stack or the demo's, whichever runs (infra/status.py)
down:
	@if [ -x $(PY) ]; then $(PY) -m infra.status down; fi

status:
	@$(PY) -m infra.status status

check:
	@$(PY) -m infra.status check

# shell exports for the README's examples: eval "$$(make -s env)"
env:
	@$(PY) -m infra.status env

test: setup
	@bash infra/setup.sh --tests
	@$(PY) -m pytest

# the whole cycle with a compressed cadence, from an empty state of its own (.state-demo)
demo: setup
	@$(PY) -m infra.demo

demo-down:
	@$(PY) -m infra.status down demo

bench: setup
	@$(PY) -m pytest -m bench -s -p no:cacheprovider benchmarks

# reset the Data API's batch clock and delete the stored batches: make reset-group [GROUP=6]
reset-group:
	@$(PY) -m infra.data_api.reset $(if $(GROUP),--group $(GROUP))

clean-state: down
	rm -rf $(or $(STATE_DIR),.state)
