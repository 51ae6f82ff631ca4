// The pure half of Docker events: parsing, splitting the streamed body, the query, classify,
// the reconnect delay. Fixtures are events as Docker 20.10 sends them on GET /events.
#include "docker/events_mapping.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using namespace k8sinpod::docker;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kNodeId =
    "8dfafdbc3a40c1f2b9f5e1d1a0a3c1f0e4a9d5b6c7e8f9a0b1c2d3e4f5a6b7c8";
constexpr std::string_view kOtherId =
    "1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a";

// `docker kill ci-control-plane` on Docker 20.10.24: the die that follows the kill. The
// container's labels are in Actor.Attributes next to exitCode, image and name.
constexpr std::string_view kDie2010 =
    R"({"status":"die","id":"8dfafdbc3a40c1f2b9f5e1d1a0a3c1f0e4a9d5b6c7e8f9a0b1c2d3e4f5a6b7c8",)"
    R"("from":"kindest/node:v1.27.3","Type":"container","Action":"die","Actor":{"ID":)"
    R"("8dfafdbc3a40c1f2b9f5e1d1a0a3c1f0e4a9d5b6c7e8f9a0b1c2d3e4f5a6b7c8","Attributes":{)"
    R"("exitCode":"137","image":"kindest/node:v1.27.3","io.x-k8s.kind.cluster":"ci",)"
    R"("io.x-k8s.kind.role":"control-plane","name":"ci-control-plane"}},"scope":"local",)"
    R"("time":1700000123,"timeNano":1700000123456789012})";

// The same container joining the kind network (`docker start`): network events carry the
// container id, the network's name and its driver, not the container's labels.
constexpr std::string_view kConnect2010 =
    R"({"Type":"network","Action":"connect","Actor":{"ID":)"
    R"("4c1b2b0f0f6e3a9c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c","Attributes":{)"
    R"("container":"8dfafdbc3a40c1f2b9f5e1d1a0a3c1f0e4a9d5b6c7e8f9a0b1c2d3e4f5a6b7c8",)"
    R"("name":"kind","type":"bridge"}},"scope":"local","time":1700000120,)"
    R"("timeNano":1700000120987654321})";

// `docker exec ci-control-plane sh -c x`: the command is part of the action.
constexpr std::string_view kExecStart2010 =
    R"({"status":"exec_start: sh -c x","id":)"
    R"("8dfafdbc3a40c1f2b9f5e1d1a0a3c1f0e4a9d5b6c7e8f9a0b1c2d3e4f5a6b7c8","from":)"
    R"("kindest/node:v1.27.3","Type":"container","Action":"exec_start: sh -c x","Actor":{"ID":)"
    R"("8dfafdbc3a40c1f2b9f5e1d1a0a3c1f0e4a9d5b6c7e8f9a0b1c2d3e4f5a6b7c8","Attributes":{)"
    R"("execID":"f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f",)"
    R"("image":"kindest/node:v1.27.3","io.x-k8s.kind.cluster":"ci",)"
    R"("io.x-k8s.kind.role":"control-plane","name":"ci-control-plane"}},"scope":"local",)"
    R"("time":1700000130,"timeNano":1700000130000000001})";

// A container with a health check; not a kind node (no kind labels).
constexpr std::string_view kHealth2010 =
    R"({"status":"health_status: healthy","id":"1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182)"
    R"(93a4b5c6d7e8f90a","from":"nginx:1.25","Type":"container","Action":"health_status: )"
    R"(healthy","Actor":{"ID":"1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a",)"
    R"("Attributes":{"image":"nginx:1.25","name":"web"}},"scope":"local","time":1700000140,)"
    R"("timeNano":1700000140000000000})";

std::string lines(const std::vector<std::string_view>& objects) {
  std::string out;
  for (const auto o : objects) {
    out += o;
    out += '\n';
  }
  return out;
}

std::vector<k8sinpod::Result<Event>> split_whole(std::string_view body) {
  EventSplitter s;
  s.feed(body);
  return s.take();
}

// Percent-decoding, to read the query back.
std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Event event_of(std::string type, std::string action,
               std::map<std::string, std::string> attributes) {
  Event e;
  e.type = std::move(type);
  e.action = action;
  e.base_action = action.substr(0, action.find(':'));
  e.attributes = std::move(attributes);
  return e;
}

}  // namespace

