# Set-up and everyday commands. Needs only Python 3.11+ on PATH.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= var

.PHONY: venv run test lint typecheck bench golden clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Until the serving issue lands: apply the demo fleet and render the tree
# phones would fetch into $(DATA_DIR)/tftproot.
run: venv
	$(BIN)/provisioner --data-dir $(DATA_DIR) init
	$(BIN)/provisioner --data-dir $(DATA_DIR) apply examples/demo-fleet.toml
	$(BIN)/provisioner --data-dir $(DATA_DIR) render --out $(DATA_DIR)/tftproot
	@find $(DATA_DIR)/tftproot -type f -printf '  %P\n' | sort

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: venv
	$(BIN)/python -m bench

# Re-render the golden files from their fleets and show the diff; read it
# before committing (docs/golden-files.md).
golden: venv
	$(BIN)/python -m tests.golden_update
	git --no-pager diff --stat -- tests/golden
	git --no-pager diff -- tests/golden

clean:
	rm -rf $(VENV) $(DATA_DIR) .mypy_cache .pytest_cache .ruff_cache .hypothesis
