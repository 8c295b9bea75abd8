#!/usr/bin/env bash
# The one GPU check: environment facts, the GPU tests and the GPU benchmark, all written to $OUT.
#
#   bash scripts/gpu-check.sh            # on the GPU machine, from the repo root, $OUT set
#   PYTHON=.venv/bin/python OUT=/tmp/gpuout bash scripts/gpu-check.sh --smoke   # CPU dry run
#
# Wheels in .whl/ (scripts/gpu-wheels.sh) are installed into /tmp/site first; without .whl/ that
# step is skipped. Every step has a hard timeout, and the whole run stays under LIMIT_S seconds
# (7 minutes with margin); a failed step is noted and the next one still runs.
# Files in $OUT: env.txt, gpu-tests.log, gpu-bench.md, gpu-bench.json, gpu-bench.log, server.log.
set -uo pipefail

SMOKE=()
[[ "${1:-}" == "--smoke" ]] && SMOKE=(--smoke)
OUT="${OUT:-/tmp/gpuout}"
PY="${PYTHON:-python3}"
LIMIT_S="${LIMIT_S:-400}"
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
cd "$(dirname "$0")/.." || exit 1

# Seconds for the next step: what it asks for, or what is left of LIMIT_S (at least 5).
cap() {
  local want=$1 left=$((LIMIT_S - SECONDS))
  ((left < want)) && want=$left
  ((want < 5)) && want=5
  echo "$want"
}

step() { echo "== $(date -u +%H:%M:%S) (+${SECONDS}s) $*"; }

# a. the wheelhouse
step "wheels" | tee "$OUT/env.txt"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
  echo "$PY is not Python 3.12, which the wheels are for: wheel step skipped" >>"$OUT/env.txt"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
elif compgen -G ".whl/*.whl" >/dev/null; then
  timeout "$(cap 90)" "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl >>"$OUT/env.txt" 2>&1 \
    || echo "WHEEL INSTALL FAILED (rc $?)" | tee -a "$OUT/env.txt"
  export PYTHONPATH="$PWD:/tmp/site"
else
  echo "no .whl/ folder: wheel step skipped" >>"$OUT/env.txt"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

# b. environment facts
step "environment" | tee -a "$OUT/env.txt"
{
  echo "## date: $(date -u)   nproc: $(nproc)   PYTHONPATH=$PYTHONPATH"
  echo "## nvidia-smi"
  timeout 20 nvidia-smi 2>&1 || echo "nvidia-smi failed or missing (rc $?)"
  echo "## python, packages, torch, onnxruntime"
  timeout "$(cap 60)" "$PY" - <<'EOF' 2>&1 || echo "python probe failed (rc $?)"
import sys
from importlib import metadata

print(sys.executable, sys.version)
for name in ("torch", "torchvision", "onnx", "onnxruntime", "onnxruntime-gpu", "numpy", "grpcio",
             "grpcio-health-checking", "grpcio-reflection", "grpcio-status", "protobuf",
             "googleapis-common-protos", "pydantic", "pydantic-core", "pydantic-settings",
             "nvidia-ml-py", "prometheus-client", "pyyaml", "uvloop", "click", "rich", "pillow",
             "packaging", "pytest", "pytest-timeout", "pytest-xdist", "psutil", "uv"):
    try:
        print(f"  {name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(f"  {name} MISSING")
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "available",
          torch.cuda.is_available(), "devices", torch.cuda.device_count())
    if torch.cuda.is_available():
        print("  device 0:", torch.cuda.get_device_name(0), torch.cuda.mem_get_info(0))
except Exception as exc:
    print("torch failed:", repr(exc))
try:
    import onnxruntime as ort
    print("onnxruntime", ort.__version__, "providers", ort.get_available_providers())
except Exception as exc:
    print("onnxruntime failed:", repr(exc))
EOF
  echo "## discover_gpus()"
  timeout 30 "$PY" -c 'from runtime.placement.devices import discover_gpus; print(discover_gpus())' \
    2>&1 || echo "discover_gpus failed (rc $?)"
  echo "## the server's imports, and where they come from"
  timeout 30 "$PY" -c '
import grpc, google.protobuf, pydantic, pydantic_settings, runtime.cli, runtime.server, clients
print("ok: grpc", grpc.__version__, grpc.__file__)
print("    protobuf", google.protobuf.__version__, google.protobuf.__file__)
print("    pydantic", pydantic.VERSION, pydantic.__file__)' 2>&1 || echo "server imports FAILED (rc $?)"
} >>"$OUT/env.txt" 2>&1

# c. the GPU tests
step "tests/gpu" | tee -a "$OUT/env.txt"
timeout "$(cap 150)" "$PY" -m pytest -p no:cacheprovider tests/gpu -v -rs >"$OUT/gpu-tests.log" 2>&1
echo "pytest rc $? (124 = timed out)" | tee -a "$OUT/gpu-tests.log"

# d. the GPU benchmark (it keeps within its own budget; the timeout is the backstop)
bench_s=$(cap 240)
step "benchmark, ${bench_s}s at most" | tee -a "$OUT/env.txt"
timeout -k 10 "$bench_s" "$PY" benchmarks/gpu.py --out "$OUT" --budget-s $((bench_s - 25)) \
  "${SMOKE[@]}" >"$OUT/gpu-bench.log" 2>&1
echo "benchmark rc $? (124 = timed out)" | tee -a "$OUT/gpu-bench.log"

# e. the server logs (written by the benchmark); say so when there are none
[[ -s "$OUT/server.log" ]] || echo "no server log: the benchmark started no server" >"$OUT/server.log"

step "done" | tee -a "$OUT/env.txt"
echo "---- gpu-tests.log (tail)"
tail -n 25 "$OUT/gpu-tests.log"
echo "---- gpu-bench.md"
cat "$OUT/gpu-bench.md" 2>/dev/null || tail -n 30 "$OUT/gpu-bench.log"
ls -la "$OUT"
