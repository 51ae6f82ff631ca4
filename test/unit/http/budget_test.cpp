// The HTTP thread's CPU budget: a token bucket of CPU time, driven by synthetic clocks.
#include "http/budget.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>

using namespace k8sinpod;
using namespace std::chrono_literals;
using Budget = http::CpuBudget;
using Work = http::CpuBudget::Work;

namespace {

const Budget::Clock::time_point t0{std::chrono::hours{1}};

}  // namespace

TEST_CASE("budget: 0 is unlimited: nothing ever waits") {
  Budget b(0);
  CHECK_FALSE(b.limited());
  CHECK(b.admit(Work::busy, 0ns, t0) == std::nullopt);
  CHECK(b.admit(Work::busy, 10s, t0 + 1ms) == std::nullopt);
  CHECK(b.admit(Work::accept, 20s, t0 + 2ms) == std::nullopt);
  CHECK(b.balance() == Budget::kBurst);
}

TEST_CASE("budget: a request is busy past kLightRequests within its connection's second") {
  CHECK_FALSE(Budget::is_busy(1));
  CHECK_FALSE(Budget::is_busy(Budget::kLightRequests));
  CHECK(Budget::is_busy(Budget::kLightRequests + 1));
}

TEST_CASE("budget: busy work goes while the bucket holds CPU time, then waits for kResume") {
  Budget b(25);
  CHECK(b.limited());
  CHECK(b.admit(Work::busy, 0ns, t0) == std::nullopt);  // the first call starts the count
  CHECK(b.balance() == Budget::kBurst);
  // 19 ms of CPU in 1 ms of wall time: the refill of a full bucket is lost, 1 ms is left.
  CHECK(b.admit(Work::busy, 19ms, t0 + 1ms) == std::nullopt);
  CHECK(b.balance() == 1ms);
  // 2 ms more at the same instant: overdrawn by 1 ms. Back at kResume (2 ms) after 3 / 0.25 =
  // 12 ms.
  const auto until = b.admit(Work::busy, 21ms, t0 + 1ms);
  REQUIRE(until);
  CHECK(b.balance() == -1ms);
  CHECK(*until == t0 + 1ms + 12ms);
  // Asked again at that time with no CPU spent meanwhile: the bucket holds kResume, it goes.
  CHECK(b.admit(Work::busy, 21ms, *until) == std::nullopt);
  CHECK(b.balance() == Budget::kResume);
}

TEST_CASE("budget: the bucket holds at most kBurst, however long the thread was idle") {
  Budget b(50);
  CHECK(b.admit(Work::busy, 0ns, t0) == std::nullopt);
  CHECK(b.admit(Work::busy, 0ns, t0 + std::chrono::hours{24 * 365}) == std::nullopt);
  CHECK(b.balance() == Budget::kBurst);
  // So a burst of kBurst goes, and the next busy request waits.
  CHECK(b.admit(Work::busy, Budget::kBurst, t0 + std::chrono::hours{24 * 365}) != std::nullopt);
}

TEST_CASE("budget: the balance never falls below -kBurst, so busy work waits a bounded time") {
  Budget b(10);
  CHECK(b.admit(Work::busy, 0ns, t0) == std::nullopt);
  // A second of CPU spent on light work (which never asks) is charged at the next call.
  const auto until = b.admit(Work::busy, 1s, t0 + 1ms);
  REQUIRE(until);
  CHECK(b.balance() == -Budget::kBurst);
  // (20 + 2) ms at 10 % of one CPU: 220 ms.
  CHECK(*until == t0 + 1ms + 220ms);
}

TEST_CASE("budget: accepts wait only once the bucket is more than kBurst / 2 overdrawn") {
  Budget b(25);
  CHECK(b.admit(Work::accept, 0ns, t0) == std::nullopt);
  // Overdrawn by 5 ms: busy work waits, an accept still goes.
  CHECK(b.admit(Work::accept, 25ms, t0) == std::nullopt);
  CHECK(b.balance() == -5ms);
  CHECK(b.admit(Work::busy, 25ms, t0) != std::nullopt);
  // Overdrawn by 12 ms: the accept waits until the balance is back at -kBurst / 4 (-5 ms):
  // 7 / 0.25 = 28 ms.
  const auto until = b.admit(Work::accept, 32ms, t0);
  REQUIRE(until);
  CHECK(b.balance() == -12ms);
  CHECK(*until == t0 + 28ms);
  CHECK(b.admit(Work::accept, 32ms, *until) == std::nullopt);
  CHECK(b.balance() == -5ms);
}

TEST_CASE("budget: over a long flood the thread gets percent of the wall time") {
  // A thread that spends 50 us per busy request whenever admitted, 10 s of wall time at 20 %.
  Budget b(20);
  auto now = t0;
  std::chrono::nanoseconds cpu{0};
  const auto end = t0 + 10s;
  while (now < end) {
    if (const auto until = b.admit(Work::busy, cpu, now)) {
      now = *until;
    } else {
      cpu += 50us;
      now += 50us;  // the CPU time is wall time too
    }
  }
  // 20 % of 10 s, plus the first burst (20 ms) and one request at most; at least 20 % of 10 s,
  // as the last wait refills less than the first burst held.
  CHECK(cpu >= 2s);
  CHECK(cpu <= 2s + Budget::kBurst + 50us + 1ms);
}

TEST_CASE("budget: a clock going back charges and refills nothing") {
  Budget b(25);
  CHECK(b.admit(Work::busy, 10ms, t0) == std::nullopt);
  CHECK(b.admit(Work::busy, 5ms, t0 - 1s) == std::nullopt);
  CHECK(b.balance() == Budget::kBurst);
  // Counted from the values of the last call: 5 ms of CPU at the same instant.
  CHECK(b.admit(Work::busy, 10ms, t0 - 1s) == std::nullopt);
  CHECK(b.balance() == Budget::kBurst - 5ms);
}

TEST_CASE("budget: percent above 100 is one whole CPU") {
  Budget b(250);
  CHECK(b.admit(Work::busy, 0ns, t0) == std::nullopt);
  const auto until = b.admit(Work::busy, 25ms, t0);
  REQUIRE(until);
  CHECK(*until == t0 + 7ms);  // from -5 ms to +2 ms at one CPU
}
