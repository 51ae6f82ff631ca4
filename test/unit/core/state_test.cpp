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

constexpr const char* kStarted = "2026-12-03T10:00:00Z";  // the node's start time, unchanged

ControlPlaneInspected running_at(std::string ip, std::string started_at = kStarted) {
  ControlPlaneInspected e;
  e.ok = true;
  e.found = true;
  e.running = true;
  e.ip = std::move(ip);
  e.started_at = std::move(started_at);
  return e;
}

// Found, not running: what an inspect of a stopped control plane reports.
ControlPlaneInspected stopped_control_plane() {
  ControlPlaneInspected e;
  e.ok = true;
  e.found = true;
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
  const auto stopped = stopped_control_plane();
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

TEST_CASE("kind failures back off exponentially up to the cap, cleaning up before each retry") {
  Driver d;
  d.p.max_recreates = 100;  // the crash-loop guard has its own test
  d.feed(Started{}).feed(ClustersListed{true, false, ""});
  std::vector<Duration> delays;
  for (int i = 0; i < 7; ++i) {
    REQUIRE(d.s.phase == Phase::creating);
    d.feed(ClusterCreated{false, false, "boom", 1s});
    REQUIRE(d.s.phase == Phase::backoff);
    CHECK(d.s.last_error == "boom");
    CHECK(d.s.needs_cleanup);
    REQUIRE(d.last.size() == 1);
    delays.push_back(std::get<ArmTimer>(d.last[0]).after);
    // kind may have left nodes behind: the retry deletes before it creates.
    d.feed(TimerFired{TimerId::retry});
    CHECK(d.s.phase == Phase::deleting);
    CHECK(d.last == std::vector<Command>{DeleteCluster{}});
    d.feed(ClusterDeleted{true, ""});
    CHECK(d.last == std::vector<Command>{CreateCluster{}});
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

TEST_CASE("probe tick re-inspects, verifies the kubeconfig, then probes the same address") {
  auto d = ready_at("172.18.0.2");
  d.feed(TimerFired{TimerId::probe});
  CHECK(d.last == std::vector<Command>{InspectControlPlane{}});
  d.feed(running_at("172.18.0.2"));
  CHECK(d.last == std::vector<Command>{CheckKubeconfig{}});
  d.feed(KubeconfigChecked{true, RepairReason::missing, ""});
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

TEST_CASE("failures below the threshold keep ready, the threshold makes unready, success heals") {
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
  const auto stopped = stopped_control_plane();
  d.feed(TimerFired{TimerId::probe}).feed(stopped);
  CHECK(d.s.control_plane_ip.empty());
  CHECK(d.s.phase == Phase::unready);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
  // It comes back on the same address: no rewrite, no IP change counted.
  d.feed(TimerFired{TimerId::probe}).feed(running_at("172.18.0.2"));
  CHECK(d.last == std::vector<Command>{CheckKubeconfig{}});
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
  REQUIRE(checks.size() == 5);
  CHECK(std::string(checks[0].name) == "docker");
  CHECK(std::string(checks[1].name) == "cluster");
  CHECK(std::string(checks[2].name) == "kubeconfig");
  CHECK(std::string(checks[3].name) == "apiserver");
  CHECK(std::string(checks[4].name) == "crashloop");
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

// ---- self-healing ----

TEST_CASE("a Docker event starts a check at once, during a check it queues exactly one more") {
  auto d = ready_at("172.18.0.2");  // idle: the probe timer is armed
  d.feed(DockerEventSeen{"container die"});
  CHECK(d.last == std::vector<Command>{InspectControlPlane{}});
  CHECK(d.s.cycle_active);
  d.feed(DockerEventSeen{"network disconnect"}).feed(DockerEventSeen{"network connect"});
  CHECK(d.last.empty());
  CHECK(d.s.recheck_pending);
  CHECK(d.s.counters.docker_events == 3);
  d.feed(running_at("172.18.0.2")).feed(KubeconfigChecked{true, RepairReason::missing, ""});
  d.feed(ProbeFinished{true, "172.18.0.2", "", 2ms});
  // The queued re-check runs instead of arming the timer.
  CHECK(d.last == std::vector<Command>{InspectControlPlane{}});
  CHECK_FALSE(d.s.recheck_pending);
  d.feed(running_at("172.18.0.2")).feed(KubeconfigChecked{true, RepairReason::missing, ""});
  d.feed(ProbeFinished{true, "172.18.0.2", "", 2ms});
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
}

TEST_CASE("a reconnected event stream re-checks everything") {
  auto d = ready_at("172.18.0.2");
  d.feed(DockerStreamConnected{});
  CHECK(d.last == std::vector<Command>{InspectControlPlane{}});
}

TEST_CASE("an IP change is re-patched and the repair time measured from detection to ready") {
  auto d = ready_at("172.18.0.2");
  d.feed(DockerEventSeen{"network connect"}, kT0).feed(running_at("172.18.0.9"), kT0 + 2ms);
  CHECK(d.last == std::vector<Command>{WriteKubeconfig{"172.18.0.9"}});
  d.feed(KubeconfigWritten{true, "172.18.0.9", ""}, kT0 + 5ms);
  CHECK(d.s.phase == Phase::unready);  // not ready until the new address answers a probe
  d.feed(ProbeFinished{true, "172.18.0.9", "", 3ms}, kT0 + 9ms);
  CHECK(d.s.phase == Phase::ready);
  CHECK(d.s.last_repair_duration == 7ms);  // from the inspect that saw it to ready
  CHECK_FALSE(d.s.repair_started.has_value());
  CHECK(d.s.counters.recreations[0] == 0);
}

TEST_CASE("remediation.on_ip_change: recreate deletes and recreates instead of re-patching") {
  auto d = ready_at("172.18.0.2");
  d.p.recreate_on_ip_change = true;
  d.feed(TimerFired{TimerId::probe}).feed(running_at("172.18.0.9"));
  CHECK(d.s.phase == Phase::deleting);
  CHECK(d.last == std::vector<Command>{DeleteCluster{}});
  CHECK(d.s.counters.recreations[static_cast<int>(RecreateReason::ip_change)] == 1);
  d.feed(ClusterDeleted{true, ""});
  CHECK(d.last == std::vector<Command>{CreateCluster{}});
  d.feed(ClusterCreated{true, false, "", 1s});
  CHECK(d.s.kubeconfig_ip.empty());  // a new cluster: nothing of the old one is trusted
  CHECK(d.last == std::vector<Command>{InspectControlPlane{}});
}

TEST_CASE("a damaged kubeconfig is restored and counted by reason") {
  auto d = ready_at("172.18.0.2");
  d.feed(TimerFired{TimerId::probe}).feed(running_at("172.18.0.2"));
  d.feed(KubeconfigChecked{false, RepairReason::modified, "server is https://127.0.0.1:40000"});
  CHECK(d.last == std::vector<Command>{WriteKubeconfig{"172.18.0.2"}});
  CHECK(d.s.counters.kubeconfig_repairs[static_cast<int>(RepairReason::modified)] == 1);
  d.feed(TimerFired{TimerId::probe});  // a stray tick during the repair starts nothing
  CHECK(d.last.empty());
  d.feed(KubeconfigWritten{true, "172.18.0.2", ""});
  CHECK(d.last == std::vector<Command>{Probe{"172.18.0.2"}});
}

TEST_CASE("unhealthy past the threshold is recreated only after recreate_after") {
  auto d = ready_at("172.18.0.2");
  d.p.recreate_after = 60s;
  auto fail_probe = [&](TimePoint at) {
    d.feed(TimerFired{TimerId::probe}, at).feed(running_at("172.18.0.2"), at);
    d.feed(KubeconfigChecked{true, RepairReason::missing, ""}, at);
    d.feed(ProbeFinished{false, "172.18.0.2", "x509: certificate is valid for 172.18.0.2", 1ms},
           at);
  };
  fail_probe(kT0);
  fail_probe(kT0 + 5s);
  CHECK(d.s.phase == Phase::ready);  // below failure_threshold (3)
  fail_probe(kT0 + 10s);
  CHECK(d.s.phase == Phase::unready);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
  // recreate_after counts from the moment the threshold was reached (kT0 + 10s).
  fail_probe(kT0 + 69s);
  CHECK(d.s.phase == Phase::unready);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
  fail_probe(kT0 + 70s);
  CHECK(d.s.phase == Phase::deleting);
  CHECK(d.last == std::vector<Command>{DeleteCluster{}});
  CHECK(d.s.counters.recreations[static_cast<int>(RecreateReason::unhealthy)] == 1);
}

TEST_CASE("a control plane that is gone is given restart_grace before it is recreated") {
  auto d = ready_at("172.18.0.2");
  d.p.restart_grace = 30s;
  ControlPlaneInspected gone;
  gone.ok = true;
  d.feed(DockerEventSeen{"container destroy"}, kT0).feed(gone, kT0);
  CHECK(d.s.phase == Phase::unready);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 10ms}});  // looks again soon
  d.feed(TimerFired{TimerId::probe}, kT0 + 29s).feed(gone, kT0 + 29s);
  CHECK(d.s.phase == Phase::unready);
  d.feed(TimerFired{TimerId::probe}, kT0 + 30s).feed(gone, kT0 + 30s);
  CHECK(d.s.phase == Phase::deleting);
  CHECK(d.s.counters.recreations[static_cast<int>(RecreateReason::control_plane_gone)] == 1);
}

TEST_CASE("a control plane back within the grace period is kept") {
  auto d = ready_at("172.18.0.2");
  const auto stopped = stopped_control_plane();
  d.feed(DockerEventSeen{"container stop"}, kT0).feed(stopped, kT0);
  d.feed(DockerEventSeen{"container start"}, kT0 + 3s).feed(running_at("172.18.0.4"), kT0 + 3s);
  CHECK(d.last == std::vector<Command>{WriteKubeconfig{"172.18.0.4"}});
  CHECK_FALSE(d.s.control_plane_down_since.has_value());
  for (auto n : d.s.counters.recreations) CHECK(n == 0);
}

TEST_CASE("the crash-loop guard stops creating after max_recreates within the window") {
  Driver d;
  d.p.max_recreates = 3;
  d.p.window = 1h;
  d.feed(Started{}, kT0).feed(ClustersListed{true, false, ""}, kT0);
  TimePoint t = kT0;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(d.s.phase == Phase::creating);
    d.feed(ClusterCreated{false, false, "boom", 1s}, t);
    t += 1min;
    d.feed(TimerFired{TimerId::retry}, t).feed(ClusterDeleted{true, ""}, t);
  }
  // The 4th attempt within the hour is refused.
  CHECK(d.s.phase == Phase::guarded);
  CHECK(d.s.creations.size() == 3);
  REQUIRE(d.last.size() == 1);
  // Re-evaluated when the oldest creation leaves the window: kT0 + 1h.
  CHECK(d.last[0] == Command{ArmTimer{TimerId::guard, 1h - 3min}});
  const auto checks = readiness_checks(d.s, d.p);
  CHECK_FALSE(checks[4].ok);
  CHECK(checks[4].reason.find("3 cluster creations within 3600s") != std::string::npos);
  CHECK_FALSE(is_ready(d.s, d.p));
  d.feed(TimerFired{TimerId::retry}, t);  // no other timer moves it
  CHECK(d.s.phase == Phase::guarded);
  d.feed(TimerFired{TimerId::guard}, kT0 + 1h);
  CHECK(d.s.phase == Phase::discovering);
  CHECK(d.last == std::vector<Command>{ListClusters{}});
  CHECK(d.s.creations.size() == 2);
}

TEST_CASE("the guard also stops a recreate before it deletes anything") {
  auto d = ready_at("172.18.0.2");
  d.p.max_recreates = 1;  // the creation in ready_at used the only slot
  d.p.recreate_on_ip_change = true;
  d.feed(TimerFired{TimerId::probe}).feed(running_at("172.18.0.9"));
  CHECK(d.s.phase == Phase::guarded);
  for (const auto& c : d.last) CHECK_FALSE(std::holds_alternative<DeleteCluster>(c));
}

TEST_CASE("the backoff is forgotten after backoff_reset of continuous readiness") {
  Driver d;
  d.p.backoff_reset = 10min;
  d.feed(Started{}, kT0).feed(ClustersListed{true, false, ""}, kT0);
  d.feed(ClusterCreated{false, false, "boom", 1s}, kT0);
  d.feed(TimerFired{TimerId::retry}, kT0).feed(ClusterDeleted{true, ""}, kT0);
  d.feed(ClusterCreated{true, false, "", 1s}, kT0).feed(running_at("172.18.0.2"), kT0);
  d.feed(KubeconfigWritten{true, "172.18.0.2", ""}, kT0);
  d.feed(ProbeFinished{true, "172.18.0.2", "", 1ms}, kT0);
  CHECK(d.s.failed_attempts == 1);
  auto tick = [&](TimePoint at) {
    d.feed(TimerFired{TimerId::probe}, at).feed(running_at("172.18.0.2"), at);
    d.feed(KubeconfigChecked{true, RepairReason::missing, ""}, at);
    d.feed(ProbeFinished{true, "172.18.0.2", "", 1ms}, at);
  };
  tick(kT0 + 9min);
  CHECK(d.s.failed_attempts == 1);
  tick(kT0 + 10min);
  CHECK(d.s.failed_attempts == 0);
}

TEST_CASE("a config reload lifts the crash-loop guard and re-arms the probe timer") {
  Driver d;
  d.p.max_recreates = 1;
  d.feed(Started{})
      .feed(ClustersListed{true, false, ""})
      .feed(ClusterCreated{false, false, "x", 1s});
  d.feed(TimerFired{TimerId::retry}).feed(ClusterDeleted{true, ""});
  REQUIRE(d.s.phase == Phase::guarded);
  d.feed(ConfigReloaded{});
  CHECK(d.s.phase == Phase::discovering);
  CHECK(d.s.creations.empty());
  CHECK(d.last == std::vector<Command>{ListClusters{}});

  auto r = ready_at("172.18.0.2");
  r.p.probe_interval = 2s;
  r.feed(ConfigReloaded{});
  CHECK(r.last == std::vector<Command>{ArmTimer{TimerId::probe, 2s}});
  r.feed(TimerFired{TimerId::probe}).feed(ConfigReloaded{});  // mid-cycle: nothing to re-arm
  CHECK(r.last.empty());
}

TEST_CASE("after a Docker event, a cluster that is not ready is re-checked soon, growing by half") {
  auto d = ready_at("172.18.0.2");
  const auto stopped = stopped_control_plane();
  d.feed(DockerEventSeen{"container die"}).feed(stopped);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 10ms}});
  std::vector<Duration> delays;
  for (int i = 0; i < 16; ++i) {
    d.feed(TimerFired{TimerId::probe}).feed(stopped);
    delays.push_back(std::get<ArmTimer>(d.last.at(0)).after);
  }
  // Growing by half (in whole milliseconds, rounded down) up to the 5 s interval.
  CHECK(delays == std::vector<Duration>{15ms, 22ms, 33ms, 49ms, 73ms, 109ms, 163ms, 244ms, 366ms,
                                        549ms, 823ms, 1234ms, 1851ms, 2776ms, 4164ms, 5s});
  // Every further event starts the series over: a burst does not push the next look out.
  d.feed(TimerFired{TimerId::probe}).feed(stopped);
  d.feed(DockerEventSeen{"container start"}).feed(stopped);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 10ms}});
  // Ready again: the normal interval, and the series is off until the next event.
  d.feed(TimerFired{TimerId::probe}).feed(running_at("172.18.0.2"));
  d.feed(KubeconfigChecked{true, RepairReason::missing, ""});
  d.feed(ProbeFinished{true, "172.18.0.2", "", 1ms});
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
  CHECK(d.s.quick_recheck == Duration{0});
}

