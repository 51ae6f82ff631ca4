// config::Watcher against a real inotify on a temp directory: a ConfigMap volume laid out and
// updated exactly as kubelet's atomic writer does it, editor saves, bursts, unrelated files,
// queue overflow, stop. Each test has its own directory and io_context; waits are run_for /
// run_one_until deadlines, never sleeps.
#include "config/watcher.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace k8sinpod;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "k8sinpod-watch-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  REQUIRE(out.good());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// A directory laid out like a ConfigMap volume with one key, config.yaml:
///   ..2026_11_25_07_28_11.000000001/config.yaml
///   ..data -> ..2026_11_25_07_28_11.000000001
///   config.yaml -> ..data/config.yaml
/// update() replaces the content the way kubelet's atomic writer does.
class ConfigMapVolume {
 public:
  ConfigMapVolume(const fs::path& dir, const std::string& content) : dir_(dir) {
    current_ = publish(content);
    fs::create_symlink(current_, dir_ / "..data");
    fs::create_symlink("..data/config.yaml", dir_ / "config.yaml");
  }

  /// New timestamped directory, `..data_tmp` -> it, rename over `..data`, old directory removed.
  void update(const std::string& content) {
    const std::string next = publish(content);
    fs::create_symlink(next, dir_ / "..data_tmp");
    fs::rename(dir_ / "..data_tmp", dir_ / "..data");
    fs::remove_all(dir_ / current_);
    current_ = next;
  }

  fs::path user_path() const { return dir_ / "config.yaml"; }
  const std::string& current() const { return current_; }

 private:
  std::string publish(const std::string& content) {
    ++version_;
    const std::string name = "..2026_11_25_07_28_1" + std::to_string(version_ % 10) + "." +
                             std::to_string(100000000 + version_);
    fs::create_directory(dir_ / name);
    write_file(dir_ / name / "config.yaml", content);
    return name;
  }

  fs::path dir_;
  std::string current_;
  int version_ = 0;
};

/// Records every on_change with its time and what the user's path held then.
struct Recorder {
  explicit Recorder(fs::path file) : path(std::move(file)) {}
  fs::path path;
  std::vector<Clock::time_point> times;
  std::vector<std::string> contents;
  std::function<void()> callback() {
    return [this] {
      times.push_back(Clock::now());
      contents.push_back(read_file(path));
    };
  }
  std::size_t count() const { return times.size(); }
};

/// Runs handlers until `done` or `deadline`; false on timeout (or when `io` runs out of work).
bool run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds deadline = 10s) {
  const auto end = Clock::now() + deadline;
  while (!done() && Clock::now() < end) {
    if (io.run_one_until(end) == 0 && io.stopped()) break;
  }
  return done();
}

constexpr auto kDebounce = 200ms;

}  // namespace

TEST_CASE("a ConfigMap update done the way kubelet does it fires once, after the debounce") {
  TempDir dir;
  ConfigMapVolume volume(dir.path(), "health:\n  interval: 5s\n");
  asio::io_context io;
  Recorder recorder(volume.user_path());
  config::Watcher watcher(io.get_executor(), volume.user_path().string(), kDebounce,
                          recorder.callback());
  REQUIRE(watcher.start().has_value());
  CHECK(watcher.watching());

  const std::string old_dir = volume.current();
  volume.update("health:\n  interval: 7s\n");
  const auto updated = Clock::now();
  CHECK_FALSE(fs::exists(dir.path() / old_dir));  // the watch is not on anything that went away

  REQUIRE(run_until(io, [&] { return recorder.count() == 1; }));
  CHECK(recorder.times[0] - updated >= kDebounce);
  CHECK(recorder.contents[0] == "health:\n  interval: 7s\n");  // re-read through config.yaml
  io.run_for(3 * kDebounce);
  CHECK(recorder.count() == 1);

  SUBCASE("and the next update, after the old directory is gone, fires again") {
    volume.update("health:\n  interval: 9s\n");
    REQUIRE(run_until(io, [&] { return recorder.count() == 2; }));
    CHECK(recorder.contents[1] == "health:\n  interval: 9s\n");
    io.run_for(3 * kDebounce);
    CHECK(recorder.count() == 2);
    CHECK(watcher.watching());
  }
}

