#include "config/config.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

using namespace k8sinpod::config;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kFile = "k8sinpod.yaml";

LoadResult parse_text(std::string_view text,
                      std::optional<std::string> docker_host = std::nullopt) {
  return parse(text, kFile, std::move(docker_host));
}

std::vector<std::string> rendered(const LoadResult& result) {
  std::vector<std::string> out;
  for (const Diagnostic& d : result.diagnostics) out.push_back(d.to_string());
  return out;
}

std::string joined(const LoadResult& result) {
  std::string out;
  for (const std::string& line : rendered(result)) out += line + "\n";
  return out;
}

/// The only diagnostic of `text`, rendered; fails the test when there are 0 or several.
std::string only_error(std::string_view text) {
  const LoadResult result = parse_text(text);
  CHECK_FALSE(result.config.has_value());
  REQUIRE(result.diagnostics.size() == 1);
  return result.diagnostics.front().to_string();
}

Config parsed(std::string_view text) {
  const LoadResult result = parse_text(text);
  INFO(joined(result));
  REQUIRE(result.diagnostics.empty());
  REQUIRE(result.config.has_value());
  return *result.config;
}

}  // namespace

TEST_CASE("a default Config holds the documented defaults") {
  const Config c;
  CHECK(c.cluster.name == "k8s-in-pod");
  CHECK(c.cluster.kind_config.empty());
  CHECK(c.cluster.image.empty());
  CHECK(c.cluster.create_timeout == 10min);
  CHECK_FALSE(c.cluster.delete_on_shutdown);
  CHECK(c.kubeconfig.path == "/var/lib/k8sinpod/kubeconfig");
  CHECK(c.kubeconfig.copies.empty());
  CHECK(c.health.interval == 5s);
  CHECK(c.health.timeout == 2s);
  CHECK(c.health.failure_threshold == 3);
  CHECK(c.docker.host == "unix:///var/run/docker.sock");
  CHECK(c.docker.network == "kind");
  CHECK_FALSE(c.docker.host_from_env);
  CHECK(c.tools.kind == "kind");
  CHECK(c.server.listen == "0.0.0.0:9090");
  CHECK(c.server.host == "0.0.0.0");
  CHECK(c.server.port == 9090);
  CHECK(c.server.max_connections == 64);
  CHECK(c.server.max_requests_per_connection_per_second == 100);
  CHECK(c.server.max_cpu_percent == 10);
  CHECK(c.log.level == LogLevel::info);
  CHECK(c.log.format == LogFormat::text);
  CHECK(c.log.file.empty());
  CHECK(c.log.max_size == 10 * 1024 * 1024);
  CHECK(c.log.max_files == 5);
  CHECK(c.remediation.on_ip_change == RemediationConfig::OnIpChange::repatch);
  CHECK(c.remediation.recreate_after == 60s);
  CHECK(c.remediation.restart_grace == 30s);
  CHECK(c.remediation.backoff_initial == 10s);
  CHECK(c.remediation.backoff_max == 5min);
  CHECK(c.remediation.backoff_reset == 10min);
  CHECK(c.remediation.max_recreates == 5);
  CHECK(c.remediation.window == 1h);
}

TEST_CASE("an empty document, {} and null sections give the defaults") {
  for (const std::string_view text :
       {"", "\n", "# only a comment\n", "{}", "---\n", "cluster:\nhealth: ~\nlog: null\n",
        "cluster:\n  name:\n  create_timeout: ~\nkubeconfig:\n  copies:\n", "remediation:\n",
        "remediation:\n  on_ip_change:\n  window: ~\n",
        "cluster:\n  delete_on_shutdown: null\nlog:\n  file:\n  max_size: ~\n  max_files:\n"}) {
    CAPTURE(text);
    CHECK(parsed(text) == Config{});
  }
}

TEST_CASE("every key is read") {
  const Config c = parsed(R"(cluster:
  name: ci-1
  kind_config: /etc/k8sinpod/kind.yaml
  image: kindest/node:v1.29.2
  create_timeout: 15m
  delete_on_shutdown: true
kubeconfig:
  path: /out/kubeconfig
  copies: [/a/kubeconfig, /b/kubeconfig]
health:
  interval: 10s
  timeout: 1500ms
  failure_threshold: 5
remediation:
  on_ip_change: recreate
  recreate_after: 2m
  restart_grace: 45s
  backoff_initial: 1s
  backoff_max: 1s
  backoff_reset: 30m
  max_recreates: 1
  window: 2h
docker:
  host: tcp://docker:2375
  network: ci
tools:
  kind: /usr/local/bin/kind
server:
  listen: "[::1]:0"
  max_connections: 200
  max_requests_per_connection_per_second: 0
  max_cpu_percent: 0
log:
  level: debug
  format: json
  file: /var/log/k8sinpod/k8sinpodd.log
  max_size: 512KiB
  max_files: 1000
)");
  CHECK(c.cluster.name == "ci-1");
  CHECK(c.cluster.kind_config == "/etc/k8sinpod/kind.yaml");
  CHECK(c.cluster.image == "kindest/node:v1.29.2");
  CHECK(c.cluster.create_timeout == 15min);
  CHECK(c.cluster.delete_on_shutdown);
  CHECK(c.kubeconfig.path == "/out/kubeconfig");
  CHECK(c.kubeconfig.copies == std::vector<std::string>{"/a/kubeconfig", "/b/kubeconfig"});
  CHECK(c.health.interval == 10s);
  CHECK(c.health.timeout == 1500ms);
  CHECK(c.health.failure_threshold == 5);
  CHECK(c.docker.host == "tcp://docker:2375");
  CHECK(c.docker.network == "ci");
  CHECK_FALSE(c.docker.host_from_env);
  CHECK(c.tools.kind == "/usr/local/bin/kind");
  CHECK(c.server.listen == "[::1]:0");
  CHECK(c.server.host == "::1");
  CHECK(c.server.port == 0);
  CHECK(c.server.max_connections == 200);
  CHECK(c.server.max_requests_per_connection_per_second == 0);  // unlimited
  CHECK(c.server.max_cpu_percent == 0);                         // unlimited
  CHECK(c.log.level == LogLevel::debug);
  CHECK(c.log.format == LogFormat::json);
  CHECK(c.log.file == "/var/log/k8sinpod/k8sinpodd.log");
  CHECK(c.log.max_size == 512 * 1024);
  CHECK(c.log.max_files == 1000);
  CHECK(c.remediation.on_ip_change == RemediationConfig::OnIpChange::recreate);
  CHECK(c.remediation.recreate_after == 2min);
  CHECK(c.remediation.restart_grace == 45s);
  CHECK(c.remediation.backoff_initial == 1s);
  CHECK(c.remediation.backoff_max == 1s);  // equal to backoff_initial is allowed
  CHECK(c.remediation.backoff_reset == 30min);
  CHECK(c.remediation.max_recreates == 1);
  CHECK(c.remediation.window == 2h);
}

