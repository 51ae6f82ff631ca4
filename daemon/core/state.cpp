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
    case Phase::stopping:
      return "stopping";
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
    s_.phase = Phase::creating;
    emit(CreateCluster{});
  }

  void on(const ControlPlaneInspected& e) {
    if (!e.ok) {
      s_.docker_ok = false;
      s_.last_error = e.error;
      if (s_.phase == Phase::discovering || s_.phase == Phase::configuring) {
        return back_off(e.error);
      }
      if (supervising(s_.phase)) settle_and_tick();
      return;
    }
    s_.docker_ok = true;
    s_.control_plane_running = e.found && e.running && !e.ip.empty();
    // Never keep an address Docker no longer reports: a stale private IP must not be dialled.
    s_.control_plane_ip = s_.control_plane_running ? e.ip : std::string();

    switch (s_.phase) {
      case Phase::discovering:
        if (s_.control_plane_running) {
          s_.adopted = true;
          s_.phase = Phase::configuring;
          return emit(WriteKubeconfig{e.ip});
        }
        if (e.found && e.running) return back_off(no_address());
        // kind lists the cluster but its control plane is gone or stopped: start clean.
        s_.phase = Phase::deleting;
        return emit(DeleteCluster{});
      case Phase::configuring:
      case Phase::ready:
      case Phase::unready:
        if (!s_.control_plane_running) {
          s_.last_error = e.found && e.running ? no_address() : not_running(e.found);
          if (s_.phase == Phase::configuring && !s_.kubeconfig_ok) return back_off(s_.last_error);
          return settle_and_tick();
        }
        if (!s_.kubeconfig_ok || s_.kubeconfig_ip != e.ip) {
          if (!s_.kubeconfig_ip.empty() && s_.kubeconfig_ip != e.ip) {
            ++s_.counters.control_plane_ip_changes;
          }
          return emit(WriteKubeconfig{e.ip});
        }
        return emit(Probe{e.ip});
      case Phase::starting:
      case Phase::deleting:
      case Phase::creating:
      case Phase::backoff:
      case Phase::stopping:
        return;
    }
  }

  void on(const ClusterCreated& e) {
    if (s_.phase != Phase::creating) return;
    if (e.ok) {
      ++s_.counters.creations_ok;
      s_.deleted_for_create = false;
      s_.adopted = false;
      s_.phase = Phase::configuring;
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
    back_off(e.error);
  }

  void on(const ClusterDeleted& e) {
    if (s_.phase != Phase::deleting) return;
    if (!e.ok) return back_off(e.error);
    s_.phase = Phase::creating;
    emit(CreateCluster{});
  }

  void on(const KubeconfigWritten& e) {
    if (!supervising(s_.phase)) return;
    if (!e.ok) {
      s_.kubeconfig_ok = false;
      ++s_.counters.kubeconfig_write_failures;
      s_.last_error = e.error;
      return settle_and_tick();
    }
    ++s_.counters.kubeconfig_writes;
    s_.kubeconfig_ok = true;
    s_.kubeconfig_ip = e.ip;
    if (s_.phase != Phase::configuring) settle();
    emit(Probe{e.ip});
  }

  void on(const ProbeFinished& e) {
    if (!supervising(s_.phase)) return;
    s_.last_probe = ProbeRecord{e.ok, now_, e.took, e.ok ? std::string() : e.error};
    if (e.ok) {
      ++s_.counters.probes_ok;
      s_.consecutive_probe_failures = 0;
      s_.last_probe_success = now_;
      s_.failed_attempts = 0;
      s_.current_backoff = Duration{0};
    } else {
      ++s_.counters.probes_failed;
      ++s_.consecutive_probe_failures;
      s_.last_error = "apiserver: " + e.error;
    }
    settle_and_tick();
  }

  void on(const TimerFired& e) {
    if (e.id == TimerId::retry && s_.phase == Phase::backoff) {
      s_.phase = Phase::discovering;
      return emit(ListClusters{});
    }
    if (e.id == TimerId::probe && supervising(s_.phase)) emit(InspectControlPlane{});
  }

 private:
  void emit(Command c) { out_.push_back(std::move(c)); }

  void back_off(const std::string& error) {
    ++s_.failed_attempts;
    s_.current_backoff = backoff_delay(s_.failed_attempts, policy_);
    s_.last_error = error;
    s_.phase = Phase::backoff;
    emit(ArmTimer{TimerId::retry, s_.current_backoff});
  }

  void settle() {
    s_.phase = is_ready(s_, policy_) ? Phase::ready : Phase::unready;
    if (s_.phase == Phase::ready) s_.last_error.clear();
  }

  void settle_and_tick() {
    settle();
    emit(ArmTimer{TimerId::probe, policy_.probe_interval});
  }

  static std::string no_address() {
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

  const bool api_ok =
      s.last_probe_success.has_value() && s.consecutive_probe_failures < policy.failure_threshold;
  std::string api_reason;
  if (!api_ok) {
    api_reason = s.last_probe_success
                     ? std::to_string(s.consecutive_probe_failures) + " consecutive probe failures"
                     : "no successful probe yet";
  }
  checks.push_back({"apiserver", api_ok, api_reason});
  return checks;
}

bool is_ready(const State& state, const Policy& policy) {
  const auto checks = readiness_checks(state, policy);
  return std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.ok; });
}

}  // namespace k8sinpod::core
