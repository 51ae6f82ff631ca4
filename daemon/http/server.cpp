#include "http/server.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <ctime>
#include <deque>
#include <exception>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "http/auth.hpp"
#include "http/budget.hpp"
#include "http/exchange.hpp"

namespace k8sinpod::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kLingerMaxBytes = std::size_t{64} * 1024;
constexpr std::chrono::milliseconds kLingerMax{1000};
constexpr std::chrono::milliseconds kAcceptErrorPause{100};
constexpr std::chrono::seconds kThrottleQuiet{10};

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto address = ep.address().to_string();
  const auto port = std::to_string(ep.port());
  return ep.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

}  // namespace

namespace detail {

struct ServerState {
  ServerState(asio::any_io_executor ex, Server::Handler h, Server::Limits l, Server::LogFn lg,
              Server::Security sec, Server::CpuClock cpu)
      : executor(std::move(ex)),
        handler(std::move(h)),
        limits(l),
        log_fn(std::move(lg)),
        security(std::move(sec)),
        auth(security.basic_auth_users),
        cpu_clock(cpu ? std::move(cpu) : Server::CpuClock(Server::thread_cpu_time)),
        budget(limits.max_cpu_percent),
        acceptor(executor) {}

  void log(std::string line) const {
    if (log_fn) log_fn(std::move(line));
  }

  /// Logs an exception that escaped a coroutine: a bug, never silent. Holds its own copy of
  /// the log function: it may run after the Server is gone.
  auto completion(const char* what) const {
    return [log_copy = log_fn, what](const std::exception_ptr& e) {
      if (!e || !log_copy) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log_copy(std::string("http: bug: ") + what + " ended by exception: " + ex.what());
      } catch (...) {
        log_copy(std::string("http: bug: ") + what + " ended by unknown exception");
      }
    };
  }

  asio::any_io_executor executor;
  Server::Handler handler;
  Server::Limits limits;
  Server::LogFn log_fn;
  Server::Security security;
  BasicAuth auth;
  Server::CpuClock cpu_clock;
  CpuBudget budget;
  std::optional<ssl::context> tls;  // set by listen() when security.cert_file is set
  tcp::acceptor acceptor;
  std::uint16_t port = 0;
  bool stopped = false;
  bool saturated = false;  // logged once per episode of rejections
  /// The last 401 for a spent bcrypt budget: an episode's warning is logged once.
  std::optional<std::chrono::steady_clock::time_point> last_throttle;
  std::size_t active = 0;  // sessions counted against max_connections
  std::uint64_t next_id = 0;
  Server::Stats stats;
  std::unordered_map<std::uint64_t, beast::tcp_stream*> streams;  // open ones, for stop()
  std::unordered_set<asio::steady_timer*> budget_waits;           // pending ones, for stop()
  /// Busy requests waiting for the CPU budget, oldest first: each one's timer, released by the
  /// pump when its turn comes (or by stop()). It is also in budget_waits.
  std::deque<asio::steady_timer*> budget_queue;
  bool pumping = false;  // budget_pump() runs
};

}  // namespace detail

namespace {

using Impl = detail::ServerState;

/// Holds one of the max_connections places, from accept until the session's frame is destroyed
/// (taken before co_spawn, so the accept loop never over-admits while a session has yet to start).
class Slot {
 public:
  explicit Slot(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) { ++impl_->active; }
  Slot(Slot&& other) noexcept : impl_(std::move(other.impl_)) {}
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  Slot& operator=(Slot&&) = delete;
  ~Slot() {
    if (impl_) --impl_->active;
  }

 private:
  std::shared_ptr<Impl> impl_;
};

/// Lists a stream in Impl::streams while it is open, so stop() can close it.
class Registration {
 public:
  Registration(Impl& impl, beast::tcp_stream& stream) : impl_(impl), id_(impl.next_id++) {
    impl_.streams.emplace(id_, &stream);
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration() { impl_.streams.erase(id_); }

 private:
  Impl& impl_;
  std::uint64_t id_;
};

beast::tcp_stream& tcp_of(beast::tcp_stream& stream) { return stream; }
beast::tcp_stream& tcp_of(TlsStream& stream) { return stream.next_layer(); }

// Shut down sending, then read and discard what the client still sends (bounded in time and
// bytes) before closing: closing with unread data makes the kernel send a reset, and the client
// may then lose the error answer it has not read yet.
asio::awaitable<void> linger_close(beast::tcp_stream& stream, std::chrono::milliseconds timeout) {
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(std::min(timeout, kLingerMax));
  std::array<char, 4096> sink;
  for (std::size_t total = 0; total < kLingerMaxBytes;) {
    auto [read_ec, n] = co_await stream.async_read_some(asio::buffer(sink), kAsTuple);
    if (read_ec) break;
    total += n;
  }
  stream.close();
}

bhttp::response<bhttp::string_body> make_response(unsigned status, unsigned version) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), version};
  res.set(bhttp::field::server, "k8sinpodd");
  return res;
}

