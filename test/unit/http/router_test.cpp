#include "http/router.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <string>

#include "fakes/core_states.hpp"

using namespace k8sinpod;
using namespace std::chrono_literals;
using http::Request;
using http::Response;

namespace {

constexpr core::TimePoint kProbeAt =
    core::TimePoint{} + 1700000000s + 250ms;  // 2023-11-14T22:13:20.250Z

core::State ready_state() {
  auto s = fakes::ready_state(kProbeAt);
  s.last_probe = core::ProbeRecord{true, kProbeAt, 42ms, ""};
  s.counters = {10, 2, 1, 0, 3, 1, 1};
  return s;
}

// docker ok, cluster ok, kubeconfig ok, apiserver failing (3 consecutive failures).
core::State apiserver_failing() {
  auto s = ready_state();
  s.phase = core::Phase::unready;
  s.consecutive_probe_failures = 3;
  s.last_probe = core::ProbeRecord{false, kProbeAt, 1000ms, "context deadline exceeded"};
  s.last_error = "probe 172.18.0.2:6443: context deadline exceeded";
  return s;
}

struct Fixture {
  core::State state = ready_state();
  core::Policy policy;
  int metrics_calls = 0;
  bool loop_responsive = true;

  Response get(const std::string& target, const std::string& method = "GET") {
    const http::RouteContext ctx{state,
                                 policy,
                                 "ci",
                                 "/var/lib/k8sinpod/kubeconfig",
                                 "0.1.0",
                                 [this] {
                                   ++metrics_calls;
                                   return std::string("k8sinpod_up 1\n");
                                 },
                                 loop_responsive};
    return http::route(Request{method, target}, ctx);
  }
};

std::string header(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return {};
}

}  // namespace

TEST_CASE("/livez answers ok, also when the cluster is down") {
  Fixture f;
  f.state = core::State{};
  f.state.docker_ok = false;
  const auto r = f.get("/livez");
  CHECK(r.status == 200);
  CHECK(r.body == "ok");
  CHECK(r.content_type == "text/plain; charset=utf-8");
}

TEST_CASE("/livez?verbose lists the ping and eventloop checks") {
  Fixture f;
  const std::string passed = "[+]ping ok\n[+]eventloop ok\nlivez check passed\n";
  CHECK(f.get("/livez?verbose").body == passed);
  CHECK(f.get("/livez?verbose=1").body == passed);
  CHECK(f.get("/livez?verbose&exclude=ping").body ==
        "[+]ping excluded: ok\n[+]eventloop ok\nlivez check passed\n");
  const auto one = f.get("/livez/ping");
  CHECK(one.status == 200);
  CHECK(one.body == "ok");
  CHECK(f.get("/livez/eventloop").status == 200);
  CHECK(f.get("/livez/nope").status == 404);
}

TEST_CASE("/livez fails when the supervisor's event loop has stalled") {
  Fixture f;
  f.loop_responsive = false;
  const auto r = f.get("/livez");
  CHECK(r.status == 503);
  CHECK(r.body == "[+]ping ok\n[-]eventloop failed: reason withheld\nlivez check failed\n");
  CHECK(f.get("/livez/eventloop").status == 503);
  CHECK(f.get("/livez/ping").status == 200);
  // Excluding it is the operator's escape hatch, as with kube-apiserver's checks.
  CHECK(f.get("/livez?exclude=eventloop").status == 200);
  // The cluster's readiness is unaffected by the flag (it reads the published state).
  CHECK(f.get("/readyz").status == 200);
}

TEST_CASE("/readyz is 200 ok when every check passes") {
  Fixture f;
  const auto r = f.get("/readyz");
  CHECK(r.status == 200);
  CHECK(r.body == "ok");
  const auto v = f.get("/readyz?verbose");
  CHECK(v.status == 200);
  CHECK(v.body ==
        "[+]docker ok\n[+]cluster ok\n[+]kubeconfig ok\n[+]apiserver ok\n[+]crashloop ok\nreadyz "
        "check passed\n");
}

TEST_CASE("/readyz failure is 503 and always verbose, reasons withheld") {
  Fixture f;
  f.state = apiserver_failing();
  const std::string expected =
      "[+]docker ok\n[+]cluster ok\n[+]kubeconfig ok\n[-]apiserver failed: reason "
      "withheld\n[+]crashloop ok\n"
      "readyz check failed\n";
  for (const char* target : {"/readyz", "/readyz?verbose"}) {
    CAPTURE(target);
    const auto r = f.get(target);
    CHECK(r.status == 503);
    CHECK(r.body == expected);
    CHECK(r.body.find("deadline") == std::string::npos);
  }
}

