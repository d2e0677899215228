# Two commands on a fresh machine with Python 3.11 and make:
#   make dashboard   create .venv, install ablab, serve the dashboard on 127.0.0.1:8501
#   make test        create .venv, install ablab with test extras, run the whole suite
#                    (every claim study at a small size)
#                    (one worker per logical CPU: TEST_WORKERS=logical; TEST_WORKERS=0 for one process)
#   make claims      the fourteen claim studies at full size: `ablab claims` (prints its wall
#                    time), then each verdict asserted as expected or inconclusive
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
TEST_WORKERS ?= logical

.PHONY: dashboard test claims bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[mkl]'
	touch $@

$(VENV)/.installed-test: pyproject.toml $(wildcard examples/*/pyproject.toml examples/*/*/*.py) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,mkl]'
	# the example plugin package proves entry-point discovery end to end
	for pkg in examples/*/; do $(BIN)/python -m pip install --quiet "./$$pkg" || exit 1; done
	touch $@ $(VENV)/.installed

dashboard: $(VENV)/.installed
	$(BIN)/ablab dashboard --port $(PORT)

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check --quiet .
	# one pytest-xdist worker per logical CPU ("auto" counts physical cores: 1 on a 2-vCPU runner);
	# a file's tests stay on one worker, sharing its module fixtures;
	# the longest files first (tests/conftest.py LONGEST_FIRST)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

CLAIMS_STORE := $(CURDIR)/build/claims.sqlite

claims: $(VENV)/.installed-test
	mkdir -p build && rm -f $(CLAIMS_STORE)*
	# exit 1 means "not every claim holds", which two claims are expected not to
	OPENBLAS_NUM_THREADS=1 $(BIN)/ablab claims --store sqlite:///$(CLAIMS_STORE) --workers 2 || [ $$? -eq 1 ]
	ABLAB_CLAIMS_STORE=sqlite:///$(CLAIMS_STORE) OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -m claims tests/test_studies.py

bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet torch==2.13.0
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/engine.py

clean:
	rm -rf $(VENV) build dist *.egg-info
