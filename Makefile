# The README's two commands: `make bench` (the main job) and `make test`.
# Each creates .venv when it is missing and installs the pinned stack from requirements.txt.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export MPLBACKEND ?= Agg

.PHONY: test bench report lint venv clean-venv mutation docs-render bugs chromium

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
test: lint chromium
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

# The browser test (tests/test_serve_browser.py) drives Debian's Chromium through Playwright,
# which cannot download its own browser here: installed with apt when it is missing and make
# runs as root; otherwise the test fails, naming the package to install.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x "$(CHROMIUM)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# `make bench`: the benchmark matrix on real MNIST, then README.md, docs/ and the plots.
# BENCH_PROFILE=smoke|standard|seed|fashion (default standard; fashion: the standard matrix on
# Fashion-MNIST, its own run); BENCH_ROUNDS=N interleaved rounds
# (seeds; default 3 for standard and fashion, 1 for smoke and seed; or MNIST_NETS_BENCH_ROUNDS);
# BENCH_ARGS for extra pytest options (e.g. BENCH_ARGS="--models cnn --frameworks torch");
# REPORT_ARGS for the report.  The histories go to bench/results/ (nothing is committed:
# review and commit them yourself).  The report runs even when a cell fails (the cells
# that ran are stored), and make still fails with pytest's exit status.
bench: $(STAMP)
	$(BIN)/python -m mnist_nets data fetch $(if $(filter fashion,$(BENCH_PROFILE)),--dataset fashion-mnist)
	$(BIN)/python -m pytest bench --benchmark-autosave \
	    $(if $(BENCH_PROFILE),--bench-profile $(BENCH_PROFILE)) \
	    $(if $(BENCH_ROUNDS),--rounds $(BENCH_ROUNDS)) $(BENCH_ARGS); \
	status=$$?; $(BIN)/python bench/report.py $(REPORT_ARGS) && exit $$status

# `make report`: README.md, docs/ and assets/ from the stored histories, no measuring.
report: $(STAMP)
	$(BIN)/python bench/report.py $(REPORT_ARGS)

# `make mutation` (not part of `make test` or CI): mutmut over the core modules named in
# pyproject.toml's [tool.mutmut], each mutant run against the tests that call the mutated
# function; then the per-module scores and the survivors (see tests/MUTATION.md).
# MUTATION_JOBS parallel workers (default 2), niced; MUTANTS selects mutants by name, e.g.
# MUTANTS='mnist_nets.specs*'.  Results are kept in mutants/ and reused while the code and tests
# are unchanged; `rm -rf mutants` starts afresh.  `mutmut show NAME` prints one mutant's diff.
MUTATION_JOBS ?= 2
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	CI=1 nice -n 15 $(BIN)/python -m mutmut run --max-children $(MUTATION_JOBS) $(MUTANTS)
	$(BIN)/python tests/mutation_scores.py

# `make docs-render` (not part of `make test`: it needs Chromium): README.md and docs/*.md
# rendered to HTML and screenshotted by headless Chromium into a temporary folder, listing
# what a reader would trip on (tables and code too wide, images that do not load, broken
# anchors); RENDER_ARGS for docs/render.py's options (e.g. RENDER_ARGS="docs/cli.md").
docs-render: $(STAMP)
	$(BIN)/python docs/render.py $(RENDER_ARGS)

# `make bugs` (not part of `make test` or CI): the realistic-bug audit.  Each hand-written bug
# of tests/bugs/patches.py is planted alone in a temporary copy of the repository (HOME and
# the data cache copied into it) and the tests run against it, niced, the subject's files
# first; results in tests/bugs/RESULTS.md.  BUGS names some bugs (default all; `--list`
# lists them), BUGS_JOBS bugs run side by side (default 2), BUGS_ARGS e.g. --resume.
BUGS_JOBS ?= 2
bugs: $(STAMP)
	$(BIN)/python tests/bugs/run.py --jobs $(BUGS_JOBS) $(BUGS_ARGS) $(BUGS)

clean-venv:
	rm -rf $(VENV)
