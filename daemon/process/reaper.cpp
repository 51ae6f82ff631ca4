#include "process/reaper.hpp"

#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <utility>

namespace k8sinpod::process {

Reaper::Reaper(const boost::asio::any_io_executor& ex) : signals_(ex, SIGCHLD) {}

void Reaper::start() {
  arm();
  reap();
}

void Reaper::expect(pid_t pid, OnExit on_exit) { expected_[pid] = std::move(on_exit); }

void Reaper::arm() {
  signals_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;  // cancelled at shutdown
    reap();
    arm();
  });
}

void Reaper::reap() {
  // SIGCHLDs do not queue: one signal may stand for many children, so loop until none is left.
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == 0) return;
    if (pid < 0) {
      if (errno == EINTR) continue;
      return;  // ECHILD: no children at all
    }
    auto it = expected_.find(pid);
    if (it == expected_.end()) {
      orphans_reaped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    auto on_exit = std::move(it->second);
    expected_.erase(it);
    on_exit(status);
  }
}

}  // namespace k8sinpod::process
