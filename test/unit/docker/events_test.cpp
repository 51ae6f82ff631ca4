// The event stream against a scripted fake dockerd (test/fakes/fake_dockerd.hpp) over real
// sockets. The fake runs on its own thread and io_context, so the stream's io_context holds
// nothing but the stream: `run()` returning on its own is the proof that stop() left no work
// behind. Waits are conditions with deadlines; the only measured window is the retry count in
// "socket absent at start".
#include "docker/events.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fakes/fake_dockerd.hpp"

using namespace k8sinpod::docker;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

using k8sinpod::fakes::Script;
using k8sinpod::fakes::Step;
using k8sinpod::fakes::TempDir;
template <class Protocol>
using FakeDockerd = k8sinpod::fakes::FakeDockerd<Protocol>;
using UnixFake = FakeDockerd<asio::local::stream_protocol>;

constexpr std::string_view kHeaders =
    "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
    "Docker-Experimental: false\r\nOstype: linux\r\nServer: Docker/20.10.24 (linux)\r\n"
    "Date: Tue, 14 Nov 2023 22:13:20 GMT\r\nTransfer-Encoding: chunked\r\n\r\n";

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}

// One event line as dockerd writes it.
std::string event_line(std::string_view type, std::string_view action, std::string_view id,
                       std::string_view attributes) {
  return R"({"Type":")" + std::string(type) + R"(","Action":")" + std::string(action) +
         R"(","Actor":{"ID":")" + std::string(id) + R"(","Attributes":{)" +
         std::string(attributes) + R"(}},"scope":"local","time":1700000000,)" +
         R"("timeNano":1700000000000000001})" + "\n";
}

std::string node_event(std::string_view action, std::string_view id) {
  return event_line("container", action, id,
                    R"("io.x-k8s.kind.cluster":"ci","io.x-k8s.kind.role":"control-plane",)"
                    R"("name":"ci-control-plane")");
}

// The client side: everything the callbacks saw, one line each, and a condition to stop on.
struct Recorder {
  std::vector<std::string> log;
  std::function<void(Recorder&)> after_each;  // runs after every record

  EventStream::Callbacks callbacks() {
    EventStream::Callbacks cb;
    cb.on_event = [this](const Event& e) { add("event " + e.action + " " + e.actor_id); };
    cb.on_connection = [this](bool up, const std::string& why) { add(up ? "up" : "down " + why); };
    cb.on_error = [this](const std::string& error) { add("error " + error); };
    return cb;
  }
  void add(std::string line) {
    log.push_back(std::move(line));
    if (after_each) after_each(*this);
  }
  std::size_t count(std::string_view prefix) const {
    std::size_t n = 0;
    for (const auto& line : log) {
      if (line.rfind(prefix, 0) == 0) ++n;
    }
    return n;
  }
};

Backoff fast_backoff(std::chrono::milliseconds initial = 20ms) {
  Backoff b;
  b.initial = initial;
  b.max = 10s;
  b.jitter = 0.0;
  return b;
}

// Runs `ioc` until it runs out of work (the stream stopped) or `limit` passes; true if it ran
// out of work, i.e. returned on its own.
bool run_until_idle(asio::io_context& ioc, std::chrono::milliseconds limit = 10000ms) {
  ioc.run_for(limit);
  return ioc.stopped();
}

struct UnixWorld {
  TempDir dir;
  std::string socket = dir.path + "/docker.sock";
  Endpoint endpoint = parse_host("unix://" + socket).value();
  std::string prefix = "docker: GET /events on unix://" + socket + ": ";
  asio::io_context ioc;
  Recorder rec;
};

}  // namespace

TEST_CASE("events arrive in order through odd chunks over time, a bad line goes to on_error") {
  UnixWorld w;
  std::string body;
  for (int i = 0; i < 5; ++i)
    body += node_event(i % 2 == 0 ? "die" : "start", "c" + std::to_string(i));
  body.insert(body.find('\n') + 1, "{not json}\n\n");
  // HTTP chunks of odd sizes, then the wire bytes written in odd pieces with pauses: a piece may
  // end inside a chunk header, inside an event, or inside a JSON string.
  std::string wire(kHeaders);
  for (std::size_t i = 0, n = 1; i < body.size(); i += n, n = n * 3 % 97 + 1) {
    wire += chunk(std::string_view(body).substr(i, n));
  }
  Script script;
  for (std::size_t i = 0, n = 1; i < wire.size(); i += n, n = n * 7 % 61 + 1) {
    script.steps.push_back({wire.substr(i, n), (i % 5 == 0) ? 1ms : 0ms});
  }
  script.hold = true;
  UnixFake fake(asio::local::stream_protocol::endpoint(w.socket), {script});

  EventStream stream(w.ioc.get_executor(), w.endpoint, w.rec.callbacks(), fast_backoff());
  w.rec.after_each = [&](Recorder& r) {
    if (r.count("event ") == 5) stream.stop();
  };
  stream.start();
  REQUIRE(run_until_idle(w.ioc));

  const std::vector<std::string> want = {
      "up",
      "event die c0",
      "error " + w.prefix + R"(event is not JSON: "{not json}")",
      "event start c1",
      "event die c2",
      "event start c3",
      "event die c4",
  };
  CHECK(w.rec.log == want);
  CHECK_FALSE(stream.connected());
  CHECK(stream.reconnects() == 0);
  const auto requests = fake.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].rfind("GET " + events_query() + " HTTP/1.1\r\n", 0) == 0);
  CHECK(requests[0].find("\r\nHost: docker\r\n") != std::string::npos);
}

