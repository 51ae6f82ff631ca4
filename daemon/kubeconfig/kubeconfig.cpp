#include "kubeconfig/kubeconfig.hpp"

#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace k8sinpod::kubeconfig {
namespace {

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

/// YAML::Node is explicitly constructible from anything, which hides result's converting
/// constructor from Error: name the error alternative.
Result<YAML::Node> node_error(std::string message) {
  return {boost::system::in_place_error, fail(std::move(message))};
}

/// yaml-cpp's parser messages are fixed texts, so they carry no key material.
Result<YAML::Node> load(std::string_view yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    return node_error("kubeconfig: not valid YAML: line " + std::to_string(e.mark.line + 1) +
                      ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const std::exception&) {
    return node_error("kubeconfig: not valid YAML");
  }
  if (!root.IsMap()) return node_error("kubeconfig: the top level is not a map");
  return root;
}

/// A map value of `node`, or an undefined node when `node` is not a map or has no such key.
/// Never inserts (lookups on a non-const yaml-cpp node would).
YAML::Node child(const YAML::Node& node, std::string_view key) {
  if (!node.IsDefined() || !node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node& const_node = node;
  const YAML::Node value = const_node[std::string(key)];
  if (!value.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
  return value;
}

bool is_set(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }

/// A named entry, e.g. `clusters[] {name: kind-x, cluster: {...}}`: `list` is "clusters",
/// `kind` is "cluster" (both the inner key and the word used in messages).
struct Named {
  YAML::Node entry;  ///< the list element
  YAML::Node inner;  ///< its `kind` map
};

Result<Named> find_entry(const YAML::Node& root, std::string_view list, std::string_view kind,
                         std::string_view name) {
  const YAML::Node entries = child(root, list);
  if (!is_set(entries)) return fail("kubeconfig: no " + quote(list) + " list");
  if (!entries.IsSequence()) return fail("kubeconfig: " + quote(list) + " is not a list");

  std::optional<YAML::Node> found;
  int matches = 0;
  std::string names;
  std::size_t index = 0;
  for (const YAML::Node& entry : entries) {
    const std::size_t this_index = index++;
    if (!entry.IsMap()) {
      return fail("kubeconfig: " + std::string(list) + "[" + std::to_string(this_index) +
                  "] is not a map");
    }
    const YAML::Node entry_name = child(entry, "name");
    if (!entry_name.IsDefined() || !entry_name.IsScalar()) continue;
    names += (names.empty() ? "" : ", ") + quote(entry_name.Scalar());
    if (entry_name.Scalar() == name) {
      found = entry;
      ++matches;
    }
  }
  if (matches == 0) {
    return fail("kubeconfig: no " + std::string(kind) + " entry " + quote(name) + " (" +
                (names.empty() ? std::string("there are none") : "have " + names) + ")");
  }
  if (matches > 1) {
    return fail("kubeconfig: " + std::string(kind) + " entry " + quote(name) + " appears " +
                std::to_string(matches) + " times");
  }
  const YAML::Node inner = child(*found, kind);
  if (!inner.IsDefined() || !inner.IsMap()) {
    return fail("kubeconfig: " + std::string(kind) + " entry " + quote(name) + " has no " +
                quote(kind) + " map");
  }
  return Named{*found, inner};
}

void emit_scalar(YAML::Emitter& out, const YAML::Node& node) {
  constexpr std::string_view kCoreTagPrefix = "tag:yaml.org,2002:";
  const std::string& tag = node.Tag();
  if (tag == "!") {
    // A quoted or block scalar in the input: keep it a string even when it reads as a bool or
    // number (yaml-cpp's own node emitter drops the quotes of "true").
    out << YAML::DoubleQuoted << node.Scalar();
  } else if (tag.empty() || tag == "?") {
    out << node.Scalar();
  } else if (std::string_view(tag).starts_with(kCoreTagPrefix)) {
    out << YAML::SecondaryTag(tag.substr(kCoreTagPrefix.size())) << node.Scalar();
  } else {
    out << YAML::VerbatimTag(tag) << node.Scalar();
  }
}

void emit(YAML::Emitter& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out << YAML::Null;
      return;
    case YAML::NodeType::Scalar:
      emit_scalar(out, node);
      return;
    case YAML::NodeType::Sequence:
      if (node.Style() == YAML::EmitterStyle::Flow) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const YAML::Node& item : node) emit(out, item);
      out << YAML::EndSeq;
      return;
    case YAML::NodeType::Map:
      if (node.Style() == YAML::EmitterStyle::Flow) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& kv : node) {
        out << YAML::Key;
        emit(out, kv.first);
        out << YAML::Value;
        emit(out, kv.second);
      }
      out << YAML::EndMap;
      return;
  }
}

