#include "sys/notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "common/unique_fd.hpp"

namespace k8sinpod::sys {

namespace {

constexpr std::size_t kSunPathSize = sizeof(sockaddr_un{}.sun_path);

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r: returns the message, which may or may not be in buf.
  return ::strerror_r(err, buf, sizeof buf);
}

}  // namespace

std::optional<std::string> notify_address(std::string_view env) {
  if (env.find('\0') != std::string_view::npos) return std::nullopt;
  if (env.size() >= 2 && env.front() == '@') {
    // Abstract: the '@' becomes the leading NUL; sun_path is not NUL-terminated.
    if (env.size() > kSunPathSize) return std::nullopt;
    std::string address(env);
    address[0] = '\0';
    return address;
  }
  if (!env.empty() && env.front() == '/') {
    // A path needs room for its terminating NUL.
    if (env.size() >= kSunPathSize) return std::nullopt;
    return std::string(env);
  }
  return std::nullopt;
}

std::string status_message(std::string_view text) {
  std::string out = "STATUS=";
  out.reserve(out.size() + text.size());
  for (const char c : text) out += (c == '\n' || c == '\r') ? ' ' : c;
  return out;
}

std::string ready_message(std::string_view status) {
  std::string out = "READY=1";
  if (!status.empty()) {
    out += '\n';
    out += status_message(status);
  }
  return out;
}

std::string reloading_message(std::chrono::microseconds monotonic) {
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic.count());
}

Notifier Notifier::from_env() {
  const char* value = std::getenv("NOTIFY_SOCKET");
  std::optional<std::string> socket;
  if (value != nullptr) socket = std::string(value);
  ::unsetenv("NOTIFY_SOCKET");
  return Notifier(std::move(socket));
}

Notifier::Notifier(std::optional<std::string> notify_socket) {
  if (!notify_socket || notify_socket->empty()) return;
  address_ = notify_address(*notify_socket);
  socket_ = std::move(notify_socket);
}

Result<void> Notifier::send(std::string_view message) const {
  if (!socket_) return {};
  const auto where = "sd_notify: \"" + *socket_ + "\": ";
  if (!address_) {
    return fail(where + "not an absolute path or an @abstract socket name");
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, address_->data(), address_->size());
  // Abstract names are exactly as long as they are; a path is passed with its NUL.
  const bool abstract = address_->front() == '\0';
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_->size() +
                                             (abstract ? 0 : 1));

  const UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return fail(where + "socket: " + errno_text(errno));
  // sendto on an unconnected datagram socket; MSG_NOSIGNAL for good measure (no SIGPIPE).
  const auto sent = ::sendto(fd.get(), message.data(), message.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&sa), length);
  if (sent < 0) return fail(where + "send: " + errno_text(errno));
  if (static_cast<std::size_t>(sent) != message.size()) {
    return fail(where + "send: short datagram (" + std::to_string(sent) + " of " +
                std::to_string(message.size()) + " bytes)");
  }
  return {};
}

Result<void> Notifier::ready(std::string_view status) const { return send(ready_message(status)); }

Result<void> Notifier::reloading() const {
  if (!socket_) return {};
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto usec =
      std::chrono::seconds(ts.tv_sec) +
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::nanoseconds(ts.tv_nsec));
  return send(reloading_message(usec));
}

Result<void> Notifier::stopping() const { return send("STOPPING=1"); }

Result<void> Notifier::status(std::string_view text) const { return send(status_message(text)); }

Result<void> Notifier::watchdog() const { return send("WATCHDOG=1"); }

}  // namespace k8sinpod::sys
