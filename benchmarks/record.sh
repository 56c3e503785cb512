#!/usr/bin/env bash
# Record the benchmarks of one machine: build and install the package, run every benchmark in
# both libcuda states (benchmarks/run.py --full), write benchmarks/recorded/NAME.json, and render
# benchmarks/BENCHMARKS.md, the plots and (where a CUDA device was measured) the benchmark
# section of docs/gpu-results.md.
#
#   bash benchmarks/record.sh NAME      # from the repository root
#
# Installs into the running Python's environment. Wheels the machine lacks may be carried in
# .whl/ as for tests/gpu/run_gpu_suite.sh (bash tests/gpu/run_gpu_suite.sh --download): they
# go into /tmp/site, which is put on PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: bash benchmarks/record.sh MACHINE-NAME}
PY=${PYTHON:-python3}
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

if [[ -d .whl ]]; then
  mapfile -t picked < <("$PY" tests/gpu/pick_wheels.py .whl)
  if (( ${#picked[@]} )); then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${picked[@]}"
  fi
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
"$PY" -m pip install -q --no-build-isolation --no-deps --no-cache-dir --force-reinstall .
"$PY" benchmarks/run.py --full --machine "$name" --commit "$commit" --out "benchmarks/recorded/$name.json"
