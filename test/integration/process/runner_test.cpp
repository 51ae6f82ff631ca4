// Real child processes through Runner + Reaper: exit statuses, pipes, deadlines, environment,
// inherited state. No sockets; each test has its own io_context and a run_for deadline.
#include "process/runner.hpp"

#include <doctest/doctest.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>

using namespace k8sinpod;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

struct Fixture {
  asio::io_context io{1};
  process::Reaper reaper{io.get_executor()};
  process::Runner runner{io.get_executor(), reaper};
  Fixture() { reaper.start(); }

  // Runs `argv` to completion (or the test deadline) and returns the result.
  Result<process::Outcome> run(std::vector<std::string> argv, std::vector<std::string>* lines,
                               std::chrono::milliseconds timeout = 10s,
                               std::vector<std::string> env = process::child_environment({})) {
    std::optional<Result<process::Outcome>> out;
    process::Spec spec;
    spec.argv = std::move(argv);
    spec.env = std::move(env);
    spec.timeout = timeout;
    spec.kill_grace = 300ms;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          out = co_await runner.run(spec, [lines](std::string_view l) {
            if (lines) lines->emplace_back(l);
          });
          io.stop();
        },
        asio::detached);
    io.restart();
    io.run_for(20s);
    REQUIRE(out.has_value());
    return std::move(*out);
  }
};

std::string sh() {
  auto p = process::find_executable("sh", "/usr/bin:/bin");
  REQUIRE(p.has_value());
  return *p;
}

}  // namespace

TEST_CASE("exit code, stdout and stderr lines reach the caller") {
  Fixture f;
  std::vector<std::string> lines;
  auto r = f.run({sh(), "-c", "echo out1; echo err1 >&2; printf 'err2' >&2; exit 3"}, &lines);
  REQUIRE(r.has_value());
  CHECK(r->exit_code == 3);
  CHECK(r->signal == 0);
  CHECK_FALSE(r->timed_out);
  CHECK_FALSE(r->success());
  CHECK(r->stdout_text == "out1\n");
  CHECK(lines == std::vector<std::string>{"err1", "err2"});
}

TEST_CASE("a missing executable is an error value, not a crash") {
  Fixture f;
  auto r = f.run({"/nonexistent/kind", "version"}, nullptr);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("exec \"/nonexistent/kind\"") != std::string::npos);
  CHECK(r.error().message.find("No such file") != std::string::npos);
}

TEST_CASE("past the deadline the whole process group is killed, grandchildren included") {
  Fixture f;
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);  // orphans come back to this test's reaper
  // The child ignores SIGTERM, so only the SIGKILL after the grace period ends it; its
  // background grandchild must die with the group.
  auto r = f.run({sh(), "-c", "trap '' TERM; sleep 60 & echo $!; wait"}, nullptr, 300ms);
  REQUIRE(r.has_value());
  CHECK(r->timed_out);
  CHECK(r->signal == SIGKILL);
  const pid_t grandchild = std::atoi(r->stdout_text.c_str());
  REQUIRE(grandchild > 0);
  // Let the reaper collect the orphaned grandchild, then it must be gone entirely.
  for (int i = 0; i < 100 && ::kill(grandchild, 0) == 0; ++i) {
    f.io.restart();
    f.io.run_for(20ms);
    f.reaper.reap();
  }
  CHECK(::kill(grandchild, 0) == -1);
  CHECK(f.reaper.orphans_reaped() >= 1);
}

TEST_CASE("children get a clean slate: no NOTIFY_SOCKET, no blocked or ignored signals, no fds") {
  Fixture f;
  ::setenv("NOTIFY_SOCKET", "@k8sinpod-test", 1);
  std::signal(SIGUSR1, SIG_IGN);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  sigprocmask(SIG_BLOCK, &block, nullptr);
  auto env = process::child_environment({"DOCKER_HOST=unix:///tmp/x.sock"});
  auto r = f.run({sh(), "-c",
                  "echo notify=${NOTIFY_SOCKET:-unset}; echo docker=$DOCKER_HOST; "
                  "grep -E '^Sig(Blk|Ign)' /proc/self/status; ls /proc/self/fd | wc -l"},
                 nullptr, 10s, env);
  std::signal(SIGUSR1, SIG_DFL);
  sigprocmask(SIG_UNBLOCK, &block, nullptr);
  ::unsetenv("NOTIFY_SOCKET");
  REQUIRE(r.has_value());
  std::istringstream in(r->stdout_text);
  std::string notify, docker, blk, ign, nfds;
  std::getline(in, notify);
  std::getline(in, docker);
  std::getline(in, blk);
  std::getline(in, ign);
  std::getline(in, nfds);
  CHECK(notify == "notify=unset");
  CHECK(docker == "docker=unix:///tmp/x.sock");
  CHECK(blk == "SigBlk:\t0000000000000000");
  CHECK(ign == "SigIgn:\t0000000000000000");
  // grep's 0,1,2 plus the directory fd `ls` opens: exactly 4 entries, nothing inherited.
  CHECK(std::atoi(nfds.c_str()) == 4);
}

TEST_CASE("many concurrent children each get their own exit status") {
  Fixture f;
  constexpr int kN = 60;
  std::map<int, int> got;
  for (int i = 0; i < kN; ++i) {
    asio::co_spawn(
        f.io,
        [&f, &got, i]() -> asio::awaitable<void> {
          process::Spec spec;
          spec.argv = {sh(), "-c", "exit " + std::to_string(i % 7)};
          spec.env = process::child_environment({});
          auto r = co_await f.runner.run(spec, nullptr);
          got[i] = r ? r->exit_code : -100;
          if (got.size() == kN) f.io.stop();
        },
        asio::detached);
  }
  f.io.run_for(30s);
  REQUIRE(got.size() == kN);
  for (int i = 0; i < kN; ++i) CHECK_MESSAGE(got[i] == i % 7, "child " << i);
  CHECK(f.runner.running() == 0);
  CHECK(f.reaper.pending() == 0);
}

TEST_CASE("find_executable resolves names on PATH and rejects what it cannot run") {
  auto p = process::find_executable("sh", "/nonexistent:/usr/bin:/bin");
  REQUIRE(p.has_value());
  CHECK(p->front() == '/');
  auto missing = process::find_executable("no-such-tool-k8sinpod", "/usr/bin:/bin");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message == "\"no-such-tool-k8sinpod\" not found on PATH");
  char path[] = "/tmp/k8sinpod-notexec-XXXXXX";
  const int fd = ::mkstemp(path);  // mode 0600: not executable
  REQUIRE(fd >= 0);
  ::close(fd);
  auto notexec = process::find_executable(path, "");
  ::unlink(path);
  REQUIRE_FALSE(notexec.has_value());
  CHECK(notexec.error().message == "\"" + std::string(path) + "\" is not an executable file");
}
