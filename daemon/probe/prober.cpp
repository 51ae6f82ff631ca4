#include "probe/prober.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

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
  return {};
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

  const auto ctx = ctx_;  // keep the context alive across a credential swap
  beast::ssl_stream<beast::tcp_stream> stream(ex_, *ctx);
  // The whole exchange shares one deadline: connect, handshake, write and read.
  beast::get_lowest_layer(stream).expires_after(timeout);
  stream.set_verify_callback(asio::ssl::host_name_verification(ip));

  auto [cec] = co_await beast::get_lowest_layer(stream).async_connect(
      asio::ip::tcp::endpoint(addr, port), kNoThrow);
  if (cec) co_return failed("connect: " + cec.message());
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kNoThrow);
  if (hec) co_return failed("tls handshake: " + hec.message());

  http::request<http::empty_body> req{http::verb::get, "/readyz", 11};
  req.set(http::field::host, ip + ":" + std::to_string(port));
  req.set(http::field::user_agent, "k8sinpodd");
  req.set(http::field::accept, "text/plain");
  auto [wec, wn] = co_await http::async_write(stream, req, kNoThrow);
  if (wec) co_return failed("write: " + wec.message());

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  if (rec) co_return failed("read: " + rec.message());
  const auto& res = parser.get();
  // No TLS close_notify round trip: the answer is in hand and the socket closes with `stream`.
  co_return done(interpret(res.result_int(), res.body()));
}

}  // namespace k8sinpod::probe
