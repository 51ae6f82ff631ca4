#include "docker/mapping.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using namespace k8sinpod::docker;

namespace {

// GET /containers/json?all=1 from Docker 20.10.24 (trimmed to two containers, fields as sent).
constexpr std::string_view kList2010 = R"json([
  {"Id":"8dfafdbc3a40c1f2b9f5e1d1a0a3c1f0e4a9d5b6c7e8f9a0b1c2d3e4f5a6b7c8",
   "Names":["/ci-control-plane"],"Image":"kindest/node:v1.27.3",
   "ImageID":"sha256:9dd3392d79af1b084671b05bcf65b21de476256ad1dcc853d9f3b10b4ac52dde",
   "Command":"/usr/local/bin/entrypoint /sbin/init","Created":1700000000,
   "Ports":[{"IP":"127.0.0.1","PrivatePort":6443,"PublicPort":44333,"Type":"tcp"}],
   "Labels":{"io.x-k8s.kind.cluster":"ci","io.x-k8s.kind.role":"control-plane"},
   "State":"running","Status":"Up 3 minutes","HostConfig":{"NetworkMode":"kind"},
   "NetworkSettings":{"Networks":{"kind":{"IPAMConfig":null,"Links":null,"Aliases":null,
     "NetworkID":"4c1b2b0f0f6e","EndpointID":"a1b2c3","Gateway":"172.18.0.1",
     "IPAddress":"172.18.0.2","IPPrefixLen":16,"IPv6Gateway":"fc00:f853:ccd:e793::1",
     "GlobalIPv6Address":"fc00:f853:ccd:e793::2","GlobalIPv6PrefixLen":64,
     "MacAddress":"02:42:ac:12:00:02","DriverOpts":null}}},
   "Mounts":[{"Type":"volume","Name":"3f2a","Source":"","Destination":"/var","Driver":"local",
     "Mode":"","RW":true,"Propagation":""}]},
  {"Id":"1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a",
   "Names":["/ci-worker"],"Image":"kindest/node:v1.27.3","Command":"/usr/local/bin/entrypoint",
   "Created":1700000000,"Ports":[],
   "Labels":{"io.x-k8s.kind.cluster":"ci","io.x-k8s.kind.role":"worker"},
   "State":"exited","Status":"Exited (137) 5 seconds ago","HostConfig":{"NetworkMode":"kind"},
   "NetworkSettings":{"Networks":{"kind":{"IPAMConfig":null,"Links":null,"Aliases":null,
     "NetworkID":"4c1b2b0f0f6e","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,
     "IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"",
     "DriverOpts":null}}},"Mounts":[]}
])json";

