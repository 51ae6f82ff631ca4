// Basic auth: header parsing, open paths, and bcrypt verification through libxcrypt.
#include "http/auth.hpp"

#include <crypt.h>
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>

using namespace k8sinpod;

namespace {

/// A bcrypt hash of `password` at cost 5 with a fresh $2b$ salt.
std::string bcrypt_hash(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn("$2b$", 5, nullptr, 0, salt, sizeof salt) != nullptr);
  crypt_data data{};
  const char* hash = crypt_r(password.c_str(), salt, &data);
  REQUIRE(hash != nullptr);
  REQUIRE(std::string(hash).starts_with("$2b$05$"));
  return hash;
}

}  // namespace

TEST_CASE("auth: /livez and /readyz and their sub-paths are open, nothing else") {
  for (const char* open : {"/livez", "/livez?verbose", "/livez/ping", "/readyz",
                           "/readyz?verbose&exclude=docker", "/readyz/docker", "/readyz/"}) {
    CAPTURE(open);
    CHECK(http::is_open_path(open));
  }
  for (const char* closed : {"/metrics", "/status", "/", "/livezz", "/readyzx", "/x/livez", "livez",
                             "/%zz", "/metrics?/livez"}) {
    CAPTURE(closed);
    CHECK_FALSE(http::is_open_path(closed));
  }
  CHECK(http::is_open_path("/%6civez"));  // decoded as the router decodes it
}

TEST_CASE("auth: parse_basic_authorization") {
  using C = http::Credentials;
  // "user:pa:ss" -> the first ':' splits.
  CHECK(http::parse_basic_authorization("Basic dXNlcjpwYTpzcw==") == C{"user", "pa:ss"});
  CHECK(http::parse_basic_authorization("basic   dXNlcjpwYTpzcw==  ") == C{"user", "pa:ss"});
  CHECK(http::parse_basic_authorization("Basic dTo=") == C{"u", ""});  // "u:"
  CHECK(http::parse_basic_authorization("Basic OnA=") == C{"", "p"});  // ":p"
  CHECK_FALSE(http::parse_basic_authorization("Basic dXNlcg=="));      // "user": no ':'
  CHECK_FALSE(http::parse_basic_authorization("Bearer dXNlcjpwYXNz"));
  CHECK_FALSE(http::parse_basic_authorization("Basic"));
  CHECK_FALSE(http::parse_basic_authorization("Basicx dTo="));
  CHECK_FALSE(http::parse_basic_authorization("Basic dTo"));   // no padding
  CHECK_FALSE(http::parse_basic_authorization("Basic d=o="));  // data after '='
  CHECK_FALSE(http::parse_basic_authorization("Basic ****"));
  CHECK_FALSE(http::parse_basic_authorization(""));
}

TEST_CASE("auth: BasicAuth checks bcrypt hashes made by crypt()") {
  const std::string hash = bcrypt_hash("s3cret");
  http::BasicAuth none({});
  CHECK_FALSE(none.enabled());
  CHECK(none.check("") == http::AuthResult::allowed);

  http::BasicAuth auth({{"prom", hash}});
  CHECK(auth.enabled());
  // "prom:s3cret", "prom:wrong", "other:s3cret"
  CHECK(auth.check("Basic cHJvbTpzM2NyZXQ=") == http::AuthResult::allowed);
  CHECK(auth.check("Basic cHJvbTpzM2NyZXQ=") ==
        http::AuthResult::allowed);  // again, from the cache
  CHECK(auth.check("Basic cHJvbTp3cm9uZw==") == http::AuthResult::denied);
  CHECK(auth.check("Basic b3RoZXI6czNjcmV0") == http::AuthResult::denied);
  CHECK(auth.check("") == http::AuthResult::denied);
  CHECK(auth.check("Basic garbage") == http::AuthResult::denied);

  // $2y$ (htpasswd's prefix) verifies on Debian 12's libxcrypt as well.
  std::string y = hash;
  y[2] = 'y';
  http::BasicAuth auth_y({{"prom", y}});
  CHECK(auth_y.check("Basic cHJvbTpzM2NyZXQ=") == http::AuthResult::allowed);
  CHECK(auth_y.check("Basic cHJvbTp3cm9uZw==") == http::AuthResult::denied);

  // A cached success does not survive a different hash for the same user.
  http::BasicAuth other({{"prom", bcrypt_hash("different")}});
  CHECK(other.check("Basic cHJvbTpzM2NyZXQ=") == http::AuthResult::denied);
}

TEST_CASE("auth: bcrypt runs beyond the budget of a second are throttled, the cache is not") {
  using namespace std::chrono_literals;
  using http::AuthResult;
  // A fake clock that moves 50 ms at every reading: BasicAuth reads it before and after a
  // bcrypt run, so every run costs 50 ms of the budget (250 ms: five runs).
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  int readings = 0;
  http::BasicAuth auth({{"prom", bcrypt_hash("s3cret")}}, [&] {
    ++readings;
    now += 50ms;
    return now;
  });
  const std::string good = "Basic cHJvbTpzM2NyZXQ=";      // prom:s3cret
  const std::string wrong = "Basic cHJvbTp3cm9uZw==";     // prom:wrong
  const std::string stranger = "Basic b3RoZXI6czNjcmV0";  // other:s3cret

  CHECK(auth.check(good) == AuthResult::allowed);                              // run 1, now cached
  for (int i = 0; i < 3; ++i) CHECK(auth.check(wrong) == AuthResult::denied);  // runs 2-4
  CHECK(auth.check(stranger) == AuthResult::denied);                           // run 5
  CHECK(readings == 10);
  // The budget is spent: no run, whoever asks, but the cached pair and the cheap refusals.
  CHECK(auth.check(wrong) == AuthResult::throttled);
  CHECK(auth.check(stranger) == AuthResult::throttled);
  CHECK(readings == 12);  // one reading each, no run
  CHECK(auth.check(good) == AuthResult::allowed);
  CHECK(auth.check("") == AuthResult::denied);
  CHECK(auth.check("Basic garbage") == AuthResult::denied);
  CHECK(readings == 12);  // neither the cache nor a malformed header reads the clock

  // A second after the window's first run, the budget is back.
  now += 1s;
  CHECK(auth.check(wrong) == AuthResult::denied);
  CHECK(readings == 14);
}
