# One place for every install and check step; CI (.ci/run) calls `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev,onnx,torch,sklearn,tensorflow,clarifai,s3
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf
PROTOS := $(wildcard protos/modelrt/v1/*.proto)
STORE ?= model-store
PORT ?= 50051

KUBERNETES_VERSION := 1.33.0
# KServe's CRDs and kustomization files have no built-in schema: tests/unit/docker checks them.
K8S_MANIFESTS := $(filter-out %/kustomization.yaml,$(wildcard docker/k8s/*.yaml))

.PHONY: install serve test check lint protos protos-check buf-lint docker-check examples bench \
	bench-peers-setup bench-peers clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $@

install: $(STAMP)

$(BUF):
	npm install --prefix .tools --no-audit --no-fund --silent @bufbuild/buf@$(BUF_VERSION)

## protos: regenerate modelrt/v1 from protos/ (messages, gRPC stubs and .pyi types)
protos: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH scripts/gen_protos.sh modelrt/v1

## protos-check: fail when the checked-in generated code differs from protos/
protos-check: $(STAMP)
	@tmp=$$(mktemp -d) && PATH=$(CURDIR)/$(BIN):$$PATH scripts/gen_protos.sh $$tmp/modelrt/v1 \
	  && diff -r -x __pycache__ $$tmp/modelrt/v1 modelrt/v1 \
	  || { echo "generated code is stale: run 'make protos' and commit modelrt/v1"; rm -rf $$tmp; exit 1; }; \
	  rm -rf $$tmp

buf-lint: $(BUF)
	$(BUF) lint

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## docker-check: hadolint the Dockerfiles, validate the manifests offline (no engine, no cluster)
docker-check: $(STAMP)
	$(BIN)/hadolint docker/Dockerfile docker/Dockerfile.gpu
	$(BIN)/kubernetes-validate --strict --quiet -k $(KUBERNETES_VERSION) $(K8S_MANIFESTS)

check: buf-lint protos-check lint docker-check

## examples: build the example bundles' tiny weights (no downloads)
examples: $(STAMP)
	$(BIN)/python examples/build.py

## serve: install, build the examples, copy them into the model store and serve them
serve: examples
	mkdir -p $(STORE)
	for d in examples/*/; do rm -rf $(STORE)/$$(basename $$d); cp -r $$d $(STORE)/; done
	$(BIN)/modelrt serve --model-store $(STORE) --host 127.0.0.1 --port $(PORT)

## bench: throughput and latency against a bare gRPC echo server; updates README.md's table
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --out benchmarks/results.md --readme README.md

## bench-peers-setup: MLServer, TorchServe (and Java 17 from Debian) and matplotlib in .venv-bench/
bench-peers-setup: $(STAMP)
	PYTHON=$(PYTHON) scripts/bench-peers-setup.sh

## bench-peers: the MLP beside MLServer and TorchServe; results-peers.md, plots, README's table
bench-peers: bench-peers-setup
	$(BIN)/python benchmarks/peers.py --out benchmarks/results-peers.md --readme README.md

## test: install, run every static check, then the test suite
test: check
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .venv-bench .tools .mypy_cache .ruff_cache .pytest_cache