// GET /containers/{id}/json from Docker 28.2 for a running kind control plane that was also
// connected to the default bridge (`docker network connect bridge ci-control-plane`).
constexpr std::string_view kInspect28TwoNetworks = R"json({
  "Id":"8dfafdbc3a40c1f2b9f5e1d1a0a3c1f0e4a9d5b6c7e8f9a0b1c2d3e4f5a6b7c8",
  "Created":"2025-06-02T10:11:12.123456789Z","Path":"/usr/local/bin/entrypoint",
  "Args":["/sbin/init"],
  "State":{"Status":"running","Running":true,"Paused":false,"Restarting":false,
    "OOMKilled":false,"Dead":false,"Pid":4242,"ExitCode":0,"Error":"",
    "StartedAt":"2025-06-02T10:11:13.5Z","FinishedAt":"0001-01-01T00:00:00Z"},
  "Image":"sha256:9dd3392d79af1b084671b05bcf65b21de476256ad1dcc853d9f3b10b4ac52dde",
  "Name":"/ci-control-plane","RestartCount":0,"Driver":"overlay2","Platform":"linux",
  "HostConfig":{"NetworkMode":"kind","RestartPolicy":{"Name":"on-failure","MaximumRetryCount":1},
    "Privileged":true,"PortBindings":{"6443/tcp":[{"HostIp":"127.0.0.1","HostPort":"44333"}]}},
  "Config":{"Hostname":"ci-control-plane","Labels":{"io.x-k8s.kind.cluster":"ci",
    "io.x-k8s.kind.role":"control-plane"},"Tty":true,"Image":"kindest/node:v1.33.1"},
  "NetworkSettings":{"Bridge":"","SandboxID":"0e5a","SandboxKey":"/var/run/docker/netns/0e5a",
    "Ports":{"6443/tcp":[{"HostIp":"127.0.0.1","HostPort":"44333"}]},
    "HairpinMode":false,"LinkLocalIPv6Address":"","LinkLocalIPv6PrefixLen":0,
    "SecondaryIPAddresses":null,"SecondaryIPv6Addresses":null,"EndpointID":"","Gateway":"",
    "GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"IPAddress":"","IPPrefixLen":0,
    "IPv6Gateway":"","MacAddress":"",
    "Networks":{
      "bridge":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"4a:9e:1f:00:00:03",
        "DriverOpts":null,"GwPriority":0,"NetworkID":"b1","EndpointID":"e1",
        "Gateway":"172.17.0.1","IPAddress":"172.17.0.3","IPPrefixLen":16,"IPv6Gateway":"",
        "GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null},
      "kind":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"5e:10:22:33:44:55",
        "DriverOpts":null,"GwPriority":0,"NetworkID":"k1","EndpointID":"e2",
        "Gateway":"172.18.0.1","IPAddress":"172.18.0.2","IPPrefixLen":16,
        "IPv6Gateway":"fc00:f853:ccd:e793::1","GlobalIPv6Address":"fc00:f853:ccd:e793::2",
        "GlobalIPv6PrefixLen":64,"DNSNames":["ci-control-plane","8dfafdbc3a40"]}}}
})json";

// Docker 20.10 inspect of the same node after `docker stop`: the network stays, the address goes.
constexpr std::string_view kInspect2010Stopped = R"json({
  "Id":"8dfafdbc3a40c1f2b9f5e1d1a0a3c1f0e4a9d5b6c7e8f9a0b1c2d3e4f5a6b7c8",
  "State":{"Status":"exited","Running":false,"Paused":false,"Restarting":false,
    "OOMKilled":false,"Dead":false,"Pid":0,"ExitCode":130,"Error":"",
    "StartedAt":"2025-06-02T10:11:13.5Z","FinishedAt":"2025-06-02T10:20:00.1Z"},
  "Name":"/ci-control-plane",
  "NetworkSettings":{"Bridge":"","SandboxID":"","Ports":{},"IPAddress":"",
    "Networks":{"kind":{"IPAMConfig":null,"Links":null,"Aliases":["8dfafdbc3a40"],
      "NetworkID":"k1","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,
      "IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"",
      "DriverOpts":null}}}
})json";

ContainerSummary node(std::string id, std::string name, std::string cluster, std::string role,
                      std::string state = "running") {
  ContainerSummary c;
  c.id = std::move(id);
  c.names = {"/" + std::move(name)};
  c.state = std::move(state);
  c.labels = {{"io.x-k8s.kind.cluster", std::move(cluster)},
              {"io.x-k8s.kind.role", std::move(role)}};
  return c;
}

}  // namespace

