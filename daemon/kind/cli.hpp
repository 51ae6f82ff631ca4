#pragma once
/// The kind adapter: runs kind through process::Runner and maps its exits to values. Every
/// stderr line of kind goes to `log_line` as it arrives (the app tags it as kind's).
///
/// Executor affinity: the Runner's.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "kind/commands.hpp"
#include "process/runner.hpp"

namespace k8sinpod::kind {

struct CreateOutcome {
  bool ok = false;
  bool already_exists = false;
  std::string error;
  std::chrono::milliseconds took{};
};

class Cli {
 public:
  using LogLine = std::function<void(std::string_view)>;

  /// `env` is the children's whole environment (see process::child_environment).
  Cli(process::Runner& runner, Settings settings, std::vector<std::string> env, LogLine log_line);

  boost::asio::awaitable<Result<bool>> cluster_exists(std::chrono::milliseconds timeout);
  boost::asio::awaitable<CreateOutcome> create(std::chrono::milliseconds timeout);
  boost::asio::awaitable<Result<void>> remove(std::chrono::milliseconds timeout);
  /// kind's kubeconfig for the cluster (stdout of `kind get kubeconfig`).
  boost::asio::awaitable<Result<std::string>> kubeconfig(std::chrono::milliseconds timeout);

  const Settings& settings() const { return settings_; }

 private:
  struct Run {
    Result<process::Outcome> outcome;
    std::vector<std::string> stderr_lines;
  };
  boost::asio::awaitable<Run> run(std::vector<std::string> argv, std::chrono::milliseconds timeout);
  std::string describe_failure(const std::string& what, const Run& r) const;

  process::Runner& runner_;
  Settings settings_;
  std::vector<std::string> env_;
  LogLine log_line_;
};

}  // namespace k8sinpod::kind
