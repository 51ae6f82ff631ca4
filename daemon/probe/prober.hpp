#pragma once
/// Health probe of the cluster's API server: HTTPS `GET /readyz` to `<ip>:6443`, verifying the
/// server against the kubeconfig's CA (the certificate must carry the IP as a SAN, as kubeadm
/// issues it) and presenting the kubeconfig's client certificate. No verification is ever
/// skipped. One new connection per probe, bounded by the timeout as a whole.
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

  boost::asio::awaitable<Outcome> readyz(std::string ip, std::uint16_t port,
                                         std::chrono::milliseconds timeout);

 private:
  boost::asio::any_io_executor ex_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
};

}  // namespace k8sinpod::probe
