#include "sys/exit_code.hpp"

#include <doctest/doctest.h>

#include <csignal>

TEST_CASE("exit codes: 0 clean, 1 startup error, 128+N for signal N") {
  using k8sinpod::sys::exit_code_for_signal;
  CHECK(k8sinpod::sys::kExitOk == 0);
  CHECK(k8sinpod::sys::kExitStartupError == 1);
  CHECK(exit_code_for_signal(SIGTERM) == 143);
  CHECK(exit_code_for_signal(SIGINT) == 130);
  CHECK(exit_code_for_signal(SIGHUP) == 129);
  CHECK(exit_code_for_signal(SIGKILL) == 137);
  static_assert(exit_code_for_signal(SIGTERM) == 143);
}
