#include "config/reload.hpp"

#include <array>

namespace k8sinpod::config {
namespace {

using Changed = bool (*)(const Config&, const Config&);

struct Rule {
  std::string_view key;
  Applies applies;
  Changed changed;
};

// One row per key of known_keys(), in its order. The reasons for each category are in
// docs/configuration.md ("Reload").
constexpr std::array<Rule, 34> kRules = {{
    {"cluster.name", Applies::restart,
     [](const Config& a, const Config& b) { return a.cluster.name != b.cluster.name; }},
    {"cluster.kind_config", Applies::restart,
     [](const Config& a, const Config& b) {
       return a.cluster.kind_config != b.cluster.kind_config;
     }},
    {"cluster.image", Applies::restart,
     [](const Config& a, const Config& b) { return a.cluster.image != b.cluster.image; }},
    {"cluster.create_timeout", Applies::live,
     [](const Config& a, const Config& b) {
       return a.cluster.create_timeout != b.cluster.create_timeout;
     }},
    {"cluster.delete_on_shutdown", Applies::live,
     [](const Config& a, const Config& b) {
       return a.cluster.delete_on_shutdown != b.cluster.delete_on_shutdown;
     }},
    {"kubeconfig.path", Applies::restart,
     [](const Config& a, const Config& b) { return a.kubeconfig.path != b.kubeconfig.path; }},
    {"kubeconfig.copies", Applies::live,
     [](const Config& a, const Config& b) { return a.kubeconfig.copies != b.kubeconfig.copies; }},
    {"health.interval", Applies::live,
     [](const Config& a, const Config& b) { return a.health.interval != b.health.interval; }},
    {"health.timeout", Applies::live,
     [](const Config& a, const Config& b) { return a.health.timeout != b.health.timeout; }},
    {"health.failure_threshold", Applies::live,
     [](const Config& a, const Config& b) {
       return a.health.failure_threshold != b.health.failure_threshold;
     }},
    {"remediation.on_ip_change", Applies::live,
     [](const Config& a, const Config& b) {
       return a.remediation.on_ip_change != b.remediation.on_ip_change;
     }},
    {"remediation.recreate_after", Applies::live,
     [](const Config& a, const Config& b) {
       return a.remediation.recreate_after != b.remediation.recreate_after;
     }},
    {"remediation.restart_grace", Applies::live,
     [](const Config& a, const Config& b) {
       return a.remediation.restart_grace != b.remediation.restart_grace;
     }},
    {"remediation.backoff_initial", Applies::live,
     [](const Config& a, const Config& b) {
       return a.remediation.backoff_initial != b.remediation.backoff_initial;
     }},
    {"remediation.backoff_max", Applies::live,
     [](const Config& a, const Config& b) {
       return a.remediation.backoff_max != b.remediation.backoff_max;
     }},
    {"remediation.backoff_reset", Applies::live,
     [](const Config& a, const Config& b) {
       return a.remediation.backoff_reset != b.remediation.backoff_reset;
     }},
    {"remediation.max_recreates", Applies::live,
     [](const Config& a, const Config& b) {
       return a.remediation.max_recreates != b.remediation.max_recreates;
     }},
    {"remediation.window", Applies::live,
     [](const Config& a, const Config& b) { return a.remediation.window != b.remediation.window; }},
    // The value in force, wherever it came from: DOCKER_HOST and the file may name the same host.
    {"docker.host", Applies::restart,
     [](const Config& a, const Config& b) { return a.docker.host != b.docker.host; }},
    {"docker.network", Applies::restart,
     [](const Config& a, const Config& b) { return a.docker.network != b.docker.network; }},
    {"tools.kind", Applies::restart,
     [](const Config& a, const Config& b) { return a.tools.kind != b.tools.kind; }},
    // The parsed address, not the text: "localhost:09090" and "localhost:9090" bind the same.
    {"server.listen", Applies::rebind,
     [](const Config& a, const Config& b) {
       return a.server.host != b.server.host || a.server.port != b.server.port;
     }},
    // Paths, not contents: the files are read when the listener opens, so a rotated certificate
    // needs a rebind (change a key) or a restart.
    {"server.tls.cert_file", Applies::rebind,
     [](const Config& a, const Config& b) {
       return a.server.tls.cert_file != b.server.tls.cert_file;
     }},
    {"server.tls.key_file", Applies::rebind,
     [](const Config& a, const Config& b) {
       return a.server.tls.key_file != b.server.tls.key_file;
     }},
    {"server.tls.client_ca_file", Applies::rebind,
     [](const Config& a, const Config& b) {
       return a.server.tls.client_ca_file != b.server.tls.client_ca_file;
     }},
    {"server.basic_auth_users", Applies::rebind,
     [](const Config& a, const Config& b) {
       return a.server.basic_auth_users != b.server.basic_auth_users;
     }},
    {"server.max_connections", Applies::rebind,
     [](const Config& a, const Config& b) {
       return a.server.max_connections != b.server.max_connections;
     }},
    {"server.max_requests_per_connection_per_second", Applies::rebind,
     [](const Config& a, const Config& b) {
       return a.server.max_requests_per_connection_per_second !=
              b.server.max_requests_per_connection_per_second;
     }},
    {"server.max_cpu_percent", Applies::rebind,
     [](const Config& a, const Config& b) {
       return a.server.max_cpu_percent != b.server.max_cpu_percent;
     }},
    {"log.level", Applies::live,
     [](const Config& a, const Config& b) { return a.log.level != b.log.level; }},
    {"log.format", Applies::live,
     [](const Config& a, const Config& b) { return a.log.format != b.log.format; }},
    {"log.file", Applies::restart,
     [](const Config& a, const Config& b) { return a.log.file != b.log.file; }},
    {"log.max_size", Applies::restart,
     [](const Config& a, const Config& b) { return a.log.max_size != b.log.max_size; }},
    {"log.max_files", Applies::restart,
     [](const Config& a, const Config& b) { return a.log.max_files != b.log.max_files; }},
}};

}  // namespace

std::string to_string(Applies applies) {
  switch (applies) {
    case Applies::live:
      return "live";
    case Applies::rebind:
      return "rebind";
    case Applies::restart:
      return "restart";
  }
  return "unknown";
}

std::optional<Applies> applies(std::string_view key) {
  for (const Rule& rule : kRules) {
    if (rule.key == key) return rule.applies;
  }
  return std::nullopt;
}

ReloadPlan diff(const Config& old, const Config& next) {
  ReloadPlan plan;
  for (const Rule& rule : kRules) {
    if (!rule.changed(old, next)) continue;
    plan.any_change = true;
    switch (rule.applies) {
      case Applies::live:
        plan.live.emplace_back(rule.key);
        break;
      case Applies::rebind:
        plan.rebind_listener = true;
        break;
      case Applies::restart:
        plan.restart_required.emplace_back(rule.key);
        break;
    }
  }
  return plan;
}

std::uint64_t content_hash(std::string_view text) {
  constexpr std::uint64_t kOffsetBasis = 14695981039346656037ULL;
  constexpr std::uint64_t kPrime = 1099511628211ULL;
  std::uint64_t hash = kOffsetBasis;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kPrime;
  }
  return hash;
}

}  // namespace k8sinpod::config
