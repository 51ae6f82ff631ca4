// The Docker client against a fake dockerd (test/fakes/fake_dockerd.hpp) on a temp unix socket
// or on 127.0.0.1 port 0, answering each request with canned bytes. No real Docker, except in
// the last case, which runs only when K8SINPOD_TEST_DOCKER_HOST names one (the sandbox).
#include "docker/client.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fakes/fake_dockerd.hpp"

using namespace k8sinpod::docker;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// What the fake answers to one request head: raw bytes, or nullopt to hold the connection open
// and never answer.
using Reply = std::optional<std::string>;
using Route = std::function<Reply(const std::string& head)>;

void rethrow(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

// The shared fake dockerd (test/fakes/fake_dockerd.hpp), answering each request by `route`.
template <class Protocol>
struct FakeDocker : k8sinpod::fakes::FakeDockerd<Protocol> {
  FakeDocker(const typename Protocol::endpoint& at, Route route)
      : k8sinpod::fakes::FakeDockerd<Protocol>(
            at, [route = std::move(route)](const std::string& head, std::size_t) {
              return k8sinpod::fakes::answer(route(head));
            }) {}
};

using UnixFake = FakeDocker<asio::local::stream_protocol>;
using TcpFake = FakeDocker<asio::ip::tcp>;
using k8sinpod::fakes::TempDir;

// Runs one client coroutine to completion; fails the test if it takes longer than `limit`.
template <class T>
T run(asio::io_context& ioc, asio::awaitable<T> task, std::chrono::seconds limit = 10s) {
  std::optional<T> out;
  asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e, T value) {
    rethrow(e);
    out.emplace(std::move(value));
    ioc.stop();
  });
  ioc.restart();
  ioc.run_for(limit);
  REQUIRE(out.has_value());
  return std::move(*out);
}

std::string response(std::string_view status, std::string_view content_type,
                     std::string_view body) {
  return "HTTP/1.1 " + std::string(status) +
         "\r\nApi-Version: 1.41\r\nContent-Type: " + std::string(content_type) +
         "\r\nServer: Docker/20.10.24 (linux)\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

// Docker streams some JSON bodies with chunked transfer encoding; cut `body` into pieces.
std::string chunked_response(std::string_view body, std::size_t piece) {
  std::string out =
      "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  char size[32];
  for (std::size_t i = 0; i < body.size(); i += piece) {
    const std::string_view part = body.substr(i, piece);
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    out += size;
    out += part;
    out += "\r\n";
  }
  out += "0\r\n\r\n";
  return out;
}

std::string target_of(const std::string& head) {
  const auto start = head.find(' ') + 1;
  return head.substr(start, head.find(' ', start) - start);
}

constexpr std::string_view kList = R"json([
  {"Id":"c1d2e3","Names":["/ci-control-plane"],"Image":"kindest/node:v1.33.1",
   "Labels":{"io.x-k8s.kind.cluster":"ci","io.x-k8s.kind.role":"control-plane"},
   "State":"running","Status":"Up 3 minutes"}
])json";

constexpr std::string_view kInspectRunning = R"json({
  "Id":"c1d2e3","Name":"/ci-control-plane",
  "State":{"Status":"running","Running":true,"Paused":false,"Pid":4242},
  "NetworkSettings":{"IPAddress":"","Networks":{
    "bridge":{"NetworkID":"b1","Gateway":"172.17.0.1","IPAddress":"172.17.0.3","IPPrefixLen":16},
    "kind":{"NetworkID":"k1","Gateway":"172.18.0.1","IPAddress":"172.18.0.2","IPPrefixLen":16}}}
})json";

constexpr std::string_view kInspectStopped = R"json({
  "Id":"c1d2e3","Name":"/ci-control-plane","State":{"Status":"exited","Running":false},
  "NetworkSettings":{"Networks":{"kind":{"NetworkID":"k1","IPAddress":""}}}
})json";

constexpr std::string_view kInspectBridgeOnly = R"json({
  "Id":"c1d2e3","Name":"/ci-control-plane","State":{"Status":"running","Running":true},
  "NetworkSettings":{"Networks":{"bridge":{"IPAddress":"172.17.0.3"}}}
})json";

// A dockerd with one kind control plane; `inspect_body` is what inspecting it returns.
Route kind_cluster(std::string_view inspect_body) {
  return [inspect = std::string(inspect_body)](const std::string& head) -> Reply {
    const std::string target = target_of(head);
    if (target.rfind("/containers/json?", 0) == 0) {
      return chunked_response(kList, 40);
    }
    if (target == "/containers/c1d2e3/json") return response("200 OK", "application/json", inspect);
    return response("404 Not Found", "application/json", R"({"message":"page not found"})");
  };
}