namespace {

ProbeFinished refused_at(std::string ip) {
  ProbeFinished e{false, std::move(ip), "connect: Connection refused", 0ms};
  e.refused = true;
  return e;
}

// Ready at 172.18.0.9; at kT0 a restart event finds the node running at 172.18.0.2, the
// kubeconfig is rewritten, and the probe of that cycle is refused at kT0 + 1ms.
Driver refused_after_restart() {
  auto d = ready_at("172.18.0.9");
  d.feed(DockerEventSeen{"container start"}, kT0).feed(running_at("172.18.0.2"), kT0);
  d.feed(KubeconfigWritten{true, "172.18.0.2", ""}, kT0);
  d.feed(refused_at("172.18.0.2"), kT0 + 1ms);
  return d;
}

// The armed probe timer fires at `at`, and the bare connect it starts comes back at once.
void connect_at(Driver& d, TimePoint at, bool refused, std::string ip = "172.18.0.2") {
  d.feed(TimerFired{TimerId::probe}, at).feed(ListenerChecked{std::move(ip), refused}, at);
}

}  // namespace

TEST_CASE("after an event, a refused probe is followed by bare connects until one is not refused") {
  auto d = refused_after_restart();
  CHECK(d.s.phase == Phase::unready);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 2ms}});
  CHECK(d.s.listen_wait);
  CHECK_FALSE(d.s.cycle_active);

  // The timer checks the listener only: no inspect, no kubeconfig check, no probe counted.
  const auto probes_failed = d.s.counters.probes_failed;
  d.feed(TimerFired{TimerId::probe}, kT0 + 3ms);
  CHECK(d.last == std::vector<Command>{CheckListener{"172.18.0.2"}});
  CHECK(d.s.cycle_active);
  d.feed(ListenerChecked{"172.18.0.2", true}, kT0 + 3ms);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 2ms}});
  CHECK(d.s.counters.probes_failed == probes_failed);
  CHECK(d.s.quick_recheck == 10ms);  // the series does not advance meanwhile

  // Not refused: the probe runs at once, and its success makes the cluster ready.
  connect_at(d, kT0 + 5ms, false);
  CHECK(d.last == std::vector<Command>{Probe{"172.18.0.2"}});
  d.feed(ProbeFinished{true, "172.18.0.2", "", 4ms}, kT0 + 9ms);
  CHECK(d.s.phase == Phase::ready);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
  CHECK_FALSE(d.s.listen_wait);
}

