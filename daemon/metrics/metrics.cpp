#include "metrics/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/text_serializer.h>

#include <utility>

namespace k8sinpod::metrics {
namespace {

/// Returns whether the counter moved.
bool advance(prometheus::Counter& counter, std::uint64_t& published, std::uint64_t now) {
  const bool moved = now > published;
  if (moved) counter.Increment(static_cast<double>(now - published));
  published = now;
  return moved;
}

double seconds(std::chrono::milliseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

Metrics::Metrics(std::string version, std::string revision, std::string openssl) {
  prometheus::BuildGauge()
      .Name("k8sinpod_build_info")
      .Help("Build information of k8sinpodd; the value is always 1.")
      .Register(registry_)
      .Add({{"version", std::move(version)},
            {"revision", std::move(revision)},
            {"openssl", std::move(openssl)}})
      .Set(1);

  cluster_ready_ = &prometheus::BuildGauge()
                        .Name("k8sinpod_cluster_ready")
                        .Help("Whether every readiness check passes (1) or not (0).")
                        .Register(registry_)
                        .Add({});

  auto& phase = prometheus::BuildGauge()
                    .Name("k8sinpod_cluster_phase")
                    .Help("Current supervisor phase; exactly one phase is 1.")
                    .Register(registry_);
  for (std::size_t i = 0; i < kPhaseCount; ++i) {
    phase_[i] = &phase.Add({{"phase", core::to_string(core::kAllPhases[i])}});
  }

  auto& probes = prometheus::BuildCounter()
                     .Name("k8sinpod_probes_total")
                     .Help("API server readiness probes by result.")
                     .Register(registry_);
  probes_ok_ = &probes.Add({{"result", "success"}});
  probes_failed_ = &probes.Add({{"result", "failure"}});

  probe_duration_ =
      &prometheus::BuildHistogram()
           .Name("k8sinpod_probe_duration_seconds")
           .Help("Duration of API server readiness probes in seconds.")
           .Register(registry_)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                            0.1, 0.25, 0.5, 1, 2.5, 5, 10});

  auto& creations = prometheus::BuildCounter()
                        .Name("k8sinpod_cluster_creations_total")
                        .Help("Cluster creations by result.")
                        .Register(registry_);
  creations_ok_ = &creations.Add({{"result", "success"}});
  creations_failed_ = &creations.Add({{"result", "failure"}});

  create_duration_ = &prometheus::BuildHistogram()
                          .Name("k8sinpod_cluster_create_duration_seconds")
                          .Help("Duration of cluster creations in seconds.")
                          .Register(registry_)
                          .Add({}, prometheus::Histogram::BucketBoundaries{
                                       1, 5, 10, 30, 60, 90, 120, 180, 300, 600, 900, 1200, 1800});

  kubeconfig_writes_ = &prometheus::BuildCounter()
                            .Name("k8sinpod_kubeconfig_writes_total")
                            .Help("Successful kubeconfig writes.")
                            .Register(registry_)
                            .Add({});
  kubeconfig_write_failures_ = &prometheus::BuildCounter()
                                    .Name("k8sinpod_kubeconfig_write_failures_total")
                                    .Help("Failed kubeconfig writes.")
                                    .Register(registry_)
                                    .Add({});
  ip_changes_ = &prometheus::BuildCounter()
                     .Name("k8sinpod_control_plane_ip_changes_total")
                     .Help("Changes of the control-plane container address.")
                     .Register(registry_)
                     .Add({});
  last_probe_success_ =
      &prometheus::BuildGauge()
           .Name("k8sinpod_last_probe_success_timestamp_seconds")
           .Help("Unix time of the last successful API server probe; 0 before the first.")
           .Register(registry_)
           .Add({});
  docker_up_ = &prometheus::BuildGauge()
                    .Name("k8sinpod_docker_up")
                    .Help("Whether the last Docker API call succeeded (1) or not (0).")
                    .Register(registry_)
                    .Add({});

