# The two commands of README.md. Each creates .venv and installs what it needs.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# The real data sets, when they sit beside the checkout (as in CI); otherwise unset.
KERAS_LM_DATA ?= $(if $(wildcard ../shared/data/README.md),$(abspath ../shared/data),)
export KERAS_LM_DATA
DEMO_OUT ?= runs/demo
# A rerun skips the stages whose inputs and code did not change; `make demo DEMO_FLAGS=--force` redoes all.
DEMO_FLAGS ?= --resume
# `make demo DATA=spa-eng` runs the demo on a real data set of $(KERAS_LM_DATA).
DATA ?= stdlib-sig2text

.PHONY: demo test test-fast lint install clean torchref bench

# The PyTorch reference of ../shared/anchors/torch_ref, for side-by-side benchmarks (CPU build pinned).
.venv-torchref/bin/python:
	$(PYTHON) -m venv .venv-torchref
	.venv-torchref/bin/pip install --quiet 'torch==2.13.0' numpy

torchref: .venv-torchref/bin/python

# Locust for the serving load test (benchmarks/serve_load.py), in its own venv: not a keras_lm dependency.
.venv-locust/bin/locust:
	$(PYTHON) -m venv .venv-locust
	.venv-locust/bin/pip install --quiet 'locust==2.47.0'

.PHONY: loadtest-venv
loadtest-venv: .venv-locust/bin/locust

# The anchor engines of keras_lm/bench/anchors.py (HF transformers eager, optimum ONNX + ORT; CPU torch
# pinned), and onnxruntime-genai and litert-torch when they install: the worker reports a missing one as skipped.
ANCHORS_VENV ?= .venv-anchors
ANCHORS_PINS := 'torch==2.13.0' 'transformers==4.57.6' 'optimum-onnx[onnxruntime]==0.1.0' 'optimum==2.1.0' \
	'onnxruntime==1.32.0' 'onnx==1.23.2' 'h5py==3.16.0' 'numpy==2.4.6'
$(ANCHORS_VENV)/.installed:
	$(PYTHON) -m venv $(ANCHORS_VENV)
	$(ANCHORS_VENV)/bin/pip install --quiet $(ANCHORS_PINS)
	-$(ANCHORS_VENV)/bin/pip install --quiet $(ANCHORS_PINS) 'onnxruntime-genai==0.18.0' 'onnx-ir==1.1.0'
	-$(ANCHORS_VENV)/bin/pip install --quiet $(ANCHORS_PINS) 'litert-torch==0.10.0'
	touch $@

.PHONY: anchors
anchors: $(ANCHORS_VENV)/.installed

# The research benchmarks (benchmarks/, run from this checkout); torch_ref's rows need TORCH_REF.
TORCH_REF ?= $(if $(wildcard ../shared/anchors/torch_ref/train.py),$(abspath ../shared/anchors/torch_ref),)
bench: $(BIN)/.installed torchref
	$(BIN)/keras-lm bench tokenizers tinyshakespeare
	$(BIN)/keras-lm bench train --variant loop.jit_compile=true $(if $(TORCH_REF),--torch-ref $(TORCH_REF))

$(BIN)/.installed: setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/keras-lm demo --out $(DEMO_OUT) --dataset $(DATA) $(DEMO_FLAGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check keras_lm tests benchmarks
	$(BIN)/ruff format --check keras_lm tests benchmarks
	$(BIN)/lint-imports  # the layering contracts of .importlinter

# Two pytest workers (pytest-xdist), each given whole files, so module fixtures are built once;
# TEST_WORKERS=0 runs in one process: 39.5 min there, 23.5 in two workers, on 2 cores.
TEST_WORKERS ?= 2
test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# The edit loop: every test not marked slow (a few minutes on 2 cores).
test-fast: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow"

clean:
	rm -rf $(VENV) runs reports .pytest_cache .ruff_cache *.egg-info
