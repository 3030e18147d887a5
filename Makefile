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

SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed-stamp
FEAST_VENV := .venv-feast
FEAST_STAMP := $(FEAST_VENV)/.installed-stamp
PLAN_INPUTS := $(shell find configs compiler platform_iac schemas components -type f \( -name '*.py' -o -name '*.yaml' \) 2>/dev/null)

.PHONY: help install validate compile plan policies scan deploy test check lint format typecheck schemas codeowners fuzz golden bench bench-kfp lock scan-lock feast feast-lock clean distclean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  ENV=$(ENV) selects the environment (local, dev, prod)"

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint requirements.lock --editable '.[dev,local,training]'
	@touch $(STAMP)

install: $(STAMP) $(FEAST_STAMP) ## create .venv (mlplat, pinned) and .venv-feast (the feature store)

# Feast needs pandas<3 and starlette>=1.0.1, which requirements.lock cannot have: it lives in
# its own virtualenv, which mlplat drives (compiler/features/worker.py runs in it).
$(FEAST_STAMP): requirements-feast.lock
	@test -x $(FEAST_VENV)/bin/python || $(PYTHON) -m venv $(FEAST_VENV)
	$(FEAST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FEAST_VENV)/bin/python -m pip install --quiet --requirement requirements-feast.lock
	@touch $(FEAST_STAMP)

feast: $(FEAST_STAMP) ## create .venv-feast (Feast 0.67, pinned in requirements-feast.lock)

validate: $(STAMP) ## validate the specs of every environment, or of ENV when given (no output written)
	$(MLPLAT) validate $(if $(filter-out file,$(origin ENV)),--env $(ENV))

compile: $(STAMP) ## validate and compile ENV into build/ENV/
	$(MLPLAT) compile --env $(ENV)

plan: $(STAMP) ## plan ENV's cloud resources into build/ENV/ (report.md); BASE=REF|DIR compares with it; ENV=changed: every env the change since BASE reaches (build/report.md)
	$(MLPLAT) plan --env $(ENV) $(if $(BASE),--base $(BASE)) $(PLAN_ARGS)

policies: $(STAMP) ## organisation policies + security baseline of ENV (mlplat check; CHECK_ARGS="--format sarif --out F"; ENV=changed with BASE)
	$(MLPLAT) check --env $(ENV) $(if $(BASE),--base $(BASE)) $(CHECK_ARGS)

$(SCAN_STAMP): requirements-scan.lock
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet --requirement requirements-scan.lock
	@touch $(SCAN_STAMP)

build/$(ENV)/plan.json: $(STAMP) $(PLAN_INPUTS)
	$(MLPLAT) plan --env $(ENV) $(if $(BASE),--base $(BASE))

scan: $(SCAN_STAMP) build/$(ENV)/plan.json ## checkov on build/ENV/manifests (plans ENV first when its inputs changed)
	$(SCAN_VENV)/bin/checkov --config-file .checkov.yaml --directory build/$(ENV)/manifests

deploy: $(STAMP) $(FEAST_STAMP) ## deploy ENV (local: pipelines, registry and endpoints on this machine)
	$(MLPLAT) deploy --env $(ENV)

test: $(STAMP) $(FEAST_STAMP) ## run the test suite
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

bench: $(STAMP) ## scale benchmark: validate/compile/plan at 10, 100, 1000 teams (~15 min)
	$(BIN)/python benchmarks/bench_scale.py $(BENCH_ARGS)

bench-kfp: $(STAMP) ## compile cost per pipeline (dsl build vs kfp compile)
	$(BIN)/python benchmarks/kfp_compile.py --env $(ENV)

lock: ## re-resolve and pin every dependency into requirements.lock
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet '.[dev,local,training]'
	.venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^mlplat' > requirements.lock
	rm -rf .venv-lock

scan-lock: ## re-resolve checkov and pin it into requirements-scan.lock
	rm -rf .venv-scan-lock && $(PYTHON) -m venv .venv-scan-lock
	.venv-scan-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-scan-lock/bin/python -m pip install --quiet checkov
	{ sed -n '1,2p' requirements-scan.lock; .venv-scan-lock/bin/python -m pip freeze; } > requirements-scan.lock.new
	mv requirements-scan.lock.new requirements-scan.lock && rm -rf .venv-scan-lock

feast-lock: ## re-resolve Feast and pin it into requirements-feast.lock
	rm -rf .venv-feast-lock && $(PYTHON) -m venv .venv-feast-lock
	.venv-feast-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-feast-lock/bin/python -m pip install --quiet feast==0.67.0
	{ sed -n '1,2p' requirements-feast.lock; .venv-feast-lock/bin/python -m pip freeze; } > requirements-feast.lock.new
	mv requirements-feast.lock.new requirements-feast.lock && rm -rf .venv-feast-lock

clean: ## remove build outputs and caches (keeps .venv and local state)
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

distclean: clean ## also remove .venv, .venv-scan and .venv-feast
	rm -rf $(VENV) $(SCAN_VENV) $(FEAST_VENV)
