// The API server probe against the real stand-in API server (test/fakes/apiserver) on loopback:
// real TLS with a CA, a serving certificate for 127.0.0.1 and client-certificate authentication,
// keys made by the openssl CLI as kubeadm would. Checks that the connection is kept alive between
// probes, and that every way the server can fail still fails a probe, once and on time.
#include "probe/prober.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using k8sinpod::probe::Outcome;
using k8sinpod::probe::Prober;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void sh(const std::string& cmd) { REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd); }

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  socklen_t len = sizeof sa;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
  ::close(fd);
  return ntohs(sa.sin_port);
}

bool accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

/// A CA, a client certificate it signed (kubeadm's admin identity) and a running fake API server
/// whose serving certificate that CA issued at its start.
class World {
 public:
  World()
      : dir_(fs::temp_directory_path() /
             ("k8sinpod-prober-" + std::to_string(::getpid()) + "-" + std::to_string(++count_))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "pki");
    fs::create_directories(dir_ / "run");
    const std::string d = dir_.string();
    sh("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=kubernetes " +
       "-keyout pki/ca.key -out pki/ca.crt >/dev/null 2>&1");
    sh("cd " + d + " && openssl req -newkey rsa:2048 -nodes " +
       "-subj /O=system:masters/CN=kubernetes-admin -keyout client.key -out client.csr " +
       ">/dev/null 2>&1 && openssl x509 -req -in client.csr -CA pki/ca.crt -CAkey pki/ca.key " +
       "-CAcreateserial -days 1 -out client.crt >/dev/null 2>&1");
    port_ = free_port();
    start();
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;
  ~World() {
    stop();
    fs::remove_all(dir_);
  }

  std::uint16_t port() const { return port_; }
  std::string ca() const { return slurp(dir_ / "pki/ca.crt"); }
  std::string cert() const { return slurp(dir_ / "client.crt"); }
  std::string key() const { return slurp(dir_ / "client.key"); }

  void start() {
    const std::string pki = "FAKE_APISERVER_PKI_DIR=" + (dir_ / "pki").string();
    const std::string run = "FAKE_APISERVER_RUN_DIR=" + (dir_ / "run").string();
    const std::string port = "FAKE_APISERVER_PORT=" + std::to_string(port_);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      char* argv[] = {const_cast<char*>(FAKE_APISERVER_BIN), nullptr};
      char* envp[] = {const_cast<char*>(pki.c_str()), const_cast<char*>(run.c_str()),
                      const_cast<char*>(port.c_str()), nullptr};
      ::execve(FAKE_APISERVER_BIN, argv, envp);
      ::_exit(127);
    }
    for (int i = 0; i < 100 && !accepts(port_); ++i) std::this_thread::sleep_for(50ms);
    REQUIRE_MESSAGE(accepts(port_), "the fake API server does not listen");
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  /// Switches the server's mode (healthy, fail, hang, refuse); it polls the file every 100 ms.
  void mode(const std::string& m) {
    std::ofstream(dir_ / "run/mode") << m << "\n";
    std::this_thread::sleep_for(400ms);
  }

 private:
  fs::path dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  static inline int count_ = 0;
};

Outcome probe(Prober& p, asio::io_context& io, std::uint16_t port,
              std::chrono::milliseconds timeout = 2000ms) {
  std::optional<Outcome> out;
  asio::co_spawn(io, p.readyz("127.0.0.1", port, timeout), [&](std::exception_ptr e, Outcome o) {
    REQUIRE_FALSE(e);
    out = std::move(o);
  });
  io.restart();
  io.run();
  REQUIRE(out.has_value());
  return *out;
}

struct Fixture {
  World world;
  asio::io_context io;
  Prober prober{io.get_executor()};
  Fixture() { REQUIRE(prober.set_credentials(world.ca(), world.cert(), world.key()).has_value()); }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "probes of a healthy server share one kept-alive connection") {
  for (int i = 0; i < 5; ++i) {
    const auto o = probe(prober, io, world.port());
    CHECK_MESSAGE(o.ok, o.error);
  }
  CHECK(prober.connections_opened() == 1);
}