TEST_CASE("new keys: edge values and spellings that are accepted") {
  CHECK_FALSE(parsed("cluster:\n  delete_on_shutdown: false\n").cluster.delete_on_shutdown);
  CHECK(parsed("cluster:\n  delete_on_shutdown: \"true\"\n").cluster.delete_on_shutdown);
  CHECK(parsed("log:\n  file: \"\"\n").log.file.empty());
  CHECK(parsed("log:\n  max_size: 1\n").log.max_size == 1);
  CHECK(parsed("log:\n  max_size: 4096B\n").log.max_size == 4096);
  CHECK(parsed("log:\n  max_size: 10MiB\n").log.max_size == 10 * 1024 * 1024);
  CHECK(parsed("log:\n  max_size: 1GiB\n").log.max_size == 1024 * 1024 * 1024);
  CHECK(parsed("log:\n  max_size: 16GiB\n").log.max_size == std::uint64_t{16} << 30);
  CHECK(parsed("log:\n  max_files: 1\n").log.max_files == 1);
  CHECK(parsed("server:\n  max_connections: 1\n").server.max_connections == 1);
  CHECK(parsed("server:\n  max_connections: 10000\n").server.max_connections == 10000);
  CHECK(parsed("server:\n  max_requests_per_connection_per_second: 1\n")
            .server.max_requests_per_connection_per_second == 1);
  CHECK(parsed("server:\n  max_cpu_percent: 5\n").server.max_cpu_percent == 5);
  CHECK(parsed("server:\n  max_cpu_percent: 100\n").server.max_cpu_percent == 100);
  CHECK(parsed("remediation:\n  on_ip_change: repatch\n").remediation.on_ip_change ==
        RemediationConfig::OnIpChange::repatch);
  CHECK(parsed("remediation:\n  backoff_initial: 5m\n").remediation.backoff_initial == 5min);
  CHECK(parsed("remediation:\n  backoff_max: 10s\n").remediation.backoff_max == 10s);
  CHECK(parsed("remediation:\n  max_recreates: +3\n").remediation.max_recreates == 3);
  CHECK(parsed("remediation:\n  window: 1ms\n").remediation.window == 1ms);
  CHECK(to_string(RemediationConfig::OnIpChange::repatch) == "repatch");
  CHECK(to_string(RemediationConfig::OnIpChange::recreate) == "recreate");
}

TEST_CASE("valid edge values are accepted") {
  CHECK(parsed("cluster:\n  name: a\n").cluster.name == "a");
  CHECK(parsed("cluster:\n  name: 0-a-9\n").cluster.name == "0-a-9");
  CHECK(parsed("cluster:\n  name: " + std::string(50, 'x') + "\n").cluster.name ==
        std::string(50, 'x'));
  CHECK(parsed("health:\n  failure_threshold: 1\n").health.failure_threshold == 1);
  CHECK(parsed("health:\n  failure_threshold: +7\n").health.failure_threshold == 7);
  CHECK(parsed("health:\n  timeout: 5s\n").health.timeout == 5s);  // equal to the interval
  CHECK(parsed("docker:\n  host: unix:///run/docker.sock\n").docker.host ==
        "unix:///run/docker.sock");
  CHECK(parsed("docker:\n  host: tcp://[fd00::1]:2376\n").docker.host == "tcp://[fd00::1]:2376");
  const Config listen = parsed("server:\n  listen: 127.0.0.1:65535\n");
  CHECK(listen.server.host == "127.0.0.1");
  CHECK(listen.server.port == 65535);
  CHECK(parsed("server:\n  listen: localhost:8080\n").server.host == "localhost");
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    CHECK(to_string(parsed(std::string("log:\n  level: ") + level + "\n").log.level) == level);
  }
  CHECK(to_string(LogFormat::json) == "json");
  CHECK(to_string(LogFormat::text) == "text");
}

