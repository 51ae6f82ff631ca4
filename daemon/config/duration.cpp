#include "config/duration.hpp"

#include <cstdint>
#include <string>

namespace k8sinpod::config {
namespace {

using std::uint64_t;

constexpr uint64_t kLimit = uint64_t{1} << 63;  // Go's bound: a Duration is an int64 of ns
constexpr uint64_t kNanosPerMilli = 1'000'000;

/// A unit as mantissa * 10^exponent nanoseconds, so that a decimal fraction of it can be
/// computed exactly in 64 bits.
struct Unit {
  std::string_view name;
  uint64_t mantissa;
  int exponent;
};

constexpr Unit kUnits[] = {
    {"ns", 1, 0}, {"us", 1, 3}, {"\u00b5s", 1, 3}, {"\u03bcs", 1, 3},
    {"ms", 1, 6}, {"s", 1, 9},  {"m", 6, 10},      {"h", 36, 11},
};

/// Fraction digits kept: 10^15 * 36 fits easily; further digits are below 0.004 ns.
constexpr int kMaxFractionDigits = 15;

uint64_t pow10(int n) {
  uint64_t r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s == "0") return std::chrono::milliseconds{0};
  if (s.empty()) return std::nullopt;

  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s.front() == '.' || is_digit(s.front()))) return std::nullopt;

    uint64_t whole = 0;
    bool has_whole = false;
    while (!s.empty() && is_digit(s.front())) {
      if (whole > kLimit / 10) return std::nullopt;
      whole = whole * 10 + static_cast<uint64_t>(s.front() - '0');
      if (whole > kLimit) return std::nullopt;
      has_whole = true;
      s.remove_prefix(1);
    }

    uint64_t fraction = 0;
    int fraction_digits = 0;
    bool has_fraction = false;
    if (!s.empty() && s.front() == '.') {
      s.remove_prefix(1);
      while (!s.empty() && is_digit(s.front())) {
        if (fraction_digits < kMaxFractionDigits) {
          fraction = fraction * 10 + static_cast<uint64_t>(s.front() - '0');
          ++fraction_digits;
        }
        has_fraction = true;
        s.remove_prefix(1);
      }
    }
    if (!has_whole && !has_fraction) return std::nullopt;

    std::size_t unit_length = 0;
    while (unit_length < s.size() && s[unit_length] != '.' && !is_digit(s[unit_length])) {
      ++unit_length;
    }
    if (unit_length == 0) return std::nullopt;  // "5": a non-zero number needs a unit
    const std::string_view unit_name = s.substr(0, unit_length);
    s.remove_prefix(unit_length);

    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (u.name == unit_name) unit = &u;
    }
    if (unit == nullptr) return std::nullopt;
    const uint64_t unit_nanos = unit->mantissa * pow10(unit->exponent);

    if (whole > kLimit / unit_nanos) return std::nullopt;
    uint64_t value = whole * unit_nanos;
    // fraction / 10^digits * mantissa * 10^exponent, floored, without leaving 64 bits.
    uint64_t fraction_nanos = 0;
    if (unit->exponent >= fraction_digits) {
      fraction_nanos = fraction * unit->mantissa * pow10(unit->exponent - fraction_digits);
    } else {
      fraction_nanos = fraction * unit->mantissa / pow10(fraction_digits - unit->exponent);
    }
    value += fraction_nanos;
    if (value > kLimit - 1 - total) return std::nullopt;
    total += value;
  }
  if (total % kNanosPerMilli != 0) return std::nullopt;
  return std::chrono::milliseconds{static_cast<std::int64_t>(total / kNanosPerMilli)};
}

std::string format_duration(std::chrono::milliseconds d) {
  const std::int64_t count = d.count();
  // Magnitude in unsigned arithmetic so that the most negative value does not overflow.
  const uint64_t magnitude =
      count < 0 ? uint64_t{0} - static_cast<uint64_t>(count) : static_cast<uint64_t>(count);
  const std::string sign = count < 0 ? "-" : "";
  if (magnitude == 0) return "0s";
  if (magnitude < 1000) return sign + std::to_string(magnitude) + "ms";

  std::string seconds = std::to_string(magnitude / 1000 % 60);
  if (const uint64_t millis = magnitude % 1000; millis != 0) {
    std::string digits = std::to_string(millis);
    digits.insert(0, 3 - digits.size(), '0');
    while (digits.back() == '0') digits.pop_back();
    seconds += "." + digits;
  }
  std::string out = seconds + "s";
  const uint64_t minutes = magnitude / 1000 / 60;
  if (minutes > 0) {
    out = std::to_string(minutes % 60) + "m" + out;
    if (const uint64_t hours = minutes / 60; hours > 0) out = std::to_string(hours) + "h" + out;
  }
  return sign + out;
}

}  // namespace k8sinpod::config
