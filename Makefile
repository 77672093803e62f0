# Two entry points a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck unit install services clean

# -qq: pip's errors only; the machine's own pip configuration may add warnings by the page.
PIP := $(BIN)/pip --disable-pip-version-check -qq

$(BIN)/confirmhub: pyproject.toml
	@echo "make: installing confirmhub and its test tools into $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip
	@$(PIP) install -e '.[dev]'
	@touch $@

install: $(BIN)/confirmhub

## run: install, then serve receiver and worker on the embedded default (SQLite + local RabbitMQ)
run: install
	scripts/ensure-services rabbitmq
	$(BIN)/confirmhub run

services:
	scripts/ensure-services

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The suite in two parts: most tests on $(TEST_PROCESSES) processes (each with its own vhost and
# database), then the tests marked serial — timed, or breaking servers — alone.
TEST_PROCESSES ?= 2

unit: install services
	$(BIN)/pytest -n $(TEST_PROCESSES) -m "not serial" --whole-suite
	$(BIN)/pytest -m serial

## test: install, make sure RabbitMQ and PostgreSQL are up, then lint, type-check and test
test: lint typecheck unit

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
