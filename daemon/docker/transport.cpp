#include "docker/transport.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

namespace k8sinpod::docker::detail {

namespace asio = boost::asio;
using boost::system::error_code;

std::string lower_first(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

std::string request_prefix(const Endpoint& endpoint, std::string_view target) {
  return "docker: GET " + std::string(target.substr(0, target.find('?'))) + " on " +
         endpoint.to_string() + ": ";
}

asio::awaitable<Resolved> resolve(std::shared_ptr<asio::ip::tcp::resolver> resolver,
                                  std::string host, std::string port,
                                  std::chrono::steady_clock::time_point deadline) {
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer timer(resolver->get_executor(), deadline);
  timer.async_wait([resolver, timed_out](const error_code& ec) {
    if (ec) return;
    *timed_out = true;
    resolver->cancel();
  });
  auto op = resolver->async_resolve(host, port, asio::as_tuple(asio::use_awaitable));
  auto [ec, results] = co_await std::move(op);
  timer.cancel();
  // The deadline's handler may run although the lookup already succeeded: only an aborted
  // lookup is a timeout.
  if (ec == asio::error::operation_aborted && *timed_out) ec = asio::error::timed_out;
  Resolved out;
  out.ec = ec;
  out.results = std::move(results);
  co_return out;
}

}  // namespace k8sinpod::docker::detail
