#pragma once
/// Logging: spdlog to stdout (for `kubectl logs` and journald), one line per record, as `text`
///   2026-11-25T07:28:11.123Z info  [kind] Creating cluster "ci" ...
/// or `json`, one object per line:
///   {"time":"2026-11-25T07:28:11.123Z","level":"info","logger":"kind","message":"..."}
/// Every child's line is logged under the child's name (`kind`), so each line carries its source.
///
/// Thread-safety: setup() once before anything logs; loggers are spdlog's (thread-safe sinks).

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace k8sinpod::log {

enum class Format { text, json };

void setup(spdlog::level::level_enum level, Format format);
void set_level(spdlog::level::level_enum level);

/// The named logger ("k8sinpodd", "kind", "docker", "http", ...), created on first use.
std::shared_ptr<spdlog::logger> get(const std::string& name);

/// JSON string escaping (quotes not included), exposed for tests.
std::string json_escape(std::string_view s);

/// Renders one record as the JSON line described above (without the newline); pure.
std::string json_line(std::string_view time, std::string_view level, std::string_view logger,
                      std::string_view message);

}  // namespace k8sinpod::log