TEST_CASE("/readyz?exclude drops checks from the verdict") {
  Fixture f;
  f.state = apiserver_failing();
  auto r = f.get("/readyz?exclude=apiserver");
  CHECK(r.status == 200);
  CHECK(r.body == "ok");
  r = f.get("/readyz?exclude=apiserver&verbose");
  CHECK(
      r.body ==
      "[+]docker ok\n[+]cluster ok\n[+]kubeconfig ok\n[+]apiserver excluded: ok\n[+]crashloop ok\n"
      "readyz check passed\n");

  // Excluding one failing check leaves the other failing one counted.
  f.state.docker_ok = false;
  r = f.get("/readyz?exclude=apiserver");
  CHECK(r.status == 503);
  CHECK(r.body ==
        "[-]docker failed: reason withheld\n[+]cluster ok\n[+]kubeconfig ok\n"
        "[+]apiserver excluded: ok\n[+]crashloop ok\nreadyz check failed\n");
  r = f.get("/readyz?exclude=apiserver&exclude=docker&verbose=1");
  CHECK(r.status == 200);
  CHECK(r.body.find("[+]docker excluded: ok\n") == 0);
}

TEST_CASE("/readyz?exclude with an unknown name warns like kube-apiserver") {
  Fixture f;
  const auto r = f.get("/readyz?verbose&exclude=zeta&exclude=alpha&exclude=docker");
  CHECK(r.status == 200);
  CHECK(
      r.body ==
      "[+]docker excluded: ok\n[+]cluster ok\n[+]kubeconfig ok\n[+]apiserver ok\n[+]crashloop ok\n"
      "warn: some health checks cannot be excluded: no matches for \"alpha\",\"zeta\"\n"
      "readyz check passed\n");
}

TEST_CASE("/readyz/<check> answers one check") {
  Fixture f;
  f.state = apiserver_failing();
  for (const char* name : {"docker", "cluster", "kubeconfig"}) {
    CAPTURE(name);
    const auto r = f.get(std::string("/readyz/") + name);
    CHECK(r.status == 200);
    CHECK(r.body == "ok");
  }
  const auto bad = f.get("/readyz/apiserver");
  CHECK(bad.status == 503);
  CHECK(bad.body == "internal server error: reason withheld\n");
  CHECK(f.get("/readyz/nope").status == 404);
  CHECK(f.get("/readyz/").status == 404);
}

TEST_CASE("/metrics serves the exposition with the 0.0.4 content type") {
  Fixture f;
  const auto r = f.get("/metrics");
  CHECK(r.status == 200);
  CHECK(r.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(r.body == "k8sinpod_up 1\n");
  CHECK(f.metrics_calls == 1);
}

TEST_CASE("/metrics without a metrics source is 503") {
  core::State s;
  core::Policy p;
  const http::RouteContext ctx{s, p, "ci", "/k", "v", {}};
  CHECK(http::route(Request{"GET", "/metrics"}, ctx).status == 503);
}

TEST_CASE("/status reports the state as JSON") {
  Fixture f;
  f.state = apiserver_failing();
  f.state.adopted = true;
  f.state.current_backoff = 1500ms;
  const auto r = f.get("/status");
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  CHECK(r.body.find("BEGIN") == std::string::npos);

  const auto v = boost::json::parse(r.body);
  const auto& o = v.as_object();
  CHECK(o.size() == 14);
  CHECK(o.at("cluster").as_string() == "ci");
  CHECK(o.at("phase").as_string() == "unready");
  CHECK(o.at("ready").as_bool() == false);
  CHECK(o.at("adopted").as_bool() == true);
  CHECK(o.at("control_plane_ip").as_string() == "172.18.0.2");
  const auto& kc = o.at("kubeconfig").as_object();
  CHECK(kc.size() == 3);
  CHECK(kc.at("path").as_string() == "/var/lib/k8sinpod/kubeconfig");
  CHECK(kc.at("written").as_bool() == true);
  CHECK(kc.at("server_ip").as_string() == "172.18.0.2");
  CHECK(o.at("docker_up").as_bool() == true);
  CHECK(o.at("last_error").as_string() == "probe 172.18.0.2:6443: context deadline exceeded");
  const auto& probe = o.at("last_probe").as_object();
  CHECK(probe.size() == 4);
  CHECK(probe.at("ok").as_bool() == false);
  CHECK(probe.at("time").as_string() == "2023-11-14T22:13:20.250Z");
  CHECK(probe.at("duration_seconds").to_number<double>() == doctest::Approx(1.0));
  CHECK(probe.at("error").as_string() == "context deadline exceeded");
  CHECK(o.at("last_probe_success").as_string() == "2023-11-14T22:13:20.250Z");
  CHECK(o.at("backoff_seconds").to_number<double>() == doctest::Approx(1.5));
  const auto& checks = o.at("checks").as_array();
  REQUIRE(checks.size() == 5);
  const char* names[] = {"docker", "cluster", "kubeconfig", "apiserver"};
  for (std::size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    const auto& c = checks[i].as_object();
    CHECK(c.at("name").as_string() == names[i]);
    CHECK(c.at("ok").as_bool() == (i != 3));
    if (i == 3) {
      CHECK(c.at("reason").as_string() == "3 consecutive probe failures");
    } else {
      CHECK(c.at("reason").is_null());
    }
  }
  const auto& c = o.at("counters").as_object();
  CHECK(c.size() == 7);
  CHECK(c.at("probes_ok").to_number<std::uint64_t>() == 10);
  CHECK(c.at("probes_failed").to_number<std::uint64_t>() == 2);
  CHECK(c.at("creations_ok").to_number<std::uint64_t>() == 1);
  CHECK(c.at("creations_failed").to_number<std::uint64_t>() == 0);
  CHECK(c.at("kubeconfig_writes").to_number<std::uint64_t>() == 3);
  CHECK(c.at("kubeconfig_write_failures").to_number<std::uint64_t>() == 1);
  CHECK(c.at("control_plane_ip_changes").to_number<std::uint64_t>() == 1);
  CHECK(o.at("version").as_string() == "0.1.0");
}

TEST_CASE("/status of a fresh state uses null for what is not known yet") {
  Fixture f;
  f.state = core::State{};
  const auto v = boost::json::parse(f.get("/status").body);
  const auto& o = v.as_object();
  CHECK(o.at("phase").as_string() == "starting");
  CHECK(o.at("ready").as_bool() == false);
  CHECK(o.at("control_plane_ip").is_null());
  CHECK(o.at("kubeconfig").as_object().at("server_ip").is_null());
  CHECK(o.at("kubeconfig").as_object().at("written").as_bool() == false);
  CHECK(o.at("last_error").is_null());
  CHECK(o.at("last_probe").is_null());
  CHECK(o.at("last_probe_success").is_null());
  CHECK(o.at("backoff_seconds").to_number<double>() == 0);
}

TEST_CASE("/status escapes what it reports") {
  Fixture f;
  f.state.last_error = "kind: \"quoted\"\nsecond line\\";
  const auto v = boost::json::parse(f.get("/status").body);
  CHECK(v.as_object().at("last_error").as_string() == "kind: \"quoted\"\nsecond line\\");
}

TEST_CASE("HEAD answers as GET does") {
  Fixture f;
  for (const char* target : {"/livez", "/readyz?verbose", "/metrics", "/status", "/nope"}) {
    CAPTURE(target);
    const auto get = f.get(target);
    const auto head = f.get(target, "HEAD");
    CHECK(head.status == get.status);
    CHECK(head.content_type == get.content_type);
    CHECK(head.body == get.body);
  }
}

TEST_CASE("unknown paths are 404, other methods on known paths 405 with Allow") {
  Fixture f;
  for (const char* target : {"/", "/healthz", "/livezz", "/metrics/x", "/status/", "/READYZ"}) {
    CAPTURE(target);
    CHECK(f.get(target).status == 404);
  }
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get"}) {
    for (const char* target : {"/livez", "/readyz", "/readyz/docker", "/metrics", "/status"}) {
      CAPTURE(method);
      CAPTURE(target);
      const auto r = f.get(target, method);
      CHECK(r.status == 405);
      CHECK(header(r, "Allow") == "GET, HEAD");
    }
  }
  CHECK(f.get("/nope", "POST").status == 404);
  CHECK(f.metrics_calls == 0);
}

