// WATCHDOG_USEC / WATCHDOG_PID -> the ping interval (half of WATCHDOG_USEC), as a table.
#include "sys/watchdog.hpp"

#include <doctest/doctest.h>

#include <string>

TEST_CASE("watchdog_interval: half of WATCHDOG_USEC when WATCHDOG_PID is unset or ours") {
  using std::chrono::microseconds;
  using Opt = std::optional<std::string>;
  struct Row {
    Opt usec;
    Opt pid;
    std::optional<microseconds> interval;
  };
  constexpr pid_t kSelf = 4242;
  const Row rows[] = {
      {"2000000", std::nullopt, microseconds{1000000}},
      {"2000000", "4242", microseconds{1000000}},
      {"30000000", std::nullopt, microseconds{15000000}},
      {"3", std::nullopt, microseconds{1}},
      {"1", std::nullopt, microseconds{1}},
      {"2000000", "4243", std::nullopt},  // meant for another process
      {"2000000", "1", std::nullopt},
      {std::nullopt, std::nullopt, std::nullopt},  // no watchdog
      {std::nullopt, "4242", std::nullopt},
      {"0", std::nullopt, std::nullopt},  // 0 means off
      {"", std::nullopt, std::nullopt},
      {"-2000000", std::nullopt, std::nullopt},
      {"+2000000", std::nullopt, std::nullopt},
      {" 2000000", std::nullopt, std::nullopt},
      {"2000000 ", std::nullopt, std::nullopt},
      {"2s", std::nullopt, std::nullopt},
      {"0x10", std::nullopt, std::nullopt},
      {"99999999999999999999999", std::nullopt, std::nullopt},  // overflows uint64
      {"18446744073709551615", std::nullopt, std::nullopt},     // beyond microseconds::max
      {"2000000", "", std::nullopt},
      {"2000000", "abc", std::nullopt},
      {"2000000", "-4242", std::nullopt},
      {"2000000", "4242x", std::nullopt},
  };
  for (const auto& row : rows) {
    CAPTURE(row.usec.value_or("<unset>"));
    CAPTURE(row.pid.value_or("<unset>"));
    CHECK(k8sinpod::sys::watchdog_interval(row.usec, row.pid, kSelf) == row.interval);
  }
}
