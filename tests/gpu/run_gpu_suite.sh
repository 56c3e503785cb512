#!/usr/bin/env bash
# The whole test suite, and what driver verification costs, on a machine with an NVIDIA GPU.
#
#   bash tests/gpu/run_gpu_suite.sh --download   # here, with internet: wheels into .whl/
#   bash tests/gpu/run_gpu_suite.sh              # there, from the repository root
#   bash tests/gpu/run_gpu_suite.sh tests/cuda/test_gpu.py -k two   # there: other pytest arguments
#
# Wheels the GPU machine may lack, carried in .whl/ (CPython 3.12, manylinux x86_64). Only
# those missing there, or older than this project needs, are installed (into /tmp/site):
#   apache-tvm-ffi==0.1.15.post2      build requirement: dlpack.h 1.3
#   typing_extensions==4.15.0         apache-tvm-ffi needs >= 4.13
#   hatchling==1.33.0                 the build backend, and what it needs:
#   packaging==26.2 pathspec==1.1.1 pluggy==1.6.0 tomlkit==0.15.2 trove-classifiers==2026.9.21.13
#   hypothesis==6.155.2               property tests, and what it needs:
#   sortedcontainers==2.4.0
#   ml_dtypes==0.6.0                  bfloat16 and float8 dtypes in tests
#   beartype==0.23.1 typeguard==4.6.1 jaxtyping==0.3.11 wadler-lindig==0.1.8
#                                     @checked's interop with the checkers people run
#   pydlpack==0.2.1 array-api-strict==2.6.1
#                                     producers of the foreign suites and the survey's reproducers
#
# Writes (into $OUT, or /tmp/optype-dlpack-gpu when OUT is unset):
#   gpu-log.txt     everything printed: machine, versions, build summary, timings, pytest
#   gpu-build.txt   the full build output
#   gpu-timing.txt  tests/gpu/time_verify.py's table
#   gpu-junit.xml   one record per test
# Finishes within DEADLINE seconds (default 510): pytest gets what the steps before it left.
set -uo pipefail

WHEELS=(
  apache-tvm-ffi==0.1.15.post2
  typing_extensions==4.15.0
  hatchling==1.33.0
  packaging==26.2
  pathspec==1.1.1
  pluggy==1.6.0
  tomlkit==0.15.2
  trove-classifiers==2026.9.21.13
  hypothesis==6.155.2
  sortedcontainers==2.4.0
  ml_dtypes==0.6.0
  beartype==0.23.1
  typeguard==4.6.1
  jaxtyping==0.3.11
  wadler-lindig==0.1.8
  pydlpack==0.2.1
  array-api-strict==2.6.1
)

cd "$(dirname "$0")/../.." || exit 1
PY=${PYTHON:-python3}

if [[ "${1:-}" == "--download" ]]; then
  mkdir -p .whl
  exec "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
fi

pytest_args=("$@")
(( ${#pytest_args[@]} )) || pytest_args=(tests)
OUT=${OUT:-/tmp/optype-dlpack-gpu}
DEADLINE=${DEADLINE:-510}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-log.txt") 2>&1
tee_pid=$!
finish() {  # lets tee write its last lines before the command returns
  exec 1>&- 2>&-
  wait "$tee_pid" 2>/dev/null
  exit "$1"
}
export PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX shares the GPU with torch and CuPy in one process
section() { printf '\n=== %s (%ss)\n' "$*" "$SECONDS"; }

section machine
date -u '+%Y-%m-%d %H:%M:%S UTC'
uname -srm
nvidia-smi || echo "nvidia-smi failed"
nvcc --version 2>/dev/null | tail -n 2

section carried wheels
if [[ -d .whl ]]; then
  mapfile -t picked < <("$PY" tests/gpu/pick_wheels.py .whl)
  if (( ${#picked[@]} )); then
    printf 'installing %s\n' "${picked[@]##*/}"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site "${picked[@]}" || finish 1
  fi
else
  echo "no .whl/ folder: using what the machine has"
fi
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}

section build
if ! "$PY" -m pip install --no-build-isolation --no-deps --no-cache-dir -v . >"$OUT/gpu-build.txt" 2>&1; then
  tail -n 60 "$OUT/gpu-build.txt"
  echo "BUILD FAILED"
  finish 1
fi
grep -E "optype_dlpack:|warning:|Successfully installed" "$OUT/gpu-build.txt" | head -n 40

section versions
# -P: never import the source tree (it has no compiled extension); the installed package is under test.
"$PY" -P - <<'EOF'
import importlib.metadata as md
import platform
print("python", platform.python_version(), platform.python_implementation())
for name in ["optype-dlpack", "numpy", "torch", "cupy-cuda13x", "jax", "jaxlib", "jax-cuda13-plugin",
             "numba", "numba-cuda", "cuda-bindings", "ml_dtypes", "pybind11", "pytest", "hypothesis",
             "hatchling", "apache-tvm-ffi", "cmake"]:
    try:
        print(f"  {name:18} {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"  {name:18} (not installed)")
import torch
print("torch cuda", torch.version.cuda, "| devices", torch.cuda.device_count(),
      "|", [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
from optype_dlpack import _core
print("optype_dlpack CUDA driver:", _core.cuda_driver_status())
EOF

section timing
timeout 120 "$PY" -P tests/gpu/time_verify.py | tee "$OUT/gpu-timing.txt"
echo "time_verify exit status: ${PIPESTATUS[0]}"

section pytest
budget=$(( DEADLINE - SECONDS ))
per_test=()
"$PY" -P -c "import pytest_timeout" 2>/dev/null && per_test=(--timeout=240)
echo "budget ${budget}s"
timeout --kill-after=10 "$budget" "$PY" -P -m pytest -p no:cacheprovider -ra --durations=15 \
  --basetemp=/tmp/optype-dlpack-pytest --junitxml="$OUT/gpu-junit.xml" "${per_test[@]}" "${pytest_args[@]}"
status=$?
(( status == 124 )) && echo "PYTEST STOPPED AT THE ${budget}s BUDGET"

section done
echo "pytest exit status: $status"
finish "$status"
