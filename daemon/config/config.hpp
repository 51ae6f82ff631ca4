#pragma once
/// The daemon's configuration: YAML text -> validated `Config`, or every problem found as a
/// `file:line:col: message` diagnostic (STYLE.md 3: a bad config at startup exits 1 with these).
///
/// The keys, defaults and rules are documented in docs/configuration.md; config/k8sinpod.yaml is
/// the commented example. Parsing is strict: unknown keys, duplicate keys and wrong node kinds
/// (a map where a scalar belongs, ...) are errors. A key whose value is null (`key:`, `key: ~`,
/// `key: null`) is the same as a key left out: it keeps its default.
///
/// `parse` is pure. `load_file` is the only function that does I/O (it reads one file).
/// Nothing in this module throws: yaml-cpp's exceptions are caught here.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace k8sinpod::config {

enum class LogLevel { trace, debug, info, warn, error };
enum class LogFormat { text, json };

/// "trace", "debug", ... as written in the YAML.
std::string to_string(LogLevel level);
/// "text" or "json".
std::string to_string(LogFormat format);

struct ClusterConfig {
  /// kind cluster name: a DNS-1123 label of at most 50 characters.
  std::string name = "k8s-in-pod";
  /// Passed to `kind create cluster --config` when not empty.
  std::string kind_config;
  /// Passed to `kind create cluster --image` when not empty.
  std::string image;
  std::chrono::milliseconds create_timeout = std::chrono::minutes{10};
  /// Run `kind delete cluster` on SIGTERM/SIGINT. Off by default so that a restarted pod adopts
  /// the running cluster.
  bool delete_on_shutdown = false;
  friend bool operator==(const ClusterConfig&, const ClusterConfig&) = default;
};

struct KubeconfigConfig {
  /// Absolute path of the kubeconfig the daemon writes (mode 0600).
  std::string path = "/var/lib/k8sinpod/kubeconfig";
  /// More absolute paths that receive the same file; distinct from each other and from `path`.
  std::vector<std::string> copies;
  friend bool operator==(const KubeconfigConfig&, const KubeconfigConfig&) = default;
};

struct HealthConfig {
  std::chrono::milliseconds interval = std::chrono::seconds{5};
  /// At most `interval`.
  std::chrono::milliseconds timeout = std::chrono::seconds{2};
  /// Consecutive failed probes before the cluster counts as unhealthy; >= 1.
  int failure_threshold = 3;
  friend bool operator==(const HealthConfig&, const HealthConfig&) = default;
};

struct DockerConfig {
  /// `unix:///absolute/path` or `tcp://host:port`.
  std::string host = "unix:///var/run/docker.sock";
  std::string network = "kind";
  /// True when `host` came from the DOCKER_HOST environment variable (the file did not set it).
  bool host_from_env = false;
  friend bool operator==(const DockerConfig&, const DockerConfig&) = default;
};

struct ToolsConfig {
  /// Path of the kind binary, or a bare name looked up on PATH.
  std::string kind = "kind";
  friend bool operator==(const ToolsConfig&, const ToolsConfig&) = default;
};

/// TLS for the HTTP endpoints, as in Prometheus exporters' web config. All paths absolute; the
/// files are read when the listener opens (not by `parse`), so a missing file is a startup or
/// rebind error, not a parse error.
struct TlsConfig {
  /// PEM certificate chain and its private key; both set or both empty. Empty: plain HTTP.
  std::string cert_file;
  std::string key_file;
  /// PEM CA bundle; when set, clients must present a certificate it signed. Needs cert_file.
  std::string client_ca_file;
  bool enabled() const { return !cert_file.empty(); }
  friend bool operator==(const TlsConfig&, const TlsConfig&) = default;
};

struct ServerConfig {
  /// As written: `host:port` or `[ipv6]:port`.
  std::string listen = "0.0.0.0:9090";
  /// Parsed from `listen`; an IPv6 host is stored without brackets.
  std::string host = "0.0.0.0";
  /// Parsed from `listen`; 0 means an ephemeral port chosen by the kernel (tests use it).
  std::uint16_t port = 9090;
  TlsConfig tls;
  /// User name -> bcrypt hash (`$2a$`, `$2b$` or `$2y$`). Not empty: every route except
  /// /livez and /readyz requires HTTP basic auth.
  std::map<std::string, std::string> basic_auth_users;
  /// Open connections served at once; one more is answered 503 and closed.
  int max_connections = 64;
  /// Requests one connection may send within one second before it is answered 429 and closed;
  /// 0: unlimited.
  int max_requests_per_connection_per_second = 100;
  /// The HTTP thread's CPU budget in % of one CPU (http/budget.hpp); 0: unlimited.
  int max_cpu_percent = 10;
  friend bool operator==(const ServerConfig&, const ServerConfig&) = default;
};