TEST_CASE("each invalid value is reported at its position") {
  struct Row {
    std::string_view yaml;
    std::string_view expected;
  };
  const Row rows[] = {
      // cluster.name
      {"cluster:\n  name: Foo\n",
       "k8sinpod.yaml:2:9: cluster.name: \"Foo\" is not a valid cluster name: character 'F' at "
       "position 1 is not a lower-case letter, digit or '-' (a DNS-1123 label: lower-case "
       "letters, digits and '-', starting and ending with a letter or digit, at most 50 "
       "characters)"},
      {"cluster:\n  name: ''\n",
       "k8sinpod.yaml:2:9: cluster.name: \"\" is not a valid cluster "
       "name: it is empty (a DNS-1123 label: lower-case letters, digits "
       "and '-', starting and ending with a letter or digit, at most 50 "
       "characters)"},
      // durations
      {"cluster:\n  create_timeout: 10\n",
       "k8sinpod.yaml:2:19: cluster.create_timeout: \"10\" is not a valid duration: missing unit, "
       "e.g. 10s"},
      {"health:\n  interval: -5s\n",
       "k8sinpod.yaml:2:13: health.interval: \"-5s\" is not a valid duration: must not be "
       "negative"},
      {"health:\n  interval: 5 seconds\n",
       "k8sinpod.yaml:2:13: health.interval: \"5 seconds\" is not a valid duration: expected a "
       "number and unit such as 500ms, 5s, 10m or 1h30m, in whole milliseconds"},
      {"health:\n  timeout: 0s\n",
       "k8sinpod.yaml:2:12: health.timeout: must be greater than 0, got \"0s\""},
      {"cluster:\n  create_timeout: 0\n",
       "k8sinpod.yaml:2:19: cluster.create_timeout: must be greater than 0, got \"0\""},
      {"health:\n  interval: 1s\n  timeout: 2s\n",
       "k8sinpod.yaml:3:12: health.timeout: 2s must not exceed health.interval (1s)"},
      {"health:\n  interval: 1s\n",  // the default timeout (2s) exceeds it: point at interval
       "k8sinpod.yaml:2:13: health.timeout: 2s must not exceed health.interval (1s)"},
      // failure_threshold: never silently defaulted
      {"health:\n  failure_threshold: abc\n",
       "k8sinpod.yaml:2:22: health.failure_threshold: \"abc\" is not an integer"},
      {"health:\n  failure_threshold: 3.5\n",
       "k8sinpod.yaml:2:22: health.failure_threshold: \"3.5\" is not an integer"},
      {"health:\n  failure_threshold: 0x10\n",
       "k8sinpod.yaml:2:22: health.failure_threshold: \"0x10\" is not an integer"},
      {"health:\n  failure_threshold: 0\n",
       "k8sinpod.yaml:2:22: health.failure_threshold: must be at least 1, got 0"},
      {"health:\n  failure_threshold: -2\n",
       "k8sinpod.yaml:2:22: health.failure_threshold: must be at least 1, got -2"},
      {"health:\n  failure_threshold: 99999999999\n",
       "k8sinpod.yaml:2:22: health.failure_threshold: \"99999999999\" is out of range"},
      // kubeconfig paths
      {"kubeconfig:\n  path: kubeconfig\n",
       "k8sinpod.yaml:2:9: kubeconfig.path: \"kubeconfig\": it is not an absolute path"},
      {"kubeconfig:\n  path: /var/lib/\n",
       "k8sinpod.yaml:2:9: kubeconfig.path: \"/var/lib/\": it names a directory, not a file"},
      {"kubeconfig:\n  copies:\n    - /a\n    - b\n",
       "k8sinpod.yaml:4:7: kubeconfig.copies[1]: \"b\": it is not an absolute path"},
      {"kubeconfig:\n  copies: [/a, /b, /a]\n",
       "k8sinpod.yaml:2:20: kubeconfig.copies[2]: \"/a\" duplicates kubeconfig.copies[0]"},
      {"kubeconfig:\n  copies: [/a, //a]\n",
       "k8sinpod.yaml:2:16: kubeconfig.copies[1]: \"//a\" duplicates kubeconfig.copies[0]"},
      {"kubeconfig:\n  path: /k\n  copies: [/x/../k]\n",
       "k8sinpod.yaml:3:12: kubeconfig.copies[0]: \"/x/../k\" is the same file as kubeconfig.path"},
      {"kubeconfig:\n  copies: [/var/lib/k8sinpod/kubeconfig]\n",
       "k8sinpod.yaml:2:12: kubeconfig.copies[0]: \"/var/lib/k8sinpod/kubeconfig\" is the same "
       "file as kubeconfig.path"},
      // docker
      {"docker:\n  host: /var/run/docker.sock\n",
       "k8sinpod.yaml:2:9: docker.host: \"/var/run/docker.sock\" is not a docker host: must start "
       "with unix:// or tcp://"},
      {"docker:\n  host: unix://\n",
       "k8sinpod.yaml:2:9: docker.host: \"unix://\" is not a docker host: unix:// must be followed "
       "by an absolute socket path"},
      {"docker:\n  host: unix://docker.sock\n",
       "k8sinpod.yaml:2:9: docker.host: \"unix://docker.sock\" is not a docker host: unix:// must "
       "be followed by an absolute socket path"},
      {"docker:\n  host: tcp://docker\n",
       "k8sinpod.yaml:2:9: docker.host: \"tcp://docker\" is not a docker host: missing ':port'"},
      {"docker:\n  host: tcp://docker:0\n",
       "k8sinpod.yaml:2:9: docker.host: \"tcp://docker:0\" is not a docker host: port 0 cannot be "
       "connected to"},
      {"docker:\n  network: ''\n", "k8sinpod.yaml:2:12: docker.network: must not be empty"},
      {"tools:\n  kind: \"\"\n", "k8sinpod.yaml:2:9: tools.kind: must not be empty"},
      // server.listen
      {"server:\n  listen: 0.0.0.0:abc\n",
       "k8sinpod.yaml:2:11: server.listen: \"0.0.0.0:abc\" is not host:port: port \"abc\" is not "
       "a number"},
      {"server:\n  listen: 0.0.0.0:65536\n",
       "k8sinpod.yaml:2:11: server.listen: \"0.0.0.0:65536\" is not host:port: port 65536 is out "
       "of range 0..65535"},
      {"server:\n  listen: 0.0.0.0:-1\n",
       "k8sinpod.yaml:2:11: server.listen: \"0.0.0.0:-1\" is not host:port: port \"-1\" is not a "
       "number"},
      {"server:\n  listen: 9090\n",
       "k8sinpod.yaml:2:11: server.listen: \"9090\" is not host:port: missing ':port'"},
      {"server:\n  listen: \":9090\"\n",
       "k8sinpod.yaml:2:11: server.listen: \":9090\" is not host:port: missing host (0.0.0.0 "
       "means all interfaces)"},
      {"server:\n  listen: \"0.0.0.0:\"\n",
       "k8sinpod.yaml:2:11: server.listen: \"0.0.0.0:\" is not host:port: missing port"},
      {"server:\n  listen: ::1:9090\n",
       "k8sinpod.yaml:2:11: server.listen: \"::1:9090\" is not host:port: an IPv6 address needs "
       "brackets, e.g. [::1]:9090"},
      {"server:\n  listen: \"[nope]:9090\"\n",
       "k8sinpod.yaml:2:11: server.listen: \"[nope]:9090\" is not host:port: \"nope\" is not an "
       "IPv6 address"},
      {"server:\n  listen: \"[::1]9090\"\n",
       "k8sinpod.yaml:2:11: server.listen: \"[::1]9090\" is not host:port: missing ':port'"},
      // log
      {"log:\n  level: verbose\n",
       "k8sinpod.yaml:2:10: log.level: \"verbose\" is not one of trace, debug, info, warn, error"},
      {"log:\n  format: logfmt\n",
       "k8sinpod.yaml:2:11: log.format: \"logfmt\" is not one of text, json"},
      // cluster.delete_on_shutdown: true or false only
      {"cluster:\n  delete_on_shutdown: yes\n",
       "k8sinpod.yaml:2:23: cluster.delete_on_shutdown: \"yes\" is not a boolean: use true or "
       "false"},
      {"cluster:\n  delete_on_shutdown: on\n",
       "k8sinpod.yaml:2:23: cluster.delete_on_shutdown: \"on\" is not a boolean: use true or "
       "false"},
      {"cluster:\n  delete_on_shutdown: True\n",
       "k8sinpod.yaml:2:23: cluster.delete_on_shutdown: \"True\" is not a boolean: use true or "
       "false"},
      {"cluster:\n  delete_on_shutdown: 1\n",
       "k8sinpod.yaml:2:23: cluster.delete_on_shutdown: \"1\" is not a boolean: use true or false"},
      {"cluster:\n  delete_on_shutdown: ''\n",
       "k8sinpod.yaml:2:23: cluster.delete_on_shutdown: \"\" is not a boolean: use true or false"},
      // log.file, log.max_size, log.max_files
      {"log:\n  file: k8sinpodd.log\n",
       "k8sinpod.yaml:2:9: log.file: \"k8sinpodd.log\": it is not an absolute path"},
      {"log:\n  file: /var/log/\n",
       "k8sinpod.yaml:2:9: log.file: \"/var/log/\": it names a directory, not a file"},
      {"log:\n  max_size: 10MB\n",
       "k8sinpod.yaml:2:13: log.max_size: \"10MB\" is not a valid size: unknown unit \"MB\"; use "
       "B, KiB, MiB or GiB (powers of 1024)"},
      {"log:\n  max_size: 10M\n",
       "k8sinpod.yaml:2:13: log.max_size: \"10M\" is not a valid size: unknown unit \"M\"; use B, "
       "KiB, MiB or GiB (powers of 1024)"},
      {"log:\n  max_size: 1.5MiB\n",
       "k8sinpod.yaml:2:13: log.max_size: \"1.5MiB\" is not a valid size: fractions are not "
       "allowed, expected a whole number of bytes with an optional unit B, KiB, MiB or GiB, e.g. "
       "10MiB"},
      {"log:\n  max_size: -1MiB\n",
       "k8sinpod.yaml:2:13: log.max_size: \"-1MiB\" is not a valid size: must not be negative"},
      {"log:\n  max_size: 10 MiB\n",
       "k8sinpod.yaml:2:13: log.max_size: \"10 MiB\" is not a valid size: expected a whole number "
       "of bytes with an optional unit B, KiB, MiB or GiB, e.g. 10MiB"},
      {"log:\n  max_size: big\n",
       "k8sinpod.yaml:2:13: log.max_size: \"big\" is not a valid size: expected a whole number of "
       "bytes with an optional unit B, KiB, MiB or GiB, e.g. 10MiB"},
      {"log:\n  max_size: 0MiB\n",
       "k8sinpod.yaml:2:13: log.max_size: must be greater than 0, got \"0MiB\""},
      {"log:\n  max_size: 18446744073709551615KiB\n",
       "k8sinpod.yaml:2:13: log.max_size: \"18446744073709551615KiB\" is not a valid size: too "
       "large"},
      {"log:\n  max_files: 0\n", "k8sinpod.yaml:2:14: log.max_files: must be at least 1, got 0"},
      {"server:\n  max_connections: 0\n",
       "k8sinpod.yaml:2:20: server.max_connections: must be at least 1, got 0"},
      {"server:\n  max_connections: 10001\n",
       "k8sinpod.yaml:2:20: server.max_connections: must be at most 10000, got 10001"},
      {"server:\n  max_requests_per_connection_per_second: -1\n",
       "k8sinpod.yaml:2:43: server.max_requests_per_connection_per_second: must be at least 0, "
       "got -1"},
      {"server:\n  max_cpu_percent: -1\n",
       "k8sinpod.yaml:2:20: server.max_cpu_percent: must be at least 0, got -1"},
      {"server:\n  max_cpu_percent: 4\n",
       "k8sinpod.yaml:2:20: server.max_cpu_percent: must be 0 (unlimited) or at least 5, got 4"},
      {"server:\n  max_cpu_percent: 101\n",
       "k8sinpod.yaml:2:20: server.max_cpu_percent: must be at most 100, got 101"},
      {"server:\n  max_cpu_percent: 25%\n",
       "k8sinpod.yaml:2:20: server.max_cpu_percent: \"25%\" is not an integer"},
      {"log:\n  max_files: 1001\n",
       "k8sinpod.yaml:2:14: log.max_files: must be at most 1000, got 1001"},
      {"log:\n  max_files: five\n",
       "k8sinpod.yaml:2:14: log.max_files: \"five\" is not an integer"},
      // remediation
      {"remediation:\n  on_ip_change: ignore\n",
       "k8sinpod.yaml:2:17: remediation.on_ip_change: \"ignore\" is not one of repatch, recreate"},
      {"remediation:\n  recreate_after: 0s\n",
       "k8sinpod.yaml:2:19: remediation.recreate_after: must be greater than 0, got \"0s\""},
      {"remediation:\n  restart_grace: 30\n",
       "k8sinpod.yaml:2:18: remediation.restart_grace: \"30\" is not a valid duration: missing "
       "unit, e.g. 30s"},
      {"remediation:\n  backoff_initial: 0\n",
       "k8sinpod.yaml:2:20: remediation.backoff_initial: must be greater than 0, got \"0\""},
      {"remediation:\n  backoff_max: -5m\n",
       "k8sinpod.yaml:2:16: remediation.backoff_max: \"-5m\" is not a valid duration: must not be "
       "negative"},
      {"remediation:\n  backoff_reset: 0ms\n",
       "k8sinpod.yaml:2:18: remediation.backoff_reset: must be greater than 0, got \"0ms\""},
      {"remediation:\n  window: 1 hour\n",
       "k8sinpod.yaml:2:11: remediation.window: \"1 hour\" is not a valid duration: expected a "
       "number and unit such as 500ms, 5s, 10m or 1h30m, in whole milliseconds"},
      {"remediation:\n  window: 0s\n",
       "k8sinpod.yaml:2:11: remediation.window: must be greater than 0, got \"0s\""},
      {"remediation:\n  max_recreates: 0\n",
       "k8sinpod.yaml:2:18: remediation.max_recreates: must be at least 1, got 0"},
      {"remediation:\n  max_recreates: 2.5\n",
       "k8sinpod.yaml:2:18: remediation.max_recreates: \"2.5\" is not an integer"},
      {"remediation:\n  max_recreates: 99999999999\n",
       "k8sinpod.yaml:2:18: remediation.max_recreates: \"99999999999\" is out of range"},
      {"remediation:\n  backoff_initial: 10m\n  backoff_max: 1m\n",
       "k8sinpod.yaml:2:20: remediation.backoff_initial: 10m0s must not exceed "
       "remediation.backoff_max (1m0s)"},
      {"remediation:\n  backoff_initial: 10m\n",  // above the default backoff_max (5m)
       "k8sinpod.yaml:2:20: remediation.backoff_initial: 10m0s must not exceed "
       "remediation.backoff_max (5m0s)"},
      {"remediation:\n  backoff_max: 5s\n",  // below the default backoff_initial (10s)
       "k8sinpod.yaml:2:16: remediation.backoff_initial: 10s must not exceed "
       "remediation.backoff_max (5s)"},
      {"remediation:\n  backoff_initial: 1x\n  backoff_max: 1s\n",  // only the bad value
       "k8sinpod.yaml:2:20: remediation.backoff_initial: \"1x\" is not a valid duration: "
       "expected a number and unit such as 500ms, 5s, 10m or 1h30m, in whole milliseconds"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.yaml);
    CHECK(only_error(row.yaml) == row.expected);
  }
}

