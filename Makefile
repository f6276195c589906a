# Thin wrappers: the work is in infra/ and tests/. See README.md.
.PHONY: setup up down status check test bench demo demo-down clean-state reset-group

PY := .venv/bin/python

setup:
	@bash infra/setup.sh

up: setup
	@$(PY) -m infra.stack up

down:
	@if [ -x $(PY) ]; then $(PY) -m infra.stack down; fi

status:
	@$(PY) -m infra.stack status

check:
	@$(PY) -m infra.stack check

test: setup
	@bash infra/setup.sh --tests
	@$(PY) -m pytest

# the whole cycle with a compressed cadence, from an empty state of its own (.state-demo)
demo: setup
	@$(PY) -m infra.demo

demo-down:
	@STATE_DIR=$(CURDIR)/.state-demo $(PY) -m infra.stack down

bench: setup
	@$(PY) -m pytest -m bench -s -p no:cacheprovider benchmarks

# reset the Data API's batch clock and delete the stored batches: make reset-group [GROUP=6]
reset-group:
	@$(PY) -m infra.data_api.reset $(if $(GROUP),--group $(GROUP))

clean-state: down
	rm -rf .state
