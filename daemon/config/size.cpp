#include "config/size.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <string>
#include <utility>

namespace k8sinpod::config {
namespace {

constexpr std::array<std::pair<std::string_view, std::uint64_t>, 4> kUnits = {{
    {"B", 1},
    {"KiB", std::uint64_t{1} << 10},
    {"MiB", std::uint64_t{1} << 20},
    {"GiB", std::uint64_t{1} << 30},
}};

constexpr std::string_view kShape =
    "expected a whole number of bytes with an optional unit B, KiB, MiB or GiB, e.g. 10MiB";

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<std::uint64_t> parse_byte_size(std::string_view text) {
  if (!text.empty() && text.front() == '-') return fail("must not be negative");
  std::size_t digits = 0;
  while (digits < text.size() && is_digit(text[digits])) ++digits;
  if (digits == 0) return fail(std::string(kShape));
  const std::string_view unit = text.substr(digits);
  if (!unit.empty() && unit.front() == '.')
    return fail("fractions are not allowed, " + std::string(kShape));

  std::uint64_t factor = 0;
  for (const auto& [name, value] : kUnits) {
    if (name == unit) factor = value;
  }
  if (unit.empty()) factor = 1;
  if (factor == 0) {
    const bool looks_like_unit =
        unit.size() <= 3 && std::all_of(unit.begin(), unit.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        });
    if (!looks_like_unit) return fail(std::string(kShape));
    return fail("unknown unit \"" + std::string(unit) +
                "\"; use B, KiB, MiB or GiB (powers of 1024)");
  }

  std::uint64_t count = 0;
  for (const char c : text.substr(0, digits)) {
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (count > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return fail("too large");
    count = count * 10 + digit;
  }
  if (count > std::numeric_limits<std::uint64_t>::max() / factor) return fail("too large");
  return count * factor;
}

}  // namespace k8sinpod::config