TEST_CASE("parse_event: Docker 20.10 container die, labels in Actor.Attributes") {
  const auto e = parse_event(kDie2010);
  REQUIRE_MESSAGE(e.has_value(), (e ? "" : e.error().message));
  CHECK(e->type == "container");
  CHECK(e->action == "die");
  CHECK(e->base_action == "die");
  CHECK(e->actor_id == kNodeId);
  CHECK(e->attributes.at("exitCode") == "137");
  CHECK(e->attributes.at("io.x-k8s.kind.cluster") == "ci");
  CHECK(e->attributes.at("io.x-k8s.kind.role") == "control-plane");
  CHECK(e->attributes.at("name") == "ci-control-plane");
  CHECK(e->attributes.size() == 5);
  CHECK(e->time_nano == 1700000123456789012);
}

TEST_CASE("parse_event: Docker 20.10 network connect") {
  const auto e = parse_event(kConnect2010);
  REQUIRE(e.has_value());
  CHECK(e->type == "network");
  CHECK(e->action == "connect");
  CHECK(e->actor_id == "4c1b2b0f0f6e3a9c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c");
  CHECK(e->attributes.at("container") == kNodeId);
  CHECK(e->attributes.at("name") == "kind");
  CHECK(e->attributes.at("type") == "bridge");
  CHECK(e->time_nano == 1700000120987654321);
}

TEST_CASE("parse_event: actions with arguments keep the raw action and a base action") {
  const auto exec = parse_event(kExecStart2010);
  REQUIRE(exec.has_value());
  CHECK(exec->action == "exec_start: sh -c x");
  CHECK(exec->base_action == "exec_start");
  const auto health = parse_event(kHealth2010);
  REQUIRE(health.has_value());
  CHECK(health->action == "health_status: healthy");
  CHECK(health->base_action == "health_status");
}

TEST_CASE("parse_event: optional fields and the time fallback") {
  SUBCASE("only time: seconds scaled to nanoseconds") {
    const auto e = parse_event(R"({"Type":"container","Action":"start","time":1700000000})");
    REQUIRE(e.has_value());
    CHECK(e->time_nano == 1700000000000000000);
    CHECK(e->actor_id.empty());
    CHECK(e->attributes.empty());
  }
  SUBCASE("null Actor, null Attributes, no time") {
    auto e = parse_event(R"({"Type":"network","Action":"destroy","Actor":null})");
    REQUIRE(e.has_value());
    CHECK(e->time_nano == 0);
    e = parse_event(R"({"Type":"network","Action":"x","Actor":{"ID":"n1","Attributes":null}})");
    REQUIRE(e.has_value());
    CHECK(e->actor_id == "n1");
  }
  SUBCASE("an action that is a bare colon") {
    const auto e = parse_event(R"({"Type":"container","Action":":"})");
    REQUIRE(e.has_value());
    CHECK(e->base_action.empty());
  }
}

TEST_CASE("parse_event: errors name the field") {
  struct Row {
    std::string_view json;
    std::string_view error;
  };
  const Row rows[] = {
      {"not json", R"(event is not JSON: "not json")"},
      {"[1]", "event body: expected object, got array"},
      {R"({"Action":"die"})", "event .Type: missing"},
      {R"({"Type":"container"})", "event .Action: missing"},
      {R"({"Type":1,"Action":"die"})", "event .Type: expected string, got number"},
      {R"({"Type":"container","Action":"die","Actor":[]})",
       "event .Actor: expected object, got array"},
      {R"({"Type":"container","Action":"die","Actor":{"ID":7}})",
       "event .Actor.ID: expected string, got number"},
      {R"({"Type":"container","Action":"die","Actor":{"Attributes":"x"}})",
       "event .Actor.Attributes: expected object, got string"},
      {R"({"Type":"container","Action":"die","Actor":{"Attributes":{"exitCode":137}}})",
       "event .Actor.Attributes.exitCode: expected string, got number"},
      {R"({"Type":"container","Action":"die","timeNano":1.5})",
       "event .timeNano: expected integer, got number"},
      {R"({"Type":"container","Action":"die","timeNano":18446744073709551615})",
       "event .timeNano: 18446744073709551615 is out of range"},
      {R"({"Type":"container","Action":"die","time":9300000000000})",
       "event .time: 9300000000000 is out of range"},
      {R"({"Type":"container","Action":"die"} {})", R"(event is not JSON: "{\"Type\":\"cont)"
                                                    R"(ainer\",\"Action\":\"die\"} {}")"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.json);
    const auto e = parse_event(row.json);
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().message == row.error);
  }
}

