#include "core/state.hpp"

#include <algorithm>
#include <type_traits>

namespace k8sinpod::core {

const char* to_string(Phase p) {
  switch (p) {
    case Phase::starting:
      return "starting";
    case Phase::discovering:
      return "discovering";
    case Phase::deleting:
      return "deleting";
    case Phase::creating:
      return "creating";
    case Phase::configuring:
      return "configuring";
    case Phase::ready:
      return "ready";
    case Phase::unready:
      return "unready";
    case Phase::backoff:
      return "backoff";
    case Phase::guarded:
      return "guarded";
    case Phase::stopping:
      return "stopping";
  }
  return "unknown";
}

const char* to_string(RecreateReason r) {
  switch (r) {
    case RecreateReason::ip_change:
      return "ip_change";
    case RecreateReason::unhealthy:
      return "unhealthy";
    case RecreateReason::control_plane_gone:
      return "control_plane_gone";
  }
  return "unknown";
}

const char* to_string(RepairReason r) {
  switch (r) {
    case RepairReason::missing:
      return "missing";
    case RepairReason::modified:
      return "modified";
  }
  return "unknown";
}

namespace {

// splitmix64: a well-mixed 64-bit value from (seed, attempt), so that jitter is reproducible.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31U);
}

bool supervising(Phase p) {
  return p == Phase::configuring || p == Phase::ready || p == Phase::unready;
}

class Stepper {
 public:
  Stepper(const State& s, TimePoint now, const Policy& policy)
      : s_(s), now_(now), policy_(policy) {}

  Transition finish() { return {std::move(s_), std::move(out_)}; }

  void on(const Started&) {
    if (s_.phase != Phase::starting) return;
    s_.phase = Phase::discovering;
    emit(ListClusters{});
  }

  void on(const ShutdownRequested&) {
    s_.phase = Phase::stopping;
    emit(Exit{0});
  }

  void on(const ClustersListed& e) {
    if (s_.phase != Phase::discovering) return;
    s_.docker_ok = e.docker_reachable;
    if (!e.ok) return back_off(e.error);
    if (e.exists) return emit(InspectControlPlane{});
    create_cluster();
  }

  void on(const ControlPlaneInspected& e) {
    if (!e.ok) {
      s_.docker_ok = false;
      s_.last_error = e.error;
      if (s_.phase == Phase::discovering || s_.phase == Phase::configuring) {
        s_.cycle_active = false;
        return back_off(e.error);
      }
      if (supervising(s_.phase)) {
        settle();
        end_cycle();
      }
      return;
    }
    s_.docker_ok = true;
    s_.control_plane_running = e.found && e.running && !e.ip.empty();
    // Never keep an address Docker no longer reports: a stale private IP must not be dialled.
    s_.control_plane_ip = s_.control_plane_running ? e.ip : std::string();
    // Restarted since the last look (seen stopped meanwhile or not: dockerd may have restarted
    // it unseen): its API server restarted too, so a success from before does not count.
    if (!e.started_at.empty()) {
      if (!s_.control_plane_started_at.empty() && e.started_at != s_.control_plane_started_at) {
        s_.last_probe_success_ip.clear();
      }
      s_.control_plane_started_at = e.started_at;
    }

    switch (s_.phase) {
      case Phase::discovering:
        if (s_.control_plane_running) {
          s_.last_probe_success_ip.clear();  // nobody watched it meanwhile
          s_.adopted = true;
          s_.phase = Phase::configuring;
          s_.cycle_active = true;
          return emit(WriteKubeconfig{e.ip});
        }
        if (e.found && e.running) return back_off(no_address(e));
        // kind lists the cluster but its control plane is gone or stopped: start clean.
        s_.phase = Phase::deleting;
        return emit(DeleteCluster{});
      case Phase::configuring:
      case Phase::ready:
      case Phase::unready:
        return supervise(e);
      case Phase::starting:
      case Phase::deleting:
      case Phase::creating:
      case Phase::backoff:
      case Phase::guarded:
      case Phase::stopping:
        return;
    }
  }

