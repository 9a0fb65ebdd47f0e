# Two commands: `make run` and `make test`. Both create and reuse a virtualenv in .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFORMANCE_STAMP := $(VENV)/.conformance-installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: run test lint docs bench crash clean conformance conformance-dex package layer

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "durable_async needs Python >= 3.11; set PYTHON=python3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/durable-async run examples/everything.py:handler \
		--function pricing-fn=examples/everything.py:pricing \
		--input '{"id": "o-1", "lines": [1, 2, 3]}'

test: $(STAMP) $(CONFORMANCE_STAMP)
	@$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo 'make test: pytest ran no tests; that is a failure.' >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy --strict durable_async

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site

# DBOS and matplotlib only for the benchmarks, so make test never needs them.
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)  # writes docs/benchmarks.md; BENCH_QUICK=1 for a short smoke run
	$(PY) -m benchmarks.run

crash: $(STAMP)
	$(PY) -m benchmarks.crash_campaign

# The AWS conformance suite declares Python >= 3.14 but runs on 3.11: install it past that check.
$(CONFORMANCE_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --ignore-requires-python 'aws-durable-execution-conformance-tests==1.0.0'
	@touch $(CONFORMANCE_STAMP)

conformance: $(CONFORMANCE_STAMP)  # our handlers on durable-async serve; table (a) of docs/conformance.md
	$(PY) -m conformance --target serve

conformance-dex: $(CONFORMANCE_STAMP)  # our handlers on dex-local-runner; table (b)
	$(PY) -m conformance --target dex

# Lambda zips for examples/template.yaml (docs/lambda.md): LAMBDA_ARCH=x86_64|arm64.
LAMBDA_ARCH ?= x86_64
LAMBDA_PYTHON ?= 3.13

package: $(STAMP)  # dist/function-$(LAMBDA_ARCH).zip: examples/approval.py with its dependencies
	$(PY) scripts/lambda_build.py package --arch $(LAMBDA_ARCH) \
		--python-version $(LAMBDA_PYTHON) --handler examples/approval.py

layer: $(STAMP)  # dist/durable-async-layer-$(LAMBDA_ARCH).zip: durable_async under python/
	$(PY) scripts/lambda_build.py layer --arch $(LAMBDA_ARCH) --python-version $(LAMBDA_PYTHON)

clean:
	rm -rf $(VENV) .durable .pytest_cache .mypy_cache .ruff_cache dist
