#include "config/watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <utility>

namespace k8sinpod::config {
namespace {

namespace asio = boost::asio;

/// kubelet's atomic writer (pkg/volume/util/atomic_writer.go) points this symlink at the
/// current timestamped directory and swaps it by rename.
constexpr std::string_view kConfigMapData = "..data";

constexpr std::uint32_t kMask = IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE |
                                IN_MOVED_FROM | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                IN_ONLYDIR;

/// Room for many events; one read returns whole events only, and at least one must fit.
constexpr std::size_t kBufferSize = 16 * (sizeof(inotify_event) + NAME_MAX + 1);

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

/// The first component of `path`'s symlink target when it is relative ("..data" for
/// "..data/config.yaml"), or "".
std::string link_head(const std::string& path) {
  std::array<char, PATH_MAX> target{};
  const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
  if (n <= 0 || static_cast<std::size_t>(n) >= target.size()) return "";
  const std::string_view text(target.data(), static_cast<std::size_t>(n));
  if (text.front() == '/') return "";
  const std::string_view head = text.substr(0, text.find('/'));
  if (head == "." || head == "..") return "";
  return std::string(head);
}

}  // namespace

struct Watcher::State : std::enable_shared_from_this<Watcher::State> {
  enum class Phase { idle, running, stopped };

  State(const asio::any_io_executor& executor, std::string config_path,
        std::chrono::milliseconds delay, std::function<void()> callback)
      : path(std::move(config_path)),
        debounce(delay),
        on_change(std::move(callback)),
        stream(executor),
        timer(executor) {
    const std::filesystem::path p(path);
    directory = p.parent_path().empty() ? std::string(".") : p.parent_path().string();
    name = p.filename().string();
  }

  std::string path;
  std::string directory;
  std::string name;
  std::string target_head;
  std::chrono::milliseconds debounce;
  std::function<void()> on_change;
  asio::posix::stream_descriptor stream;
  asio::steady_timer timer;
  Phase phase = Phase::idle;
  bool watch_alive = false;
  std::uint64_t generation = 0;
  std::string failure;
  alignas(inotify_event) std::array<char, kBufferSize> buffer{};

  void read() {
    stream.async_read_some(asio::buffer(buffer),
                           [self = shared_from_this()](const boost::system::error_code& ec,
                                                       std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (phase != Phase::running) return;
    if (ec) {
      lose("config watch: " + quote(directory) + ": read: " + ec.message());
      return;
    }
    bool relevant = false;
    bool ended = false;
    std::size_t offset = 0;
    while (offset + sizeof(inotify_event) <= n) {
      inotify_event event{};
      std::memcpy(&event, buffer.data() + offset, sizeof event);
      const char* name_start = buffer.data() + offset + sizeof event;
      const std::string_view event_name(name_start, ::strnlen(name_start, event.len));
      offset += sizeof event + event.len;

      if ((event.mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF)) != 0) relevant = true;
      if ((event.mask & (IN_IGNORED | IN_UNMOUNT)) != 0) {
        relevant = true;
        ended = true;
      }
      if (event_name.empty()) continue;
      if (event_name == name) {
        relevant = true;
        target_head = link_head(path);  // the user's symlink may have been replaced
      } else if (event_name == kConfigMapData ||
                 (!target_head.empty() && event_name == target_head)) {
        relevant = true;
      }
    }
    if (ended) {
      lose("config watch: " + quote(directory) + ": the directory was removed or unmounted");
      return;
    }
    if (relevant) arm();
    read();
  }

  /// The watch is over without stop(): say why, and let the reload path look once more.
  void lose(std::string why) {
    failure = std::move(why);
    watch_alive = false;
    boost::system::error_code ignored;
    stream.close(ignored);
    arm();
  }

  /// (Re)starts the debounce. The generation makes a wait that completed just before a re-arm
  /// (its handler already queued) a no-op.
  void arm() {
    const std::uint64_t mine = ++generation;
    timer.expires_after(debounce);
    timer.async_wait([self = shared_from_this(), mine](const boost::system::error_code& ec) {
      if (ec || self->phase != Phase::running || mine != self->generation) return;
      self->on_change();
    });
  }
};

Watcher::Watcher(const boost::asio::any_io_executor& executor, std::string config_path,
                 std::chrono::milliseconds debounce, std::function<void()> on_change)
    : state_(std::make_shared<State>(executor, std::move(config_path), debounce,
                                     std::move(on_change))) {}

Watcher::~Watcher() { stop(); }

Result<void> Watcher::start() {
  State& s = *state_;
  if (s.phase == State::Phase::running) return fail("config watch: already started");
  if (s.phase == State::Phase::stopped) return fail("config watch: stopped; make a new Watcher");

  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    return fail("config watch: inotify_init1: " + std::generic_category().message(errno));
  }
  if (::inotify_add_watch(fd, s.directory.c_str(), kMask) < 0) {
    const int error_number = errno;
    ::close(fd);
    return fail("config watch: " + quote(s.directory) + ": " +
                std::generic_category().message(error_number));
  }
  boost::system::error_code ec;
  s.stream.assign(fd, ec);
  if (ec) {
    ::close(fd);
    return fail("config watch: " + quote(s.directory) + ": " + ec.message());
  }
  s.target_head = link_head(s.path);
  s.phase = State::Phase::running;
  s.watch_alive = true;
  s.read();
  return {};
}

void Watcher::stop() {
  State& s = *state_;
  if (s.phase == State::Phase::stopped) return;
  s.phase = State::Phase::stopped;
  s.watch_alive = false;
  s.timer.cancel();
  boost::system::error_code ignored;
  s.stream.close(ignored);  // closing the inotify fd removes the watch
}

bool Watcher::watching() const {
  return state_->phase == State::Phase::running && state_->watch_alive;
}

std::string Watcher::failure() const { return state_->failure; }

}  // namespace k8sinpod::config
