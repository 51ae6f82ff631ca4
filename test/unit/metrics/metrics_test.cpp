#include "metrics/metrics.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fakes/core_states.hpp"

using namespace k8sinpod;
using namespace std::chrono_literals;

namespace {

// "name{labels}" -> value text, for every sample line of an exposition.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

double value(const std::map<std::string, std::string>& s, const std::string& key) {
  const auto it = s.find(key);
  REQUIRE_MESSAGE(it != s.end(), "missing sample " << key);
  return std::stod(it->second);
}

// The lines of the families named `prefix*` (HELP, TYPE and samples), in document order.
std::vector<std::string> lines_of(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0 || line.rfind("# HELP " + prefix, 0) == 0 ||
        line.rfind("# TYPE " + prefix, 0) == 0) {
      out.push_back(line);
    }
  }
  return out;
}

std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::string phase_key(core::Phase p) {
  return std::string("k8sinpod_cluster_phase{phase=\"") + core::to_string(p) + "\"}";
}

core::State ready_state() { return fakes::ready_state(core::TimePoint{} + 1700000000s); }

}  // namespace

TEST_CASE("a fresh registry renders every family with zero values and build_info 1") {
  metrics::Metrics m("0.1.0", "abc123", "3.0.0");
  const auto s = samples(m.render());
  CHECK(value(s, "k8sinpod_build_info{openssl=\"3.0.0\",revision=\"abc123\",version=\"0.1.0\"}") ==
        1);
  CHECK(value(s, "k8sinpod_cluster_ready") == 0);
  CHECK(value(s, "k8sinpod_probes_total{result=\"success\"}") == 0);
  CHECK(value(s, "k8sinpod_probes_total{result=\"failure\"}") == 0);
  CHECK(value(s, "k8sinpod_cluster_creations_total{result=\"success\"}") == 0);
  CHECK(value(s, "k8sinpod_cluster_creations_total{result=\"failure\"}") == 0);
  CHECK(value(s, "k8sinpod_kubeconfig_writes_total") == 0);
  CHECK(value(s, "k8sinpod_kubeconfig_write_failures_total") == 0);
  CHECK(value(s, "k8sinpod_control_plane_ip_changes_total") == 0);
  CHECK(value(s, "k8sinpod_last_probe_success_timestamp_seconds") == 0);
  CHECK(value(s, "k8sinpod_probe_duration_seconds_count") == 0);
  CHECK(value(s, "k8sinpod_cluster_create_duration_seconds_count") == 0);
  for (auto p : core::kAllPhases) CHECK(value(s, phase_key(p)) == 0);
}

TEST_CASE("publish sets the phase one-hot over every phase") {
  metrics::Metrics m("v", "r", "o");
  for (auto current : core::kAllPhases) {
    core::State st;
    st.phase = current;
    m.publish(st, core::Policy{});
    const auto s = samples(m.render());
    for (auto p : core::kAllPhases) {
      CAPTURE(core::to_string(current));
      CAPTURE(core::to_string(p));
      CHECK(value(s, phase_key(p)) == (p == current ? 1 : 0));
    }
  }
}

TEST_CASE("publish sets ready, docker_up and the last success timestamp from the state") {
  metrics::Metrics m("v", "r", "o");
  auto st = ready_state();
  m.publish(st, core::Policy{});
  auto s = samples(m.render());
  CHECK(value(s, "k8sinpod_cluster_ready") == 1);
  CHECK(value(s, "k8sinpod_docker_up") == 1);
  CHECK(value(s, "k8sinpod_last_probe_success_timestamp_seconds") == 1700000000);

  st.docker_ok = false;
  m.publish(st, core::Policy{});
  s = samples(m.render());
  CHECK(value(s, "k8sinpod_cluster_ready") == 0);
  CHECK(value(s, "k8sinpod_docker_up") == 0);
}

