# The course's commands. Everything runs from .venv/, made by `make setup`.
#   make demo   set up if needed, then run the main job
#   make test   set up if needed, then run every test
#   make lab    open JupyterLab on the release notebooks
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
PEERS := $(VENV)/peers
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo test test-fast lab check grade bench gpu-check release clean

setup: $(STAMP)

# Idempotent: re-runs only when the dependency lists change. torch is installed first and pinned,
# so that no later requirement can pull the registry's CUDA build. rfc3987-syntax (jupyter-events
# asks for jsonschema[format-nongpl]) is removed again: it builds about 35 Lark parsers when
# jsonschema is imported, 0.75 s of CPU in every process that reads a notebook (nbformat), for an
# "iri" string format that no Jupyter or nbgrader schema uses; without it jsonschema simply does
# not check that format (jsonschema issue #1428).
$(STAMP): pyproject.toml requirements-peers.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[test]" "torch==2.13.0" --config-settings editable_mode=compat
	rm -rf $(PEERS) && $(PY) -m pip install -q --no-deps --target $(PEERS) -r requirements-peers.txt
	$(PY) -m pip uninstall -q -y rfc3987-syntax
	$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	@touch $(STAMP)

demo: setup
	$(PY) -m autograder demo

# Every test, spread over TEST_JOBS processes (tests that share a class graded once stay on one;
# tests/conftest.py). make test-fast: the edit-run loop (reference, judge on one seed, parity,
# doctests, one kernel smoke test).
TEST_JOBS ?= 3
FAST_TESTS := tests/test_scse_ref.py tests/test_oracles.py tests/test_parity.py \
	tests/test_layout.py tests/test_exercises_lesson0*.py tests/test_mutation.py \
	tests/test_sandbox.py::test_the_kernel_runs_unprivileged scse_ref autograder coursekit
test: setup
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadgroup

test-fast: setup
	COURSE_TEST_SEEDS=1 $(PY) -m pytest -n 2 --dist loadgroup -q $(FAST_TESTS)

# The course's lab settings (jupyter/lab-settings): no "Jupyter news" pop-up, no update check.
lab: setup
	$(VENV)/bin/jupyter lab --LabApp.app_settings_dir=$(CURDIR)/jupyter/lab-settings notebooks/

# A self-learner's verdict on one notebook: make check NB=notebooks/02_channel_se/02_channel_se.ipynb
check: setup
	$(PY) -m autograder check $(NB)

grade: setup
	$(PY) -m autograder grade $(ARGS)

bench: setup
	$(PY) bench/bench_scse.py

# The GPU kit in its quick mode (no CUDA needed): bench/results/gpu-check/gpu_check.{json,md}.
# On the GPU machine: PYTHONPATH=. python3 bench/gpu_check.py --out "$$OUT" (bench/README.md).
gpu-check: setup
	$(PY) bench/gpu_check.py --quick --out bench/results/gpu-check

# Regenerate notebooks/ from solutions/ with nbgrader (the release is committed; a test checks it).
release: setup
	$(PY) -m autograder release

clean:
	rm -rf $(VENV) .pytest_cache
