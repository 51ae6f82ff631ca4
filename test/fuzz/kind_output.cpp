// Fuzz target `kind_output`: parsing of kind's stdout and stderr. Input: the cluster name on the
// first line, then kind's output (stdout of `kind get clusters`, or stderr of a failed run).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz.hpp"
#include "kind/commands.hpp"

using namespace k8sinpod;
using fuzz::require;

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    lines.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  const std::string_view cluster = text.substr(0, text.find('\n'));
  const std::string_view output =
      cluster.size() < text.size() ? text.substr(cluster.size() + 1) : std::string_view{};
  const std::vector<std::string> lines = lines_of(output);

  const bool listed = kind::lists_cluster(output, cluster);
  const bool plain_name =
      !cluster.empty() && !is_blank(cluster.front()) && !is_blank(cluster.back());
  for (const auto& line : lines) {
    if (plain_name && line == cluster) require(listed, "lists_cluster: finds an exact line");
  }

  static_cast<void>(kind::is_already_exists(lines));

  const std::string summary = kind::error_summary(lines);
  constexpr std::size_t kClip = 300;
  require(!summary.empty() && summary.size() <= kClip + 3, "error_summary: 1..300 bytes + ...");
  // Clipping never splits a UTF-8 sequence (finding 2): valid lines give a valid summary.
  bool lines_utf8 = true;
  for (const auto& line : lines) lines_utf8 = lines_utf8 && fuzz::is_utf8(line);
  if (lines_utf8) require(fuzz::is_utf8(summary), "error_summary: valid UTF-8 in, valid out");
  bool has_error_line = false;
  for (const auto& line : lines) {
    std::string_view trimmed = line;
    while (!trimmed.empty() && is_blank(trimmed.back())) trimmed.remove_suffix(1);
    while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t')) {
      trimmed.remove_prefix(1);
    }
    if (trimmed.substr(0, 7) == "ERROR: ") has_error_line = true;
  }
  if (has_error_line) {
    require(summary.rfind("ERROR: ", 0) == 0, "error_summary: prefers an ERROR: line");
  }
  return 0;
}