struct UnixWorld {
  TempDir dir;
  std::string socket = dir.path + "/docker.sock";
  asio::io_context ioc;
  UnixFake fake;
  Client client;
  UnixWorld(Route route, std::chrono::milliseconds timeout = 5000ms)
      : fake(asio::local::stream_protocol::endpoint(socket), std::move(route)),
        client(ioc.get_executor(), parse_host("unix://" + socket).value(), timeout) {}
  std::string prefix(std::string_view path) const {
    return "docker: GET " + std::string(path) + " on unix://" + socket + ": ";
  }
};

}  // namespace

TEST_CASE("ping: HTTP/1.1 GET /_ping, Host docker, Connection close") {
  UnixWorld w([](const std::string&) -> Reply { return response("200 OK", "text/plain", "OK"); });
  const auto r = run(w.ioc, w.client.ping());
  CHECK(r.has_value());
  REQUIRE(w.fake.requests().size() == 1);
  const std::string head = w.fake.requests()[0];
  CHECK(head.rfind("GET /_ping HTTP/1.1\r\n", 0) == 0);
  CHECK(head.find("\r\nHost: docker\r\n") != std::string::npos);
  CHECK(head.find("\r\nConnection: close\r\n") != std::string::npos);
}

TEST_CASE("list_containers: chunked body, label filter in the query") {
  UnixWorld w([](const std::string&) -> Reply { return chunked_response(kList, 7); });
  const std::vector<std::string> labels = {"io.x-k8s.kind.cluster=ci"};
  const auto list = run(w.ioc, w.client.list_containers(labels, true));
  REQUIRE(list.has_value());
  REQUIRE(list->size() == 1);
  CHECK((*list)[0].names[0] == "/ci-control-plane");
  REQUIRE(w.fake.requests().size() == 1);
  CHECK(target_of(w.fake.requests()[0]) == label_filter_query(labels, true));
}

TEST_CASE("inspect: 404 carries Docker's message, the request and the endpoint") {
  UnixWorld w([](const std::string&) -> Reply {
    return response("404 Not Found", "application/json",
                    "{\"message\":\"No such container: x\"}\n");
  });
  const auto info = run(w.ioc, w.client.inspect("x"));
  REQUIRE_FALSE(info.has_value());
  CHECK(info.error().message == w.prefix("/containers/x/json") + "404 no such container: x");
}

TEST_CASE("inspect: a name that would change the request path is refused without a request") {
  UnixWorld w([](const std::string&) -> Reply { return std::string(); });
  const auto info = run(w.ioc, w.client.inspect("../_ping"));
  REQUIRE_FALSE(info.has_value());
  CHECK(info.error().message == "docker: inspect \"../_ping\": not a container name or id");
  CHECK(w.fake.requests().empty());
}

TEST_CASE("non-2xx without a JSON message: status and a sanitized excerpt") {
  UnixWorld w([](const std::string&) -> Reply {
    return response("500 Internal Server Error", "text/plain", "boom\n\x01");
  });
  const auto r = run(w.ioc, w.client.ping());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == w.prefix("/_ping") + "500 \"boom\\x0a\\x01\"");
}

TEST_CASE("garbage instead of HTTP is a read error") {
  UnixWorld w([](const std::string&) -> Reply { return std::string("garbage\r\n\r\n"); });
  const auto r = run(w.ioc, w.client.ping());
  REQUIRE_FALSE(r.has_value());
  CAPTURE(r.error().message);
  CHECK(r.error().message == w.prefix("/_ping") + "read response: bad version");
}

TEST_CASE("a connection closed without an answer is a read error") {
  UnixWorld w([](const std::string&) -> Reply { return std::string(); });
  const auto r = run(w.ioc, w.client.ping());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == w.prefix("/_ping") + "read response: end of stream");
}

TEST_CASE("200 with a body that is not JSON names the request and shows the start of it") {
  const std::string html = "<html>\n<body>" + std::string(200, 'x') + "</body></html>";
  UnixWorld w([&](const std::string&) -> Reply { return response("200 OK", "text/html", html); });
  const auto list = run(w.ioc, w.client.list_containers({}, true));
  REQUIRE_FALSE(list.has_value());
  CHECK(list.error().message == w.prefix("/containers/json") + "response is not JSON: \"<html>" +
                                    "\\x0a<body>" + std::string(80 - 13, 'x') + "\"...");
}