TEST_CASE("a burst of 20 writes, each within the debounce of the last, fires once") {
  TempDir dir;
  const fs::path path = dir.path() / "k8sinpod.yaml";
  write_file(path, "log: {}\n");
  asio::io_context io;
  Recorder recorder(path);
  const auto debounce = 250ms;
  config::Watcher watcher(io.get_executor(), path.string(), debounce, recorder.callback());
  REQUIRE(watcher.start().has_value());

  // 20 in-place writes 25 ms apart: the burst (475 ms) is longer than the debounce, so only a
  // debounce counted from the LAST event gives a single call.
  asio::steady_timer pace(io);
  int written = 0;
  Clock::time_point last_write;
  std::function<void()> write_next = [&] {
    write_file(path, "log:\n  level: debug # " + std::to_string(written) + "\n");
    last_write = Clock::now();
    if (++written == 20) return;
    pace.expires_after(25ms);
    pace.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) write_next();
    });
  };
  write_next();

  REQUIRE(run_until(io, [&] { return recorder.count() == 1; }));
  CHECK(written == 20);
  CHECK(recorder.times[0] - last_write >= debounce);
  CHECK(recorder.contents[0] == "log:\n  level: debug # 19\n");
  io.run_for(3 * debounce);
  CHECK(recorder.count() == 1);
}

TEST_CASE("an editor's save (temp file, then rename over the file) fires") {
  TempDir dir;
  const fs::path path = dir.path() / "k8sinpod.yaml";
  write_file(path, "log: {}\n");
  asio::io_context io;
  Recorder recorder(path);
  config::Watcher watcher(io.get_executor(), path.string(), kDebounce, recorder.callback());
  REQUIRE(watcher.start().has_value());

  write_file(dir.path() / ".k8sinpod.yaml.swp", "log:\n  level: warn\n");
  fs::rename(dir.path() / ".k8sinpod.yaml.swp", path);

  REQUIRE(run_until(io, [&] { return recorder.count() == 1; }));
  CHECK(recorder.contents[0] == "log:\n  level: warn\n");
  io.run_for(3 * kDebounce);
  CHECK(recorder.count() == 1);
}

TEST_CASE("an in-place write fires") {
  TempDir dir;
  const fs::path path = dir.path() / "k8sinpod.yaml";
  write_file(path, "log: {}\n");
  asio::io_context io;
  Recorder recorder(path);
  config::Watcher watcher(io.get_executor(), path.string(), kDebounce, recorder.callback());
  REQUIRE(watcher.start().has_value());

  write_file(path, "log:\n  format: json\n");
  REQUIRE(run_until(io, [&] { return recorder.count() == 1; }));
  CHECK(recorder.contents[0] == "log:\n  format: json\n");
}

TEST_CASE("other names in the directory are ignored") {
  TempDir dir;
  ConfigMapVolume volume(dir.path(), "log: {}\n");
  asio::io_context io;
  Recorder recorder(volume.user_path());
  config::Watcher watcher(io.get_executor(), volume.user_path().string(), kDebounce,
                          recorder.callback());
  REQUIRE(watcher.start().has_value());

  write_file(dir.path() / "notes.txt", "x");
  write_file(dir.path() / ".k8sinpod.yaml.swp", "x");
  fs::remove(dir.path() / ".k8sinpod.yaml.swp");
  fs::create_directory(dir.path() / "..2027_01_01_00_00_00.000000001");
  fs::create_symlink("..data/other-key", dir.path() / "other-key");
  io.run_for(4 * kDebounce);
  CHECK(recorder.count() == 0);

  // Still watching: the real thing right after is seen.
  volume.update("log:\n  level: error\n");
  REQUIRE(run_until(io, [&] { return recorder.count() == 1; }));
  CHECK(recorder.contents[0] == "log:\n  level: error\n");
}

TEST_CASE("a swap of the symlink's first component fires (config.yaml -> current/config.yaml)") {
  TempDir dir;
  fs::create_directory(dir.path() / "v1");
  fs::create_directory(dir.path() / "v2");
  write_file(dir.path() / "v1" / "config.yaml", "log: {}\n");
  write_file(dir.path() / "v2" / "config.yaml", "log:\n  level: trace\n");
  fs::create_symlink("v1", dir.path() / "current");
  fs::create_symlink("current/config.yaml", dir.path() / "config.yaml");
  asio::io_context io;
  Recorder recorder(dir.path() / "config.yaml");
  config::Watcher watcher(io.get_executor(), (dir.path() / "config.yaml").string(), kDebounce,
                          recorder.callback());
  REQUIRE(watcher.start().has_value());

  fs::create_symlink("v2", dir.path() / "current.tmp");
  fs::rename(dir.path() / "current.tmp", dir.path() / "current");
  REQUIRE(run_until(io, [&] { return recorder.count() == 1; }));
  CHECK(recorder.contents[0] == "log:\n  level: trace\n");
}

