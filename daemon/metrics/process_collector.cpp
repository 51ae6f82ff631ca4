#include "metrics/process_collector.hpp"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <system_error>

namespace k8sinpod::metrics {
namespace {

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || p != end || s.empty()) return std::nullopt;
  return v;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    const std::size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

double as_double(std::uint64_t v) { return static_cast<double>(v); }

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(m);
  return f;
}

}  // namespace

std::optional<SelfStat> parse_self_stat(std::string_view text) {
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  // After the comm field, fields 3 (state) onwards are separated by single spaces.
  const auto fields = split_fields(text.substr(close + 1));
  auto field = [&](std::size_t number) -> std::optional<std::uint64_t> {
    const std::size_t index = number - 3;
    if (index >= fields.size()) return std::nullopt;
    return to_u64(fields[index]);
  };
  const auto utime = field(14);
  const auto stime = field(15);
  const auto threads = field(20);
  const auto start = field(22);
  const auto vsize = field(23);
  const auto rss = field(24);
  if (!utime || !stime || !threads || !start || !vsize || !rss) return std::nullopt;
  return SelfStat{*utime, *stime, *threads, *start, *vsize, *rss};
}

std::optional<std::uint64_t> parse_max_open_files(std::string_view text) {
  constexpr std::string_view kKey = "Max open files";
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const auto line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.substr(0, kKey.size()) != kKey) continue;
    // "Max open files            1024                 1048576              files"
    const auto fields = split_fields(line.substr(kKey.size()));
    if (fields.empty()) return std::nullopt;
    if (fields[0] == "unlimited") return std::numeric_limits<std::uint64_t>::max();
    return to_u64(fields[0]);
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_boot_time(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const auto fields = split_fields(text.substr(pos, eol - pos));
    pos = eol + 1;
    if (fields.size() == 2 && fields[0] == "btime") return to_u64(fields[1]);
  }
  return std::nullopt;
}

ProcessStats make_process_stats(const SelfStat& stat, std::uint64_t boot_time,
                                std::uint64_t max_open_files, std::uint64_t open_fds,
                                long ticks_per_second, long page_size) {
  const double hz = ticks_per_second > 0 ? static_cast<double>(ticks_per_second) : 100.0;
  ProcessStats s;
  s.cpu_seconds = as_double(stat.utime_ticks + stat.stime_ticks) / hz;
  s.resident_memory_bytes = as_double(stat.rss_pages) * static_cast<double>(page_size);
  s.virtual_memory_bytes = as_double(stat.vsize_bytes);
  s.open_fds = as_double(open_fds);
  s.max_fds = as_double(max_open_files);
  s.start_time_seconds = as_double(boot_time) + as_double(stat.starttime_ticks) / hz;
  s.threads = as_double(stat.num_threads);
  return s;
}

std::vector<prometheus::MetricFamily> to_metric_families(const ProcessStats& s) {
  using prometheus::MetricType;
  return {
      family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             MetricType::Counter, s.cpu_seconds),
      family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, s.open_fds),
      family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
             s.max_fds),
      family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
             s.virtual_memory_bytes),
      family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
             s.resident_memory_bytes),
      family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
             MetricType::Gauge, s.start_time_seconds),
      family("process_threads", "Number of OS threads in the process.", MetricType::Gauge,
             s.threads),
  };
}

Result<ProcessStats> read_process_stats(const std::filesystem::path& proc) {
  const auto stat_path = proc / "self" / "stat";
  const auto limits_path = proc / "self" / "limits";
  const auto system_stat_path = proc / "stat";
  const auto fd_path = proc / "self" / "fd";

  const auto stat_text = read_file(stat_path);
  if (!stat_text) return fail("metrics: cannot read " + stat_path.string());
  const auto stat = parse_self_stat(*stat_text);
  if (!stat) return fail("metrics: cannot parse " + stat_path.string());

  const auto limits_text = read_file(limits_path);
  if (!limits_text) return fail("metrics: cannot read " + limits_path.string());
  const auto max_fds = parse_max_open_files(*limits_text);
  if (!max_fds) return fail("metrics: no \"Max open files\" in " + limits_path.string());

  const auto system_text = read_file(system_stat_path);
  if (!system_text) return fail("metrics: cannot read " + system_stat_path.string());
  const auto boot_time = parse_boot_time(*system_text);
  if (!boot_time) return fail("metrics: no btime in " + system_stat_path.string());

  std::error_code ec;
  std::uint64_t open_fds = 0;
  for (std::filesystem::directory_iterator it(fd_path, ec), end; !ec && it != end;
       it.increment(ec)) {
    ++open_fds;
  }
  if (ec) return fail("metrics: cannot list " + fd_path.string() + ": " + ec.message());

  return make_process_stats(*stat, *boot_time, *max_fds, open_fds, sysconf(_SC_CLK_TCK),
                            sysconf(_SC_PAGESIZE));
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  // Collect() must not throw into the serializer; a failed read yields no process_* families.
  try {
    auto stats = read_process_stats(proc_);
    if (!stats) return {};
    return to_metric_families(*stats);
  } catch (...) {
    return {};
  }
}

}  // namespace k8sinpod::metrics