TEST_CASE("publish advances counters by the deltas of a sequence of states") {
  metrics::Metrics m("v", "r", "o");
  core::State st;
  const core::Policy policy;
  auto check = [&](double ok, double failed, double created, double create_failed, double writes,
                   double write_failures, double ip_changes) {
    const auto s = samples(m.render());
    CHECK(value(s, "k8sinpod_probes_total{result=\"success\"}") == ok);
    CHECK(value(s, "k8sinpod_probes_total{result=\"failure\"}") == failed);
    CHECK(value(s, "k8sinpod_cluster_creations_total{result=\"success\"}") == created);
    CHECK(value(s, "k8sinpod_cluster_creations_total{result=\"failure\"}") == create_failed);
    CHECK(value(s, "k8sinpod_kubeconfig_writes_total") == writes);
    CHECK(value(s, "k8sinpod_kubeconfig_write_failures_total") == write_failures);
    CHECK(value(s, "k8sinpod_control_plane_ip_changes_total") == ip_changes);
  };

  st.counters = {2, 1, 1, 0, 1, 0, 0};
  m.publish(st, policy);
  check(2, 1, 1, 0, 1, 0, 0);

  m.publish(st, policy);  // the same state twice adds nothing
  check(2, 1, 1, 0, 1, 0, 0);

  st.counters = {5, 1, 1, 2, 3, 1, 1};
  m.publish(st, policy);
  check(5, 1, 1, 2, 3, 1, 1);

  // A fresh state (counters back to 0) neither decrements nor double-counts afterwards.
  st.counters = {};
  m.publish(st, policy);
  check(5, 1, 1, 2, 3, 1, 1);
  st.counters.probes_ok = 2;
  m.publish(st, policy);
  check(7, 1, 1, 2, 3, 1, 1);
}

TEST_CASE("observe_probe and observe_create fill their histograms in seconds") {
  metrics::Metrics m("v", "r", "o");
  m.observe_probe(3ms);
  m.observe_probe(2s);
  m.observe_create(90s);
  const auto s = samples(m.render());
  CHECK(value(s, "k8sinpod_probe_duration_seconds_count") == 2);
  CHECK(value(s, "k8sinpod_probe_duration_seconds_sum") == doctest::Approx(2.003));
  CHECK(value(s, "k8sinpod_probe_duration_seconds_bucket{le=\"0.001\"}") == 0);
  CHECK(value(s, "k8sinpod_probe_duration_seconds_bucket{le=\"0.005\"}") == 1);
  CHECK(value(s, "k8sinpod_probe_duration_seconds_bucket{le=\"2.5\"}") == 2);
  CHECK(value(s, "k8sinpod_probe_duration_seconds_bucket{le=\"+Inf\"}") == 2);
  CHECK(value(s, "k8sinpod_cluster_create_duration_seconds_count") == 1);
  CHECK(value(s, "k8sinpod_cluster_create_duration_seconds_bucket{le=\"60\"}") == 0);
  CHECK(value(s, "k8sinpod_cluster_create_duration_seconds_bucket{le=\"90\"}") == 1);
  CHECK(value(s, "k8sinpod_cluster_create_duration_seconds_bucket{le=\"1800\"}") == 1);
}

