#include "kind/commands.hpp"

#include <doctest/doctest.h>

using namespace k8sinpod::kind;
using V = std::vector<std::string>;

namespace {
Settings settings() {
  Settings s;
  s.kind_path = "/usr/local/bin/kind";
  s.cluster = "ci";
  s.kubeconfig = "/var/lib/k8sinpod/.kind-kubeconfig";
  return s;
}
}  // namespace

TEST_CASE("create argv passes only what is configured, and always our private kubeconfig") {
  auto s = settings();
  CHECK(create_argv(s) == V{"/usr/local/bin/kind", "create", "cluster", "--name", "ci",
                            "--kubeconfig", "/var/lib/k8sinpod/.kind-kubeconfig"});
  s.kind_config = "/etc/k8sinpod/kind.yaml";
  s.image = "kindest/node:v1.31.0";
  CHECK(create_argv(s) == V{"/usr/local/bin/kind", "create", "cluster", "--name", "ci", "--config",
                            "/etc/k8sinpod/kind.yaml", "--image", "kindest/node:v1.31.0",
                            "--kubeconfig", "/var/lib/k8sinpod/.kind-kubeconfig"});
}

TEST_CASE("delete, get clusters and get kubeconfig argv") {
  const auto s = settings();
  CHECK(delete_argv(s) == V{"/usr/local/bin/kind", "delete", "cluster", "--name", "ci",
                            "--kubeconfig", "/var/lib/k8sinpod/.kind-kubeconfig"});
  CHECK(get_clusters_argv(s) == V{"/usr/local/bin/kind", "get", "clusters"});
  CHECK(get_kubeconfig_argv(s) == V{"/usr/local/bin/kind", "get", "kubeconfig", "--name", "ci"});
}

TEST_CASE("get clusters output matches whole names only") {
  CHECK(lists_cluster("ci\nother\n", "ci"));
  CHECK(lists_cluster("a\nci", "ci"));
  CHECK(lists_cluster("a\r\nci\r\n", "ci"));
  CHECK_FALSE(lists_cluster("ci2\nxci\n", "ci"));
  CHECK_FALSE(lists_cluster("", "ci"));
}

TEST_CASE("already-exist refusal is recognised from kind's exact message") {
  CHECK(is_already_exists(V{"Creating cluster \"ci\" ...",
                            "ERROR: failed to create cluster: node(s) already exist for a cluster "
                            "with the name \"ci\""}));
  CHECK_FALSE(is_already_exists(V{"ERROR: failed to create cluster: boom"}));
  CHECK_FALSE(is_already_exists(V{}));
}

TEST_CASE("error summary prefers the last ERROR line") {
  CHECK(error_summary(V{"ERROR: first", " ✗ Starting control-plane", "ERROR: last", "trailer"}) ==
        "ERROR: last");
  CHECK(error_summary(V{"something", "", "  last words  "}) == "last words");
  CHECK(error_summary(V{}) == "(no output)");
  CHECK(error_summary(V{std::string(500, 'x')}).size() == 303);
}

TEST_CASE("error summary keeps its ERROR: line when the bytes after it are not UTF-8") {
  // Fuzz finding 3: a run of continuation bytes took the clip back to "ERROR:".
  const auto summary = error_summary(V{"ERROR: " + std::string(400, '\x90')});
  CHECK(summary.rfind("ERROR: ", 0) == 0);
  CHECK(summary.size() >= 297 + 3);
  CHECK(summary.size() <= 303);
}

TEST_CASE("error summary never cuts a UTF-8 sequence in two") {
  const auto summary = error_summary(V{"ERROR: " + std::string(292, 'x') + "\xe2\x9c\x93 done"});
  CHECK(summary == "ERROR: " + std::string(292, 'x') + "...");
}
