#include "config/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <limits>
#include <map>
#include <span>
#include <sstream>
#include <system_error>
#include <utility>

#include "config/duration.hpp"
#include "config/size.hpp"

namespace k8sinpod::config {
namespace {

constexpr std::size_t kMaxClusterNameLength = 50;
constexpr std::string_view kEnvDockerHost = "DOCKER_HOST";

constexpr std::array<std::string_view, 8> kTopKeys = {
    "cluster", "kubeconfig", "health", "remediation", "docker", "tools", "server", "log"};
constexpr std::array<std::string_view, 5> kClusterKeys = {"name", "kind_config", "image",
                                                          "create_timeout", "delete_on_shutdown"};
constexpr std::array<std::string_view, 2> kKubeconfigKeys = {"path", "copies"};
constexpr std::array<std::string_view, 3> kHealthKeys = {"interval", "timeout",
                                                         "failure_threshold"};
constexpr std::array<std::string_view, 8> kRemediationKeys = {
    "on_ip_change", "recreate_after", "restart_grace", "backoff_initial",
    "backoff_max",  "backoff_reset",  "max_recreates", "window"};
constexpr std::array<std::string_view, 2> kDockerKeys = {"host", "network"};
constexpr std::array<std::string_view, 1> kToolsKeys = {"kind"};
constexpr std::array<std::string_view, 6> kServerKeys = {"listen",
                                                         "tls",
                                                         "basic_auth_users",
                                                         "max_connections",
                                                         "max_requests_per_connection_per_second",
                                                         "max_cpu_percent"};
/// server.max_cpu_percent: the smallest budget other than 0.
constexpr int kMinCpuPercent = 5;
constexpr std::array<std::string_view, 3> kTlsKeys = {"cert_file", "key_file", "client_ca_file"};
/// A bcrypt hash: $2a$, $2b$ or $2y$, a two-digit cost, '$', 53 characters of its base64.
constexpr std::size_t kBcryptLength = 60;
constexpr int kBcryptMinCost = 4;
constexpr int kBcryptMaxCost = 31;
constexpr std::array<std::string_view, 5> kLogKeys = {"level", "format", "file", "max_size",
                                                      "max_files"};

/// The sections in kTopKeys order, with their keys.
constexpr std::array<std::span<const std::string_view>, 8> kSectionKeys = {
    kClusterKeys, kKubeconfigKeys, kHealthKeys, kRemediationKeys,
    kDockerKeys,  kToolsKeys,      kServerKeys, kLogKeys};

/// max_files is bounded because spdlog's rotating sink refuses (throws) above 200000, and
/// thousands of rotated files are a mistake rather than a policy.
constexpr int kMaxLogFiles = 1000;

/// Every connection holds a file descriptor, and a soft RLIMIT_NOFILE of 1024 is common: far more
/// than a few thousand is a mistake rather than a policy.
constexpr int kMaxServerConnections = 10000;

constexpr std::array<std::pair<std::string_view, LogLevel>, 5> kLogLevels = {{
    {"trace", LogLevel::trace},
    {"debug", LogLevel::debug},
    {"info", LogLevel::info},
    {"warn", LogLevel::warn},
    {"error", LogLevel::error},
}};
constexpr std::array<std::pair<std::string_view, LogFormat>, 2> kLogFormats = {{
    {"text", LogFormat::text},
    {"json", LogFormat::json},
}};
constexpr std::array<std::pair<std::string_view, RemediationConfig::OnIpChange>, 2> kOnIpChange = {{
    {"repatch", RemediationConfig::OnIpChange::repatch},
    {"recreate", RemediationConfig::OnIpChange::recreate},
}};

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "the scalar " + quote(node.Scalar());
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Undefined:
      return "nothing";
  }
  return "an unknown node";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

/// Why `name` is not a DNS-1123 label of at most kMaxClusterNameLength characters, or "".
std::string cluster_name_problem(std::string_view name) {
  if (name.empty()) return "it is empty";
  if (name.size() > kMaxClusterNameLength) {
    return "it has " + std::to_string(name.size()) + " characters, more than " +
           std::to_string(kMaxClusterNameLength);
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!allowed) {
      return "character '" + std::string(1, c) + "' at position " + std::to_string(i + 1) +
             " is not a lower-case letter, digit or '-'";
    }
  }
  if (name.front() == '-') return "it starts with '-'";
  if (name.back() == '-') return "it ends with '-'";
  return "";
}

