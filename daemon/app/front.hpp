#pragma once
/// The HTTP endpoints on a thread of their own, below the supervisor in CPU priority.
///
/// A flood of /metrics or probe requests must not delay supervision (docs/benchmarks.md,
/// "Endpoints under load"). On one event loop every request handler queues in front of Docker
/// events, probes and kubeconfig writes; here the http::Server runs on its own io_context and
/// thread, niced kHttpNiceIncrement above the process (Linux nice values are per thread), so
/// under CPU contention the supervisor's thread runs first. The thread blocks every signal:
/// signals stay with the supervisor.
///
/// The supervisor hands over what the routes read as an immutable Snapshot (publish()); the
/// routes read the latest one, never the live state. Its liveness reaches /livez through
/// beat(): the supervisor's loop calls it from a timer, and /livez fails `eventloop` once the
/// last beat is older than kLoopStall (a wedged loop then gets the pod restarted, as it did when
/// the loop itself answered /livez).
///
/// Thread-safety: construct, call every member function and destroy on the supervisor's thread.
/// The Metrics object is shared: see metrics.hpp for which of its members each thread calls.

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/error.hpp"
#include "config/config.hpp"
#include "core/state.hpp"
#include "http/server.hpp"
#include "metrics/metrics.hpp"

namespace k8sinpod::app {

class HttpFront {
 public:
  /// What the routes read: a copy of the supervisor's state as of its last publish().
  struct Snapshot {
    core::State state;
    core::Policy policy;
    std::string cluster_name;
    std::string kubeconfig_path;
    std::string version;
  };

  static constexpr int kHttpNiceIncrement = 10;
  static constexpr std::chrono::seconds kLoopStall{10};

  using LogFn = std::function<void(std::string)>;
  /// `orphans_reaped` is called on the HTTP thread for /metrics (process::Reaper's is atomic).
  HttpFront(metrics::Metrics& metrics, std::function<std::uint64_t()> orphans_reaped, LogFn log);
  /// Stops the server and joins the thread.
  ~HttpFront();
  HttpFront(const HttpFront&) = delete;
  HttpFront& operator=(const HttpFront&) = delete;

  /// Binds a new listener with `server`'s address, limits, TLS and users, on the HTTP thread,
  /// and waits for the outcome. On success the previous listener (if any) is closed and its
  /// rejection counts carry over; on failure it keeps serving.
  Result<void> listen(const config::ServerConfig& server);
  /// The bound port; 0 before a successful listen().
  std::uint16_t port() const { return port_.load(); }

  /// Replaces what the routes read.
  void publish(Snapshot snapshot);
  /// The supervisor's loop is alive at `now`.
  void beat(std::chrono::steady_clock::time_point now);

  /// Closes the listener and every connection; waits until they are closed. Idempotent.
  void stop();

 private:
  /// Runs `fn` on the HTTP thread and returns its result once it has run.
  template <class Fn>
  auto on_thread(Fn fn) -> decltype(fn());
  void run();
  http::Response handle(const http::Request& request);
  http::Server::Stats stats() const;  // HTTP thread

  metrics::Metrics& metrics_;
  std::function<std::uint64_t()> orphans_reaped_;
  LogFn log_;

  boost::asio::io_context io_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  // HTTP thread only:
  std::unique_ptr<http::Server> server_;
  http::Server::Stats stats_before_;  // of the listeners replaced by rebinds

  std::atomic<std::uint16_t> port_{0};
  std::atomic<std::int64_t> last_beat_;  // steady_clock ticks
  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  bool stopped_ = false;
  std::thread thread_;  // last: started once every member above exists
};

}  // namespace k8sinpod::app
