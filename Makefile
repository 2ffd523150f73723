# One entry point for people and CI. Every target sets up the virtual environment it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: demo test lint samples bench bench-ledger fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## demo: run the collector's whole job on samples/ (`nianbao demo`, see scripts/demo.sh)
demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

## test: lint, then the whole test suite (LibreOffice required; see README)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

## samples: rebuild samples/ with LibreOffice (committed; run after a template change)
samples: $(STAMP)
	$(BIN)/python scripts/make_samples.py

## bench: benchmarks against baselines measured in the same run (not tests); reading one
## file first, on returns whose figures all differ (the headline), then a province
bench: $(STAMP)
	$(BIN)/python benchmarks/read_bench.py
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/portal_bench.py

## bench-ledger: the ledger on PostgreSQL beside SQLite (needs Debian's postgresql package)
bench-ledger: $(STAMP)
	$(BIN)/python benchmarks/ledger_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist demo-workspace

## fuzz: the hostile-input fuzz suite with a bigger budget than CI's (NIANBAO_FUZZ_EXAMPLES)
fuzz: $(STAMP)
	NIANBAO_FUZZ_EXAMPLES=$${NIANBAO_FUZZ_EXAMPLES:-400} $(BIN)/python -m pytest tests/test_fuzz.py -n 2
