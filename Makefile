# 编制核查工作台 — the two commands: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= demo

.PHONY: demo test lint dashboard bench templates clean

# (Re)create the virtual environment when missing or when pyproject.toml changed.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/workbench demo --out $(OUT)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

dashboard: $(STAMP)
	$(BIN)/workbench dashboard --workspace $(OUT)/workspace.duckdb

templates: $(STAMP)
	$(BIN)/workbench templates --out templates

bench: $(STAMP)
	$(BIN)/python bench/synth.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/check.py
	$(BIN)/python bench/reports.py
	$(BIN)/python bench/summaries.py
	$(BIN)/python bench/sampling.py
	$(BIN)/python bench/dashboard.py

clean:
	rm -rf $(OUT) reports .pytest_cache