TEST_CASE("the server closes: down once, reconnect, up, and events flow again") {
  UnixWorld w;
  Script first;
  first.steps = {{std::string(kHeaders) + chunk(node_event("start", "a")), 0ms}};
  Script second;
  second.steps = {{std::string(kHeaders) + chunk(node_event("die", "b")), 0ms}};
  second.hold = true;
  UnixFake fake(asio::local::stream_protocol::endpoint(w.socket), {first, second});

  EventStream stream(w.ioc.get_executor(), w.endpoint, w.rec.callbacks(), fast_backoff());
  w.rec.after_each = [&](Recorder& r) {
    if (r.log.back() == "event die b") {
      CHECK(stream.connected());
      stream.stop();
    }
  };
  stream.start();
  REQUIRE(run_until_idle(w.ioc));

  const std::vector<std::string> want = {"up", "event start a",
                                         "down " + w.prefix + "read events: partial message", "up",
                                         "event die b"};
  CHECK(w.rec.log == want);
  CHECK(stream.reconnects() == 1);
  CHECK(fake.requests().size() == 2);
}

TEST_CASE("an orderly end of the response is a disconnection too") {
  UnixWorld w;
  Script ends;
  ends.steps = {{std::string(kHeaders) + chunk(node_event("start", "a")) + "0\r\n\r\n", 0ms}};
  Script holds;
  holds.steps = {{std::string(kHeaders), 0ms}};
  holds.hold = true;
  UnixFake fake(asio::local::stream_protocol::endpoint(w.socket), {ends, holds});

  EventStream stream(w.ioc.get_executor(), w.endpoint, w.rec.callbacks(), fast_backoff());
  w.rec.after_each = [&](Recorder& r) {
    if (r.count("up") == 2) stream.stop();
  };
  stream.start();
  REQUIRE(run_until_idle(w.ioc));
  const std::vector<std::string> want = {
      "up", "event start a", "down " + w.prefix + "dockerd ended the event stream", "up"};
  CHECK(w.rec.log == want);
}

TEST_CASE("socket absent at start: one down, retries with growing delays, up when it appears") {
  UnixWorld w;
  // 10 ms doubling: attempts at about 0, 10, 30, 70, 150, 310, 630 ms -> 6 retries in 700 ms.
  // A backoff that does not grow would make ~70; one that never retries, 0.
  EventStream stream(w.ioc.get_executor(), w.endpoint, w.rec.callbacks(), fast_backoff(10ms));
  stream.start();
  w.ioc.run_for(700ms);
  const auto retries = stream.reconnects();
  CAPTURE(retries);
  CHECK(retries >= 3);
  CHECK(retries <= 12);
  const std::vector<std::string> want = {"down " + w.prefix + "connect: no such file or directory"};
  CHECK(w.rec.log == want);
  CHECK_FALSE(stream.connected());

  Script script;
  script.steps = {{std::string(kHeaders) + chunk(node_event("start", "late")), 0ms}};
  script.hold = true;
  UnixFake fake(asio::local::stream_protocol::endpoint(w.socket), {script});
  w.rec.after_each = [&](Recorder& r) {
    if (r.log.back() == "event start late") stream.stop();
  };
  REQUIRE(run_until_idle(w.ioc));
  REQUIRE(w.rec.log.size() == 3);
  CHECK(w.rec.log[1] == "up");
  CHECK(stream.reconnects() > retries);
}