/// Why `path` is not an absolute path naming a file, or "".
std::string absolute_file_problem(std::string_view path) {
  if (path.empty()) return "it is empty";
  if (path.find('\0') != std::string_view::npos) return "it contains a NUL character";
  if (path.front() != '/') return "it is not an absolute path";
  const std::filesystem::path p(path);
  if (path.back() == '/' || p.filename() == "." || p.filename() == "..") {
    return "it names a directory, not a file";
  }
  return "";
}

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  std::string problem;  // empty when valid
};

HostPort invalid(std::string problem) {
  HostPort out;
  out.problem = std::move(problem);
  return out;
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

/// Splits `host:port` or `[ipv6]:port`. The host must not be empty.
HostPort split_host_port(std::string_view text) {
  HostPort out;
  std::string_view host;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return invalid("missing ']' after the IPv6 address");
    host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
    std::array<unsigned char, 16> buffer{};
    const std::string host_string(host);
    if (inet_pton(AF_INET6, host_string.c_str(), buffer.data()) != 1) {
      return invalid(quote(host) + " is not an IPv6 address");
    }
    if (rest.empty() || rest.front() != ':') return invalid("missing ':port'");
    rest.remove_prefix(1);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return invalid("missing ':port'");
    host = text.substr(0, colon);
    rest = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return invalid("an IPv6 address needs brackets, e.g. [::1]:9090");
    }
    if (host.empty()) return invalid("missing host (0.0.0.0 means all interfaces)");
    if (!std::all_of(host.begin(), host.end(), is_host_char)) {
      return invalid(quote(host) + " is not a host name or address");
    }
  }
  if (rest.empty()) return invalid("missing port");
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), port);
  const bool all_digits =
      std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!all_digits || ec != std::errc{} || end != rest.data() + rest.size()) {
    return invalid("port " + quote(rest) + " is not a number");
  }
  if (port > std::numeric_limits<std::uint16_t>::max()) {
    return invalid("port " + std::string(rest) + " is out of range 0..65535");
  }
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

/// Why `host` is not a Docker endpoint we support, or "".
/// Why `hash` is not a bcrypt hash, or "".
std::string bcrypt_problem(std::string_view hash) {
  if (!(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$"))) {
    return "it does not start with $2a$, $2b$ or $2y$ (generate one with `htpasswd -nbBC 10 "
           "user password` or Python's bcrypt)";
  }
  if (hash.size() != kBcryptLength) {
    return "it has " + std::to_string(hash.size()) + " characters, a bcrypt hash has " +
           std::to_string(kBcryptLength);
  }
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!digit(hash[4]) || !digit(hash[5]) || hash[6] != '$') {
    return "the cost after the prefix is not two digits followed by '$'";
  }
  const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < kBcryptMinCost || cost > kBcryptMaxCost) {
    return "cost " + std::to_string(cost) + " is outside " + std::to_string(kBcryptMinCost) + ".." +
           std::to_string(kBcryptMaxCost);
  }
  const auto base64 = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/';
  };
  if (!std::all_of(hash.begin() + 7, hash.end(), base64)) {
    return "salt and hash hold a character other than a-z A-Z 0-9 . /";
  }
  return "";
}

std::string docker_host_problem(std::string_view host) {
  constexpr std::string_view kUnix = "unix://";
  constexpr std::string_view kTcp = "tcp://";
  if (host.starts_with(kUnix)) {
    const std::string_view path = host.substr(kUnix.size());
    if (path.empty() || path.front() != '/' || path == "/") {
      return "unix:// must be followed by an absolute socket path";
    }
    return "";
  }
  if (host.starts_with(kTcp)) {
    const HostPort hp = split_host_port(host.substr(kTcp.size()));
    if (!hp.problem.empty()) return hp.problem;
    if (hp.port == 0) return "port 0 cannot be connected to";
    return "";
  }
  return "must start with unix:// or tcp://";
}