/// Answers `status` with Connection: close, then closes lingering (under TLS the drain reads
/// the raw TCP bytes: the point is only to not reset the connection).
template <class Stream>
asio::awaitable<void> fail_and_close(const Impl& impl, Stream& stream, unsigned status) {
  auto res = make_response(status, 11);
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.keep_alive(false);
  res.body() = reason_body(status);
  res.prepare_payload();
  tcp_of(stream).expires_after(impl.limits.write_timeout);
  auto [ec, n] = co_await bhttp::async_write(stream, res, kAsTuple);
  if (!ec) co_await linger_close(tcp_of(stream), impl.limits.read_timeout);
}

/// Per-connection request rate: a fixed one-second window from the window's first request.
class RateWindow {
 public:
  explicit RateWindow(std::size_t per_second) : per_second_(per_second) {}
  /// Counts one request at `now`; false when it exceeds the limit (never when it is 0).
  bool admit(std::chrono::steady_clock::time_point now) {
    if (count_ == 0 || now - start_ >= std::chrono::seconds{1}) {
      start_ = now;
      count_ = 0;
    }
    ++count_;
    return per_second_ == 0 || count_ <= per_second_;
  }
  /// Requests within the current window, this one included.
  std::size_t count() const { return count_; }

 private:
  std::size_t per_second_;
  std::size_t count_ = 0;
  std::chrono::steady_clock::time_point start_;
};

/// Lists a timer in Impl::budget_waits (and, for a busy request, in Impl::budget_queue) while a
/// coroutine waits on it, so that stop() can release it.
class BudgetWait {
 public:
  BudgetWait(Impl& impl, asio::steady_timer& timer, bool queued)
      : impl_(impl), timer_(&timer), queued_(queued) {
    impl_.budget_waits.insert(timer_);
    if (queued_) impl_.budget_queue.push_back(timer_);
  }
  BudgetWait(const BudgetWait&) = delete;
  BudgetWait& operator=(const BudgetWait&) = delete;
  ~BudgetWait() {
    impl_.budget_waits.erase(timer_);
    // Still queued only when its wait ended otherwise than by its turn (stop()).
    if (queued_) std::erase(impl_.budget_queue, timer_);
  }

 private:
  Impl& impl_;
  asio::steady_timer* timer_;
  bool queued_;
};

/// Asks the budget whether `work` may go now (charging the thread's CPU time so far).
std::optional<CpuBudget::Clock::time_point> ask_budget(Impl& impl, CpuBudget::Work work) {
  return impl.budget.admit(work, impl.cpu_clock(), std::chrono::steady_clock::now());
}

/// Ends the wait on `timer`, pending or started later (a cancel() would miss a later one).
void release(asio::steady_timer& timer) { timer.expires_at(asio::steady_timer::time_point::min()); }

/// Clears Impl::pumping when the pump ends, however it ends.
class PumpRunning {
 public:
  explicit PumpRunning(Impl& impl) : impl_(impl) {}
  PumpRunning(const PumpRunning&) = delete;
  PumpRunning& operator=(const PumpRunning&) = delete;
  ~PumpRunning() { impl_.pumping = false; }

 private:
  Impl& impl_;
};

