#pragma once
/// Docker Engine API client: the I/O half of the Docker adapter (the mapping is mapping.hpp).
///
/// Speaks HTTP/1.1 to dockerd over a unix socket or plain TCP, one connection per request
/// (`Connection: close`), so a dockerd restart between two calls needs no reconnect logic.
/// Each request — resolve, connect, write, read — is bounded by the constructor's `timeout`;
/// bodies above 8 MiB are refused. Chunked responses are read like any other.
///
/// Errors are values and name the request and the endpoint:
///   `docker: GET /containers/x/json on unix:///run/docker.sock: 404 no such container: x`
///   `docker: GET /_ping on unix:///run/docker.sock: connect: no such file or directory`
///   `docker: GET /_ping on tcp://10.0.0.1:2375: timed out after 2000ms (connect)`
/// Nothing is thrown.
///
/// Executor affinity: every coroutine runs on the executor given to the constructor; the
/// `Client` must outlive the coroutines it starts. Calls may overlap (each has its own
/// connection). A resolver lookup of a TCP host name runs on Asio's resolver thread: on timeout
/// the request fails at the deadline only once the system resolver has returned.
///
/// In tests: point it at a fake server on a temp unix socket or on 127.0.0.1 port 0
/// (test/unit/docker/client_test.cpp), never at the host's /var/run/docker.sock.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "docker/mapping.hpp"

namespace k8sinpod::docker {

class Client {
 public:
  /// Largest response body accepted.
  static constexpr std::size_t kBodyLimit = std::size_t{8} * 1024 * 1024;

  Client(boost::asio::any_io_executor executor, Endpoint endpoint,
         std::chrono::milliseconds timeout);

  const Endpoint& endpoint() const { return endpoint_; }

  /// `GET /containers/json` filtered on every label (`key=value` or `key`); `all` includes
  /// stopped containers.
  boost::asio::awaitable<Result<std::vector<ContainerSummary>>> list_containers(
      std::vector<std::string> labels, bool all);

  /// `GET /containers/{id_or_name}/json`. A missing container is an error (`404 no such
  /// container: x`).
  boost::asio::awaitable<Result<ContainerInfo>> inspect(std::string id_or_name);

  /// `GET /_ping`: succeeds when dockerd answers 2xx.
  boost::asio::awaitable<Result<void>> ping();

  /// The control plane of kind cluster `cluster` and its IPv4 address on `network` (usually
  /// `kind`): lists all containers (stopped too) labelled as that cluster's control plane,
  /// picks one with `select_control_plane`, inspects it and reads the address of `network` by
  /// name, and when it last started. Not found: `found == false`. Stopped: `running == false`,
  /// `ip` empty. Running but
  /// without an address on `network`: an error naming the networks it has.
  boost::asio::awaitable<Result<ControlPlane>> control_plane(std::string cluster,
                                                             std::string network);

 private:
  struct Response {
    unsigned status = 0;
    std::string body;
  };
  /// One GET of `target`; non-2xx is an error carrying Docker's message.
  /// Non-2xx answers are errors, except 404 when `allow_not_found` (returned as a Response).
  boost::asio::awaitable<Result<Response>> get(std::string target, bool allow_not_found = false);

  boost::asio::any_io_executor executor_;
  Endpoint endpoint_;
  std::chrono::milliseconds timeout_;
};

}  // namespace k8sinpod::docker
