# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DB ?= demo.duckdb
# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build on CPU machines.
TORCH ?= torch==2.13.0

.PHONY: demo test install lint clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/synth run data/samples/ledger --db $(DB) --max-candidates 24 --seed 0

test: install
	$(BIN)/python -m pytest -q

# import-linter reads an installed copy: only there are the top-level folders synth's subpackages.
lint: install
	$(BIN)/ruff check .
	rm -rf .lint && $(BIN)/pip install --quiet --disable-pip-version-check --no-deps \
	  --no-build-isolation --target .lint/site . && rm -rf build *.egg-info
	cd .lint && PYTHONPATH=site ../$(BIN)/lint-imports ../pyproject.toml

clean:
	rm -rf $(VENV) *.egg-info $(DB)
