# The two set-up commands of the README. Both work on a fresh machine.
#   make demo   virtual environment, install, sample data into ./instance/billing.db, show it
#   make test   install with the dev extras (and system packages tests need), run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OCB := $(BIN)/openchargeback
SOURCES := aws azure hpc storage it_storage

.PHONY: demo test install install-dev lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"

config.yaml:
	cp config.example.yaml config.yaml

demo: install config.yaml
	@for s in $(SOURCES); do \
	  $(OCB) ingest sample_data/inputs/$${s}_2025-01.csv -s $$s -p 2025-01 -c config.yaml || exit 1; \
	  $(OCB) ingest sample_data/inputs/$${s}_2025-12.csv -s $$s -p 2025-12 -c config.yaml || exit 1; \
	done
	$(OCB) report totals -p 2025-01 --by source -c config.yaml
	$(OCB) report totals -p 2025-12 --by source -c config.yaml

test: install-dev
	$(BIN)/lint-imports
	@# the browser tests drive Debian's chromium (Playwright cannot download its own here)
	@test -x /usr/bin/chromium || { if [ "$$(id -u)" = 0 ]; then s=""; else s=sudo; fi; \
	  $$s apt-get update -q && $$s apt-get install -y -q --no-install-recommends chromium; }
	$(BIN)/python -m pytest -n 2 -q

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

bench: install-dev
	$(BIN)/python bench/ingest.py --rows 1000000

clean:
	rm -rf $(VENV) instance build *.egg-info