TEST_CASE("a value of the wrong kind is reported at the value") {
  struct Row {
    std::string_view yaml;
    std::string_view expected;
  };
  const Row rows[] = {
      {"- cluster\n", "k8sinpod.yaml:1:1: expected a map at the top level, got a list"},
      {"just text\n",
       "k8sinpod.yaml:1:1: expected a map at the top level, got the scalar \"just text\""},
      {"cluster: abc\n", "k8sinpod.yaml:1:10: cluster: expected a map, got the scalar \"abc\""},
      {"health: [1, 2]\n", "k8sinpod.yaml:1:9: health: expected a map, got a list"},
      {"cluster:\n  name: [a]\n", "k8sinpod.yaml:2:9: cluster.name: expected a string, got a list"},
      {"health:\n  interval: {s: 5}\n",
       "k8sinpod.yaml:2:13: health.interval: expected a duration, got a map"},
      {"health:\n  failure_threshold: [3]\n",
       "k8sinpod.yaml:2:22: health.failure_threshold: expected an integer, got a list"},
      {"kubeconfig:\n  copies: /a\n",
       "k8sinpod.yaml:2:11: kubeconfig.copies: expected a list of paths, got the scalar \"/a\""},
      {"kubeconfig:\n  copies:\n    - {a: b}\n",
       "k8sinpod.yaml:3:7: kubeconfig.copies[0]: expected a path, got a map"},
      {"docker:\n  host:\n    unix: /x\n",
       "k8sinpod.yaml:3:5: docker.host: expected a string, got a map"},
      {"cluster:\n  [a]: b\n", "k8sinpod.yaml:2:3: cluster: keys must be strings, got a list"},
      {"cluster:\n  delete_on_shutdown: [true]\n",
       "k8sinpod.yaml:2:23: cluster.delete_on_shutdown: expected true or false, got a list"},
      {"log:\n  max_size: {MiB: 10}\n",
       "k8sinpod.yaml:2:13: log.max_size: expected a size, got a map"},
      {"log:\n  file: [/a]\n", "k8sinpod.yaml:2:9: log.file: expected a string, got a list"},
      {"log:\n  max_files: [5]\n",
       "k8sinpod.yaml:2:14: log.max_files: expected an integer, got a list"},
      {"remediation: on\n",
       "k8sinpod.yaml:1:14: remediation: expected a map, got the scalar \"on\""},
      {"remediation:\n  window: [1h]\n",
       "k8sinpod.yaml:2:11: remediation.window: expected a duration, got a list"},
      {"remediation:\n  max_recreates: {n: 1}\n",
       "k8sinpod.yaml:2:18: remediation.max_recreates: expected an integer, got a map"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.yaml);
    CHECK(only_error(row.yaml) == row.expected);
  }
}

