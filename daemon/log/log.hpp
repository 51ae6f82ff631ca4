#pragma once
/// Logging: spdlog to stdout (for `kubectl logs` and journald), one line per record, as `text`
///   2026-11-25T07:28:11.123Z info  [kind] Creating cluster "ci" ...
/// or `json`, one object per line:
///   {"time":"2026-11-25T07:28:11.123Z","level":"info","logger":"kind","message":"..."}
/// Every child's line is logged under the child's name (`kind`), so each line carries its source.
///
/// Optionally the same lines also go to a file (`log.file`) that is rotated by size: when a
/// record would take it past `max_size` bytes it is renamed and a new one started; `max_files`
/// rotated files are kept. spdlog's rotating sink names them by inserting the index before the
/// extension: `k8sinpodd.log` -> `k8sinpodd.1.log` ... `k8sinpodd.N.log` (a name without an
/// extension gets `name.1` ... `name.N`); `.1` is the newest, the oldest is removed. Every record
/// is flushed at once (a PID 1 must not lose its last words; `tail -f` sees each line).
///
/// All loggers share one sink, so setup(), set_level() and set_format() take effect on every
/// logger, also on those created before (live reload).
///
/// Thread-safety: all functions may be called from any thread; loggers are spdlog's (thread-safe
/// sinks). Nothing here throws: spdlog's exceptions are caught and returned as errors.

#include <spdlog/spdlog.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace k8sinpod::log {

enum class Format { text, json };

/// A log file besides stdout.
struct LogFile {
  /// The file; its directory is created if missing.
  std::string path;
  /// Bytes at which the file is rotated; > 0.
  std::uint64_t max_size = std::uint64_t{10} * 1024 * 1024;
  /// Rotated files kept besides `path`; 0..200000 (0: the file is truncated when full).
  int max_files = 5;
};

/// stdout only, in `format`, at `level`; removes a log file set up before. Cannot fail.
void setup(spdlog::level::level_enum level, Format format);

/// stdout, plus `file` when given (replacing the file set up before, if any; nullopt removes
/// it). Level and format apply to both. If the file cannot be opened, stdout is still set up
/// with the level and format, the previous file (if any) stays, and the error says why:
///   log.file "/x/y.log": cannot open: Failed opening file /x/y.log for writing: Permission denied
Result<void> setup(spdlog::level::level_enum level, Format format,
                   const std::optional<LogFile>& file);

/// Changes the level of every logger (live reload).
void set_level(spdlog::level::level_enum level);

/// Changes the format of every line written from now on, stdout and file (live reload).
void set_format(Format format);

/// The named logger ("k8sinpodd", "kind", "docker", "http", ...), created on first use.
std::shared_ptr<spdlog::logger> get(const std::string& name);

/// Flushes stdout and the file (they are flushed after every record anyway).
void flush();

/// JSON string escaping (quotes not included), exposed for tests.
std::string json_escape(std::string_view s);

/// Renders one record as the JSON line described above (without the newline); pure.
std::string json_line(std::string_view time, std::string_view level, std::string_view logger,
                      std::string_view message);

}  // namespace k8sinpod::log
