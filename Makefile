# hw-bnn: two commands on a fresh machine.
#   make demo   install, then run the whole flow on the built-in data (TFC-w1a1)
#   make test   install if needed, then lint (ruff, the layering contract) and run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MODEL  ?= tfc-w1a1
OUT    ?= build/$(MODEL)

.PHONY: install demo test lint format wheel bench bench-cnv bench-fold bench-explore explore clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip" "setuptools<81" wheel
	# torch first, pinned: the CPU wheel this project is tested with.
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/hw-bnn flow --model $(MODEL) --out $(OUT)

test: install lint
	$(PY) -m pytest -q

# ruff (format and check) and the layering contract of pyproject.toml (import-linter)
lint: install
	$(VENV)/bin/ruff format --check hw_bnn tests benchmarks scripts
	$(VENV)/bin/ruff check hw_bnn tests benchmarks scripts
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format hw_bnn tests benchmarks scripts
	$(VENV)/bin/ruff check --fix hw_bnn tests benchmarks scripts

# a plain wheel (the kernels in hls/ and the recipes in models/ inside) into dist/
wheel: install
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w dist .

bench: install
	$(PY) benchmarks/bench_mlp.py

bench-cnv: install
	$(PY) benchmarks/bench_cnv.py

bench-fold: install
	$(PY) benchmarks/bench_fold.py

bench-explore: install
	$(PY) benchmarks/bench_explore.py

explore: install
	$(VENV)/bin/hw-bnn explore models/sweeps/mnist-fc.yaml --out build/sweep

clean:
	rm -rf build
