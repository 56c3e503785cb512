/// tests/fuzz/core_fuzzer.cpp — libFuzzer harness over the header-only C++ core: the structural
/// rules and geometry (check.hpp), the declared constraints (expect.hpp), the dtype and device
/// names (tables.hpp) and the exchange-API chain walk (exchange_table.hpp, when present).
///
/// The input is read front to back in fixed-size little-endian fields, zeros past its end;
/// make_corpus.py writes the seeds in the same layout (see its `tensor()` for the order).
///
/// Every pointer the harness hands the core is NULL or points into a block the harness
/// allocated with exactly the size the tensor declares, so AddressSanitizer reports any read
/// past it. ndim above kMaxNdim gets an array of kMaxNdim + 1 extents: the core must reject
/// such a tensor before it reads a single one. `data` is the one exception: the core never
/// dereferences it (a device pointer is an opaque number), so the input may name any address.
#include "optype_dlpack/check.hpp"
#include "optype_dlpack/expect.hpp"
#include "optype_dlpack/tables.hpp"

#if __has_include("optype_dlpack/exchange_table.hpp")
#include "optype_dlpack/exchange_table.hpp"
#define OPTYPE_DLPACK_FUZZ_EXCHANGE_TABLE 1
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace od = optype_dlpack;

namespace {

using i128 = __int128;

/// An invariant of the core that must hold for every input; a broken one is a finding.
void require(bool holds, const char* invariant) {
    if (holds) return;
    std::fprintf(stderr, "core_fuzzer: invariant broken: %s\n", invariant);
    std::abort();
}

/// Reads the fuzz input front to back; past its end every field reads as zero.
class Reader {
public:
    Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    template <class T>
    T take() noexcept {
        unsigned char bytes[sizeof(T)] = {};
        for (auto& byte : bytes) byte = pos_ < size_ ? data_[pos_++] : 0;
        T value;
        std::memcpy(&value, bytes, sizeof value);
        return value;
    }