/// Lets the queued busy requests go, oldest first, one at a time while the budget allows: each
/// runs (to its next suspension) before the budget is asked again, so that its CPU time is
/// charged before the next one goes. Ends when the queue is empty, or on stop(). wait_busy()
/// sets Impl::pumping before spawning it.
asio::awaitable<void> budget_pump(std::shared_ptr<Impl> impl) {
  const PumpRunning running(*impl);
  // co_spawn starts this at once, inside wait_busy(): let it reach its wait first.
  co_await asio::post(impl->executor, asio::use_awaitable);
  asio::steady_timer refill(impl->executor);
  const BudgetWait registered(*impl, refill, false);
  while (!impl->stopped && !impl->budget_queue.empty()) {
    if (const auto until = ask_budget(*impl, CpuBudget::Work::busy)) {
      refill.expires_at(*until);
      co_await refill.async_wait(kAsTuple);
      continue;
    }
    asio::steady_timer* turn = impl->budget_queue.front();
    impl->budget_queue.pop_front();
    release(*turn);  // queues its waiter's resumption, which runs before this post returns
    co_await asio::post(impl->executor, asio::use_awaitable);
  }
  for (auto* turn : impl->budget_queue) release(*turn);  // stopped: nobody else will
}

/// Returns once the CPU budget lets a request on a busy connection go, in arrival order among
/// the waiting ones (at once when the budget is unlimited), or on stop().
asio::awaitable<void> wait_busy(const std::shared_ptr<Impl>& impl) {
  if (!impl->budget.limited() || impl->stopped) co_return;
  if (impl->budget_queue.empty() && !ask_budget(*impl, CpuBudget::Work::busy)) co_return;
  ++impl->stats.cpu_waits;
  asio::steady_timer turn(impl->executor, asio::steady_timer::time_point::max());
  const BudgetWait registered(*impl, turn, true);
  if (!impl->pumping) {
    impl->pumping = true;
    asio::co_spawn(impl->executor, budget_pump(impl), impl->completion("budget pump"));
  }
  co_await turn.async_wait(kAsTuple);  // released: its turn, or stop()
}

/// Returns once the CPU budget lets the next accept go (at once when it is unlimited), or on
/// stop().
asio::awaitable<void> wait_accept(Impl& impl) {
  if (!impl.budget.limited()) co_return;
  auto until = ask_budget(impl, CpuBudget::Work::accept);
  if (!until) co_return;
  ++impl.stats.cpu_waits;
  asio::steady_timer timer(impl.executor);
  const BudgetWait registered(impl, timer, false);
  for (; until && !impl.stopped; until = ask_budget(impl, CpuBudget::Work::accept)) {
    timer.expires_at(*until);
    co_await timer.async_wait(kAsTuple);
  }
}

