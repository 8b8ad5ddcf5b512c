# hw-bnn: two commands on a fresh machine.
#   make demo   install, then run the whole flow on the built-in data (TFC-w1a1)
#   make test   install if needed, then run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MODEL  ?= tfc-w1a1
OUT    ?= build/$(MODEL)

.PHONY: install demo test bench bench-cnv bench-fold bench-explore explore clean

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

test: install
	$(PY) -m pytest -q

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
