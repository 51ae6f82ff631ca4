#include "log/log.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

TEST_CASE("json lines are valid JSON with the four fields, whatever the message holds") {
  const std::string nasty = "quote \" backslash \\ newline \n tab \t bell \x07 ünïcode";
  const auto line = k8sinpod::log::json_line("2026-11-25T07:28:11.123Z", "warn", "kind", nasty);
  CHECK(line.find('\n') == std::string::npos);
  const auto v = boost::json::parse(line).as_object();
  CHECK(v.at("time").as_string() == "2026-11-25T07:28:11.123Z");
  CHECK(v.at("level").as_string() == "warn");
  CHECK(v.at("logger").as_string() == "kind");
  CHECK(v.at("message").as_string() == nasty);
  CHECK(v.size() == 4);
}

TEST_CASE("control characters are escaped as \\u00XX") {
  CHECK(k8sinpod::log::json_escape(std::string("\x01", 1)) == "\\u0001");
  CHECK(k8sinpod::log::json_escape("a\"b") == "a\\\"b");
}