TEST_CASE_FIXTURE(Fixture, "a server restart between probes costs a reconnect, not a failure") {
  REQUIRE(probe(prober, io, world.port()).ok);
  world.stop();
  world.start();
  const auto o = probe(prober, io, world.port());
  CHECK_MESSAGE(o.ok, o.error);
  CHECK(prober.connections_opened() == 2);
}

TEST_CASE_FIXTURE(Fixture, "a failing answer fails the probe and drops the connection") {
  REQUIRE(probe(prober, io, world.port()).ok);
  world.mode("fail");
  const auto failed = probe(prober, io, world.port());
  CHECK_FALSE(failed.ok);
  CHECK_FALSE(failed.refused);
  CHECK(failed.error.find("/readyz: 500") != std::string::npos);
  world.mode("healthy");
  CHECK(probe(prober, io, world.port()).ok);
  CHECK(prober.connections_opened() == 2);
}

TEST_CASE_FIXTURE(Fixture, "a hanging server fails the probe once, after the timeout") {
  REQUIRE(probe(prober, io, world.port()).ok);
  world.mode("hang");
  const auto o = probe(prober, io, world.port(), 600ms);
  CHECK_FALSE(o.ok);
  CHECK(o.error.find("read") != std::string::npos);
  CHECK(o.took >= 550ms);
  CHECK(o.took < 1100ms);  // not retried on a new connection
  CHECK(prober.connections_opened() == 1);
}

TEST_CASE_FIXTURE(Fixture, "a refusing server fails the probe with the connect error") {
  REQUIRE(probe(prober, io, world.port()).ok);
  world.mode("refuse");
  const auto o = probe(prober, io, world.port());
  CHECK_FALSE(o.ok);
  CHECK(o.error.find("connect: Connection refused") != std::string::npos);
  CHECK(o.refused);
  CHECK(prober.connections_opened() == 2);  // the kept one was closed, a new one was refused
}

namespace {
bool refuses(Prober& p, asio::io_context& io, std::string ip, std::uint16_t port) {
  std::optional<bool> out;
  asio::co_spawn(io, p.refuses(std::move(ip), port, 2000ms), [&](std::exception_ptr e, bool r) {
    REQUIRE_FALSE(e);
    out = r;
  });
  io.restart();
  io.run();
  REQUIRE(out.has_value());
  return *out;
}
}  // namespace

TEST_CASE_FIXTURE(Fixture, "a bare connect tells a refusing port from one that accepts") {
  CHECK_FALSE(refuses(prober, io, "127.0.0.1", world.port()));
  world.mode("hang");  // accepts, never answers: not refused
  CHECK_FALSE(refuses(prober, io, "127.0.0.1", world.port()));
  world.mode("refuse");
  CHECK(refuses(prober, io, "127.0.0.1", world.port()));
  CHECK_FALSE(refuses(prober, io, "not-an-ip", world.port()));
  CHECK(prober.connections_opened() == 0);  // bare connects are not probe connections
}

TEST_CASE_FIXTURE(Fixture, "new credentials are never used on an old connection") {
  REQUIRE(probe(prober, io, world.port()).ok);
  REQUIRE(prober.set_credentials(world.ca(), world.cert(), world.key()).has_value());
  CHECK(probe(prober, io, world.port()).ok);
  CHECK(prober.connections_opened() == 2);
}

TEST_CASE_FIXTURE(Fixture, "a server that does not trust our certificate fails the handshake") {
  World other;  // another CA: neither side trusts the other
  REQUIRE(prober.set_credentials(other.ca(), other.cert(), other.key()).has_value());
  const auto o = probe(prober, io, world.port());
  CHECK_FALSE(o.ok);
  CHECK_FALSE(o.refused);
  CHECK(o.error.find("tls handshake") != std::string::npos);
}
