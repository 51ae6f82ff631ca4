#pragma once
/// The HTTP thread's CPU budget (`server.max_cpu_percent`): a token bucket of CPU time.
///
/// The endpoints share the pod's CPUs (and its CPU limit) with the supervisor, dockerd and the
/// kind nodes. Nice +10 (app/front.hpp) makes the HTTP thread yield, but a flooded thread still
/// takes every CPU cycle the others leave for a moment, and the flooding client, when it runs in
/// the pod too, takes as much again. So the thread's CPU time is rationed: the bucket fills at
/// `percent` % of one CPU (of wall time) up to `kBurst`, and every admit() takes out the CPU time
/// the thread used since the previous call, whatever it was spent on. What waits for it:
///
/// - `Work::busy`: a request on a connection that sent more than `kLightRequests` requests within
///   its current one-second window (a flood over kept-alive connections). It goes while the
///   balance is above zero; otherwise it waits until the balance is back at `kResume`, so that
///   waiting requests go in batches rather than one per refill (the server releases them one at
///   a time, oldest first, asking again after each).
/// - `Work::accept`: the next accept(). It goes unless the balance is below -kBurst / 2, which
///   only work that does not wait can cause (a flood of new connections); then new connections,
///   kubelet probes among them, wait in the kernel's backlog until the balance is back at
///   -kBurst / 4: at most (kBurst - kBurst / 4) / rate, 150 ms at 10 %, 300 ms at 5 %.
/// - Nothing else: any other request (a kubelet probe once accepted, a scrape, the first
///   requests of any connection) goes at once and does not call admit(); its CPU time is
///   charged at the next call. The balance never falls below -kBurst, so one wait of busy work
///   lasts at most (kBurst + kResume) / rate; while that other work alone takes the whole rate,
///   busy work waits until it stops.
///
/// Pure: the caller passes the thread's CPU clock and the wall clock (http/server.cpp reads
/// CLOCK_THREAD_CPUTIME_ID and steady_clock). Not thread-safe: one budget per server thread.
#include <chrono>
#include <cstddef>
#include <optional>

namespace k8sinpod::http {

class CpuBudget {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::nanoseconds kBurst = std::chrono::milliseconds{20};
  static constexpr std::chrono::nanoseconds kResume = std::chrono::milliseconds{2};
  static constexpr std::size_t kLightRequests = 10;

  enum class Work { busy, accept };

  /// Whether a request is `Work::busy`: its connection's `requests_this_second`, this one
  /// included, exceed kLightRequests. Any other request does not ask the budget.
  static bool is_busy(std::size_t requests_this_second) {
    return requests_this_second > kLightRequests;
  }

  /// `percent` of one CPU, 1..100; 0: unlimited (admit() always says go). The bucket starts full.
  explicit CpuBudget(unsigned percent);

  /// Charges the thread's CPU time since the previous call (`cpu`: its CPU clock now; the first
  /// call only starts the count), refills for the wall time since then, and says whether `work`
  /// may go now: nullopt, or the time at which to call again.
  std::optional<Clock::time_point> admit(Work work, std::chrono::nanoseconds cpu,
                                         Clock::time_point now);

  /// The balance after the last admit(); kBurst while unlimited.
  std::chrono::nanoseconds balance() const { return balance_; }
  bool limited() const { return percent_ != 0; }

 private:
  unsigned percent_;
  std::chrono::nanoseconds balance_ = kBurst;
  std::optional<std::chrono::nanoseconds> last_cpu_;
  std::optional<Clock::time_point> last_wall_;
};

}  // namespace k8sinpod::http
