# Set-up and everyday commands. Needs only Python 3.11+ on PATH.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= var

.PHONY: venv run demo-data test lint typecheck bench golden screenshots clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Serve the demo on 127.0.0.1 (HTTP 8080, HTTPS 8443, TFTP 6969, FTP 2121)
# until Ctrl-C; prints the URLs and DHCP lines.
run: venv
	@$(MAKE) --no-print-directory demo-data
	@# The demo admin key is created once and kept (owner-only) in the data directory.
	@$(BIN)/provisioner --data-dir $(DATA_DIR) apikey create --name demo --role admin \
		--key-file $(DATA_DIR)/demo-api-key > /dev/null
	@# So is the demo web UI account's password (generated on the first run).
	@$(BIN)/provisioner --data-dir $(DATA_DIR) user create demo --role admin \
		--password-file $(DATA_DIR)/demo-ui-password > /dev/null
	@echo "web UI: http://127.0.0.1:8081/ui/  (login: demo, password: $$(cat $(DATA_DIR)/demo-ui-password))"
	@echo "admin API: http://127.0.0.1:8081/api/v1  (docs: http://127.0.0.1:8081/api/docs)"
	@echo "demo API key: $$(cat $(DATA_DIR)/demo-api-key)"
	@echo "try: curl -H \"X-API-Key: $$(cat $(DATA_DIR)/demo-api-key)\" http://127.0.0.1:8081/api/v1/phones"
	$(BIN)/provisioner --data-dir $(DATA_DIR) serve --bind 127.0.0.1 --print-dhcp

# The demo fleet goes in once, when the database is created: later starts
# serve what the admin made of it. `make clean` starts over. The marker file
# records it for a database that is not in the data directory
# (PROVISIONER_DB_URL naming PostgreSQL).
demo-data:
	@if [ -e $(DATA_DIR)/provisioner.db ] || [ -e $(DATA_DIR)/demo-applied ]; then \
		echo "$(DATA_DIR) holds a database: serving it as it is (the demo fleet is applied on the first start only; make clean starts over)"; \
	else \
		$(BIN)/provisioner --data-dir $(DATA_DIR) init && \
		$(BIN)/provisioner --data-dir $(DATA_DIR) apply examples/demo-fleet.toml && \
		touch $(DATA_DIR)/demo-applied; \
	fi

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: venv
	$(BIN)/python -m bench

# The web UI's pictures in docs/ui/ (docs/ui.md), taken by its browser tests;
# look at them before committing.
screenshots: venv
	PROVISIONER_UI_SCREENSHOTS=$(CURDIR)/docs/ui $(BIN)/pytest -q tests/ui/test_browser.py \
		tests/ui/test_dashboard_filters.py tests/ui/test_tenant_edit.py tests/ui/test_phone_edit.py
	git --no-pager status --short -- docs/ui

# Re-render the golden files from their fleets and show the diff; read it
# before committing (docs/golden-files.md).
golden: venv
	$(BIN)/python -m tests.golden_update
	git --no-pager diff --stat -- tests/golden
	git --no-pager diff -- tests/golden

clean:
	rm -rf $(VENV) $(DATA_DIR) .mypy_cache .pytest_cache .ruff_cache .hypothesis
