# The two commands of the README: `make serve` and `make test`. Everything installs itself.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-tools serve test lint models ablation

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

## Lint and type-check, then the whole test suite (builds tiny models, starts real servers)
test: $(STAMP) system-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Retrain the embedded default bundle from ../shared/data/bioner (about 75 min on 2 cores)
models: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[train]'
	$(BIN)/python -m models.recipe.train --output build/default-checkpoint --epochs 6 --max-minutes 72
	$(BIN)/python -m models.recipe.publish --checkpoint build/default-checkpoint --output models/default

## Does BC5CDR's disease labelling help the disease head? (2 epochs on NCBI + BC5CDR, with and without)
ablation: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[train]'
	for flag in --bc5cdr-disease --no-bc5cdr-disease; do \
	    $(BIN)/python -m models.recipe.train --output build/ablation$$flag --epochs 2 \
	        --corpora ncbi-disease --corpora bc5cdr $$flag || exit 1; \
	done