TEST_CASE("render() has exactly the expected k8sinpod lines, then the process metrics") {
  metrics::Metrics m("0.1.0", "abc123", "3.0.0");
  auto st = ready_state();
  st.counters = {4, 1, 1, 0, 2, 0, 1};
  st.counters.recreations[static_cast<int>(core::RecreateReason::unhealthy)] = 2;
  st.counters.kubeconfig_repairs[static_cast<int>(core::RepairReason::missing)] = 1;
  st.last_repair_duration = 42ms;
  m.publish(st, core::Policy{});
  m.observe_probe(20ms);
  m.observe_create(100s);
  m.count_docker_event("container", "die");
  m.count_docker_event("container", "die");
  m.count_docker_event("network", "connect");
  m.reloaded(true, std::chrono::system_clock::time_point{} + 1700000000s);
  m.reloaded(false, std::chrono::system_clock::time_point{} + 1700000100s);  // keeps the time
  m.set_restart_pending(true);
  m.set_orphans_reaped(5);
  m.set_orphans_reaped(7);
  m.set_probe_connections(3);
  m.set_http_cpu_waits(4);
  m.set_http_cpu_waits(2);     // smaller: ignored
  m.set_probe_connections(2);  // smaller: ignored
  m.set_http_rejected("rate_limited", 2);
  m.set_http_rejected("rate_limited", 5);
  m.set_http_rejected("bad_request", 1);
  m.set_http_rejected("bad_request", 0);  // smaller: ignored, counters never go down

  const std::vector<std::string> expected = {
      R"(# HELP k8sinpod_build_info Build information of k8sinpodd; the value is always 1.)",
      R"(# TYPE k8sinpod_build_info gauge)",
      R"(k8sinpod_build_info{openssl="3.0.0",revision="abc123",version="0.1.0"} 1)",
      R"(# HELP k8sinpod_cluster_ready Whether every readiness check passes (1) or not (0).)",
      R"(# TYPE k8sinpod_cluster_ready gauge)",
      R"(k8sinpod_cluster_ready 1)",
      R"(# HELP k8sinpod_cluster_phase Current supervisor phase; exactly one phase is 1.)",
      R"(# TYPE k8sinpod_cluster_phase gauge)",
      R"(k8sinpod_cluster_phase{phase="starting"} 0)",
      R"(k8sinpod_cluster_phase{phase="discovering"} 0)",
      R"(k8sinpod_cluster_phase{phase="deleting"} 0)",
      R"(k8sinpod_cluster_phase{phase="creating"} 0)",
      R"(k8sinpod_cluster_phase{phase="configuring"} 0)",
      R"(k8sinpod_cluster_phase{phase="ready"} 1)",
      R"(k8sinpod_cluster_phase{phase="unready"} 0)",
      R"(k8sinpod_cluster_phase{phase="backoff"} 0)",
      R"(k8sinpod_cluster_phase{phase="guarded"} 0)",
      R"(k8sinpod_cluster_phase{phase="stopping"} 0)",
      R"(# HELP k8sinpod_probes_total API server readiness probes by result.)",
      R"(# TYPE k8sinpod_probes_total counter)",
      R"(k8sinpod_probes_total{result="success"} 4)",
      R"(k8sinpod_probes_total{result="failure"} 1)",
      R"(# HELP k8sinpod_probe_duration_seconds Duration of API server readiness probes in seconds.)",
      R"(# TYPE k8sinpod_probe_duration_seconds histogram)",
      R"(k8sinpod_probe_duration_seconds_count 1)",
      R"(k8sinpod_probe_duration_seconds_sum 0.02)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="0.001"} 0)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="0.0025"} 0)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="0.005"} 0)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="0.01"} 0)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="0.025"} 1)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="0.05"} 1)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="0.1"} 1)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="0.25"} 1)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="0.5"} 1)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="1"} 1)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="2.5"} 1)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="5"} 1)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="10"} 1)",
      R"(k8sinpod_probe_duration_seconds_bucket{le="+Inf"} 1)",
      R"(# HELP k8sinpod_cluster_creations_total Cluster creations by result.)",
      R"(# TYPE k8sinpod_cluster_creations_total counter)",
      R"(k8sinpod_cluster_creations_total{result="success"} 1)",
      R"(k8sinpod_cluster_creations_total{result="failure"} 0)",
      R"(# HELP k8sinpod_cluster_create_duration_seconds Duration of cluster creations in seconds.)",
      R"(# TYPE k8sinpod_cluster_create_duration_seconds histogram)",
      R"(k8sinpod_cluster_create_duration_seconds_count 1)",
      R"(k8sinpod_cluster_create_duration_seconds_sum 100)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="1"} 0)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="5"} 0)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="10"} 0)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="30"} 0)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="60"} 0)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="90"} 0)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="120"} 1)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="180"} 1)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="300"} 1)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="600"} 1)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="900"} 1)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="1200"} 1)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="1800"} 1)",
      R"(k8sinpod_cluster_create_duration_seconds_bucket{le="+Inf"} 1)",
      R"(# HELP k8sinpod_kubeconfig_writes_total Successful kubeconfig writes.)",
      R"(# TYPE k8sinpod_kubeconfig_writes_total counter)",
      R"(k8sinpod_kubeconfig_writes_total 2)",
      R"(# HELP k8sinpod_kubeconfig_write_failures_total Failed kubeconfig writes.)",
      R"(# TYPE k8sinpod_kubeconfig_write_failures_total counter)",
      R"(k8sinpod_kubeconfig_write_failures_total 0)",
      R"(# HELP k8sinpod_control_plane_ip_changes_total Changes of the control-plane container address.)",
      R"(# TYPE k8sinpod_control_plane_ip_changes_total counter)",
      R"(k8sinpod_control_plane_ip_changes_total 1)",
      R"(# HELP k8sinpod_last_probe_success_timestamp_seconds Unix time of the last successful API server probe; 0 before the first.)",
      R"(# TYPE k8sinpod_last_probe_success_timestamp_seconds gauge)",
      R"(k8sinpod_last_probe_success_timestamp_seconds 1700000000)",
      R"(# HELP k8sinpod_docker_up Whether the last Docker API call succeeded (1) or not (0).)",
      R"(# TYPE k8sinpod_docker_up gauge)",
      R"(k8sinpod_docker_up 1)",
      R"(# HELP k8sinpod_cluster_recreations_total Clusters deleted and created again, by the reason.)",
      R"(# TYPE k8sinpod_cluster_recreations_total counter)",
      R"(k8sinpod_cluster_recreations_total{reason="ip_change"} 0)",
      R"(k8sinpod_cluster_recreations_total{reason="unhealthy"} 2)",
      R"(k8sinpod_cluster_recreations_total{reason="control_plane_gone"} 0)",
      R"(# HELP k8sinpod_kubeconfig_repairs_total Kubeconfig files restored after they were deleted or modified.)",
      R"(# TYPE k8sinpod_kubeconfig_repairs_total counter)",
      R"(k8sinpod_kubeconfig_repairs_total{reason="missing"} 1)",
      R"(k8sinpod_kubeconfig_repairs_total{reason="modified"} 0)",
      R"(# HELP k8sinpod_docker_events_total Docker events about the cluster's containers and network.)",
      R"(# TYPE k8sinpod_docker_events_total counter)",
      R"(k8sinpod_docker_events_total{action="die",type="container"} 2)",
      R"(k8sinpod_docker_events_total{action="connect",type="network"} 1)",
      R"(# HELP k8sinpod_remediation_backoff_seconds Current delay before retrying a failed step; 0 when none.)",
      R"(# TYPE k8sinpod_remediation_backoff_seconds gauge)",
      R"(k8sinpod_remediation_backoff_seconds 0)",
      R"(# HELP k8sinpod_crashloop_guard_active 1 while the crash-loop guard stops cluster recreation.)",
      R"(# TYPE k8sinpod_crashloop_guard_active gauge)",
      R"(k8sinpod_crashloop_guard_active 0)",
      R"(# HELP k8sinpod_last_repair_duration_seconds Time from detecting the last IP change or kubeconfig damage to ready again.)",
      R"(# TYPE k8sinpod_last_repair_duration_seconds gauge)",
      R"(k8sinpod_last_repair_duration_seconds 0.042)",
      R"(# HELP k8sinpod_config_last_reload_successful Whether the last configuration reload succeeded (1) or not (0).)",
      R"(# TYPE k8sinpod_config_last_reload_successful gauge)",
      R"(k8sinpod_config_last_reload_successful 0)",
      R"(# HELP k8sinpod_config_last_reload_success_timestamp_seconds Unix time of the last successful configuration load or reload.)",
      R"(# TYPE k8sinpod_config_last_reload_success_timestamp_seconds gauge)",
      R"(k8sinpod_config_last_reload_success_timestamp_seconds 1700000000)",
      R"(# HELP k8sinpod_config_reloads_total Configuration reloads by result.)",
      R"(# TYPE k8sinpod_config_reloads_total counter)",
      R"(k8sinpod_config_reloads_total{result="success"} 1)",
      R"(k8sinpod_config_reloads_total{result="failure"} 1)",
      R"(# HELP k8sinpod_config_restart_pending 1 when changed keys wait for a restart of k8sinpodd.)",
      R"(# TYPE k8sinpod_config_restart_pending gauge)",
      R"(k8sinpod_config_restart_pending 1)",
      R"(# HELP k8sinpod_orphans_reaped_total Orphaned processes reparented to k8sinpodd and reaped by it.)",
      R"(# TYPE k8sinpod_orphans_reaped_total counter)",
      R"(k8sinpod_orphans_reaped_total 7)",
      R"(# HELP k8sinpod_probe_connections_total TCP+TLS connections opened to the API server by the probe; kept alive between probes.)",
      R"(# TYPE k8sinpod_probe_connections_total counter)",
      R"(k8sinpod_probe_connections_total 3)",
      R"(# HELP k8sinpod_http_cpu_waits_total HTTP requests on busy connections, and accepts, that waited for the HTTP thread's CPU budget (server.max_cpu_percent).)",
      R"(# TYPE k8sinpod_http_cpu_waits_total counter)",
      R"(k8sinpod_http_cpu_waits_total 4)",
      R"(# HELP k8sinpod_http_rejected_total HTTP requests and connections the server rejected, by reason.)",
      R"(# TYPE k8sinpod_http_rejected_total counter)",
      R"(k8sinpod_http_rejected_total{reason="bad_request"} 1)",
      R"(k8sinpod_http_rejected_total{reason="header_too_large"} 0)",
      R"(k8sinpod_http_rejected_total{reason="body_too_large"} 0)",
      R"(k8sinpod_http_rejected_total{reason="too_many_connections"} 0)",
      R"(k8sinpod_http_rejected_total{reason="rate_limited"} 5)",
      R"(k8sinpod_http_rejected_total{reason="timeout"} 0)",
      R"(k8sinpod_http_rejected_total{reason="unauthorized"} 0)",
      R"(k8sinpod_http_rejected_total{reason="auth_throttled"} 0)",
      R"(k8sinpod_http_rejected_total{reason="tls_handshake_failed"} 0)",
  };
  const auto text = m.render();
  // The registry orders families by type and samples by hash: compare the lines as a set.
  auto actual = lines_of(text, "k8sinpod_");
  auto wanted = expected;
  std::sort(actual.begin(), actual.end());
  std::sort(wanted.begin(), wanted.end());
  CHECK(actual == wanted);

  const auto s = samples(text);
  for (const char* name : {"process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                           "process_virtual_memory_bytes", "process_resident_memory_bytes",
                           "process_start_time_seconds", "process_threads"}) {
    CAPTURE(name);
    CHECK(s.count(name) == 1);
  }
  CHECK(text.find("# TYPE process_cpu_seconds_total counter\n") != std::string::npos);
  CHECK(value(s, "process_resident_memory_bytes") > 0);
  // Nothing but these two groups: 7 process families of HELP, TYPE and one sample each.
  CHECK(lines_of(text, "process_").size() == std::size_t{7} * 3);
  CHECK(line_count(text) == expected.size() + std::size_t{7} * 3);
}

