#include "core/state.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace k8sinpod::core;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = TimePoint{} + 1000h;

Policy policy() {
  Policy p;
  p.probe_interval = 5s;
  p.failure_threshold = 3;
  p.backoff_initial = 10s;
  p.backoff_max = 300s;
  p.backoff_jitter = 0.0;  // exact delays in most tests; jitter has its own test
  return p;
}

ControlPlaneInspected running_at(std::string ip) {
  ControlPlaneInspected e;
  e.ok = true;
  e.found = true;
  e.running = true;
  e.ip = std::move(ip);
  return e;
}

// Drives a state through events, asserting nothing itself; tests check the result.
struct Driver {
  State s;
  Policy p = policy();
  std::vector<Command> last;
  Driver& feed(const Event& e, TimePoint now = kT0) {
    auto t = step(s, e, now, p);
    s = std::move(t.next);
    last = std::move(t.commands);
    return *this;
  }
};

// A state that has created a cluster, written the kubeconfig for `ip` and passed a probe.
Driver ready_at(const std::string& ip) {
  Driver d;
  d.feed(Started{}).feed(ClustersListed{true, false, ""}).feed(ClusterCreated{true, false, "", 1s});
  d.feed(running_at(ip))
      .feed(KubeconfigWritten{true, ip, ""})
      .feed(ProbeFinished{true, ip, "", 3ms});
  return d;
}

}  // namespace

TEST_CASE("start asks kind for the clusters") {
  Driver d;
  d.feed(Started{});
  CHECK(d.s.phase == Phase::discovering);
  REQUIRE(d.last.size() == 1);
  CHECK(d.last[0] == Command{ListClusters{}});
}

TEST_CASE("absent cluster is created, then inspected, written and probed") {
  Driver d;
  d.feed(Started{}).feed(ClustersListed{true, false, ""});
  CHECK(d.s.phase == Phase::creating);
  CHECK(d.last == std::vector<Command>{CreateCluster{}});

  d.feed(ClusterCreated{true, false, "", 30s});
  CHECK(d.s.phase == Phase::configuring);
  CHECK(d.s.counters.creations_ok == 1);
  CHECK_FALSE(d.s.adopted);
  CHECK(d.last == std::vector<Command>{InspectControlPlane{}});

  d.feed(running_at("172.18.0.2"));
  CHECK(d.last == std::vector<Command>{WriteKubeconfig{"172.18.0.2"}});

  d.feed(KubeconfigWritten{true, "172.18.0.2", ""});
  CHECK(d.s.phase == Phase::configuring);  // not ready before the first probe
  CHECK(d.last == std::vector<Command>{Probe{"172.18.0.2"}});

  d.feed(ProbeFinished{true, "172.18.0.2", "", 4ms});
  CHECK(d.s.phase == Phase::ready);
  CHECK(is_ready(d.s, d.p));
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
}

TEST_CASE("existing cluster with a running control plane is adopted, not created") {
  Driver d;
  d.feed(Started{}).feed(ClustersListed{true, true, ""});
  CHECK(d.last == std::vector<Command>{InspectControlPlane{}});
  d.feed(running_at("172.18.0.3"));
  CHECK(d.s.adopted);
  CHECK(d.s.phase == Phase::configuring);
  CHECK(d.last == std::vector<Command>{WriteKubeconfig{"172.18.0.3"}});
  CHECK(d.s.counters.creations_ok == 0);
}

TEST_CASE("existing cluster whose control plane is stopped is deleted, then created") {
  Driver d;
  ControlPlaneInspected stopped;
  stopped.ok = true;
  stopped.found = true;
  stopped.running = false;
  d.feed(Started{}).feed(ClustersListed{true, true, ""}).feed(stopped);
  CHECK(d.s.phase == Phase::deleting);
  CHECK(d.last == std::vector<Command>{DeleteCluster{}});
  d.feed(ClusterDeleted{true, ""});
  CHECK(d.s.phase == Phase::creating);
  CHECK(d.last == std::vector<Command>{CreateCluster{}});
}

TEST_CASE("create refused with already-exist deletes once, then backs off") {
  Driver d;
  d.feed(Started{}).feed(ClustersListed{true, false, ""});
  d.feed(ClusterCreated{false, true, "node(s) already exist", 1s});
  CHECK(d.s.phase == Phase::deleting);
  CHECK(d.last == std::vector<Command>{DeleteCluster{}});
  d.feed(ClusterDeleted{true, ""}).feed(ClusterCreated{false, true, "node(s) already exist", 1s});
  CHECK(d.s.phase == Phase::backoff);
  CHECK(d.s.counters.creations_failed == 2);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::retry, 10s}});
}

