#pragma once
/// Docker Engine API mapping: the pure half of the Docker adapter (STYLE.md 1).
///
/// Parses DOCKER_HOST-style addresses and the JSON of `GET /containers/json` and
/// `GET /containers/{id}/json`, builds the label-filter URL, and decides which container is a
/// kind cluster's control plane. No sockets, clocks or files: every function here is a table test
/// in test/unit/docker/mapping_test.cpp. The I/O half is client.hpp.
///
/// Errors are values (`Result`). The JSON parsers return a clause about the response
/// (`response is not JSON: "<html>..."`, `response .State.Running: expected bool, got string`);
/// the client prefixes it with the request and the endpoint. Nothing here throws.

#include <boost/json/value.hpp>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace k8sinpod::docker {

/// Where dockerd listens: `unix:///abs/path.sock` or `tcp://host:port` (no TLS).
struct Endpoint {
  enum class Kind { unix_socket, tcp };
  Kind kind = Kind::unix_socket;
  std::string path;  // unix_socket: absolute socket path
  std::string host;  // tcp: name, IPv4 literal or IPv6 literal without brackets
  std::string port;  // tcp: decimal 1..65535
  /// Back to the DOCKER_HOST form: `unix:///run/docker.sock`, `tcp://[::1]:2375`.
  std::string to_string() const;
};

/// Parses a DOCKER_HOST value. Accepts `unix:///abs/path` (path at most 107 bytes, the size of
/// `sockaddr_un::sun_path`) and `tcp://host:port` (IPv6 as `tcp://[::1]:2375`). Rejects other
/// schemes (`ssh://`, `npipe://`, `fd://`, `http://`), a missing scheme, relative paths, a
/// missing or non-numeric port and anything after the port:
/// `docker: host "ssh://me@box": unsupported scheme "ssh" (want unix:// or tcp://)`.
Result<Endpoint> parse_host(std::string_view host);

/// One element of `GET /containers/json`.
struct ContainerSummary {
  std::string id;
  std::vector<std::string>
      names;          // as Docker sends them, with the leading "/": "/ci-control-plane"
  std::string state;  // "running", "exited", "created", ... ("" if absent)
  std::map<std::string, std::string> labels;
};

/// Parses the `GET /containers/json` body: a JSON array of objects with `Id` (required string),
/// `Names` (array of strings), `State` (string) and `Labels` (object of strings); absent or null
/// optional fields are empty, any field of the wrong type is an error naming its index and key.
Result<std::vector<ContainerSummary>> parse_container_list(std::string_view json);

/// What `GET /containers/{id}/json` says about one container.
struct ContainerInfo {
  std::string id;
  std::string name;  // without the leading "/": "ci-control-plane"
  bool running = false;
  std::string status;  // .State.Status: "running", "exited", ...
  /// .State.StartedAt as Docker wrote it (RFC 3339): when it last started. Compared, never
  /// parsed: a different value means the container was restarted.
  std::string started_at;
  /// .NetworkSettings.Networks.<network>.IPAddress by network name. Empty string while the
  /// container is stopped. Read the address of one network by its name (kind-contract.md):
  /// never glue all networks' addresses together as a `{{range}}` template would.
  std::map<std::string, std::string> ipv4_by_network;
};

/// Parses the `GET /containers/{id}/json` body (`.State.StartedAt` a string too). `Id` is
/// required; `Name`, `State`,
/// `NetworkSettings.Networks` may be absent or null (empty values). A wrong type, or an
/// `IPAddress` that is neither empty nor a dotted-quad IPv4 address, is an error.
Result<ContainerInfo> parse_inspect(std::string_view json);

/// The request target for `GET /containers/json` filtered on every label in `labels` (each
/// `key=value` or `key`): `/containers/json?all=1&filters=%7B%22label%22%3A%5B...%5D%7D`.
/// `all` adds `all=1` (stopped containers too, as `docker ps -a`). No labels: no filter.
std::string label_filter_query(const std::vector<std::string>& labels, bool all);

/// `text` for a URL query value: every byte but `A-Z a-z 0-9 - . _ ~` as `%XX` (upper-case hex).
std::string percent_encode(std::string_view text);

/// kind's Docker labels (kind-contract.md).
inline constexpr std::string_view kClusterLabel = "io.x-k8s.kind.cluster";
inline constexpr std::string_view kRoleLabel = "io.x-k8s.kind.role";
inline constexpr std::string_view kControlPlaneRole = "control-plane";

/// A kind cluster's control-plane container as seen through Docker.
/// "null", "bool", "number", "string", "array" or "object": for error messages.
std::string_view json_type_name(const boost::json::value& v);

struct ControlPlane {
  bool found = false;    // a container labelled as the cluster's control plane exists
  bool running = false;  // it is running (only then does it have an address)
  std::string id;
  std::string name;        // without the leading "/"
  std::string ip;          // IPv4 on the requested network; "" unless running
  std::string started_at;  // .State.StartedAt of the inspected container; "" unless found
  std::string detail;      // why a running control plane has no address; "" otherwise
};

/// Picks the control plane of `cluster` from a container list: the containers labelled
/// `io.x-k8s.kind.cluster=<cluster>` and `io.x-k8s.kind.role=control-plane` (others are ignored,
/// so an unfiltered list works too). None: `found == false`. One: that one, whatever its name.
/// Several (an HA cluster: `<cluster>-control-plane`, `<cluster>-control-plane2`, ...): the one
/// named `<cluster>-control-plane`, the first node kind creates and the name `--internal`
/// kubeconfigs use; if none has that name it is an error, not a guess. `running` comes from the
/// summary's `State`; `ip` is left empty (the list does not carry it reliably per network:
/// inspect the container for it).
Result<ControlPlane> select_control_plane(const std::vector<ContainerSummary>& containers,
                                          std::string_view cluster);

/// At most `max_bytes` of `body` for an error message: quoted, `"` and `\` escaped, bytes outside
/// printable ASCII as `\xNN`, and `...` after the quote when cut: `"<html>\x0a<body>"...`.
std::string excerpt(std::string_view body, std::size_t max_bytes = 80);

/// The error text of a non-2xx Docker response: the `message` of a `{"message": "..."}` body
/// with its first letter lower-cased (`no such container: x`), else an excerpt of the body.
std::string error_text(std::string_view body);

}  // namespace k8sinpod::docker