TEST_CASE("an unknown key is an error that suggests the closest known key") {
  CHECK(only_error("helth:\n  interval: 5s\n") ==
        "k8sinpod.yaml:1:1: unknown key \"helth\"; did you mean \"health\"?");
  CHECK(only_error("health:\n  intervall: 5s\n") ==
        "k8sinpod.yaml:2:3: health: unknown key \"intervall\"; did you mean \"interval\"?");
  CHECK(only_error("cluster:\n  kind-config: /x\n") ==
        "k8sinpod.yaml:2:3: cluster: unknown key \"kind-config\"; did you mean \"kind_config\"?");
  // Distance 3 or more: no suggestion.
  CHECK(only_error("metrics:\n  port: 1\n") == "k8sinpod.yaml:1:1: unknown key \"metrics\"");
  CHECK(only_error("log:\n  colour: true\n") == "k8sinpod.yaml:2:3: log: unknown key \"colour\"");
  CHECK(only_error("remediaton: {}\n") ==
        "k8sinpod.yaml:1:1: unknown key \"remediaton\"; did you mean \"remediation\"?");
  CHECK(only_error("remediation:\n  max_recreate: 3\n") ==
        "k8sinpod.yaml:2:3: remediation: unknown key \"max_recreate\"; did you mean "
        "\"max_recreates\"?");
  CHECK(only_error("log:\n  maxsize: 1MiB\n") ==
        "k8sinpod.yaml:2:3: log: unknown key \"maxsize\"; did you mean \"max_size\"?");
  CHECK(only_error("cluster:\n  delete_on_shutdwn: true\n") ==
        "k8sinpod.yaml:2:3: cluster: unknown key \"delete_on_shutdwn\"; did you mean "
        "\"delete_on_shutdown\"?");
}

