#include "http/budget.hpp"

#include <algorithm>

namespace k8sinpod::http {

namespace {
constexpr std::chrono::seconds kMaxRefill{10};
}  // namespace

CpuBudget::CpuBudget(unsigned percent) : percent_(std::min(percent, 100U)) {}

std::optional<CpuBudget::Clock::time_point> CpuBudget::admit(Work work,
                                                             std::chrono::nanoseconds cpu,
                                                             Clock::time_point now) {
  if (percent_ == 0) return std::nullopt;
  if (last_cpu_ && last_wall_) {
    const auto used = std::max(cpu - *last_cpu_, std::chrono::nanoseconds{0});
    // Clamped: a clock that went back refills nothing; more than 10 s refills a full bucket
    // anyway (at 1 %, 100 ms), and the product below stays far from overflow.
    const auto wall = std::clamp(std::chrono::nanoseconds(now - *last_wall_),
                                 std::chrono::nanoseconds{0}, std::chrono::nanoseconds{kMaxRefill});
    // Refill first, capped at a full bucket: idle time does not buy more than one burst.
    balance_ = std::min(balance_ + wall * percent_ / 100, kBurst);
    balance_ = std::max(balance_ - used, -kBurst);
  }
  last_cpu_ = cpu;
  last_wall_ = now;

  // How long the refill takes to bring the balance up to `level`.
  const auto when = [&](std::chrono::nanoseconds level) {
    return now + std::chrono::duration_cast<Clock::duration>((level - balance_) * 100 / percent_);
  };
  switch (work) {
    case Work::busy:
      if (balance_ > std::chrono::nanoseconds{0}) return std::nullopt;
      return when(kResume);
    case Work::accept:
      if (balance_ >= -kBurst / 2) return std::nullopt;
      return when(-kBurst / 4);
  }
  return std::nullopt;
}

}  // namespace k8sinpod::http
