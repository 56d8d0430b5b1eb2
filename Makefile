# The two commands of the README. Each creates .venv and installs what it needs.
#   make run    runs the default scenario (scenarios/baseline.yaml)
#   make test   runs the test suite (installs Chromium for the browser test when root)
#   make dashboard  serves the dashboard on http://127.0.0.1:8765/
#   make evidence   runs the published designs of experiments/evidence/, writes docs/evidence.md
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/baseline.yaml
ARGS ?=

.PHONY: run test lint bench figures evidence clean dashboard browser

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "secsim needs Python 3.12 or newer (found " + sys.version.split()[0] + "); with pyenv, the .python-version file selects 3.12")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/secsim run $(SCENARIO) $(ARGS)

test: $(STAMP) browser
	$(BIN)/python -m pytest $(ARGS)

# The dashboard's browser test drives the distribution's Chromium (never `playwright install`,
# which downloads browsers). As root with apt, install it when missing; otherwise say how.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			chromium fonts-dejavu-core; \
	else \
		echo "The dashboard's browser test needs Chromium; install it with:"; \
		echo "  sudo apt-get install --no-install-recommends chromium fonts-dejavu-core"; \
		echo "(without it the test is skipped, except in CI where it fails)"; \
	fi

dashboard: $(STAMP)
	$(BIN)/secsim dashboard $(SCENARIO) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check simulator tests benchmarks
	$(BIN)/ruff format --check simulator tests benchmarks
	$(BIN)/mypy simulator

# The published figures (the experiments' own horizons and replicates) into figures/;
# `secsim figures` alone is a quick preview into results/figures-quick/.
figures: $(STAMP)
	$(BIN)/secsim figures --full $(ARGS)

# Full mode: every experiment's own replicates and year-long runs (150 runs); finished runs
# in results/evidence/ are reused. ARGS="--check" exits 1 when a target is out of range.
evidence: $(STAMP)
	$(BIN)/secsim evidence --full $(ARGS)

# Without ARGS: side by side with f5ca564, scaling to 1.5 million residents, 2-worker batch.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_run.py $(if $(ARGS),$(ARGS),--all)

clean:
	rm -rf $(VENV) results .pytest_cache .mypy_cache .ruff_cache
