#include "http/exchange.hpp"

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <cstdint>
#include <exception>
#include <limits>

namespace k8sinpod::http {

namespace bhttp = boost::beast::http;

void apply_limits(RequestParser& parser, std::size_t header_limit, std::size_t body_limit) {
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(header_limit, std::numeric_limits<std::uint32_t>::max())));
  parser.body_limit(static_cast<std::uint64_t>(body_limit));
}

unsigned read_error_status(const boost::system::error_code& ec) {
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::body_limit) return 413;
  // Every other error of Beast's HTTP category is a malformed request, but for these two: the
  // stream ended before or inside a message.
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
      ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
    return 400;
  }
  return 0;
}

AuthResult authorized(const Request& request, std::string_view authorization, BasicAuth& auth) {
  if (!auth.enabled() || is_open_path(request.target)) return AuthResult::allowed;
  return auth.check(authorization);
}

Response unauthorized() {
  Response r;
  r.status = 401;
  r.body = reason_body(401);
  r.headers.emplace_back("WWW-Authenticate", std::string(kBasicChallenge));
  return r;
}

Response call_handler(const Request& request,
                      const std::function<Response(const Request&)>& handler,
                      const std::function<void(std::string)>& log) {
  const auto say = [&](const std::string& what) {
    if (log) log("http: " + request.method + " " + request.target + ": handler threw" + what);
  };
  try {
    return handler(request);
  } catch (const std::exception& e) {
    say(std::string(": ") + e.what());
  } catch (...) {
    say("");
  }
  Response r;
  r.status = 500;
  r.body = reason_body(500);
  return r;
}

const char* reason_body(unsigned status) {
  switch (status) {
    case 400:
      return "400 bad request\n";
    case 401:
      return "401 unauthorized\n";
    case 413:
      return "413 request entity too large\n";
    case 429:
      return "429 too many requests\n";
    case 431:
      return "431 request header fields too large\n";
    case 500:
      return "500 internal server error\n";
    case 503:
      return "503 service unavailable: too many connections\n";
    default:
      return "\n";
  }
}

}  // namespace k8sinpod::http
