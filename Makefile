# specgate — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8080
CONFIG ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: install dev-install run test lint format spec-check routes fuzz bench clean

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

test: dev-install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: dev-install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: dev-install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

spec-check: install
	$(PY) -m specgate spec-check

routes: install
	$(PY) -m specgate routes

bench: install  ## the overhead benchmark (loopback, < 10 min): table + bench/results/latest.json
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