std::string duration_problem(std::string_view text) {
  if (!text.empty() && text.front() == '-') return "must not be negative";
  if (!text.empty() && std::all_of(text.begin(), text.end(),
                                   [](char c) { return (c >= '0' && c <= '9') || c == '.'; })) {
    return "missing unit, e.g. " + std::string(text) + "s";
  }
  return "expected a number and unit such as 500ms, 5s, 10m or 1h30m, in whole milliseconds";
}

/// A value node and the key that introduced it.
struct Entry {
  YAML::Node key;
  YAML::Node value;
};

using Fields = std::map<std::string, Entry, std::less<>>;

// Records where each document starts; everything else is ignored.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

class Parser {
 public:
  explicit Parser(std::string_view file) : file_(file) {}

  LoadResult run(std::string_view text, std::optional<std::string> docker_host_env) {
    YAML::Node document;
    try {
      // Count documents with a bounded event walk, never YAML::LoadAll: yaml-cpp 0.7 (Debian 12)
      // loops forever producing empty documents on input like "," (jbeder/yaml-cpp#1319;
      // found by test/fuzz/config).
      DocumentStarts starts;
      std::istringstream in{std::string(text)};
      YAML::Parser parser(in);
      while (starts.marks.size() < 2 && parser.HandleNextDocument(starts)) {
      }
      if (starts.marks.size() > 1) {
        error(starts.marks[1], "expected one YAML document, found a second one here");
        return finish();
      }
      document = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      error(e.mark, "invalid YAML: " + e.msg);
      return finish();
    } catch (const std::exception& e) {
      error(YAML::Mark::null_mark(), std::string("invalid YAML: ") + e.what());
      return finish();
    }
    walk(document);

    if (!docker_host_set_ && docker_host_env && !docker_host_env->empty()) {
      const std::string problem = docker_host_problem(*docker_host_env);
      if (problem.empty()) {
        config_.docker.host = std::move(*docker_host_env);
        config_.docker.host_from_env = true;
      } else {
        diagnostics_.push_back(
            {.file = std::string(kEnvDockerHost),
             .message = quote(*docker_host_env) + " is not a docker host: " + problem});
      }
    }
    return finish();
  }

 private:
  void error(const YAML::Mark& mark, std::string message) {
    Diagnostic d{.file = file_, .message = std::move(message)};
    if (!mark.is_null()) {
      d.line = mark.line + 1;
      d.column = mark.column + 1;
    }
    diagnostics_.push_back(std::move(d));
  }

  LoadResult finish() {
    std::stable_sort(diagnostics_.begin(), diagnostics_.end(),
                     [](const Diagnostic& a, const Diagnostic& b) {
                       const bool a_positioned = a.line != 0;
                       const bool b_positioned = b.line != 0;
                       if (a_positioned != b_positioned) return a_positioned;
                       return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                     });
    LoadResult result;
    if (diagnostics_.empty()) result.config = config_;
    result.diagnostics = std::move(diagnostics_);
    return result;
  }

