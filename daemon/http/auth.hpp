#pragma once
/// HTTP basic auth for the endpoints, as in Prometheus exporters' web config: users with bcrypt
/// hashes, verified with libxcrypt's crypt(). The parsing half is pure; `BasicAuth::check` calls
/// crypt (CPU only, no I/O) and keeps a small cache of pairs that verified, so that a scraper
/// sending the same credentials every few seconds pays the bcrypt cost once.
///
/// bcrypt is slow by design, and it runs on the HTTP thread that also answers the kubelet's
/// /livez and /readyz. So the bcrypt runs of one second may take at most `kBcryptBudget` of it:
/// beyond that, credentials that are not in the cache are refused without a run (`throttled`)
/// until the second is over. A flood of wrong passwords then costs the thread at most a quarter
/// of its time (plus the one run that crosses the budget), and pairs that verified before keep
/// working.
///
/// Not thread-safe: use one BasicAuth from one executor (the HTTP server's).

#include <chrono>
#include <cstddef>
#include <functional>
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

enum class AuthResult {
  allowed,
  denied,     // no, or malformed, or wrong credentials
  throttled,  // not in the cache, and this second's bcrypt budget is spent: no bcrypt run
};

class BasicAuth {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  /// Wall time the bcrypt runs of one second may take.
  static constexpr std::chrono::milliseconds kBcryptBudget{250};

  /// `users`: user name -> bcrypt hash. Empty: `enabled()` is false. `clock` times the bcrypt
  /// runs (tests pass a fake one).
  explicit BasicAuth(
      std::map<std::string, std::string> users,
      Clock clock = [] { return std::chrono::steady_clock::now(); });

  bool enabled() const { return !users_.empty(); }

  /// Whether `authorization` (the header value; empty when absent) names a configured user with
  /// the right password: `allowed` when auth is disabled or the pair is cached or verifies;
  /// `denied` for no, malformed or wrong credentials; `throttled` when the pair would need a
  /// bcrypt run and the budget of the current second is spent. An unknown user still costs one
  /// bcrypt run (no user enumeration by timing).
  AuthResult check(std::string_view authorization);

 private:
  static constexpr std::size_t kCacheMax = 64;
  /// Runs bcrypt within the budget; nullopt when the budget is spent.
  std::optional<std::string> budgeted_bcrypt(const std::string& password,
                                             const std::string& setting);

  std::map<std::string, std::string> users_;
  Clock clock_;
  std::set<std::string> verified_;  // SHA-256 of user, password and hash
  std::chrono::steady_clock::time_point window_start_{};
  std::chrono::steady_clock::duration window_spent_{};
};

}  // namespace k8sinpod::http