TEST_CASE("EventSplitter: one chunk with many events, in order") {
  const auto out = split_whole(lines({kConnect2010, kDie2010, kExecStart2010, kHealth2010}));
  REQUIRE(out.size() == 4);
  for (const auto& r : out) REQUIRE(r.has_value());
  CHECK(out[0]->action == "connect");
  CHECK(out[1]->action == "die");
  CHECK(out[2]->base_action == "exec_start");
  CHECK(out[3]->base_action == "health_status");
}

TEST_CASE("EventSplitter: byte by byte gives the same events, each on its newline") {
  const std::string body = lines({kDie2010, kConnect2010});
  EventSplitter s;
  std::vector<k8sinpod::Result<Event>> out;
  for (std::size_t i = 0; i < body.size(); ++i) {
    s.feed(body.substr(i, 1));
    auto got = s.take();
    if (body[i] == '\n') {
      CHECK(got.size() == 1);
      CHECK(s.buffered() == 0);
    } else {
      CHECK(got.empty());
    }
    for (auto& g : got) out.push_back(std::move(g));
  }
  CHECK(out == split_whole(body));
  REQUIRE(out.size() == 2);
  CHECK(out[0]->time_nano == 1700000123456789012);
}

TEST_CASE("EventSplitter: a split inside a UTF-8 sequence or a JSON string is reassembled") {
  // "nœud-🚀": 2-byte and 4-byte sequences; split at every byte of the line.
  const std::string name = "n\xc5\x93ud-\xf0\x9f\x9a\x80";
  const std::string line = R"({"Type":"container","Action":"start","Actor":{"ID":"c1",)"
                           R"("Attributes":{"io.x-k8s.kind.cluster":"ci","name":")" +
                           name + R"("}}})" + "\n";
  for (std::size_t cut = 0; cut <= line.size(); ++cut) {
    CAPTURE(cut);
    EventSplitter s;
    s.feed(std::string_view(line).substr(0, cut));
    s.feed(std::string_view(line).substr(cut));
    const auto out = s.take();
    REQUIRE(out.size() == 1);
    REQUIRE_MESSAGE(out[0].has_value(), (out[0] ? "" : out[0].error().message));
    CHECK(out[0]->attributes.at("name") == name);
    CHECK(out[0]->attributes.at("io.x-k8s.kind.cluster") == "ci");
  }
}

TEST_CASE("EventSplitter: blank lines are skipped, CRLF is accepted") {
  const std::string body = "\n\n  \r\n" + std::string(kDie2010) + "\r\n\t\n";
  const auto out = split_whole(body);
  REQUIRE(out.size() == 1);
  CHECK(out[0].has_value());
  EventSplitter s;
  s.feed("\n\n\r\n");
  CHECK(s.take().empty());
  CHECK(s.buffered() == 0);
}

TEST_CASE("EventSplitter: a bad line is an error in its place, the next line is read") {
  const std::string body = "garbage\n" + std::string(kDie2010) + "\n" + R"({"Type":"container"})" +
                           "\n" + std::string(kConnect2010) + "\n";
  const auto out = split_whole(body);
  REQUIRE(out.size() == 4);
  REQUIRE_FALSE(out[0].has_value());
  CHECK(out[0].error().message == R"(event is not JSON: "garbage")");
  CHECK(out[1].has_value());
  REQUIRE_FALSE(out[2].has_value());
  CHECK(out[2].error().message == "event .Action: missing");
  REQUIRE(out[3].has_value());
  CHECK(out[3]->action == "connect");
}

TEST_CASE("EventSplitter: an unfinished line is held back until its newline") {
  EventSplitter s;
  s.feed(R"({"Type":"container","Action":"st)");
  CHECK(s.take().empty());
  CHECK(s.buffered() == 32);
  s.feed("art\"}");
  CHECK(s.take().empty());
  s.feed("\n{");
  const auto out = s.take();
  REQUIRE(out.size() == 1);
  CHECK(out[0]->action == "start");
  CHECK(s.buffered() == 1);
  CHECK(s.take().empty());  // take() cleared what it returned
}