  /// The entries of a map section. Null is an empty section; any other kind is an error.
  /// Reports unknown, duplicate and non-scalar keys; returns the valid ones.
  Fields fields(const YAML::Node& node, std::string_view path,
                std::span<const std::string_view> known) {
    Fields out;
    const std::string prefix = path.empty() ? "" : std::string(path) + ": ";
    if (node.IsNull()) return out;
    if (!node.IsMap()) {
      error(node.Mark(), (path.empty() ? std::string("expected a map at the top level")
                                       : std::string(path) + ": expected a map") +
                             ", got " + describe(node));
      return out;
    }
    for (const auto& kv : node) {
      const YAML::Node& key = kv.first;
      if (!key.IsScalar()) {
        error(key.Mark(), prefix + "keys must be strings, got " + describe(key));
        continue;
      }
      const std::string& name = key.Scalar();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::string message = prefix + "unknown key " + quote(name);
        std::size_t best = 3;
        std::string_view suggestion;
        for (std::string_view candidate : known) {
          const std::size_t distance = edit_distance(name, candidate);
          if (distance < best) {
            best = distance;
            suggestion = candidate;
          }
        }
        if (!suggestion.empty()) message += "; did you mean " + quote(suggestion) + "?";
        error(key.Mark(), std::move(message));
        continue;
      }
      if (const auto it = out.find(name); it != out.end()) {
        error(key.Mark(), prefix + "duplicate key " + quote(name) + " (first at line " +
                              std::to_string(it->second.key.Mark().line + 1) + ")");
        continue;
      }
      out.emplace(name, Entry{key, kv.second});
    }
    return out;
  }

  /// The entry for `key` if present and not null.
  static const Entry* present(const Fields& fields, std::string_view key) {
    const auto it = fields.find(key);
    if (it == fields.end() || it->second.value.IsNull()) return nullptr;
    return &it->second;
  }

  /// The scalar text of `key`, if present; reports a map or list as `expected <what>`.
  std::optional<std::string> scalar(const Fields& fields, std::string_view key,
                                    const std::string& path, std::string_view what) {
    const Entry* entry = present(fields, key);
    if (entry == nullptr) return std::nullopt;
    if (!entry->value.IsScalar()) {
      error(entry->value.Mark(),
            path + ": expected " + std::string(what) + ", got " + describe(entry->value));
      return std::nullopt;
    }
    return entry->value.Scalar();
  }

  void string_field(const Fields& f, std::string_view key, const std::string& path,
                    std::string& target, bool allow_empty) {
    const auto text = scalar(f, key, path, "a string");
    if (!text) return;
    if (!allow_empty && text->empty()) {
      error(mark_of(f, key), path + ": must not be empty");
      return;
    }
    target = *text;
  }

  /// A positive duration; returns whether the key was present and valid.
  bool duration_field(const Fields& f, std::string_view key, const std::string& path,
                      std::chrono::milliseconds& target) {
    const auto text = scalar(f, key, path, "a duration");
    if (!text) return false;
    const auto parsed = parse_duration(*text);
    if (!parsed) {
      error(mark_of(f, key),
            path + ": " + quote(*text) + " is not a valid duration: " + duration_problem(*text));
      return false;
    }
    if (parsed->count() <= 0) {
      error(mark_of(f, key), path + ": must be greater than 0, got " + quote(*text));
      return false;
    }
    target = *parsed;
    return true;
  }

  /// A decimal integer in [min, max]: never silently defaulted (see toolchain.md on yaml-cpp).
  void int_field(const Fields& f, std::string_view key, const std::string& path, int min, int max,
                 int& target) {
    const auto text = scalar(f, key, path, "an integer");
    if (!text) return;
    std::string_view digits = *text;
    if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
    long long value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    const YAML::Mark mark = mark_of(f, key);
    if (digits.empty() || ec == std::errc::invalid_argument ||
        end != digits.data() + digits.size()) {
      error(mark, path + ": " + quote(*text) + " is not an integer");
    } else if (ec == std::errc::result_out_of_range || value > std::numeric_limits<int>::max() ||
               value < std::numeric_limits<int>::min()) {
      error(mark, path + ": " + quote(*text) + " is out of range");
    } else if (value < min) {
      error(mark, path + ": must be at least " + std::to_string(min) + ", got " + *text);
    } else if (value > max) {
      error(mark, path + ": must be at most " + std::to_string(max) + ", got " + *text);
    } else {
      target = static_cast<int>(value);
    }
  }

  /// Exactly `true` or `false`: YAML 1.1's yes/no/on/off and yaml-cpp's other spellings are
  /// reported, not guessed.
  void bool_field(const Fields& f, std::string_view key, const std::string& path, bool& target) {
    const auto text = scalar(f, key, path, "true or false");
    if (!text) return;
    if (*text == "true") {
      target = true;
    } else if (*text == "false") {
      target = false;
    } else {
      error(mark_of(f, key), path + ": " + quote(*text) + " is not a boolean: use true or false");
    }
  }

  void byte_size_field(const Fields& f, std::string_view key, const std::string& path,
                       std::uint64_t& target) {
    const auto text = scalar(f, key, path, "a size");
    if (!text) return;
    const Result<std::uint64_t> parsed = parse_byte_size(*text);
    if (!parsed) {
      error(mark_of(f, key),
            path + ": " + quote(*text) + " is not a valid size: " + parsed.error().message);
    } else if (*parsed == 0) {
      error(mark_of(f, key), path + ": must be greater than 0, got " + quote(*text));
    } else {
      target = *parsed;
    }
  }

  static YAML::Mark mark_of(const Fields& f, std::string_view key) {
    return f.find(key)->second.value.Mark();
  }

  void walk(const YAML::Node& root) {
    const Fields top = fields(root, "", kTopKeys);
    const auto section = [&](std::string_view name, std::span<const std::string_view> known) {
      const auto it = top.find(name);
      return it == top.end() ? Fields{} : fields(it->second.value, name, known);
    };
    cluster(section("cluster", kClusterKeys));
    kubeconfig(section("kubeconfig", kKubeconfigKeys));
    health(section("health", kHealthKeys));
    remediation(section("remediation", kRemediationKeys));
    docker(section("docker", kDockerKeys));
    string_field(section("tools", kToolsKeys), "kind", "tools.kind", config_.tools.kind, false);
    server(section("server", kServerKeys));
    log(section("log", kLogKeys));
  }

  void cluster(const Fields& f) {
    ClusterConfig& c = config_.cluster;
    if (const auto name = scalar(f, "name", "cluster.name", "a string")) {
      if (const std::string problem = cluster_name_problem(*name); !problem.empty()) {
        error(mark_of(f, "name"), "cluster.name: " + quote(*name) +
                                      " is not a valid cluster name: " + problem +
                                      " (a DNS-1123 label: lower-case letters, digits and '-', "
                                      "starting and ending with a letter or digit, at most 50 "
                                      "characters)");
      } else {
        c.name = *name;
      }
    }
    string_field(f, "kind_config", "cluster.kind_config", c.kind_config, true);
    string_field(f, "image", "cluster.image", c.image, true);
    duration_field(f, "create_timeout", "cluster.create_timeout", c.create_timeout);
    bool_field(f, "delete_on_shutdown", "cluster.delete_on_shutdown", c.delete_on_shutdown);
  }

  void kubeconfig(const Fields& f) {
    KubeconfigConfig& k = config_.kubeconfig;
    bool path_valid = true;
    if (const auto path = scalar(f, "path", "kubeconfig.path", "a string")) {
      if (const std::string problem = absolute_file_problem(*path); !problem.empty()) {
        error(mark_of(f, "path"), "kubeconfig.path: " + quote(*path) + ": " + problem);
        path_valid = false;
      } else {
        k.path = *path;
      }
    }
    const Entry* copies = present(f, "copies");
    if (copies == nullptr) return;
    if (!copies->value.IsSequence()) {
      error(copies->value.Mark(),
            "kubeconfig.copies: expected a list of paths, got " + describe(copies->value));
      return;
    }
    const std::filesystem::path main_path = std::filesystem::path(k.path).lexically_normal();
    std::vector<std::pair<std::filesystem::path, std::size_t>> seen;
    std::size_t index = 0;
    for (const YAML::Node& item : copies->value) {
      const std::string label = "kubeconfig.copies[" + std::to_string(index) + "]";
      const std::size_t this_index = index++;
      if (!item.IsScalar()) {
        error(item.Mark(), label + ": expected a path, got " + describe(item));
        continue;
      }
      const std::string& text = item.Scalar();
      if (std::string problem = absolute_file_problem(text); !problem.empty()) {
        error(item.Mark(), label + ": " + quote(text) + ": " + std::move(problem));
        continue;
      }
      const std::filesystem::path normal = std::filesystem::path(text).lexically_normal();
      if (path_valid && normal == main_path) {
        error(item.Mark(), label + ": " + quote(text) + " is the same file as kubeconfig.path");
        continue;
      }
      const auto duplicate =
          std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == normal; });
      if (duplicate != seen.end()) {
        error(item.Mark(), label + ": " + quote(text) + " duplicates kubeconfig.copies[" +
                               std::to_string(duplicate->second) + "]");
        continue;
      }
      seen.emplace_back(normal, this_index);
      k.copies.push_back(text);
    }
  }

  void health(const Fields& f) {
    HealthConfig& h = config_.health;
    const bool interval_ok = duration_field(f, "interval", "health.interval", h.interval);
    const bool timeout_ok = duration_field(f, "timeout", "health.timeout", h.timeout);
    // Compare only values that are valid; a default counts as valid.
    const bool interval_usable = interval_ok || present(f, "interval") == nullptr;
    const bool timeout_usable = timeout_ok || present(f, "timeout") == nullptr;
    if (interval_usable && timeout_usable && h.timeout > h.interval) {
      const YAML::Mark mark =
          timeout_ok ? mark_of(f, "timeout") : mark_of(f, "interval");  // one of them is set
      error(mark, "health.timeout: " + format_duration(h.timeout) +
                      " must not exceed health.interval (" + format_duration(h.interval) + ")");
    }

    int_field(f, "failure_threshold", "health.failure_threshold", 1,
              std::numeric_limits<int>::max(), h.failure_threshold);
  }

  void remediation(const Fields& f) {
    RemediationConfig& r = config_.remediation;
    enum_field(f, "on_ip_change", "remediation.on_ip_change", kOnIpChange, r.on_ip_change);
    duration_field(f, "recreate_after", "remediation.recreate_after", r.recreate_after);
    duration_field(f, "restart_grace", "remediation.restart_grace", r.restart_grace);
    const bool initial_ok =
        duration_field(f, "backoff_initial", "remediation.backoff_initial", r.backoff_initial);
    const bool max_ok = duration_field(f, "backoff_max", "remediation.backoff_max", r.backoff_max);
    const bool initial_usable = initial_ok || present(f, "backoff_initial") == nullptr;
    const bool max_usable = max_ok || present(f, "backoff_max") == nullptr;
    if (initial_usable && max_usable && r.backoff_initial > r.backoff_max) {
      const YAML::Mark mark =
          initial_ok ? mark_of(f, "backoff_initial") : mark_of(f, "backoff_max");
      error(mark, "remediation.backoff_initial: " + format_duration(r.backoff_initial) +
                      " must not exceed remediation.backoff_max (" +
                      format_duration(r.backoff_max) + ")");
    }
    duration_field(f, "backoff_reset", "remediation.backoff_reset", r.backoff_reset);
    int_field(f, "max_recreates", "remediation.max_recreates", 1, std::numeric_limits<int>::max(),
              r.max_recreates);
    duration_field(f, "window", "remediation.window", r.window);
  }

  void docker(const Fields& f) {
    DockerConfig& d = config_.docker;
    if (const auto host = scalar(f, "host", "docker.host", "a string")) {
      docker_host_set_ = true;
      if (const std::string problem = docker_host_problem(*host); !problem.empty()) {
        error(mark_of(f, "host"),
              "docker.host: " + quote(*host) + " is not a docker host: " + problem);
      } else {
        d.host = *host;
      }
    } else if (present(f, "host") != nullptr) {
      docker_host_set_ = true;  // set, but to a map or list: reported, and DOCKER_HOST not used
    }
    string_field(f, "network", "docker.network", d.network, false);
  }

  void server(const Fields& f) {
    ServerConfig& s = config_.server;
    if (const auto listen = scalar(f, "listen", "server.listen", "a string")) {
      const HostPort hp = split_host_port(*listen);
      if (!hp.problem.empty()) {
        error(mark_of(f, "listen"),
              "server.listen: " + quote(*listen) + " is not host:port: " + hp.problem);
      } else {
        s.listen = *listen;
        s.host = hp.host;
        s.port = hp.port;
      }
    }
    if (const Entry* tls = present(f, "tls")) {
      server_tls(fields(tls->value, "server.tls", kTlsKeys));
    }
    if (const Entry* users = present(f, "basic_auth_users")) basic_auth_users(*users);
    int_field(f, "max_connections", "server.max_connections", 1, kMaxServerConnections,
              s.max_connections);
    int_field(f, "max_requests_per_connection_per_second",
              "server.max_requests_per_connection_per_second", 0, std::numeric_limits<int>::max(),
              s.max_requests_per_connection_per_second);
    // 0 (unlimited) or 5..100: below 5 % a new connection could wait in the listen backlog
    // about as long as a kubelet probe's default timeout (1 s; http/budget.hpp).
    int cpu = s.max_cpu_percent;
    int_field(f, "max_cpu_percent", "server.max_cpu_percent", 0, 100, cpu);
    if (cpu > 0 && cpu < kMinCpuPercent) {
      error(mark_of(f, "max_cpu_percent"),
            "server.max_cpu_percent: must be 0 (unlimited) or at least " +
                std::to_string(kMinCpuPercent) + ", got " + std::to_string(cpu));
    } else {
      s.max_cpu_percent = cpu;
    }
  }

  /// An absolute file path; returns whether the key was present and valid.
  bool path_field(const Fields& f, std::string_view key, const std::string& path,
                  std::string& target) {
    const auto text = scalar(f, key, path, "a path");
    if (!text) return false;
    if (const std::string problem = absolute_file_problem(*text); !problem.empty()) {
      error(mark_of(f, key), path + ": " + quote(*text) + ": " + problem);
      return false;
    }
    target = *text;
    return true;
  }

  void server_tls(const Fields& f) {
    TlsConfig& t = config_.server.tls;
    path_field(f, "cert_file", "server.tls.cert_file", t.cert_file);
    path_field(f, "key_file", "server.tls.key_file", t.key_file);
    path_field(f, "client_ca_file", "server.tls.client_ca_file", t.client_ca_file);
    const bool cert_given = present(f, "cert_file") != nullptr;
    const bool key_given = present(f, "key_file") != nullptr;
    if (cert_given != key_given) {
      // Point at the one that is there.
      error(cert_given ? mark_of(f, "cert_file") : mark_of(f, "key_file"),
            cert_given ? "server.tls.cert_file: needs server.tls.key_file as well"
                       : "server.tls.key_file: needs server.tls.cert_file as well");
    } else if (!cert_given && present(f, "client_ca_file") != nullptr) {
      error(mark_of(f, "client_ca_file"),
            "server.tls.client_ca_file: needs server.tls.cert_file and server.tls.key_file "
            "(client certificates are only asked for over TLS)");
    }
  }

  void basic_auth_users(const Entry& entry) {
    const YAML::Node& node = entry.value;
    if (!node.IsMap()) {
      error(node.Mark(),
            "server.basic_auth_users: expected a map of user name to bcrypt hash, got " +
                describe(node));
      return;
    }
    auto& users = config_.server.basic_auth_users;
    std::map<std::string, int> first_line;
    for (const auto& kv : node) {
      const YAML::Node& key = kv.first;
      const YAML::Node& value = kv.second;
      if (!key.IsScalar()) {
        error(key.Mark(),
              "server.basic_auth_users: user names must be strings, got " + describe(key));
        continue;
      }
      const std::string& user = key.Scalar();
      const std::string label = "server.basic_auth_users." + user;
      if (user.empty()) {
        error(key.Mark(), "server.basic_auth_users: a user name must not be empty");
        continue;
      }
      if (user.find(':') != std::string::npos) {
        error(key.Mark(), "server.basic_auth_users: user name " + quote(user) +
                              " contains ':', which basic auth cannot carry");
        continue;
      }
      if (const auto it = first_line.find(user); it != first_line.end()) {
        error(key.Mark(), "server.basic_auth_users: duplicate user " + quote(user) +
                              " (first at line " + std::to_string(it->second) + ")");
        continue;
      }
      first_line.emplace(user, key.Mark().line + 1);
      if (!value.IsScalar()) {
        error(value.Mark(), label + ": expected a bcrypt hash, got " + describe(value));
        continue;
      }
      const std::string& hash = value.Scalar();
      if (const std::string problem = bcrypt_problem(hash); !problem.empty()) {
        // The hash itself is a secret of sorts: name the user, not the value.
        std::string message = label;
        message += ": not a bcrypt hash: ";
        message += problem;
        error(value.Mark(), std::move(message));
        continue;
      }
      users.emplace(user, hash);
    }
  }

  template <class Enum, std::size_t N>
  void enum_field(const Fields& f, std::string_view key, const std::string& path,
                  const std::array<std::pair<std::string_view, Enum>, N>& values, Enum& target) {
    const auto text = scalar(f, key, path, "a string");
    if (!text) return;
    for (const auto& [name, value] : values) {
      if (name == *text) {
        target = value;
        return;
      }
    }
    std::string choices;
    for (const auto& [name, value] : values) {
      choices += (choices.empty() ? "" : ", ") + std::string(name);
    }
    error(mark_of(f, key), path + ": " + quote(*text) + " is not one of " + choices);
  }

  void log(const Fields& f) {
    LogConfig& l = config_.log;
    enum_field(f, "level", "log.level", kLogLevels, l.level);
    enum_field(f, "format", "log.format", kLogFormats, l.format);
    if (const auto file = scalar(f, "file", "log.file", "a string")) {
      if (file->empty()) {
        l.file.clear();
      } else if (const std::string problem = absolute_file_problem(*file); !problem.empty()) {
        error(mark_of(f, "file"), "log.file: " + quote(*file) + ": " + problem);
      } else {
        l.file = *file;
      }
    }
    byte_size_field(f, "max_size", "log.max_size", l.max_size);
    int_field(f, "max_files", "log.max_files", 1, kMaxLogFiles, l.max_files);
  }

  std::string file_;
  Config config_;
  std::vector<Diagnostic> diagnostics_;
  bool docker_host_set_ = false;
};

}  // namespace

