#pragma once
/// Shared by the libFuzzer targets in test/fuzz/ (docs/fuzzing.md). A target is one
/// `LLVMFuzzerTestOneInput`: it calls pure functions of one module on the input and checks the
/// properties their headers promise with `require`. A crash, a sanitizer report, an exception
/// escaping (libFuzzer aborts on it) or a failed `require` is a finding; libFuzzer writes the
/// input to its artifact path.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace k8sinpod::fuzz {

/// The input as text. Every function under test takes arbitrary bytes: no UTF-8 or NUL rules.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): bytes as chars, same size
  return {reinterpret_cast<const char*>(data), size};
}

/// Aborts with `what` when a promised property does not hold, so libFuzzer keeps the input.
inline void require(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz: property violated: %s\n", what);
  std::abort();
}

}  // namespace k8sinpod::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
