# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test chromium check lint bench bench-quick bench-scale soak clean fuzz

$(INSTALLED): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		(echo "progress-ledger needs Python 3.11 or newer (set PYTHON=...)"; exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

install: $(INSTALLED)

run: install
	$(BIN)/progress-ledger serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The whole suite, on SQLite and, when LEDGER_TEST_DATABASE_URL is set, on PostgreSQL
# (about 3 minutes on 2 cores). LEDGER_TEST_DEADLINE_SCALE=2 doubles every wait's bound on a
# slow or busy machine; LEDGER_ORACLE_EXAMPLES sets the oracle's number of histories (30).
test: lint chromium
	$(BIN)/pytest

# The page tests drive Debian's Chromium through Playwright (which never downloads a browser).
chromium:
	@command -v chromium >/dev/null || (command -v apt-get >/dev/null && \
		(apt-get install -y chromium || (apt-get update && apt-get install -y chromium))) || \
		(echo "make test needs Debian's chromium: apt-get install chromium"; exit 1)

# The inner loop, in under 30 s: lint, then the tests that run inside pytest's own process
# (no server, no CLI process, nothing marked slow), on SQLite only, with a shorter oracle run.
check: lint
	LEDGER_TEST_IN_PROCESS_ONLY=1 LEDGER_TEST_DATABASE_URL= \
		LEDGER_ORACLE_EXAMPLES=$${LEDGER_ORACLE_EXAMPLES:-10} $(BIN)/pytest -q -m "not slow"

# A longer schema-driven fuzz run than the one in `make test` (a real server, its own OpenAPI).
fuzz: install
	LEDGER_FUZZ_EXAMPLES=$${LEDGER_FUZZ_EXAMPLES:-300} $(BIN)/pytest -q tests/test_fuzz.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info

# The benchmark (bench/): PostgreSQL from LEDGER_BENCH_DATABASE_URL (or LEDGER_TEST_DATABASE_URL,
# or postgres@127.0.0.1:5432/postgres); wrk from Debian's packages, installed when missing.
WRK := $(shell command -v wrk)

bench: install
	@test -n "$(WRK)" || (command -v apt-get >/dev/null && \
		(apt-get install -y wrk || (apt-get update && apt-get install -y wrk))) || \
		(echo "make bench needs wrk: install it with your package manager"; exit 1)
	$(BIN)/python -m bench $(ARGS)

bench-quick:
	$(MAKE) bench ARGS=--quick

# Not in `make test` nor CI. The soak: 32 clients completing units with Idempotency-Keys at
# saturation, the API SIGKILLed every 40-45 s, PostgreSQL (a private cluster on its own port,
# from initdb) crashed once; fails on any loss or duplicate. SOAK_SECONDS=180 for a shorter try.
SOAK_SECONDS ?= 600
soak: install
	$(BIN)/python -m bench.soak --seconds $(SOAK_SECONDS) $(ARGS)

# Generates and rebuilds SCALE_EVENTS events and the 1 M baseline (SCALE_BASELINE), and says
# whether time is linear and memory flat; SCALE_EVENTS=200000 SCALE_BASELINE=20000 to try it.
SCALE_EVENTS ?= 10000000
SCALE_BASELINE ?= 1000000
bench-scale: install
	$(BIN)/python -m bench.scale --events $(SCALE_EVENTS) --baseline $(SCALE_BASELINE) $(ARGS)
