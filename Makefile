# The two commands of the README. Each one creates (or reuses) the cached
# virtual environment that scripts/ensure_env.py keys by the dependency list.
PYTHON ?= python3
ENSURE_ENV := $(PYTHON) scripts/ensure_env.py

.PHONY: train test lint env

## make train: run the main job, `python -m agents.train_maze`, with its defaults (ARGS="..." adds options)
train:
	@venv=$$($(ENSURE_ENV)) && "$$venv/bin/python" -m agents.train_maze $(ARGS)

## make test: lint, type-check the core package, then the whole test suite (slow tests included)
test: lint
	@venv=$$($(ENSURE_ENV)) && "$$venv/bin/python" -m pytest $(PYTEST_ARGS)

lint:
	@venv=$$($(ENSURE_ENV)) && "$$venv/bin/ruff" check . && "$$venv/bin/ruff" format --check . \
		&& "$$venv/bin/mypy" nspdi_rl

## make env: only create the environment and print its path
env:
	@$(ENSURE_ENV)
