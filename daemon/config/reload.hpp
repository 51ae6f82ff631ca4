#pragma once
/// What a configuration reload changes, decided without doing anything (STYLE.md 1). The reload
/// path (daemon/app) reads the file, skips it when `content_hash` is unchanged, parses it, and
/// acts on `diff(running, parsed)`. The category of every key is the "Applies" column of
/// docs/configuration.md; a unit test keeps the two in step. Pure; no exceptions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace k8sinpod::config {

/// How a change to one key takes effect.
enum class Applies {
  /// Swapped in at once; the next decision uses the new value.
  live,
  /// The HTTP listener is closed and opened on the new address; the process stays.
  rebind,
  /// Takes effect only when the daemon restarts; until then the old value stays in force.
  restart,
};

/// "live", "rebind" or "restart".
std::string to_string(Applies applies);

/// The category of a dotted key from `known_keys()`; nullopt for any other text.
std::optional<Applies> applies(std::string_view key);

/// The changes between two valid configurations, by category. Every vector lists dotted key
/// names in the order of `known_keys()`.
struct ReloadPlan {
  /// Some key differs. `docker.host_from_env` alone is not a change (only the value counts),
  /// nor is `server.listen` written differently for the same host and port.
  bool any_change = false;
  /// Keys whose new value applies at once: health.*, log.level, log.format, remediation.*,
  /// kubeconfig.copies, cluster.create_timeout, cluster.delete_on_shutdown.
  std::vector<std::string> live;
  /// server.listen names another host or port, or a server.tls.* path or
  /// server.basic_auth_users changed.
  bool rebind_listener = false;
  /// Keys that keep their old value until a restart: docker.host, docker.network, tools.kind,
  /// kubeconfig.path, log.file, log.max_size, log.max_files.
  std::vector<std::string> restart_required;
  friend bool operator==(const ReloadPlan&, const ReloadPlan&) = default;
};

/// Compares `old` (running) with `next` (just loaded). Pure.
ReloadPlan diff(const Config& old, const Config& next);

/// 64-bit FNV-1a of `text`, to skip a reload whose file content did not change. Not
/// cryptographic: an accidental collision is negligible (2^-64), and SIGHUP should reload
/// without this check so that a user can always force one. Pure.
std::uint64_t content_hash(std::string_view text);

}  // namespace k8sinpod::config
