#pragma once
/// Durations in the Go / Kubernetes notation (`time.ParseDuration`, `time.Duration.String()`),
/// at millisecond precision. Pure; no exceptions.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace k8sinpod::config {

/// Parses `500ms`, `5s`, `10m`, `1h30m`, `1.5s`, `.5s`, `+5s` and the bare `0`.
/// Units: `ns`, `us`, `µs` (U+00B5), `μs` (U+03BC), `ms`, `s`, `m`, `h`; components may repeat
/// in any order as in Go (`1h30m`, `90m5s`).
/// Returns nullopt for: empty text, a negative value, a non-zero number without unit (`5`), an
/// unknown unit, a value above Go's limit (2^63-1 ns, about 292 years), and a value that is not a
/// whole number of milliseconds (`1500us`, `0.5ms`): the daemon works in milliseconds and a
/// silently rounded value would be a surprise.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// Formats like Go's `time.Duration.String()`: `0s`, `500ms`, `1.5s`, `1m0s`, `1h30m0s`,
/// `-5s`. `parse_duration(format_duration(d)) == d` for every d in [0, 2^63-1 ns].
std::string format_duration(std::chrono::milliseconds d);

}  // namespace k8sinpod::config