TEST_CASE("parse_host: accepted addresses") {
  struct Row {
    std::string_view in;
    Endpoint::Kind kind;
    std::string_view path, host, port, back;
  };
  const Row rows[] = {
      {"unix:///var/run/docker.sock", Endpoint::Kind::unix_socket, "/var/run/docker.sock", "", "",
       "unix:///var/run/docker.sock"},
      {"unix:///tmp/dk/docker.sock", Endpoint::Kind::unix_socket, "/tmp/dk/docker.sock", "", "",
       "unix:///tmp/dk/docker.sock"},
      {"tcp://127.0.0.1:2375", Endpoint::Kind::tcp, "", "127.0.0.1", "2375",
       "tcp://127.0.0.1:2375"},
      {"tcp://docker:2376", Endpoint::Kind::tcp, "", "docker", "2376", "tcp://docker:2376"},
      {"tcp://dind.ci-ns.svc.cluster.local:2375", Endpoint::Kind::tcp, "",
       "dind.ci-ns.svc.cluster.local", "2375", "tcp://dind.ci-ns.svc.cluster.local:2375"},
      {"tcp://[::1]:2375", Endpoint::Kind::tcp, "", "::1", "2375", "tcp://[::1]:2375"},
      {"tcp://localhost:065535", Endpoint::Kind::tcp, "", "localhost", "65535",
       "tcp://localhost:65535"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.in);
    const auto e = parse_host(row.in);
    REQUIRE(e.has_value());
    CHECK(e->kind == row.kind);
    CHECK(e->path == row.path);
    CHECK(e->host == row.host);
    CHECK(e->port == row.port);
    CHECK(e->to_string() == row.back);
  }
}

TEST_CASE("parse_host: rejected addresses name the address and the reason") {
  const std::string long_path = "unix:///" + std::string(107, 'a');
  struct Row {
    std::string_view in;
    std::string_view reason;
  };
  const Row rows[] = {
      {"", "missing scheme"},
      {"/var/run/docker.sock", "missing scheme"},
      {"ssh://me@box", "unsupported scheme \"ssh\""},
      {"npipe:////./pipe/docker_engine", "unsupported scheme \"npipe\""},
      {"fd://", "unsupported scheme \"fd\""},
      {"http://localhost:2375", "unsupported scheme \"http\""},
      {"unix://", "socket path must be absolute"},
      {"unix://docker.sock", "socket path must be absolute"},
      {long_path, "socket path longer than 107 bytes"},
      {"tcp://docker", "missing port"},
      {"tcp://docker:", "port \"\" is not in 1..65535"},
      {"tcp://docker:0", "is not in 1..65535"},
      {"tcp://docker:65536", "is not in 1..65535"},
      {"tcp://docker:99999999999999999999", "is not in 1..65535"},
      {"tcp://docker:abc", "unexpected \"abc\" after the port"},
      {"tcp://docker:2375/v1.41", "unexpected \"/v1.41\" after the port"},
      {"tcp://:2375", "missing host"},
      {"tcp://user@docker:2375", "invalid character \"@\""},
      {"tcp://[::1:2375", "unterminated"},
      {"tcp://::1:2375", "missing host"},
      {"tcp://[::1]", "missing port"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.in);
    const auto e = parse_host(row.in);
    REQUIRE_FALSE(e.has_value());
    const std::string& message = e.error().message;
    CAPTURE(message);
    CHECK(message.rfind("docker: host \"", 0) == 0);
    CHECK(message.find(row.reason) != std::string::npos);
  }
}

TEST_CASE("parse_container_list: Docker 20.10 list of a kind cluster") {
  const auto list = parse_container_list(kList2010);
  REQUIRE(list.has_value());
  REQUIRE(list->size() == 2);
  const ContainerSummary& cp = (*list)[0];
  CHECK(cp.id == "8dfafdbc3a40c1f2b9f5e1d1a0a3c1f0e4a9d5b6c7e8f9a0b1c2d3e4f5a6b7c8");
  CHECK(cp.names == std::vector<std::string>{"/ci-control-plane"});
  CHECK(cp.state == "running");
  CHECK(cp.labels.size() == 2);
  CHECK(cp.labels.at("io.x-k8s.kind.role") == "control-plane");
  CHECK((*list)[1].state == "exited");
  CHECK((*list)[1].labels.at("io.x-k8s.kind.role") == "worker");
}

TEST_CASE("parse_container_list: empty, null and absent optional fields") {
  const auto empty = parse_container_list("[]");
  REQUIRE(empty.has_value());
  CHECK(empty->empty());

  const auto sparse =
      parse_container_list(R"([{"Id":"a1","Names":null,"Labels":null},{"Id":"b2"}])");
  REQUIRE(sparse.has_value());
  REQUIRE(sparse->size() == 2);
  CHECK((*sparse)[0].names.empty());
  CHECK((*sparse)[0].labels.empty());
  CHECK((*sparse)[0].state.empty());
  CHECK((*sparse)[1].id == "b2");
}