TEST_CASE("a probe that fails otherwise after the listener accepted goes back to the series") {
  auto d = refused_after_restart();
  connect_at(d, kT0 + 3ms, false);
  d.feed(ProbeFinished{false, "172.18.0.2", "500: [-]etcd failed", 4ms}, kT0 + 8ms);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 10ms}});
  CHECK_FALSE(d.s.listen_wait);
}

TEST_CASE("bare connects stop listen_window after the last event, then the series takes over") {
  auto d = refused_after_restart();
  connect_at(d, kT0 + 999ms, true);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 2ms}});
  connect_at(d, kT0 + 1s, true);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 10ms}});
  // The next look is a whole cycle again, and a refused probe there keeps to the series.
  d.feed(TimerFired{TimerId::probe}, kT0 + 1010ms);
  CHECK(d.last == std::vector<Command>{InspectControlPlane{}});
  d.feed(running_at("172.18.0.2"), kT0 + 1010ms);
  d.feed(KubeconfigChecked{true, RepairReason::missing, ""}, kT0 + 1010ms);
  d.feed(refused_at("172.18.0.2"), kT0 + 1011ms);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 15ms}});
}

TEST_CASE("a refused probe without a recent event, or at another address, keeps its pace") {
  // Ready, no event: the periodic probe is refused. That is an API server gone without its
  // container changing; the failure threshold decides, at the normal interval.
  auto d = ready_at("172.18.0.2");
  d.feed(TimerFired{TimerId::probe}).feed(running_at("172.18.0.2"));
  d.feed(KubeconfigChecked{true, RepairReason::missing, ""}).feed(refused_at("172.18.0.2"));
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
  CHECK_FALSE(d.s.listen_wait);

  // A refusal reported for an address that is no longer the kubeconfig's.
  auto e = ready_at("172.18.0.9");
  e.feed(DockerEventSeen{"container start"}).feed(running_at("172.18.0.2"));
  e.feed(KubeconfigWritten{true, "172.18.0.2", ""}).feed(refused_at("172.18.0.7"));
  CHECK(e.last == std::vector<Command>{ArmTimer{TimerId::probe, 10ms}});
}

