#pragma once
/// HTTP basic auth for the endpoints, as in Prometheus exporters' web config: users with bcrypt
/// hashes, verified with libxcrypt's crypt(). The parsing half is pure; `BasicAuth::check` calls
/// crypt (CPU only, no I/O) and keeps a small cache of pairs that verified, so that a scraper
/// sending the same credentials every few seconds pays the bcrypt cost once.
///
/// Not thread-safe: use one BasicAuth from one executor (the HTTP server's).

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace k8sinpod::http {

/// Whether `target` may be served without credentials: /livez and /readyz and their sub-paths
/// (the kubelet's httpGet probes cannot authenticate). Compared on the %-decoded path, as the
/// router routes it; a target the router would reject (400) is not open.
bool is_open_path(std::string_view target);

struct Credentials {
  std::string user;
  std::string password;
  friend bool operator==(const Credentials&, const Credentials&) = default;
};

/// The credentials of an `Authorization` header value: scheme `Basic` (any case), one or more
/// spaces, standard base64 (padding required) of `user:password` (split at the first ':').
/// nullopt for any other scheme or a malformed value.
std::optional<Credentials> parse_basic_authorization(std::string_view header);

/// The challenge sent with 401.
inline constexpr std::string_view kBasicChallenge = "Basic realm=\"k8sinpodd\"";

class BasicAuth {
 public:
  /// `users`: user name -> bcrypt hash. Empty: `enabled()` is false.
  explicit BasicAuth(std::map<std::string, std::string> users);

  bool enabled() const { return !users_.empty(); }

  /// Whether `authorization` (the header value; empty when absent) names a configured user with
  /// the right password. An unknown user still costs one bcrypt run (no user enumeration by
  /// timing).
  bool check(std::string_view authorization);

 private:
  static constexpr std::size_t kCacheMax = 64;
  std::map<std::string, std::string> users_;
  std::set<std::string> verified_;  // SHA-256 of user, password and hash
};

}  // namespace k8sinpod::http