TEST_CASE("parse_container_list: bad bodies are errors naming the place") {
  struct Row {
    std::string_view body;
    std::string_view message;
  };
  const Row rows[] = {
      {"", "response is not JSON: \"\""},
      {"<html>\n<body>502 Bad Gateway</body>", "response is not JSON: \"<html>\\x0a<body>502"},
      {R"({"message":"page not found"})", "response body: expected array, got object"},
      {"[1]", "response [0]: expected object, got number"},
      {R"([{"Names":["/x"]}])", "response [0].Id: missing"},
      {R"([{"Id":7}])", "response [0].Id: expected string, got number"},
      {R"([{"Id":"a","Names":"/x"}])", "response [0].Names: expected array, got string"},
      {R"([{"Id":"a","Names":["/x",3]}])", "response [0].Names[1]: expected string, got number"},
      {R"([{"Id":"a"},{"Id":"b","State":true}])", "response [1].State: expected string, got bool"},
      {R"([{"Id":"a","Labels":["x"]}])", "response [0].Labels: expected object, got array"},
      {R"([{"Id":"a","Labels":{"k":1}}])", "response [0].Labels.k: expected string, got number"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.body);
    const auto list = parse_container_list(row.body);
    REQUIRE_FALSE(list.has_value());
    CAPTURE(list.error().message);
    CHECK(list.error().message.find(row.message) != std::string::npos);
  }
}

TEST_CASE("parse_inspect: two networks, each address kept under its own name") {
  const auto info = parse_inspect(kInspect28TwoNetworks);
  REQUIRE(info.has_value());
  CHECK(info->id == "8dfafdbc3a40c1f2b9f5e1d1a0a3c1f0e4a9d5b6c7e8f9a0b1c2d3e4f5a6b7c8");
  CHECK(info->name == "ci-control-plane");
  CHECK(info->running);
  CHECK(info->status == "running");
  CHECK(info->started_at == "2025-06-02T10:11:13.5Z");
  REQUIRE(info->ipv4_by_network.size() == 2);
  CHECK(info->ipv4_by_network.at("kind") == "172.18.0.2");
  CHECK(info->ipv4_by_network.at("bridge") == "172.17.0.3");
}

TEST_CASE("parse_inspect: stopped container has no address") {
  const auto info = parse_inspect(kInspect2010Stopped);
  REQUIRE(info.has_value());
  CHECK_FALSE(info->running);
  CHECK(info->status == "exited");
  CHECK(info->started_at == "2025-06-02T10:11:13.5Z");  // its last start, kept while stopped
  REQUIRE(info->ipv4_by_network.count("kind") == 1);
  CHECK(info->ipv4_by_network.at("kind").empty());
}

TEST_CASE("parse_inspect: absent and null sections are empty, not errors") {
  const auto bare = parse_inspect(R"({"Id":"abc"})");
  REQUIRE(bare.has_value());
  CHECK(bare->name.empty());
  CHECK_FALSE(bare->running);
  CHECK(bare->status.empty());
  CHECK(bare->started_at.empty());
  CHECK(bare->ipv4_by_network.empty());

  const auto nulls = parse_inspect(
      R"({"Id":"abc","Name":null,"State":null,"NetworkSettings":{"Networks":{"none":null}}})");
  REQUIRE(nulls.has_value());
  CHECK(nulls->ipv4_by_network.at("none").empty());

  const auto no_networks = parse_inspect(R"({"Id":"abc","NetworkSettings":{"Networks":null}})");
  REQUIRE(no_networks.has_value());
  CHECK(no_networks->ipv4_by_network.empty());
}

