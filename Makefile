# The README's two commands: `make bench` (the main job) and `make test`.
# Each creates .venv when it is missing and installs the pinned stack from requirements.txt.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export MPLBACKEND ?= Agg

.PHONY: test bench report lint venv clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

# `make test`: lint, then the test suite (pytest's exit code 5, "no tests collected", fails too).
test: lint
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

# `make bench`: the benchmark matrix on real MNIST, then the README's tables and plots.
# BENCH_PROFILE=smoke|standard|seed (default standard); BENCH_ARGS for extra pytest options.
bench: $(STAMP)
	$(BIN)/python -m mnist_nets data fetch
	$(BIN)/python -m pytest bench --benchmark-autosave $(BENCH_ARGS)
	$(BIN)/python bench/report.py

report: $(STAMP)
	$(BIN)/python bench/report.py

clean-venv:
	rm -rf $(VENV)
