#pragma once
/// sd_notify(3) without libsystemd (conventions.md, "systemd"): each notification is one
/// datagram of `KEY=value` lines sent to the AF_UNIX socket named by $NOTIFY_SOCKET, either a
/// path (`/run/systemd/notify`) or an abstract name (`@name`: the `@` becomes a leading NUL and
/// the address is passed with its exact length, not sizeof(sockaddr_un)).
///
/// Messages sent by the helpers (no trailing newline):
///   ready(s)     READY=1\nSTATUS=<s>           (just READY=1 when s is empty)
///   reloading()  RELOADING=1\nMONOTONIC_USEC=<CLOCK_MONOTONIC in us>   (systemd >= 253 reads the
///                timestamp for Type=notify-reload; 252 ignores it)
///   stopping()   STOPPING=1
///   status(s)    STATUS=<s>
///   watchdog()   WATCHDOG=1
/// A STATUS text is one line: '\n' and '\r' in it become spaces.
///
/// Errors are values: `sd_notify: "/run/x": connect: No such file or directory`. No function
/// throws. Without $NOTIFY_SOCKET (not under systemd) every call is a successful no-op.
///
/// Each send opens a SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK socket, sends once and closes it, as
/// libsystemd does; non-blocking so that a receiver that stopped reading can never stall the
/// event loop (the send fails with EAGAIN instead). Not thread-safe per object (it has no mutable
/// state, but from_env() touches the environment); use it from the event loop.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace k8sinpod::sys {

/// The socket address bytes (the content of sun_path, exactly as long as the address) for a
/// $NOTIFY_SOCKET value: `/abs/path` -> itself (at most 107 bytes, so it fits with its NUL),
/// `@name` -> "\0name" (name non-empty, at most 107 bytes). nullopt for anything else: empty,
/// relative paths, a bare `@`, embedded NULs, too long, `vsock:` addresses (systemd >= 253 only).
/// Pure.
std::optional<std::string> notify_address(std::string_view notify_socket_env);

/// `STATUS=<text>` with line breaks in text replaced by spaces. Pure.
std::string status_message(std::string_view text);
/// `READY=1`, plus `\nSTATUS=<text>` when text is not empty. Pure.
std::string ready_message(std::string_view status);
/// `RELOADING=1\nMONOTONIC_USEC=<monotonic>`. Pure.
std::string reloading_message(std::chrono::microseconds monotonic);

class Notifier {
 public:
  /// From $NOTIFY_SOCKET, which it then unsets so that no child inherits it (kind, docker, ...).
  /// Disabled when the variable is unset or empty. Call once at startup, before threads start.
  static Notifier from_env();

  /// `notify_socket` as $NOTIFY_SOCKET would hold it (`/path` or `@name`); nullopt or "" gives a
  /// disabled notifier. An invalid value gives an enabled notifier whose sends all fail with an
  /// Error that names the value (so the problem shows up in the log instead of vanishing).
  explicit Notifier(std::optional<std::string> notify_socket);

  /// True when $NOTIFY_SOCKET was set (not empty).
  bool enabled() const { return socket_.has_value(); }

  /// Sends `message` as one datagram. Ok without sending when disabled.
  Result<void> send(std::string_view message) const;

  Result<void> ready(std::string_view status) const;
  /// Reads CLOCK_MONOTONIC for MONOTONIC_USEC.
  Result<void> reloading() const;
  Result<void> stopping() const;
  Result<void> status(std::string_view text) const;
  Result<void> watchdog() const;

 private:
  /// As given ($NOTIFY_SOCKET's text), for messages.
  std::optional<std::string> socket_;
  /// notify_address(*socket_); nullopt when disabled or invalid.
  std::optional<std::string> address_;
};

}  // namespace k8sinpod::sys
