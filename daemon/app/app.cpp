#include "app/app.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/spawn.hpp"
#include "config/reload.hpp"
#include "http/router.hpp"
#include "kubeconfig/atomic_write.hpp"
#include "kubeconfig/kubeconfig.hpp"
#include "log/log.hpp"
#include "sys/watchdog.hpp"

namespace k8sinpod::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr auto kKindQuickTimeout = std::chrono::milliseconds(60s);  // get/delete, not create
constexpr auto kKindDeleteTimeout = std::chrono::milliseconds(180s);
constexpr auto kDockerTimeout = std::chrono::milliseconds(5s);
constexpr std::uint16_t kApiServerPort = 6443;
constexpr auto kShutdownDeadline = 10s;

std::string event_name(const core::Event& e) {
  return std::visit(
      [](const auto& ev) -> std::string {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, core::Started>) return "started";
        if constexpr (std::is_same_v<T, core::ClustersListed>) return "clusters listed";
        if constexpr (std::is_same_v<T, core::ControlPlaneInspected>)
          return "control plane inspected";
        if constexpr (std::is_same_v<T, core::ClusterCreated>) return "cluster created";
        if constexpr (std::is_same_v<T, core::ClusterDeleted>) return "cluster deleted";
        if constexpr (std::is_same_v<T, core::KubeconfigWritten>) return "kubeconfig written";
        if constexpr (std::is_same_v<T, core::ProbeFinished>) return "probe finished";
        if constexpr (std::is_same_v<T, core::ListenerChecked>) return "listener checked";
        if constexpr (std::is_same_v<T, core::TimerFired>) return "timer fired";
        if constexpr (std::is_same_v<T, core::ShutdownRequested>) return "shutdown requested";
        if constexpr (std::is_same_v<T, core::KubeconfigChecked>) return "kubeconfig checked";
        if constexpr (std::is_same_v<T, core::DockerEventSeen>) return "docker event";
        if constexpr (std::is_same_v<T, core::DockerStreamConnected>) return "docker stream up";
        if constexpr (std::is_same_v<T, core::ConfigReloaded>) return "config reloaded";
        return "event";
      },
      e);
}
}  // namespace

std::optional<std::string> env_value(const char* name) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in the process calls setenv.
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::string kind_kubeconfig_path(const std::string& kubeconfig_path) {
  const auto dir = std::filesystem::path(kubeconfig_path).parent_path();
  return (dir / ".kind-kubeconfig").string();
}

core::Policy policy_from(const config::Config& c, std::uint64_t seed) {
  core::Policy p;
  p.probe_interval = c.health.interval;
  p.failure_threshold = c.health.failure_threshold;
  const auto& r = c.remediation;
  p.recreate_on_ip_change = r.on_ip_change == config::RemediationConfig::OnIpChange::recreate;
  p.recreate_after = r.recreate_after;
  p.restart_grace = r.restart_grace;
  p.backoff_initial = r.backoff_initial;
  p.backoff_max = r.backoff_max;
  p.backoff_reset = r.backoff_reset;
  p.max_recreates = r.max_recreates;
  p.window = r.window;
  p.seed = seed;
  return p;
}

App::App(asio::io_context& io, Options options)
    : io_(io),
      options_(std::move(options)),
      policy_(policy_from(
          options_.config,
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()))),
      log_(log::get("k8sinpodd")),
      reaper_(io.get_executor()),
      runner_(io.get_executor(), reaper_),
      prober_(io.get_executor()),
      metrics_(options_.version, options_.revision, options_.openssl),
      notifier_(sys::Notifier::from_env()),
      signals_(io, SIGTERM, SIGINT, SIGHUP),
      probe_timer_(io),
      retry_timer_(io),
      guard_timer_(io),
      watchdog_timer_(io),
      heartbeat_timer_(io),
      front_(
          metrics_, [this] { return reaper_.orphans_reaped(); },
          [http_log = log::get("http")](const std::string& msg) { http_log->warn("{}", msg); }) {
  signals_.add(SIGUSR1);
}

App::~App() = default;

std::uint16_t App::http_port() const { return front_.port(); }

