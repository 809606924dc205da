# quivo-bulk developer commands. Every target installs what it needs first,
# so `make demo` and `make test` work on a fresh clone.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser check format test test-fast demo sandbox bench sample-data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The browser tests drive Debian's chromium (playwright cannot download browsers here).
# Installed once, as root or through sudo; skipped when chromium is already there.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

check: install
	$(BIN)/ruff check pipeline tests sample_data
	$(BIN)/ruff format --check pipeline tests sample_data
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix pipeline tests sample_data
	$(BIN)/ruff format pipeline tests sample_data

# The suite mostly waits (wall-clock pacing, sandboxes, subprocesses), so it runs in
# more workers than cores (pytest-xdist); 4 took 275 s, 6 took 202 s at load average 8-12.
# ONE_WORKER_MODULES in tests/conftest.py stay on one worker each (--dist loadgroup).
TEST_WORKERS ?= 6
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadgroup

test: check browser
	$(BIN)/pytest $(PYTEST_PARALLEL)

test-fast: install browser
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not slow"

demo: install
	$(BIN)/quivo-bulk demo

sandbox: install
	$(BIN)/quivo-bulk sandbox --orders sample_data/sandbox_orders.jsonl --port 8787

bench: install browser
	$(BIN)/python -m tests.benchmarks

sample-data: install
	$(BIN)/python -c 'from pipeline.sandbox.orders import main; main()' --count 300 --seed 7 \
		> sample_data/sandbox_orders.jsonl
	$(BIN)/python sample_data/build_samples.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache runs
