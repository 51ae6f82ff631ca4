// sd_notify against real listening AF_UNIX datagram sockets, a path and an abstract name, as
// systemd's would be: the test receives the exact datagram bytes.
#include "sys/notify.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

namespace {

using k8sinpod::sys::Notifier;

long long monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

std::string random_suffix() {
  std::random_device rd;
  return std::to_string(::getpid()) + "-" + std::to_string(rd());
}

/// A bound SOCK_DGRAM socket, like systemd's notify socket. `name` is what NOTIFY_SOCKET holds.
/// Bound with the exact address length, so an abstract name sent with sizeof(sockaddr_un)
/// (NUL-padded) would not reach it.
class Receiver {
 public:
  explicit Receiver(std::string notify_socket) : name_(std::move(notify_socket)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::string path = name_;
    const bool abstract = path.front() == '@';
    if (abstract) path[0] = '\0';
    REQUIRE(path.size() < sizeof sa.sun_path);
    std::memcpy(sa.sun_path, path.data(), path.size());
    const auto len =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
    REQUIRE_MESSAGE(::bind(fd_, reinterpret_cast<const sockaddr*>(&sa), len) == 0,
                    std::strerror(errno));
    timeval tv{5, 0};  // a missing datagram fails the test instead of hanging it
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;
  ~Receiver() { ::close(fd_); }

  const std::string& name() const { return name_; }

  /// The next datagram's exact bytes, or "<timeout>".
  std::string receive() {
    char buf[4096];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return "<timeout>";
    return std::string(buf, static_cast<std::size_t>(n));
  }

  /// True if no datagram is waiting.
  bool empty() {
    char c;
    return ::recv(fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
  }

 private:
  std::string name_;
  int fd_ = -1;
};

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "k8sinpod-notify.XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::size_t open_fds() {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

/// Every helper sends exactly its documented datagram.
void check_protocol(Receiver& rx) {
  const Notifier n(rx.name());
  CHECK(n.enabled());

  REQUIRE(n.ready("ready: cluster \"ci\"").has_value());
  CHECK(rx.receive() == "READY=1\nSTATUS=ready: cluster \"ci\"");

  REQUIRE(n.ready("").has_value());
  CHECK(rx.receive() == "READY=1");

  REQUIRE(n.status("phase creating").has_value());
  CHECK(rx.receive() == "STATUS=phase creating");

  const auto before = monotonic_usec();
  REQUIRE(n.reloading().has_value());
  const auto after = monotonic_usec();
  const auto reloading = rx.receive();
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  REQUIRE(reloading.rfind(prefix, 0) == 0);
  const auto digits = reloading.substr(prefix.size());
  REQUIRE(!digits.empty());
  CHECK(digits.find_first_not_of("0123456789") == std::string::npos);
  const auto stamp = std::stoll(digits);
  CHECK(stamp >= before);
  CHECK(stamp <= after);

  REQUIRE(n.stopping().has_value());
  CHECK(rx.receive() == "STOPPING=1");

  REQUIRE(n.watchdog().has_value());
  CHECK(rx.receive() == "WATCHDOG=1");

  REQUIRE(n.send("ERRNO=5\nSTATUS=x").has_value());
  CHECK(rx.receive() == "ERRNO=5\nSTATUS=x");

  CHECK(rx.empty());
}

}  // namespace

TEST_CASE("a path socket receives the exact messages") {
  TempDir dir;
  Receiver rx((dir.path / "notify").string());
  check_protocol(rx);
}

TEST_CASE("an abstract @socket receives the exact messages (exact address length)") {
  Receiver rx("@k8sinpod-test-" + random_suffix());
  check_protocol(rx);
}

TEST_CASE("from_env reads NOTIFY_SOCKET and unsets it, so that children do not inherit it") {
  Receiver rx("@k8sinpod-test-" + random_suffix());
  REQUIRE(::setenv("NOTIFY_SOCKET", rx.name().c_str(), 1) == 0);
  const auto n = Notifier::from_env();
  CHECK(std::getenv("NOTIFY_SOCKET") == nullptr);
  CHECK(n.enabled());
  REQUIRE(n.ready("up").has_value());
  CHECK(rx.receive() == "READY=1\nSTATUS=up");
}

TEST_CASE("from_env without NOTIFY_SOCKET is disabled: a successful no-op") {
  ::unsetenv("NOTIFY_SOCKET");
  const auto n = Notifier::from_env();
  CHECK_FALSE(n.enabled());
  CHECK(n.ready("up").has_value());
  CHECK(n.watchdog().has_value());
}

TEST_CASE("a socket path that does not exist is an error value naming it") {
  TempDir dir;
  const auto path = (dir.path / "absent").string();
  const Notifier n(path);
  const auto r = n.ready("");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "sd_notify: \"" + path + "\": send: No such file or directory");
}

TEST_CASE("an abstract name nobody listens on is an error value") {
  const auto name = "@k8sinpod-test-absent-" + random_suffix();
  const Notifier n(name);
  const auto r = n.watchdog();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "sd_notify: \"" + name + "\": send: Connection refused");
}

TEST_CASE("a receiver that stopped reading makes sends fail, never block") {
  Receiver rx("@k8sinpod-test-full-" + random_suffix());
  const Notifier n(rx.name());
  // The receive queue holds net.unix.max_dgram_qlen datagrams (default 512); fill it.
  bool failed = false;
  for (int i = 0; i < 100000 && !failed; ++i) failed = !n.watchdog().has_value();
  CHECK(failed);
  const auto r = n.watchdog();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("Resource temporarily unavailable") != std::string::npos);
}

TEST_CASE("sends leave no descriptor behind") {
  Receiver rx("@k8sinpod-test-fds-" + random_suffix());
  const Notifier n(rx.name());
  const auto before = open_fds();
  for (int i = 0; i < 50; ++i) {
    REQUIRE(n.watchdog().has_value());
    CHECK(rx.receive() == "WATCHDOG=1");
  }
  CHECK(open_fds() == before);
}
