#pragma once
/// Docker events, the pure half (STYLE.md 1): the `GET /events` query, one event's JSON, the
/// splitter that cuts the streamed body into events, the decision whether an event concerns our
/// cluster, and the reconnect delay. No sockets, clocks or files: every function here is a table
/// test in test/unit/docker/events_mapping_test.cpp. The I/O half is events.hpp.
///
/// Errors are values. Parse errors are a clause about the event (`event is not JSON: "{\"Ty"...`,
/// `event .Actor.Attributes.name: expected string, got number`); the stream prefixes it with the
/// request and the endpoint. Nothing here throws (the splitter is fuzzed).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace k8sinpod::docker {

/// One message of Docker's event stream (API >= 1.22 fields; the legacy `status`/`id`/`from`
/// duplicates are ignored).
struct Event {
  std::string type;    // .Type: "container", "network", "image", ...
  std::string action;  // .Action as sent: "die", "exec_start: sh -c x", "health_status: healthy"
  /// `action` up to its first ':' ("exec_start", "health_status"); the whole action without one.
  std::string base_action;
  std::string actor_id;  // .Actor.ID: the container id, or the network id for network events
  /// .Actor.Attributes. Container events carry the container's labels here (and `name`,
  /// `image`, `exitCode` on die, `signal` on kill); network events carry `container` (the id),
  /// `name` (the network's name) and `type` (the driver).
  std::map<std::string, std::string> attributes;
  std::int64_t time_nano = 0;  // .timeNano; .time * 1e9 when only that is present; 0 if neither
  friend bool operator==(const Event&, const Event&) = default;
};

/// Parses one event object. `Type` and `Action` are required strings; `Actor`, `Actor.ID`,
/// `Actor.Attributes` (an object of strings), `timeNano` and `time` (integers) may be absent or
/// null. A wrong type, or a time that does not fit in int64 nanoseconds, is an error naming the
/// field.
Result<Event> parse_event(std::string_view json);

/// Cuts Docker's `/events` body — JSON objects each followed by "\n", delivered in arbitrary
/// chunks — into events. An object split across chunks waits for its newline; several in one
/// chunk come out in order. Blank lines (also "\r\n") are skipped. A line that does not parse
/// yields an error in its place and the next line is read normally. A line longer than
/// `kMaxLine` yields one error as soon as it is that long, its bytes are dropped up to the next
/// newline, and reading resumes after it: memory stays bounded whatever the input.
///
/// Not thread-safe; no I/O. Any byte sequence is valid input.
class EventSplitter {
 public:
  static constexpr std::size_t kMaxLine = std::size_t{1} << 20U;  // 1 MiB, newline excluded

  /// Appends bytes of the body and parses every line they complete.
  void feed(std::string_view bytes);
  /// The events and errors completed since the last call, in stream order; clears them.
  std::vector<Result<Event>> take();
  /// Bytes of the unfinished line held back (0 while dropping an oversize line).
  std::size_t buffered() const { return line_.size(); }

 private:
  void finish_line();

  std::string line_;
  bool dropping_ = false;  // inside an oversize line: discard up to the next newline
  std::vector<Result<Event>> ready_;
};

/// The container actions subscribed to. `create` is left out: a created node is not running and
/// the `start` that follows is what matters; `exec_*`, `health_status`, `attach`, `rename`,
/// `update`, `top`, ... never change a node's liveness or address.
inline constexpr std::string_view kContainerActions[] = {
    "start", "restart", "die", "stop", "kill", "oom", "pause", "unpause", "destroy"};
/// The network actions subscribed to: a node joining or leaving a network.
inline constexpr std::string_view kNetworkActions[] = {"connect", "disconnect"};

/// The request target of the event stream:
/// `/events?filters=<percent-encoded {"type":["container","network"],"event":[...]}>` with the
/// actions above. Docker ANDs the two keys and ORs the values within one, so the server cannot
/// filter the cross product: network `destroy` events also arrive (no container, see
/// `classify`), and labels are left to `classify` since network events do not carry the
/// container's labels.
std::string events_query();

enum class Relevance { none, cluster_container, cluster_network };

/// Whether `event` concerns our cluster:
/// - type "container" whose attributes (the container's labels) have
///   `io.x-k8s.kind.cluster` == `cluster`: `cluster_container`;
/// - type "network" whose attribute `name` == `network` and whose attribute `container` is one
///   of `known_container_ids` (full ids as Docker sends them), or any container when
///   `known_container_ids` is empty (the nodes are not known yet): `cluster_network`;
/// - anything else, including an empty `cluster` or `network`: `none`.
Relevance classify(const Event& event, std::string_view cluster, std::string_view network,
                   const std::set<std::string>& known_container_ids);

/// How the event stream waits between connection attempts.
struct Backoff {
  std::chrono::milliseconds initial{500};  // delay after the first failure
  std::chrono::milliseconds max{30000};    // cap, jitter included
  double jitter = 0.2;                     // in [0, 1]: up to this fraction is added
  std::uint32_t seed = 1;                  // seeds the jitter (pass a random one in production)
};

/// The delay before attempt `failures` + 1 after `failures` consecutive failures (>= 1):
/// `initial * 2^(failures-1)`, plus `jitter * unit_random` of it, at most `max`.
/// `unit_random` is in [0, 1). `failures` 0 is treated as 1.
std::chrono::milliseconds backoff_delay(const Backoff& backoff, std::uint64_t failures,
                                        double unit_random);

}  // namespace k8sinpod::docker