/// Reads and answers requests on `stream` until the connection ends.
template <class Stream>
asio::awaitable<void> serve(const std::shared_ptr<Impl>& impl_ptr, Stream& stream) {
  Impl& impl = *impl_ptr;
  const auto& limits = impl.limits;
  beast::flat_buffer buffer;
  RateWindow rate(limits.max_requests_per_connection_per_second);
  auto& stats = impl.stats;

  while (!impl.stopped) {
    RequestParser parser;
    apply_limits(parser, limits.header_limit, limits.body_limit);
    tcp_of(stream).expires_after(limits.read_timeout);
    auto [read_ec, read_n] = co_await bhttp::async_read(stream, buffer, parser, kAsTuple);
    if (read_ec) {
      // Timeouts, resets, aborts (stop()) and a client closing between requests end quietly.
      const unsigned status = read_error_status(read_ec);
      if (status == 431) ++stats.header_too_large;
      if (status == 413) ++stats.body_too_large;
      if (status == 400) ++stats.bad_request;
      if (status != 0) {
        co_await fail_and_close(impl, stream, status);
      } else if (read_ec == beast::error::timeout && (parser.got_some() || buffer.size() > 0)) {
        ++stats.timeouts;
      }
      co_return;
    }
    if (!rate.admit(std::chrono::steady_clock::now())) {
      ++stats.rate_limited;
      co_await fail_and_close(impl, stream, 429);
      co_return;
    }
    if (CpuBudget::is_busy(rate.count())) {
      co_await wait_busy(impl_ptr);
      if (impl.stopped) co_return;
    }

    const auto& req = parser.get();
    const Request request{std::string(req.method_string()), std::string(req.target())};
    Response answer;
    switch (authorized(request, req[bhttp::field::authorization], impl.auth)) {
      case AuthResult::allowed:
        answer = call_handler(request, impl.handler, impl.log_fn);
        break;
      case AuthResult::denied:
        ++stats.unauthorized;
        answer = unauthorized();
        break;
      case AuthResult::throttled: {
        ++stats.auth_throttled;
        // One line per episode: a throttle after kThrottleQuiet without one. Not "until a request
        // is allowed": the kubelet's probes are allowed every few seconds during any flood.
        const auto now = std::chrono::steady_clock::now();
        if (!impl.last_throttle || now - *impl.last_throttle >= kThrottleQuiet) {
          impl.log("http: basic auth: bcrypt checks took their budget of " +
                   std::to_string(BasicAuth::kBcryptBudget.count()) +
                   " ms in a second: refusing credentials that are not cached (401) without a "
                   "check until the second ends; logged again after " +
                   std::to_string(kThrottleQuiet.count()) + " s without such a refusal");
        }
        impl.last_throttle = now;
        answer = unauthorized();
        break;
      }
    }
    const bool keep_alive = req.keep_alive() && !impl.stopped;

    auto res = make_response(answer.status, req.version());
    res.set(bhttp::field::content_type, answer.content_type);
    for (const auto& [name, value] : answer.headers) res.set(name, value);
    res.keep_alive(keep_alive);
    res.content_length(answer.body.size());
    if (req.method() != bhttp::verb::head) res.body() = std::move(answer.body);

    tcp_of(stream).expires_after(limits.write_timeout);
    auto [write_ec, write_n] = co_await bhttp::async_write(stream, res, kAsTuple);
    if (write_ec) {
      if (write_ec == beast::error::timeout) ++stats.timeouts;
      co_return;
    }
    if (!keep_alive) {
      error_code ec;
      tcp_of(stream).socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
  }
}

asio::awaitable<void> session(std::shared_ptr<Impl> impl, Slot slot, tcp::socket socket) {
  (void)slot;
  if (impl->stopped) co_return;  // stop() ran between accept and this coroutine's start
  if (!impl->tls) {
    beast::tcp_stream stream(std::move(socket));
    const Registration registration(*impl, stream);
    co_await serve(impl, stream);
    co_return;
  }
  TlsStream stream(std::move(socket), *impl->tls);
  const Registration registration(*impl, stream.next_layer());
  stream.next_layer().expires_after(impl->limits.read_timeout);
  auto [handshake_ec] = co_await stream.async_handshake(ssl::stream_base::server, kAsTuple);
  if (handshake_ec) {
    if (!impl->stopped) ++impl->stats.tls_handshake_failed;
    co_return;
  }
  co_await serve(impl, stream);
}

asio::awaitable<void> reject(std::shared_ptr<Impl> impl, tcp::socket socket) {
  if (impl->stopped) co_return;
  if (impl->tls) co_return;  // closing the socket is the answer: no handshake spent on it
  beast::tcp_stream stream(std::move(socket));
  const Registration registration(*impl, stream);
  co_await fail_and_close(*impl, stream, 503);
}

asio::awaitable<void> accept_loop(std::shared_ptr<Impl> impl) {
  while (!impl->stopped) {
    co_await wait_accept(*impl);
    if (impl->stopped) co_return;
    auto [ec, socket] = co_await impl->acceptor.async_accept(kAsTuple);
    if (impl->stopped) co_return;
    if (ec) {
      impl->log("http: accept on port " + std::to_string(impl->port) + ": " + ec.message());
      // Out of descriptors (EMFILE) fails again at once: pause instead of spinning.
      asio::steady_timer pause(impl->executor, kAcceptErrorPause);
      co_await pause.async_wait(kAsTuple);
      continue;
    }
    if (impl->active >= impl->limits.max_connections) {
      if (!impl->saturated) {
        impl->saturated = true;
        error_code peer_ec;
        const auto peer = socket.remote_endpoint(peer_ec);
        impl->log("http: connection limit " + std::to_string(impl->limits.max_connections) +
                  " reached: answering 503 to new connections (first from " +
                  (peer_ec ? std::string("an unknown peer") : endpoint_text(peer)) + ")");
      }
      ++impl->stats.too_many_connections;
      asio::co_spawn(impl->executor, reject(impl, std::move(socket)), impl->completion("reject"));
      continue;
    }
    impl->saturated = false;
    Slot slot(impl);
    asio::co_spawn(impl->executor, session(impl, std::move(slot), std::move(socket)),
                   impl->completion("session"));
  }
}

}  // namespace

