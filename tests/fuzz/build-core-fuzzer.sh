#!/usr/bin/env bash
# Builds the libFuzzer harness over the header-only core (tests/fuzz/core_fuzzer.cpp) with
# AddressSanitizer and UBSan, warnings as errors.
# Usage: tests/fuzz/build-core-fuzzer.sh [OUTPUT]   (default build/fuzz/core_fuzzer)
# Needs clang++ with libFuzzer, cmake, and a Python with apache-tvm-ffi ($PYTHON, default python).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build/fuzz/core_fuzzer}
python=${PYTHON:-python}
mkdir -p "$(dirname "$out")"
gen_dir=$(cd "$(dirname "$out")" && pwd)

# dlpack.h from the build requirement, and the enumerator lists cmake/dlpack.cmake generates
# from it (written to $gen_dir/generated, exactly as the CMake build writes them).
dlpack_include=$("$python" -c "import tvm_ffi.libinfo as l; print(l.find_dlpack_include_path(), end='')")
cmake=$(command -v cmake || "$python" -c "import cmake, os; print(os.path.join(cmake.CMAKE_BIN_DIR, 'cmake'))")
(cd "$gen_dir" && "$cmake" -DPython_EXECUTABLE="$python" -DDLPACK_INCLUDE_DIR="$dlpack_include" \
    -P "$root/cmake/dlpack.cmake" >/dev/null)

"${CXX_FUZZ:-clang++}" -std=c++17 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Wconversion -Wsign-conversion -Wshadow -Werror \
    -I "$root/src_cpp/include" -I "$dlpack_include" -I "$gen_dir/generated" \
    "$root/tests/fuzz/core_fuzzer.cpp" -o "$out"
echo "built $out"