TEST_CASE("stop() during the backoff wait returns promptly, with no callback after it") {
  UnixWorld w;
  EventStream stream(w.ioc.get_executor(), w.endpoint, w.rec.callbacks(), fast_backoff(30s));
  asio::steady_timer later(w.ioc);
  w.rec.after_each = [&](Recorder&) {
    // Now the stream waits 30 s before its next attempt: stop it in the middle of that.
    later.expires_after(50ms);
    later.async_wait([&](const boost::system::error_code&) { stream.stop(); });
  };
  const auto start = std::chrono::steady_clock::now();
  stream.start();
  REQUIRE(run_until_idle(w.ioc));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(w.rec.log.size() == 1);
  CHECK(stream.reconnects() == 0);
}

TEST_CASE("stop() during a read returns promptly") {
  UnixWorld w;
  Script script;
  script.steps = {{std::string(kHeaders), 0ms}};
  script.hold = true;
  UnixFake fake(asio::local::stream_protocol::endpoint(w.socket), {script});
  EventStream stream(w.ioc.get_executor(), w.endpoint, w.rec.callbacks(), fast_backoff());
  asio::steady_timer later(w.ioc);
  w.rec.after_each = [&](Recorder& r) {
    if (r.log.back() != "up") return;
    CHECK(stream.connected());
    later.expires_after(50ms);  // the stream is now parked in a body read
    later.async_wait([&](const boost::system::error_code&) { stream.stop(); });
  };
  const auto start = std::chrono::steady_clock::now();
  stream.start();
  REQUIRE(run_until_idle(w.ioc));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(w.rec.log == std::vector<std::string>{"up"});
  CHECK_FALSE(stream.connected());
}

TEST_CASE("stop() while waiting for the response headers returns promptly, silently") {
  UnixWorld w;
  Script silent;
  silent.hold = true;
  UnixFake fake(asio::local::stream_protocol::endpoint(w.socket), {silent});
  EventStream stream(w.ioc.get_executor(), w.endpoint, w.rec.callbacks(), fast_backoff());
  asio::steady_timer later(w.ioc);
  // The request has reached the fake once it is recorded; then stop.
  std::function<void()> poll = [&] {
    if (!fake.requests().empty()) {
      stream.stop();
      return;
    }
    later.expires_after(5ms);
    later.async_wait([&](const boost::system::error_code&) { poll(); });
  };
  stream.start();
  poll();
  REQUIRE(run_until_idle(w.ioc));
  CHECK(w.rec.log.empty());
}

TEST_CASE("no response headers within connect_timeout: down with a timeout") {
  UnixWorld w;
  Script silent;
  silent.hold = true;
  UnixFake fake(asio::local::stream_protocol::endpoint(w.socket), {silent});
  EventStream stream(w.ioc.get_executor(), w.endpoint, w.rec.callbacks(), fast_backoff(), 200ms);
  w.rec.after_each = [&](Recorder&) { stream.stop(); };
  stream.start();
  REQUIRE(run_until_idle(w.ioc));
  CHECK(w.rec.log ==
        std::vector<std::string>{"down " + w.prefix + "timed out after 200ms (read headers)"});
}

TEST_CASE("a non-200 answer is a disconnection carrying Docker's message, retried quietly") {
  UnixWorld w;
  const std::string body = R"({"message":"Invalid filter 'evnt'"})";
  Script refuse;
  refuse.steps = {
      {"HTTP/1.1 400 Bad Request\r\nApi-Version: 1.41\r\nContent-Type: "
       "application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body,
       0ms}};
  UnixFake fake(asio::local::stream_protocol::endpoint(w.socket), {refuse});
  EventStream stream(w.ioc.get_executor(), w.endpoint, w.rec.callbacks(), fast_backoff(5ms));
  asio::steady_timer later(w.ioc);
  std::function<void()> poll = [&] {
    if (fake.requests().size() >= 3) {
      stream.stop();
      return;
    }
    later.expires_after(5ms);
    later.async_wait([&](const boost::system::error_code&) { poll(); });
  };
  stream.start();
  poll();
  REQUIRE(run_until_idle(w.ioc));
  CHECK(w.rec.log == std::vector<std::string>{"down " + w.prefix + "400 invalid filter 'evnt'"});
  CHECK(stream.reconnects() >= 2);
}

TEST_CASE("a callback may destroy the stream, later events of the same chunk are not delivered") {
  UnixWorld w;
  Script script;
  script.steps = {{std::string(kHeaders) + chunk(node_event("start", "a") + node_event("die", "b") +
                                                 node_event("start", "c")),
                   0ms}};
  script.hold = true;
  UnixFake fake(asio::local::stream_protocol::endpoint(w.socket), {script});
  std::optional<EventStream> stream;
  stream.emplace(w.ioc.get_executor(), w.endpoint, w.rec.callbacks(), fast_backoff());
  w.rec.after_each = [&](Recorder& r) {
    if (r.log.back() == "event die b") stream.reset();
  };
  stream->start();
  REQUIRE(run_until_idle(w.ioc));
  CHECK(w.rec.log == std::vector<std::string>{"up", "event start a", "event die b"});
}

