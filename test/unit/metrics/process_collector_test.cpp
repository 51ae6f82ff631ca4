#include "metrics/process_collector.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <limits>
#include <string>

using namespace k8sinpod::metrics;

namespace {

// Shaped like a real /proc/<pid>/stat line, with a comm holding spaces and ')'.
constexpr const char* kStat =
    "4242 (k8s (in) pod) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 12345 "
    "123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

constexpr const char* kLimits =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max file size             unlimited            unlimited            bytes     \n"
    "Max stack size            8388608              unlimited            bytes     \n"
    "Max processes             96364                96364                processes \n"
    "Max open files            1024                 1048576              files     \n"
    "Max locked memory         8388608              8388608              bytes     \n";

constexpr const char* kProcStat =
    "cpu  1043 0 1532 2131720 171 0 64 0 0 0\n"
    "cpu0 520 0 770 1065881 85 0 32 0 0 0\n"
    "intr 171539 0 9 0 0\n"
    "ctxt 331129\n"
    "btime 1700000000\n"
    "processes 6170\n"
    "procs_running 1\n";

}  // namespace

TEST_CASE("parse_self_stat counts fields from the last ')' of comm") {
  const auto s = parse_self_stat(kStat);
  REQUIRE(s.has_value());
  CHECK(s->utime_ticks == 250);
  CHECK(s->stime_ticks == 50);
  CHECK(s->num_threads == 7);
  CHECK(s->starttime_ticks == 12345);
  CHECK(s->vsize_bytes == 123456789);
  CHECK(s->rss_pages == 2048);
}

TEST_CASE("parse_self_stat rejects malformed text") {
  CHECK_FALSE(parse_self_stat("").has_value());
  CHECK_FALSE(parse_self_stat("4242 no-parenthesis S 1 2 3").has_value());
  CHECK_FALSE(
      parse_self_stat("4242 (short) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250").has_value());
  CHECK_FALSE(
      parse_self_stat("1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 50 0 0 20 0 7 0 12345 123456789 2048 0\n")
          .has_value());
}

TEST_CASE("parse_max_open_files reads the soft limit") {
  CHECK(parse_max_open_files(kLimits) == std::optional<std::uint64_t>(1024));
  CHECK(parse_max_open_files("Max open files            unlimited            unlimited  files\n") ==
        std::optional<std::uint64_t>(std::numeric_limits<std::uint64_t>::max()));
  CHECK_FALSE(parse_max_open_files("Max processes 10 10 processes\n").has_value());
  CHECK_FALSE(parse_max_open_files("Max open files  abc  10 files\n").has_value());
  CHECK_FALSE(parse_max_open_files("").has_value());
}

TEST_CASE("parse_boot_time reads btime") {
  CHECK(parse_boot_time(kProcStat) == std::optional<std::uint64_t>(1700000000));
  CHECK_FALSE(parse_boot_time("cpu 1 2 3\nctxt 5\n").has_value());
  CHECK_FALSE(parse_boot_time("btime\n").has_value());
}

TEST_CASE("make_process_stats converts ticks and pages to base units") {
  const auto stat = *parse_self_stat(kStat);
  const auto s = make_process_stats(stat, 1700000000, 1024, 9, 100, 4096);
  CHECK(s.cpu_seconds == doctest::Approx(3.0));  // (250 + 50) / 100
  CHECK(s.resident_memory_bytes == doctest::Approx(2048.0 * 4096));
  CHECK(s.virtual_memory_bytes == doctest::Approx(123456789.0));
  CHECK(s.open_fds == doctest::Approx(9));
  CHECK(s.max_fds == doctest::Approx(1024));
  CHECK(s.start_time_seconds == doctest::Approx(1700000123.45));  // btime + 12345 / 100
  CHECK(s.threads == doctest::Approx(7));
}

TEST_CASE("to_metric_families names the seven client_golang metrics") {
  ProcessStats s;
  s.cpu_seconds = 1.5;
  s.threads = 3;
  const auto families = to_metric_families(s);
  REQUIRE(families.size() == 7);
  CHECK(families[0].name == "process_cpu_seconds_total");
  CHECK(families[0].type == prometheus::MetricType::Counter);
  REQUIRE(families[0].metric.size() == 1);
  CHECK(families[0].metric[0].counter.value == doctest::Approx(1.5));
  const char* gauges[] = {"process_open_fds",
                          "process_max_fds",
                          "process_virtual_memory_bytes",
                          "process_resident_memory_bytes",
                          "process_start_time_seconds",
                          "process_threads"};
  for (std::size_t i = 0; i < std::size(gauges); ++i) {
    CAPTURE(i);
    CHECK(families[i + 1].name == gauges[i]);
    CHECK(families[i + 1].type == prometheus::MetricType::Gauge);
    CHECK(families[i + 1].metric.size() == 1);
    CHECK(families[i + 1].help.find_first_of("\\\n") == std::string::npos);
  }
  CHECK(families[6].metric[0].gauge.value == doctest::Approx(3));
}

TEST_CASE("read_process_stats reads this process's /proc plausibly") {
  const auto s = read_process_stats();
  REQUIRE(s.has_value());
  CHECK(s->resident_memory_bytes > 0);
  CHECK(s->virtual_memory_bytes >= s->resident_memory_bytes);
  CHECK(s->open_fds > 0);
  CHECK(s->max_fds > s->open_fds);
  CHECK(s->threads >= 1);
  CHECK(s->cpu_seconds >= 0);
  // Started after 2020-01-01 and not in the future (allowing the clock tick rounding).
  CHECK(s->start_time_seconds > 1577836800.0);
  CHECK(s->start_time_seconds <= static_cast<double>(time(nullptr)) + 2);
}

TEST_CASE("read_process_stats fails with the file name when /proc is missing") {
  const auto s = read_process_stats("/nonexistent-proc");
  REQUIRE(s.has_error());
  CHECK(s.error().message.find("/nonexistent-proc/self/stat") != std::string::npos);
}

TEST_CASE("ProcessCollector returns the families, or none when /proc cannot be read") {
  CHECK(ProcessCollector().Collect().size() == 7);
  CHECK(ProcessCollector("/nonexistent-proc").Collect().empty());
}
