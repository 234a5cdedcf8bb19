# Two commands: `make run` and `make test`. Everything else is here for them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Two workers: the suite is mostly waiting on databases, servers and a browser, and takes about
# an hour on one. `make test PYTEST_ARGS="-n 0 -k refund"` runs a part in one process.
PYTEST_ARGS ?= -n 2

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Reclaim needs Python 3.11 or newer (found $$($(PYTHON) --version))."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Set up, migrate the SQLite database, seed the demo merchant, and serve on :8000
## (delivering e-mails, written under data/mail/, and webhooks from the same process).
run: install
	$(BIN)/reclaim demo
	$(BIN)/reclaim serve --host 127.0.0.1 --port 8000 --worker

## Set up and run the whole suite (PostgreSQL too when RECLAIM_TEST_POSTGRES_URL is set).
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

## Benchmarks: a Markdown table of numbers; never fails the build on speed.
bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
