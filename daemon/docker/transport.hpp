#pragma once
/// Internal to the Docker module: what the request client (client.cpp) and the event stream
/// (events.cpp) share to reach dockerd. Asio only, no Beast, so including it costs little.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "docker/mapping.hpp"

namespace k8sinpod::docker::detail {

/// `s` with its first letter lower-cased, for system messages inside ours.
std::string lower_first(std::string s);

/// "docker: GET /containers/json on unix:///run/docker.sock: " — the query string is left out:
/// it is URL-encoded JSON, unreadable in a log line.
std::string request_prefix(const Endpoint& endpoint, std::string_view target);

struct Resolved {
  boost::system::error_code ec;
  boost::asio::ip::tcp::resolver::results_type results;
};

/// Resolves `host`:`port` with `resolver`, cancelling it at `deadline` (Asio's resolver has no
/// timeout of its own): then `ec` is `asio::error::timed_out`. Cancelling `resolver` from
/// outside gives `operation_aborted`. The resolver is shared with the deadline's handler, so
/// either may end first. Runs on the resolver's executor.
boost::asio::awaitable<Resolved> resolve(std::shared_ptr<boost::asio::ip::tcp::resolver> resolver,
                                         std::string host, std::string port,
                                         std::chrono::steady_clock::time_point deadline);

}  // namespace k8sinpod::docker::detail
