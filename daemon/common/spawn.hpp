#pragma once
/// Completion handler for `co_spawn` (STYLE.md 3: never `detached` silently). Coroutines in this
/// project report failures as values; an exception escaping one is a bug, and it is printed to
/// stderr with the coroutine's name instead of vanishing.

#include <cstdio>
#include <exception>

namespace k8sinpod {

struct ReportEscaped {
  const char* what_coroutine;
  void operator()(const std::exception_ptr& e) const {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "k8sinpodd: bug: coroutine %s ended by exception: %s\n", what_coroutine,
                   ex.what());
    } catch (...) {
      std::fprintf(stderr, "k8sinpodd: bug: coroutine %s ended by unknown exception\n",
                   what_coroutine);
    }
  }
};

}  // namespace k8sinpod
