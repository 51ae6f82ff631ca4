// Signals, live configuration reload and the HTTP listener of the App (app.hpp).

#include "config/reload.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "app/app.hpp"
#include "http/router.hpp"
#include "log/log.hpp"
#include "sys/exit_code.hpp"

namespace k8sinpod::app {

namespace {

spdlog::level::level_enum to_spdlog(config::LogLevel l) {
  switch (l) {
    case config::LogLevel::trace:
      return spdlog::level::trace;
    case config::LogLevel::debug:
      return spdlog::level::debug;
    case config::LogLevel::info:
      return spdlog::level::info;
    case config::LogLevel::warn:
      return spdlog::level::warn;
    case config::LogLevel::error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::string join(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

}  // namespace

spdlog::level::level_enum log_level(config::LogLevel level) { return to_spdlog(level); }

log::Format log_format(config::LogFormat format) {
  return format == config::LogFormat::json ? log::Format::json : log::Format::text;
}

void App::arm_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    on_signal(sig);
    arm_signals();
  });
}

void App::on_signal(int sig) {
  switch (sig) {
    case SIGTERM:
    case SIGINT:
      if (shutting_down_) {
        // The second request: no more waiting. Children go down with us, nothing is orphaned;
        // the kubeconfig is only ever replaced by rename, so it is complete.
        log_->warn("received signal {} again during shutdown: exiting now", sig);
        runner_.kill_all();
        log::flush();
        std::_Exit(sys::exit_code_for_signal(sig));
      }
      log_->info("received {}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      dispatch(core::ShutdownRequested{});
      return;
    case SIGHUP:
      reload("SIGHUP", true);
      return;
    case SIGUSR1:
      log_->info("{}", status_line());
      return;
    default:
      return;
  }
}

std::string App::status_line() const {
  const auto& s = state_;
  std::string line = "status: cluster=" + options_.config.cluster.name +
                     " phase=" + core::to_string(s.phase) +
                     " ready=" + (core::is_ready(s, policy_) ? "true" : "false") +
                     " ip=" + (s.control_plane_ip.empty() ? "-" : s.control_plane_ip) +
                     " kubeconfig=" + options_.config.kubeconfig.path +
                     " docker=" + (s.docker_ok ? "up" : "down") +
                     " probes_ok=" + std::to_string(s.counters.probes_ok) +
                     " probes_failed=" + std::to_string(s.counters.probes_failed) +
                     " creations=" + std::to_string(s.counters.creations_ok) +
                     " children=" + std::to_string(runner_.running()) +
                     " orphans_reaped=" + std::to_string(reaper_.orphans_reaped());
  if (!s.last_error.empty()) line += " last_error=\"" + s.last_error + "\"";
  return line;
}

void App::reload(const char* source, bool forced) {
  if (shutting_down_) return;
  const auto& path = options_.config_path;
  auto report = [&](bool ok) {
    metrics_.reloaded(ok, std::chrono::system_clock::now());
    if (auto n = notifier_.ready("reload " + std::string(ok ? "applied" : "failed")); !n) {
      log_->warn("sd_notify: {}", n.error().message);
    }
  };
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  if (!in) {
    if (auto n = notifier_.reloading(); !n) log_->warn("sd_notify: {}", n.error().message);
    log_->error("config reload ({}): {}: cannot read; keeping the running config", source, path);
    return report(false);
  }
  const std::string text = buf.str();
  const auto hash = config::content_hash(text);
  if (!forced && hash == config_hash_) {
    // Not a reload at all (a ConfigMap sync of the same bytes, a touched file): no metric,
    // no RELOADING=1.
    log_->debug("config reload ({}): content unchanged, nothing to do", source);
    return;
  }
  if (auto n = notifier_.reloading(); !n) log_->warn("sd_notify: {}", n.error().message);
  // The hash of what was read last, whatever the outcome: putting the running content back
  // after a broken push is a change, and reports success again.
  config_hash_ = hash;
  auto loaded = config::parse(text, path, env_value("DOCKER_HOST"));
  if (!loaded.config) {
    for (const auto& d : loaded.diagnostics) {
      log_->error("config reload ({}) failed, keeping the running config: {}", source,
                  d.to_string());
    }
    return report(false);
  }
  const auto& old = options_.config;
  auto next = *loaded.config;
  const auto plan = config::diff(old, next);
  if (!plan.any_change) {
    log_->info("config reload ({}): no change", source);
    metrics_.set_restart_pending(false);
    report(true);
    // Still a reload: after fixing what made the cluster crash-loop, `kill -HUP` with the same
    // file is how an operator lifts the crash-loop guard (docs/configuration.md,
    // remediation.max_recreates: "until the window rolls over or the config is reloaded").
    dispatch(core::ConfigReloaded{});
    return;
  }

  // Keys that cannot change under a running supervisor keep their running values; say which.
  // cluster.* names the cluster we supervise: a config edit never deletes a cluster; a restart
  // of k8sinpodd creates the new one (docs/configuration.md).
  const auto& held = plan.restart_required;
  if (!held.empty()) {
    log_->warn("config reload ({}): {} changed; these apply after a restart of k8sinpodd", source,
               join(held));
    next.cluster.name = old.cluster.name;
    next.cluster.image = old.cluster.image;
    next.cluster.kind_config = old.cluster.kind_config;
    next.docker = old.docker;
    next.tools = old.tools;
    next.kubeconfig.path = old.kubeconfig.path;
    next.log.file = old.log.file;
    next.log.max_size = old.log.max_size;
    next.log.max_files = old.log.max_files;
  }
  metrics_.set_restart_pending(!held.empty());

  bool ok = true;
  if (plan.rebind_listener) {
    if (auto r = front_.listen(next.server); !r) {
      log_->error("config reload ({}): {}; still listening on {}", source, r.error().message,
                  old.server.listen);
      next.server = old.server;
      ok = false;
    } else {
      log_->info("config reload ({}): listening on {}:{}", source, next.server.host, front_.port());
    }
  }
  log::set_level(to_spdlog(next.log.level));
  log::set_format(log_format(next.log.format));
  options_.config = next;
  policy_ = policy_from(next, policy_.seed);
  publish_snapshot();
  log_->info("config reload ({}): applied {}", source,
             plan.live.empty() ? std::string("no live keys") : join(plan.live));
  report(ok);
  dispatch(core::ConfigReloaded{});
}

}  // namespace k8sinpod::app
