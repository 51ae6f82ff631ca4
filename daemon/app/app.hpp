#pragma once
/// The shell around the decision core (STYLE.md 1): take the next event, call core::step, run
/// the commands through the adapters, turn their results back into events, publish the state
/// for HTTP and metrics. Nothing here decides; every decision is in core/.
///
/// Executor affinity: the supervisor runs on the one io_context given to the constructor; the
/// HTTP endpoints run on a thread of their own (front.hpp) and read what publish_snapshot()
/// hands them.

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "app/front.hpp"
#include "common/error.hpp"
#include "config/config.hpp"
#include "config/watcher.hpp"
#include "core/state.hpp"
#include "docker/client.hpp"
#include "docker/events.hpp"
#include "kind/cli.hpp"
#include "log/log.hpp"
#include "metrics/metrics.hpp"
#include "probe/prober.hpp"
#include "process/reaper.hpp"
#include "process/runner.hpp"
#include "sys/notify.hpp"

namespace k8sinpod::app {

struct Options {
  config::Config config;
  std::string config_path;
  std::string version;
  std::string revision;
  std::string openssl;   // the OpenSSL version in use (release builds link it statically)
  std::string path_env;  // PATH, for finding kind
};

/// The value of an environment variable, if set.
std::optional<std::string> env_value(const char* name);

/// Where kind keeps its own view of the cluster's kubeconfig: next to ours, never ~/.kube.
std::string kind_kubeconfig_path(const std::string& kubeconfig_path);

/// The logging settings of the configuration, in the log module's terms.
spdlog::level::level_enum log_level(config::LogLevel level);
log::Format log_format(config::LogFormat format);

/// The decision policy derived from the configuration.
core::Policy policy_from(const config::Config& config, std::uint64_t seed);

class App {
 public:
  App(boost::asio::io_context& io, Options options);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  /// Startup: resolves kind, parses the Docker endpoint, binds the HTTP listener. An error here
  /// is a startup error (exit 1). On success the supervisor is running on the io_context.
  Result<void> start();

  /// The process exit code once the io_context has run out (0 after a clean shutdown).
  int exit_code() const { return exit_code_; }
  std::uint16_t http_port() const;

 private:
  void dispatch(const core::Event& event);
  void on_signal(int sig);
  void arm_signals();
  /// Re-reads the config file and applies what can change live (docs/configuration.md).
  /// `forced`: SIGHUP reloads even when the content hash is unchanged.
  void reload(const char* source, bool forced);
  void arm_watchdog(std::chrono::microseconds interval);
  /// Tells the HTTP thread every second that the loop turns (/livez `eventloop`).
  void arm_heartbeat();
  std::string status_line() const;
  /// Hands the HTTP thread the current state, policy and names.
  void publish_snapshot();
  void execute(const core::Command& command);
  void arm_timer(core::TimerId id, core::Duration after);
  void begin_shutdown(int code);
  boost::asio::awaitable<void> write_kubeconfig(std::string ip);
  core::KubeconfigChecked check_kubeconfig() const;
  boost::asio::awaitable<void> finish_shutdown();
  void log_transition(const core::State& before, const core::Event& event);

  boost::asio::io_context& io_;
  Options options_;
  core::Policy policy_;
  core::State state_;
  std::shared_ptr<spdlog::logger> log_;

  process::Reaper reaper_;
  process::Runner runner_;
  std::optional<kind::Cli> kind_;
  std::optional<docker::Client> docker_;
  probe::Prober prober_;
  metrics::Metrics metrics_;
  std::optional<docker::EventStream> events_;
  std::set<std::string> known_container_ids_;  // the control plane's, for network events
  std::optional<config::Watcher> watcher_;
  sys::Notifier notifier_;

  boost::asio::signal_set signals_;
  boost::asio::steady_timer probe_timer_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer guard_timer_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  std::uint64_t config_hash_ = 0;   // of the file content the running config came from
  std::string kind_kubeconfig_;     // kind's kubeconfig for the cluster, cached until a recreate
  std::string written_kubeconfig_;  // exactly what we last wrote to every target
  bool shutting_down_ = false;
  int exit_code_ = 0;
  HttpFront front_;  // last: its thread reads metrics_ and reaper_, so it ends before them
};

}  // namespace k8sinpod::app
