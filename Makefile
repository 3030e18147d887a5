# mlplat — every target a person or CI runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ENV ?= local
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
MLPLAT := $(BIN)/mlplat
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help install validate compile plan deploy test check lint format typecheck schemas codeowners fuzz golden bench-kfp lock clean distclean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  ENV=$(ENV) selects the environment (local, dev, prod)"

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint requirements.lock --editable '.[dev,local]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install mlplat with its pinned dependencies

validate: $(STAMP) ## validate the specs of ENV (no output written)
	$(MLPLAT) validate --env $(ENV)

compile: $(STAMP) ## validate and compile ENV into build/ENV/
	$(MLPLAT) compile --env $(ENV)

plan: $(STAMP) ## plan ENV's cloud resources into build/ENV/ (report.md); BASE=REF|DIR compares with it
	$(MLPLAT) plan --env $(ENV) $(if $(BASE),--base $(BASE)) $(PLAN_ARGS)

deploy: $(STAMP) ## deploy ENV (local: pipelines, registry and endpoints on this machine)
	$(MLPLAT) deploy --env $(ENV)

test: $(STAMP) ## run the test suite
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy
	$(BIN)/mypy

check: lint typecheck test ## lint, typecheck and test (what CI runs)

schemas: $(STAMP) ## regenerate the committed JSON Schema in schemas/json/
	$(BIN)/python -m schemas.export

codeowners: $(STAMP) ## regenerate .github/CODEOWNERS from the team specs
	$(MLPLAT) codeowners

fuzz: $(STAMP) ## long fuzz run of the config loader (FUZZ_EXAMPLES cases, default 2000)
	MLPLAT_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-2000} $(BIN)/pytest -q -s -p no:cacheprovider tests/fuzz

golden: $(STAMP) ## regenerate golden files under tests/golden/ (review the diff)
	MLPLAT_UPDATE_GOLDEN=1 $(BIN)/pytest -q -m golden tests

bench-kfp: $(STAMP) ## compile cost per pipeline (dsl build vs kfp compile)
	$(BIN)/python benchmarks/kfp_compile.py --env $(ENV)

lock: ## re-resolve and pin every dependency into requirements.lock
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet '.[dev,local]'
	.venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^mlplat' > requirements.lock
	rm -rf .venv-lock

clean: ## remove build outputs and caches (keeps .venv and local state)
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

distclean: clean ## also remove .venv
	rm -rf $(VENV)