TEST_CASE("a queue overflow (events lost) fires even though no event named the file") {
  std::ifstream limit_in("/proc/sys/fs/inotify/max_queued_events");
  long limit = 0;
  limit_in >> limit;
  REQUIRE(limit > 0);
  if (limit > 200'000) {
    MESSAGE("fs.inotify.max_queued_events is " << limit << ": too many events to overflow");
    return;
  }
  TempDir dir;
  const fs::path path = dir.path() / "k8sinpod.yaml";
  write_file(path, "log: {}\n");
  asio::io_context io;
  Recorder recorder(path);
  config::Watcher watcher(io.get_executor(), path.string(), kDebounce, recorder.callback());
  REQUIRE(watcher.start().has_value());

  // Each round queues IN_CREATE, IN_CLOSE_WRITE and IN_DELETE for an unrelated name; the
  // watcher does not read meanwhile (the io_context is not running), so the queue overflows.
  const std::string scratch = (dir.path() / "scratch-").string();
  for (long i = 0; i < limit / 3 + 100; ++i) {
    const std::string name = scratch + std::to_string(i);
    const int fd = ::open(name.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    ::close(fd);
    ::unlink(name.c_str());
  }
  REQUIRE(run_until(io, [&] { return recorder.count() == 1; }));
  io.run_for(3 * kDebounce);
  CHECK(recorder.count() == 1);
  CHECK(watcher.watching());
}

TEST_CASE("stop() cancels a pending on_change and the io_context runs out of work") {
  TempDir dir;
  ConfigMapVolume volume(dir.path(), "log: {}\n");
  asio::io_context io;
  Recorder recorder(volume.user_path());
  config::Watcher watcher(io.get_executor(), volume.user_path().string(), 5s, recorder.callback());
  REQUIRE(watcher.start().has_value());
  volume.update("log:\n  level: debug\n");
  io.run_for(300ms);  // the event is read and the 5 s debounce is armed
  CHECK_FALSE(io.stopped());
  REQUIRE(recorder.count() == 0);

  watcher.stop();
  CHECK_FALSE(watcher.watching());
  const auto stopped_at = Clock::now();
  io.run_for(10s);
  CHECK(io.stopped());  // out of work, not the deadline
  CHECK(Clock::now() - stopped_at < 4s);
  CHECK(recorder.count() == 0);
  watcher.stop();  // idempotent
  CHECK(watcher.start().error().message == "config watch: stopped; make a new Watcher");
}

TEST_CASE("on_change may stop and destroy its Watcher") {
  TempDir dir;
  const fs::path path = dir.path() / "k8sinpod.yaml";
  write_file(path, "log: {}\n");
  asio::io_context io;
  int calls = 0;
  std::unique_ptr<config::Watcher> watcher;
  watcher = std::make_unique<config::Watcher>(io.get_executor(), path.string(), kDebounce, [&] {
    ++calls;
    watcher.reset();
  });
  REQUIRE(watcher->start().has_value());
  write_file(path, "log:\n  level: warn\n");
  io.run_for(10s);
  CHECK(io.stopped());
  CHECK(calls == 1);
  CHECK(watcher == nullptr);
}

TEST_CASE("removing the directory ends the watch, fires, and says why") {
  TempDir dir;
  const fs::path sub = dir.path() / "conf";
  fs::create_directory(sub);
  write_file(sub / "k8sinpod.yaml", "log: {}\n");
  asio::io_context io;
  int calls = 0;
  config::Watcher watcher(io.get_executor(), (sub / "k8sinpod.yaml").string(), kDebounce,
                          [&] { ++calls; });
  REQUIRE(watcher.start().has_value());
  fs::remove_all(sub);
  REQUIRE(run_until(io, [&] { return calls == 1; }));
  CHECK_FALSE(watcher.watching());
  CHECK(watcher.failure() ==
        "config watch: \"" + sub.string() + "\": the directory was removed or unmounted");
  io.run_for(10s);
  CHECK(io.stopped());  // nothing left to wait for
  CHECK(calls == 1);
}

TEST_CASE("start() reports a missing directory and a second start as error values") {
  asio::io_context io;
  config::Watcher missing(io.get_executor(), "/nonexistent/k8sinpod/config.yaml", kDebounce, [] {});
  const auto r = missing.start();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "config watch: \"/nonexistent/k8sinpod\": No such file or directory");
  CHECK_FALSE(missing.watching());

  TempDir dir;
  config::Watcher twice(io.get_executor(), (dir.path() / "c.yaml").string(), kDebounce, [] {});
  REQUIRE(twice.start().has_value());
  CHECK(twice.start().error().message == "config watch: already started");
  twice.stop();
}
