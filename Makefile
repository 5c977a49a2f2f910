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

.PHONY: install up test test-serial migrate bench faults
install: $(STAMP)

up: $(STAMP)
	$(BIN)/kim up

# two pytest sessions side by side (tests/parallel.py); `make test-serial` runs one
test: $(STAMP)
	$(BIN)/python tests/parallel.py

test-serial: $(STAMP)
	$(BIN)/pytest

migrate: $(STAMP)
	$(BIN)/kim migrate

# on SQLite (the embedded default) and on PostgreSQL (as deployed instances run)
bench: $(STAMP)
	KIM_BENCH_DB=sqlite $(BIN)/python bench/intake.py
	KIM_BENCH_DB=sqlite $(BIN)/python bench/gateway.py
	KIM_BENCH_DB=sqlite $(BIN)/python bench/import_persons.py
	KIM_BENCH_DB=postgresql $(BIN)/python bench/intake.py
	KIM_BENCH_DB=postgresql $(BIN)/python bench/gateway.py
	KIM_BENCH_DB=sqlite $(BIN)/python bench/duplicates.py
	KIM_BENCH_DB=postgresql $(BIN)/python bench/duplicates.py
	KIM_BENCH_DB=sqlite $(BIN)/python bench/worklist.py
	KIM_BENCH_DB=postgresql $(BIN)/python bench/worklist.py
	KIM_BENCH_DB=sqlite $(BIN)/python bench/assignment.py
	KIM_BENCH_DB=postgresql $(BIN)/python bench/assignment.py
	KIM_BENCH_DB=postgresql $(BIN)/python bench/import_persons.py
	KIM_BENCH_DB=sqlite $(BIN)/python bench/analytics.py
	KIM_BENCH_DB=postgresql $(BIN)/python bench/analytics.py
	KIM_BENCH_DB=sqlite $(BIN)/python bench/referrals.py
	KIM_BENCH_DB=postgresql $(BIN)/python bench/referrals.py

# the fault suite with its long cases (a 60 s broker outage), and its figures as a table
faults: $(STAMP)
	$(BIN)/python bench/faults.py
