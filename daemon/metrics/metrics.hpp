#pragma once
/// The daemon's Prometheus metrics: a `prometheus::Registry` with the `k8sinpod_*` families,
/// fed from the published `core::State`, plus the `process_*` collector, rendered in the text
/// exposition format 0.0.4 (served by http/ as `/metrics`; prometheus-cpp's civetweb Exposer is
/// deliberately not used).
///
/// Families:
///   k8sinpod_build_info{version,revision,openssl}      gauge, always 1
///   k8sinpod_cluster_ready                             gauge 0/1 (core::is_ready)
///   k8sinpod_cluster_phase{phase}                      gauge, one-hot over core::kAllPhases
///   k8sinpod_probes_total{result=success|failure}      counter
///   k8sinpod_probe_duration_seconds                    histogram, 1 ms .. 10 s
///   k8sinpod_cluster_creations_total{result=...}       counter
///   k8sinpod_cluster_create_duration_seconds           histogram, 1 s .. 30 min
///   k8sinpod_kubeconfig_writes_total                   counter, successful writes
///   k8sinpod_kubeconfig_write_failures_total           counter
///   k8sinpod_control_plane_ip_changes_total            counter
///   k8sinpod_last_probe_success_timestamp_seconds      gauge, unix seconds, 0 until the first
///   k8sinpod_docker_up                                 gauge 0/1
///   k8sinpod_http_rejected_total{reason}               counter, kHttpRejectReasons start at 0
///   k8sinpod_http_cpu_waits_total                      counter, waits for the HTTP CPU budget
///
/// Thread-safety: the registry and its metrics are thread-safe; this class's own bookkeeping is
/// split between two threads, each member function belonging to one:
///   - the supervisor's event loop: publish(), observe_*(), count_docker_event(), reloaded(),
///     set_restart_pending(), set_probe_connections();
///   - the HTTP thread (app/front.hpp): render(), render_reusing(), renders(),
///     set_orphans_reaped(), set_http_rejected(), set_http_cpu_waits().
/// Both mark the text render_reusing() keeps as stale through an atomic flag.

#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "core/state.hpp"
#include "metrics/process_collector.hpp"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace k8sinpod::metrics {

class Metrics {
 public:
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  /// `version`, `revision` and `openssl` (the OpenSSL in use, which the release build links
  /// statically) label `k8sinpod_build_info`.
  Metrics(std::string version, std::string revision, std::string openssl);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// Sets the gauges from `state` and advances each counter by the difference between the
  /// state's `Counters` value and the value published last time. The state's counters are
  /// monotonic; a value below the last published one (a fresh state) resynchronises without
  /// decrementing.
  void publish(const core::State& state, const core::Policy& policy);

  /// One API-server probe took `took`.
  void observe_probe(std::chrono::milliseconds took);
  /// One `kind create cluster` took `took`.
  void observe_create(std::chrono::milliseconds took);
  /// One Docker event about this cluster, by its type and action (bounded by the events the
  /// daemon subscribes to).
  void count_docker_event(const std::string& type, const std::string& action);
  /// A configuration reload finished (SIGHUP or file change).
  void reloaded(bool ok, std::chrono::system_clock::time_point when);
  /// Some changed keys wait for a restart of k8sinpodd.
  void set_restart_pending(bool pending);
  /// The reaper's running count of orphans (children nobody registered) it collected.
  void set_orphans_reaped(std::uint64_t total);
  /// The prober's running count of TCP+TLS connections it opened to the API server.
  void set_probe_connections(std::uint64_t total);
  /// The HTTP server's running count of rejected requests for `reason` (one of
  /// kHttpRejectReasons, which are exported at 0 from the start; another reason adds a series).
  /// Advances the counter by the increase since the last call; a smaller total is ignored.
  void set_http_rejected(const std::string& reason, std::uint64_t total);
  /// The HTTP server's running count of requests and accepts that waited for its CPU budget
  /// (http/budget.hpp); as set_http_rejected(), but it does not make render_reusing() render
  /// again: like process_*, it may be up to kReuseRender old.
  void set_http_cpu_waits(std::uint64_t total);

