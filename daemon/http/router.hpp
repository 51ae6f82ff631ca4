#pragma once
/// The HTTP routes of k8sinpodd as one pure function, `route(request, context) -> response`
/// (Beast's `handle_request` shape): no socket, clock or file. server.hpp carries the bytes.
///
///   GET|HEAD /livez[?verbose][&exclude=name]   200 `ok` while the supervisor's event loop turns
///                                              (checks `ping`, always ok, and `eventloop`:
///                                              context.loop_responsive), else 503 in the same
///                                              format as /readyz. Never fails because the
///                                              cluster is down.
///   GET|HEAD /livez/<check>                    one check: `ping` or `eventloop`
///   GET|HEAD /readyz[?verbose][&exclude=name]  200 `ok` when core::is_ready, else 503, in
///                                              kube-apiserver's format: `[+]docker ok`,
///                                              `[-]apiserver failed: reason withheld`,
///                                              `[+]name excluded: ok`, last line
///                                              `readyz check passed|failed`; a failure is
///                                              always verbose.
///   GET|HEAD /readyz/<check>                   one check: 200 `ok`, or 503
///                                              `internal server error: reason withheld`;
///                                              an unknown check is 404.
///   GET|HEAD /metrics                          200, text format 0.0.4, body = context.metrics()
///   GET|HEAD /status                           200 application/json, the published state
///                                              (never key material: the state holds none)
///
/// Unknown path: 404. Known path, method other than GET/HEAD: 405 with `Allow: GET, HEAD`.
/// A target that does not start with '/' or holds a malformed %-escape: 400. HEAD answers as GET
/// does, body included (the server sends its length, not the body).

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/state.hpp"

namespace k8sinpod::http {

struct Request {
  std::string method;  // as sent: "GET", "HEAD", ...
  std::string target;  // origin-form, query included: "/readyz?verbose"
};

struct Response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields, e.g. Allow
};

/// What a route may read; borrowed for the duration of one `route()` call.
struct RouteContext {
  const core::State& state;
  const core::Policy& policy;
  std::string_view cluster_name;
  std::string_view kubeconfig_path;
  std::string_view version;
  std::function<std::string()> metrics;  // returns the exposition text; empty: /metrics is 503
  /// The supervisor's event loop turned recently (the server may run on another thread).
  bool loop_responsive = true;
};

Response route(const Request& request, const RouteContext& context);

/// A target split into its %-decoded path and query parameters (`+` is a space in the query).
/// `?verbose` yields {"verbose", ""}. nullopt when the target does not start with '/' or holds a
/// malformed %-escape.
struct Target {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
};
std::optional<Target> parse_target(std::string_view target);

/// RFC 3339 in UTC at millisecond precision: `2023-11-14T22:13:20.000Z`.
std::string format_rfc3339(core::TimePoint t);

}  // namespace k8sinpod::http