TEST_CASE("known_keys lists every key in the order of the example file") {
  const std::vector<std::string> expected = {
      "cluster.name",
      "cluster.kind_config",
      "cluster.image",
      "cluster.create_timeout",
      "cluster.delete_on_shutdown",
      "kubeconfig.path",
      "kubeconfig.copies",
      "health.interval",
      "health.timeout",
      "health.failure_threshold",
      "remediation.on_ip_change",
      "remediation.recreate_after",
      "remediation.restart_grace",
      "remediation.backoff_initial",
      "remediation.backoff_max",
      "remediation.backoff_reset",
      "remediation.max_recreates",
      "remediation.window",
      "docker.host",
      "docker.network",
      "tools.kind",
      "server.listen",
      "server.tls.cert_file",
      "server.tls.key_file",
      "server.tls.client_ca_file",
      "server.basic_auth_users",
      "server.max_connections",
      "server.max_requests_per_connection_per_second",
      "server.max_cpu_percent",
      "log.level",
      "log.format",
      "log.file",
      "log.max_size",
      "log.max_files",
  };
  CHECK(known_keys() == expected);
}

TEST_CASE("a duplicate key is an error") {
  CHECK(only_error("cluster:\n  name: a\n  name: b\n") ==
        "k8sinpod.yaml:3:3: cluster: duplicate key \"name\" (first at line 2)");
  CHECK(only_error("log: {}\nlog: {}\n") ==
        "k8sinpod.yaml:2:1: duplicate key \"log\" (first at line 1)");
}

TEST_CASE("all errors are collected, in file order") {
  const LoadResult result = parse_text(R"(log:
  level: loud
cluster:
  name: Bad_Name
helth: {}
server:
  listen: 0.0.0.0:abc
health:
  failure_threshold: abc
)");
  CHECK_FALSE(result.config.has_value());
  const std::vector<std::string> lines = rendered(result);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0].starts_with("k8sinpod.yaml:2:10: log.level:"));
  CHECK(lines[1].starts_with("k8sinpod.yaml:4:9: cluster.name:"));
  CHECK(lines[2].starts_with("k8sinpod.yaml:5:1: unknown key \"helth\""));
  CHECK(lines[3].starts_with("k8sinpod.yaml:7:11: server.listen:"));
  CHECK(lines[4].starts_with("k8sinpod.yaml:9:22: health.failure_threshold:"));
}

TEST_CASE("a YAML syntax error gives exactly one diagnostic at its position") {
  CHECK(only_error("cluster:\n  name: [a\n") ==
        "k8sinpod.yaml:3:1: invalid YAML: end of sequence flow not found");
  CHECK(only_error("cluster:\n  name: \"open\n").starts_with("k8sinpod.yaml:2:"));
}

TEST_CASE("a second YAML document is an error") {
  // The position is the `---` that starts the second document.
  CHECK(only_error("log: {}\n---\ncluster: {}\n") ==
        "k8sinpod.yaml:2:1: expected one YAML document, found a second one here");
}

TEST_CASE("DOCKER_HOST applies only when the file does not set docker.host") {
  SUBCASE("the file wins") {
    const LoadResult r = parse_text("docker:\n  host: unix:///file.sock\n", "tcp://env:2375");
    REQUIRE(r.config.has_value());
    CHECK(r.config->docker.host == "unix:///file.sock");
    CHECK_FALSE(r.config->docker.host_from_env);
  }
  SUBCASE("the environment fills in") {
    const LoadResult r = parse_text("docker:\n  network: kind\n", "tcp://env:2375");
    REQUIRE(r.config.has_value());
    CHECK(r.config->docker.host == "tcp://env:2375");
    CHECK(r.config->docker.host_from_env);
  }
  SUBCASE("a null docker.host counts as not set") {
    const LoadResult r = parse_text("docker:\n  host:\n", "unix:///env.sock");
    REQUIRE(r.config.has_value());
    CHECK(r.config->docker.host == "unix:///env.sock");
    CHECK(r.config->docker.host_from_env);
  }
  SUBCASE("an empty DOCKER_HOST counts as unset") {
    const LoadResult r = parse_text("", "");
    REQUIRE(r.config.has_value());
    CHECK(r.config->docker.host == "unix:///var/run/docker.sock");
    CHECK_FALSE(r.config->docker.host_from_env);
  }
  SUBCASE("an invalid DOCKER_HOST is reported with the variable as its source") {
    const LoadResult r = parse_text("log: {}\n", "ssh://me@host");
    CHECK_FALSE(r.config.has_value());
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].file == "DOCKER_HOST");
    CHECK(r.diagnostics[0].line == 0);
    CHECK(r.diagnostics[0].to_string() ==
          "DOCKER_HOST: \"ssh://me@host\" is not a docker host: must start with unix:// or "
          "tcp://");
  }
  SUBCASE("an invalid DOCKER_HOST is ignored when the file sets docker.host") {
    const LoadResult r = parse_text("docker:\n  host: unix:///file.sock\n", "ssh://me@host");
    CHECK(r.config.has_value());
    CHECK(r.diagnostics.empty());
  }
  SUBCASE("diagnostics without a position come after positioned ones") {
    const LoadResult r = parse_text("log:\n  level: loud\n", "bogus");
    REQUIRE(r.diagnostics.size() == 2);
    CHECK(r.diagnostics[0].line == 2);
    CHECK(r.diagnostics[1].file == "DOCKER_HOST");
  }
}

