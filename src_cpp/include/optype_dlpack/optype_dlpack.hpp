/// optype_dlpack/optype_dlpack.hpp — every header of the package, for a pybind11 extension.
///
///     #include <optype_dlpack/optype_dlpack.hpp>
///
/// needs only the include directory optype_dlpack.get_include() (which holds dlpack.h v1.3
/// too), pybind11's and Python's. At run time the extension imports optype_dlpack._core,
/// which holds the errors, TensorInfo and the CUDA driver the headers use.
#pragma once

#include "acquire.hpp"
#include "check.hpp"
#include "cuda.hpp"
#include "cuda_api.hpp"
#include "device_truth.hpp"
#include "dlpack.hpp"
#include "element.hpp"
#include "exchange_table.hpp"
#include "expect.hpp"
#include "export.hpp"
#include "import.hpp"
#include "pybind11.hpp"
#include "pybind11_export.hpp"
#include "rules.hpp"
#include "source.hpp"
#include "tables.hpp"
#include "tensor_info.hpp"