  void on(const ClusterCreated& e) {
    if (s_.phase != Phase::creating) return;
    if (e.ok) {
      ++s_.counters.creations_ok;
      s_.deleted_for_create = false;
      s_.needs_cleanup = false;
      s_.adopted = false;
      s_.recreating.reset();
      reset_supervision();
      s_.phase = Phase::configuring;
      s_.cycle_active = true;
      return emit(InspectControlPlane{});
    }
    ++s_.counters.creations_failed;
    if (e.already_exists && !s_.deleted_for_create) {
      // Leftover nodes (a stopped cluster, a failed kubeconfig export): delete, then create.
      s_.deleted_for_create = true;
      s_.phase = Phase::deleting;
      return emit(DeleteCluster{});
    }
    s_.deleted_for_create = false;
    // kind may leave nodes behind (a failed kubeconfig export, a create killed at its
    // deadline): the next attempt deletes first.
    s_.needs_cleanup = true;
    back_off(e.error);
  }

  void on(const ClusterDeleted& e) {
    if (s_.phase != Phase::deleting) return;
    if (!e.ok) return back_off(e.error);
    s_.needs_cleanup = false;
    create_cluster();
  }

  void on(const KubeconfigWritten& e) {
    if (!supervising(s_.phase)) return;
    if (!e.ok) {
      s_.kubeconfig_ok = false;
      ++s_.counters.kubeconfig_write_failures;
      s_.last_error = e.error;
      settle();
      return end_cycle();
    }
    ++s_.counters.kubeconfig_writes;
    s_.kubeconfig_ok = true;
    s_.kubeconfig_ip = e.ip;
    if (s_.phase != Phase::configuring) settle();
    emit(Probe{e.ip});
  }

  void on(const KubeconfigChecked& e) {
    if (!supervising(s_.phase) || !s_.cycle_active) return;
    if (e.ok) return emit(Probe{s_.kubeconfig_ip});
    // Deleted, truncated or edited (kind export kubeconfig puts 127.0.0.1 back): restore it.
    ++s_.counters.kubeconfig_repairs[static_cast<std::size_t>(e.problem)];
    start_repair(std::string("kubeconfig ") + to_string(e.problem) + ": " + e.detail);
    emit(WriteKubeconfig{s_.kubeconfig_ip});
  }

  void on(const ProbeFinished& e) {
    if (!supervising(s_.phase)) return;
    s_.last_probe = ProbeRecord{e.ok, now_, e.took, e.ok ? std::string() : e.error};
    if (e.ok) {
      ++s_.counters.probes_ok;
      s_.consecutive_probe_failures = 0;
      s_.unhealthy_since.reset();
      s_.last_probe_success = now_;
      s_.last_probe_success_ip = e.ip;
    } else {
      ++s_.counters.probes_failed;
      ++s_.consecutive_probe_failures;
      // Unhealthy from the moment failure_threshold is reached; recreate_after counts from here.
      if (s_.consecutive_probe_failures >= policy_.failure_threshold && !s_.unhealthy_since) {
        s_.unhealthy_since = now_;
      }
      s_.last_error = "apiserver: " + e.error;
    }
    settle();
    if (e.ok && s_.phase == Phase::ready && s_.repair_started) {
      // Repaired: from the moment the damage was seen to a passing probe on the new state.
      s_.last_repair_duration = std::chrono::duration_cast<Duration>(now_ - *s_.repair_started);
      s_.repair_started.reset();
    }
    if (!e.ok && s_.consecutive_probe_failures >= policy_.failure_threshold &&
        now_ - *s_.unhealthy_since >= policy_.recreate_after) {
      s_.cycle_active = false;
      return recreate(RecreateReason::unhealthy);
    }
    end_cycle(!e.ok && e.refused && e.ip == s_.kubeconfig_ip);
  }

  void on(const ListenerChecked& e) {
    if (!supervising(s_.phase) || !s_.cycle_active || !s_.listener_checking) return;
    s_.listener_checking = false;
    if (s_.recheck_pending) return end_cycle();  // an event came: a whole cycle next
    if (e.refused && e.ip == s_.kubeconfig_ip) return end_cycle(true);
    // Something accepts (or the connect failed otherwise): the probe tells which.
    emit(Probe{s_.kubeconfig_ip});
  }

