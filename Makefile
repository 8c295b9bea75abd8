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

# Peer clients with pins our venv cannot share (tritonclient needs protobuf<7): their own venv.
# KServe's SDK installs there without torch.
PEERS := .venv-peers
PEERS_STAMP := $(PEERS)/.installed
PEER_PACKAGES := 'tritonclient[grpc,http]>=2.50,<3' 'kserve>=0.14,<1'

KUBERNETES_VERSION := 1.33.0
# KServe's CRDs and kustomization files have no built-in schema: tests/unit/docker checks them.
K8S_MANIFESTS := $(filter-out %/kustomization.yaml,$(wildcard docker/k8s/*.yaml))

# clients/node's packages (npm); Go's and Java's toolchains for clients/ come from Debian (no Go
# module or Maven downloads): compilers, protoc plugins and the gRPC and protobuf libraries.
NODE_CLIENT := clients/node/node_modules/.package-lock.json
# The playground's browser tests drive Debian's chromium (no browser download).
CHROMIUM := /usr/bin/chromium
# /docs serves Swagger UI from these committed files (no CDN); `make playground-vendor` refreshes them.
SWAGGER_UI_VERSION := 5.35.0
SWAGGER_UI_DIR := runtime/api/http/playground/vendor/swagger-ui
LANGS_DEBIAN := golang-go protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev \
  golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev golang-google-genproto-dev \
  protobuf-compiler default-jdk-headless libprotobuf-java libgrpc-java \
  protobuf-compiler-grpc-java-plugin libgoogle-common-protos-java libgeronimo-annotation-1.3-spec-java \
  libnetty-java libperfmark-java libgoogle-gson-java grpc-proto

.PHONY: install peers serve test check lint protos protos-check buf-lint docker-check examples bench bench-peers-setup \
  bench-peers clean node-client langs-toolchain go-client java-client browser playground-vendor

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $@

install: $(STAMP)

## peers: a separate venv with the peers' own clients (tritonclient, kserve) for the tests
$(PEERS_STAMP): Makefile
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q $(PEER_PACKAGES)
	touch $@

peers: $(PEERS_STAMP)

$(BUF):
	npm install --prefix .tools --no-audit --no-fund --silent @bufbuild/buf@$(BUF_VERSION)

## protos: regenerate modelrt/v1 from protos/ and modelrt/oip from protos-vendor/ (messages,
## gRPC stubs and .pyi types)
protos: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH scripts/gen_protos.sh modelrt/v1 modelrt/oip

## protos-check: fail when the checked-in generated code differs from protos/ or protos-vendor/
protos-check: $(STAMP)
	@tmp=$$(mktemp -d) && PATH=$(CURDIR)/$(BIN):$$PATH \
	  scripts/gen_protos.sh $$tmp/modelrt/v1 $$tmp/modelrt/oip \
	  && diff -r -x __pycache__ $$tmp/modelrt/v1 modelrt/v1 \
	  && diff -r -x __pycache__ $$tmp/modelrt/oip modelrt/oip \
	  || { echo "generated code is stale: run 'make protos' and commit modelrt/"; rm -rf $$tmp; exit 1; }; \
	  rm -rf $$tmp

buf-lint: $(BUF)
	$(BUF) lint

## node-client: install clients/node's packages (@grpc/grpc-js, @grpc/proto-loader) from npm
$(NODE_CLIENT): clients/node/package.json clients/node/package-lock.json
	npm ci --prefix clients/node --no-audit --no-fund --ignore-scripts --silent

node-client: $(NODE_CLIENT)

## langs-toolchain: install Go's and Java's compilers, plugins and libraries from Debian (as root)
langs-toolchain:
	apt-get install -y --no-install-recommends $(LANGS_DEBIAN)

## go-client: buf generate (local plugins) and build clients/go into .tools/bin/modelrt-go-example
go-client: $(BUF)
	BUF=$(CURDIR)/$(BUF) scripts/langs.sh go .tools/bin/modelrt-go-example

## java-client: buf generate the Java code and compile it with clients/java into .tools/java
java-client: $(BUF)
	BUF=$(CURDIR)/$(BUF) scripts/langs.sh java .tools/java

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

## browser: Debian's chromium and chromedriver for the playground's browser tests (apt, as root;
## elsewhere those tests skip, naming this target)
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; \
	else echo "make browser: not root or no apt-get; the browser tests will skip"; fi

browser: $(CHROMIUM)

## playground-vendor: Swagger UI's built files for /docs, from npm, copied into the package (committed)
playground-vendor:
	npm install --prefix .tools --no-save --no-audit --no-fund --silent swagger-ui-dist@$(SWAGGER_UI_VERSION)
	mkdir -p $(SWAGGER_UI_DIR)
	cd .tools/node_modules/swagger-ui-dist && cp swagger-ui-bundle.js swagger-ui.css favicon-32x32.png \
	  LICENSE NOTICE $(CURDIR)/$(SWAGGER_UI_DIR)/
	echo $(SWAGGER_UI_VERSION) > $(SWAGGER_UI_DIR)/VERSION

## test: install, run every static check, then the test suite (the Go and Java tests skip, naming
## `make langs-toolchain`, where Debian's toolchain is not installed)
test: check peers $(NODE_CLIENT) browser
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(PEERS) .venv-bench .tools .mypy_cache .ruff_cache .pytest_cache
