#!/usr/bin/env bash
# Installs what `make bench-peers` compares modelrt with, each in a venv of its own under
# .venv-bench/ (never the project venv): MLServer 1.7, TorchServe 0.12 (+ Java 17 from Debian)
# and matplotlib for the plots. Safe to run again: a venv that is complete is left alone.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENVS="${BENCH_VENVS:-$ROOT/.venv-bench}"
PYTHON="${PYTHON:-python3}"
PROJECT_PY="${PROJECT_PY:-$ROOT/.venv/bin/python}"
# The peers run the MLP on the onnxruntime (and TorchServe's worker imports the torch) the
# project venv has, so every server computes with the same library versions.
ORT_VERSION="$("$PROJECT_PY" -c 'import onnxruntime; print(onnxruntime.__version__)')"
TORCH_VERSION="$("$PROJECT_PY" -c 'from importlib.metadata import version; print(version("torch"))')"

make_venv() {  # make_venv NAME STAMP-TEXT -> creates $VENVS/NAME unless its stamp matches
    local dir="$VENVS/$1"
    if [[ -f "$dir/.installed" && "$(cat "$dir/.installed")" == "$2" ]]; then
        echo "$dir: up to date"
        return 1
    fi
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/pip" install -q --upgrade pip
}

mark() { echo "$2" > "$VENVS/$1/.installed"; }

install_java() {
    if command -v java >/dev/null 2>&1; then
        java -version 2>&1 | head -1
        return
    fi
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless
    else
        echo "java is missing and apt-get is not available as root: TorchServe will be skipped" >&2
    fi
}

mkdir -p "$VENVS"

# uvloop 0.22 made get_event_loop() raise where no loop runs, which MLServer 1.7's inference
# worker calls at start: with a newer uvloop every worker exits and no model loads.
stamp="mlserver==1.7.1 uvloop<0.22 onnxruntime==$ORT_VERSION"
if make_venv mlserver "$stamp"; then
    "$VENVS/mlserver/bin/pip" install -q 'mlserver==1.7.1' 'uvloop<0.22' "onnxruntime==$ORT_VERSION"
    mark mlserver "$stamp"
fi

install_java
# TorchServe's own wheels go in without their declared dependencies, which are then named one by
# one. Its Python worker imports torch (ts/protocol/otf_message_handler.py): the very torch build
# the project venv has (the CPU wheel pip finds locally), pinned to its version with its local
# tag, so pip installs that wheel or fails; it never fetches a second, CUDA build.
stamp="torchserve==0.12.0 torch-model-archiver==0.12.0 pyyaml torch==$TORCH_VERSION onnxruntime==$ORT_VERSION"
if make_venv torchserve "$stamp"; then
    pip_ts="$VENVS/torchserve/bin/pip"
    "$pip_ts" install -q --no-deps 'torchserve==0.12.0' 'torch-model-archiver==0.12.0'
    # what the wheels declare, plus PyYAML, which the worker imports without declaring it
    "$pip_ts" install -q enum-compat Pillow psutil packaging wheel pyyaml
    "$pip_ts" install -q "torch==$TORCH_VERSION"
    "$pip_ts" install -q "onnxruntime==$ORT_VERSION"
    # the frontend starts this module as the worker: fail here, not in the benchmark
    (cd / && "$VENVS/torchserve/bin/python" -c 'import ts.model_service_worker')
    mark torchserve "$stamp"
fi

stamp="matplotlib"
if make_venv plot "$stamp"; then
    "$VENVS/plot/bin/pip" install -q matplotlib
    mark plot "$stamp"
fi
echo "peer venvs ready under $VENVS"
