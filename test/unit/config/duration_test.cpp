#include "config/duration.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string_view>

using k8sinpod::config::format_duration;
using k8sinpod::config::parse_duration;
using std::chrono::milliseconds;

TEST_CASE("parse_duration accepts the Go notation") {
  struct Row {
    std::string_view text;
    milliseconds expected;
  };
  const Row rows[] = {
      {"0", milliseconds{0}},
      {"+0", milliseconds{0}},
      {"0s", milliseconds{0}},
      {"0h0m", milliseconds{0}},
      {"500ms", milliseconds{500}},
      {"5s", milliseconds{5'000}},
      {"+5s", milliseconds{5'000}},
      {"10m", milliseconds{600'000}},
      {"1h", milliseconds{3'600'000}},
      {"1h30m", milliseconds{5'400'000}},
      {"1h0m0s", milliseconds{3'600'000}},
      {"90m5s", milliseconds{5'405'000}},
      {"5s1h", milliseconds{3'605'000}},
      {"1.5s", milliseconds{1'500}},
      {".5s", milliseconds{500}},
      {"5.s", milliseconds{5'000}},
      {"1.5h", milliseconds{5'400'000}},
      {"2h45m30.5s", milliseconds{9'930'500}},
      {"0.001s", milliseconds{1}},
      {"1000us", milliseconds{1}},
      {"1000\u00b5s", milliseconds{1}},
      {"1000\u03bcs", milliseconds{1}},
      {"1000000ns", milliseconds{1}},
      {"1.000000000001s", milliseconds{1'000}},       // digits below 1 ns are dropped, as in Go
      {"2562047h", milliseconds{9'223'369'200'000}},  // just below Go's limit of 2^63-1 ns
      {"9223372036854ms", milliseconds{9'223'372'036'854}},
  };
  for (const Row& row : rows) {
    CAPTURE(row.text);
    const auto parsed = parse_duration(row.text);
    REQUIRE(parsed.has_value());
    CHECK(parsed->count() == row.expected.count());
  }
}

TEST_CASE("parse_duration rejects malformed, negative, unitless, sub-millisecond and huge values") {
  const std::string_view rows[] = {
      "",
      "+",
      "5",                      // a non-zero number needs a unit
      "00",                     // only the bare "0" may omit the unit
      "1.5",                    //
      "-5s",                    // negative
      "-0s",                    //
      "s",                      // no number
      ".s",                     //
      "5x",                     // unknown unit
      "5S",                     //
      "5sec",                   //
      "5.5.5s",                 //
      " 5s",                    // no spaces anywhere
      "5s ",                    //
      "5 s",                    //
      "1h-5m",                  //
      "1500us",                 // not a whole number of milliseconds
      "0.5ms",                  //
      "1ns",                    //
      "9223372036855ms",        // above 2^63-1 ns
      "2562048h",               //
      "9223372036854775808ns",  //
      "99999999999999999999s",  // overflows while reading digits
      "2562047h2562047h",       // overflows while adding components
  };
  for (const std::string_view text : rows) {
    CAPTURE(text);
    CHECK_FALSE(parse_duration(text).has_value());
  }
}

TEST_CASE("format_duration matches Go's Duration.String") {
  struct Row {
    milliseconds value;
    std::string_view expected;
  };
  const Row rows[] = {
      {milliseconds{0}, "0s"},
      {milliseconds{1}, "1ms"},
      {milliseconds{500}, "500ms"},
      {milliseconds{999}, "999ms"},
      {milliseconds{1'000}, "1s"},
      {milliseconds{1'001}, "1.001s"},
      {milliseconds{1'010}, "1.01s"},
      {milliseconds{1'500}, "1.5s"},
      {milliseconds{59'000}, "59s"},
      {milliseconds{60'000}, "1m0s"},
      {milliseconds{90'000}, "1m30s"},
      {milliseconds{600'000}, "10m0s"},
      {milliseconds{3'600'000}, "1h0m0s"},
      {milliseconds{5'400'000}, "1h30m0s"},
      {milliseconds{5'405'250}, "1h30m5.25s"},
      {milliseconds{-500}, "-500ms"},
      {milliseconds{-5'000}, "-5s"},
      {milliseconds{-3'600'000}, "-1h0m0s"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.value.count());
    CHECK(format_duration(row.value) == row.expected);
  }
}

TEST_CASE("format_duration handles the most negative value without overflow") {
  CHECK(format_duration(milliseconds::min()) == "-2562047788015h12m55.808s");
}

TEST_CASE("parse_duration reads back what format_duration writes") {
  const milliseconds values[] = {milliseconds{0},          milliseconds{1},
                                 milliseconds{999},        milliseconds{1'001},
                                 milliseconds{61'500},     milliseconds{5'400'000},
                                 milliseconds{86'400'123}, milliseconds{9'223'372'036'854}};
  for (const milliseconds value : values) {
    CAPTURE(value.count());
    const auto parsed = parse_duration(format_duration(value));
    REQUIRE(parsed.has_value());
    CHECK(parsed->count() == value.count());
  }
}