TEST_CASE("Diagnostic renders with and without a position") {
  CHECK(Diagnostic{.file = "f.yaml", .line = 3, .column = 7, .message = "bad"}.to_string() ==
        "f.yaml:3:7: bad");
  CHECK(Diagnostic{.file = "f.yaml", .message = "cannot read: x"}.to_string() ==
        "f.yaml: cannot read: x");
}

TEST_CASE("load_file reports an unreadable file with strerror") {
  const LoadResult missing = load_file("/nonexistent/k8sinpod.yaml", std::nullopt);
  CHECK_FALSE(missing.config.has_value());
  REQUIRE(missing.diagnostics.size() == 1);
  CHECK(missing.diagnostics[0].to_string() ==
        "/nonexistent/k8sinpod.yaml: cannot read: No such file or directory");

  const LoadResult directory = load_file("/", std::nullopt);
  REQUIRE(directory.diagnostics.size() == 1);
  CHECK(directory.diagnostics[0].to_string() == "/: cannot read: Is a directory");
}

TEST_CASE("the example config/k8sinpod.yaml loads and spells out exactly the defaults") {
  const std::string path = std::string(K8SINPOD_SOURCE_DIR) + "/config/k8sinpod.yaml";
  const LoadResult result = load_file(path, std::nullopt);
  INFO(joined(result));
  REQUIRE(result.diagnostics.empty());
  REQUIRE(result.config.has_value());
  CHECK(*result.config == Config{});
}

TEST_CASE("the example config/k8sinpod.yaml spells out every key") {
  std::ifstream in(std::string(K8SINPOD_SOURCE_DIR) + "/config/k8sinpod.yaml");
  REQUIRE(in.good());
  // The example's layout: a section at column 1, its keys indented by two spaces.
  std::vector<std::string> keys;
  std::string section;
  std::string subsection;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (line.front() != ' ') {
      section = line.substr(0, colon);
    } else if (line.starts_with("  ") && line[2] != ' ' && line[2] != '#') {
      subsection = line.substr(2, colon - 2);
      keys.push_back(section + "." + subsection);
    } else if (line.starts_with("    ") && line[4] != ' ' && line[4] != '#') {
      // A nested section (server.tls) is listed by its keys, not by its own name.
      const std::string parent = section + "." + subsection;
      if (!keys.empty() && keys.back() == parent) keys.pop_back();
      keys.push_back(parent + "." + line.substr(4, colon - 4));
    }
  }
  CHECK(keys == known_keys());
}

TEST_CASE("Config equality sees a change in any section") {
  Config a;
  Config b;
  CHECK(a == b);
  b.health.timeout = 3s;
  CHECK_FALSE(a == b);
  b = a;
  b.kubeconfig.copies.push_back("/x");
  CHECK_FALSE(a == b);
  b = a;
  b.remediation.max_recreates = 2;
  CHECK_FALSE(a == b);
  b = a;
  b.log.max_size = 1;
  CHECK_FALSE(a == b);
  b = a;
  b.cluster.delete_on_shutdown = true;
  CHECK_FALSE(a == b);
}

TEST_CASE("server.tls and server.basic_auth_users parse") {
  const Config c = parsed(
      "server:\n"
      "  tls:\n"
      "    cert_file: /etc/k8sinpod/tls.crt\n"
      "    key_file: /etc/k8sinpod/tls.key\n"
      "    client_ca_file: /etc/k8sinpod/ca.crt\n"
      "  basic_auth_users:\n"
      "    prometheus: $2y$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234\n"
      "    admin: \"$2b$12$abcdefghijklmnopqrstuu./CDEFGHIJKLMNOPQRSTUVWXYZ01234\"\n");
  CHECK(c.server.tls.cert_file == "/etc/k8sinpod/tls.crt");
  CHECK(c.server.tls.key_file == "/etc/k8sinpod/tls.key");
  CHECK(c.server.tls.client_ca_file == "/etc/k8sinpod/ca.crt");
  CHECK(c.server.tls.enabled());
  const std::map<std::string, std::string> users = {
      {"prometheus", "$2y$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"},
      {"admin", "$2b$12$abcdefghijklmnopqrstuu./CDEFGHIJKLMNOPQRSTUVWXYZ01234"}};
  CHECK(c.server.basic_auth_users == users);
  CHECK(c.server.listen == "0.0.0.0:9090");  // untouched

  // Null sections and keys keep the defaults (TLS off, no users).
  const Config nulls = parsed(
      "server:\n  tls:\n    cert_file:\n    key_file: ~\n    client_ca_file:\n"
      "  basic_auth_users:\n");
  CHECK(nulls == Config{});
  CHECK_FALSE(nulls.server.tls.enabled());
  CHECK(parsed("server:\n  tls:\n  basic_auth_users: {}\n") == Config{});
  // cert + key without a client CA is TLS without client certificates.
  const Config no_ca = parsed("server:\n  tls:\n    cert_file: /c.pem\n    key_file: /k.pem\n");
  CHECK(no_ca.server.tls.enabled());
  CHECK(no_ca.server.tls.client_ca_file.empty());
}

