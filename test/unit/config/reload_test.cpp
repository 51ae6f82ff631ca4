#include "config/reload.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace k8sinpod::config;
using namespace std::chrono_literals;

namespace {

/// One key, how to change it, and the category this test expects; written out here rather than
/// derived from the code under test.
struct Row {
  std::string key;
  std::function<void(Config&)> change;
  Applies expected;
};

std::vector<Row> rows() {
  using O = RemediationConfig::OnIpChange;
  return {
      {"cluster.name", [](Config& c) { c.cluster.name = "other"; }, Applies::restart},
      {"cluster.kind_config", [](Config& c) { c.cluster.kind_config = "/k.yaml"; },
       Applies::restart},
      {"cluster.image", [](Config& c) { c.cluster.image = "kindest/node:v1"; }, Applies::restart},
      {"cluster.create_timeout", [](Config& c) { c.cluster.create_timeout = 1min; }, Applies::live},
      {"cluster.delete_on_shutdown", [](Config& c) { c.cluster.delete_on_shutdown = true; },
       Applies::live},
      {"kubeconfig.path", [](Config& c) { c.kubeconfig.path = "/x"; }, Applies::restart},
      {"kubeconfig.copies", [](Config& c) { c.kubeconfig.copies = {"/y"}; }, Applies::live},
      {"health.interval", [](Config& c) { c.health.interval = 7s; }, Applies::live},
      {"health.timeout", [](Config& c) { c.health.timeout = 1s; }, Applies::live},
      {"health.failure_threshold", [](Config& c) { c.health.failure_threshold = 9; },
       Applies::live},
      {"remediation.on_ip_change", [](Config& c) { c.remediation.on_ip_change = O::recreate; },
       Applies::live},
      {"remediation.recreate_after", [](Config& c) { c.remediation.recreate_after = 1s; },
       Applies::live},
      {"remediation.restart_grace", [](Config& c) { c.remediation.restart_grace = 1s; },
       Applies::live},
      {"remediation.backoff_initial", [](Config& c) { c.remediation.backoff_initial = 1s; },
       Applies::live},
      {"remediation.backoff_max", [](Config& c) { c.remediation.backoff_max = 1h; }, Applies::live},
      {"remediation.backoff_reset", [](Config& c) { c.remediation.backoff_reset = 1s; },
       Applies::live},
      {"remediation.max_recreates", [](Config& c) { c.remediation.max_recreates = 1; },
       Applies::live},
      {"remediation.window", [](Config& c) { c.remediation.window = 1s; }, Applies::live},
      {"docker.host", [](Config& c) { c.docker.host = "tcp://d:2375"; }, Applies::restart},
      {"docker.network", [](Config& c) { c.docker.network = "n"; }, Applies::restart},
      {"tools.kind", [](Config& c) { c.tools.kind = "/bin/kind"; }, Applies::restart},
      {"server.listen",
       [](Config& c) {
         c.server.listen = "127.0.0.1:1";
         c.server.host = "127.0.0.1";
         c.server.port = 1;
       },
       Applies::rebind},
      {"server.tls.cert_file", [](Config& c) { c.server.tls.cert_file = "/c"; }, Applies::rebind},
      {"server.tls.key_file", [](Config& c) { c.server.tls.key_file = "/k"; }, Applies::rebind},
      {"server.tls.client_ca_file", [](Config& c) { c.server.tls.client_ca_file = "/ca"; },
       Applies::rebind},
      {"server.basic_auth_users",
       [](Config& c) {
         c.server.basic_auth_users["u"] =
             "$2b$05$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234";
       },
       Applies::rebind},
      {"server.max_connections", [](Config& c) { c.server.max_connections = 200; },
       Applies::rebind},
      {"server.max_requests_per_connection_per_second",
       [](Config& c) { c.server.max_requests_per_connection_per_second = 0; }, Applies::rebind},
      {"server.max_cpu_percent", [](Config& c) { c.server.max_cpu_percent = 0; }, Applies::rebind},
      {"log.level", [](Config& c) { c.log.level = LogLevel::debug; }, Applies::live},
      {"log.format", [](Config& c) { c.log.format = LogFormat::json; }, Applies::live},
      {"log.file", [](Config& c) { c.log.file = "/l"; }, Applies::restart},
      {"log.max_size", [](Config& c) { c.log.max_size = 1; }, Applies::restart},
      {"log.max_files", [](Config& c) { c.log.max_files = 1; }, Applies::restart},
  };
}

/// The plan for a change of exactly `key`, as this test expects it.
ReloadPlan expected_plan(const std::string& key, Applies applies) {
  ReloadPlan plan;
  plan.any_change = true;
  switch (applies) {
    case Applies::live:
      plan.live = {key};
      break;
    case Applies::rebind:
      plan.rebind_listener = true;
      break;
    case Applies::restart:
      plan.restart_required = {key};
      break;
  }
  return plan;
}

std::string describe(const ReloadPlan& p) {
  std::string out = "any_change=" + std::to_string(p.any_change) + " live=[";
  for (const auto& k : p.live) out += k + " ";
  out += "] rebind=" + std::to_string(p.rebind_listener) + " restart=[";
  for (const auto& k : p.restart_required) out += k + " ";
  return out + "]";
}

}  // namespace

