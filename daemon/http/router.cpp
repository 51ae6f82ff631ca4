#include "http/router.hpp"

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <set>

namespace k8sinpod::http {
namespace {

constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kLivez = "/livez";
constexpr std::string_view kReadyz = "/readyz";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool has_param(const Target& t, std::string_view name) {
  for (const auto& [k, v] : t.query) {
    if (k == name) return true;
  }
  return false;
}

Response text(unsigned status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response not_found() { return text(404, "404 page not found\n"); }

// Go's %q for the names in kube-apiserver's "cannot be excluded" warning, ASCII only.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(u));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// kube-apiserver's handleRootHealth: verbose lines, exclusions, "<name> check passed|failed".
Response health(std::string_view name, const std::vector<core::Check>& checks, const Target& t) {
  std::set<std::string> excluded;
  for (const auto& [k, v] : t.query) {
    if (k == "exclude") excluded.insert(v);
  }
  std::string out;
  bool failed = false;
  for (const auto& c : checks) {
    if (excluded.erase(c.name) > 0) {
      out += "[+]" + std::string(c.name) + " excluded: ok\n";
    } else if (c.ok) {
      out += "[+]" + std::string(c.name) + " ok\n";
    } else {
      out += "[-]" + std::string(c.name) + " failed: reason withheld\n";
      failed = true;
    }
  }
  if (!excluded.empty()) {
    out += "warn: some health checks cannot be excluded: no matches for ";
    bool first = true;
    for (const auto& e : excluded) {
      if (!first) out += ",";
      out += quoted(e);
      first = false;
    }
    out += "\n";
  }
  if (failed) return text(503, out + std::string(name) + " check failed\n");
  if (!has_param(t, "verbose")) return text(200, "ok");
  return text(200, out + std::string(name) + " check passed\n");
}

// kube-apiserver's per-check handler, with the reason withheld as in the verbose form.
Response single_check(const std::vector<core::Check>& checks, std::string_view name) {
  for (const auto& c : checks) {
    if (name != c.name) continue;
    if (c.ok) return text(200, "ok");
    return text(503, "internal server error: reason withheld\n");
  }
  return not_found();
}

// Valid UTF-8 with every invalid byte replaced by U+FFFD: error texts carry kind's output,
// which may hold anything, and JSON must stay JSON.
std::string valid_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    const auto c = static_cast<unsigned char>(in[i]);
    std::size_t len = 0;
    if (c < 0x80) {
      len = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
    }
    bool ok = len > 0 && i + len <= in.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(in[i + k]) & 0xC0U) == 0x80U;
    }
    if (ok && len == 3) {  // no overlong forms, no surrogates
      const auto c1 = static_cast<unsigned char>(in[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);
    }
    if (ok && len == 4) {  // no overlong forms, nothing above U+10FFFF
      const auto c1 = static_cast<unsigned char>(in[i + 1]);
      ok = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

boost::json::value string_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  return boost::json::value(valid_utf8(s));
}

double seconds(core::Duration d) { return std::chrono::duration<double>(d).count(); }

Response status(const RouteContext& ctx) {
  const auto& s = ctx.state;
  boost::json::object o;
  o["cluster"] = ctx.cluster_name;
  o["phase"] = core::to_string(s.phase);
  o["ready"] = core::is_ready(s, ctx.policy);
  o["adopted"] = s.adopted;
  o["control_plane_ip"] = string_or_null(s.control_plane_ip);
  o["kubeconfig"] = boost::json::object{{"path", ctx.kubeconfig_path},
                                        {"written", s.kubeconfig_ok},
                                        {"server_ip", string_or_null(s.kubeconfig_ip)}};
  o["docker_up"] = s.docker_ok;
  o["last_error"] = string_or_null(s.last_error);
  if (s.last_probe) {
    o["last_probe"] = boost::json::object{{"ok", s.last_probe->ok},
                                          {"time", format_rfc3339(s.last_probe->at)},
                                          {"duration_seconds", seconds(s.last_probe->took)},
                                          {"error", string_or_null(s.last_probe->error)}};
  } else {
    o["last_probe"] = nullptr;
  }
  if (s.last_probe_success) {
    o["last_probe_success"] = format_rfc3339(*s.last_probe_success);
  } else {
    o["last_probe_success"] = nullptr;
  }
  o["backoff_seconds"] = seconds(s.current_backoff);
  boost::json::array checks;
  for (const auto& c : core::readiness_checks(s, ctx.policy)) {
    checks.push_back(
        boost::json::object{{"name", c.name}, {"ok", c.ok}, {"reason", string_or_null(c.reason)}});
  }
  o["checks"] = std::move(checks);
  const auto& c = s.counters;
  o["counters"] = boost::json::object{
      {"probes_ok", c.probes_ok},
      {"probes_failed", c.probes_failed},
      {"creations_ok", c.creations_ok},
      {"creations_failed", c.creations_failed},
      {"kubeconfig_writes", c.kubeconfig_writes},
      {"kubeconfig_write_failures", c.kubeconfig_write_failures},
      {"control_plane_ip_changes", c.control_plane_ip_changes},
  };
  o["version"] = ctx.version;

  Response r;
  r.content_type = "application/json";
  r.body = boost::json::serialize(o) + "\n";
  return r;
}

Response metrics(const RouteContext& ctx) {
  if (!ctx.metrics) return text(503, "metrics unavailable\n");
  Response r;
  r.content_type = kMetricsContentType;
  r.body = ctx.metrics();
  return r;
}

bool is_known(std::string_view path) {
  return path == kLivez || path == kReadyz || path == "/metrics" || path == "/status" ||
         path.substr(0, kLivez.size() + 1) == "/livez/" ||
         path.substr(0, kReadyz.size() + 1) == "/readyz/";
}

}  // namespace

std::optional<Target> parse_target(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  const auto question = target.find('?');
  auto path = percent_decode(target.substr(0, question), false);
  if (!path) return std::nullopt;
  Target t{std::move(*path), {}};
  if (question == std::string_view::npos) return t;

  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    auto key = percent_decode(part.substr(0, eq), true);
    auto value = percent_decode(
        eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), true);
    if (!key || !value) return std::nullopt;
    t.query.emplace_back(std::move(*key), std::move(*value));
  }
  return t;
}

std::string format_rfc3339(core::TimePoint t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{ms - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buf;
}

Response route(const Request& request, const RouteContext& ctx) {
  const auto target = parse_target(request.target);
  if (!target) return text(400, "400 bad request\n");
  const std::string_view path = target->path;
  if (!is_known(path)) return not_found();
  if (request.method != "GET" && request.method != "HEAD") {
    auto r = text(405, "405 method not allowed\n");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }

  if (path == kLivez || path.substr(0, kLivez.size() + 1) == "/livez/") {
    // Liveness is the supervisor's loop turning; the cluster's state never fails it.
    const std::vector<core::Check> live = {
        {"ping", true, ""}, {"eventloop", ctx.loop_responsive, "event loop stalled"}};
    if (path == kLivez) return health("livez", live, *target);
    return single_check(live, path.substr(kLivez.size() + 1));
  }
  if (path == kReadyz || path.substr(0, kReadyz.size() + 1) == "/readyz/") {
    const auto checks = core::readiness_checks(ctx.state, ctx.policy);
    if (path == kReadyz) return health("readyz", checks, *target);
    return single_check(checks, path.substr(kReadyz.size() + 1));
  }
  if (path == "/metrics") return metrics(ctx);
  return status(ctx);
}

}  // namespace k8sinpod::http
