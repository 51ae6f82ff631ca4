#include "http/auth.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <utility>

#include "http/router.hpp"

namespace k8sinpod::http {
namespace {

bool path_is_or_under(std::string_view path, std::string_view base) {
  if (!path.starts_with(base)) return false;
  return path.size() == base.size() || path[base.size()] == '/';
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    std::array<int, 4> v{};
    int padding = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=' && last && k >= 2) {
        ++padding;
        v[k] = 0;
        continue;
      }
      if (padding > 0) return std::nullopt;  // data after '='
      v[k] = base64_value(c);
      if (v[k] < 0) return std::nullopt;
    }
    const unsigned bits = (static_cast<unsigned>(v[0]) << 18U) |
                          (static_cast<unsigned>(v[1]) << 12U) |
                          (static_cast<unsigned>(v[2]) << 6U) | static_cast<unsigned>(v[3]);
    out.push_back(static_cast<char>((bits >> 16U) & 0xFFU));
    if (padding < 2) out.push_back(static_cast<char>((bits >> 8U) & 0xFFU));
    if (padding < 1) out.push_back(static_cast<char>(bits & 0xFFU));
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

/// crypt(3) through crypt_ra, which allocates its own state (crypt() is not reentrant).
/// Empty on failure (libxcrypt may return "*0"-style failure tokens: never equal to a hash).
std::string bcrypt(const std::string& password, const std::string& setting) {
  void* data = nullptr;
  int size = 0;
  const char* out = crypt_ra(password.c_str(), setting.c_str(), &data, &size);
  std::string result = out == nullptr || out[0] == '*' ? std::string() : std::string(out);
  std::free(data);  // NOLINT(cppcoreguidelines-no-malloc): crypt_ra allocates with malloc
  return result;
}

std::string sha256(const std::string& text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    return {};
  }
  return {reinterpret_cast<const char*>(digest.data()), length};
}

}  // namespace

bool is_open_path(std::string_view target) {
  const auto parsed = parse_target(target);
  if (!parsed) return false;
  return path_is_or_under(parsed->path, "/livez") || path_is_or_under(parsed->path, "/readyz");
}

std::optional<Credentials> parse_basic_authorization(std::string_view header) {
  constexpr std::string_view kScheme = "Basic";
  if (header.size() <= kScheme.size() || !iequals(header.substr(0, kScheme.size()), kScheme) ||
      header[kScheme.size()] != ' ') {
    return std::nullopt;
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  auto decoded = base64_decode(token);
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

BasicAuth::BasicAuth(std::map<std::string, std::string> users, Clock clock)
    : users_(std::move(users)), clock_(std::move(clock)) {}

std::optional<std::string> BasicAuth::budgeted_bcrypt(const std::string& password,
                                                      const std::string& setting) {
  const auto start = clock_();
  if (start - window_start_ >= std::chrono::seconds{1}) {
    window_start_ = start;
    window_spent_ = {};
  }
  if (window_spent_ >= kBcryptBudget) return std::nullopt;
  std::string computed = bcrypt(password, setting);
  window_spent_ += clock_() - start;
  return computed;
}

AuthResult BasicAuth::check(std::string_view authorization) {
  if (users_.empty()) return AuthResult::allowed;
  const auto credentials = parse_basic_authorization(authorization);
  if (!credentials) return AuthResult::denied;
  const auto user = users_.find(credentials->user);
  if (user == users_.end()) {
    // Same cost as a known user: run bcrypt against some configured hash, then refuse.
    const auto ran = budgeted_bcrypt(credentials->password, users_.begin()->second);
    return ran ? AuthResult::denied : AuthResult::throttled;
  }
  const std::string& hash = user->second;
  std::string key = credentials->user;
  key.push_back('\0');
  key += credentials->password;
  key.push_back('\0');
  key += hash;
  const std::string digest = sha256(key);
  if (!digest.empty() && verified_.contains(digest)) return AuthResult::allowed;
  const auto computed = budgeted_bcrypt(credentials->password, hash);
  if (!computed) return AuthResult::throttled;
  const bool ok = computed->size() == hash.size() &&
                  CRYPTO_memcmp(computed->data(), hash.data(), hash.size()) == 0;
  if (!ok) return AuthResult::denied;
  if (!digest.empty()) {
    if (verified_.size() >= kCacheMax) verified_.clear();
    verified_.insert(digest);
  }
  return AuthResult::allowed;
}

}  // namespace k8sinpod::http
