// Basic auth: header parsing, open paths, and bcrypt verification through libxcrypt.
#include "http/auth.hpp"

#include <crypt.h>
#include <doctest/doctest.h>

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
  CHECK(none.check(""));

  http::BasicAuth auth({{"prom", hash}});
  CHECK(auth.enabled());
  // "prom:s3cret", "prom:wrong", "other:s3cret"
  CHECK(auth.check("Basic cHJvbTpzM2NyZXQ="));
  CHECK(auth.check("Basic cHJvbTpzM2NyZXQ="));  // again, from the cache
  CHECK_FALSE(auth.check("Basic cHJvbTp3cm9uZw=="));
  CHECK_FALSE(auth.check("Basic b3RoZXI6czNjcmV0"));
  CHECK_FALSE(auth.check(""));
  CHECK_FALSE(auth.check("Basic garbage"));

  // $2y$ (htpasswd's prefix) verifies on Debian 12's libxcrypt as well.
  std::string y = hash;
  y[2] = 'y';
  http::BasicAuth auth_y({{"prom", y}});
  CHECK(auth_y.check("Basic cHJvbTpzM2NyZXQ="));
  CHECK_FALSE(auth_y.check("Basic cHJvbTp3cm9uZw=="));

  // A cached success does not survive a different hash for the same user.
  http::BasicAuth other({{"prom", bcrypt_hash("different")}});
  CHECK_FALSE(other.check("Basic cHJvbTpzM2NyZXQ="));
}