TEST_CASE("the table covers every key the parser knows, in its order") {
  std::vector<std::string> keys;
  for (const Row& row : rows()) keys.push_back(row.key);
  CHECK(keys == known_keys());
}

TEST_CASE("diff puts a change of each key in its category, and only there") {
  for (const Row& row : rows()) {
    CAPTURE(row.key);
    const Config old;
    Config next;
    row.change(next);
    REQUIRE_FALSE(old == next);  // the change really changes something
    const ReloadPlan plan = diff(old, next);
    INFO(describe(plan));
    CHECK(plan == expected_plan(row.key, row.expected));
    CHECK(applies(row.key) == row.expected);
    // Back again is the same category.
    CHECK(diff(next, old) == expected_plan(row.key, row.expected));
  }
}

TEST_CASE("diff of equal configs is empty") {
  CHECK(diff(Config{}, Config{}) == ReloadPlan{});
  Config a;
  a.health.interval = 9s;
  a.kubeconfig.copies = {"/a", "/b"};
  CHECK_FALSE(diff(a, a).any_change);
}

TEST_CASE("diff collects several changes in key order") {
  Config next;
  next.log.level = LogLevel::error;  // live
  next.cluster.image = "img";        // restart
  next.health.timeout = 1s;          // live
  next.tools.kind = "/k";            // restart
  next.cluster.name = "n";           // restart
  next.server.port = 8080;           // rebind
  next.docker.network = "x";         // restart
  const ReloadPlan plan = diff(Config{}, next);
  CHECK(plan.any_change);
  CHECK(plan.live == std::vector<std::string>{"health.timeout", "log.level"});
  CHECK(plan.rebind_listener);
  CHECK(plan.restart_required ==
        std::vector<std::string>{"cluster.name", "cluster.image", "docker.network", "tools.kind"});
}

TEST_CASE("diff ignores where docker.host came from and how server.listen is spelled") {
  Config from_env;
  from_env.docker.host_from_env = true;  // same host, read from DOCKER_HOST this time
  CHECK(diff(Config{}, from_env) == ReloadPlan{});

  Config respelled;
  respelled.server.listen = "0.0.0.0:09090";  // same host and port
  CHECK(diff(Config{}, respelled) == ReloadPlan{});

  Config other_host;
  other_host.server.listen = "127.0.0.1:9090";
  other_host.server.host = "127.0.0.1";
  CHECK(diff(Config{}, other_host).rebind_listener);
}

TEST_CASE("applies knows nothing but the keys") {
  CHECK_FALSE(applies("cluster").has_value());
  CHECK_FALSE(applies("docker.host_from_env").has_value());
  CHECK_FALSE(applies("").has_value());
  CHECK(to_string(Applies::live) == "live");
  CHECK(to_string(Applies::rebind) == "rebind");
  CHECK(to_string(Applies::restart) == "restart");
}

TEST_CASE("docs/configuration.md states the same category for every key") {
  std::ifstream in(std::string(K8SINPOD_SOURCE_DIR) + "/docs/configuration.md");
  REQUIRE(in.good());
  // Rows of the key table: | `key` | type | default | rules | applies |
  std::map<std::string, std::string> documented;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("| `")) continue;
    std::vector<std::string> cells;
    std::stringstream cells_in(line.substr(1));
    std::string cell;
    while (std::getline(cells_in, cell, '|')) {
      const auto first = cell.find_first_not_of(' ');
      const auto last = cell.find_last_not_of(' ');
      cells.push_back(first == std::string::npos ? "" : cell.substr(first, last - first + 1));
    }
    if (cells.size() < 5 || cells[0].size() < 3) continue;
    documented[cells[0].substr(1, cells[0].size() - 2)] = cells.back();
  }
  for (const std::string& key : known_keys()) {
    CAPTURE(key);
    REQUIRE(documented.count(key) == 1);
    const auto category = applies(key);
    REQUIRE(category.has_value());
    CHECK(documented[key] == to_string(*category));
  }
  CHECK(documented.size() == known_keys().size());
}

TEST_CASE("content_hash is 64-bit FNV-1a") {
  // Reference values of FNV-1a 64 (Fowler/Noll/Vo test vectors).
  CHECK(content_hash("") == 0xcbf29ce484222325ULL);
  CHECK(content_hash("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(content_hash("foobar") == 0x85944171f73967e8ULL);
}

TEST_CASE("content_hash sees any change of content, and only that") {
  const std::string text = "health:\n  interval: 5s\n";
  CHECK(content_hash(text) == content_hash(std::string(text)));
  CHECK(content_hash(text) != content_hash("health:\n  interval: 6s\n"));
  CHECK(content_hash(text) != content_hash(text + "\n"));  // trailing newline
  CHECK(content_hash(text) != content_hash("health:\n  interval: 5s"));
  CHECK(content_hash(std::string_view("a\0b", 3)) != content_hash(std::string_view("a\0c", 3)));
  CHECK(content_hash("ab") != content_hash("ba"));
}