TEST_CASE("tcp: events over 127.0.0.1 on port 0") {
  asio::io_context ioc;
  Script script;
  script.steps = {{std::string(kHeaders), 2ms}, {chunk(node_event("start", "t")), 0ms}};
  script.hold = true;
  FakeDockerd<asio::ip::tcp> fake({asio::ip::make_address("127.0.0.1"), 0}, {script});
  const std::string host = "tcp://127.0.0.1:" + std::to_string(fake.local_endpoint().port());
  Recorder rec;
  EventStream stream(ioc.get_executor(), parse_host(host).value(), rec.callbacks(), fast_backoff());
  rec.after_each = [&](Recorder& r) {
    if (r.log.back() == "event start t") stream.stop();
  };
  stream.start();
  REQUIRE(run_until_idle(ioc));
  CHECK(rec.log == std::vector<std::string>{"up", "event start t"});
}

TEST_CASE("stop() before start() and start() twice do nothing harmful") {
  UnixWorld w;
  {
    EventStream stream(w.ioc.get_executor(), w.endpoint, w.rec.callbacks(), fast_backoff());
    stream.stop();
    stream.start();
    CHECK(run_until_idle(w.ioc, 1000ms));
  }
  w.ioc.restart();
  EventStream stream(w.ioc.get_executor(), w.endpoint, w.rec.callbacks(), fast_backoff(30s));
  stream.start();
  stream.start();
  w.rec.after_each = [&](Recorder&) { stream.stop(); };
  REQUIRE(run_until_idle(w.ioc));
  CHECK(w.rec.log.size() == 1);  // one stream, one "down", not two
}

TEST_CASE("real dockerd at K8SINPOD_TEST_DOCKER_HOST: a labelled container's start arrives") {
  // Sandbox only (docs/testing.md): needs the docker CLI. Builds a one-file image (/true and the
  // libraries it links) with `docker import`, runs it labelled as a kind node of a cluster of its
  // own, and waits for that container's `start` through the stream.
  const char* host = std::getenv("K8SINPOD_TEST_DOCKER_HOST");
  if (host == nullptr || *host == '\0') {
    MESSAGE("skipped: K8SINPOD_TEST_DOCKER_HOST is not set");
    return;
  }
  const auto endpoint = parse_host(host);
  REQUIRE_MESSAGE(endpoint.has_value(), endpoint.error().message);
  const std::string cluster = "k8sinpod-events-test-" + std::to_string(::getpid());
  const std::string image = "k8sinpod/events-test:latest";
  const std::string script =
      "set -e; export DOCKER_HOST='" + std::string(host) +
      "'; d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; cp /usr/bin/true \"$d/true\"; "
      "for f in $(ldd /usr/bin/true | grep -o '/[^ ]*'); do cp -L --parents \"$f\" \"$d\"; done; "
      "tar -C \"$d\" -c . | docker import -c 'ENTRYPOINT [\"/true\"]' - " +
      image +
      " >/dev/null; docker run --rm --network none --label io.x-k8s.kind.cluster=" + cluster + " " +
      image + "; docker rmi " + image + " >/dev/null";

  asio::io_context ioc;
  std::optional<EventStream> stream;
  std::thread runner;
  int status = -1;
  bool saw_start = false;
  std::vector<std::string> errors;
  asio::steady_timer deadline(ioc, 60s);
  EventStream::Callbacks cb;
  cb.on_connection = [&](bool up, const std::string& why) {
    if (!up) {
      errors.push_back(why);
      return;
    }
    if (runner.joinable()) return;
    runner = std::thread([&] {
      status = std::system(script.c_str());
      if (status != 0)
        asio::post(ioc, [&] {
          stream->stop();
          deadline.cancel();
        });
    });
  };
  cb.on_event = [&](const Event& e) {
    if (classify(e, cluster, "kind", {}) != Relevance::cluster_container) return;
    MESSAGE("event ", e.type, " ", e.action, " ", e.actor_id.substr(0, 12));
    if (e.base_action != "start") return;
    saw_start = true;
    stream->stop();
    deadline.cancel();
  };
  cb.on_error = [&](const std::string& error) { errors.push_back(error); };
  stream.emplace(ioc.get_executor(), *endpoint, cb, fast_backoff(200ms));
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) stream->stop();
  });
  stream->start();
  ioc.run();
  if (runner.joinable()) runner.join();
  for (const auto& e : errors) MESSAGE(e);
  CHECK(status == 0);
  CHECK(saw_start);
}
