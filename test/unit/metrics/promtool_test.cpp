// Lints the exposition with `promtool check metrics` (Debian package `prometheus`). Not skipped
// when promtool is missing: CI installs it, and a silently skipped lint would prove nothing.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "metrics/metrics.hpp"

using namespace k8sinpod;
using namespace std::chrono_literals;

namespace {

std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const auto candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

std::filesystem::path make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "k8sinpod-promtool-XXXXXX");
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

}  // namespace

TEST_CASE("promtool check metrics accepts render() without warnings") {
  const auto promtool = find_in_path("promtool");
  REQUIRE_MESSAGE(!promtool.empty(), "promtool not found in PATH (apt-get install prometheus)");

  metrics::Metrics m("0.1.0", "abc123", "3.0.0");
  core::State s;
  s.phase = core::Phase::ready;
  s.counters.probes_ok = 3;
  s.counters.probes_failed = 1;
  s.counters.creations_ok = 1;
  s.last_probe_success = core::TimePoint{} + 1700000000s;
  m.publish(s, core::Policy{});
  m.observe_probe(12ms);
  m.observe_create(95s);

  const auto dir = make_temp_dir();
  const auto input = dir / "metrics.prom";
  const auto output = dir / "promtool.out";
  {
    std::ofstream f(input);
    f << m.render();
  }
  const std::string command = "'" + promtool + "' check metrics < '" + input.string() + "' > '" +
                              output.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream out(output);
  std::stringstream text;
  text << out.rdbuf();
  std::filesystem::remove_all(dir);

  INFO("promtool output: " << text.str());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(text.str().empty());
}
