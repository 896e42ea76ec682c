# The two commands: `make run` serves the demo, `make test` runs every test.
# The first interpreter that runs and is 3.11 or newer (pyenv shims may exist without working).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test install install-test install-dev bench lint clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "OpenCortex needs Python 3.11 or newer (python3 on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(VENV)/.installed $@

# The linters pinned in the `dev` extra, so every machine and CI run gives the same verdict.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	@touch $(VENV)/.installed $(VENV)/.installed-test $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/opencortex demo
	exec $(BIN)/opencortex serve

test: install-test
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# `make bench BENCH_ARGS="--docs 1000000 --db postgres"`; figures go to docs/benchmarks.md (see there).
BENCH_ARGS ?= --docs 100000 --db sqlite --runs 3
bench: install-test
	$(BIN)/python -m bench $(BENCH_ARGS)

# Both run, so one report shows every ruff and every mypy error; either fails the target.
lint: install-dev
	@status=0; $(BIN)/ruff check src tests || status=1; $(BIN)/mypy || status=1; exit $$status

clean:
	rm -rf $(VENV) .cache .pytest_cache
