#include "sys/watchdog.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <utility>

namespace k8sinpod::sys {

namespace {

/// A plain decimal number: digits only, no sign, no spaces, no overflow.
std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

}  // namespace

std::optional<std::chrono::microseconds> watchdog_interval(std::optional<std::string> watchdog_usec,
                                                           std::optional<std::string> watchdog_pid,
                                                           pid_t self) {
  if (!watchdog_usec) return std::nullopt;
  const auto usec = parse_decimal(*watchdog_usec);
  if (!usec || *usec == 0) return std::nullopt;
  // from_chars accepts a leading '-' for signed types only, so "-1" is already garbage here.
  if (usec > static_cast<std::uint64_t>(std::chrono::microseconds::max().count())) {
    return std::nullopt;
  }
  if (watchdog_pid) {
    const auto pid = parse_decimal(*watchdog_pid);
    if (!pid || self < 0 || *pid != static_cast<std::uint64_t>(self)) return std::nullopt;
  }
  const auto half = *usec / 2;
  return std::chrono::microseconds(
      static_cast<std::chrono::microseconds::rep>(half == 0 ? 1 : half));
}

std::optional<std::chrono::microseconds> watchdog_interval_from_env() {
  auto usec = env("WATCHDOG_USEC");
  auto pid = env("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
  return watchdog_interval(std::move(usec), std::move(pid), ::getpid());
}

}  // namespace k8sinpod::sys
