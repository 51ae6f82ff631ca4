/// exposer_baseline: k8sinpodd's metrics registry served by prometheus-cpp's own civetweb
/// `prometheus::Exposer`, the server that the library k8sinpodd depends on ships. The baseline of
/// bench/endpoints_load.sh (docs/benchmarks.md, "Endpoints under load").
///
///     exposer_baseline PORT [THREADS]
///
/// Builds `metrics::Metrics` as the daemon does, publishes a ready state once (the fixture of
/// test/fakes/core_states.hpp, with the counters a daemon has after creating a cluster and a few
/// minutes of probes), registers `registry()` at /metrics on 127.0.0.1:PORT with THREADS civetweb
/// worker threads (default 2, the Exposer's default), prints `listening on 127.0.0.1:PORT` and
/// serves until SIGINT or SIGTERM.
///
/// What differs from k8sinpodd's /metrics: the Exposer serves the registry only, so there are no
/// `process_*` lines (k8sinpodd adds them in Metrics::render()), and it adds its own `exposer_*`
/// families (bytes transferred, scrapes, request latencies). Its Content-Type has no
/// `version=0.0.4`.

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "core/state.hpp"
#include "fakes/core_states.hpp"
#include "metrics/metrics.hpp"

namespace {

int usage() {
  std::fputs("usage: exposer_baseline PORT [THREADS]\n", stderr);
  return 2;
}

/// A decimal number in [min, max], or -1.
long number(const char* text, long min, long max) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < min || value > max) return -1;
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace k8sinpod;
  using namespace std::chrono_literals;
  if (argc < 2 || argc > 3) return usage();
  const long port = number(argv[1], 1, 65535);
  const long threads = argc == 3 ? number(argv[2], 1, 1024) : 2;
  if (port < 0 || threads < 0) return usage();

  // Blocked before civetweb starts its threads, so that they inherit the mask and sigwait()
  // below receives the signal.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  metrics::Metrics metrics("bench", "exposer-baseline", "none");
  core::State state = fakes::ready_state(core::Clock::now());
  state.counters.probes_ok = 120;
  state.counters.creations_ok = 1;
  state.counters.kubeconfig_writes = 1;
  state.counters.docker_events = 9;
  metrics.publish(state, core::Policy{});
  for (int i = 0; i < 120; ++i) metrics.observe_probe(3ms);
  metrics.observe_create(40s);
  metrics.count_docker_event("container", "create");
  metrics.count_docker_event("container", "start");
  metrics.count_docker_event("network", "connect");

  try {
    const std::string address = "127.0.0.1:" + std::to_string(port);
    prometheus::Exposer exposer(address, static_cast<std::size_t>(threads));
    // The registry is a member of `metrics`, which outlives the Exposer: a non-owning pointer.
    const std::shared_ptr<prometheus::Registry> registry(&metrics.registry(),
                                                         [](prometheus::Registry*) {});
    exposer.RegisterCollectable(registry);
    std::printf("listening on %s (%ld threads)\n", address.c_str(), threads);
    std::fflush(stdout);
    int signal = 0;
    sigwait(&stop, &signal);
  } catch (const std::exception& e) {
    // civetweb could not bind the address.
    std::fprintf(stderr, "exposer_baseline: %s\n", e.what());
    return 1;
  }
  return 0;
}