Server::Server(boost::asio::any_io_executor executor, Handler handler, Limits limits, LogFn log,
               Security security, CpuClock cpu_clock)
    : impl_(std::make_shared<detail::ServerState>(std::move(executor), std::move(handler), limits,
                                                  std::move(log), std::move(security),
                                                  std::move(cpu_clock))) {}

std::chrono::nanoseconds Server::thread_cpu_time() {
  timespec ts{};
  // Cannot fail for the calling thread's own clock (Linux >= 2.6.12); if it did, nothing would
  // be charged and the budget would not hold anything back.
  if (::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return {};
  return std::chrono::seconds{ts.tv_sec} + std::chrono::nanoseconds{ts.tv_nsec};
}

namespace {

/// The TLS context of `security`: TLS 1.2+, certificate chain and key (checked to match), and
/// with a client CA, required client certificates. Fails naming the file.
Result<void> make_tls(const Server::Security& security, std::optional<ssl::context>& out) {
  ssl::context context(ssl::context::tls_server);
  error_code ec;
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                          ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                          ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                      ec);
  if (ec) return fail("http: tls: options: " + ec.message());
  const auto file_error = [&](const char* key, const std::string& path) {
    return fail(std::string("http: tls: ") + key + " \"" + path + "\": " + ec.message());
  };
  context.use_certificate_chain_file(security.cert_file, ec);
  if (ec) return file_error("cert_file", security.cert_file);
  context.use_private_key_file(security.key_file, ssl::context::pem, ec);
  if (ec) return file_error("key_file", security.key_file);
  if (SSL_CTX_check_private_key(context.native_handle()) != 1) {
    return fail("http: tls: key_file \"" + security.key_file +
                "\" does not match the certificate in cert_file \"" + security.cert_file + "\"");
  }
  if (!security.client_ca_file.empty()) {
    context.load_verify_file(security.client_ca_file, ec);
    if (ec) return file_error("client_ca_file", security.client_ca_file);
    // Tell clients which CAs are accepted (curl and browsers pick a certificate by it).
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(security.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(context.native_handle(), names);
    }
    context.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return fail("http: tls: verify mode: " + ec.message());
  }
  out.emplace(std::move(context));
  return {};
}

}  // namespace

Server::~Server() { stop(); }

Result<void> Server::listen(const std::string& host, std::uint16_t port) {
  auto& impl = *impl_;
  if (impl.stopped) return fail("http: listen: the server was stopped");
  if (impl.acceptor.is_open()) {
    return fail("http: listen: already listening on port " + std::to_string(impl.port));
  }
  if (!impl.security.cert_file.empty() && !impl.tls) {
    if (auto made = make_tls(impl.security, impl.tls); !made) return made;
  }
  error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return fail("http: listen: invalid address \"" + host + "\": " + ec.message());
  const tcp::endpoint endpoint(address, port);
  auto failed = [&](const char* what) {
    error_code ignored;
    impl.acceptor.close(ignored);
    return fail(std::string("http: ") + what + " " + endpoint_text(endpoint) + ": " + ec.message());
  };
  impl.acceptor.open(endpoint.protocol(), ec);
  if (ec) return failed("open");
  impl.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return failed("set SO_REUSEADDR on");
  impl.acceptor.bind(endpoint, ec);
  if (ec) return failed("bind");
  impl.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return failed("listen on");
  const auto local = impl.acceptor.local_endpoint(ec);
  if (ec) return failed("local address of");
  impl.port = local.port();
  asio::co_spawn(impl.executor, accept_loop(impl_), impl.completion("accept loop"));
  return {};
}

std::uint16_t Server::port() const { return impl_->port; }

std::size_t Server::connections() const { return impl_->active; }

const Server::Stats& Server::stats() const { return impl_->stats; }

void Server::stop() {
  auto& impl = *impl_;
  if (impl.stopped) return;
  impl.stopped = true;
  error_code ec;
  impl.acceptor.close(ec);
  // Closing aborts the pending operation; its coroutine then ends and unregisters itself.
  for (auto& [id, stream] : impl.streams) stream->close();
  for (auto* timer : impl.budget_waits) release(*timer);
}

}  // namespace k8sinpod::http
