#include "process/runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/unique_fd.hpp"

extern char** environ;  // NOLINT: POSIX global

namespace k8sinpod::process {

namespace asio = boost::asio;
using asio::use_awaitable;
constexpr auto kNoThrow = asio::as_tuple(use_awaitable);

Result<std::string> find_executable(std::string_view name, std::string_view path_env) {
  if (name.empty()) return fail("tool name is empty");
  auto executable = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string_view::npos) {
    std::string p(name);
    if (executable(p)) return p;
    return fail("\"" + p + "\" is not an executable file");
  }
  std::size_t start = 0;
  while (start <= path_env.size()) {
    auto end = path_env.find(':', start);
    if (end == std::string_view::npos) end = path_env.size();
    std::string dir(path_env.substr(start, end - start));
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + std::string(name);
    if (executable(candidate)) return candidate;
    start = end + 1;
  }
  return fail("\"" + std::string(name) + "\" not found on PATH");
}

std::vector<std::string> child_environment(const std::vector<std::string>& overrides) {
  auto key_of = [](std::string_view kv) { return kv.substr(0, kv.find('=')); };
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    const auto key = key_of(kv);
    if (key == "NOTIFY_SOCKET" || key == "WATCHDOG_USEC" || key == "WATCHDOG_PID") continue;
    bool overridden = false;
    for (const auto& o : overrides) overridden = overridden || key_of(o) == key;
    if (!overridden) env.emplace_back(kv);
  }
  env.insert(env.end(), overrides.begin(), overrides.end());
  return env;
}

namespace {

// State shared between the run() coroutine, its pipe readers, the deadline and the reaper
// callback. `wake` is a timer used as a condition variable: every change cancels it.
struct RunState {
  explicit RunState(const asio::any_io_executor& ex)
      : wake(ex), deadline(ex), out_pipe(ex), err_pipe(ex) {}
  asio::steady_timer wake;
  asio::steady_timer deadline;
  asio::posix::stream_descriptor out_pipe;
  asio::posix::stream_descriptor err_pipe;
  bool exited = false;
  int status = 0;
  int open_pipes = 2;
  bool timed_out = false;
  std::string out;
  bool out_truncated = false;
  void notify() { wake.cancel(); }
};

asio::awaitable<void> read_stdout(std::shared_ptr<RunState> st) {
  std::array<char, 8192> buf{};
  for (;;) {
    auto [ec, n] = co_await st->out_pipe.async_read_some(asio::buffer(buf), kNoThrow);
    if (ec) break;
    const std::size_t room = Runner::kMaxStdout - std::min(Runner::kMaxStdout, st->out.size());
    st->out.append(buf.data(), std::min(n, room));
    if (n > room) st->out_truncated = true;
  }
  --st->open_pipes;
  st->notify();
}

asio::awaitable<void> read_lines(std::shared_ptr<RunState> st, Runner::LineFn on_line) {
  std::array<char, 4096> buf{};
  std::string pending;
  constexpr std::size_t kMaxLine = 16384;
  for (;;) {
    auto [ec, n] = co_await st->err_pipe.async_read_some(asio::buffer(buf), kNoThrow);
    if (ec) break;
    pending.append(buf.data(), n);
    std::size_t pos = 0;
    for (auto nl = pending.find('\n', pos); nl != std::string::npos; nl = pending.find('\n', pos)) {
      if (on_line) on_line(std::string_view(pending).substr(pos, nl - pos));
      pos = nl + 1;
    }
    pending.erase(0, pos);
    if (pending.size() > kMaxLine) {  // a runaway line without newline: flush it in pieces
      if (on_line) on_line(pending);
      pending.clear();
    }
  }
  if (!pending.empty() && on_line) on_line(pending);
  --st->open_pipes;
  st->notify();
}

// In the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(char* const* argv, char* const* envp, int out_w, int err_w,
                             int report_w) {
  ::setpgid(0, 0);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;  // NOLINT: union member of the C API
  ::sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  const int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  ::dup2(out_w, 1);
  ::dup2(err_w, 2);
  // Nothing of ours but the pipes: close every descriptor from 3 on, except the CLOEXEC pipe
  // that reports an exec failure (exec closes it on success).
  if (report_w > 3) ::close_range(3, static_cast<unsigned>(report_w - 1), 0);
  ::close_range(static_cast<unsigned>(report_w + 1), ~0U, 0);
  ::execve(argv[0], argv, envp);
  const int err = errno;
  [[maybe_unused]] auto w = ::write(report_w, &err, sizeof err);
  ::_exit(127);
}

}  // namespace

Runner::Runner(asio::any_io_executor ex, Reaper& reaper) : ex_(std::move(ex)), reaper_(reaper) {}

