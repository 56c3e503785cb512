/// optype_dlpack/exchange_table.hpp — picks the table to use from a producer's DLPack C
/// exchange API (dlpack.h's DLPackExchangeAPI, DLPack 1.3; python_spec.rst of dmlc/dlpack).
///
/// A producer publishes the address of its newest table; each table's header links to the
/// previous version's through `prev_api`. Both the address and the links come from the
/// producer, so they are checked before they are followed: an address that cannot hold a
/// table is refused, and the walk stops after kMaxExchangeChain links, so a cyclic or
/// runaway chain ends instead of hanging.
///
/// Pure C++ (no Python.h), so that fuzz harnesses and other non-Python code can include it.
#pragma once

#include "dlpack.hpp"

#include <cstddef>
#include <cstdint>

namespace optype_dlpack {

/// The most prev_api links followed from the published table. DLPack has one table per
/// minor version since 1.3; 16 leaves ample room and bounds a cyclic chain.
inline constexpr int kMaxExchangeChain = 16;

static_assert(offsetof(DLPackExchangeAPI, header) == 0, "a table starts with its header");

/// Whether an integer can be a table address: not NULL, not in the first page (< 4096, where
/// small integers such as 16 or 1 would land, and which no allocator hands out), and aligned
/// to alignof(DLPackExchangeAPI). Anything else would be dereferenced into a crash.
inline bool plausible_table_address(std::uintptr_t address) noexcept {
    constexpr std::uintptr_t first_page = 4096;
    return address >= first_page && address % alignof(DLPackExchangeAPI) == 0;
}

/// The newest table of major DLPACK_MAJOR_VERSION reached from `api` in at most
/// kMaxExchangeChain links; nullptr if none (an implausible address, a cycle or a chain
/// too long included). `api` itself and every prev_api pointer are checked with
/// plausible_table_address before they are read.
inline const DLPackExchangeAPI* usable_table(const DLPackExchangeAPI* api) noexcept {
    if (api == nullptr || !plausible_table_address(reinterpret_cast<std::uintptr_t>(api))) return nullptr;
    const DLPackExchangeAPIHeader* header = &api->header;
    for (int links = 0;; ++links) {
        // The header is the table's first member: a header of the right major is its table.
        if (header->version.major == DLPACK_MAJOR_VERSION) return reinterpret_cast<const DLPackExchangeAPI*>(header);
        const DLPackExchangeAPIHeader* previous = header->prev_api;
        if (previous == nullptr || links == kMaxExchangeChain) return nullptr;
        if (!plausible_table_address(reinterpret_cast<std::uintptr_t>(previous))) return nullptr;
        header = previous;
    }
}

}  // namespace optype_dlpack