Result<void> App::start() {
  const auto& cfg = options_.config;
  auto kind_path = process::find_executable(cfg.tools.kind, options_.path_env);
  if (!kind_path) return fail("tools.kind: " + kind_path.error().message);
  auto endpoint = docker::parse_host(cfg.docker.host);
  if (!endpoint) return fail("docker.host: " + endpoint.error().message);

  std::vector<std::string> overrides{"DOCKER_HOST=" + cfg.docker.host};
  if (cfg.docker.network != "kind") {
    // kind's own switch for the network name; keeps kind and us on the same network.
    overrides.push_back("KIND_EXPERIMENTAL_DOCKER_NETWORK=" + cfg.docker.network);
  }
  kind::Settings ks;
  ks.kind_path = *kind_path;
  ks.cluster = cfg.cluster.name;
  ks.kind_config = cfg.cluster.kind_config;
  ks.image = cfg.cluster.image;
  ks.kubeconfig = kind_kubeconfig_path(cfg.kubeconfig.path);
  auto kind_log = log::get("kind");
  kind_.emplace(runner_, ks, process::child_environment(overrides),
                [kind_log](std::string_view line) { kind_log->info("{}", line); });
  docker_.emplace(io_.get_executor(), *endpoint, kDockerTimeout);

  // Docker events first, polling as the safety net: any event about our nodes or their network
  // triggers a re-check at once; a reconnected stream re-checks everything.
  auto docker_log = log::get("docker");
  docker::EventStream::Callbacks callbacks;
  callbacks.on_event = [this](const docker::Event& e) {
    const auto relevance = docker::classify(e, options_.config.cluster.name,
                                            options_.config.docker.network, known_container_ids_);
    if (relevance == docker::Relevance::none) return;
    metrics_.count_docker_event(e.type, e.base_action);
    dispatch(core::DockerEventSeen{e.type + " " + e.base_action});
  };
  callbacks.on_connection = [this, docker_log](bool connected, const std::string& error) {
    if (!connected) {
      docker_log->warn("event stream down: {}; reconnecting, polling meanwhile", error);
      return;
    }
    docker_log->info("event stream connected");
    dispatch(core::DockerStreamConnected{});
  };
  callbacks.on_error = [docker_log](const std::string& error) { docker_log->warn("{}", error); };
  docker::Backoff stream_backoff;
  stream_backoff.seed = static_cast<std::uint32_t>(policy_.seed);
  events_.emplace(io_.get_executor(), *endpoint, std::move(callbacks), stream_backoff);
  events_->start();

  publish_snapshot();
  if (auto r = front_.listen(cfg.server); !r) return r;
  {
    std::ifstream in(options_.config_path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    config_hash_ = config::content_hash(text.str());
  }

  reaper_.start();
  arm_signals();
  // Live reload: the config file's directory is watched (ConfigMap-safe); a failure to watch is
  // not fatal: SIGHUP still reloads.
  watcher_.emplace(io_.get_executor(), options_.config_path, std::chrono::milliseconds(300),
                   [this] { reload("file change", false); });
  if (auto w = watcher_->start(); !w) {
    log_->warn("config: not watching {} ({}); reload with SIGHUP", options_.config_path,
               w.error().message);
  }
  log_->info("k8sinpodd {} ({}) supervising cluster \"{}\"; kind {}; docker {}; listening on {}",
             options_.version, options_.revision, cfg.cluster.name, ks.kind_path, cfg.docker.host,
             cfg.server.host + ":" + std::to_string(front_.port()));
  metrics_.publish(state_, policy_);
  // READY=1 once serving (docs/deployment.md: cluster creation can outlast any start timeout;
  // the cluster's readiness is /readyz and STATUS=).
  if (auto n = notifier_.ready("serving; cluster \"" + cfg.cluster.name + "\" starting"); !n) {
    log_->warn("sd_notify: {}", n.error().message);
  }
  if (auto wd = sys::watchdog_interval_from_env()) {
    log_->info("systemd watchdog: pinging every {} ms", wd->count() / 1000);
    arm_watchdog(*wd);
  }
  arm_heartbeat();
  asio::post(io_, [this] { dispatch(core::Started{}); });
  return {};
}

void App::arm_watchdog(std::chrono::microseconds interval) {
  // Pinged from the loop itself: a wedged loop stops the pings and systemd restarts us.
  watchdog_timer_.expires_after(interval);
  watchdog_timer_.async_wait([this, interval](const boost::system::error_code& ec) {
    if (ec || shutting_down_) return;
    if (auto n = notifier_.watchdog(); !n) log_->warn("sd_notify: {}", n.error().message);
    arm_watchdog(interval);
  });
}

void App::arm_heartbeat() {
  front_.beat(std::chrono::steady_clock::now());
  heartbeat_timer_.expires_after(1s);
  heartbeat_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !shutting_down_) arm_heartbeat();
  });
}

void App::publish_snapshot() {
  front_.publish({state_, policy_, options_.config.cluster.name, options_.config.kubeconfig.path,
                  options_.version});
}