TEST_CASE("a body over the limit is refused with a clear error") {
  UnixWorld w([](const std::string&) -> Reply {
    return std::string(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9000000\r\n\r\n[");
  });
  const auto list = run(w.ioc, w.client.list_containers({}, false));
  REQUIRE_FALSE(list.has_value());
  CHECK(list.error().message == w.prefix("/containers/json") + "response body exceeds " +
                                    std::to_string(Client::kBodyLimit) + " bytes");
}

TEST_CASE("a server that accepts and never answers times out within the deadline") {
  UnixWorld w([](const std::string&) -> Reply { return std::nullopt; }, 300ms);
  const auto start = std::chrono::steady_clock::now();
  const auto r = run(w.ioc, w.client.ping());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == w.prefix("/_ping") + "timed out after 300ms (read response)");
  CHECK(elapsed >= 250ms);
  CHECK(elapsed < 2s);
}

TEST_CASE("a socket path that does not exist is a clear connect error") {
  TempDir dir;
  const std::string socket = dir.path + "/nope.sock";
  asio::io_context ioc;
  Client client(ioc.get_executor(), parse_host("unix://" + socket).value(), 1000ms);
  const auto r = run(ioc, client.ping());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message ==
        "docker: GET /_ping on unix://" + socket + ": connect: no such file or directory");
}

TEST_CASE("control_plane: picks the address on the requested network by name") {
  UnixWorld w(kind_cluster(kInspectRunning));
  const auto cp = run(w.ioc, w.client.control_plane("ci", "kind"));
  REQUIRE(cp.has_value());
  CHECK(cp->found);
  CHECK(cp->running);
  CHECK(cp->id == "c1d2e3");
  CHECK(cp->name == "ci-control-plane");
  CHECK(cp->ip == "172.18.0.2");
  REQUIRE(w.fake.requests().size() == 2);
  CHECK(target_of(w.fake.requests()[0]) ==
        label_filter_query({"io.x-k8s.kind.cluster=ci", "io.x-k8s.kind.role=control-plane"}, true));
  CHECK(target_of(w.fake.requests()[1]) == "/containers/c1d2e3/json");

  const auto on_bridge = run(w.ioc, w.client.control_plane("ci", "bridge"));
  REQUIRE(on_bridge.has_value());
  CHECK(on_bridge->ip == "172.17.0.3");
}

TEST_CASE("control_plane: stopped, missing, and running off the network") {
  SUBCASE("stopped: found, not running, no address") {
    UnixWorld w(kind_cluster(kInspectStopped));
    const auto cp = run(w.ioc, w.client.control_plane("ci", "kind"));
    REQUIRE(cp.has_value());
    CHECK(cp->found);
    CHECK_FALSE(cp->running);
    CHECK(cp->ip.empty());
  }
  SUBCASE("no such cluster: not found, no inspect") {
    UnixWorld w(
        [](const std::string&) -> Reply { return response("200 OK", "application/json", "[]\n"); });
    const auto cp = run(w.ioc, w.client.control_plane("ci", "kind"));
    REQUIRE(cp.has_value());
    CHECK_FALSE(cp->found);
    CHECK(w.fake.requests().size() == 1);
  }
  SUBCASE(
      "running without an address on the network: no address, and a detail naming what it has") {
    UnixWorld w(kind_cluster(kInspectBridgeOnly));
    const auto cp = run(w.ioc, w.client.control_plane("ci", "kind"));
    REQUIRE(cp.has_value());
    CHECK(cp->found);
    CHECK(cp->running);
    CHECK(cp->ip.empty());
    CHECK(cp->detail ==
          "control plane \"ci-control-plane\" of cluster \"ci\" is running but has no IPv4 "
          "address on network \"kind\" (networks: bridge=172.17.0.3)");
  }
  SUBCASE("removed between the list and the inspect (404): gone, not a Docker failure") {
    UnixWorld w([](const std::string& head) -> Reply {
      if (head.find("/containers/json") != std::string::npos) {
        return response(
            "200 OK", "application/json",
            R"([{"Id":"abc123","Names":["/ci-control-plane"],"State":"running",)"
            R"("Labels":{"io.x-k8s.kind.cluster":"ci","io.x-k8s.kind.role":"control-plane"}}])");
      }
      return response("404 Not Found", "application/json",
                      R"({"message":"No such container: abc123"})");
    });
    const auto cp = run(w.ioc, w.client.control_plane("ci", "kind"));
    REQUIRE(cp.has_value());
    CHECK_FALSE(cp->found);
  }
  SUBCASE("list failure is passed through") {
    UnixWorld w([](const std::string&) -> Reply {
      return response("500 Internal Server Error", "application/json",
                      R"({"message":"Cannot connect to containerd"})");
    });
    const auto cp = run(w.ioc, w.client.control_plane("ci", "kind"));
    REQUIRE_FALSE(cp.has_value());
    CHECK(cp.error().message == w.prefix("/containers/json") + "500 cannot connect to containerd");
  }
}