  void on(const TimerFired& e) {
    switch (e.id) {
      case TimerId::retry:
        if (s_.phase != Phase::backoff) return;
        if (s_.needs_cleanup) {
          s_.phase = Phase::deleting;
          return emit(DeleteCluster{});
        }
        s_.phase = Phase::discovering;
        return emit(ListClusters{});
      case TimerId::probe:
        if (!supervising(s_.phase)) return;
        if (s_.listen_wait && !s_.cycle_active) {
          // The address was inspected and the kubeconfig checked a moment ago; any Docker event
          // since would have started a whole cycle and cleared listen_wait.
          s_.listen_wait = false;
          s_.cycle_active = true;
          s_.listener_checking = true;
          return emit(CheckListener{s_.kubeconfig_ip});
        }
        start_cycle();
        return;
      case TimerId::guard:
        if (s_.phase != Phase::guarded) return;
        prune_creations();
        s_.guard_reason.clear();
        s_.phase = Phase::discovering;
        return emit(ListClusters{});
    }
  }

  void on(const DockerEventSeen&) {
    ++s_.counters.docker_events;
    if (!supervising(s_.phase)) return;
    expect_change();
    start_cycle();
  }

  void on(const DockerStreamConnected&) {
    if (!supervising(s_.phase)) return;
    expect_change();
    start_cycle();
  }

  void on(const ConfigReloaded&) {
    if (s_.phase == Phase::guarded) {
      // A reload is the operator's answer to the guard: start over with a clean slate.
      s_.creations.clear();
      s_.guard_reason.clear();
      s_.phase = Phase::discovering;
      return emit(ListClusters{});
    }
    // The interval may have changed: re-arm the idle timer (a running cycle re-arms at its end).
    if (supervising(s_.phase) && !s_.cycle_active) {
      s_.listen_wait = false;
      emit(ArmTimer{TimerId::probe, policy_.probe_interval});
    }
  }

 private:
  void emit(Command c) { out_.push_back(std::move(c)); }

  // One check cycle at a time: inspect -> [write] -> verify -> probe -> end_cycle.
  void start_cycle() {
    s_.listen_wait = false;
    if (s_.cycle_active) {
      s_.recheck_pending = true;
      return;
    }
    s_.cycle_active = true;
    emit(InspectControlPlane{});
  }

  // `refused`: the cycle ended on a connect refused at the current address.
  void end_cycle(bool refused = false) {
    s_.cycle_active = false;
    s_.listen_wait = false;
    if (s_.recheck_pending) {
      s_.recheck_pending = false;
      return start_cycle();
    }
    if (s_.phase == Phase::ready) s_.quick_recheck = Duration{0};
    if (refused && s_.quick_recheck > Duration{0} && s_.control_plane_running &&
        within_listen_window()) {
      // The node is back and its API server about to listen: watch the port closely. The
      // series does not advance meanwhile.
      s_.listen_wait = true;
      return emit(ArmTimer{TimerId::probe, policy_.listen_pace});
    }
    if (s_.quick_recheck > Duration{0} && s_.quick_recheck < policy_.probe_interval) {
      emit(ArmTimer{TimerId::probe, s_.quick_recheck});
      // Growing by half, not doubling: the look that finds the node back comes at most half the
      // time since the event after it is back (doubling: up to all of that time).
      s_.quick_recheck = std::max(s_.quick_recheck * 3 / 2, s_.quick_recheck + Duration{1});
      return;
    }
    s_.quick_recheck = Duration{0};
    emit(ArmTimer{TimerId::probe, policy_.probe_interval});
  }

  // Something changed under us: look again soon, not only at the next interval. Every event
  // starts the series over, so a burst of events (one IP change brings about nine) does not
  // push the next look out to seconds while the node is coming back.
  void expect_change() {
    s_.quick_recheck = policy_.recheck_initial;
    s_.change_seen_at = now_;
  }

  // Within listen_window of the last change. A clock that went back since ends the window: the
  // bare connects must not run for as long as the clock needs to catch up.
  bool within_listen_window() const {
    if (!s_.change_seen_at) return false;
    const auto since = now_ - *s_.change_seen_at;
    return since >= Duration{0} && since < policy_.listen_window;
  }