TEST_CASE("kind failures back off exponentially up to the cap and retry from discovery") {
  Driver d;
  d.feed(Started{});
  std::vector<Duration> delays;
  for (int i = 0; i < 7; ++i) {
    d.feed(ClustersListed{true, false, ""}).feed(ClusterCreated{false, false, "boom", 1s});
    REQUIRE(d.s.phase == Phase::backoff);
    CHECK(d.s.last_error == "boom");
    REQUIRE(d.last.size() == 1);
    delays.push_back(std::get<ArmTimer>(d.last[0]).after);
    d.feed(TimerFired{TimerId::retry});
    CHECK(d.s.phase == Phase::discovering);
    CHECK(d.last == std::vector<Command>{ListClusters{}});
  }
  CHECK(delays == std::vector<Duration>{10s, 20s, 40s, 80s, 160s, 300s, 300s});
  CHECK(d.s.counters.creations_failed == 7);
}

TEST_CASE("a failing kind get clusters backs off") {
  Driver d;
  d.feed(Started{}).feed(ClustersListed{false, false, "kind: exited 1: ERROR: boom"});
  CHECK(d.s.phase == Phase::backoff);
  CHECK(d.s.last_error == "kind: exited 1: ERROR: boom");
}

TEST_CASE("an unreachable Docker before listing backs off and fails the docker check") {
  Driver d;
  d.feed(Started{}).feed(ClustersListed{false, false, "docker: connect: no such file", false});
  CHECK(d.s.phase == Phase::backoff);
  CHECK_FALSE(d.s.docker_ok);
  CHECK_FALSE(readiness_checks(d.s, d.p)[0].ok);
  d.feed(TimerFired{TimerId::retry}).feed(ClustersListed{true, false, "", true});
  CHECK(d.s.docker_ok);
  CHECK(d.s.phase == Phase::creating);
}

TEST_CASE("docker failure during discovery backs off and fails the docker check") {
  Driver d;
  ControlPlaneInspected err;
  err.ok = false;
  err.error = "docker: connect: no such file";
  d.feed(Started{}).feed(ClustersListed{true, true, ""}).feed(err);
  CHECK(d.s.phase == Phase::backoff);
  CHECK_FALSE(d.s.docker_ok);
  CHECK_FALSE(readiness_checks(d.s, d.p)[0].ok);
}

TEST_CASE("probe tick re-inspects, then probes the same address") {
  auto d = ready_at("172.18.0.2");
  d.feed(TimerFired{TimerId::probe});
  CHECK(d.last == std::vector<Command>{InspectControlPlane{}});
  d.feed(running_at("172.18.0.2"));
  CHECK(d.last == std::vector<Command>{Probe{"172.18.0.2"}});
}

TEST_CASE("a changed address is written before it is probed") {
  auto d = ready_at("172.18.0.2");
  d.feed(TimerFired{TimerId::probe}).feed(running_at("172.18.0.7"));
  CHECK(d.last == std::vector<Command>{WriteKubeconfig{"172.18.0.7"}});
  CHECK(d.s.counters.control_plane_ip_changes == 1);
  CHECK(d.s.phase == Phase::ready);  // unchanged until the write lands
  CHECK_FALSE(is_ready(d.s, d.p));   // but the kubeconfig no longer matches
  d.feed(KubeconfigWritten{true, "172.18.0.7", ""});
  CHECK(d.s.kubeconfig_ip == "172.18.0.7");
  CHECK(d.last == std::vector<Command>{Probe{"172.18.0.7"}});
}

TEST_CASE("failures below the threshold keep ready; the threshold makes unready; success heals") {
  auto d = ready_at("172.18.0.2");
  for (int i = 1; i <= 2; ++i) {
    d.feed(ProbeFinished{false, "172.18.0.2", "500 [-]etcd failed", 2ms});
    CHECK(d.s.phase == Phase::ready);
    CHECK(d.s.consecutive_probe_failures == i);
  }
  d.feed(ProbeFinished{false, "172.18.0.2", "timeout", 2s});
  CHECK(d.s.phase == Phase::unready);
  CHECK(d.s.last_error == "apiserver: timeout");
  CHECK(d.s.counters.probes_failed == 3);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
  d.feed(ProbeFinished{true, "172.18.0.2", "", 2ms});
  CHECK(d.s.phase == Phase::ready);
  CHECK(d.s.last_error.empty());
}

