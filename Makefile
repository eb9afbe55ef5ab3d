# specgate — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8080
CONFIG ?=
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (0: one process). Most of the suite waits on sockets,
# subprocesses and sleeps, so 3 on 2 cores; --dist loadfile keeps each file on one worker (its
# module fixtures are built once, and tests/security/test_corpus.py's last test runs last).
TEST_WORKERS ?= 3
BENCH_ARGS ?=
FUZZ_ARGS ?=
NPM    ?= npm
NODE_DIR := $(VENV)/node

.PHONY: install dev-install browser node-clients run test lint format spec-check routes api-diff api-sync fuzz bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

dev-install: $(VENV)/.dev-installed

run: install
	$(PY) -m specgate serve --host $(HOST) --port $(PORT) $(if $(CONFIG),--config $(CONFIG))

# Headless Chromium + chromedriver for the Swagger UI test (tests/browser/). Installed with apt
# when missing and we are root; otherwise say so: the test then fails (SPECGATE_SKIP_BROWSER=1 skips it).
browser:
	@if command -v chromedriver >/dev/null 2>&1 && { command -v chromium >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; }; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and chromium-driver (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; \
	else \
	  echo "warning: chromium/chromedriver missing and not installable here (needs root and apt): the Swagger UI test will fail; install them or set SPECGATE_SKIP_BROWSER=1" >&2; \
	fi

# The real clients of tests/clients (Claude Code CLI, the TypeScript SDK), pinned by
# tests/clients/package-lock.json and installed with `npm ci` into $(NODE_DIR). Without npm, say
# so: those tests then fail with the same advice.
$(NODE_DIR)/.installed: tests/clients/package.json tests/clients/package-lock.json
	mkdir -p $(NODE_DIR)
	cp tests/clients/package.json tests/clients/package-lock.json $(NODE_DIR)/
	$(NPM) ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error
	$(NODE_DIR)/node_modules/.bin/claude --version >/dev/null
	touch $@

ifneq ($(shell command -v $(NPM) 2>/dev/null),)
node-clients: $(NODE_DIR)/.installed
else
node-clients:
	@echo "warning: $(NPM) not found: the Claude Code and TypeScript SDK tests (tests/clients/) will fail; install Node.js >= 20 with npm, then run make node-clients" >&2
endif

# pytest exits 5 when nothing was collected: fine for a selection (PYTEST_ARGS), a failure for the suite.
test: dev-install browser node-clients
	@rc=0; $(PY) -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ] && [ -n "$(PYTEST_ARGS)" ]; then echo "pytest: the selection matched no tests"; rc=0; fi; \
	exit $$rc

# schemathesis CLI against a live server (echo provider, a generated key): every phase, bounded.
fuzz: dev-install
	$(PY) -m specgate.fuzz $(FUZZ_ARGS)

lint: dev-install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: dev-install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

spec-check: install
	$(PY) -m specgate spec-check

# spec/ against the installed official SDK (GA and beta request types): every request it can build
# that spec/ refuses, every unknown key spec/ takes, every header-borne param not declared.
api-diff: dev-install
	$(PY) -m specgate.contract.apisurface diff

# Regenerate spec/schemas/messages_request.yaml from the SDK and spec/schemas/request_overlay.yaml.
api-sync: dev-install
	$(PY) -m specgate.contract.apisurface sync

routes: install
	$(PY) -m specgate routes

bench: install  ## the overhead benchmark against the floor (loopback, ~17 min): table + bench/results/latest.json
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
