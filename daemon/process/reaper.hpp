#pragma once
/// The single owner of child exit statuses (conventions.md "PID 1 in a container").
///
/// One SIGCHLD `signal_set` reaps everything with `waitpid(-1, WNOHANG)` until 0/ECHILD and
/// hands each status to whoever registered that pid with `expect()`; statuses of pids nobody
/// registered are orphans (reparented to us as PID 1 or subreaper) and only counted. Nothing
/// else in the process may call wait*(): Boost.Process's own wait functions would race us.
///
/// Executor affinity: construct, `expect()` and destroy on the loop's executor. Registering a
/// pid right after fork() on that executor is race-free: the reap handler cannot run in between.

#include <sys/types.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdint>
#include <functional>
#include <unordered_map>

namespace k8sinpod::process {

class Reaper {
 public:
  using OnExit = std::function<void(int wait_status)>;

  explicit Reaper(const boost::asio::any_io_executor& ex);
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  /// Starts listening for SIGCHLD and reaps whatever already exited.
  void start();
  /// `on_exit` runs once, on the executor, with the raw wait status of `pid`.
  void expect(pid_t pid, OnExit on_exit);
  /// Reaps now (also called from the SIGCHLD handler).
  void reap();

  /// Orphans (children nobody expect()ed) reaped so far. The one member any thread may call.
  std::uint64_t orphans_reaped() const { return orphans_reaped_.load(std::memory_order_relaxed); }
  std::size_t pending() const { return expected_.size(); }

 private:
  void arm();

  boost::asio::signal_set signals_;
  std::unordered_map<pid_t, OnExit> expected_;
  std::atomic<std::uint64_t> orphans_reaped_{0};
};

}  // namespace k8sinpod::process