  void supervise(const ControlPlaneInspected& e) {
    s_.cycle_active = true;
    if (!s_.control_plane_running) {
      s_.last_error = e.found && e.running ? no_address(e) : not_running(e.found);
      if (s_.phase == Phase::configuring && !s_.kubeconfig_ok) {
        s_.cycle_active = false;
        return back_off(s_.last_error);
      }
      if (!s_.control_plane_down_since) s_.control_plane_down_since = now_;
      settle();
      // Docker's restart policy (on-failure:1) may bring it back; past the grace, recreate.
      if (now_ - *s_.control_plane_down_since >= policy_.restart_grace) {
        s_.cycle_active = false;
        return recreate(RecreateReason::control_plane_gone);
      }
      return end_cycle();
    }
    s_.control_plane_down_since.reset();
    if (!s_.kubeconfig_ip.empty() && s_.kubeconfig_ip != e.ip) {
      ++s_.counters.control_plane_ip_changes;
      if (policy_.recreate_on_ip_change) {
        s_.cycle_active = false;
        return recreate(RecreateReason::ip_change);
      }
      start_repair("control-plane address " + s_.kubeconfig_ip + " -> " + e.ip);
      return emit(WriteKubeconfig{e.ip});
    }
    if (!s_.kubeconfig_ok) return emit(WriteKubeconfig{e.ip});
    emit(CheckKubeconfig{});
  }

  void start_repair(std::string what) {
    if (!s_.repair_started) s_.repair_started = now_;
    s_.repair_what = std::move(what);
  }

  // Past failure_threshold for recreate_after, gone past restart_grace, or an IP change under
  // on_ip_change: recreate. Delete, then create (through the crash-loop guard).
  void recreate(RecreateReason why) {
    if (guard_blocks()) return enter_guard();
    ++s_.counters.recreations[static_cast<std::size_t>(why)];
    s_.recreating = why;
    s_.last_error = std::string("recreating: ") + to_string(why) +
                    (s_.last_error.empty() ? "" : " (" + s_.last_error + ")");
    s_.phase = Phase::deleting;
    emit(DeleteCluster{});
  }

  // Every create attempt counts against the crash-loop guard.
  void create_cluster() {
    if (guard_blocks()) return enter_guard();
    s_.creations.push_back(now_);
    s_.phase = Phase::creating;
    emit(CreateCluster{});
  }

  void prune_creations() {
    const auto horizon = now_ - policy_.window;
    std::erase_if(s_.creations, [&](TimePoint t) { return t <= horizon; });
  }

  bool guard_blocks() {
    prune_creations();
    return static_cast<int>(s_.creations.size()) >= policy_.max_recreates;
  }

  void enter_guard() {
    s_.guard_reason = std::to_string(s_.creations.size()) + " cluster creations within " +
                      std::to_string(policy_.window.count() / 1000) +
                      "s (remediation.max_recreates " + std::to_string(policy_.max_recreates) +
                      "); not recreating until the window rolls over or the config is reloaded";
    s_.last_error = "crash-loop guard: " + s_.guard_reason;
    s_.phase = Phase::guarded;
    drop_cycle();
    const auto until = s_.creations.front() + policy_.window - now_;
    emit(ArmTimer{TimerId::guard,
                  std::max(Duration{1}, std::chrono::duration_cast<Duration>(until))});
  }

  void reset_supervision() {
    s_.consecutive_probe_failures = 0;
    s_.unhealthy_since.reset();
    s_.control_plane_down_since.reset();
    s_.last_probe_success.reset();
    s_.last_probe_success_ip.clear();
    s_.control_plane_started_at.clear();
    s_.kubeconfig_ok = false;
    s_.kubeconfig_ip.clear();
    drop_cycle();
  }

  // No check cycle runs or is due any more (the daemon leaves supervision).
  void drop_cycle() {
    s_.cycle_active = false;
    s_.recheck_pending = false;
    s_.listen_wait = false;
    s_.listener_checking = false;
  }

  void back_off(const std::string& error) {
    drop_cycle();
    ++s_.failed_attempts;
    s_.current_backoff = backoff_delay(s_.failed_attempts, policy_);
    s_.last_error = error;
    s_.phase = Phase::backoff;
    emit(ArmTimer{TimerId::retry, s_.current_backoff});
  }

