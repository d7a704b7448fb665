# The two set-up commands of the README. Both work on a fresh machine.
#   make demo   virtual environment, install, sample data into ./instance/billing.db, the web UI
#   make test   install with the dev extras (and system packages tests need), run every test
# and, for development:
#   make test-fast    the tests not marked slow (no browser, no end-to-end CLI runs)
#   make screenshots  the browser tests, writing their screenshots to docs/images/
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OCB := $(BIN)/openchargeback
SOURCES := aws azure hpc storage it_storage

.PHONY: demo test test-fast screenshots chromium install install-dev system-packages lint bench sbom clean wheels

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"

config.yaml:
	cp config.example.yaml config.yaml

demo: install system-packages config.yaml
	@for s in $(SOURCES); do \
	  $(OCB) ingest sample_data/inputs/$${s}_2025-01.csv -s $$s -p 2025-01 -c config.yaml || exit 1; \
	  $(OCB) ingest sample_data/inputs/$${s}_2025-12.csv -s $$s -p 2025-12 -c config.yaml || exit 1; \
	done
	@# an "other source": token usage of a hosted language-model API, converted with the CSV mapping
	@for p in 2025-01 2025-12; do \
	  $(OCB) ingest sample_data/convert/llm_tokens_$$p.csv --convert csv -s llm -p $$p -c config.yaml \
	    --mapping sample_data/convert/llm_tokens.mapping.yaml --rates sample_data/rates/llm-rates.yaml \
	    --attribution sample_data/attribution/attribution.example.yaml || exit 1; \
	done
	$(OCB) report totals -p 2025-01 --by source -c config.yaml
	$(OCB) report totals -p 2025-12 --by source -c config.yaml
	@echo "web UI: http://127.0.0.1:8000  (log in as admin / demo-admin; Ctrl-C stops it)"
	$(OCB) serve -c config.yaml

# Debian packages the tests need: Pango and a font for WeasyPrint's PDF statements;
# pg_dump and pg_restore for `db backup` / `db restore` on PostgreSQL.
# Installed when missing (apt-get, with sudo unless root); other systems: install them yourself.
# systemd: systemd-analyze verifies deploy/systemd/ (tests/ops/test_systemd.py)
# podman's CNI network needs the dnsname plugin for compose services to find each other by name
# Each entry is package:command; a package counts as present when dpkg knows it or, for
# one with a command, when that command is on PATH (Node.js from another source brings
# its own npm, which Debian's npm package conflicts with).
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core postgresql-client:pg_dump \
  curl:curl jq:jq nodejs:node npm:npm systemd:systemd-analyze podman:podman runc:runc debootstrap:debootstrap \
  golang-github-containernetworking-plugin-dnsname

system-packages:
	@command -v dpkg >/dev/null 2>&1 || { echo "not Debian: make sure $(SYSTEM_PACKAGES) (or equivalents) are installed"; exit 0; }; \
	missing=""; for entry in $(SYSTEM_PACKAGES); do \
	  p=$${entry%%:*}; c=$${entry#*:}; \
	  if [ "$$c" != "$$entry" ] && command -v $$c >/dev/null 2>&1; then continue; fi; \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo=sudo; fi; \
	  $$sudo apt-get update -q && $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	fi

# The container image's wheelhouse (docs/operations/docker.md): the project's wheel and every
# dependency's, built by WHEEL_PYTHON, whose version must be the image's Python (the default
# BASE python:3.12-slim: WHEEL_PYTHON=python3.12). With wheels/ filled, `docker build` installs
# from it alone, as an air-gapped site must.
WHEEL_PYTHON ?= $(BIN)/python
wheels: $(BIN)/python
	rm -f wheels/*.whl
	$(WHEEL_PYTHON) -m pip wheel --quiet --wheel-dir wheels .

# the browser tests drive Debian's chromium (Playwright cannot download its own here)
chromium:
	@test -x /usr/bin/chromium || { if [ "$$(id -u)" = 0 ]; then s=""; else s=sudo; fi; \
	  $$s apt-get update -q && $$s apt-get install -y -q --no-install-recommends chromium; }

test: install-dev system-packages chromium oidc-provider axe-core
	$(BIN)/lint-imports
	$(BIN)/mypy src
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest -n 2 -q

# The quick loop while working: everything but the tests marked slow.
test-fast: install-dev system-packages oidc-provider axe-core
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

# Tests never write into the repository; this rewrites the pictures of the docs on purpose.
screenshots: install-dev system-packages chromium
	OPENCHARGEBACK_SCREENSHOTS=docs/images $(BIN)/python -m pytest -q \
	  tests/web/test_browser.py tests/web/test_registry_browser.py tests/web/test_review_browser.py \
	  tests/web/test_layout.py \
  tests/portal/test_portal_browser.py

# The OpenID Provider the sign-on tests run (npm package oidc-provider, Node.js).
oidc-provider:
	npm ci --prefix tests/oidc --no-audit --no-fund

# axe-core, the accessibility checker tests/web/test_layout.py injects into every page.
axe-core:
	npm ci --prefix tests/web/axe --no-audit --no-fund

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy src
	$(BIN)/ruff format --check src tests bench

bench: install-dev
	$(BIN)/python bench/ingest.py --rows 1000000

# sbom.json: CycloneDX 1.6 SBOM of the runtime dependencies installed (cyclonedx-bom).
sbom: install-dev
	$(BIN)/python scripts/sbom.py -o sbom.json

clean:
	rm -rf $(VENV) instance build *.egg-info
