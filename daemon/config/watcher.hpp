#pragma once
/// Tells the reload path when the config file may have changed, ConfigMap-safe
/// (conventions.md "Config reload").
///
/// It watches the DIRECTORY that holds `config_path` with inotify, never the file: a Kubernetes
/// ConfigMap volume replaces its content by renaming a `..data_tmp` symlink over `..data`
/// (`config.yaml -> ..data/config.yaml` itself never changes), so a watch on the file would miss
/// the update and end with IN_DELETE_SELF. Events that count:
///   - any event on the file's own name (in-place write, editor temp + rename, delete, chmod);
///   - any event on `..data` (kubelet's atomic writer swap);
///   - any event on the first component of the file's relative symlink target (for
///     `config.yaml -> current/config.yaml`, a swap of `current`), read at start() and again
///     after each event on the file's name;
///   - IN_Q_OVERFLOW (events were lost: assume a change), and the end of the watch (the
///     directory deleted, moved or unmounted).
/// Other names in the directory (temp files, other ConfigMap keys, the timestamped
/// `..2026_...` directories) are ignored. `on_change` runs once, `debounce` after the last event
/// that counts; a burst of events gives one call. It is only a hint: the caller re-reads through
/// `config_path` and skips the reload when `content_hash` is unchanged.
///
/// Limits: a `subPath` mount never changes (kubelet does not update it); a symlink to a file in
/// another directory is followed only for its first component in this directory; SIGHUP is the
/// way to force a reload in those cases.
///
/// Executor affinity: construct, start(), stop(), watching() and the destructor on the
/// executor's thread (or while it is not running). `on_change` is invoked on the executor and
/// must not throw. It may call stop() or destroy the Watcher. Nothing here throws.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/error.hpp"

namespace k8sinpod::config {

class Watcher {
 public:
  Watcher(const boost::asio::any_io_executor& executor, std::string config_path,
          std::chrono::milliseconds debounce, std::function<void()> on_change);
  /// stop()s.
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  /// Creates the inotify instance (IN_NONBLOCK | IN_CLOEXEC) and the directory watch. Errors:
  /// `config watch: "/etc/k8sinpod": No such file or directory` (also: not a directory,
  /// permission, inotify limits such as fs.inotify.max_user_instances), `config watch: already
  /// started`, `config watch: stopped; make a new Watcher`.
  Result<void> start();

  /// Closes the watch and cancels a pending `on_change`; the executor then runs out of this
  /// watcher's work. Idempotent.
  void stop();

  /// True from a successful start() until stop(), or until the watch ended by itself (directory
  /// removed, moved away or unmounted; a read error). Then `failure()` says why, and on_change
  /// has been called once more so the reload path notices.
  bool watching() const;
  /// Why the watch ended by itself, e.g. `config watch: "/etc/k8sinpod": the directory was
  /// removed or unmounted`; empty otherwise.
  std::string failure() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace k8sinpod::config