  void settle() {
    s_.phase = is_ready(s_, policy_) ? Phase::ready : Phase::unready;
    if (s_.phase != Phase::ready) {
      s_.ready_since.reset();
      return;
    }
    s_.last_error.clear();
    if (!s_.ready_since) s_.ready_since = now_;
    // kubelet-style: healthy for backoff_reset forgets earlier failures.
    if (s_.failed_attempts > 0 && now_ - *s_.ready_since >= policy_.backoff_reset) {
      s_.failed_attempts = 0;
      s_.current_backoff = Duration{0};
    }
  }

  static std::string no_address(const ControlPlaneInspected& e) {
    if (!e.error.empty()) return e.error;
    return "control-plane container has no IPv4 address on the configured network";
  }
  static std::string not_running(bool found) {
    return found ? "control-plane container is not running" : "control-plane container is gone";
  }

  State s_;
  TimePoint now_;
  const Policy& policy_;
  std::vector<Command> out_;
};

}  // namespace

Transition step(const State& state, const Event& event, TimePoint now, const Policy& policy) {
  Stepper stepper(state, now, policy);
  if (state.phase == Phase::stopping) return stepper.finish();  // late results change nothing
  std::visit([&](const auto& e) { stepper.on(e); }, event);
  return stepper.finish();
}

Duration backoff_delay(int attempt, const Policy& policy) {
  using Rep = Duration::rep;
  const Rep initial = std::max<Rep>(policy.backoff_initial.count(), 0);
  const Rep cap = std::max<Rep>(policy.backoff_max.count(), initial);
  Rep delay = initial;
  for (int i = 1; i < attempt && delay < cap; ++i) delay *= 2;
  delay = std::min(delay, cap);
  const auto bits = mix(policy.seed ^ static_cast<std::uint64_t>(attempt));
  const double r = static_cast<double>(bits >> 11U) / static_cast<double>(1ULL << 53U);
  const double jitter =
      r * std::clamp(policy.backoff_jitter, 0.0, 1.0) * static_cast<double>(delay);
  return Duration{delay + static_cast<Rep>(jitter)};
}

std::vector<Check> readiness_checks(const State& s, const Policy& policy) {
  std::vector<Check> checks;
  checks.push_back({"docker", s.docker_ok, s.docker_ok ? "" : "docker API unreachable"});

  const bool cluster_ok = supervising(s.phase) && s.control_plane_running;
  std::string cluster_reason;
  if (!cluster_ok) {
    cluster_reason = supervising(s.phase) ? "control-plane container not running"
                                          : std::string("cluster phase is ") + to_string(s.phase);
  }
  checks.push_back({"cluster", cluster_ok, cluster_reason});

  const bool kc_ok =
      s.kubeconfig_ok && !s.kubeconfig_ip.empty() && s.kubeconfig_ip == s.control_plane_ip;
  checks.push_back(
      {"kubeconfig", kc_ok,
       kc_ok ? "" : (s.kubeconfig_ok ? "not written for the current address" : "not written")});

  // A success counts only for the address Docker reports now: after an IP change the API
  // server must answer at the new address before the cluster is ready again.
  const bool current = s.last_probe_success && !s.last_probe_success_ip.empty() &&
                       s.last_probe_success_ip == s.control_plane_ip;
  const bool api_ok = current && s.consecutive_probe_failures < policy.failure_threshold;
  std::string api_reason;
  if (!s.last_probe_success) {
    api_reason = "no successful probe yet";
  } else if (s.last_probe_success_ip.empty()) {
    api_reason = "no successful probe since the control plane last restarted";
  } else if (!current) {
    api_reason = "no successful probe at the current address yet";
  } else if (!api_ok) {
    api_reason = std::to_string(s.consecutive_probe_failures) + " consecutive probe failures";
  }
  checks.push_back({"apiserver", api_ok, api_reason});
  const bool guard_ok = s.phase != Phase::guarded;
  checks.push_back({"crashloop", guard_ok, guard_ok ? "" : s.guard_reason});
  return checks;
}

bool is_ready(const State& state, const Policy& policy) {
  const auto checks = readiness_checks(state, policy);
  return std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.ok; });
}

}  // namespace k8sinpod::core