void App::dispatch(const core::Event& event) {
  const core::State before = state_;
  auto t = core::step(state_, event, core::Clock::now(), policy_);
  state_ = std::move(t.next);
  log_transition(before, event);
  metrics_.publish(state_, policy_);
  publish_snapshot();
  if (before.phase != state_.phase) {
    std::string status = std::string("phase ") + core::to_string(state_.phase);
    if (!state_.last_error.empty()) status += ": " + state_.last_error;
    if (auto n = notifier_.status(status); !n) log_->warn("sd_notify: {}", n.error().message);
  }
  for (const auto& c : t.commands) execute(c);
}

void App::log_transition(const core::State& before, const core::Event& event) {
  if (const auto* p = std::get_if<core::ProbeFinished>(&event)) {
    if (!p->ok) {
      log_->warn("probe {} failed ({} consecutive) after {} ms: {}", p->ip,
                 state_.consecutive_probe_failures, p->took.count(), p->error);
    } else if (before.consecutive_probe_failures > 0) {
      log_->info("probe {} ok again after {} failures", p->ip, before.consecutive_probe_failures);
    }
  }
  if (const auto* i = std::get_if<core::ControlPlaneInspected>(&event)) {
    if (!i->ok && before.docker_ok) log_->warn("{}", i->error);
    if (i->ok && !before.docker_ok) log_->info("docker: reachable again");
  }
  const auto& was = before.counters;
  const auto& now = state_.counters;
  if (now.control_plane_ip_changes > was.control_plane_ip_changes) {
    log_->warn("control-plane address changed: {} -> {}", before.kubeconfig_ip,
               state_.control_plane_ip);
  }
  for (std::size_t i = 0; i < std::size(core::kAllRepairReasons); ++i) {
    if (now.kubeconfig_repairs[i] > was.kubeconfig_repairs[i]) {
      log_->warn("restoring the kubeconfig: {}", state_.repair_what);
    }
  }
  for (std::size_t i = 0; i < std::size(core::kAllRecreateReasons); ++i) {
    if (now.recreations[i] > was.recreations[i]) {
      log_->error("recreating cluster \"{}\": {}", options_.config.cluster.name, state_.last_error);
    }
  }
  if (const auto* c = std::get_if<core::ClusterCreated>(&event); c && c->ok && before.recreating) {
    log_->info("cluster \"{}\" recreated ({}): kind create took {} ms",
               options_.config.cluster.name, core::to_string(*before.recreating), c->took.count());
  }
  if (before.repair_started && !state_.repair_started && state_.phase == core::Phase::ready) {
    log_->info("repaired ({}) in {} ms", state_.repair_what, state_.last_repair_duration.count());
  }
  if (const auto* d = std::get_if<core::DockerEventSeen>(&event)) {
    log_->debug("docker event: {}", d->what);
  }
  if (before.phase != state_.phase) {
    std::string why;
    if (state_.phase == core::Phase::backoff || state_.phase == core::Phase::unready ||
        state_.phase == core::Phase::guarded) {
      why = ": " + state_.last_error;
    }
    if (state_.phase == core::Phase::backoff) {
      log_->error("phase {} -> {} on {}{}; retrying in {} ms", core::to_string(before.phase),
                  core::to_string(state_.phase), event_name(event), why,
                  state_.current_backoff.count());
    } else if (state_.phase == core::Phase::guarded) {
      log_->error("phase {} -> {} on {}{}", core::to_string(before.phase),
                  core::to_string(state_.phase), event_name(event), why);
    } else {
      log_->info("phase {} -> {} on {}{}", core::to_string(before.phase),
                 core::to_string(state_.phase), event_name(event), why);
    }
  }
}

void App::arm_timer(core::TimerId id, core::Duration after) {
  auto& timer = id == core::TimerId::probe   ? probe_timer_
                : id == core::TimerId::retry ? retry_timer_
                                             : guard_timer_;
  timer.expires_after(after);
  timer.async_wait([this, id](const boost::system::error_code& ec) {
    if (!ec) dispatch(core::TimerFired{id});
  });
}