TEST_CASE("a Docker event during the bare connects brings back the whole cycle") {
  // Event while the connect timer is armed: a whole cycle at once, and the timer's later firing
  // queues a whole cycle, not a connect.
  auto d = refused_after_restart();
  d.feed(DockerEventSeen{"network disconnect"}, kT0 + 2ms);
  CHECK(d.last == std::vector<Command>{InspectControlPlane{}});
  CHECK_FALSE(d.s.listen_wait);
  d.feed(TimerFired{TimerId::probe}, kT0 + 3ms);
  CHECK(d.last.empty());
  CHECK(d.s.recheck_pending);

  // Event while a connect is out: its result ends the check, and a whole cycle follows.
  auto e = refused_after_restart();
  e.feed(TimerFired{TimerId::probe}, kT0 + 3ms);
  e.feed(DockerEventSeen{"network disconnect"}, kT0 + 3ms);
  CHECK(e.last.empty());
  e.feed(ListenerChecked{"172.18.0.2", false}, kT0 + 4ms);
  CHECK(e.last == std::vector<Command>{InspectControlPlane{}});
  CHECK_FALSE(e.s.recheck_pending);

  // A result nobody waits for changes nothing: idle, or during a whole cycle.
  auto f = ready_at("172.18.0.2");
  const auto before = f.s;
  f.feed(ListenerChecked{"172.18.0.2", true});
  CHECK(f.last.empty());
  CHECK(f.s == before);
  auto g = refused_after_restart();
  g.feed(DockerEventSeen{"container start"}, kT0 + 2ms);
  REQUIRE(g.last == std::vector<Command>{InspectControlPlane{}});
  const auto mid_cycle = g.s;
  g.feed(ListenerChecked{"172.18.0.2", false}, kT0 + 3ms);
  CHECK(g.last.empty());
  CHECK(g.s == mid_cycle);
}

