# The two set-up commands of the README: `make demo` and `make test`.
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin

.PHONY: env debs lint typecheck pytest test demo screenshot bench clean

# The locked environment: uv is bootstrapped with the system pip when missing.
env:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	uv sync --frozen --quiet

# Debian packages the tests drive for real (installed only when missing, and only as root).
debs:
	@bash scripts/install-debs.sh

lint: env
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: env
	$(BIN)/mypy

pytest: env debs
	$(BIN)/pytest

test: lint typecheck pytest

# `make demo PORT=8080` when 8000 is taken.
PORT ?= 8000

demo: env
	$(BIN)/regionwatch lab --port $(PORT)

# The README's picture of the dashboard, taken from the lab in Debian's chromium.
screenshot: env debs
	$(BIN)/python scripts/screenshot.py --output docs/dashboard.png

# Not part of `make test`: the benchmarks also need Prometheus' blackbox_exporter, wrk and hey.
bench: env
	@bash scripts/install-debs.sh --bench
	$(BIN)/python bench/https_probe.py
	$(BIN)/python bench/dns_round.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/healthz.py
	$(BIN)/python bench/failover.py
	$(BIN)/python bench/lab_vantage_points.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