TEST_CASE("EventSplitter: a line over 1 MiB is one error, dropped, and reading resumes") {
  const std::string expected_error = "event longer than " +
                                     std::to_string(EventSplitter::kMaxLine) +
                                     " bytes: dropped up to the next newline";
  SUBCASE("arriving in pieces: the error comes as soon as it is too long") {
    EventSplitter s;
    const std::string piece(64 * 1024, 'x');
    for (std::size_t fed = 0; fed < EventSplitter::kMaxLine; fed += piece.size()) s.feed(piece);
    CHECK(s.take().empty());
    CHECK(s.buffered() == EventSplitter::kMaxLine);
    s.feed("x");
    auto out = s.take();
    REQUIRE(out.size() == 1);
    REQUIRE_FALSE(out[0].has_value());
    CHECK(out[0].error().message == expected_error);
    CHECK(s.buffered() == 0);
    for (int i = 0; i < 40; ++i) s.feed(piece);  // still the same line: dropped silently
    CHECK(s.take().empty());
    CHECK(s.buffered() == 0);
    s.feed("tail\n" + std::string(kDie2010) + "\n");
    out = s.take();
    REQUIRE(out.size() == 1);
    CHECK(out[0].has_value());
  }
  SUBCASE("in one chunk with the next event") {
    const std::string body =
        std::string(EventSplitter::kMaxLine + 1, 'y') + "\n" + std::string(kConnect2010) + "\n";
    const auto out = split_whole(body);
    REQUIRE(out.size() == 2);
    REQUIRE_FALSE(out[0].has_value());
    CHECK(out[0].error().message == expected_error);
    CHECK(out[1].has_value());
  }
  SUBCASE("exactly 1 MiB is still a line") {
    std::string line = R"({"Type":"container","Action":"start")";
    line += std::string(EventSplitter::kMaxLine - line.size() - 1, ' ') + "}";
    REQUIRE(line.size() == EventSplitter::kMaxLine);
    const auto out = split_whole(line + "\n");
    REQUIRE(out.size() == 1);
    CHECK(out[0].has_value());
  }
}

TEST_CASE("EventSplitter: any chunking of a stream gives the same result as one feed") {
  const std::string body = lines({kDie2010, "{oops", kConnect2010, "", kExecStart2010}) +
                           std::string(kHealth2010);  // the last line has no newline yet
  const auto whole = split_whole(body);
  REQUIRE(whole.size() == 4);
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    EventSplitter s;
    std::vector<k8sinpod::Result<Event>> out;
    for (std::size_t i = 0; i < body.size();) {
      const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 97)(rng);
      s.feed(std::string_view(body).substr(i, n));
      i += n;
      for (auto& r : s.take()) out.push_back(std::move(r));
    }
    CHECK(out == whole);
    CHECK(s.buffered() == kHealth2010.size());
  }
}

TEST_CASE("EventSplitter: random bytes never crash and memory stays bounded") {
  // A cheap stand-in for the fuzzer: bytes weighted towards JSON syntax and newlines.
  constexpr std::string_view kAlphabet = "{}[]\":,\\ \n\r\t0123456789eE+-.truefalsenullTypeActio";
  std::mt19937 rng(12345);
  for (int round = 0; round < 300; ++round) {
    EventSplitter s;
    std::size_t results = 0;
    for (int chunk = 0; chunk < 40; ++chunk) {
      std::string bytes(std::uniform_int_distribution<std::size_t>(0, 300)(rng), '\0');
      for (auto& c : bytes) {
        c = std::uniform_int_distribution<int>(0, 3)(rng) == 0
                ? static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng))
                : kAlphabet[std::uniform_int_distribution<std::size_t>(0,
                                                                       kAlphabet.size() - 1)(rng)];
      }
      s.feed(bytes);
      results += s.take().size();
      CHECK(s.buffered() <= EventSplitter::kMaxLine);
    }
    CHECK(results < 40 * 301);
  }
  // Deep nesting is refused by the parser's depth limit, not by the stack.
  const auto deep = split_whole(std::string(100000, '[') + "\n");
  REQUIRE(deep.size() == 1);
  CHECK_FALSE(deep[0].has_value());
}

TEST_CASE("events_query: container and network types, the chosen actions, percent-encoded") {
  const std::string query = events_query();
  const std::string_view prefix = "/events?filters=";
  REQUIRE(query.rfind(prefix, 0) == 0);
  const std::string encoded = query.substr(prefix.size());
  CHECK(encoded.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                  "0123456789-._~%") == std::string::npos);
  CHECK(percent_decode(encoded) ==
        R"({"type":["container","network"],"event":["start","restart","die","stop","kill",)"
        R"("oom","pause","unpause","destroy","connect","disconnect"]})");
  CHECK(encoded.substr(0, 24) == "%7B%22type%22%3A%5B%22co");
}

