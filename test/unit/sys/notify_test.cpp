// The pure parts of sd_notify: $NOTIFY_SOCKET -> socket address, and the message texts.
#include "sys/notify.hpp"

#include <doctest/doctest.h>

#include <string>

using k8sinpod::sys::notify_address;

TEST_CASE("notify_address: paths and @abstract names, nothing else") {
  using namespace std::string_literals;
  struct Row {
    std::string env;
    std::optional<std::string> address;
  };
  const std::string max_path = "/" + std::string(106, 'p');      // 107 bytes + NUL = 108
  const std::string max_abstract = "@" + std::string(107, 'a');  // NUL + 107 = 108
  const Row rows[] = {
      {"/run/systemd/notify", "/run/systemd/notify"},
      {"@k8sinpod", "\0k8sinpod"s},
      {"@/org/freedesktop/notify", "\0/org/freedesktop/notify"s},
      {max_path, max_path},
      {max_path + "p", std::nullopt},
      {max_abstract, "\0"s + std::string(107, 'a')},
      {max_abstract + "a", std::nullopt},
      {"", std::nullopt},
      {"@", std::nullopt},
      {"run/systemd/notify", std::nullopt},
      {"./notify", std::nullopt},
      {"vsock:2:1234", std::nullopt},
      {"/run/a\0b"s, std::nullopt},
  };
  for (const auto& row : rows) {
    CAPTURE(row.env);
    CHECK(notify_address(row.env) == row.address);
  }
}

TEST_CASE("messages: exact bytes, no trailing newline, STATUS is one line") {
  using k8sinpod::sys::ready_message;
  using k8sinpod::sys::reloading_message;
  using k8sinpod::sys::status_message;
  CHECK(ready_message("") == "READY=1");
  CHECK(ready_message("ready: cluster ci") == "READY=1\nSTATUS=ready: cluster ci");
  CHECK(status_message("phase creating") == "STATUS=phase creating");
  CHECK(status_message("two\nlines\r\nhere") == "STATUS=two lines  here");
  CHECK(status_message("") == "STATUS=");
  CHECK(reloading_message(std::chrono::microseconds{123456789}) ==
        "RELOADING=1\nMONOTONIC_USEC=123456789");
}

TEST_CASE("a notifier without NOTIFY_SOCKET is disabled and every call succeeds") {
  for (const auto& socket : {std::optional<std::string>{}, std::optional<std::string>{""}}) {
    const k8sinpod::sys::Notifier n(socket);
    CHECK_FALSE(n.enabled());
    CHECK(n.send("READY=1").has_value());
    CHECK(n.ready("x").has_value());
    CHECK(n.reloading().has_value());
    CHECK(n.stopping().has_value());
    CHECK(n.status("x").has_value());
    CHECK(n.watchdog().has_value());
  }
}

TEST_CASE("an invalid NOTIFY_SOCKET is enabled, and each send is an error naming the value") {
  const k8sinpod::sys::Notifier n(std::string("relative/notify"));
  CHECK(n.enabled());
  const auto r = n.ready("");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message ==
        "sd_notify: \"relative/notify\": not an absolute path or an @abstract socket name");
}
