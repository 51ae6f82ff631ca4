#pragma once
/// A small HTTP/1.1 server (Boost.Beast, C++20 coroutines) that hands each request to a
/// `Handler` — in the daemon, `route()` from router.hpp — and writes the answer back.
///
/// - Keep-alive; every request read (and the idle wait before it) is bounded by
///   `Limits::read_timeout`, every response write by `Limits::write_timeout`. A connection that
///   times out is closed without an answer.
/// - Header larger than `header_limit`: 431 and close. A body larger than `body_limit` (0: no
///   body at all, the routes are GET-only): 413 and close. Malformed request: 400 and close.
///   Error answers are followed by a lingering close (shut down sending, drain what the client
///   still sends for up to a second) so the client reads the status instead of a reset.
/// - At `max_connections` open sessions, further connections are accepted, answered 503 and
///   closed.
/// - HEAD gets the GET answer's status and headers, with its Content-Length, and no body.
/// - Every response carries `Server: k8sinpodd` and `Content-Length`.
/// - Never throws after construction: failures are values (`listen`) or lines given to `LogFn`
///   (accept errors, saturation, a handler that threw — answered 500). Nothing is printed.
///
/// Executor affinity: all member functions must be called on `executor`'s thread, and the
/// handler runs there; use a single-threaded io_context (the daemon's event loop). Destroy the
/// Server before its io_context. Tests: run one io_context per test, listen on 127.0.0.1 port 0.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/error.hpp"
#include "http/router.hpp"

namespace k8sinpod::http {

namespace detail {
struct ServerState;
}

class Server {
 public:
  using Handler = std::function<Response(const Request&)>;
  using LogFn = std::function<void(std::string)>;

  struct Limits {
    std::size_t header_limit = 8192;
    std::size_t body_limit = 0;  // GET only
    std::chrono::milliseconds read_timeout{5000};
    std::chrono::milliseconds write_timeout{5000};
    std::size_t max_connections = 64;
  };

  Server(boost::asio::any_io_executor executor, Handler handler, Limits limits, LogFn log);
  /// Calls stop().
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and starts accepting. `host` is a numeric address: "0.0.0.0", "::", "127.0.0.1";
  /// port 0 picks an ephemeral port (see port()). Fails, naming the address, when the address
  /// is invalid or cannot be bound, or when called twice or after stop().
  Result<void> listen(const std::string& host, std::uint16_t port);

  /// The bound port; 0 before a successful listen().
  std::uint16_t port() const;

  /// Closes the acceptor and every open connection (in-flight reads and writes are aborted).
  /// Idempotent; the coroutines finish on the executor's next turns.
  void stop();

  /// Open sessions (connections counted against max_connections).
  std::size_t connections() const;

 private:
  std::shared_ptr<detail::ServerState> impl_;
};

}  // namespace k8sinpod::http
