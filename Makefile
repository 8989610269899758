# Quick start: `make run` (the bot) and `make test` (the tests). Each sets up .venv by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= $(if $(wildcard config.toml),config.toml,config.example.toml)

.PHONY: run once demo test test-fast faults lint bench clean

# Two stamps: .runtime has the bot's own dependencies only (what `make run` needs); .installed adds
# the test and lint tools (`make test`, `make lint`).
$(BIN)/.runtime: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "release-bot needs Python 3.11 or newer; this python3 is " + sys.version.split()[0])'
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { echo "python3 has no venv module: apt-get install python3-venv"; exit 1; }
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

$(BIN)/.installed: $(BIN)/.runtime
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

run: $(BIN)/.runtime            ## the daemon, on $(CONFIG)
	$(BIN)/release-bot -c $(CONFIG) run

once: $(BIN)/.runtime           ## one poll + delivery cycle
	$(BIN)/release-bot -c $(CONFIG) once

demo: $(BIN)/.runtime           ## offline demo over bundled real Flatcar snapshots
	$(BIN)/release-bot demo

test: $(BIN)/.installed         ## the whole test suite: unit lane, integration (real servers), fault suite
	$(BIN)/pytest

test-fast: $(BIN)/.installed    ## the unit lane: pure tests, no sockets, no subprocesses (tests/unit/)
	$(BIN)/pytest -q tests/unit

faults: $(BIN)/.installed       ## the fault-injection suite alone (hostile servers, kills, bombs)
	$(BIN)/pytest -q tests/integration/faults

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python bench/bench_pipeline.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