TEST_CASE("server.tls rules are reported with line:col") {
  CHECK(only_error("server:\n  tls:\n    cert_file: /c.pem\n") ==
        "k8sinpod.yaml:3:16: server.tls.cert_file: needs server.tls.key_file as well");
  CHECK(only_error("server:\n  tls:\n    key_file: /k.pem\n") ==
        "k8sinpod.yaml:3:15: server.tls.key_file: needs server.tls.cert_file as well");
  CHECK(only_error("server:\n  tls:\n    client_ca_file: /ca.pem\n") ==
        "k8sinpod.yaml:3:21: server.tls.client_ca_file: needs server.tls.cert_file and "
        "server.tls.key_file (client certificates are only asked for over TLS)");
  CHECK(only_error("server:\n  tls:\n    cert_file: tls.crt\n    key_file: /k.pem\n") ==
        "k8sinpod.yaml:3:16: server.tls.cert_file: \"tls.crt\": it is not an absolute path");
  CHECK(only_error("server:\n  tls:\n    cert_file: /c.pem\n    key_file: /etc/\n") ==
        "k8sinpod.yaml:4:15: server.tls.key_file: \"/etc/\": it names a directory, not a file");
  CHECK(only_error(
            "server:\n  tls:\n    cert_file: /c\n    key_file: /k\n    client_ca_file: ''\n") ==
        "k8sinpod.yaml:5:21: server.tls.client_ca_file: \"\": it is empty");
  CHECK(only_error("server:\n  tls:\n    cert_file: [/c]\n    key_file: /k\n") ==
        "k8sinpod.yaml:3:16: server.tls.cert_file: expected a path, got a list");
  CHECK(only_error("server:\n  tls:\n    certfile: /c\n") ==
        "k8sinpod.yaml:3:5: server.tls: unknown key \"certfile\"; did you mean \"cert_file\"?");
  CHECK(only_error("server:\n  tls: /c.pem\n") ==
        "k8sinpod.yaml:2:8: server.tls: expected a map, got the scalar \"/c.pem\"");
}

TEST_CASE("server.basic_auth_users rules are reported with line:col") {
  const std::string ok = "$2b$05$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234";
  CHECK(only_error("server:\n  basic_auth_users: [a]\n") ==
        "k8sinpod.yaml:2:21: server.basic_auth_users: expected a map of user name to bcrypt "
        "hash, got a list");
  CHECK(only_error("server:\n  basic_auth_users:\n    u: plain\n") ==
        "k8sinpod.yaml:3:8: server.basic_auth_users.u: not a bcrypt hash: it does not start "
        "with $2a$, $2b$ or $2y$ (generate one with `htpasswd -nbBC 10 user password` or "
        "Python's bcrypt)");
  CHECK(only_error("server:\n  basic_auth_users:\n    u: $1$abc$def\n") ==
        "k8sinpod.yaml:3:8: server.basic_auth_users.u: not a bcrypt hash: it does not start "
        "with $2a$, $2b$ or $2y$ (generate one with `htpasswd -nbBC 10 user password` or "
        "Python's bcrypt)");
  CHECK(only_error("server:\n  basic_auth_users:\n    u: $2b$05$short\n") ==
        "k8sinpod.yaml:3:8: server.basic_auth_users.u: not a bcrypt hash: it has 12 characters, "
        "a bcrypt hash has 60");
  CHECK(only_error("server:\n  basic_auth_users:\n    u: $2b$03$" + ok.substr(7) + "\n") ==
        "k8sinpod.yaml:3:8: server.basic_auth_users.u: not a bcrypt hash: cost 3 is outside "
        "4..31");
  CHECK(only_error("server:\n  basic_auth_users:\n    u: $2b$1x$" + ok.substr(7) + "\n") ==
        "k8sinpod.yaml:3:8: server.basic_auth_users.u: not a bcrypt hash: the cost after the "
        "prefix is not two digits followed by '$'");
  CHECK(only_error("server:\n  basic_auth_users:\n    u: \"$2b$05$" + ok.substr(8) + "!\"\n") ==
        "k8sinpod.yaml:3:8: server.basic_auth_users.u: not a bcrypt hash: salt and hash hold a "
        "character other than a-z A-Z 0-9 . /");
  CHECK(only_error("server:\n  basic_auth_users:\n    \"a:b\": " + ok + "\n") ==
        "k8sinpod.yaml:3:5: server.basic_auth_users: user name \"a:b\" contains ':', which basic "
        "auth cannot carry");
  CHECK(only_error("server:\n  basic_auth_users:\n    \"\": " + ok + "\n") ==
        "k8sinpod.yaml:3:5: server.basic_auth_users: a user name must not be empty");
  CHECK(only_error("server:\n  basic_auth_users:\n    u: " + ok + "\n    u: " + ok + "\n") ==
        "k8sinpod.yaml:4:5: server.basic_auth_users: duplicate user \"u\" (first at line 3)");
  CHECK(only_error("server:\n  basic_auth_users:\n    u: [x]\n") ==
        "k8sinpod.yaml:3:8: server.basic_auth_users.u: expected a bcrypt hash, got a list");
}

TEST_CASE("a lone comma is an error at once, not an endless stream of documents") {
  // yaml-cpp 0.7's LoadAll never returns on this input (found by test/fuzz/config).
  for (const char* text : {",", "&M,", "cluster:\n  name: ci\n,\n"}) {
    CAPTURE(text);
    const auto r = k8sinpod::config::parse(text, "c.yaml", std::nullopt);
    CHECK_FALSE(r.config.has_value());
    CHECK_FALSE(r.diagnostics.empty());
  }
  const auto two = k8sinpod::config::parse("a: 1\n---\nb: 2\n", "c.yaml", std::nullopt);
  REQUIRE(two.diagnostics.size() == 1);
  CHECK(two.diagnostics[0].to_string() ==
        "c.yaml:2:1: expected one YAML document, found a second one here");
}
