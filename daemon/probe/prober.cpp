#include "probe/prober.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <utility>

namespace k8sinpod::probe {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

Outcome interpret(unsigned status, std::string_view body) {
  Outcome o;
  auto trimmed = body;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r')) {
    trimmed.remove_suffix(1);
  }
  if (status == 200 && trimmed == "ok") {
    o.ok = true;
    return o;
  }
  // Keep the failing checks of a verbose answer, on one line, clipped.
  std::string summary;
  std::size_t start = 0;
  while (start < trimmed.size()) {
    auto nl = trimmed.find('\n', start);
    if (nl == std::string_view::npos) nl = trimmed.size();
    auto line = trimmed.substr(start, nl - start);
    if (line.rfind("[-]", 0) == 0 || (status != 200 && line.find("check failed") != line.npos)) {
      if (!summary.empty()) summary += "; ";
      summary += line;
    }
    start = nl + 1;
  }
  if (summary.empty()) summary = std::string(trimmed.substr(0, 120));
  if (summary.size() > 300) summary = summary.substr(0, 300) + "...";
  o.error = std::to_string(status) + (summary.empty() ? "" : ": " + summary);
  return o;
}

Prober::Prober(asio::any_io_executor ex) : ex_(std::move(ex)) {}

Result<void> Prober::set_credentials(std::string_view ca_pem, std::string_view cert_pem,
                                     std::string_view key_pem) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_verify_mode(asio::ssl::verify_peer, ec);
  if (!ec) ctx->add_certificate_authority(asio::buffer(ca_pem.data(), ca_pem.size()), ec);
  if (ec) return fail("probe: kubeconfig certificate-authority-data: " + ec.message());
  ctx->use_certificate_chain(asio::buffer(cert_pem.data(), cert_pem.size()), ec);
  if (ec) return fail("probe: kubeconfig client-certificate-data: " + ec.message());
  ctx->use_private_key(asio::buffer(key_pem.data(), key_pem.size()), asio::ssl::context::pem, ec);
  if (ec) return fail("probe: kubeconfig client-key-data: " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return fail("probe: kubeconfig client key does not match its certificate");
  }
  ctx_ = std::move(ctx);
  idle_.reset();  // a connection made with the old credentials is not reused
  return {};
}

struct Prober::Connection {
  Connection(const asio::any_io_executor& ex, std::shared_ptr<asio::ssl::context> context,
             const asio::ip::tcp::endpoint& to, const std::string& ip)
      : ctx(std::move(context)), stream(ex, *ctx), endpoint(to) {
    stream.set_verify_callback(asio::ssl::host_name_verification(ip));
  }
  std::shared_ptr<asio::ssl::context> ctx;  // before `stream`, which refers to it
  beast::ssl_stream<beast::tcp_stream> stream;
  asio::ip::tcp::endpoint endpoint;
  beast::flat_buffer buffer;
  bool open = false;  // connected and handshaken
};

asio::awaitable<Outcome> Prober::exchange(Connection& c, bool& reusable, bool& retryable) {
  Outcome o;
  const bool reused = c.open;
  auto& tcp = beast::get_lowest_layer(c.stream);
  if (!c.open) {
    ++connections_opened_;
    auto [cec] = co_await tcp.async_connect(c.endpoint, kNoThrow);
    if (cec) {
      o.error = "connect: " + cec.message();
      o.refused = cec == asio::error::connection_refused;
      co_return o;
    }
    auto [hec] = co_await c.stream.async_handshake(asio::ssl::stream_base::client, kNoThrow);
    if (hec) {
      o.error = "tls handshake: " + hec.message();
      co_return o;
    }
    c.open = true;
  }

  http::request<http::empty_body> req{http::verb::get, "/readyz", 11};
  req.set(http::field::host,
          c.endpoint.address().to_string() + ":" + std::to_string(c.endpoint.port()));
  req.set(http::field::user_agent, "k8sinpodd");
  req.set(http::field::accept, "text/plain");
  auto [wec, wn] = co_await http::async_write(c.stream, req, kNoThrow);
  if (wec) {
    retryable = reused && wec != beast::error::timeout;
    o.error = "write: " + wec.message();
    co_return o;
  }

  http::response_parser<http::string_body> parser;
  parser.body_limit(std::uint64_t{64} * 1024);
  auto [rec, rn] = co_await http::async_read(c.stream, c.buffer, parser, kNoThrow);
  if (rec) {
    // Nothing at all came back on a connection that had been idle: the server closed it
    // meanwhile (idle timeout, restart). A timeout or a partial answer is the server's state.
    retryable = reused && rec != beast::error::timeout && !parser.got_some();
    o.error = "read: " + rec.message();
    co_return o;
  }
  const auto& res = parser.get();
  o = interpret(res.result_int(), res.body());
  reusable = o.ok && res.keep_alive();
  co_return o;
}

asio::awaitable<Outcome> Prober::readyz(std::string ip, std::uint16_t port,
                                        std::chrono::milliseconds timeout) {
  const auto started = std::chrono::steady_clock::now();
  const std::string url = "GET https://" + ip + ":" + std::to_string(port) + "/readyz";
  auto done = [&](Outcome o) {
    o.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    if (!o.ok) o.error = url + ": " + o.error;
    return o;
  };
  auto failed = [&](std::string why) {
    Outcome o;
    o.error = std::move(why);
    return done(std::move(o));
  };
  if (!ctx_) co_return failed("no credentials (kubeconfig not read yet)");
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(ip, ec);
  if (ec) co_return failed("not an IP address");
  const asio::ip::tcp::endpoint endpoint(addr, port);

  // Take the idle connection (a probe running meanwhile opens its own); keep it only for the
  // same endpoint and credentials.
  std::shared_ptr<Connection> conn = std::exchange(idle_, nullptr);
  if (conn && (conn->ctx != ctx_ || conn->endpoint != endpoint)) conn.reset();
  // The whole probe shares one deadline: connect, handshake, write and read, and the retry.
  const auto deadline = started + timeout;
  for (int attempt = 0;; ++attempt) {
    if (!conn) conn = std::make_shared<Connection>(ex_, ctx_, endpoint, ip);
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) co_return failed("timed out");
    beast::get_lowest_layer(conn->stream).expires_after(left);
    bool reusable = false;
    bool retryable = false;
    auto op = exchange(*conn, reusable, retryable);
    Outcome o = co_await std::move(op);
    if (!o.ok && retryable && attempt == 0) {
      conn.reset();
      continue;
    }
    if (reusable) {
      beast::get_lowest_layer(conn->stream).expires_never();
      idle_ = std::move(conn);
    }
    // Otherwise the socket closes with `conn`, without a TLS close_notify round trip.
    co_return done(std::move(o));
  }
}

asio::awaitable<bool> Prober::refuses(std::string ip, std::uint16_t port,
                                      std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(ip, ec);
  if (ec) co_return false;
  beast::tcp_stream tcp(ex_);
  tcp.expires_after(timeout);
  auto [cec] = co_await tcp.async_connect(asio::ip::tcp::endpoint(addr, port), kNoThrow);
  co_return cec == asio::error::connection_refused;
}

}  // namespace k8sinpod::probe
