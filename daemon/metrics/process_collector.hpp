#pragma once
/// The standard `process_*` metrics, read from /proc as client_golang's process collector does
/// (prometheus-cpp does not provide them). Three layers:
///   - pure parsers over the texts of /proc/self/stat, /proc/self/limits and /proc/stat;
///   - `read_process_stats()`, the only code that touches /proc;
///   - `ProcessCollector`, a `prometheus::Collectable` turning a fresh read into MetricFamily
///   values.
/// Nothing here throws.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace k8sinpod::metrics {

/// The fields of /proc/<pid>/stat that the collector uses (proc(5) numbering in comments).
struct SelfStat {
  std::uint64_t utime_ticks = 0;      // (14) user time, clock ticks
  std::uint64_t stime_ticks = 0;      // (15) system time, clock ticks
  std::uint64_t num_threads = 0;      // (20)
  std::uint64_t starttime_ticks = 0;  // (22) start after boot, clock ticks
  std::uint64_t vsize_bytes = 0;      // (23)
  std::uint64_t rss_pages = 0;        // (24)
  friend bool operator==(const SelfStat&, const SelfStat&) = default;
};

/// Parses the text of /proc/<pid>/stat. The comm field (2) may hold spaces and parentheses,
/// so the fields are counted from the last ')'. Returns nullopt when the text is malformed.
std::optional<SelfStat> parse_self_stat(std::string_view text);

/// The soft "Max open files" limit from the text of /proc/<pid>/limits; `unlimited` is
/// UINT64_MAX (as Go's procfs reports it). Returns nullopt when the line is missing or malformed.
std::optional<std::uint64_t> parse_max_open_files(std::string_view text);

/// The `btime` line of /proc/stat: boot time in unix seconds. nullopt when missing.
std::optional<std::uint64_t> parse_boot_time(std::string_view text);

/// The values of the seven metrics, in their base units.
struct ProcessStats {
  double cpu_seconds = 0;
  double resident_memory_bytes = 0;
  double virtual_memory_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double start_time_seconds = 0;
  double threads = 0;
};

/// Pure: combines parsed values with the system constants (sysconf `_SC_CLK_TCK`, page size).
ProcessStats make_process_stats(const SelfStat& stat, std::uint64_t boot_time,
                                std::uint64_t max_open_files, std::uint64_t open_fds,
                                long ticks_per_second, long page_size);

/// Pure: the seven `process_*` families (counter process_cpu_seconds_total, the rest gauges).
std::vector<prometheus::MetricFamily> to_metric_families(const ProcessStats& stats);

/// Reads `<proc>/self/stat`, `<proc>/self/limits`, `<proc>/stat` and counts `<proc>/self/fd`.
/// Fails with a message naming the file when one cannot be read or parsed.
Result<ProcessStats> read_process_stats(const std::filesystem::path& proc = "/proc");

/// Reads /proc on every `Collect()`; returns no families when the read fails (a scrape then
/// simply lacks `process_*`). Stateless, so thread-safe.
class ProcessCollector : public prometheus::Collectable {
 public:
  explicit ProcessCollector(std::filesystem::path proc = "/proc") : proc_(std::move(proc)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::filesystem::path proc_;
};

}  // namespace k8sinpod::metrics
