#include "kind/commands.hpp"

#include <algorithm>

namespace k8sinpod::kind {

std::vector<std::string> get_clusters_argv(const Settings& s) {
  return {s.kind_path, "get", "clusters"};
}

std::vector<std::string> create_argv(const Settings& s) {
  std::vector<std::string> argv{s.kind_path, "create", "cluster", "--name", s.cluster};
  if (!s.kind_config.empty()) {
    argv.emplace_back("--config");
    argv.push_back(s.kind_config);
  }
  if (!s.image.empty()) {
    argv.emplace_back("--image");
    argv.push_back(s.image);
  }
  argv.emplace_back("--kubeconfig");
  argv.push_back(s.kubeconfig);
  return argv;
}

std::vector<std::string> delete_argv(const Settings& s) {
  return {s.kind_path, "delete", "cluster", "--name", s.cluster, "--kubeconfig", s.kubeconfig};
}

std::vector<std::string> get_kubeconfig_argv(const Settings& s) {
  return {s.kind_path, "get", "kubeconfig", "--name", s.cluster};
}

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}
}  // namespace

bool lists_cluster(std::string_view out, std::string_view cluster) {
  while (!out.empty()) {
    const auto nl = out.find('\n');
    const auto line = trim(out.substr(0, nl));
    if (line == cluster) return true;
    if (nl == std::string_view::npos) break;
    out.remove_prefix(nl + 1);
  }
  return false;
}

bool is_already_exists(const std::vector<std::string>& lines) {
  return std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("ERROR:") != std::string::npos &&
           l.find("node(s) already exist for a cluster with the name") != std::string::npos;
  });
}

std::string error_summary(const std::vector<std::string>& lines) {
  std::string pick;
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    const auto line = trim(*it);
    if (line.rfind("ERROR: ", 0) == 0) {
      pick = std::string(line);
      break;
    }
    if (pick.empty() && !line.empty()) pick = std::string(line);
  }
  if (pick.empty()) return "(no output)";
  constexpr std::size_t kMax = 300;
  if (pick.size() > kMax) {
    // Never inside a UTF-8 sequence: back up over at most 3 continuation bytes (a sequence has
    // at most 4). Bytes that are not UTF-8 may hold a longer run; the cut stays near kMax then.
    std::size_t cut = kMax;
    for (int i = 0; i < 3 && (static_cast<unsigned char>(pick[cut]) & 0xC0U) == 0x80U; ++i) --cut;
    pick = pick.substr(0, cut) + "...";
  }
  return pick;
}

}  // namespace k8sinpod::kind
