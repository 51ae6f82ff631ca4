#pragma once
/// systemd's watchdog (sd_watchdog_enabled(3), conventions.md): when the unit has `WatchdogSec=`,
/// systemd sets WATCHDOG_USEC (and WATCHDOG_PID) in our environment and expects `WATCHDOG=1` more
/// often than that. We ping at half the interval, from the event loop only, while it is healthy.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace k8sinpod::sys {

/// The ping interval: half of `watchdog_usec` (a decimal count of microseconds > 0; a value of 1
/// gives 1 us), when `watchdog_pid` is unset or equals `self`. nullopt when the watchdog is off:
/// WATCHDOG_USEC unset, empty, 0 or not a plain decimal number; WATCHDOG_PID set to another
/// process or not a plain decimal number. Pure.
std::optional<std::chrono::microseconds> watchdog_interval(std::optional<std::string> watchdog_usec,
                                                           std::optional<std::string> watchdog_pid,
                                                           pid_t self);

/// Reads WATCHDOG_USEC and WATCHDOG_PID, unsets both (children must not inherit them, as
/// sd_watchdog_enabled(unset_environment=1) does) and returns watchdog_interval(..., getpid()).
/// Not thread-safe (setenv/unsetenv): call once at startup, before any thread starts.
std::optional<std::chrono::microseconds> watchdog_interval_from_env();

}  // namespace k8sinpod::sys