std::string to_string(LogLevel level) {
  for (const auto& [name, value] : kLogLevels) {
    if (value == level) return std::string(name);
  }
  return "unknown";
}

std::string to_string(LogFormat format) {
  for (const auto& [name, value] : kLogFormats) {
    if (value == format) return std::string(name);
  }
  return "unknown";
}

std::string to_string(RemediationConfig::OnIpChange policy) {
  for (const auto& [name, value] : kOnIpChange) {
    if (value == policy) return std::string(name);
  }
  return "unknown";
}

std::vector<std::string> known_keys() {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < kTopKeys.size(); ++i) {
    for (const std::string_view key : kSectionKeys[i]) {
      const std::string dotted = std::string(kTopKeys[i]) + "." + std::string(key);
      if (dotted == "server.tls") {
        for (const std::string_view tls_key : kTlsKeys)
          out.push_back(dotted + "." + std::string(tls_key));
      } else {
        out.push_back(dotted);
      }
    }
  }
  return out;
}

std::string Diagnostic::to_string() const {
  if (line == 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

LoadResult parse(std::string_view yaml_text, std::string_view file_name,
                 std::optional<std::string> docker_host_env) {
  return Parser(file_name).run(yaml_text, std::move(docker_host_env));
}

LoadResult load_file(const std::string& path, std::optional<std::string> docker_host_env) {
  const auto unreadable = [&](int error_number) {
    LoadResult result;
    result.diagnostics.push_back(
        {.file = path, .message = "cannot read: " + std::generic_category().message(error_number)});
    return result;
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unreadable(errno);
  std::string text;
  std::array<char, 16384> buffer{};
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error_number = errno;
      ::close(fd);
      return unreadable(error_number);
    }
    text.append(buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return parse(text, path, std::move(docker_host_env));
}

}  // namespace k8sinpod::config