TEST_CASE("content type is the 0.0.4 text format") {
  CHECK(std::string(metrics::Metrics::kContentType) == "text/plain; version=0.0.4; charset=utf-8");
}

TEST_CASE("render_reusing keeps the text until a value changes or kReuseRender passes") {
  metrics::Metrics m("0.1.0", "abc123", "3.0.0");
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  const std::string first = m.render_reusing(t0);
  CHECK(m.render_reusing(t0 + 10ms) == first);
  CHECK(m.renders() == 1);  // process_* included: the same text, not a new render

  m.observe_probe(3ms);  // any recorded value makes the next call render again
  CHECK(value(samples(m.render_reusing(t0 + 20ms)), "k8sinpod_probe_duration_seconds_count") == 1);
  CHECK(m.renders() == 2);

  m.set_orphans_reaped(0);  // an unchanged total is not a change...
  (void)m.render_reusing(t0 + 30ms);
  CHECK(m.renders() == 2);
  m.set_orphans_reaped(2);  // ...a higher one is
  CHECK(value(samples(m.render_reusing(t0 + 40ms)), "k8sinpod_orphans_reaped_total") == 2);
  CHECK(m.renders() == 3);
  m.set_http_cpu_waits(5);  // rises with every waiting request of a flood: not a reason to render
  (void)m.render_reusing(t0 + 50ms);
  CHECK(m.renders() == 3);

  (void)m.render_reusing(t0 + 40ms + metrics::Metrics::kReuseRender - 1ms);
  CHECK(m.renders() == 3);
  const auto fresh = m.render_reusing(t0 + 40ms + metrics::Metrics::kReuseRender);  // old enough
  CHECK(m.renders() == 4);
  CHECK(value(samples(fresh), "k8sinpod_http_cpu_waits_total") == 5);
}