  /// The `reason` labels of k8sinpod_http_rejected_total, named like http::Server::Stats.
  static constexpr std::array<std::string_view, 9> kHttpRejectReasons = {
      "bad_request", "header_too_large", "body_too_large", "too_many_connections", "rate_limited",
      "timeout",     "unauthorized",     "auth_throttled", "tls_handshake_failed"};

  /// The registry's families followed by `process_*`, in the text exposition format.
  std::string render() const;

  /// render(), or the text it returned last if no value was recorded through this class since and
  /// that text is younger than kReuseRender. Only `process_*` (CPU seconds, memory, open FDs) and
  /// k8sinpod_http_cpu_waits_total can then be up to kReuseRender old. A client hammering /metrics
  /// costs a string copy per request instead of a render (docs/benchmarks.md, "Endpoints under
  /// load").
  const std::string& render_reusing(std::chrono::steady_clock::time_point now);
  static constexpr std::chrono::milliseconds kReuseRender{100};
  /// Renders made by render_reusing() so far.
  std::uint64_t renders() const { return renders_; }

  /// For families added by other modules. Values recorded through it do not invalidate the text
  /// render_reusing() keeps.
  prometheus::Registry& registry() { return registry_; }

 private:
  static constexpr std::size_t kPhaseCount = std::size(core::kAllPhases);

  prometheus::Registry registry_;
  ProcessCollector process_;

  prometheus::Gauge* cluster_ready_;
  prometheus::Gauge* phase_[kPhaseCount];
  prometheus::Counter* probes_ok_;
  prometheus::Counter* probes_failed_;
  prometheus::Histogram* probe_duration_;
  prometheus::Counter* creations_ok_;
  prometheus::Counter* creations_failed_;
  prometheus::Histogram* create_duration_;
  prometheus::Counter* kubeconfig_writes_;
  prometheus::Counter* kubeconfig_write_failures_;
  prometheus::Counter* ip_changes_;
  prometheus::Gauge* last_probe_success_;
  prometheus::Gauge* docker_up_;
  prometheus::Counter* recreations_[std::size(core::kAllRecreateReasons)];
  prometheus::Counter* repairs_[std::size(core::kAllRepairReasons)];
  prometheus::Family<prometheus::Counter>* docker_events_;
  /// (type, action) -> its series in docker_events_; supervisor's thread only.
  std::map<std::pair<std::string, std::string>, prometheus::Counter*> docker_event_counters_;
  prometheus::Gauge* backoff_seconds_;
  prometheus::Gauge* guard_active_;
  prometheus::Gauge* last_repair_seconds_;
  prometheus::Gauge* reload_ok_;
  prometheus::Gauge* reload_success_time_;
  prometheus::Counter* reloads_ok_;
  prometheus::Counter* reloads_failed_;
  prometheus::Gauge* restart_pending_;
  prometheus::Counter* orphans_;
  std::uint64_t orphans_published_ = 0;
  prometheus::Counter* probe_connections_;
  std::uint64_t probe_connections_published_ = 0;
  prometheus::Counter* http_cpu_waits_;
  std::uint64_t http_cpu_waits_published_ = 0;
  struct Published {
    prometheus::Counter* counter;
    std::uint64_t value;
  };
  prometheus::Family<prometheus::Counter>* http_rejected_;
  std::map<std::string, Published, std::less<>> http_rejected_published_;

  core::Counters published_;

  std::atomic<bool> dirty_{true};  // a value changed since rendered_ (set by either thread)
  std::string rendered_;
  std::chrono::steady_clock::time_point rendered_at_{};
  std::uint64_t renders_ = 0;
};

}  // namespace k8sinpod::metrics