TEST_CASE("parse_inspect: bad bodies are errors naming the field") {
  struct Row {
    std::string_view body;
    std::string_view message;
  };
  const Row rows[] = {
      {"OK", "response is not JSON: \"OK\""},
      {R"({"Id":"abc")", "response is not JSON"},
      {"[]", "response body: expected object, got array"},
      {R"({"Name":"/x"})", "response .Id: missing"},
      {R"({"Id":"a","Name":["/x"]})", "response .Name: expected string, got array"},
      {R"({"Id":"a","State":"running"})", "response .State: expected object, got string"},
      {R"({"Id":"a","State":{"Running":"true"}})",
       "response .State.Running: expected bool, got string"},
      {R"({"Id":"a","State":{"Status":1}})", "response .State.Status: expected string, got number"},
      {R"({"Id":"a","State":{"StartedAt":0}})",
       "response .State.StartedAt: expected string, got number"},
      {R"({"Id":"a","NetworkSettings":[]})", "response .NetworkSettings: expected object"},
      {R"({"Id":"a","NetworkSettings":{"Networks":[]}})",
       "response .NetworkSettings.Networks: expected object, got array"},
      {R"({"Id":"a","NetworkSettings":{"Networks":{"kind":"172.18.0.2"}}})",
       "response .NetworkSettings.Networks.kind: expected object, got string"},
      {R"({"Id":"a","NetworkSettings":{"Networks":{"kind":{"IPAddress":3}}}})",
       "response .NetworkSettings.Networks.kind.IPAddress: expected string, got number"},
      {R"({"Id":"a","NetworkSettings":{"Networks":{"kind":{"IPAddress":"172.18.0.2172.17.0.3"}}}})",
       "\"172.18.0.2172.17.0.3\" is not an IPv4 address"},
      {R"({"Id":"a","NetworkSettings":{"Networks":{"kind":{"IPAddress":"fc00::2"}}}})",
       "\"fc00::2\" is not an IPv4 address"},
      {R"({"Id":"a","NetworkSettings":{"Networks":{"kind":{"IPAddress":"1.2.3.256"}}}})",
       "is not an IPv4 address"},
      {R"({"Id":"a","NetworkSettings":{"Networks":{"kind":{"IPAddress":"1.2.3"}}}})",
       "is not an IPv4 address"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.body);
    const auto info = parse_inspect(row.body);
    REQUIRE_FALSE(info.has_value());
    CAPTURE(info.error().message);
    CHECK(info.error().message.find(row.message) != std::string::npos);
  }
}

TEST_CASE("label_filter_query: URL-encoded label filter") {
  const std::vector<std::string> labels = {"io.x-k8s.kind.cluster=ci",
                                           "io.x-k8s.kind.role=control-plane"};
  CHECK(label_filter_query(labels, true) ==
        "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22io.x-k8s.kind.cluster%3Dci%22%2C%22"
        "io.x-k8s.kind.role%3Dcontrol-plane%22%5D%7D");
  CHECK(label_filter_query({"io.x-k8s.kind.cluster"}, false) ==
        "/containers/json?filters=%7B%22label%22%3A%5B%22io.x-k8s.kind.cluster%22%5D%7D");
  CHECK(label_filter_query({}, true) == "/containers/json?all=1");
  CHECK(label_filter_query({}, false) == "/containers/json");
  // JSON escaping happens before URL encoding: a quote in a value cannot break the filter.
  CHECK(label_filter_query({"a=\"b"}, false) ==
        "/containers/json?filters=%7B%22label%22%3A%5B%22a%3D%5C%22b%22%5D%7D");
}

