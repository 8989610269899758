# Quick start: `make run` (the bot) and `make test` (the tests). Each sets up .venv by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= $(if $(wildcard config.toml),config.toml,config.example.toml)

.PHONY: run once demo test test-fast faults lint bench bench-venv bench-compare bench-scale clean

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
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-fast} $(BIN)/pytest -q -n 2 tests/unit

faults: $(BIN)/.installed       ## the fault-injection suite alone (hostile servers, kills, bombs)
	$(BIN)/pytest -q tests/integration/faults

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python bench/bench_pipeline.py

# Side by side with rss2email (bench/README.md). rss2email is no dependency of the bot: it goes into a
# venv of its own, from the package registry. N=200 feeds by default; `make bench-compare BIG=1` (or
# N=1000) for 1,000; RUNS=3 interleaved runs.
BENCH_VENV := .bench-venv
N    ?= $(if $(BIG),1000,200)
RUNS ?= 3

$(BENCH_VENV)/bin/r2e:
	[ -x $(BENCH_VENV)/bin/python ] || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet 'rss2email==3.14' 'feedparser==6.0.14'

bench-venv: $(BENCH_VENV)/bin/r2e

bench-compare: $(BIN)/.installed $(BENCH_VENV)/bin/r2e
	$(BIN)/python bench/compare.py --feeds $(N) --runs $(RUNS) --r2e $(BENCH_VENV)/bin/r2e

bench-scale: $(BIN)/.installed   ## per-poll/per-message cost against the size of the history (issue 17)
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
