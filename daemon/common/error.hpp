#pragma once
/// The error value of the "after startup" regime (STYLE.md 3): environment failures are
/// returned, never thrown. `Error` is a human-readable message that already names the object
/// and the value, lower-case first: `docker: inspect "ci-control-plane": 404 no such container`.

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <stdexcept>
#include <string>
#include <utility>

namespace k8sinpod {

/// Made with `fail(message)`. Deliberately not constructible from a string, so that
/// `Result<std::string>` converts from a string value without ambiguity.
struct Error {
  Error() = default;
  std::string message;
  friend bool operator==(const Error&, const Error&) = default;
};

/// Found by ADL when `Result<T>::value()` is called on an error; prefer checking `has_value()`.
[[noreturn]] inline void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

template <class T>
using Result = boost::system::result<T, Error>;

/// Shorthand for returning an error: `return fail("docker: ...")`.
inline Error fail(std::string message) {
  Error e;
  e.message = std::move(message);
  return e;
}

}  // namespace k8sinpod
