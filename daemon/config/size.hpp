#pragma once
/// Byte sizes with binary units, as in `log.max_size: 10MiB`. Pure; no exceptions.

#include <cstdint>
#include <string_view>

#include "common/error.hpp"

namespace k8sinpod::config {

/// Parses a whole number of bytes with an optional unit: `1048576`, `4096B`, `512KiB`, `10MiB`,
/// `1GiB` (powers of 1024). No sign, spaces, fractions or decimal units (`10MB`, `10M`).
/// The error says what is wrong, e.g. `unknown unit "MB"; use B, KiB, MiB or GiB (powers of
/// 1024)`; it does not repeat the text.
Result<std::uint64_t> parse_byte_size(std::string_view text);

}  // namespace k8sinpod::config