struct LogConfig {
  LogLevel level = LogLevel::info;
  LogFormat format = LogFormat::text;
  /// Absolute path of a log file written besides stdout, or "" for none.
  std::string file;
  /// Size in bytes at which `file` is rotated; > 0.
  std::uint64_t max_size = std::uint64_t{10} * 1024 * 1024;
  /// Rotated files kept besides `file` (`file.1` ... `file.N`); 1..1000.
  int max_files = 5;
  friend bool operator==(const LogConfig&, const LogConfig&) = default;
};

/// When and how the supervisor repairs a cluster (issue 3). Durations are all > 0.
struct RemediationConfig {
  enum class OnIpChange {
    /// Rewrite the kubeconfig with the control plane's new address, then probe.
    repatch,
    /// Recreate the cluster (`kind delete cluster` + `kind create cluster`).
    recreate,
  };
  OnIpChange on_ip_change = OnIpChange::repatch;
  /// Continuous probe failure, counted from the moment failure_threshold is reached, before the
  /// cluster is recreated.
  std::chrono::milliseconds recreate_after = std::chrono::seconds{60};
  /// A stopped or vanished control-plane container that is not back within this is recreated.
  std::chrono::milliseconds restart_grace = std::chrono::seconds{30};
  /// Delay before retrying a failed creation; doubles per failure up to backoff_max.
  std::chrono::milliseconds backoff_initial = std::chrono::seconds{10};
  /// At least backoff_initial.
  std::chrono::milliseconds backoff_max = std::chrono::minutes{5};
  /// Healthy this long resets the backoff to backoff_initial.
  std::chrono::milliseconds backoff_reset = std::chrono::minutes{10};
  /// Crash-loop guard: at most this many creations (>= 1) within `window`; past that the
  /// supervisor stops recreating and says so.
  int max_recreates = 5;
  std::chrono::milliseconds window = std::chrono::hours{1};
  friend bool operator==(const RemediationConfig&, const RemediationConfig&) = default;
};

/// "repatch" or "recreate".
std::string to_string(RemediationConfig::OnIpChange policy);

/// A default-constructed Config is exactly the documented defaults.
struct Config {
  ClusterConfig cluster;
  KubeconfigConfig kubeconfig;
  HealthConfig health;
  DockerConfig docker;
  ToolsConfig tools;
  ServerConfig server;
  LogConfig log;
  RemediationConfig remediation;
  friend bool operator==(const Config&, const Config&) = default;
};

/// One problem found while loading.
struct Diagnostic {
  /// Where the problem comes from: the config file's name, or `DOCKER_HOST` for the environment.
  std::string file;
  /// 1-based; 0 when there is no position (unreadable file, environment variable).
  int line = 0;
  /// 1-based; 0 when there is no position.
  int column = 0;
  /// Lower-case first, names the key and the value: `cluster.name: "Foo" is not ...`.
  std::string message;

  /// `file:line:col: message`, or `file: message` without a position.
  std::string to_string() const;
  friend bool operator==(const Diagnostic&, const Diagnostic&) = default;
};

/// `config` is set if and only if `diagnostics` is empty. Diagnostics are sorted by position;
/// those without a position come last.
struct LoadResult {
  std::optional<Config> config;
  std::vector<Diagnostic> diagnostics;
};

/// Parses and validates `yaml_text`; `file_name` is only used in diagnostics. Collects every
/// error it can find (a YAML syntax error stops parsing and yields exactly one).
/// `docker_host_env` is the value of DOCKER_HOST (nullopt or empty: unset); it applies only when
/// the file does not set docker.host, and is validated like it. An empty text or `{}` gives the
/// defaults. Pure.
LoadResult parse(std::string_view yaml_text, std::string_view file_name,
                 std::optional<std::string> docker_host_env);

/// Every key `parse` accepts, dotted (`cluster.name`, `server.tls.cert_file`, ...), in the order
/// of config/k8sinpod.yaml. A nested section (`server.tls`) is listed by its keys. Pure.
std::vector<std::string> known_keys();

/// Reads `path` and parses it. An unreadable file gives one diagnostic
/// `path: cannot read: <strerror>`. Blocking file I/O; call it at startup or from the reload path.
LoadResult load_file(const std::string& path, std::optional<std::string> docker_host_env);

}  // namespace k8sinpod::config