TEST_CASE("a connect refused at another address runs the probe, a reload ends the connects") {
  // The kubeconfig's address is what the connects watch: a refusal elsewhere says nothing
  // about it, and the probe finds out.
  auto d = refused_after_restart();
  connect_at(d, kT0 + 3ms, true, "172.18.0.7");
  CHECK(d.last == std::vector<Command>{Probe{"172.18.0.2"}});
  CHECK_FALSE(d.s.listen_wait);

  // A reload re-arms the timer with the interval: its firing is a whole cycle.
  auto e = refused_after_restart();
  e.feed(ConfigReloaded{}, kT0 + 2ms);
  CHECK(e.last == std::vector<Command>{ArmTimer{TimerId::probe, 5s}});
  e.feed(TimerFired{TimerId::probe}, kT0 + 5s);
  CHECK(e.last == std::vector<Command>{InspectControlPlane{}});
}

TEST_CASE("a wall clock that went back ends the bare connects") {
  // Otherwise they would go on, every 2 ms and with no whole cycle, until the clock caught up.
  auto d = refused_after_restart();
  connect_at(d, kT0 - 1h, true);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 10ms}});
  CHECK_FALSE(d.s.listen_wait);
}

TEST_CASE("a node restarted at the same address is not ready until a new probe passes") {
  // A success from before the restart (a new start time) does not count: the refused probe
  // after it leaves the cluster unready, and the bare connects watch it.
  auto d = ready_at("172.18.0.2");
  const auto stopped = stopped_control_plane();
  d.feed(DockerEventSeen{"container die"}, kT0).feed(stopped, kT0);
  CHECK(d.s.phase == Phase::unready);
  // While it is down, no check passes with a reason, nor fails without one.
  for (const auto& c : readiness_checks(d.s, d.p)) CHECK_MESSAGE(c.ok == c.reason.empty(), c.name);
  CHECK_FALSE(readiness_checks(d.s, d.p)[3].ok);
  d.feed(DockerEventSeen{"container start"}, kT0 + 1s);
  d.feed(running_at("172.18.0.2", "2026-12-03T10:00:01Z"), kT0 + 1s);
  CHECK(d.last == std::vector<Command>{CheckKubeconfig{}});
  d.feed(KubeconfigChecked{true, RepairReason::missing, ""}, kT0 + 1s);
  d.feed(refused_at("172.18.0.2"), kT0 + 1s + 1ms);
  CHECK(d.s.phase == Phase::unready);
  CHECK(readiness_checks(d.s, d.p)[3].reason ==
        "no successful probe since the control plane last restarted");
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 2ms}});
  connect_at(d, kT0 + 1s + 3ms, false);
  d.feed(ProbeFinished{true, "172.18.0.2", "", 4ms}, kT0 + 1s + 7ms);
  CHECK(d.s.phase == Phase::ready);
}

