// Integration tests of the Beast server: real Asio on 127.0.0.1 port 0, one io_context per test,
// clients as coroutines on the same loop, every wait bounded by a deadline (no sleeps).
#include "http/server.hpp"

#include <doctest/doctest.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace k8sinpod;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kClientTimeout = 5s;

struct Harness {
  explicit Harness(http::Server::Limits limits = {})
      : server(
            ioc.get_executor(), [this](const http::Request& r) { return handle(r); }, limits,
            [this](std::string line) { logs.push_back(std::move(line)); }) {
    const auto listening = server.listen("127.0.0.1", 0);
    REQUIRE(listening.has_value());
    REQUIRE(server.port() != 0);
  }

  http::Response handle(const http::Request& r) {
    ++handled;
    if (r.target == "/throw") throw std::runtime_error("boom");
    http::Response res;
    res.body = r.method + " " + r.target + "\n";
    res.headers.emplace_back("X-Test", "yes");
    return res;
  }

  tcp::endpoint endpoint() const { return {asio::ip::make_address("127.0.0.1"), server.port()}; }

  /// Runs the loop until `pred()` holds or `deadline` passes; returns `pred()`.
  template <class Pred>
  bool run_until(Pred pred, std::chrono::milliseconds deadline = kClientTimeout) {
    const auto end = SteadyClock::now() + deadline;
    while (!pred() && SteadyClock::now() < end) {
      if (ioc.stopped()) ioc.restart();
      ioc.run_one_for(10ms);
    }
    return pred();
  }

  /// Runs one client coroutine to its end; its failures (REQUIRE) fail the test.
  void run(asio::awaitable<void> client) {
    auto done = std::make_shared<bool>(false);
    auto error = std::make_shared<std::exception_ptr>();
    asio::co_spawn(ioc, std::move(client), [done, error](std::exception_ptr e) {
      *done = true;
      *error = std::move(e);
    });
    REQUIRE_MESSAGE(run_until([&] { return *done; }), "client did not finish in time");
    if (*error) std::rethrow_exception(*error);
  }

  bool logged(const std::string& part) const {
    for (const auto& l : logs) {
      if (l.find(part) != std::string::npos) return true;
    }
    return false;
  }

  asio::io_context ioc;
  std::vector<std::string> logs;
  int handled = 0;
  http::Server server;
};