    std::string_view rest() const noexcept { return {reinterpret_cast<const char*>(data_) + pos_, size_ - pos_}; }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

/// A heap block of exactly `size` bytes: ASan's redzone starts right after it.
using Block = std::unique_ptr<unsigned char[]>;

Block block_of(const void* bytes, std::size_t size) {
    Block block(new unsigned char[size]);
    std::memcpy(block.get(), bytes, size);
    return block;
}

/// One fuzzed managed tensor and everything it points into.
struct Fixture {
    Block managed;                          // the DLManagedTensor(Versioned), exactly its size
    std::unique_ptr<std::int64_t[]> shape;  // exactly the extents the tensor declares
    std::unique_ptr<std::int64_t[]> strides;
    Block data;  // one byte, when `data` points into the harness
    od::ManagedView view;
};

constexpr std::size_t kMaxArray = static_cast<std::size_t>(od::kMaxNdim) + 1;

std::unique_ptr<std::int64_t[]> read_extents(Reader& in, std::size_t count) {
    std::unique_ptr<std::int64_t[]> out(new std::int64_t[count]);
    for (std::size_t i = 0; i < count; ++i) out[i] = in.take<std::int64_t>();
    return out;
}

/// Builds the tensor from the input, then reads it the way read_dlpack_capsule (source.hpp)
/// reads a capsule: the capsule name, not the memory, decides the layout. Returns false for
/// the one input no reader can tell apart from a valid tensor (see below).
bool build(Reader& in, Fixture& f) {
    const auto layout = in.take<std::uint8_t>();    // bit 0: versioned memory; bit 1: read as versioned
    const auto pointers = in.take<std::uint8_t>();  // 2 bits each: shape, strides, data; 0: NULL
                                                    // (data 1: a harness byte; 2, 3: `address`)
    DLManagedTensorVersioned m{};
    m.version.major = in.take<std::uint32_t>();
    m.version.minor = in.take<std::uint32_t>();
    m.flags = in.take<std::uint64_t>();
    DLTensor& t = m.dl_tensor;
    t.device.device_type = static_cast<DLDeviceType>(in.take<std::int32_t>());
    t.device.device_id = in.take<std::int32_t>();
    t.dtype.code = in.take<std::uint8_t>();
    t.dtype.bits = in.take<std::uint8_t>();
    t.dtype.lanes = in.take<std::uint16_t>();
    t.ndim = in.take<std::int32_t>();
    t.byte_offset = in.take<std::uint64_t>();
    const auto address = in.take<std::uint64_t>();

    const std::size_t count = std::min(static_cast<std::size_t>(std::max(t.ndim, 0)), kMaxArray);
    if ((pointers & 3) != 0) f.shape = read_extents(in, count);
    if ((pointers >> 2 & 3) != 0) f.strides = read_extents(in, count);
    t.shape = f.shape.get();
    t.strides = f.strides.get();
    switch (pointers >> 4 & 3) {
        case 0: t.data = nullptr; break;
        case 1:
            f.data.reset(new unsigned char[1]);
            t.data = f.data.get();
            break;
        default: t.data = reinterpret_cast<void*>(static_cast<std::uintptr_t>(address)); break;
    }

    const bool versioned_memory = (layout & 1) != 0;
    const bool read_versioned = (layout & 2) != 0;
    if (versioned_memory) {
        f.managed = block_of(&m, sizeof m);
    } else {
        DLManagedTensor legacy{};
        legacy.dl_tensor = t;
        f.managed = block_of(&legacy, sizeof legacy);
        // A legacy struct under the versioned name whose data pointer reads as a real version
        // 1.x (0x000000XX00000001: minor <= 255) is indistinguishable from a versioned struct,
        // and any reader reads the 16 bytes past it. No check can refuse it: not a finding.
        if (read_versioned && od::looks_like_version_word(t.data)) return false;
    }

    od::ManagedView& v = f.view;
    v.versioned = read_versioned;
    if (read_versioned) {
        std::memcpy(&v.version, f.managed.get() + offsetof(DLManagedTensorVersioned, version), sizeof v.version);
        if (v.version.major == DLPACK_MAJOR_VERSION) {
            std::memcpy(&v.flags, f.managed.get() + offsetof(DLManagedTensorVersioned, flags), sizeof v.flags);
        }
        v.tensor = reinterpret_cast<const DLTensor*>(f.managed.get() + offsetof(DLManagedTensorVersioned, dl_tensor));
    } else {
        v.tensor = reinterpret_cast<const DLTensor*>(f.managed.get() + offsetof(DLManagedTensor, dl_tensor));
    }
    return true;
}

bool has_rule(const od::Report& report, const char* rule) {
    for (const auto& v : report.violations()) {
        if (std::strcmp(v.rule, rule) == 0) return true;
    }
    return false;
}

/// Compact strides (in elements): row-major for C order, column-major for F order.
std::vector<i128> compact_strides(const DLTensor& t, bool c_order) {
    std::vector<i128> out(static_cast<std::size_t>(t.ndim));
    const i128 beyond = i128(1) << 64;  // no int64 stride equals a value this large
    i128 step = 1;
    for (std::int32_t k = 0; k < t.ndim; ++k) {
        const std::int32_t i = c_order ? t.ndim - 1 - k : k;
        out[static_cast<std::size_t>(i)] = step;
        step = std::min(step * std::max<std::int64_t>(t.shape[i], 1), beyond);
    }
    return out;
}

/// Whether every axis longer than 1 has its compact stride (extents of 1 take any stride).
bool has_compact_strides(const DLTensor& t, const std::int64_t* strides, bool c_order) {
    const std::vector<i128> compact = compact_strides(t, c_order);
    for (std::int32_t i = 0; i < t.ndim; ++i) {
        if (t.shape[i] != 1 && strides[i] != compact[static_cast<std::size_t>(i)]) return false;
    }
    return true;
}

i128 floor_div8(i128 bits) { return bits >= 0 ? bits / 8 : -((-bits + 7) / 8); }
i128 ceil_div8(i128 bits) { return -floor_div8(-bits); }

/// The geometry of a readable tensor, recomputed in 128 bits straight from its definition.
void check_geometry(const od::ManagedView& view, const od::Geometry& g, const od::Report& report, bool ok) {
    const DLTensor& t = *view.tensor;
    require(t.ndim >= 0 && t.ndim <= od::kMaxNdim, "readable: 0 <= ndim <= kMaxNdim");
    require(t.ndim == 0 || t.shape != nullptr, "readable: shape is not NULL");
    require(g.strides_implied == (t.ndim > 0 && t.strides == nullptr), "strides_implied: NULL strides");

    std::vector<std::int64_t> strides(static_cast<std::size_t>(t.ndim));
    od::fill_strides(t, strides.data());
    i128 size = 1, min_off = 0, max_off = 0;
    for (std::int32_t i = 0; i < t.ndim; ++i) {
        require(t.shape[i] >= 0, "readable: extents >= 0");
        size *= t.shape[i];
        if (size > INT64_MAX) size = INT64_MAX + i128(1);  // saturate: such a size is never readable
    }
    require(size == g.size, "size: the product of the extents");
    const bool empty = size == 0;
    const std::vector<i128> implied = compact_strides(t, true);
    for (std::int32_t i = 0; i < t.ndim; ++i) {
        const auto axis = static_cast<std::size_t>(i);
        // A compact stride that does not fit in int64 (only an empty tensor has one) is 0.
        const i128 compact = implied[axis] > INT64_MAX ? 0 : implied[axis];
        const i128 expected = t.strides != nullptr ? i128(t.strides[i]) : compact;
        require(strides[axis] == expected,
                "fill_strides: the given strides, or compact row-major (0 if it does not fit)");
    }
    if (!empty) {  // the core found every offset to fit in int64: so do these sums
        for (std::int32_t i = 0; i < t.ndim; ++i) {
            const i128 reach = i128(t.shape[i] - 1) * strides[static_cast<std::size_t>(i)];
            (reach < 0 ? min_off : max_off) += reach;
        }
        require(min_off == g.min_offset && max_off == g.max_offset, "min/max_offset: the extreme element offsets");
        require(g.c_contiguous == has_compact_strides(t, strides.data(), true), "c_contiguous: compact C strides");
        require(g.f_contiguous == has_compact_strides(t, strides.data(), false), "f_contiguous: compact F strides");
    }

    // Element k occupies bits [k * bits, (k + 1) * bits); padded sub-byte elements take a byte each.
    const std::uint32_t element_bits = std::uint32_t{t.dtype.bits} * t.dtype.lanes;
    require(g.element_bits == element_bits, "element_bits: bits * lanes");
    const bool padded = (view.flags & od::kFlagSubbytePadded) != 0;
    const i128 unit = (element_bits >= 8 || padded) ? 8 * ((element_bits + 7) / 8) : element_bits;
    const i128 offset = i128(t.byte_offset);
    require(i128(g.nbytes) == ceil_div8(size * unit), "nbytes: the elements stored compactly");
    const i128 low = empty ? offset : offset + floor_div8(min_off * unit);
    const i128 high = empty ? offset : offset + ceil_div8((max_off + 1) * unit);
    require(g.byte_low <= g.byte_high, "byte_low <= byte_high");
    require(low == g.byte_low && high == g.byte_high, "[byte_low, byte_high): exactly the bytes addressed");

    const auto base = i128(reinterpret_cast<std::uintptr_t>(t.data));
    const bool wraps = t.data != nullptr && !empty && (base + low < 0 || base + high - 1 > i128(UINTPTR_MAX));
    require(!(ok && wraps), "an accepted tensor addresses memory inside the address space");
    require(!wraps || has_rule(report, "extent.address"), "wrapping addresses are reported as extent.address");
}

/// Whether parse_dtype reads what format_dtype writes for `dtype` back to the same value.
bool dtype_name_round_trips(DLDataType dtype) {
    DLDataType again{};
    return od::parse_dtype(od::format_dtype(dtype.code, dtype.bits, dtype.lanes), &again) && again.code == dtype.code &&
           again.bits == dtype.bits && again.lanes == dtype.lanes;
}

/// What every accepted tensor satisfies, restated from DLPack 1.3.
void check_accepted(const od::ManagedView& view, const od::Geometry& g) {
    const DLTensor& t = *view.tensor;
    require(g.readable, "accepted: geometry readable");
    require(!view.versioned || view.version.major == DLPACK_MAJOR_VERSION, "accepted: major version 1");
    require((view.flags & ~od::kKnownFlags) == 0, "accepted: no unknown flag bits");
    // Values newer than the package knows (device types 22-255, dtype codes 19-255) are
    // permitted in a versioned capsule of version 1.3 or later only (docs/validation.md).
    const bool newer_permitted = view.versioned && view.version.major == 1 && view.version.minor >= 3;
    const auto device_type = static_cast<std::int32_t>(t.device.device_type);
    require(
        od::find_device_type(device_type) != nullptr || (newer_permitted && device_type >= 22 && device_type <= 255),
        "accepted: device type");
    require(t.device.device_id >= 0 && (t.device.device_type != kDLCPU || t.device.device_id == 0), "accepted: id");
    require(g.size == 0 || t.data != nullptr, "accepted: data NULL only when empty");
    require(!(view.versioned && view.version.minor >= 2 && g.strides_implied), "accepted: strides since 1.2");
    const od::DTypeCodeInfo* code = od::find_dtype_code(t.dtype.code);
    const bool known_dtype = code != nullptr && od::dtype_bits_valid(*code, t.dtype.bits);
    const bool newer_dtype = code == nullptr && newer_permitted && t.dtype.code >= 19 && t.dtype.bits >= 1;
    require((known_dtype || newer_dtype) && t.dtype.lanes >= 1, "accepted: dtype");
    // a name is read back for the codes the package knows ("code30_bits8" is a description only)
    require(!known_dtype || dtype_name_round_trips(t.dtype), "parse_dtype reads format_dtype back");
}

od::Constraints read_constraints(Reader& in) {
    od::Constraints c;
    const auto present = in.take<std::uint8_t>();
    c.has_device_type = (present & 1) != 0;
    c.has_device_id = (present & 2) != 0;
    c.has_dtype = (present & 4) != 0;
    c.device_type = in.take<std::int32_t>();
    c.device_id = in.take<std::int32_t>();
    c.dtype.code = in.take<std::uint8_t>();
    c.dtype.bits = in.take<std::uint8_t>();
    c.dtype.lanes = in.take<std::uint16_t>();
    const auto ndim = in.take<std::uint16_t>();
    if ((present & 8) != 0) c.ndim = ndim % (od::kMaxNdim + 1);  // what validate() accepts
    const auto extents = in.take<std::uint8_t>();
    if ((present & 16) != 0) {
        c.has_shape = true;
        for (unsigned i = 0; i < extents; ++i) c.shape.push_back(std::max(in.take<std::int64_t>(), od::kAnyExtent));
        c.ndim = (present & 8) != 0 ? static_cast<std::int32_t>(c.shape.size()) : -1;  // validate() needs agreement
    }
    c.writable = static_cast<std::int8_t>((present >> 5 & 3) % 3) - 1;
    c.layout = static_cast<od::LayoutRequirement>(in.take<std::uint8_t>() % 3);
    return c;
}

/// check_constraints against the constraints' plain meaning: one violation per unmet one.
void check_constraints(const od::ManagedView& view, const od::Geometry& g, const od::Constraints& c) {
    const DLTensor& t = *view.tensor;
    const bool read_only = (view.flags & od::kFlagReadOnly) != 0;
    bool shape = static_cast<std::size_t>(t.ndim) == c.shape.size();
    for (std::size_t i = 0; shape && i < c.shape.size(); ++i) {
        shape = c.shape[i] == od::kAnyExtent || c.shape[i] == t.shape[i];
    }
    const bool unmet[] = {
        (c.has_device_type && c.device_type != static_cast<std::int32_t>(t.device.device_type)) ||
            (c.has_device_id && c.device_id != t.device.device_id),
        c.has_dtype && (c.dtype.code != t.dtype.code || c.dtype.bits != t.dtype.bits || c.dtype.lanes != t.dtype.lanes),
        c.has_shape && !shape,
        c.ndim >= 0 && c.ndim != t.ndim,
        c.writable >= 0 && (!view.versioned || read_only == (c.writable == 1)),
        (c.layout == od::LayoutRequirement::c && !g.c_contiguous) ||
            (c.layout == od::LayoutRequirement::f && !g.f_contiguous),
    };
    od::Report report;
    const bool met = od::check_constraints(view, g, c, report);
    const auto failures = static_cast<std::size_t>(std::count(std::begin(unmet), std::end(unmet), true));
    require(met == (failures == 0) && report.violations().size() == failures,
            "check_constraints: one violation per unmet constraint");
    require(od::constraints_met(view, g, c) == met, "constraints_met: as check_constraints");
    if (od::pins_plain_values(c)) {  // the quick path's one test of device, dtype and plain values
        require(od::pinned_values_met(t, c) == (od::detail::plain_1_3_values(t) && !unmet[0] && !unmet[1]),
                "pinned_values_met: the device and dtype constraints, and plain values");
        require(od::constraints_met<true>(view, g, c) == !(unmet[2] || unmet[3] || unmet[4] || unmet[5]),
                "constraints_met<true>: every constraint but device and dtype");
    }
}

/// Names: whatever parse_* accepts, format_* writes back to the same value.
void check_names(std::string_view text) {
    DLDataType dtype{};
    if (od::parse_dtype(text, &dtype))
        require(dtype_name_round_trips(dtype), "parse_dtype(format_dtype(parse_dtype(text)))");
    DLDevice device{}, device_again{};
    if (od::parse_device(text, &device)) {
        const std::string name = od::format_device(static_cast<std::int32_t>(device.device_type), device.device_id);
        require(od::parse_device(name, &device_again) && device_again.device_type == device.device_type &&
                    device_again.device_id == device.device_id,
                "parse_device(format_device(parse_device(text)))");
    }
}

#ifdef OPTYPE_DLPACK_FUZZ_EXCHANGE_TABLE
int refuse_allocate(DLTensor*, DLManagedTensorVersioned**, void*, void (*)(void*, const char*, const char*)) {
    return -1;
}
int refuse_from_object(void*, DLManagedTensorVersioned**) { return -1; }
int refuse_to_object(DLManagedTensorVersioned*, void**) { return -1; }
int refuse_dltensor(void*, DLTensor*) { return -1; }
int refuse_stream(DLDeviceType, std::int32_t, void**) { return -1; }

/// A chain of complete tables (each its own heap block) whose versions and prev_api links,
/// cycles included, come from the input: usable_table must return the first table of major
/// version 1 on the chain, within kMaxExchangeChain tables, or nullptr, and always stop.
void check_exchange_chain(Reader& in) {
    const std::size_t count = in.take<std::uint8_t>() % static_cast<std::size_t>(od::kMaxExchangeChain + 5);
    std::vector<std::unique_ptr<DLPackExchangeAPI>> tables;
    for (std::size_t i = 0; i < count; ++i) {
        auto table = std::make_unique<DLPackExchangeAPI>();
        table->header.version.major = in.take<std::uint32_t>() % 3;  // 0, 1 (usable), 2
        table->header.version.minor = in.take<std::uint8_t>();
        table->managed_tensor_allocator = refuse_allocate;
        table->managed_tensor_from_py_object_no_sync = refuse_from_object;
        table->managed_tensor_to_py_object_no_sync = refuse_to_object;
        table->dltensor_from_py_object_no_sync = refuse_dltensor;
        table->current_work_stream = refuse_stream;
        tables.push_back(std::move(table));
    }
    for (auto& table : tables) {
        const std::size_t previous = in.take<std::uint8_t>();  // beyond the last table: NULL
        table->header.prev_api = previous < count ? &tables[previous]->header : nullptr;
        require(od::plausible_table_address(reinterpret_cast<std::uintptr_t>(table.get())),
                "plausible_table_address: a live, aligned table");
    }
    require(!od::plausible_table_address(0), "plausible_table_address: not NULL");
    (void)od::plausible_table_address(static_cast<std::uintptr_t>(in.take<std::uint64_t>()));
    require(od::usable_table(nullptr) == nullptr, "usable_table(NULL)");
    if (count == 0) return;

    const DLPackExchangeAPIHeader* first_usable = nullptr;
    std::size_t position = 0;  // of first_usable on the walk
    const DLPackExchangeAPIHeader* header = &tables[0]->header;
    for (std::size_t step = 0; header != nullptr && step <= count; ++step, header = header->prev_api) {
        if (header->version.major == DLPACK_MAJOR_VERSION) {
            first_usable = header;
            position = step;
            break;
        }
    }
    const DLPackExchangeAPI* found = od::usable_table(tables[0].get());
    const auto* expected = reinterpret_cast<const DLPackExchangeAPI*>(first_usable);
    require(found == nullptr || found == expected, "usable_table: the first table of major 1 or nullptr");
    require(found == expected || position >= static_cast<std::size_t>(od::kMaxExchangeChain),
            "usable_table: finds a usable table within kMaxExchangeChain tables");
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Reader in(data, size);
    Fixture fixture;
    if (!build(in, fixture)) return -1;  // not a case any reader can refuse: keep it out of the corpus
    const od::ManagedView& view = fixture.view;

    od::Report report;
    od::Geometry geometry;
    const bool ok = od::check_structure(view, report, &geometry);
    require(ok == report.ok(), "check_structure returns true exactly when the report is empty");
    for (const auto& v : report.violations()) {
        require(*v.rule != '\0' && *v.field != '\0' && !v.expected.empty(), "violations name rule, field, expectation");
    }
    if (ok) check_accepted(view, geometry);
    if (geometry.readable) check_geometry(view, geometry, report, ok);

    const od::Constraints constraints = read_constraints(in);
    if (geometry.readable) check_constraints(view, geometry, constraints);
#ifdef OPTYPE_DLPACK_FUZZ_EXCHANGE_TABLE
    check_exchange_chain(in);
#endif
    check_names(in.rest());
    return 0;
}