TEST_CASE("select_control_plane: none, single, HA and foreign containers") {
  SUBCASE("empty list: not found") {
    const auto cp = select_control_plane({}, "ci");
    REQUIRE(cp.has_value());
    CHECK_FALSE(cp->found);
  }
  SUBCASE("workers and other clusters do not count") {
    const std::vector<ContainerSummary> list = {
        node("w1", "ci-worker", "ci", "worker"),
        node("o1", "ci2-control-plane", "ci2", "control-plane"),
        node("o2", "c-control-plane", "c", "control-plane"),
    };
    const auto cp = select_control_plane(list, "ci");
    REQUIRE(cp.has_value());
    CHECK_FALSE(cp->found);
  }
  SUBCASE("one running control plane") {
    const std::vector<ContainerSummary> list = {
        node("w1", "ci-worker", "ci", "worker"),
        node("c1", "ci-control-plane", "ci", "control-plane")};
    const auto cp = select_control_plane(list, "ci");
    REQUIRE(cp.has_value());
    CHECK(cp->found);
    CHECK(cp->running);
    CHECK(cp->id == "c1");
    CHECK(cp->name == "ci-control-plane");
    CHECK(cp->ip.empty());
  }
  SUBCASE("a stopped control plane is found, not running") {
    const auto cp = select_control_plane(
        {node("c1", "ci-control-plane", "ci", "control-plane", "exited")}, "ci");
    REQUIRE(cp.has_value());
    CHECK(cp->found);
    CHECK_FALSE(cp->running);
  }
  SUBCASE("a single control plane under another name is still taken") {
    const auto cp = select_control_plane({node("c9", "renamed", "ci", "control-plane")}, "ci");
    REQUIRE(cp.has_value());
    CHECK(cp->found);
    CHECK(cp->name == "renamed");
  }
  SUBCASE("HA: <cluster>-control-plane wins whatever the order") {
    const std::vector<ContainerSummary> list = {
        node("c3", "ci-control-plane3", "ci", "control-plane"),
        node("lb", "ci-external-load-balancer", "ci", "external-load-balancer"),
        node("c1", "ci-control-plane", "ci", "control-plane", "exited"),
        node("c2", "ci-control-plane2", "ci", "control-plane"),
    };
    const auto cp = select_control_plane(list, "ci");
    REQUIRE(cp.has_value());
    CHECK(cp->id == "c1");
    CHECK(cp->name == "ci-control-plane");
    CHECK_FALSE(cp->running);
  }
  SUBCASE("HA without <cluster>-control-plane: an error, not a guess") {
    const std::vector<ContainerSummary> list = {
        node("c2", "ci-control-plane2", "ci", "control-plane"),
        node("c3", "ci-control-plane3", "ci", "control-plane"),
    };
    const auto cp = select_control_plane(list, "ci");
    REQUIRE_FALSE(cp.has_value());
    CHECK(cp.error().message ==
          "docker: cluster \"ci\": 2 control-plane containers and none named "
          "\"ci-control-plane\"");
  }
  SUBCASE("a real Docker list") {
    const auto list = parse_container_list(kList2010);
    REQUIRE(list.has_value());
    const auto cp = select_control_plane(*list, "ci");
    REQUIRE(cp.has_value());
    CHECK(cp->found);
    CHECK(cp->running);
    CHECK(cp->name == "ci-control-plane");
  }
}

TEST_CASE("excerpt: bounded, quoted, non-printables escaped") {
  CHECK(excerpt("") == "\"\"");
  CHECK(excerpt("plain") == "\"plain\"");
  CHECK(excerpt("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(excerpt(std::string_view("\x00\x1b[31m\n\xff", 8)) == "\"\\x00\\x1b[31m\\x0a\\xff\"");
  const std::string long_body(500, 'x');
  CHECK(excerpt(long_body) == "\"" + std::string(80, 'x') + "\"...");
  CHECK(excerpt("abcdef", 3) == "\"abc\"...");
  CHECK(excerpt("abc", 3) == "\"abc\"");
}

TEST_CASE("error_text: Docker's message, else an excerpt") {
  CHECK(error_text(R"({"message":"No such container: x"})") == "no such container: x");
  CHECK(error_text(R"({"message":"page not found"})") == "page not found");
  CHECK(error_text(R"({"message":"multi\nline"})") == "multi\\x0aline");
  CHECK(error_text(R"({"message":""})") == "\"{\\\"message\\\":\\\"\\\"}\"");
  CHECK(error_text("Internal Server Error\n") == "\"Internal Server Error\\x0a\"");
  CHECK(error_text("") == "\"\"");
}
