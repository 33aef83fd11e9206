# Two commands for a fresh machine: `make train` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
KIMG   ?= 30
RUN    ?= runs/quickstart
# The optional extras the test suite covers (CI installs them all).
EXTRAS ?= dev,hf,hub,onnx,metrics

.PHONY: install train test test-fast lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $@

install: $(BIN)/.installed

## Train the default preset (mnist-dcgan) for $(KIMG) kimg; re-running continues the same run.
train: install
	$(BIN)/ganscale train --preset mnist-dcgan --run-dir $(RUN) train.max_kimg=$(KIMG) train.resume=auto
	@echo "samples:     $(RUN)/samples/ (newest: $$(ls $(RUN)/samples | tail -1))"
	@echo "checkpoints: $(RUN)/checkpoints/"

## The whole suite: unit tests, CLI end-to-end runs, 2-process runs and SLURM tests.
test: install
	$(BIN)/python -m pytest -q -ra

## Unit tests only (seconds).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
