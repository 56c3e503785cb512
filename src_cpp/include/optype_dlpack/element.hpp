/// optype_dlpack/element.hpp — C++ element types and their DLPack dtypes.
#pragma once

#include "tables.hpp"

#include <cstdint>
#include <type_traits>

namespace optype_dlpack {

// C++ has no portable spelling for some DLPack types: these tags name them.

/// bfloat16 (DLPack kDLBfloat, 16 bits): an element type for dtype<>, tensor<> and view<>.
struct bfloat16 {
    std::uint16_t bits;
};
/// IEEE half precision (kDLFloat, 16 bits).
struct float16 {
    std::uint16_t bits;
};

/// The DLPack dtype of the C++ element type T: dtype_of<T>() (bool, integers, float, double,
/// std::complex) and the tags above.
template <class T>
constexpr DLDataType element_dtype() noexcept {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<U, bfloat16>) {
        return DLDataType{kDLBfloat, 16, 1};
    } else if constexpr (std::is_same_v<U, float16>) {
        return DLDataType{kDLFloat, 16, 1};
    } else {
        return dtype_of<U>();
    }
}

}  // namespace optype_dlpack
