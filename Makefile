# The daily commands. `make run` runs the whole system; `make test` runs every check.
# Both set everything up on a fresh machine (a virtual environment in .venv).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint fmt clean install

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## run: the whole system (embedded NATS + PostgreSQL, every service, the gateway); Ctrl-C stops
run: $(STAMP)
	$(VENV)/bin/flowers up

## test: lint, then every test (unit, integration against real servers, end to end), in two
## workers (pytest-xdist; the tests that run services as processes share one, one at a time).
## pytest's exit code passes through: 5 (no test collected) fails the target too.
PYTEST_WORKERS ?= 2
test: $(STAMP)
	$(MAKE) --no-print-directory lint
	bash deploy/ensure-browser.sh
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

## test-fast: every test that needs no server (tests/conftest.py marks the others "integration")
test-fast: $(STAMP)
	$(PY) -m pytest -m "not integration" -q

## lint: ruff (check and format), mypy, import-linter contracts; the deployment files parsed
## by their validators (hadolint, the compose-spec schema, the Kubernetes schemas: offline)
K8S_MANIFESTS := $(filter-out deploy/kubernetes/kustomization.yaml,$(wildcard deploy/kubernetes/*.yaml))
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared services deploy tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint --failure-threshold warning Dockerfile
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec deploy/compose/compose.yaml
	$(VENV)/bin/kubernetes-validate --strict --quiet $(K8S_MANIFESTS)

## docs: each service's AsyncAPI document (docs/asyncapi/) and the gateway's OpenAPI (docs/openapi/)
.PHONY: docs
docs: $(STAMP)
	$(PY) -m deploy.apidocs docs

## bench: throughput/latency table beside the eventsourcing library (a benchmark, not a test;
## installs eventsourcing into the venv for it if missing). `make bench BENCH_ARGS=--quick`
.PHONY: bench
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf .data .mypy_cache .ruff_cache .pytest_cache
