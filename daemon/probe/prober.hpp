#pragma once
/// Health probe of the cluster's API server: HTTPS `GET /readyz` to `<ip>:6443`, verifying the
/// server against the kubeconfig's CA (the certificate must carry the IP as a SAN, as kubeadm
/// issues it) and presenting the kubeconfig's client certificate. No verification is ever
/// skipped. Each probe is bounded by the timeout as a whole.
///
/// The TLS connection is kept alive between probes, as any Kubernetes client keeps its
/// connection to the API server: a full handshake with the client certificate costs milliseconds
/// of CPU, a request on an open connection a few microseconds (docs/benchmarks.md, "Cost of
/// watching"). It is reused only for the same address, port and credentials, and dropped after any
/// failure and whenever the server does not keep it. A request on a reused connection that fails
/// before any answer arrives (the server closed it while idle, or restarted) is retried once on a
/// new connection within the same deadline; a timeout is never retried, so a hanging server
/// fails the probe after `timeout`, not twice that.
///
/// Executor affinity: one executor. Key material stays inside the SSL context; no error or log
/// message carries it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace k8sinpod::probe {

struct Outcome {
  bool ok = false;
  std::string error;  // e.g. `GET https://172.18.0.2:6443/readyz: 500: [-]etcd failed: ...`
  std::chrono::milliseconds took{};
  bool refused = false;  // the TCP connect was refused: nothing listens there (yet)
};

/// Pure: what an HTTP answer from /readyz means. 200 with body "ok" is healthy.
Outcome interpret(unsigned status, std::string_view body);

class Prober {
 public:
  explicit Prober(boost::asio::any_io_executor ex);

  /// Builds the TLS context from PEM texts (CA, client certificate, client key).
  Result<void> set_credentials(std::string_view ca_pem, std::string_view cert_pem,
                               std::string_view key_pem);
  bool has_credentials() const { return ctx_ != nullptr; }

  /// TCP+TLS connections opened so far (each one a full handshake).
  std::uint64_t connections_opened() const { return connections_opened_; }

  boost::asio::awaitable<Outcome> readyz(std::string ip, std::uint16_t port,
                                         std::chrono::milliseconds timeout);

  /// A bare TCP connect to ip:port, closed at once (no TLS, not counted as a connection):
  /// true when it was refused, i.e. nothing listens there. Any other failure, a timeout
  /// included, and an accepted connect give false.
  boost::asio::awaitable<bool> refuses(std::string ip, std::uint16_t port,
                                       std::chrono::milliseconds timeout);

 private:
  struct Connection;
  /// One exchange on `conn` (opened first when it is not yet): sets `reusable` when the server
  /// keeps the connection, `retryable` when a reused connection failed before any answer.
  boost::asio::awaitable<Outcome> exchange(Connection& conn, bool& reusable, bool& retryable);

  boost::asio::any_io_executor ex_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  std::shared_ptr<Connection> idle_;  // the kept-alive connection between probes, if any
  std::uint64_t connections_opened_ = 0;
};

}  // namespace k8sinpod::probe
