# Two commands do all the setup on a fresh machine: `make up` (install, start everything) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

.PHONY: install up test migrate bench
install: $(STAMP)

up: $(STAMP)
	$(BIN)/kim up

test: $(STAMP)
	$(BIN)/pytest

migrate: $(STAMP)
	$(BIN)/kim migrate

bench: $(STAMP)
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/gateway.py
