// Fuzz target `http_request`: raw request bytes through what the server does with them
// (daemon/http/exchange.hpp): Beast's request parser with the server's default limits, the
// status of a failed read, the basic-auth gate (parse_basic_authorization, base64, bcrypt via
// BasicAuth) and the router. Input:
//   SPLIT BYTES...
// SPLIT (one byte) picks where BYTES are cut in two, as two reads from a socket would deliver
// them. Properties:
//   - a request that parses whole parses in two pieces too, to the same method, target,
//     version, keep-alive and Authorization, and the other way round. (Bytes that do not parse
//     may be refused with 400 or dropped at the end of input depending on the cut: Beast
//     checks some of the request line only once it has seen the end of the header.);
//   - a failed read is answered 400, 413 or 431, or not at all;
//   - a parsed request has no body (GET-only server: body_limit 0);
//   - the answer is 200/400/401/404/405/503; /livez and /readyz are never 401; 401 comes only
//     from the auth gate;
//   - credentials parse_basic_authorization accepts come back equal from their own encoding.
#include <crypt.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/state.hpp"
#include "fakes/core_states.hpp"
#include "fuzz.hpp"
#include "http/auth.hpp"
#include "http/exchange.hpp"
#include "http/router.hpp"
#include "http/server.hpp"

using namespace k8sinpod;
using fuzz::require;
namespace bhttp = boost::beast::http;

namespace {

struct Outcome {
  unsigned status = 0;    // of a failed read; 0 for a parsed or an incomplete request
  bool complete = false;  // a whole request was parsed
  std::string method;
  std::string target;
  unsigned version = 0;
  bool keep_alive = false;
  std::string authorization;
  bool body_empty = true;
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

/// Reads one request from `pieces` as http::async_read does from a socket: the bytes not yet
/// used stay in the buffer, the parser gets the buffer after every read, and the end of the
/// input is the peer closing (put_eof).
Outcome read_request(std::string_view first, std::string_view second) {
  const http::Server::Limits limits;
  http::RequestParser parser;
  http::apply_limits(parser, limits.header_limit, limits.body_limit);
  parser.eager(true);
  std::string buffer;
  boost::system::error_code ec;
  Outcome out;
  for (const std::string_view piece : {first, second}) {
    // After need_more Beast must be given more bytes than before (http::read reads first).
    if (piece.empty()) continue;
    buffer.append(piece);
    while (!parser.is_done() && !buffer.empty()) {
      const std::size_t used = parser.put(boost::asio::buffer(buffer), ec);
      buffer.erase(0, used);
      if (ec == bhttp::error::need_more) {
        ec = {};
        break;
      }
      if (ec) {
        out.status = http::read_error_status(ec);
        return out;
      }
    }
    if (parser.is_done()) break;
  }
  if (!parser.is_done()) {
    if (!parser.got_some()) return out;  // http::read: end_of_stream, no put_eof
    parser.put_eof(ec);
    if (ec) {
      out.status = http::read_error_status(ec);
      return out;
    }
    if (!parser.is_done()) return out;
  }
  const auto& req = parser.get();
  out.complete = true;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  out.version = req.version();
  out.keep_alive = req.keep_alive();
  out.authorization = std::string(req[bhttp::field::authorization]);
  out.body_empty = req.body().empty();
  return out;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  const auto byte = [&](std::size_t i) {
    return i < in.size() ? static_cast<unsigned>(static_cast<unsigned char>(in[i])) : 0U;
  };
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const unsigned bits = (byte(i) << 16U) | (byte(i + 1) << 8U) | byte(i + 2);
    out.push_back(kAlphabet[(bits >> 18U) & 63U]);
    out.push_back(kAlphabet[(bits >> 12U) & 63U]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(bits >> 6U) & 63U] : '=');
    out.push_back(i + 2 < in.size() ? kAlphabet[bits & 63U] : '=');
  }
  return out;
}

/// One user, `prom`, password `s3cret`, hashed once at bcrypt's lowest cost (4): every input
/// with a Basic header pays one bcrypt run, as a client would.
http::BasicAuth& auth() {
  static http::BasicAuth instance = [] {
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    require(crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof salt) != nullptr,
            "setup: bcrypt salt");
    crypt_data data{};
    const char* hash = crypt_r("s3cret", salt, &data);
    require(hash != nullptr && hash[0] == '$', "setup: bcrypt hash");
    return http::BasicAuth({{"prom", hash}});
  }();
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes = fuzz::as_text(data + 1, size - 1);
  const std::size_t cut = static_cast<std::size_t>(data[0]) % (bytes.size() + 1);

  const Outcome whole = read_request(bytes, {});
  const Outcome split = read_request(bytes.substr(0, cut), bytes.substr(cut));
  require(whole.complete == split.complete, "parse: parsed whole iff parsed in two pieces");
  for (const Outcome* o : {&whole, &split}) {
    require(o->status == 0 || o->status == 400 || o->status == 413 || o->status == 431,
            "read error: answered 400, 413, 431 or not at all");
    require(!o->complete || o->status == 0, "read: a parsed request has no error status");
  }
  if (whole.complete) require(whole == split, "parse: the same request whole and in two pieces");
  if (!whole.complete) return 0;
  require(whole.body_empty, "read: a parsed request has no body (body_limit 0)");

  if (const auto credentials = http::parse_basic_authorization(whole.authorization)) {
    require(credentials->user.find(':') == std::string::npos, "auth: user holds no ':'");
    const auto again = http::parse_basic_authorization(
        "Basic " + base64(credentials->user + ":" + credentials->password));
    require(again == credentials, "auth: credentials round-trip through their encoding");
  }

  const core::State state = fakes::ready_state(core::TimePoint{} + std::chrono::hours{1});
  const core::Policy policy;
  const http::RouteContext ctx{state,   policy,
                               "ci",    "/var/lib/k8sinpod/kubeconfig",
                               "0.1.0", [] { return std::string("k8sinpod_up 1\n"); }};
  const http::Request request{whole.method, whole.target};
  const bool allowed =
      http::authorized(request, whole.authorization, auth()) == http::AuthResult::allowed;
  if (http::is_open_path(request.target)) require(allowed, "auth: /livez and /readyz are open");
  const http::Response r =
      allowed ? http::call_handler(
                    request, [&](const http::Request& q) { return http::route(q, ctx); }, nullptr)
              : http::unauthorized();
  require(r.status == 200 || r.status == 400 || r.status == 401 || r.status == 404 ||
              r.status == 405 || r.status == 503,
          "answer: status is one of 200 400 401 404 405 503");
  require((r.status == 401) == !allowed, "answer: 401 exactly when the auth gate refuses");
  return 0;
}