TEST_CASE("classify: container events by cluster label, network events by name and id") {
  const std::set<std::string> none;
  const std::set<std::string> known = {std::string(kNodeId)};
  const std::map<std::string, std::string> ci_labels = {{"io.x-k8s.kind.cluster", "ci"},
                                                        {"io.x-k8s.kind.role", "worker"}};
  struct Row {
    const char* what;
    Event event;
    std::string_view cluster;
    std::string_view network;
    const std::set<std::string>* ids;
    Relevance want;
  };
  const Row rows[] = {
      {"die of our node", parse_event(kDie2010).value(), "ci", "kind", &known,
       Relevance::cluster_container},
      {"die of another cluster's node", parse_event(kDie2010).value(), "prod", "kind", &known,
       Relevance::none},
      {"exec in our node (any action counts)", parse_event(kExecStart2010).value(), "ci", "kind",
       &none, Relevance::cluster_container},
      {"container without kind labels", parse_event(kHealth2010).value(), "ci", "kind", &none,
       Relevance::none},
      {"labels matter, not known ids", event_of("container", "start", {{"name", "ci-worker"}}),
       "ci", "kind", &known, Relevance::none},
      {"empty cluster never matches", event_of("container", "start", ci_labels), "", "kind", &none,
       Relevance::none},
      {"connect of a known node to our network", parse_event(kConnect2010).value(), "ci", "kind",
       &known, Relevance::cluster_network},
      {"connect to our network, nodes not known yet", parse_event(kConnect2010).value(), "ci",
       "kind", &none, Relevance::cluster_network},
      {"connect of another container to our network",
       event_of("network", "connect",
                {{"container", std::string(kOtherId)}, {"name", "kind"}, {"type", "bridge"}}),
       "ci", "kind", &known, Relevance::none},
      {"connect of a known node to another network", parse_event(kConnect2010).value(), "ci",
       "bridge", &known, Relevance::none},
      {"network event without a container attribute",
       event_of("network", "destroy", {{"name", "kind"}, {"type", "bridge"}}), "ci", "kind", &known,
       Relevance::none},
      {"network labels do not make a container event",
       event_of("network", "disconnect",
                {{"container", std::string(kNodeId)},
                 {"name", "other"},
                 {"io.x-k8s.kind.cluster", "ci"}}),
       "ci", "kind", &known, Relevance::none},
      {"other types", event_of("image", "pull", ci_labels), "ci", "kind", &none, Relevance::none},
      {"volume with a matching name", event_of("volume", "mount", {{"name", "kind"}}), "ci", "kind",
       &none, Relevance::none},
  };
  for (const auto& row : rows) {
    CAPTURE(row.what);
    CHECK(classify(row.event, row.cluster, row.network, *row.ids) == row.want);
  }
}

TEST_CASE("backoff_delay: doubling from initial, capped, jitter from the caller") {
  Backoff b;  // 500 ms .. 30 s
  b.jitter = 0.0;
  CHECK(backoff_delay(b, 0, 0.0) == 500ms);
  CHECK(backoff_delay(b, 1, 0.0) == 500ms);
  CHECK(backoff_delay(b, 2, 0.0) == 1000ms);
  CHECK(backoff_delay(b, 3, 0.0) == 2000ms);
  CHECK(backoff_delay(b, 6, 0.0) == 16000ms);
  CHECK(backoff_delay(b, 7, 0.0) == 30000ms);
  CHECK(backoff_delay(b, std::numeric_limits<std::uint64_t>::max(), 0.0) == 30000ms);

  b.jitter = 0.2;
  CHECK(backoff_delay(b, 1, 0.5) == 550ms);
  CHECK(backoff_delay(b, 2, 0.999) == 1199ms);
  CHECK(backoff_delay(b, 6, 0.99) == 19168ms);
  CHECK(backoff_delay(b, 7, 0.99) == 30000ms);  // the cap includes the jitter

  SUBCASE("nonsense inputs give a sane delay") {
    CHECK(backoff_delay(b, 1, std::nan("")) == 500ms);
    CHECK(backoff_delay(b, 1, 1.0) == 500ms);
    CHECK(backoff_delay(b, 1, -3.0) == 500ms);
    Backoff zero;
    zero.initial = 0ms;
    zero.max = 0ms;
    CHECK(backoff_delay(zero, 5, 0.5) == 1ms);
    Backoff inverted;
    inverted.initial = 2000ms;
    inverted.max = 100ms;
    inverted.jitter = 7.0;
    CHECK(backoff_delay(inverted, 3, 0.5) == 2000ms);
  }
}
