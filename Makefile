# Two commands matter: `make run` and `make test`. Both create the virtualenv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8080

.PHONY: run test lint install package load bench clean check-org key

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	PORT=$(PORT) GATEWAY_KEYS_FILE=$${GATEWAY_KEYS_FILE:-$(KEYS_FILE)} $(PY) -m gateway.local_server

# Developers' keys. Local (the file `make run` reads): make key ARGS="create ada --budget 2000000"
# A deployed stage:  make key STACK=sf-anthropic-gateway-dev ARGS="create ada"   (also: list, revoke, rotate, usage)
KEYS_FILE ?= .gateway/keys.json
key: $(STAMP)
	@$(PY) -m gateway.keys $(if $(STACK),--stack $(STACK),--file $(KEYS_FILE)) $(ARGS)

# Conformance run against your own org (SF_MY_DOMAIN, SF_CLIENT_ID, SF_CLIENT_SECRET set); exit 1 on any failure.
# e.g. make check-org ARGS="--models claude-sonnet-4-6,gpt-5 --record recordings/"
check-org: $(STAMP)
	$(PY) -m orgcheck $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

# The layer for the Lambda target (manylinux, Python 3.12) and one zip per function; fails above 50 MB.
package: $(STAMP)
	$(PY) infra/package.py

# Bounded load test on loopback (200 concurrent clients against the simulator); stops by itself.
load: $(STAMP)
	$(PY) tests/perf/load.py

# The benchmark: gateway against direct backend calls, measured side by side in one run.
bench: $(STAMP)
	$(PY) tests/perf/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info shared/*.egg-info
