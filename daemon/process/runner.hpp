#pragma once
/// Runs a child process with pipes and a deadline, never waiting for it itself: its exit status
/// comes from the `Reaper`.
///
/// Every child starts with default signal dispositions and an empty signal mask, in its own
/// process group, with stdin on /dev/null, no descriptor of ours but its two pipes, and exactly
/// the environment in `Spec::env`. Its stdout is collected (up to `kMaxStdout`); its stderr is
/// delivered line by line as it arrives. Past `Spec::timeout` its whole process group gets
/// SIGTERM, and SIGKILL after `Spec::kill_grace`.
///
/// Executor affinity: one executor, the Reaper's.

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/spawn.hpp"
#include "process/reaper.hpp"

namespace k8sinpod::process {

struct Spec {
  std::vector<std::string> argv;  // argv[0] is an absolute path (see find_executable)
  std::vector<std::string> env;   // KEY=value, the child's whole environment
  std::chrono::milliseconds timeout{std::chrono::minutes(1)};
  std::chrono::milliseconds kill_grace{std::chrono::seconds(5)};
};

struct Outcome {
  int exit_code = -1;  // valid when signal == 0
  int signal = 0;      // the signal that ended the child, 0 if it exited
  bool timed_out = false;
  std::string stdout_text;
  bool stdout_truncated = false;
  std::chrono::milliseconds took{};
  bool success() const { return signal == 0 && exit_code == 0 && !timed_out; }
};

/// Resolves a tool name the way execvp would: a name with a '/' is taken as it is; otherwise
/// the first executable match on `path_env` (colon-separated). Error if none.
Result<std::string> find_executable(std::string_view name, std::string_view path_env);

/// The caller's environment minus NOTIFY_SOCKET (never inherited by children, see conventions.md)
/// and with `overrides` (KEY=value) applied.
std::vector<std::string> child_environment(const std::vector<std::string>& overrides);

class Runner {
 public:
  using LineFn = std::function<void(std::string_view line)>;
  static constexpr std::size_t kMaxStdout = 4U << 20U;

  Runner(boost::asio::any_io_executor ex, Reaper& reaper);

  /// Errors only when the child could not be started (fork/exec failure); a child that runs and
  /// fails is an Outcome with its exit code.
  boost::asio::awaitable<Result<Outcome>> run(Spec spec, LineFn on_stderr_line);

  /// SIGTERM to every live child's process group (shutdown).
  void terminate_all();
  /// SIGKILL to every live child's process group (shutdown deadline passed).
  void kill_all();
  std::size_t running() const { return live_.size(); }

 private:
  boost::asio::any_io_executor ex_;
  Reaper& reaper_;
  std::set<pid_t> live_;
};

}  // namespace k8sinpod::process