void App::execute(const core::Command& command) {
  const auto& cfg = options_.config;
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, core::ListClusters>) {
          asio::co_spawn(
              io_,
              [this]() -> asio::awaitable<void> {
                // Docker first: kind's own error for a dead engine is far less clear.
                if (auto ping = co_await docker_->ping(); !ping) {
                  core::ClustersListed down;
                  down.error = ping.error().message;
                  down.docker_reachable = false;
                  co_return dispatch(down);
                }
                auto r = co_await kind_->cluster_exists(kKindQuickTimeout);
                core::ClustersListed e;
                e.ok = r.has_value();
                e.exists = r && *r;
                if (!r) e.error = r.error().message;
                dispatch(e);
              },
              ReportEscaped{"list clusters"});
        } else if constexpr (std::is_same_v<T, core::InspectControlPlane>) {
          asio::co_spawn(
              io_,
              [this]() -> asio::awaitable<void> {
                const auto& c2 = options_.config;
                // GCC 12: no temporaries with destructors in a co_await statement.
                auto op = docker_->control_plane(c2.cluster.name, c2.docker.network);
                auto r = co_await std::move(op);
                core::ControlPlaneInspected e;
                e.ok = r.has_value();
                if (r) {
                  known_container_ids_.clear();
                  if (!r->id.empty()) known_container_ids_.insert(r->id);
                  e.found = r->found;
                  e.running = r->running;
                  e.ip = r->ip;
                  e.started_at = r->started_at;
                  e.error = r->detail;  // why a running control plane has no address
                } else {
                  e.error = r.error().message;
                }
                dispatch(e);
              },
              ReportEscaped{"inspect control plane"});
        } else if constexpr (std::is_same_v<T, core::CreateCluster>) {
          kind_kubeconfig_.clear();  // a new cluster has a new CA and client certificate
          log_->info("creating cluster \"{}\" (timeout {} s)", cfg.cluster.name,
                     cfg.cluster.create_timeout.count() / 1000);
          asio::co_spawn(
              io_,
              [this]() -> asio::awaitable<void> {
                auto r = co_await kind_->create(options_.config.cluster.create_timeout);
                if (r.ok) {
                  metrics_.observe_create(r.took);
                  log_->info("cluster \"{}\" created in {} ms", options_.config.cluster.name,
                             r.took.count());
                } else {
                  log_->error("{}", r.error);
                }
                dispatch(core::ClusterCreated{r.ok, r.already_exists, r.error, r.took});
              },
              ReportEscaped{"create cluster"});
        } else if constexpr (std::is_same_v<T, core::DeleteCluster>) {
          kind_kubeconfig_.clear();
          log_->warn("deleting cluster \"{}\" (leftover nodes)", cfg.cluster.name);
          asio::co_spawn(
              io_,
              [this]() -> asio::awaitable<void> {
                auto r = co_await kind_->remove(kKindDeleteTimeout);
                if (!r) log_->error("{}", r.error().message);
                dispatch(core::ClusterDeleted{r.has_value(), r ? "" : r.error().message});
              },
              ReportEscaped{"delete cluster"});
        } else if constexpr (std::is_same_v<T, core::WriteKubeconfig>) {
          asio::co_spawn(io_, write_kubeconfig(c.ip), ReportEscaped{"write kubeconfig"});
        } else if constexpr (std::is_same_v<T, core::Probe>) {
          asio::co_spawn(
              io_,
              [this, ip = c.ip]() -> asio::awaitable<void> {
                auto op = prober_.readyz(ip, kApiServerPort, options_.config.health.timeout);
                auto o = co_await std::move(op);
                metrics_.observe_probe(o.took);
                metrics_.set_probe_connections(prober_.connections_opened());
                log_->debug("probe {}: {} in {} ms", ip, o.ok ? "ok" : o.error, o.took.count());
                dispatch(core::ProbeFinished{o.ok, ip, o.error, o.took, o.refused});
              },
              ReportEscaped{"probe"});
        } else if constexpr (std::is_same_v<T, core::CheckListener>) {
          asio::co_spawn(
              io_,
              [this, ip = c.ip]() -> asio::awaitable<void> {
                auto op = prober_.refuses(ip, kApiServerPort, options_.config.health.timeout);
                const bool refused = co_await std::move(op);
                log_->debug("listener {}:{}: {}", ip, kApiServerPort,
                            refused ? "refused" : "not refused");
                dispatch(core::ListenerChecked{ip, refused});
              },
              ReportEscaped{"check listener"});
        } else if constexpr (std::is_same_v<T, core::CheckKubeconfig>) {
          // Small local files: read synchronously, then report as an event like any result.
          asio::post(io_, [this] { dispatch(check_kubeconfig()); });
        } else if constexpr (std::is_same_v<T, core::ArmTimer>) {
          arm_timer(c.id, c.after);
        } else if constexpr (std::is_same_v<T, core::Exit>) {
          begin_shutdown(c.code);
        }
      },
      command);
}