TEST_CASE("a stopped control plane is never probed at its stale address") {
  auto d = ready_at("172.18.0.2");
  ControlPlaneInspected stopped;
  stopped.ok = true;
  stopped.found = true;
  stopped.running = false;
  d.feed(TimerFired{TimerId::probe}).feed(stopped);
  CHECK(d.s.control_plane_ip.empty());
  CHECK(d.s.phase == Phase::unready);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
  // It comes back on the same address: no rewrite, no IP change counted, just a probe.
  d.feed(TimerFired{TimerId::probe}).feed(running_at("172.18.0.2"));
  CHECK(d.last == std::vector<Command>{Probe{"172.18.0.2"}});
  CHECK(d.s.counters.control_plane_ip_changes == 0);
}

TEST_CASE("docker unreachable while supervising makes unready and keeps ticking") {
  auto d = ready_at("172.18.0.2");
  ControlPlaneInspected err;
  err.ok = false;
  err.error = "docker: connect: connection refused";
  d.feed(TimerFired{TimerId::probe}).feed(err);
  CHECK(d.s.phase == Phase::unready);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
  d.feed(TimerFired{TimerId::probe}).feed(running_at("172.18.0.2"));
  CHECK(d.s.docker_ok);
}

TEST_CASE("a failed kubeconfig write is retried on the next tick") {
  Driver d;
  d.feed(Started{}).feed(ClustersListed{true, true, ""}).feed(running_at("172.18.0.3"));
  d.feed(KubeconfigWritten{false, "172.18.0.3", "kubeconfig: rename: read-only file system"});
  CHECK(d.s.phase == Phase::unready);
  CHECK(d.s.counters.kubeconfig_write_failures == 1);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
  d.feed(TimerFired{TimerId::probe}).feed(running_at("172.18.0.3"));
  CHECK(d.last == std::vector<Command>{WriteKubeconfig{"172.18.0.3"}});
}

TEST_CASE("shutdown exits and late results change nothing") {
  auto d = ready_at("172.18.0.2");
  d.feed(ShutdownRequested{});
  CHECK(d.s.phase == Phase::stopping);
  CHECK(d.last == std::vector<Command>{Exit{0}});
  const State before = d.s;
  d.feed(ProbeFinished{true, "172.18.0.2", "", 1ms});
  CHECK(d.s == before);
  CHECK(d.last.empty());
}

TEST_CASE("results that do not belong to the phase are ignored") {
  Driver d;
  d.feed(Started{});
  const State before = d.s;
  d.feed(ClusterCreated{true, false, "", 1s});
  d.feed(TimerFired{TimerId::probe});
  d.feed(ProbeFinished{true, "1.2.3.4", "", 1ms});
  CHECK(d.s == before);
  CHECK(d.last.empty());
}

TEST_CASE("readiness checks name what is missing") {
  Driver d;
  auto checks = readiness_checks(d.s, d.p);
  REQUIRE(checks.size() == 4);
  CHECK(std::string(checks[0].name) == "docker");
  CHECK(std::string(checks[1].name) == "cluster");
  CHECK(std::string(checks[2].name) == "kubeconfig");
  CHECK(std::string(checks[3].name) == "apiserver");
  CHECK(checks[0].ok);
  CHECK_FALSE(checks[1].ok);
  CHECK(checks[1].reason == "cluster phase is starting");
  CHECK(checks[3].reason == "no successful probe yet");
  auto ready = ready_at("172.18.0.2");
  for (const auto& c : readiness_checks(ready.s, ready.p)) CHECK_MESSAGE(c.ok, c.name);
}

TEST_CASE("backoff jitter is bounded and reproducible from the seed") {
  Policy p = policy();
  p.backoff_jitter = 0.1;
  p.seed = 42;
  for (int attempt = 1; attempt <= 8; ++attempt) {
    Policy no_jitter = p;
    no_jitter.backoff_jitter = 0.0;
    const auto base = backoff_delay(attempt, no_jitter);
    const auto d = backoff_delay(attempt, p);
    CHECK(d >= base);
    CHECK(d.count() < base.count() + base.count() / 10 + 1);
    CHECK(d == backoff_delay(attempt, p));
  }
  Policy other = p;
  other.seed = 43;
  bool any_differs = false;
  for (int attempt = 1; attempt <= 8; ++attempt) {
    any_differs = any_differs || backoff_delay(attempt, p) != backoff_delay(attempt, other);
  }
  CHECK(any_differs);
}
