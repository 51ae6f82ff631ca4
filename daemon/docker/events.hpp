#pragma once
/// Docker event stream: the I/O half of Docker events (the mapping is events_mapping.hpp).
///
/// Holds one long-lived `GET /events?filters=...` (`events_query()`) open to dockerd over a unix
/// socket or plain TCP and hands every event to `on_event` as soon as its line is complete.
/// Connect, request and response headers are bounded by `connect_timeout`; the body has no
/// deadline (hours without an event are normal). A non-200 answer, a broken or ended stream is a
/// disconnection: `on_connection(false, why)` once, then reconnect attempts spaced by
/// `backoff_delay` (reset after every successful connection), and `on_connection(true, "")` once
/// one succeeds. Events that happen while disconnected are lost: re-inspect on `true`.
///
/// Messages name the request and the endpoint, as the request client's do:
///   `docker: GET /events on unix:///run/docker.sock: connect: no such file or directory`
///   `docker: GET /events on unix:///run/docker.sock: read events: partial message`
///   `docker: GET /events on tcp://10.0.0.1:2375: timed out after 5000ms (read headers)`
///   `docker: GET /events on unix:///run/docker.sock: 400 invalid filter 'evnt'`
/// A line that is not a valid event goes to `on_error` (`...: event .Type: missing`) and the
/// stream goes on. Nothing is thrown.
///
/// Executor affinity: the stream runs on the executor given to the constructor and calls every
/// callback there, in stream order. Call `start`, `stop` and the destructor on that executor's
/// thread (or while it is not running); `connected` and `reconnects` may be read from any
/// thread. Callbacks may call `stop` or destroy the `EventStream`; they must not throw (an
/// exception ends the stream and is reported on stderr as a bug, see common/spawn.hpp).
///
/// Shutdown: `stop()` returns at once, calls no callback after it, and cancels the pending
/// connect, read or backoff wait, so the stream's work on the executor ends promptly (an
/// `io_context` with nothing else to do returns from `run`). One exception: a TCP host name
/// being resolved ends only when the system resolver returns (at most `connect_timeout`).
///
/// In tests: a fake dockerd on a temp unix socket (test/unit/docker/events_test.cpp), never the
/// host's /var/run/docker.sock.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "docker/events_mapping.hpp"
#include "docker/mapping.hpp"

namespace k8sinpod::docker {

class EventStream {
 public:
  struct Callbacks {
    /// Every event of the stream, relevant or not (see `classify`).
    std::function<void(const Event&)> on_event;
    /// Connection state changes only: `(true, "")` on connecting, `(false, why)` on losing the
    /// stream or failing the first attempt; never twice in a row with the same `connected`.
    std::function<void(bool connected, const std::string& error)> on_connection;
    /// A line of the stream that is not a valid event; the stream continues.
    std::function<void(const std::string& error)> on_error;
  };

  static constexpr std::chrono::milliseconds kConnectTimeout{5000};

  /// Any callback may be empty. Does nothing until `start`.
  EventStream(boost::asio::any_io_executor executor, Endpoint endpoint, Callbacks callbacks,
              Backoff backoff = {}, std::chrono::milliseconds connect_timeout = kConnectTimeout);
  /// Stops the stream (see `stop`).
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  /// Starts connecting. Once only: later calls, and calls after `stop`, do nothing.
  void start();
  /// Ends the stream for good: cancels whatever is pending, no callback afterwards. Idempotent.
  void stop();

  /// True from the 200 answer until the stream breaks or is stopped.
  bool connected() const;
  /// Connection attempts after the first one, successful or not.
  std::uint64_t reconnects() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the running coroutine, which may outlive us
};

}  // namespace k8sinpod::docker
