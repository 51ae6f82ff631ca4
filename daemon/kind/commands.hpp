#pragma once
/// kind's command line, as pure functions: argv building and output parsing. The contract is
/// ../shared/reference/kind-contract.md; nothing here goes through a shell.

#include <string>
#include <string_view>
#include <vector>

namespace k8sinpod::kind {

struct Settings {
  std::string kind_path;    // resolved absolute path of the kind binary
  std::string cluster;      // validated DNS-1123 label
  std::string kind_config;  // optional --config file
  std::string image;        // optional --image
  std::string kubeconfig;   // our private file for --kubeconfig (kind never touches ~/.kube)
};

std::vector<std::string> get_clusters_argv(const Settings& s);
std::vector<std::string> create_argv(const Settings& s);
std::vector<std::string> delete_argv(const Settings& s);
std::vector<std::string> get_kubeconfig_argv(const Settings& s);

/// `kind get clusters` prints one name per line on stdout (the "No kind clusters found."
/// notice goes to stderr). True if `cluster` is one of them.
bool lists_cluster(std::string_view stdout_text, std::string_view cluster);

/// kind's refusal to create over existing nodes:
/// `ERROR: failed to create cluster: node(s) already exist for a cluster with the name "N"`.
bool is_already_exists(const std::vector<std::string>& stderr_lines);

/// The most useful line of a failed kind run: its last `ERROR: ` line, else its last non-empty
/// line, else "(no output)". Clipped to 300 bytes.
std::string error_summary(const std::vector<std::string>& stderr_lines);

}  // namespace k8sinpod::kind