Result<std::string> scalar_field(const YAML::Node& map, std::string_view key,
                                 const std::string& owner) {
  const YAML::Node value = child(map, key);
  if (!is_set(value)) return fail("kubeconfig: " + owner + " has no " + quote(key));
  if (!value.IsScalar())
    return fail("kubeconfig: " + owner + ": " + quote(key) + " is not a string");
  return value.Scalar();
}

/// Decodes `<data_key>` of `map`; a missing value names the unsupported file form if present.
Result<std::string> data_field(const YAML::Node& map, std::string_view data_key,
                               std::string_view file_key, const std::string& owner) {
  const YAML::Node data = child(map, data_key);
  if (!is_set(data)) {
    if (is_set(child(map, file_key))) {
      return fail("kubeconfig: " + owner + ": " + quote(file_key) +
                  " (a file path) is not supported; inline it as " + quote(data_key));
    }
    return fail("kubeconfig: " + owner + " has no " + quote(data_key));
  }
  if (!data.IsScalar()) {
    return fail("kubeconfig: " + owner + ": " + quote(data_key) + " is not a string");
  }
  auto decoded = decode_base64(data.Scalar());
  if (!decoded) {
    return fail("kubeconfig: " + owner + ": " + std::string(data_key) + ": " +
                decoded.error().message);
  }
  if (decoded->empty()) return fail("kubeconfig: " + owner + ": " + quote(data_key) + " is empty");
  return std::move(*decoded);
}

Result<Credentials> read_credentials_unchecked(std::string_view yaml,
                                               std::string_view context_name) {
  auto root = load(yaml);
  if (!root) return root.error();

  std::string context = std::string(context_name);
  if (context.empty()) {
    const YAML::Node current = child(*root, "current-context");
    if (!is_set(current) || !current.IsScalar() || current.Scalar().empty()) {
      return fail("kubeconfig: no context given and no \"current-context\"");
    }
    context = current.Scalar();
  }

  const auto context_entry = find_entry(*root, "contexts", "context", context);
  if (!context_entry) return context_entry.error();
  const std::string context_owner = "context " + quote(context);
  const auto cluster_name = scalar_field(context_entry->inner, "cluster", context_owner);
  if (!cluster_name) return cluster_name.error();
  const auto user_name = scalar_field(context_entry->inner, "user", context_owner);
  if (!user_name) return user_name.error();

  const auto cluster = find_entry(*root, "clusters", "cluster", *cluster_name);
  if (!cluster) return cluster.error();
  const auto user = find_entry(*root, "users", "user", *user_name);
  if (!user) return user.error();

  const std::string cluster_owner = "cluster " + quote(*cluster_name);
  const std::string user_owner = "user " + quote(*user_name);
  Credentials out;
  auto server = scalar_field(cluster->inner, "server", cluster_owner);
  if (!server) return server.error();
  out.server = std::move(*server);
  auto ca = data_field(cluster->inner, "certificate-authority-data", "certificate-authority",
                       cluster_owner);
  if (!ca) return ca.error();
  out.ca_pem = std::move(*ca);
  auto cert = data_field(user->inner, "client-certificate-data", "client-certificate", user_owner);
  if (!cert) return cert.error();
  out.client_cert_pem = std::move(*cert);
  auto key = data_field(user->inner, "client-key-data", "client-key", user_owner);
  if (!key) return key.error();
  out.client_key_pem = std::move(*key);
  return out;
}

