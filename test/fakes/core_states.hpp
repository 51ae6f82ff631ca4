#pragma once
/// Ready supervisor states for tests of the modules that read core::State (router, metrics,
/// fuzz harnesses): one definition of "ready", so that a new readiness condition in core is
/// added in one place.

#include <string>

#include "core/state.hpp"

namespace k8sinpod::fakes {

/// Every readiness check passes: the control plane runs at `ip`, the kubeconfig was written for
/// it, and a probe succeeded there at `probed_at`.
inline core::State ready_state(core::TimePoint probed_at, const std::string& ip = "172.18.0.2") {
  core::State s;
  s.phase = core::Phase::ready;
  s.docker_ok = true;
  s.control_plane_running = true;
  s.control_plane_ip = ip;
  s.kubeconfig_ip = ip;
  s.kubeconfig_ok = true;
  s.last_probe_success = probed_at;
  s.last_probe_success_ip = ip;
  return s;
}

}  // namespace k8sinpod::fakes
