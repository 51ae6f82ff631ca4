// Integration tests of the HTTP front: the real http::Server on its own thread, on 127.0.0.1
// port 0; the test is the supervisor's thread and talks to it with blocking clients whose every
// read is bounded by a socket timeout.
#include "app/front.hpp"

#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "fakes/core_states.hpp"

using namespace k8sinpod;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

struct Answer {
  unsigned status = 0;
  std::string body;
};

/// One GET on a new connection; nullopt when the connection is refused or fails.
std::optional<Answer> get(std::uint16_t port, const std::string& target) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return std::nullopt;
  const timeval timeout{5, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  bhttp::write(socket, req, ec);
  if (ec) return std::nullopt;
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res, ec);
  if (ec) return std::nullopt;
  return Answer{res.result_int(), res.body()};
}

config::ServerConfig loopback() {
  config::ServerConfig s;
  s.listen = "127.0.0.1:0";
  s.host = "127.0.0.1";
  s.port = 0;
  return s;
}

app::HttpFront::Snapshot snapshot(core::State state) {
  return {std::move(state), core::Policy{}, "ci", "/var/lib/k8sinpod/kubeconfig", "1.2.3"};
}

/// The HTTP thread: the task of this process named k8sinpodd-http.
std::optional<std::filesystem::path> http_task() {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name == "k8sinpodd-http") return task.path();
  }
  return std::nullopt;
}

std::string status_field(const std::filesystem::path& task, const std::string& field) {
  std::ifstream in(task / "status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream fields(line.substr(field.size() + 1));
      std::string value;
      fields >> value;
      return value;
    }
  }
  return {};
}

}  // namespace

TEST_CASE("the routes read the snapshot published last") {
  metrics::Metrics m("1.2.3", "abc", "3.0.0");
  app::HttpFront front(
      m, [] { return std::uint64_t{0}; }, [](const std::string&) {});
  REQUIRE(front.listen(loopback()).has_value());
  REQUIRE(front.port() != 0);

  // Before any publish: the default state, not ready.
  auto r = get(front.port(), "/readyz");
  REQUIRE(r);
  CHECK(r->status == 503);

  front.publish(snapshot(fakes::ready_state(core::TimePoint{} + 1700000000s)));
  r = get(front.port(), "/readyz");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "ok");
  r = get(front.port(), "/status");
  REQUIRE(r);
  CHECK(r->body.find("\"cluster\":\"ci\"") != std::string::npos);

  auto down = fakes::ready_state(core::TimePoint{} + 1700000000s);
  down.docker_ok = false;
  front.publish(snapshot(down));
  r = get(front.port(), "/readyz?verbose");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->body.find("[-]docker failed") != std::string::npos);
}

TEST_CASE("/livez fails eventloop once the supervisor's last beat is older than kLoopStall") {
  metrics::Metrics m("1.2.3", "abc", "3.0.0");
  app::HttpFront front(
      m, [] { return std::uint64_t{0}; }, [](const std::string&) {});
  REQUIRE(front.listen(loopback()).has_value());
  const auto now = std::chrono::steady_clock::now();

  front.beat(now);
  auto r = get(front.port(), "/livez");
  REQUIRE(r);
  CHECK(r->status == 200);

  front.beat(now - app::HttpFront::kLoopStall - 1s);
  r = get(front.port(), "/livez");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->body.find("[-]eventloop failed") != std::string::npos);

  front.beat(now - app::HttpFront::kLoopStall + 2s);
  r = get(front.port(), "/livez");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("the HTTP thread is niced below the caller and blocks every signal") {
  metrics::Metrics m("1.2.3", "abc", "3.0.0");
  app::HttpFront front(
      m, [] { return std::uint64_t{0}; }, [](const std::string&) {});
  // listen() runs on the thread and returns once it has: by then the thread has set itself up.
  REQUIRE(front.listen(loopback()).has_value());
  const auto task = http_task();
  REQUIRE(task);
  const auto tid = static_cast<id_t>(std::stoi(task->filename().string()));
  errno = 0;
  const int ours = ::getpriority(PRIO_PROCESS, 0);
  REQUIRE(errno == 0);
  const int theirs = ::getpriority(PRIO_PROCESS, tid);
  CHECK(theirs == std::min(19, ours + app::HttpFront::kHttpNiceIncrement));
  // SigBlk: the hex mask of blocked signals, bit n-1 for signal n. The ones the daemon handles
  // must all be blocked here, so that the supervisor's thread takes them.
  const auto blocked = std::stoull(status_field(*task, "SigBlk"), nullptr, 16);
  for (const int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGCHLD, SIGPIPE}) {
    CAPTURE(sig);
    CHECK((blocked >> (sig - 1) & 1U) == 1U);
  }
}

TEST_CASE("/metrics renders on the HTTP thread, with the orphans and rejections") {
  metrics::Metrics m("1.2.3", "abc", "3.0.0");
  app::HttpFront front(
      m, [] { return std::uint64_t{7}; }, [](const std::string&) {});
  REQUIRE(front.listen(loopback()).has_value());
  // One malformed request: counted as bad_request.
  {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), front.port()});
    const std::string junk = "NOT HTTP\r\n\r\n";
    asio::write(s, asio::buffer(junk));
    const timeval timeout{5, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    char buf[256];
    boost::system::error_code ec;
    const auto n = s.read_some(asio::buffer(buf), ec);
    CHECK(std::string(buf, n).rfind("HTTP/1.1 400", 0) == 0);
  }
  const auto r = get(front.port(), "/metrics");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.find("k8sinpod_orphans_reaped_total 7") != std::string::npos);
  CHECK(r->body.find("k8sinpod_http_rejected_total{reason=\"bad_request\"} 1") !=
        std::string::npos);
}

TEST_CASE("a rebind moves the listener, a failed one keeps the old listener serving") {
  metrics::Metrics m("1.2.3", "abc", "3.0.0");
  app::HttpFront front(
      m, [] { return std::uint64_t{0}; }, [](const std::string&) {});
  REQUIRE(front.listen(loopback()).has_value());
  const auto first = front.port();
  REQUIRE(get(first, "/livez"));

  REQUIRE(front.listen(loopback()).has_value());
  const auto second = front.port();
  CHECK(second != first);
  CHECK(get(second, "/livez"));
  CHECK_FALSE(get(first, "/livez"));

  auto bad = loopback();
  bad.host = "256.0.0.1";
  bad.listen = "256.0.0.1:0";
  const auto failed = front.listen(bad);
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().message.find("256.0.0.1") != std::string::npos);
  CHECK(front.port() == second);
  CHECK(get(second, "/livez"));
}

TEST_CASE("stop() closes the listener, is idempotent, and listen() after it fails") {
  metrics::Metrics m("1.2.3", "abc", "3.0.0");
  app::HttpFront front(
      m, [] { return std::uint64_t{0}; }, [](const std::string&) {});
  REQUIRE(front.listen(loopback()).has_value());
  const auto port = front.port();
  REQUIRE(get(port, "/livez"));
  front.stop();
  front.stop();
  CHECK_FALSE(get(port, "/livez"));
  CHECK_FALSE(front.listen(loopback()).has_value());
}
