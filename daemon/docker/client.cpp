// One of the two translation units with Beast in the Docker module (events.cpp is the other):
// Beast is slow to compile.
#include "docker/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <exception>
#include <memory>
#include <utility>

#include "docker/transport.hpp"

namespace k8sinpod::docker {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

using detail::lower_first;
using detail::request_prefix;

// Docker container names are [a-zA-Z0-9][a-zA-Z0-9_.-]*, ids are hex: nothing to URL-encode,
// and anything else would change the request path.
bool is_container_ref(std::string_view ref) {
  if (ref.empty()) return false;
  for (const char c : ref) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// The outcome of one request on a connected stream: `phase` names the step that failed.
struct Exchanged {
  error_code ec;
  std::string_view phase;
  unsigned status = 0;
  std::string body;
};

template <class Stream>
asio::awaitable<Exchanged> round_trip(Stream& stream, const http::request<http::empty_body>& req) {
  Exchanged out;
  const auto [write_ec, written] = co_await http::async_write(stream, req, kTuple);
  if (write_ec) {
    out.ec = write_ec;
    out.phase = "write request";
    co_return out;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(Client::kBodyLimit);
  const auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kTuple);
  if (read_ec) {
    out.ec = read_ec;
    out.phase = "read response";
    co_return out;
  }
  out.status = parser.get().result_int();
  out.body = std::move(parser.get().body());
  error_code ignored;
  stream.socket().shutdown(asio::socket_base::shutdown_both, ignored);
  co_return out;
}

}  // namespace

Client::Client(asio::any_io_executor executor, Endpoint endpoint, std::chrono::milliseconds timeout)
    : executor_(std::move(executor)), endpoint_(std::move(endpoint)), timeout_(timeout) {}

asio::awaitable<Result<Client::Response>> Client::get(std::string target, bool allow_not_found) {
  const std::string prefix = request_prefix(endpoint_, target);
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  const auto failed = [&](std::string_view phase, const error_code& ec) {
    if (ec == beast::error::timeout) {
      return fail(prefix + "timed out after " + std::to_string(timeout_.count()) + "ms (" +
                  std::string(phase) + ")");
    }
    if (ec == http::error::body_limit) {
      return fail(prefix + "response body exceeds " + std::to_string(kBodyLimit) + " bytes");
    }
    return fail(prefix + std::string(phase) + ": " + lower_first(ec.message()));
  };

  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "docker");
  req.set(http::field::user_agent, "k8sinpodd");
  req.set(http::field::connection, "close");

  Exchanged done;
  try {
    switch (endpoint_.kind) {
      case Endpoint::Kind::unix_socket: {
        beast::basic_stream<asio::local::stream_protocol> stream(executor_);
        stream.expires_at(deadline);
        // The endpoint constructor throws on a path longer than sun_path: caught below.
        const asio::local::stream_protocol::endpoint address(endpoint_.path);
        const auto [ec] = co_await stream.async_connect(address, kTuple);
        if (ec) co_return failed("connect", ec);
        done = co_await round_trip(stream, req);
        break;
      }
      case Endpoint::Kind::tcp: {
        // The resolver is not under basic_stream's deadline: detail::resolve has its own.
        auto resolver = std::make_shared<asio::ip::tcp::resolver>(executor_);
        auto resolving = detail::resolve(resolver, endpoint_.host, endpoint_.port, deadline);
        const detail::Resolved resolved = co_await std::move(resolving);
        if (resolved.ec == asio::error::timed_out) {
          co_return failed("resolve", beast::error::timeout);
        }
        if (resolved.ec) co_return failed("resolve", resolved.ec);
        beast::tcp_stream stream(executor_);
        stream.expires_at(deadline);
        const auto [ec, connected] = co_await stream.async_connect(resolved.results, kTuple);
        if (ec) co_return failed("connect", ec);
        done = co_await round_trip(stream, req);
        break;
      }
    }
  } catch (const std::exception& e) {  // Asio/Beast throw only on misuse or allocation failure
    co_return fail(prefix + lower_first(e.what()));
  }
  if (done.ec) co_return failed(done.phase, done.ec);
  if (allow_not_found && done.status == 404) co_return Response{done.status, std::move(done.body)};
  if (done.status < 200 || done.status > 299) {
    co_return fail(prefix + std::to_string(done.status) + " " + error_text(done.body));
  }
  co_return Response{done.status, std::move(done.body)};
}

asio::awaitable<Result<std::vector<ContainerSummary>>> Client::list_containers(
    std::vector<std::string> labels, bool all) {
  const std::string target = label_filter_query(labels, all);
  auto response = co_await get(target);
  if (!response) co_return response.error();
  auto parsed = parse_container_list(response->body);
  if (!parsed) co_return fail(request_prefix(endpoint_, target) + parsed.error().message);
  co_return std::move(*parsed);
}

asio::awaitable<Result<ContainerInfo>> Client::inspect(std::string id_or_name) {
  if (!is_container_ref(id_or_name)) {
    co_return fail("docker: inspect " + excerpt(id_or_name) + ": not a container name or id");
  }
  const std::string target = "/containers/" + id_or_name + "/json";
  auto response = co_await get(target);
  if (!response) co_return response.error();
  auto parsed = parse_inspect(response->body);
  if (!parsed) co_return fail(request_prefix(endpoint_, target) + parsed.error().message);
  co_return std::move(*parsed);
}

asio::awaitable<Result<void>> Client::ping() {
  auto response = co_await get("/_ping");
  if (!response) co_return response.error();
  co_return Result<void>();
}

asio::awaitable<Result<ControlPlane>> Client::control_plane(std::string cluster,
                                                            std::string network) {
  std::vector<std::string> labels;
  labels.push_back(std::string(kClusterLabel) + "=" + cluster);
  labels.push_back(std::string(kRoleLabel) + "=" + std::string(kControlPlaneRole));
  auto listed = co_await list_containers(std::move(labels), true);
  if (!listed) co_return listed.error();
  auto selected = select_control_plane(*listed, cluster);
  if (!selected || !selected->found) co_return selected;

  // The container may go between the list and the inspect (404): it is gone, which is an
  // answer about the cluster, not a Docker failure.
  const std::string target = "/containers/" + selected->id + "/json";
  auto response = co_await get(target, true);
  if (!response) co_return response.error();
  if (response->status == 404) co_return ControlPlane{};
  auto info = parse_inspect(response->body);
  if (!info) co_return fail(request_prefix(endpoint_, target) + info.error().message);
  ControlPlane cp = std::move(*selected);
  cp.running = info->running;
  cp.started_at = info->started_at;
  if (!cp.running) co_return cp;

  const auto it = info->ipv4_by_network.find(network);
  if (it == info->ipv4_by_network.end() || it->second.empty()) {
    // Running but not on our network (being reconnected, or docker.network is wrong): an
    // answer with no address, and the detail for the log.
    std::string networks;
    for (const auto& [name, ip] : info->ipv4_by_network) {
      networks += (networks.empty() ? "" : ", ") + name + "=" + (ip.empty() ? "\"\"" : ip);
    }
    cp.detail = "control plane " + excerpt(cp.name) + " of cluster " + excerpt(cluster) +
                " is running but has no IPv4 address on network " + excerpt(network) +
                " (networks: " + (networks.empty() ? "none" : networks) + ")";
    co_return cp;
  }
  cp.ip = it->second;
  co_return cp;
}

}  // namespace k8sinpod::docker