struct Conn {
  explicit Conn(const asio::any_io_executor& executor) : stream(executor) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

struct Reply {
  error_code ec;
  bhttp::response<bhttp::string_body> res;
};

asio::awaitable<std::unique_ptr<Conn>> connect(const tcp::endpoint& ep) {
  // GCC 12 destroys temporaries of a full-expression holding co_await twice: no temporaries here.
  const auto executor = co_await asio::this_coro::executor;
  auto conn = std::make_unique<Conn>(executor);
  conn->stream.expires_after(kClientTimeout);
  co_await conn->stream.async_connect(ep, asio::use_awaitable);
  co_return conn;
}

asio::awaitable<Reply> read_reply(Conn& c, bool head = false) {
  bhttp::response_parser<bhttp::string_body> parser;
  parser.skip(head);
  c.stream.expires_after(kClientTimeout);
  auto [ec, n] = co_await bhttp::async_read(c.stream, c.buffer, parser, kAsTuple);
  co_return Reply{ec, parser.release()};
}

asio::awaitable<Reply> exchange(Conn& c, bhttp::verb method, std::string_view target) {
  bhttp::request<bhttp::empty_body> req{method, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  c.stream.expires_after(kClientTimeout);
  auto [ec, n] = co_await bhttp::async_write(c.stream, req, kAsTuple);
  if (ec) co_return Reply{ec, {}};
  co_return co_await read_reply(c, method == bhttp::verb::head);
}

asio::awaitable<error_code> send_raw(Conn& c, std::string_view bytes) {
  c.stream.expires_after(kClientTimeout);
  auto [ec, n] = co_await asio::async_write(c.stream, asio::buffer(bytes), kAsTuple);
  co_return ec;
}

/// Reads until the server closes; returns how the read ended (eof expected, never timeout).
asio::awaitable<error_code> wait_closed(Conn& c) {
  c.stream.expires_after(kClientTimeout);
  std::array<char, 1024> sink;
  for (;;) {
    auto [ec, n] = co_await c.stream.async_read_some(asio::buffer(sink), kAsTuple);
    if (ec) co_return ec;
  }
}

bool closed_by_peer(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

// ---- clients ----

asio::awaitable<void> keep_alive_client(Harness& h) {
  const auto endpoint = h.endpoint();
  auto c = co_await connect(endpoint);
  auto one = co_await exchange(*c, bhttp::verb::get, "/one");
  REQUIRE_FALSE(one.ec);
  CHECK(one.res.result_int() == 200);
  CHECK(one.res.body() == "GET /one\n");
  CHECK(one.res[bhttp::field::server] == "k8sinpodd");
  CHECK(one.res[bhttp::field::content_length] == "9");
  CHECK(one.res[bhttp::field::content_type] == "text/plain; charset=utf-8");
  CHECK(one.res["X-Test"] == "yes");
  CHECK(one.res.keep_alive());

  auto two = co_await exchange(*c, bhttp::verb::get, "/two?verbose");
  REQUIRE_FALSE(two.ec);
  CHECK(two.res.body() == "GET /two?verbose\n");
  CHECK(h.server.connections() == 1);
  CHECK(h.handled == 2);
}

asio::awaitable<void> head_client(Harness& h) {
  const auto endpoint = h.endpoint();
  auto c = co_await connect(endpoint);
  auto head = co_await exchange(*c, bhttp::verb::head, "/abc");
  REQUIRE_FALSE(head.ec);
  CHECK(head.res.result_int() == 200);
  CHECK(head.res[bhttp::field::content_length] ==
        std::to_string(std::string("HEAD /abc\n").size()));
  CHECK(head.res.body().empty());
  // Had the server sent the body, this answer would be read from its bytes and fail to parse.
  auto get = co_await exchange(*c, bhttp::verb::get, "/abc");
  REQUIRE_FALSE(get.ec);
  CHECK(get.res.body() == "GET /abc\n");
}

asio::awaitable<void> rejected_client(Harness& h, std::string request, unsigned status) {
  const auto endpoint = h.endpoint();
  auto c = co_await connect(endpoint);
  const auto sent = co_await send_raw(*c, request);
  REQUIRE_FALSE(sent);
  auto reply = co_await read_reply(*c);
  REQUIRE_FALSE(reply.ec);
  CHECK(reply.res.result_int() == status);
  CHECK_FALSE(reply.res.keep_alive());
  CHECK(reply.res[bhttp::field::server] == "k8sinpodd");
  const auto closed = co_await wait_closed(*c);
  CHECK(closed_by_peer(closed));
}

asio::awaitable<void> stalling_client(Harness& h, std::chrono::milliseconds* took) {
  const auto start = SteadyClock::now();
  const auto endpoint = h.endpoint();
  auto c = co_await connect(endpoint);
  const auto sent = co_await send_raw(*c, "GET /livez HTTP/1.1\r\nHost: x\r\n");
  REQUIRE_FALSE(sent);
  const auto ec = co_await wait_closed(*c);
  *took = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
  CHECK(closed_by_peer(ec));
}

asio::awaitable<void> flood_client(Harness& h, std::size_t total) {
  std::vector<std::unique_ptr<Conn>> conns;
  const auto endpoint = h.endpoint();
  for (std::size_t i = 0; i < total; ++i) {
    auto conn = co_await connect(endpoint);
    conns.push_back(std::move(conn));
  }
  std::vector<unsigned> statuses;
  for (auto& c : conns) {
    auto r = co_await exchange(*c, bhttp::verb::get, "/x");
    statuses.push_back(r.ec ? 0 : r.res.result_int());
  }
  const std::vector<unsigned> expected = {200, 200, 200, 503, 503};
  CHECK(statuses == expected);
  CHECK(h.server.connections() == 3);

  // Capacity comes back once a session ends.
  conns[0]->stream.close();
  conns.erase(conns.begin());
  const auto end = SteadyClock::now() + kClientTimeout;
  while (h.server.connections() > 2 && SteadyClock::now() < end) {
    const auto executor = co_await asio::this_coro::executor;
    asio::steady_timer tick(executor, 5ms);
    co_await tick.async_wait(asio::use_awaitable);
  }
  auto fresh = co_await connect(endpoint);
  auto r = co_await exchange(*fresh, bhttp::verb::get, "/again");
  REQUIRE_FALSE(r.ec);
  CHECK(r.res.result_int() == 200);
}

asio::awaitable<void> stop_client(Harness& h) {
  const auto endpoint = h.endpoint();
  auto a = co_await connect(endpoint);
  auto b = co_await connect(endpoint);
  const auto ra = co_await exchange(*a, bhttp::verb::get, "/a");
  const auto rb = co_await exchange(*b, bhttp::verb::get, "/b");
  REQUIRE_FALSE(ra.ec);
  REQUIRE_FALSE(rb.ec);
  CHECK(h.server.connections() == 2);

  h.server.stop();
  const auto closed_a = co_await wait_closed(*a);
  const auto closed_b = co_await wait_closed(*b);
  CHECK(closed_by_peer(closed_a));
  CHECK(closed_by_peer(closed_b));

  const auto executor = co_await asio::this_coro::executor;
  beast::tcp_stream late(executor);
  late.expires_after(kClientTimeout);
  auto [ec] = co_await late.async_connect(endpoint, kAsTuple);
  CHECK(ec == asio::error::connection_refused);
}

asio::awaitable<void> http10_client(Harness& h) {
  const auto endpoint = h.endpoint();
  auto c = co_await connect(endpoint);
  const auto sent = co_await send_raw(*c, "GET /old HTTP/1.0\r\n\r\n");
  REQUIRE_FALSE(sent);
  auto reply = co_await read_reply(*c);
  REQUIRE_FALSE(reply.ec);
  CHECK(reply.res.version() == 10);
  CHECK(reply.res.body() == "GET /old\n");
  const auto closed = co_await wait_closed(*c);
  CHECK(closed_by_peer(closed));
}

asio::awaitable<void> pipelined_client(Harness& h) {
  const auto endpoint = h.endpoint();
  auto c = co_await connect(endpoint);
  const auto sent = co_await send_raw(
      *c, "GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE_FALSE(sent);
  auto r1 = co_await read_reply(*c);
  auto r2 = co_await read_reply(*c);
  REQUIRE_FALSE(r1.ec);
  REQUIRE_FALSE(r2.ec);
  CHECK(r1.res.body() == "GET /p1\n");
  CHECK(r2.res.body() == "GET /p2\n");
}

asio::awaitable<void> throwing_handler_client(Harness& h) {
  const auto endpoint = h.endpoint();
  auto c = co_await connect(endpoint);
  auto r = co_await exchange(*c, bhttp::verb::get, "/throw");
  REQUIRE_FALSE(r.ec);
  CHECK(r.res.result_int() == 500);
  auto after = co_await exchange(*c, bhttp::verb::get, "/fine");
  REQUIRE_FALSE(after.ec);
  CHECK(after.res.result_int() == 200);
}

}  // namespace

TEST_CASE("server: keep-alive serves two requests on one connection") {
  Harness h;
  h.run(keep_alive_client(h));
}

TEST_CASE("server: HEAD sends the headers and Content-Length but no body") {
  Harness h;
  h.run(head_client(h));
}

TEST_CASE("server: a 9 KiB header is rejected with 431 and the connection closed") {
  Harness h;
  const std::string big =
      "GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(std::size_t{9} * 1024, 'a') +
      "\r\n\r\n";
  h.run(rejected_client(h, big, 431));
  CHECK(h.handled == 0);
}

TEST_CASE("server: a body on GET beyond the limit is 413") {
  Harness h;
  h.run(
      rejected_client(h, "GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 413));
  CHECK(h.handled == 0);
}

TEST_CASE("server: a malformed request is 400 and the connection closed") {
  Harness h;
  h.run(rejected_client(h, "NOT A REQUEST\r\n\r\n", 400));
  h.run(rejected_client(h, "GET /livez HTTP/1.1\r\nno colon here\r\n\r\n", 400));
  CHECK(h.handled == 0);
}

TEST_CASE("server: a stalled half request is closed after read_timeout") {
  http::Server::Limits limits;
  limits.read_timeout = 200ms;
  Harness h(limits);
  std::chrono::milliseconds took{};
  h.run(stalling_client(h, &took));
  CHECK(took >= 200ms);
  CHECK(took < 2s);
  CHECK(h.run_until([&] { return h.server.connections() == 0; }));
  CHECK(h.handled == 0);
}

TEST_CASE("server: connections beyond max_connections are answered 503 and closed") {
  http::Server::Limits limits;
  limits.max_connections = 3;
  Harness h(limits);
  h.run(flood_client(h, 5));
  CHECK(h.logged("503"));
}

TEST_CASE("server: stop() closes the acceptor and every connection") {
  Harness h;
  h.run(stop_client(h));
  CHECK(h.run_until([&] { return h.server.connections() == 0; }));
  CHECK_FALSE(h.server.listen("127.0.0.1", 0).has_value());
}

TEST_CASE("server: HTTP/1.0 without keep-alive is answered and closed") {
  Harness h;
  h.run(http10_client(h));
}

TEST_CASE("server: pipelined requests are answered in order") {
  Harness h;
  h.run(pipelined_client(h));
}

TEST_CASE("server: a throwing handler is answered 500 and logged") {
  Harness h;
  h.run(throwing_handler_client(h));
  CHECK(h.logged("handler threw: boom"));
}

TEST_CASE("server: listen fails as a value, naming the address") {
  Harness h;
  asio::io_context other;
  http::Server second(
      other.get_executor(), [](const http::Request&) { return http::Response{}; }, {},
      [](const std::string&) {});
  const auto invalid = second.listen("not-an-address", 0);
  REQUIRE(invalid.has_error());
  CHECK(invalid.error().message.find("invalid address \"not-an-address\"") != std::string::npos);

  const auto taken = second.listen("127.0.0.1", h.server.port());
  REQUIRE(taken.has_error());
  INFO(taken.error().message);
  CHECK(taken.error().message.find("bind 127.0.0.1:" + std::to_string(h.server.port())) !=
        std::string::npos);
  CHECK(second.port() == 0);
}
