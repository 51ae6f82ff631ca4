// Fuzz target `docker_events`: the splitter that cuts Docker's `/events` body into events,
// fed the same bytes in chunks and in one piece. Input layout:
//   byte 0        control: bits 0-3 = n, the number of chunk-size bytes; bit 4 = take() after
//                 every feed; bit 5 = prepend a filler line of spaces about kMaxLine long
//   [2 bytes]     with bit 5: where the filler ends relative to kMaxLine, and where it is split
//   n bytes       chunk sizes, used in turn (0 feeds an empty chunk)
//   rest          the body
// Properties: the events and errors, in order, and the bytes held back do not depend on how the
// body is chunked; held-back bytes never exceed kMaxLine.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "docker/events_mapping.hpp"
#include "fuzz.hpp"

using namespace k8sinpod;
using docker::EventSplitter;
using fuzz::require;

namespace {

constexpr unsigned kSizeCountMask = 0x0fU;
constexpr unsigned kTakeEachFeed = 0x10U;
constexpr unsigned kFiller = 0x20U;
constexpr std::size_t kFillerSpread = 128;  // the filler ends within +-128 bytes of kMaxLine

struct Input {
  bool take_each_feed = false;
  std::string filler;
  std::size_t filler_split = 0;
  std::vector<std::size_t> sizes;
  std::string_view body;
};

Input decode(std::string_view bytes) {
  Input in;
  if (bytes.empty()) return in;
  const auto control = static_cast<unsigned char>(bytes.front());
  bytes.remove_prefix(1);
  in.take_each_feed = (control & kTakeEachFeed) != 0;
  if ((control & kFiller) != 0 && bytes.size() >= 2) {
    const auto end = static_cast<unsigned char>(bytes[0]);
    const auto split = static_cast<unsigned char>(bytes[1]);
    bytes.remove_prefix(2);
    in.filler.assign(EventSplitter::kMaxLine - kFillerSpread + end, ' ');
    in.filler_split = in.filler.size() * split / 256;
  }
  const std::size_t n = std::min<std::size_t>(control & kSizeCountMask, bytes.size());
  for (std::size_t i = 0; i < n; ++i) in.sizes.push_back(static_cast<unsigned char>(bytes[i]));
  bytes.remove_prefix(n);
  in.body = bytes;
  return in;
}

class Chunked {
 public:
  explicit Chunked(bool take_each_feed) : take_each_feed_(take_each_feed) {}

  void feed(std::string_view bytes) {
    splitter_.feed(bytes);
    require(splitter_.buffered() <= EventSplitter::kMaxLine, "splitter: buffer bounded");
    if (take_each_feed_) take();
  }
  std::vector<Result<docker::Event>>& take() {
    for (auto& r : splitter_.take()) out_.push_back(std::move(r));
    return out_;
  }
  std::size_t buffered() const { return splitter_.buffered(); }

 private:
  bool take_each_feed_;
  EventSplitter splitter_;
  std::vector<Result<docker::Event>> out_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Input in = decode(fuzz::as_text(data, size));

  Chunked chunked(in.take_each_feed);
  const std::string_view filler = in.filler;
  if (!filler.empty()) {
    chunked.feed(filler.substr(0, in.filler_split));
    chunked.feed(filler.substr(in.filler_split));
  }
  const bool all_zero =
      std::all_of(in.sizes.begin(), in.sizes.end(), [](std::size_t n) { return n == 0; });
  std::string_view rest = in.body;
  for (std::size_t i = 0; !rest.empty(); ++i) {
    std::size_t n = in.sizes.empty() ? rest.size() : in.sizes[i % in.sizes.size()];
    if (n == 0) {
      chunked.feed(std::string_view{});
      if (!all_zero) continue;
      n = 1;  // every size is 0: still make progress
    }
    n = std::min(n, rest.size());
    chunked.feed(rest.substr(0, n));
    rest.remove_prefix(n);
  }

  EventSplitter whole;
  whole.feed(in.filler + std::string(in.body));
  require(whole.buffered() <= EventSplitter::kMaxLine, "splitter: buffer bounded");
  const auto expected = whole.take();
  const auto& got = chunked.take();

  require(got.size() == expected.size(), "splitter: chunking changes the number of events");
  for (std::size_t i = 0; i < got.size(); ++i) {
    require(got[i] == expected[i], "splitter: chunking changes an event");
  }
  require(chunked.buffered() == whole.buffered(), "splitter: chunking changes the held bytes");
  return 0;
}
