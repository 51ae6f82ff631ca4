#include "config/size.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string_view>

using k8sinpod::config::parse_byte_size;

TEST_CASE("parse_byte_size accepts plain bytes and binary units") {
  struct Row {
    std::string_view text;
    std::uint64_t expected;
  };
  const Row rows[] = {
      {"0", 0},
      {"1", 1},
      {"1048576", 1'048'576},
      {"4096B", 4'096},
      {"1KiB", 1'024},
      {"512KiB", 524'288},
      {"10MiB", 10'485'760},
      {"1GiB", 1'073'741'824},
      {"007KiB", 7'168},
      {"18446744073709551615", 18'446'744'073'709'551'615ULL},  // 2^64-1 bytes
      {"17179869183GiB", 18'446'744'072'635'809'792ULL},        // the largest whole GiB count
  };
  for (const Row& row : rows) {
    CAPTURE(row.text);
    const auto parsed = parse_byte_size(row.text);
    REQUIRE(parsed.has_value());
    CHECK(*parsed == row.expected);
  }
}

TEST_CASE("parse_byte_size says what is wrong") {
  struct Row {
    std::string_view text;
    std::string_view message;
  };
  constexpr std::string_view kShape =
      "expected a whole number of bytes with an optional unit B, KiB, MiB or GiB, e.g. 10MiB";
  const Row rows[] = {
      {"", kShape},
      {"MiB", kShape},
      {"+1MiB", kShape},
      {" 1MiB", kShape},
      {"1 MiB", kShape},
      {"1MiB ", kShape},
      {"1MiBs", kShape},
      {"1e6", kShape},
      {"-1", "must not be negative"},
      {"1.5MiB",
       "fractions are not allowed, expected a whole number of bytes with an optional unit B, KiB, "
       "MiB or GiB, e.g. 10MiB"},
      {"10MB", "unknown unit \"MB\"; use B, KiB, MiB or GiB (powers of 1024)"},
      {"10kb", "unknown unit \"kb\"; use B, KiB, MiB or GiB (powers of 1024)"},
      {"10Mi", "unknown unit \"Mi\"; use B, KiB, MiB or GiB (powers of 1024)"},
      {"10mib", "unknown unit \"mib\"; use B, KiB, MiB or GiB (powers of 1024)"},
      {"1TiB", "unknown unit \"TiB\"; use B, KiB, MiB or GiB (powers of 1024)"},
      {"18446744073709551616", "too large"},  // 2^64
      {"17179869184GiB", "too large"},        // 2^64 bytes
  };
  for (const Row& row : rows) {
    CAPTURE(row.text);
    const auto parsed = parse_byte_size(row.text);
    REQUIRE_FALSE(parsed.has_value());
    CHECK(parsed.error().message == row.message);
  }
}
