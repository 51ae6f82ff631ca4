// Fuzz target `http_router`: `http::route` and `parse_target` on arbitrary request lines. Input:
//   METHOD SP TARGET [LF LAST_ERROR]
// as in `GET /readyz?verbose&exclude=docker`; without a space the whole line is a GET target.
// LAST_ERROR (any bytes) becomes the failing state's last error, as kind's or Docker's error
// text would, so /status has to escape it. Each request is routed against a ready and a failing
// state, with and without a metrics callback.
#include <boost/json.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/state.hpp"
#include "fakes/core_states.hpp"
#include "fuzz.hpp"
#include "http/router.hpp"

using namespace k8sinpod;
using namespace std::chrono_literals;
using fuzz::is_utf8;
using fuzz::require;

namespace {

constexpr core::TimePoint kProbeAt = core::TimePoint{} + 1700000000s + 250ms;

core::State ready_state() {
  core::State s = fakes::ready_state(kProbeAt);
  s.last_probe = core::ProbeRecord{true, kProbeAt, 42ms, ""};
  return s;
}

core::State failing_state(std::string_view error) {
  core::State s = ready_state();
  s.phase = core::Phase::unready;
  s.docker_ok = false;
  s.consecutive_probe_failures = 3;
  s.last_probe = core::ProbeRecord{false, kProbeAt, 1000ms, std::string(error)};
  s.last_error = std::string(error);
  s.current_backoff = 1500ms;
  return s;
}

bool same(const http::Response& a, const http::Response& b) {
  return a.status == b.status && a.content_type == b.content_type && a.body == b.body &&
         a.headers == b.headers;
}

void check(const http::Request& request, const http::RouteContext& ctx, std::string_view error) {
  const auto r = http::route(request, ctx);
  require(
      r.status == 200 || r.status == 400 || r.status == 404 || r.status == 405 || r.status == 503,
      "route: status is one of 200 400 404 405 503");
  if (!http::parse_target(request.target)) require(r.status == 400, "route: bad target is 400");
  if (r.status == 405) {
    require(r.headers.size() == 1 && r.headers[0].first == "Allow", "route: 405 carries Allow");
  }
  if (request.method == "GET") {
    const auto head = http::route(http::Request{"HEAD", request.target}, ctx);
    require(same(r, head), "route: HEAD answers as GET");
  }
  if (r.status == 200 && r.content_type == "application/json") {
    boost::system::error_code ec;
    const auto json = boost::json::parse(r.body, ec);
    // Always valid JSON (finding 2: invalid UTF-8 is replaced by U+FFFD); valid text round-trips.
    require(!ec && json.is_object(), "/status: body is a JSON object");
    const auto* last = json.as_object().if_contains("last_error");
    require(last != nullptr, "/status: has last_error");
    if (is_utf8(error)) {
      require(error.empty() ? last->is_null() : (last->is_string() && last->as_string() == error),
              "/status: last_error round-trips");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  const std::string_view line = text.substr(0, text.find('\n'));
  const std::string_view error =
      line.size() < text.size() ? text.substr(line.size() + 1) : std::string_view{};
  http::Request request;
  if (const auto space = line.find(' '); space != std::string_view::npos) {
    request.method = std::string(line.substr(0, space));
    request.target = std::string(line.substr(space + 1));
  } else {
    request.method = "GET";
    request.target = std::string(line);
  }

  if (const auto target = http::parse_target(request.target)) {
    require(!target->path.empty() && target->path.front() == '/', "parse_target: path from /");
  }

  const core::Policy policy;
  const core::State ready = ready_state();
  const core::State failing = failing_state(error);
  const std::function<std::string()> metrics = [] { return std::string("k8sinpod_up 1\n"); };
  for (const core::State* state : {&ready, &failing}) {
    for (const bool with_metrics : {true, false}) {
      const http::RouteContext ctx{*state,  policy,
                                   "ci",    "/var/lib/k8sinpod/kubeconfig",
                                   "0.1.0", with_metrics ? metrics : nullptr};
      check(request, ctx, state == &failing ? error : std::string_view{});
    }
  }
  return 0;
}
