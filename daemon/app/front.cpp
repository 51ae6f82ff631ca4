#include "app/front.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <future>

#include "http/router.hpp"

namespace k8sinpod::app {

namespace asio = boost::asio;

namespace {

http::Server::Stats add(const http::Server::Stats& a, const http::Server::Stats& b) {
  return {a.bad_request + b.bad_request,
          a.header_too_large + b.header_too_large,
          a.body_too_large + b.body_too_large,
          a.too_many_connections + b.too_many_connections,
          a.rate_limited + b.rate_limited,
          a.timeouts + b.timeouts,
          a.unauthorized + b.unauthorized,
          a.auth_throttled + b.auth_throttled,
          a.tls_handshake_failed + b.tls_handshake_failed,
          a.cpu_waits + b.cpu_waits};
}

std::int64_t ticks(std::chrono::steady_clock::time_point t) { return t.time_since_epoch().count(); }

}  // namespace

HttpFront::HttpFront(metrics::Metrics& metrics, std::function<std::uint64_t()> orphans_reaped,
                     LogFn log)
    : metrics_(metrics),
      orphans_reaped_(std::move(orphans_reaped)),
      log_(std::move(log)),
      work_(asio::make_work_guard(io_)),
      last_beat_(ticks(std::chrono::steady_clock::now())),
      snapshot_(std::make_shared<const Snapshot>()),
      thread_([this] { run(); }) {}

HttpFront::~HttpFront() {
  stop();
  work_.reset();
  thread_.join();
  // The thread has ended: the remaining handlers (aborted connections) are destroyed with io_.
}

void HttpFront::run() {
  // Signals belong to the supervisor (its signal_sets); this thread never takes one.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  pthread_setname_np(pthread_self(), "k8sinpodd-http");
  // Linux: the nice value is per thread (setpriority with a thread id).
  const auto tid = static_cast<id_t>(::gettid());
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, tid);
  if (errno == 0 && ::setpriority(PRIO_PROCESS, tid, nice + kHttpNiceIncrement) != 0) {
    log_(std::string("http: cannot lower the HTTP thread's priority: ") + std::strerror(errno));
  }
  io_.run();
}

template <class Fn>
auto HttpFront::on_thread(Fn fn) -> decltype(fn()) {
  std::packaged_task<decltype(fn())()> task(std::move(fn));
  auto result = task.get_future();
  asio::post(io_, [&task] { task(); });
  return result.get();
}

Result<void> HttpFront::listen(const config::ServerConfig& server) {
  if (stopped_) return fail("server: stopped");
  return on_thread([this, &server]() -> Result<void> {
    auto next = std::make_unique<http::Server>(
        io_.get_executor(), [this](const http::Request& req) { return handle(req); },
        http::Server::Limits{.max_connections = static_cast<std::size_t>(server.max_connections),
                             .max_requests_per_connection_per_second = static_cast<std::size_t>(
                                 server.max_requests_per_connection_per_second),
                             .max_cpu_percent = static_cast<unsigned>(server.max_cpu_percent)},
        log_,
        http::Server::Security{.cert_file = server.tls.cert_file,
                               .key_file = server.tls.key_file,
                               .client_ca_file = server.tls.client_ca_file,
                               .basic_auth_users = server.basic_auth_users});
    if (auto r = next->listen(server.host, server.port); !r) {
      return fail("server (listen " + server.listen + "): " + r.error().message);
    }
    // Bound: only now drop the old listener, so that a failed rebind keeps serving. Its counts
    // carry over: the rejection counters are monotonic across rebinds.
    if (server_) {
      stats_before_ = add(stats_before_, server_->stats());
      server_->stop();
    }
    server_ = std::move(next);
    port_ = server_->port();
    return {};
  });
}

void HttpFront::publish(Snapshot snapshot) {
  auto next = std::make_shared<const Snapshot>(std::move(snapshot));
  {
    // Only pointer copies under the lock, on both sides: the niced HTTP thread never holds it
    // for longer than that, so the supervisor does not wait on it. The old snapshot (when the
    // HTTP thread no longer holds it either) is freed after the unlock, with `next`.
    const std::lock_guard lock(snapshot_mutex_);
    snapshot_.swap(next);
  }
}

void HttpFront::beat(std::chrono::steady_clock::time_point now) { last_beat_ = ticks(now); }

void HttpFront::stop() {
  if (stopped_) return;
  stopped_ = true;
  on_thread([this] {
    if (server_) server_->stop();
  });
}

http::Server::Stats HttpFront::stats() const {
  return add(stats_before_, server_ ? server_->stats() : http::Server::Stats{});
}

http::Response HttpFront::handle(const http::Request& request) {
  std::shared_ptr<const Snapshot> snap;
  {
    const std::lock_guard lock(snapshot_mutex_);
    snap = snapshot_;
  }
  const auto now = std::chrono::steady_clock::now();
  const auto since_beat = std::chrono::steady_clock::duration(ticks(now) - last_beat_.load());
  const http::RouteContext ctx{
      snap->state,
      snap->policy,
      snap->cluster_name,
      snap->kubeconfig_path,
      snap->version,
      [this, now] {
        metrics_.set_orphans_reaped(orphans_reaped_());
        const auto st = stats();
        metrics_.set_http_rejected("bad_request", st.bad_request);
        metrics_.set_http_rejected("header_too_large", st.header_too_large);
        metrics_.set_http_rejected("body_too_large", st.body_too_large);
        metrics_.set_http_rejected("too_many_connections", st.too_many_connections);
        metrics_.set_http_rejected("rate_limited", st.rate_limited);
        metrics_.set_http_rejected("timeout", st.timeouts);
        metrics_.set_http_rejected("unauthorized", st.unauthorized);
        metrics_.set_http_rejected("auth_throttled", st.auth_throttled);
        metrics_.set_http_rejected("tls_handshake_failed", st.tls_handshake_failed);
        metrics_.set_http_cpu_waits(st.cpu_waits);
        return metrics_.render_reusing(now);
      },
      since_beat < kLoopStall};
  return http::route(request, ctx);
}

}  // namespace k8sinpod::app