asio::awaitable<void> App::write_kubeconfig(std::string ip) {
  const auto& cfg = options_.config;
  const std::string entry = "kind-" + cfg.cluster.name;
  auto done = [&](bool ok, std::string error) {
    if (!ok) log_->error("{}", error);
    dispatch(core::KubeconfigWritten{ok, ip, std::move(error)});
  };
  if (kind_kubeconfig_.empty()) {
    auto r = co_await kind_->kubeconfig(kKindQuickTimeout);
    if (!r) co_return done(false, r.error().message);
    kind_kubeconfig_ = std::move(*r);
  }
  const std::string server = "https://" + ip + ":" + std::to_string(kApiServerPort);
  auto patched = kubeconfig::set_server(kind_kubeconfig_, entry, server);
  if (!patched) {
    kind_kubeconfig_.clear();
    co_return done(false, "kubeconfig from kind: " + patched.error().message);
  }
  auto creds = kubeconfig::read_credentials(*patched, entry);
  if (!creds) {
    kind_kubeconfig_.clear();
    co_return done(false, "kubeconfig from kind: " + creds.error().message);
  }
  if (auto r =
          prober_.set_credentials(creds->ca_pem, creds->client_cert_pem, creds->client_key_pem);
      !r) {
    kind_kubeconfig_.clear();
    co_return done(false, r.error().message);
  }
  std::vector<std::string> targets{cfg.kubeconfig.path};
  targets.insert(targets.end(), cfg.kubeconfig.copies.begin(), cfg.kubeconfig.copies.end());
  for (const auto& path : targets) {
    if (auto w = kubeconfig::write_atomic(path, *patched, 0600); !w) {
      written_kubeconfig_.clear();
      co_return done(false, w.error().message);
    }
  }
  written_kubeconfig_ = *patched;
  log_->info("kubeconfig {} written: server {}{}", cfg.kubeconfig.path, server,
             cfg.kubeconfig.copies.empty()
                 ? std::string()
                 : " (+" + std::to_string(cfg.kubeconfig.copies.size()) + " copies)");
  done(true, "");
}

core::KubeconfigChecked App::check_kubeconfig() const {
  const auto& cfg = options_.config;
  std::vector<std::string> targets{cfg.kubeconfig.path};
  targets.insert(targets.end(), cfg.kubeconfig.copies.begin(), cfg.kubeconfig.copies.end());
  core::KubeconfigChecked result;
  result.ok = true;
  for (const auto& path : targets) {
    auto found = kubeconfig::read_file(path);
    if (!found) {
      result = {false, core::RepairReason::missing, found.error().message};
      break;
    }
    if (found->content != written_kubeconfig_) {
      auto server = kubeconfig::server_of(found->content, "kind-" + cfg.cluster.name);
      result = {false, core::RepairReason::modified,
                path + ": " + (server ? "server is " + *server : "content differs")};
      break;
    }
    if (found->mode != 0600) {
      result = {false, core::RepairReason::modified, path + ": mode is not 0600"};
      break;
    }
  }
  return result;
}

void App::begin_shutdown(int code) {
  if (shutting_down_) return;
  shutting_down_ = true;
  exit_code_ = code;
  if (auto n = notifier_.stopping(); !n) log_->warn("sd_notify: {}", n.error().message);
  probe_timer_.cancel();
  retry_timer_.cancel();
  guard_timer_.cancel();
  watchdog_timer_.cancel();
  heartbeat_timer_.cancel();
  if (watcher_) watcher_->stop();
  if (events_) events_->stop();
  front_.stop();
  if (runner_.running() > 0) {
    log_->info("stopping {} child process(es)", runner_.running());
    runner_.terminate_all();
  }
  asio::co_spawn(io_, finish_shutdown(), ReportEscaped{"shutdown"});
}

asio::awaitable<void> App::finish_shutdown() {
  // Children were sent SIGTERM; their exit statuses arrive through the reaper. Wait for them
  // within a deadline, then SIGKILL what is left, so that no orphan outlives us.
  const auto deadline = std::chrono::steady_clock::now() + kShutdownDeadline;
  asio::steady_timer tick(io_);
  while (runner_.running() > 0 && std::chrono::steady_clock::now() < deadline) {
    tick.expires_after(50ms);
    co_await tick.async_wait(asio::use_awaitable);
  }
  if (runner_.running() > 0) {
    log_->warn("{} child process(es) still running at the shutdown deadline: SIGKILL",
               runner_.running());
    runner_.kill_all();
  }
  if (options_.config.cluster.delete_on_shutdown) {
    log_->info("cluster.delete_on_shutdown: deleting cluster \"{}\"", options_.config.cluster.name);
    auto r = co_await kind_->remove(kShutdownDeadline);
    if (!r) log_->error("{}", r.error().message);
  }
  signals_.cancel();
  log_->info("stopped");
  log::flush();
  io_.stop();
}

}  // namespace k8sinpod::app
