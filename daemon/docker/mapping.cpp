#include "docker/mapping.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <exception>
#include <utility>

namespace k8sinpod::docker {
namespace {

namespace json = boost::json;

// sizeof(sockaddr_un::sun_path) is 108 on Linux, including the terminating NUL.
constexpr std::size_t kMaxUnixPath = 107;
// Docker messages are one line; a longer one is cut rather than flooding the log.
constexpr std::size_t kMaxMessage = 200;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Appends `text` with `"`, `\` and every byte outside printable ASCII escaped.
void append_escaped(std::string& out, std::string_view text) {
  constexpr char kHex[] = "0123456789abcdef";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte > 0x7e) {
      out += "\\x";
      out += kHex[byte >> 4U];
      out += kHex[byte & 0xfU];
    } else {
      out += c;
    }
  }
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  append_escaped(out, text);
  out += '"';
  return out;
}

std::string lower_first(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

Error wrong_type(const std::string& where, std::string_view want, const json::value& got) {
  return fail("response " + where + ": expected " + std::string(want) + ", got " +
              std::string(json_type_name(got)));
}

Result<json::value> parse_json(std::string_view text) {
  try {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return fail("response is not JSON: " + excerpt(text));
    return v;
  } catch (const std::exception& e) {  // allocation failure or an over-long document
    return fail("response is not JSON: " + lower_first(e.what()));
  }
}

// The member `key` of `o`; nullptr when absent or null (Docker sends null for empty maps).
const json::value* member(const json::object& o, std::string_view key) {
  const auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

Result<std::string> optional_string(const json::object& o, std::string_view key,
                                    const std::string& where) {
  const json::value* v = member(o, key);
  if (v == nullptr) return std::string();
  if (!v->is_string()) return wrong_type(where, "string", *v);
  return std::string(v->get_string());
}

// nullptr when absent or null.
Result<const json::object*> optional_object(const json::object& o, std::string_view key,
                                            const std::string& where) {
  const json::value* v = member(o, key);
  if (v == nullptr) return nullptr;
  if (!v->is_object()) return wrong_type(where, "object", *v);
  return &v->get_object();
}

Result<std::string> required_string(const json::object& o, std::string_view key,
                                    const std::string& where) {
  const json::value* v = member(o, key);
  if (v == nullptr) return fail("response " + where + ": missing");
  if (!v->is_string()) return wrong_type(where, "string", *v);
  return std::string(v->get_string());
}

bool is_ipv4(std::string_view s) {
  int octets = 0;
  std::size_t i = 0;
  while (true) {
    const std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 3) {
      value = value * 10U + static_cast<unsigned>(s[i] - '0');
      ++i;
    }
    if (i == start || value > 255U) return false;
    ++octets;
    if (i == s.size()) return octets == 4;
    if (s[i] != '.' || octets == 4) return false;
    ++i;
  }
}

std::string strip_slash(std::string_view name) {
  if (!name.empty() && name[0] == '/') name.remove_prefix(1);
  return std::string(name);
}

Result<Endpoint> parse_unix(std::string_view host, std::string_view path) {
  const auto bad = [&](std::string_view why) {
    return fail("docker: host " + quoted(host) + ": " + std::string(why));
  };
  if (path.empty() || path[0] != '/') return bad("socket path must be absolute");
  if (path.size() > kMaxUnixPath) {
    return bad("socket path longer than " + std::to_string(kMaxUnixPath) + " bytes");
  }
  if (path.find('\0') != std::string_view::npos) return bad("socket path contains a NUL byte");
  Endpoint e;
  e.kind = Endpoint::Kind::unix_socket;
  e.path = std::string(path);
  return e;
}

Result<Endpoint> parse_tcp(std::string_view host, std::string_view rest) {
  const auto bad = [&](std::string_view why) {
    return fail("docker: host " + quoted(host) + ": " + std::string(why));
  };
  std::string_view name;
  std::string_view after;  // ":port" and anything behind it
  if (!rest.empty() && rest[0] == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unterminated \"[\" in address");
    name = rest.substr(1, close - 1);
    after = rest.substr(close + 1);
    for (const char c : name) {
      if (!is_hex(c) && c != ':' && c != '.') return bad("invalid IPv6 address");
    }
  } else {
    const std::size_t colon = rest.find(':');
    name = rest.substr(0, colon);
    after = colon == std::string_view::npos ? std::string_view() : rest.substr(colon);
    for (const char c : name) {
      if (!is_alnum(c) && c != '.' && c != '-' && c != '_') {
        return bad("invalid character " + quoted(std::string_view(&c, 1)) + " in host name");
      }
    }
  }
  if (name.empty()) return bad("missing host");
  if (after.empty() || after[0] != ':') return bad("missing port (want tcp://host:port)");
  const std::string_view port = after.substr(1);
  const std::size_t junk = port.find_first_not_of("0123456789");
  if (junk != std::string_view::npos) {
    return bad("unexpected " + quoted(port.substr(junk)) + " after the port");
  }
  unsigned number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number == 0 ||
      number > 65535U) {
    return bad("port " + quoted(port) + " is not in 1..65535");
  }
  Endpoint e;
  e.kind = Endpoint::Kind::tcp;
  e.host = std::string(name);
  e.port = std::to_string(number);
  return e;
}

}  // namespace

std::string_view json_type_name(const boost::json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "bool";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "number";
    case json::kind::string:
      return "string";
    case json::kind::array:
      return "array";
    case json::kind::object:
      return "object";
  }
  return "unknown";
}

std::string Endpoint::to_string() const {
  switch (kind) {
    case Kind::unix_socket:
      return "unix://" + path;
    case Kind::tcp:
      if (host.find(':') != std::string::npos) return "tcp://[" + host + "]:" + port;
      return "tcp://" + host + ":" + port;
  }
  return "unknown://";
}

Result<Endpoint> parse_host(std::string_view host) {
  constexpr std::string_view kUnix = "unix://";
  constexpr std::string_view kTcp = "tcp://";
  if (host.substr(0, kUnix.size()) == kUnix) return parse_unix(host, host.substr(kUnix.size()));
  if (host.substr(0, kTcp.size()) == kTcp) return parse_tcp(host, host.substr(kTcp.size()));
  const std::size_t scheme_end = host.find("://");
  if (scheme_end == std::string_view::npos) {
    return fail("docker: host " + quoted(host) + ": missing scheme (want unix:// or tcp://)");
  }
  return fail("docker: host " + quoted(host) + ": unsupported scheme " +
              quoted(host.substr(0, scheme_end)) + " (want unix:// or tcp://)");
}

Result<std::vector<ContainerSummary>> parse_container_list(std::string_view text) {
  auto parsed = parse_json(text);
  if (!parsed) return parsed.error();
  const json::array* items = parsed->if_array();
  if (items == nullptr) return wrong_type("body", "array", *parsed);

  std::vector<ContainerSummary> out;
  out.reserve(items->size());
  for (std::size_t i = 0; i < items->size(); ++i) {
    const std::string at = "[" + std::to_string(i) + "]";
    const json::object* item = (*items)[i].if_object();
    if (item == nullptr) return wrong_type(at, "object", (*items)[i]);

    ContainerSummary c;
    auto id = required_string(*item, "Id", at + ".Id");
    if (!id) return id.error();
    c.id = std::move(*id);

    auto state = optional_string(*item, "State", at + ".State");
    if (!state) return state.error();
    c.state = std::move(*state);

    if (const json::value* names = member(*item, "Names")) {
      if (!names->is_array()) return wrong_type(at + ".Names", "array", *names);
      for (std::size_t n = 0; n < names->get_array().size(); ++n) {
        const json::value& name = names->get_array()[n];
        if (!name.is_string()) {
          return wrong_type(at + ".Names[" + std::to_string(n) + "]", "string", name);
        }
        c.names.emplace_back(name.get_string());
      }
    }

    auto labels = optional_object(*item, "Labels", at + ".Labels");
    if (!labels) return labels.error();
    if (*labels != nullptr) {
      for (const auto& [key, value] : **labels) {
        if (!value.is_string()) {
          return wrong_type(at + ".Labels." + std::string(key), "string", value);
        }
        c.labels.emplace(std::string(key), std::string(value.get_string()));
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

Result<ContainerInfo> parse_inspect(std::string_view text) {
  auto parsed = parse_json(text);
  if (!parsed) return parsed.error();
  const json::object* root = parsed->if_object();
  if (root == nullptr) return wrong_type("body", "object", *parsed);

  ContainerInfo info;
  auto id = required_string(*root, "Id", ".Id");
  if (!id) return id.error();
  info.id = std::move(*id);

  auto name = optional_string(*root, "Name", ".Name");
  if (!name) return name.error();
  info.name = strip_slash(*name);

  auto state = optional_object(*root, "State", ".State");
  if (!state) return state.error();
  if (*state != nullptr) {
    if (const json::value* running = member(**state, "Running")) {
      if (!running->is_bool()) return wrong_type(".State.Running", "bool", *running);
      info.running = running->get_bool();
    }
    auto status = optional_string(**state, "Status", ".State.Status");
    if (!status) return status.error();
    info.status = std::move(*status);
    auto started = optional_string(**state, "StartedAt", ".State.StartedAt");
    if (!started) return started.error();
    info.started_at = std::move(*started);
  }

  auto settings = optional_object(*root, "NetworkSettings", ".NetworkSettings");
  if (!settings) return settings.error();
  if (*settings == nullptr) return info;
  auto networks = optional_object(**settings, "Networks", ".NetworkSettings.Networks");
  if (!networks) return networks.error();
  if (*networks == nullptr) return info;
  for (const auto& [network, value] : **networks) {
    const std::string at = ".NetworkSettings.Networks." + std::string(network);
    if (value.is_null()) {
      info.ipv4_by_network.emplace(std::string(network), std::string());
      continue;
    }
    if (!value.is_object()) return wrong_type(at, "object", value);
    auto address = optional_string(value.get_object(), "IPAddress", at + ".IPAddress");
    if (!address) return address.error();
    if (!address->empty() && !is_ipv4(*address)) {
      return fail("response " + at + ".IPAddress: " + quoted(*address) + " is not an IPv4 address");
    }
    info.ipv4_by_network.emplace(std::string(network), std::move(*address));
  }
  return info;
}

std::string percent_encode(std::string_view text) {
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4U];
      out += kHex[byte & 0xfU];
    }
  }
  return out;
}

std::string label_filter_query(const std::vector<std::string>& labels, bool all) {
  std::string target = "/containers/json";
  char separator = '?';
  if (all) {
    target += "?all=1";
    separator = '&';
  }
  if (!labels.empty()) {
    json::array values;
    for (const auto& label : labels) values.emplace_back(label);
    json::object filters;
    filters["label"] = std::move(values);
    target += separator;
    target += "filters=" + percent_encode(json::serialize(filters));
  }
  return target;
}

Result<ControlPlane> select_control_plane(const std::vector<ContainerSummary>& containers,
                                          std::string_view cluster) {
  const std::string preferred = std::string(cluster) + "-control-plane";
  const auto has_label = [](const ContainerSummary& c, std::string_view key,
                            std::string_view value) {
    const auto it = c.labels.find(std::string(key));
    return it != c.labels.end() && it->second == value;
  };
  const auto is_preferred = [&](const ContainerSummary& c) {
    for (const auto& n : c.names) {
      if (strip_slash(n) == preferred) return true;
    }
    return false;
  };

  std::vector<const ContainerSummary*> candidates;
  for (const auto& c : containers) {
    if (has_label(c, kClusterLabel, cluster) && has_label(c, kRoleLabel, kControlPlaneRole)) {
      candidates.push_back(&c);
    }
  }
  if (candidates.empty()) return ControlPlane{};

  const ContainerSummary* chosen = nullptr;
  if (candidates.size() == 1) {
    chosen = candidates.front();
  } else {
    for (const auto* c : candidates) {
      if (is_preferred(*c)) chosen = c;
    }
    if (chosen == nullptr) {
      return fail("docker: cluster " + quoted(cluster) + ": " + std::to_string(candidates.size()) +
                  " control-plane containers and none named " + quoted(preferred));
    }
  }

  ControlPlane cp;
  cp.found = true;
  cp.running = chosen->state == "running";
  cp.id = chosen->id;
  if (is_preferred(*chosen)) {
    cp.name = preferred;
  } else if (!chosen->names.empty()) {
    cp.name = strip_slash(chosen->names.front());
  }
  return cp;
}

std::string excerpt(std::string_view body, std::size_t max_bytes) {
  std::string out = quoted(body.substr(0, max_bytes));
  if (body.size() > max_bytes) out += "...";  // after the quote: the dots are not in the body
  return out;
}

std::string error_text(std::string_view body) {
  try {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    if (!ec && v.is_object()) {
      const json::value* message = member(v.get_object(), "message");
      if (message != nullptr && message->is_string() && !message->get_string().empty()) {
        const std::string_view text = message->get_string();
        std::string out;
        append_escaped(out, text.substr(0, kMaxMessage));
        if (text.size() > kMaxMessage) out += "...";
        return lower_first(std::move(out));
      }
    }
  } catch (const std::exception&) {
    // Fall through to the excerpt: this is already an error path.
  }
  return excerpt(body);
}

}  // namespace k8sinpod::docker