  auto& recreations = prometheus::BuildCounter()
                          .Name("k8sinpod_cluster_recreations_total")
                          .Help("Clusters deleted and created again, by the reason.")
                          .Register(registry_);
  for (std::size_t i = 0; i < std::size(core::kAllRecreateReasons); ++i) {
    recreations_[i] = &recreations.Add({{"reason", core::to_string(core::kAllRecreateReasons[i])}});
  }
  auto& repairs = prometheus::BuildCounter()
                      .Name("k8sinpod_kubeconfig_repairs_total")
                      .Help("Kubeconfig files restored after they were deleted or modified.")
                      .Register(registry_);
  for (std::size_t i = 0; i < std::size(core::kAllRepairReasons); ++i) {
    repairs_[i] = &repairs.Add({{"reason", core::to_string(core::kAllRepairReasons[i])}});
  }
  docker_events_ = &prometheus::BuildCounter()
                        .Name("k8sinpod_docker_events_total")
                        .Help("Docker events about the cluster's containers and network.")
                        .Register(registry_);
  backoff_seconds_ = &prometheus::BuildGauge()
                          .Name("k8sinpod_remediation_backoff_seconds")
                          .Help("Current delay before retrying a failed step; 0 when none.")
                          .Register(registry_)
                          .Add({});
  guard_active_ = &prometheus::BuildGauge()
                       .Name("k8sinpod_crashloop_guard_active")
                       .Help("1 while the crash-loop guard stops cluster recreation.")
                       .Register(registry_)
                       .Add({});
  last_repair_seconds_ =
      &prometheus::BuildGauge()
           .Name("k8sinpod_last_repair_duration_seconds")
           .Help("Time from detecting the last IP change or kubeconfig damage to ready again.")
           .Register(registry_)
           .Add({});
  reload_ok_ = &prometheus::BuildGauge()
                    .Name("k8sinpod_config_last_reload_successful")
                    .Help("Whether the last configuration reload succeeded (1) or not (0).")
                    .Register(registry_)
                    .Add({});
  reload_ok_->Set(1);  // the startup config is valid, or the daemon would not be running
  reload_success_time_ =
      &prometheus::BuildGauge()
           .Name("k8sinpod_config_last_reload_success_timestamp_seconds")
           .Help("Unix time of the last successful configuration load or reload.")
           .Register(registry_)
           .Add({});
  reload_success_time_->SetToCurrentTime();
  auto& reloads = prometheus::BuildCounter()
                      .Name("k8sinpod_config_reloads_total")
                      .Help("Configuration reloads by result.")
                      .Register(registry_);
  reloads_ok_ = &reloads.Add({{"result", "success"}});
  reloads_failed_ = &reloads.Add({{"result", "failure"}});
  restart_pending_ = &prometheus::BuildGauge()
                          .Name("k8sinpod_config_restart_pending")
                          .Help("1 when changed keys wait for a restart of k8sinpodd.")
                          .Register(registry_)
                          .Add({});
  orphans_ = &prometheus::BuildCounter()
                  .Name("k8sinpod_orphans_reaped_total")
                  .Help("Orphaned processes reparented to k8sinpodd and reaped by it.")
                  .Register(registry_)
                  .Add({});
  probe_connections_ = &prometheus::BuildCounter()
                            .Name("k8sinpod_probe_connections_total")
                            .Help(
                                "TCP+TLS connections opened to the API server by the probe; "
                                "kept alive between probes.")
                            .Register(registry_)
                            .Add({});
  http_cpu_waits_ = &prometheus::BuildCounter()
                         .Name("k8sinpod_http_cpu_waits_total")
                         .Help(
                             "HTTP requests on busy connections, and accepts, that waited for "
                             "the HTTP thread's CPU budget (server.max_cpu_percent).")
                         .Register(registry_)
                         .Add({});
  http_rejected_ = &prometheus::BuildCounter()
                        .Name("k8sinpod_http_rejected_total")
                        .Help("HTTP requests and connections the server rejected, by reason.")
                        .Register(registry_);
  for (const std::string_view reason : kHttpRejectReasons) {
    http_rejected_published_.emplace(
        std::string(reason), Published{&http_rejected_->Add({{"reason", std::string(reason)}}), 0});
  }
}

void Metrics::reloaded(bool ok, std::chrono::system_clock::time_point when) {
  dirty_ = true;
  reload_ok_->Set(ok ? 1 : 0);
  (ok ? reloads_ok_ : reloads_failed_)->Increment();
  if (ok) reload_success_time_->Set(std::chrono::duration<double>(when.time_since_epoch()).count());
}

void Metrics::set_restart_pending(bool pending) {
  dirty_ = true;
  restart_pending_->Set(pending ? 1 : 0);
}

void Metrics::set_orphans_reaped(std::uint64_t total) {
  if (advance(*orphans_, orphans_published_, total)) dirty_ = true;
}

void Metrics::set_probe_connections(std::uint64_t total) {
  if (advance(*probe_connections_, probe_connections_published_, total)) dirty_ = true;
}

void Metrics::set_http_cpu_waits(std::uint64_t total) {
  // Does not mark the render stale: under a /metrics flood this rises with nearly every request,
  // and each would then render again. Like process_*, it may be up to kReuseRender old.
  advance(*http_cpu_waits_, http_cpu_waits_published_, total);
}

void Metrics::set_http_rejected(const std::string& reason, std::uint64_t total) {
  auto it = http_rejected_published_.find(reason);
  if (it == http_rejected_published_.end()) {
    it = http_rejected_published_
             .emplace(reason, Published{&http_rejected_->Add({{"reason", reason}}), 0})
             .first;
  }
  if (advance(*it->second.counter, it->second.value, total)) dirty_ = true;
}

void Metrics::publish(const core::State& state, const core::Policy& policy) {
  dirty_ = true;
  cluster_ready_->Set(core::is_ready(state, policy) ? 1 : 0);
  for (std::size_t i = 0; i < kPhaseCount; ++i) {
    phase_[i]->Set(core::kAllPhases[i] == state.phase ? 1 : 0);
  }
  docker_up_->Set(state.docker_ok ? 1 : 0);
  last_probe_success_->Set(
      state.last_probe_success
          ? std::chrono::duration<double>(state.last_probe_success->time_since_epoch()).count()
          : 0);

  const auto& c = state.counters;
  advance(*probes_ok_, published_.probes_ok, c.probes_ok);
  advance(*probes_failed_, published_.probes_failed, c.probes_failed);
  advance(*creations_ok_, published_.creations_ok, c.creations_ok);
  advance(*creations_failed_, published_.creations_failed, c.creations_failed);
  advance(*kubeconfig_writes_, published_.kubeconfig_writes, c.kubeconfig_writes);
  advance(*kubeconfig_write_failures_, published_.kubeconfig_write_failures,
          c.kubeconfig_write_failures);
  advance(*ip_changes_, published_.control_plane_ip_changes, c.control_plane_ip_changes);
  for (std::size_t i = 0; i < std::size(core::kAllRecreateReasons); ++i) {
    advance(*recreations_[i], published_.recreations[i], c.recreations[i]);
  }
  for (std::size_t i = 0; i < std::size(core::kAllRepairReasons); ++i) {
    advance(*repairs_[i], published_.kubeconfig_repairs[i], c.kubeconfig_repairs[i]);
  }
  backoff_seconds_->Set(state.phase == core::Phase::backoff ? seconds(state.current_backoff) : 0);
  guard_active_->Set(state.phase == core::Phase::guarded ? 1 : 0);
  last_repair_seconds_->Set(seconds(state.last_repair_duration));
}

void Metrics::count_docker_event(const std::string& type, const std::string& action) {
  dirty_ = true;
  // Family::Add locks the family, which a render on the HTTP thread holds while it collects:
  // look the counter up once, then increment it without a lock (the counter is atomic).
  auto key = std::make_pair(type, action);
  auto it = docker_event_counters_.find(key);
  if (it == docker_event_counters_.end()) {
    it = docker_event_counters_
             .emplace(std::move(key), &docker_events_->Add({{"type", type}, {"action", action}}))
             .first;
  }
  it->second->Increment();
}

void Metrics::observe_probe(std::chrono::milliseconds took) {
  dirty_ = true;
  probe_duration_->Observe(seconds(took));
}

void Metrics::observe_create(std::chrono::milliseconds took) {
  dirty_ = true;
  create_duration_->Observe(seconds(took));
}

const std::string& Metrics::render_reusing(std::chrono::steady_clock::time_point now) {
  // Clear the flag before collecting: a value recorded during the render sets it again, so the
  // next request renders anew rather than keep a text that may miss the value.
  if (dirty_.exchange(false) || rendered_.empty() || now - rendered_at_ >= kReuseRender ||
      now < rendered_at_) {
    rendered_ = render();
    ++renders_;
    rendered_at_ = now;
  }
  return rendered_;
}

std::string Metrics::render() const {
  auto families = registry_.Collect();
  auto process = process_.Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace k8sinpod::metrics
