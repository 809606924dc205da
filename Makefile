# quivo-bulk developer commands. Every target installs what it needs first,
# so `make demo` and `make test` work on a fresh clone.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser check format test test-fast demo docs sandbox bench sample-data clean i18n

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
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

# The documentation (docs/, mkdocs.yml) into site/; a broken link or anchor fails it.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

sandbox: install
	$(BIN)/quivo-bulk sandbox --orders sample_data/sandbox_orders.jsonl --port 8787

bench: install browser
	$(BIN)/python -m tests.benchmarks

sample-data: install
	$(BIN)/python -c 'from pipeline.sandbox.orders import main; main()' --count 300 --seed 7 \
		> sample_data/sandbox_orders.jsonl
	$(BIN)/python sample_data/build_samples.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache runs site

# The UI's German catalogue: new messages of the templates and pipeline/ui go into
# pipeline/ui/locale/de/LC_MESSAGES/messages.po, to be translated there (a test fails
# while one is not).
i18n: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ -k n_:1,2 --no-location --omit-header \
		--sort-output -o pipeline/ui/locale/messages.pot .
	$(BIN)/pybabel update -i pipeline/ui/locale/messages.pot -d pipeline/ui/locale -l de \
		--width 100 --ignore-obsolete