TEST_CASE("malformed targets are 400, never a crash") {
  Fixture f;
  for (const char* target : {"", "livez", "*", "http://host/livez", "/readyz?exclude=%", "/re%zz",
                             "/readyz?exclude=%4", "%2Flivez"}) {
    CAPTURE(target);
    CHECK(f.get(target).status == 400);
  }
  CHECK(f.get("/readyz?&&verbose&").body.find("readyz check passed") != std::string::npos);
  CHECK(f.get("/readyz?exclude=api%73erver&verbose").body.find("[+]apiserver excluded: ok") !=
        std::string::npos);
  CHECK(f.get("/%6civez").body == "ok");
}

TEST_CASE("parse_target splits and decodes path and query") {
  const auto t = http::parse_target("/a%20b?verbose&exclude=x+y&exclude=%41&k=v=w");
  REQUIRE(t.has_value());
  CHECK(t->path == "/a b");
  REQUIRE(t->query.size() == 4);
  CHECK(t->query[0] == std::pair<std::string, std::string>{"verbose", ""});
  CHECK(t->query[1] == std::pair<std::string, std::string>{"exclude", "x y"});
  CHECK(t->query[2] == std::pair<std::string, std::string>{"exclude", "A"});
  CHECK(t->query[3] == std::pair<std::string, std::string>{"k", "v=w"});
  CHECK_FALSE(http::parse_target("no-slash").has_value());
}

TEST_CASE("format_rfc3339 writes UTC with milliseconds") {
  CHECK(http::format_rfc3339(core::TimePoint{}) == "1970-01-01T00:00:00.000Z");
  CHECK(http::format_rfc3339(kProbeAt) == "2023-11-14T22:13:20.250Z");
  CHECK(http::format_rfc3339(core::TimePoint{} + 951782400s + 999ms) == "2000-02-29T00:00:00.999Z");
}

TEST_CASE("/status stays valid JSON when an error text holds invalid UTF-8") {
  Fixture f;
  f.state = ready_state();
  f.state.last_error = std::string("kind: exit 1: ERROR: \xe2\x9c") + " \xff end";
  const auto r = f.get("/status");
  REQUIRE(r.status == 200);
  const auto v = boost::json::parse(r.body).as_object();
  CHECK(v.at("last_error").as_string() ==
        "kind: exit 1: ERROR: \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD end");
}
