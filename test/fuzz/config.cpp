// Fuzz target `config`: the YAML loader and validator, the reload diff, and the duration and
// byte-size parsers, on arbitrary text. Input: a config file. A first line `#env VALUE` (a YAML
// comment, so the file stays valid) also passes VALUE as DOCKER_HOST.
#include "config/config.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config/duration.hpp"
#include "config/reload.hpp"
#include "config/size.hpp"
#include "fuzz.hpp"

using namespace k8sinpod;
using fuzz::require;

namespace {

constexpr std::string_view kEnvPrefix = "#env ";

std::optional<std::string> docker_host_env(std::string_view text) {
  if (text.substr(0, kEnvPrefix.size()) != kEnvPrefix) return std::nullopt;
  text.remove_prefix(kEnvPrefix.size());
  return std::string(text.substr(0, text.find('\n')));
}

// What validation promises about every accepted config (config.hpp, docs/configuration.md).
void check_valid(const config::Config& c) {
  require(!c.cluster.name.empty() && c.cluster.name.size() <= 50, "cluster.name is a label");
  require(c.cluster.create_timeout.count() > 0, "cluster.create_timeout > 0");
  require(!c.kubeconfig.path.empty() && c.kubeconfig.path.front() == '/',
          "kubeconfig.path is absolute");
  require(c.health.interval.count() > 0, "health.interval > 0");
  require(c.health.timeout.count() > 0, "health.timeout > 0");
  require(c.health.timeout <= c.health.interval, "health.timeout <= health.interval");
  require(c.health.failure_threshold >= 1, "health.failure_threshold >= 1");
  require(c.log.max_size > 0, "log.max_size > 0");
  require(c.log.max_files >= 1 && c.log.max_files <= 1000, "log.max_files in 1..1000");
  const auto& r = c.remediation;
  require(r.recreate_after.count() > 0 && r.restart_grace.count() > 0 &&
              r.backoff_initial.count() > 0 && r.backoff_max.count() > 0 &&
              r.backoff_reset.count() > 0 && r.window.count() > 0,
          "remediation durations > 0");
  require(r.backoff_max >= r.backoff_initial, "remediation.backoff_max >= backoff_initial");
  require(r.max_recreates >= 1, "remediation.max_recreates >= 1");
}

void check_plan(const config::ReloadPlan& plan) {
  for (const auto& key : plan.live) {
    require(config::applies(key) == config::Applies::live, "diff: a live key applies live");
  }
  for (const auto& key : plan.restart_required) {
    require(config::applies(key) == config::Applies::restart,
            "diff: a restart key applies at restart");
  }
  require(plan.any_change ||
              (plan.live.empty() && plan.restart_required.empty() && !plan.rebind_listener),
          "diff: no change means an empty plan");
}

void fuzz_parse(std::string_view text) {
  const auto result = config::parse(text, "fuzz.yaml", docker_host_env(text));
  require(result.config.has_value() == result.diagnostics.empty(),
          "parse: config set iff no diagnostics");
  for (std::size_t i = 0; i < result.diagnostics.size(); ++i) {
    const auto& d = result.diagnostics[i];
    require(!d.message.empty() && !d.to_string().empty(), "parse: a diagnostic says something");
    require(d.line >= 0 && d.column >= 0, "parse: positions are not negative");
    if (i == 0) continue;
    const auto& prev = result.diagnostics[i - 1];
    const bool in_order = d.line == 0 || (prev.line != 0 && std::pair(prev.line, prev.column) <=
                                                                std::pair(d.line, d.column));
    require(in_order, "parse: diagnostics sorted by position, unpositioned last");
  }
  if (!result.config) return;
  const config::Config& cfg = *result.config;
  check_valid(cfg);
  check_plan(config::diff(config::Config{}, cfg));
  check_plan(config::diff(cfg, config::Config{}));
  require(!config::diff(cfg, cfg).any_change, "diff: a config does not differ from itself");
}

void fuzz_scalars(std::string_view text) {
  if (const auto d = config::parse_duration(text)) {
    require(d->count() >= 0, "parse_duration: not negative");
    require(config::parse_duration(config::format_duration(*d)) == d,
            "parse_duration(format_duration(d)) == d");
  }
  if (const auto n = config::parse_byte_size(text); n.has_value()) {
    const auto again = config::parse_byte_size(std::to_string(*n));
    require(again.has_value() && *again == *n, "parse_byte_size: the plain number parses back");
  }
  static_cast<void>(config::applies(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  fuzz_parse(text);
  fuzz_scalars(text);
  return 0;
}