TEST_CASE("tcp: 127.0.0.1 on port 0, and a refused port") {
  asio::io_context ioc;
  TcpFake fake({asio::ip::make_address("127.0.0.1"), 0}, kind_cluster(kInspectRunning));
  const std::string host = "tcp://127.0.0.1:" + std::to_string(fake.local_endpoint().port());
  Client client(ioc.get_executor(), parse_host(host).value(), 5000ms);
  const auto cp = run(ioc, client.control_plane("ci", "kind"));
  REQUIRE(cp.has_value());
  CHECK(cp->ip == "172.18.0.2");
  CHECK(fake.requests().size() == 2);

  // A port that was free a moment ago: nothing listens there.
  std::uint16_t closed_port = 0;
  {
    asio::ip::tcp::acceptor probe(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    closed_port = probe.local_endpoint().port();
  }
  const std::string closed = "tcp://127.0.0.1:" + std::to_string(closed_port);
  Client refused(ioc.get_executor(), parse_host(closed).value(), 5000ms);
  const auto r = run(ioc, refused.ping());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "docker: GET /_ping on " + closed + ": connect: connection refused");
}

TEST_CASE("calls may overlap: each has its own connection") {
  UnixWorld w([](const std::string&) -> Reply { return response("200 OK", "text/plain", "OK"); });
  int done = 0;
  for (int i = 0; i < 5; ++i) {
    asio::co_spawn(w.ioc, w.client.ping(), [&](std::exception_ptr e, k8sinpod::Result<void> r) {
      rethrow(e);
      CHECK(r.has_value());
      if (++done == 5) w.ioc.stop();
    });
  }
  w.ioc.run_for(10s);
  CHECK(done == 5);
  CHECK(w.fake.requests().size() == 5);
}

TEST_CASE("real dockerd at K8SINPOD_TEST_DOCKER_HOST (sandbox only)") {
  const char* host = std::getenv("K8SINPOD_TEST_DOCKER_HOST");
  if (host == nullptr || *host == '\0') {
    MESSAGE("skipped: K8SINPOD_TEST_DOCKER_HOST is not set");
    return;
  }
  const auto endpoint = parse_host(host);
  REQUIRE_MESSAGE(endpoint.has_value(), endpoint.error().message);
  asio::io_context ioc;
  Client client(ioc.get_executor(), *endpoint, 10000ms);

  const auto pong = run(ioc, client.ping());
  CHECK_MESSAGE(pong.has_value(), (pong ? "" : pong.error().message));

  const auto list = run(ioc, client.list_containers({}, true));
  REQUIRE_MESSAGE(list.has_value(), (list ? "" : list.error().message));
  MESSAGE(list->size(), " containers on ", endpoint->to_string());

  const auto none = run(ioc, client.control_plane("k8sinpod-test-no-such-cluster", "kind"));
  REQUIRE_MESSAGE(none.has_value(), (none ? "" : none.error().message));
  CHECK_FALSE(none->found);

  const auto missing = run(ioc, client.inspect("k8sinpod-test-no-such-container"));
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message.find(": 404 no such container") != std::string::npos);

  // With a running kind cluster in that dockerd, name it to check the address lookup too.
  const char* cluster = std::getenv("K8SINPOD_TEST_KIND_CLUSTER");
  if (cluster == nullptr || *cluster == '\0') return;
  const auto cp = run(ioc, client.control_plane(cluster, "kind"));
  REQUIRE_MESSAGE(cp.has_value(), (cp ? "" : cp.error().message));
  CHECK(cp->found);
  CHECK(cp->running);
  CHECK(cp->name == std::string(cluster) + "-control-plane");
  CHECK(!cp->ip.empty());
  MESSAGE("control plane ", cp->name, " has ", cp->ip, " on network kind");
}
