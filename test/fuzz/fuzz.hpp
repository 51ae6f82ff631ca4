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

// Well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
inline bool is_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned lo = 0x80;
    unsigned hi = 0xbf;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? lo : 0x80U) || b > (k == 1 ? hi : 0xbfU)) return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace k8sinpod::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
