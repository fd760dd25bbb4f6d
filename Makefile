# nanogate: `make demo` runs the main job, `make test` runs everything CI runs.
# Both set up from nothing on Debian: system tools via apt, Python packages in .venv.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_WORKERS ?= auto

.PHONY: all demo test lint typecheck generate check-generated bench system-deps venv clean

all: test

# --- set-up -----------------------------------------------------------------
system-deps:
	@command -v iverilog >/dev/null && command -v g++ >/dev/null || { \
		echo "installing iverilog and g++ (apt)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq iverilog g++; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { echo "installing python3-venv (apt)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv python3-dev; }

# The CPU analytics kernels are compiled at install time: reinstall when they change.
$(STAMP): pyproject.toml setup.py $(wildcard gpu/kernels/*) | system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(STAMP)

# --- the main job -----------------------------------------------------------
DEMO_REPORT ?= build/demo-report
DEMO_SECONDS ?= 15

demo: $(STAMP)
	rm -rf $(DEMO_REPORT)
	$(VENV)/bin/nanogate demo --duration $(DEMO_SECONDS) --report $(DEMO_REPORT)
	@echo
	@echo "make demo: done; the report is in $(DEMO_REPORT)/ (summary.json and the PNG charts above)"

# --- checks -----------------------------------------------------------------
test: $(STAMP) system-deps lint typecheck
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# mypy reads files, not import hooks: give it the package tree pyproject.toml maps,
# as links (rebuilt each run, so new modules are seen).
TYPECHECK_TREE := build/typecheck/nanogate

typecheck: $(STAMP)
	@rm -rf $(TYPECHECK_TREE) && mkdir -p $(TYPECHECK_TREE)
	@for d in proto hw gateway control sim gpu; do ln -s ../../../$$d $(TYPECHECK_TREE)/$$d; done
	@for f in nanogate/*.py nanogate/py.typed; do ln -s ../../../$$f $(TYPECHECK_TREE)/; done
	$(VENV)/bin/mypy -p nanogate

# One command writes every generated file; tests/test_generated.py fails when one is stale.
generate: $(STAMP)
	$(PY) -m nanogate.codegen

bench: $(STAMP)
	$(PY) benchmarks/bench_decode.py
	$(PY) benchmarks/bench_analytics.py
	$(PY) benchmarks/bench_gateway.py
	$(PY) benchmarks/bench_control.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache sim_build
