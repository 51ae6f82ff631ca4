#include "docker/events_mapping.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <exception>
#include <limits>
#include <utility>

#include "docker/mapping.hpp"

namespace k8sinpod::docker {
namespace {

namespace json = boost::json;

constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

Error wrong_type(std::string_view where, std::string_view want, const json::value& got) {
  return fail("event " + std::string(where) + ": expected " + std::string(want) + ", got " +
              std::string(json_type_name(got)));
}

// The member `key` of `o`; nullptr when absent or null.
const json::value* member(const json::object& o, std::string_view key) {
  const auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

Result<std::string> string_member(const json::object& o, std::string_view key,
                                  std::string_view where, bool required) {
  const json::value* v = member(o, key);
  if (v == nullptr) {
    if (required) return fail("event " + std::string(where) + ": missing");
    return std::string();
  }
  if (!v->is_string()) return wrong_type(where, "string", *v);
  return std::string(v->get_string());
}

// An integer member as int64; `present` is false when it is missing or null.
struct Integer {
  bool present = false;
  std::int64_t value = 0;
};
Result<Integer> integer_member(const json::object& o, std::string_view key,
                               std::string_view where) {
  const json::value* v = member(o, key);
  if (v == nullptr) return Integer{};
  if (v->is_int64()) return Integer{true, v->get_int64()};
  if (v->is_uint64()) {
    // Boost.JSON uses uint64 only for values above INT64_MAX.
    return fail("event " + std::string(where) + ": " + std::to_string(v->get_uint64()) +
                " is out of range");
  }
  return wrong_type(where, "integer", *v);
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

Result<json::value> parse_json(std::string_view text) {
  try {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return fail("event is not JSON: " + excerpt(text));
    return v;
  } catch (const std::exception& e) {  // allocation failure
    return fail("event is not JSON: " + std::string(e.what()));
  }
}

}  // namespace

Result<Event> parse_event(std::string_view text) {
  auto parsed = parse_json(text);
  if (!parsed) return parsed.error();
  const json::object* root = parsed->if_object();
  if (root == nullptr) return wrong_type("body", "object", *parsed);

  Event event;
  auto type = string_member(*root, "Type", ".Type", true);
  if (!type) return type.error();
  event.type = std::move(*type);

  auto action = string_member(*root, "Action", ".Action", true);
  if (!action) return action.error();
  event.action = std::move(*action);
  event.base_action = event.action.substr(0, event.action.find(':'));

  if (const json::value* actor = member(*root, "Actor")) {
    if (!actor->is_object()) return wrong_type(".Actor", "object", *actor);
    auto id = string_member(actor->get_object(), "ID", ".Actor.ID", false);
    if (!id) return id.error();
    event.actor_id = std::move(*id);
    if (const json::value* attributes = member(actor->get_object(), "Attributes")) {
      if (!attributes->is_object()) {
        return wrong_type(".Actor.Attributes", "object", *attributes);
      }
      for (const auto& [key, value] : attributes->get_object()) {
        if (!value.is_string()) {
          return wrong_type(".Actor.Attributes." + std::string(key), "string", value);
        }
        event.attributes.emplace(std::string(key), std::string(value.get_string()));
      }
    }
  }

  auto nanos = integer_member(*root, "timeNano", ".timeNano");
  if (!nanos) return nanos.error();
  if (nanos->present) {
    event.time_nano = nanos->value;
    return event;
  }
  auto seconds = integer_member(*root, "time", ".time");
  if (!seconds) return seconds.error();
  if (seconds->present) {
    constexpr std::int64_t kLimit = std::numeric_limits<std::int64_t>::max() / kNanosPerSecond;
    if (seconds->value > kLimit || seconds->value < -kLimit) {
      return fail("event .time: " + std::to_string(seconds->value) + " is out of range");
    }
    event.time_nano = seconds->value * kNanosPerSecond;
  }
  return event;
}

void EventSplitter::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    const std::size_t newline = bytes.find('\n');
    const std::string_view part = bytes.substr(0, newline);
    if (dropping_) {
      if (newline == std::string_view::npos) return;
      dropping_ = false;
    } else if (part.size() > kMaxLine - line_.size()) {
      ready_.push_back(fail("event longer than " + std::to_string(kMaxLine) +
                            " bytes: dropped up to the next newline"));
      line_ = std::string();  // give the megabyte back
      if (newline == std::string_view::npos) {
        dropping_ = true;
        return;
      }
    } else {
      line_.append(part);
      if (newline == std::string_view::npos) return;
      finish_line();
    }
    bytes.remove_prefix(newline + 1);
  }
}

void EventSplitter::finish_line() {
  const std::string_view line = trim(line_);
  if (!line.empty()) ready_.push_back(parse_event(line));
  line_.clear();
}

std::vector<Result<Event>> EventSplitter::take() {
  std::vector<Result<Event>> out;
  out.swap(ready_);
  return out;
}

std::string events_query() {
  json::array types;
  types.emplace_back("container");
  types.emplace_back("network");
  json::array actions;
  for (const auto action : kContainerActions) actions.emplace_back(action);
  for (const auto action : kNetworkActions) actions.emplace_back(action);
  json::object filters;
  filters["type"] = std::move(types);
  filters["event"] = std::move(actions);
  return "/events?filters=" + percent_encode(json::serialize(filters));
}

Relevance classify(const Event& event, std::string_view cluster, std::string_view network,
                   const std::set<std::string>& known_container_ids) {
  const auto attribute = [&](std::string_view key) -> const std::string* {
    const auto it = event.attributes.find(std::string(key));
    return it == event.attributes.end() ? nullptr : &it->second;
  };
  if (event.type == "container") {
    const std::string* label = attribute(kClusterLabel);
    if (!cluster.empty() && label != nullptr && *label == cluster) {
      return Relevance::cluster_container;
    }
    return Relevance::none;
  }
  if (event.type == "network") {
    const std::string* name = attribute("name");
    if (network.empty() || name == nullptr || *name != network) return Relevance::none;
    if (known_container_ids.empty()) return Relevance::cluster_network;
    const std::string* container = attribute("container");
    if (container != nullptr && known_container_ids.count(*container) != 0) {
      return Relevance::cluster_network;
    }
    return Relevance::none;
  }
  return Relevance::none;
}

std::chrono::milliseconds backoff_delay(const Backoff& backoff, std::uint64_t failures,
                                        double unit_random) {
  using std::chrono::milliseconds;
  const double initial = static_cast<double>(std::max(backoff.initial, milliseconds(1)).count());
  const double cap = std::max(static_cast<double>(backoff.max.count()), initial);
  double delay = initial;
  for (std::uint64_t i = 1; i < failures && delay < cap; ++i) delay *= 2.0;
  delay = std::min(delay, cap);
  // NaN and out-of-range inputs fall back to no jitter rather than a surprising delay.
  const double jitter = backoff.jitter > 0.0 && backoff.jitter <= 1.0 ? backoff.jitter : 0.0;
  const double unit = unit_random >= 0.0 && unit_random < 1.0 ? unit_random : 0.0;
  delay = std::min(delay * (1.0 + jitter * unit), cap);
  return milliseconds(static_cast<milliseconds::rep>(delay));
}

}  // namespace k8sinpod::docker
