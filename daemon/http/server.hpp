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
/// - More than `max_requests_per_connection_per_second` requests on one connection within one
///   second (a fixed window starting at the window's first request): 429 and close.
/// - CPU budget (`max_cpu_percent`, http/budget.hpp): once the thread has used its share of one
///   CPU, requests on busy connections (more than CpuBudget::kLightRequests within the
///   connection's one-second window) wait and then go one at a time, oldest first; the next
///   accept waits when the work that does not wait overspent. Other requests do not wait. Each
///   wait is counted (`Stats::cpu_waits`).
/// - Every rejection is counted in `stats()`. A read timeout counts only when part of a request
///   had arrived (a keep-alive connection closed idle is normal, not a rejection).
/// - HEAD gets the GET answer's status and headers, with its Content-Length, and no body.
/// - Every response carries `Server: k8sinpodd` and `Content-Length`.
/// - TLS (optional, `Security::cert_file`): every connection starts with a TLS handshake,
///   bounded by `read_timeout`; with `client_ca_file` a client certificate signed by it is
///   required. A failed handshake closes the connection (counted). At max_connections a TLS
///   connection is closed without an answer (no handshake is spent on it).
/// - Basic auth (optional, `Security::basic_auth_users`): every target except /livez and
///   /readyz and their sub-paths (see auth.hpp) needs valid `Authorization: Basic`, else 401
///   with `WWW-Authenticate: Basic realm="k8sinpodd"` (the connection stays open). Once the
///   bcrypt runs of a second took `BasicAuth::kBcryptBudget`, credentials not in the cache are
///   answered 401 unchecked until the second ends (counted apart; one warning per episode: a
///   throttle after 10 s without one).
/// - Never throws after construction: failures are values (`listen`) or lines given to `LogFn`
///   (accept errors, saturation, a handler that threw — answered 500). Nothing is printed.
///
/// Executor affinity: all member functions must be called on `executor`'s thread, and the
/// handler runs there; use a single-threaded io_context (in the daemon, the HTTP thread's:
/// app/front.hpp). Destroy the Server before its io_context. Tests: run one io_context per test,
/// listen on 127.0.0.1 port 0.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
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
    /// 0: unlimited.
    std::size_t max_requests_per_connection_per_second = 100;
    /// The thread's CPU budget in % of one CPU, 1..100; 0: unlimited.
    unsigned max_cpu_percent = 0;
  };

  /// Rejected and failed requests since construction, by reason, and the waits for the CPU
  /// budget; monotonic.
  struct Stats {
    std::uint64_t bad_request = 0;           // 400: malformed
    std::uint64_t header_too_large = 0;      // 431
    std::uint64_t body_too_large = 0;        // 413
    std::uint64_t too_many_connections = 0;  // 503 at max_connections
    std::uint64_t rate_limited = 0;          // 429
    std::uint64_t timeouts = 0;              // partial request or response write timed out
    std::uint64_t unauthorized = 0;          // 401: basic auth missing or wrong
    std::uint64_t auth_throttled = 0;        // 401: bcrypt budget spent (auth.hpp), not checked
    std::uint64_t tls_handshake_failed = 0;  // includes handshake timeouts, missing client cert
    std::uint64_t cpu_waits = 0;  // not a rejection: requests and accepts that waited for CPU
    friend bool operator==(const Stats&, const Stats&) = default;
  };

  /// TLS and basic auth, as in Prometheus exporters' web config. Default: plain HTTP, no auth.
  struct Security {
    /// PEM files, read by listen(). cert_file empty: plain HTTP (key_file, client_ca_file unused).
    std::string cert_file;
    std::string key_file;
    /// Not empty: clients must present a certificate signed by a CA in this PEM bundle.
    std::string client_ca_file;
    /// User name -> bcrypt hash ($2y$/$2b$/$2a$). Empty: no auth.
    std::map<std::string, std::string> basic_auth_users;
  };

  /// The CPU time the calling thread has used (the budget's meter).
  using CpuClock = std::function<std::chrono::nanoseconds()>;
  static std::chrono::nanoseconds thread_cpu_time();

  Server(boost::asio::any_io_executor executor, Handler handler, Limits limits, LogFn log,
         Security security = {}, CpuClock cpu_clock = thread_cpu_time);
  /// Calls stop().
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and starts accepting. `host` is a numeric address: "0.0.0.0", "::", "127.0.0.1";
  /// port 0 picks an ephemeral port (see port()). Fails, naming the address, when the address
  /// is invalid or cannot be bound, or when called twice or after stop(). With TLS, first loads
  /// the certificate, key and client CA (blocking file reads) and fails naming the file when one
  /// cannot be read or parsed, or when the key does not match the certificate.
  Result<void> listen(const std::string& host, std::uint16_t port);

  /// The bound port; 0 before a successful listen().
  std::uint16_t port() const;

  /// Closes the acceptor and every open connection (in-flight reads and writes are aborted).
  /// Idempotent; the coroutines finish on the executor's next turns.
  void stop();

  /// Open sessions (connections counted against max_connections).
  std::size_t connections() const;

  /// The counters so far.
  const Stats& stats() const;

 private:
  std::shared_ptr<detail::ServerState> impl_;
};

}  // namespace k8sinpod::http