TEST_CASE("a restart seen only as a new start time also needs a new probe to be ready") {
  // dockerd restarted (every inspect failed meanwhile) and started the node again at the same
  // address: no inspect saw it stopped, but its start time changed.
  auto d = ready_at("172.18.0.2");

  // The same start time: a refused probe is one failure under the threshold, still ready.
  auto same = d;
  same.feed(TimerFired{TimerId::probe}, kT0 + 5s).feed(running_at("172.18.0.2"));
  same.feed(KubeconfigChecked{true, RepairReason::missing, ""});
  same.feed(refused_at("172.18.0.2"), kT0 + 5s);
  CHECK(same.s.phase == Phase::ready);

  ControlPlaneInspected docker_down;
  docker_down.error = "docker: connection refused";
  d.feed(TimerFired{TimerId::probe}, kT0 + 5s).feed(docker_down, kT0 + 5s);
  CHECK(d.s.phase == Phase::unready);
  d.feed(DockerStreamConnected{}, kT0 + 20s);
  d.feed(running_at("172.18.0.2", "2026-12-03T10:00:20Z"), kT0 + 20s);
  d.feed(KubeconfigChecked{true, RepairReason::missing, ""}, kT0 + 20s);
  d.feed(refused_at("172.18.0.2"), kT0 + 20s);
  CHECK(d.s.phase == Phase::unready);
  CHECK(d.last == std::vector<Command>{ArmTimer{TimerId::probe, 2ms}});
}
