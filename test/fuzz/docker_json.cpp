// Fuzz target `docker_json`: the Docker Engine API response parsers on arbitrary bytes. Input:
// a body of `GET /containers/json`, `GET /containers/{id}/json` or one `/events` message, or a
// DOCKER_HOST value; every parser sees every input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "docker/events_mapping.hpp"
#include "docker/mapping.hpp"
#include "fuzz.hpp"

using namespace k8sinpod;
using fuzz::require;

namespace {

bool is_ipv4(std::string_view s) {
  int parts = 0;
  while (true) {
    std::size_t digits = 0;
    int value = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') {
      value = value * 10 + (s[digits] - '0');
      if (++digits > 3) return false;
    }
    if (digits == 0 || value > 255) return false;
    ++parts;
    s.remove_prefix(digits);
    if (s.empty()) return parts == 4;
    if (s.front() != '.' || parts == 4) return false;
    s.remove_prefix(1);
  }
}

bool is_printable_ascii(std::string_view s) {
  for (const char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

void fuzz_inspect(std::string_view text) {
  const auto info = docker::parse_inspect(text);
  if (!info) return;
  for (const auto& [network, ip] : info->ipv4_by_network) {
    require(ip.empty() || is_ipv4(ip), "parse_inspect: IPAddress empty or dotted-quad IPv4");
  }
}

void fuzz_list(std::string_view text) {
  const auto list = docker::parse_container_list(text);
  if (!list) return;
  for (const std::string_view cluster : {"ci", ""}) {
    const auto cp = docker::select_control_plane(*list, cluster);
    if (cp && !cp->found) require(!cp->running && cp->id.empty(), "select: not found is empty");
  }
}

void fuzz_event(std::string_view text) {
  const auto event = docker::parse_event(text);
  if (!event) return;
  require(event->base_action == event->action.substr(0, event->action.find(':')),
          "parse_event: base_action is action up to its first ':'");
  static_cast<void>(docker::classify(*event, "ci", "kind", {}));
  static_cast<void>(docker::classify(*event, "ci", "kind", {event->actor_id}));
}

void fuzz_host(std::string_view text) {
  const auto endpoint = docker::parse_host(text);
  if (!endpoint) return;
  const auto again = docker::parse_host(endpoint->to_string());
  require(again.has_value() && again->kind == endpoint->kind && again->path == endpoint->path &&
              again->host == endpoint->host && again->port == endpoint->port,
          "parse_host(to_string(e)) == e");
}

void fuzz_error_text(std::string_view text) {
  constexpr std::size_t kMaxBytes = 80;
  const std::string ex = docker::excerpt(text, kMaxBytes);
  require(is_printable_ascii(ex), "excerpt: printable ASCII only");
  require(ex.size() <= 4 * kMaxBytes + 2 + 3, "excerpt: bounded by max_bytes");
  require(is_printable_ascii(docker::error_text(text)), "error_text: printable ASCII only");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  fuzz_inspect(text);
  fuzz_list(text);
  fuzz_event(text);
  fuzz_host(text);
  fuzz_error_text(text);
  return 0;
}