constexpr int kNotBase64 = -1;

constexpr std::array<int, 256> make_base64_table() {
  std::array<int, 256> table{};
  for (int& v : table) v = kNotBase64;
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
  }
  return table;
}

constexpr std::array<int, 256> kBase64Table = make_base64_table();

}  // namespace

Result<std::string> decode_base64(std::string_view text) {
  // Offsets of the significant characters, so that errors point into the original text.
  std::vector<std::size_t> offsets;
  offsets.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r' && text[i] != '\n') offsets.push_back(i);
  }
  if (offsets.size() % 4 != 0) {
    return fail("invalid base64: length " + std::to_string(offsets.size()) +
                " is not a multiple of 4");
  }
  std::string out;
  out.reserve(offsets.size() / 4 * 3);
  for (std::size_t q = 0; q < offsets.size(); q += 4) {
    const bool last = q + 4 == offsets.size();
    std::uint32_t bits = 0;
    int padding = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const std::size_t offset = offsets[q + j];
      const char c = text[offset];
      if (c == '=') {
        // Padding only at the end of the last quantum, at most two characters.
        if (!last || j < 2) {
          return fail("invalid base64: padding at offset " + std::to_string(offset));
        }
        ++padding;
        bits <<= 6;
        continue;
      }
      if (padding > 0) {
        return fail("invalid base64: data after padding at offset " + std::to_string(offset));
      }
      const int value = kBase64Table[static_cast<unsigned char>(c)];
      if (value == kNotBase64) {
        return fail("invalid base64: character at offset " + std::to_string(offset) +
                    " is not in the alphabet");
      }
      bits = (bits << 6) | static_cast<std::uint32_t>(value);
    }
    out.push_back(static_cast<char>((bits >> 16) & 0xff));
    if (padding < 2) out.push_back(static_cast<char>((bits >> 8) & 0xff));
    if (padding < 1) out.push_back(static_cast<char>(bits & 0xff));
  }
  return out;
}

Result<std::string> set_server(std::string_view kubeconfig_yaml, std::string_view cluster_entry,
                               std::string_view server_url) {
  try {
    auto root = load(kubeconfig_yaml);
    if (!root) return root.error();
    const auto named = find_entry(*root, "clusters", "cluster", cluster_entry);
    if (!named) return named.error();
    YAML::Node cluster = named->inner;  // shares the tree: the edit lands in *root
    cluster["server"] = std::string(server_url);

    YAML::Emitter out;
    out.SetIndent(2);
    emit(out, *root);
    if (!out.good()) return fail("kubeconfig: cannot write YAML: " + out.GetLastError());
    return std::string(out.c_str()) + "\n";
  } catch (const std::exception&) {
    return fail("kubeconfig: cannot edit cluster entry " + quote(cluster_entry));
  }
}

Result<std::string> server_of(std::string_view kubeconfig_yaml, std::string_view cluster_entry) {
  try {
    auto root = load(kubeconfig_yaml);
    if (!root) return root.error();
    const auto named = find_entry(*root, "clusters", "cluster", cluster_entry);
    if (!named) return named.error();
    return scalar_field(named->inner, "server", "cluster " + quote(cluster_entry));
  } catch (const std::exception&) {
    return fail("kubeconfig: cannot read cluster entry " + quote(cluster_entry));
  }
}

Result<Credentials> read_credentials(std::string_view kubeconfig_yaml,
                                     std::string_view context_name) {
  try {
    return read_credentials_unchecked(kubeconfig_yaml, context_name);
  } catch (const std::exception&) {
    return fail("kubeconfig: cannot read credentials of context " + quote(context_name));
  }
}

}  // namespace k8sinpod::kubeconfig