asio::awaitable<Result<Outcome>> Runner::run(Spec spec, LineFn on_stderr_line) {
  if (spec.argv.empty()) co_return fail("process: empty argv");
  std::vector<char*> argv;
  for (auto& a : spec.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : spec.env) envp.push_back(e.data());
  envp.push_back(nullptr);

  std::array<int, 2> out{-1, -1};
  std::array<int, 2> err{-1, -1};
  std::array<int, 2> report{-1, -1};
  if (::pipe2(out.data(), O_CLOEXEC) != 0 || ::pipe2(err.data(), O_CLOEXEC) != 0 ||
      ::pipe2(report.data(), O_CLOEXEC) != 0) {
    const std::string why = std::strerror(errno);
    for (int fd : {out[0], out[1], err[0], err[1], report[0], report[1]}) {
      if (fd >= 0) ::close(fd);
    }
    co_return fail("process: pipe: " + why);
  }
  UniqueFd out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]), rep_r(report[0]),
      rep_w(report[1]);

  const auto started = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) co_return fail("process: fork: " + std::string(std::strerror(errno)));
  if (pid == 0) exec_child(argv.data(), envp.data(), out_w.get(), err_w.get(), rep_w.get());

  ::setpgid(pid, pid);  // also in the parent, so that killpg works even before the child runs
  out_w.reset();
  err_w.reset();
  rep_w.reset();

  auto st = std::make_shared<RunState>(ex_);
  reaper_.expect(pid, [st](int status) {
    st->exited = true;
    st->status = status;
    st->notify();
  });
  live_.insert(pid);

  // exec either succeeds (EOF, the pipe was CLOEXEC) or the child reports errno. The child is
  // between fork and exec, so this read is short.
  int exec_errno = 0;
  ssize_t got = 0;
  do {
    got = ::read(rep_r.get(), &exec_errno, sizeof exec_errno);
  } while (got < 0 && errno == EINTR);
  rep_r.reset();
  if (got == static_cast<ssize_t>(sizeof exec_errno)) {
    // The child _exit(127)s; the reaper collects it. Pipes close with it.
    while (!st->exited) {
      st->wake.expires_after(std::chrono::seconds(5));
      co_await st->wake.async_wait(kNoThrow);
      reaper_.reap();
    }
    live_.erase(pid);
    co_return fail("process: exec \"" + spec.argv[0] + "\": " + std::strerror(exec_errno));
  }

  st->out_pipe.assign(out_r.release());
  st->err_pipe.assign(err_r.release());
  // The readers only touch `st`; they end at EOF or when the pipes are closed below.
  asio::co_spawn(ex_, read_stdout(st), ReportEscaped{"process stdout reader"});
  asio::co_spawn(ex_, read_lines(st, std::move(on_stderr_line)),
                 ReportEscaped{"process stderr reader"});

  // Deadline: SIGTERM to the group, then SIGKILL after the grace period.
  st->deadline.expires_after(spec.timeout);
  auto deadline = [](std::shared_ptr<RunState> s, pid_t pgid,
                     std::chrono::milliseconds grace) -> asio::awaitable<void> {
    auto [ec] = co_await s->deadline.async_wait(kNoThrow);
    if (ec || s->exited) co_return;
    s->timed_out = true;
    ::kill(-pgid, SIGTERM);
    s->deadline.expires_after(grace);
    auto [ec2] = co_await s->deadline.async_wait(kNoThrow);
    if (ec2 || s->exited) co_return;
    ::kill(-pgid, SIGKILL);
  };
  asio::co_spawn(ex_, deadline(st, pid, spec.kill_grace), ReportEscaped{"process deadline"});

  // Wait for the exit status; then give the pipes a moment to drain. A grandchild that keeps
  // them open (a daemonized helper) does not hold us: we stop reading after the drain period.
  bool draining = false;
  while (!st->exited || st->open_pipes > 0) {
    if (st->exited && !draining) {
      draining = true;
      st->wake.expires_after(std::chrono::seconds(1));
    } else if (!st->exited) {
      st->wake.expires_at(asio::steady_timer::time_point::max());
    }
    auto [ec] = co_await st->wake.async_wait(kNoThrow);
    if (!ec && draining) break;  // drain period over
  }
  st->deadline.cancel();
  boost::system::error_code ignored;
  st->out_pipe.close(ignored);
  st->err_pipe.close(ignored);
  live_.erase(pid);

  Outcome o;
  o.timed_out = st->timed_out;
  if (WIFEXITED(st->status)) o.exit_code = WEXITSTATUS(st->status);
  if (WIFSIGNALED(st->status)) o.signal = WTERMSIG(st->status);
  o.stdout_text = std::move(st->out);
  o.stdout_truncated = st->out_truncated;
  o.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 started);
  co_return o;
}

void Runner::terminate_all() {
  for (pid_t pid : live_) ::kill(-pid, SIGTERM);
}

void Runner::kill_all() {
  for (pid_t pid : live_) ::kill(-pid, SIGKILL);
}

}  // namespace k8sinpod::process
