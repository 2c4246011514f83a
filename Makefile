# The two commands of the README. Each one creates (or reuses) the cached
# virtual environment that scripts/ensure_env.py keys by the dependency list.
PYTHON ?= python3
ENSURE_ENV := $(PYTHON) scripts/ensure_env.py

.PHONY: train test lint env tools

## make train: run the main job, `python -m agents.train_maze`, with its defaults (ARGS="..." adds options)
train:
	@venv=$$($(ENSURE_ENV)) && "$$venv/bin/python" -m agents.train_maze $(ARGS)

## make test: lint, type-check nspdi_rl, runtime and envs, then the whole test suite (slow tests included)
test: tools lint
	@venv=$$($(ENSURE_ENV)) && "$$venv/bin/python" -m pytest $(PYTEST_ARGS)

lint:
	@venv=$$($(ENSURE_ENV)) && "$$venv/bin/ruff" check . && "$$venv/bin/ruff" format --check . \
		&& "$$venv/bin/mypy" nspdi_rl runtime envs

## make env: only create the environment and print its path
env:
	@$(ENSURE_ENV)

## make tools: espeak-ng and sox (the keyword-set tests), g++ and ninja (the compiled LIF loop); apt-get as root
tools:
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null \
		&& command -v g++ >/dev/null && command -v ninja >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq --no-install-recommends \
				espeak-ng sox g++ ninja-build >/dev/null; \
		else \
			echo "note: espeak-ng / sox / g++ / ninja missing and not root: the espeak-ng keyword tests are skipped, and the LIF loop runs uncompiled"; \
		fi; }
