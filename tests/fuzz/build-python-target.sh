#!/usr/bin/env bash
# Builds the package for the atheris harness: the extension compiled by clang with ASan, UBSan
# and libFuzzer's coverage instrumentation (fuzzer-no-link), so that the fuzzer is guided by
# the C++ code it reaches as well as by Python; and libFuzzer as a shared library.
# Usage: tests/fuzz/build-python-target.sh [OUTPUT]   (default build/fuzz/python)
# OUTPUT/site holds the package; OUTPUT/preload the LD_PRELOAD list run_python_fuzzer.py --build
# uses: libFuzzer first, so that its coverage callbacks win over the ASan runtime's empty ones.
# Needs clang++ with its sanitizer runtimes, and a Python with pybind11, cmake, apache-tvm-ffi.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build/fuzz/python}
python=${PYTHON:-python}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cmake=$(command -v cmake || "$python" -c "import cmake, os; print(os.path.join(cmake.CMAKE_BIN_DIR, 'cmake'))")
runtimes=$(clang++ -print-resource-dir)/lib/linux
arch=$(uname -m)

clang++ -shared -o "$out/libfuzzer_no_main.so" \
    -Wl,--whole-archive "$runtimes/libclang_rt.fuzzer_no_main-$arch.a" -Wl,--no-whole-archive -lpthread -ldl -lm
echo "$out/libfuzzer_no_main.so $runtimes/libclang_rt.asan-$arch.so" > "$out/preload"

"$cmake" -S "$root" -B "$out/cmake" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer -shared-libasan" \
    -DCMAKE_INSTALL_PREFIX="$out/site" -DPython_EXECUTABLE="$(command -v "$python")" \
    -Dpybind11_DIR="$("$python" -c "import pybind11; print(pybind11.get_cmake_dir())")" >/dev/null
"$cmake" --build "$out/cmake" --parallel 2
"$cmake" --install "$out/cmake" >/dev/null
cp "$root"/optype_dlpack/*.py "$root/optype_dlpack/py.typed" "$out/site/optype_dlpack/"
echo "built $out/site/optype_dlpack"
