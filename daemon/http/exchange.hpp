#pragma once
/// The server's handling of one request, without a socket: how its parser is limited, what a
/// failed read is answered, and what a parsed request is answered (basic auth, then the
/// handler). server.cpp carries the bytes; the fuzz target test/fuzz/http_request.cpp feeds raw
/// bytes through the same functions.

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "http/auth.hpp"
#include "http/router.hpp"

namespace k8sinpod::http {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

/// Sets the parser's header limit (bytes of the request line and fields) and body limit (0: no
/// body at all).
void apply_limits(RequestParser& parser, std::size_t header_limit, std::size_t body_limit);

/// The status that answers a failed request read: 431 (header too large), 413 (body too large),
/// 400 (malformed), or 0 when the connection just ends unanswered (end of stream, a partial
/// message, a timeout, a reset, an abort).
unsigned read_error_status(const boost::system::error_code& ec);

/// Whether a parsed request may be served: `allowed` when `auth` is disabled, the target is open
/// (`is_open_path`: /livez, /readyz), or `authorization` (the header value, empty when absent)
/// passes `auth.check`; otherwise what `auth.check` said (`denied`, `throttled`).
AuthResult authorized(const Request& request, std::string_view authorization, BasicAuth& auth);

/// The answer to a request that is not `authorized`: 401 with the Basic challenge.
Response unauthorized();

/// `handler(request)`; a handler that throws is answered 500, and `log` (when set) gets one line
/// naming the request and the exception.
Response call_handler(const Request& request,
                      const std::function<Response(const Request&)>& handler,
                      const std::function<void(std::string)>& log);

/// The plain-text body of an error status the server answers itself ("401 unauthorized\n").
const char* reason_body(unsigned status);

}  // namespace k8sinpod::http
