// The log file: same lines as stdout, rotated by size, JSON that parses, live format and level
// changes, and a clear error value for a path that cannot be opened. Real files in a temp dir.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "log/log.hpp"

namespace fs = std::filesystem;
using k8sinpod::log::Format;
using k8sinpod::log::LogFile;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "k8sinpod-log.XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    // Back to stdout only, so that the next test case starts from the same state.
    k8sinpod::log::setup(spdlog::level::info, Format::text);
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<std::string> lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("records go to the file as they are logged, in the text format") {
  TempDir dir;
  const auto path = dir.path / "k8sinpodd.log";
  REQUIRE(
      k8sinpod::log::setup(spdlog::level::info, Format::text, LogFile{path.string(), 1 << 20, 3})
          .has_value());
  k8sinpod::log::get("test-text")->info("hello {}", "file");
  k8sinpod::log::get("test-text")->debug("not at info");
  // No flush(): every record is flushed at once, so `tail -f` sees it.
  const auto got = lines(path);
  REQUIRE(got.size() == 1);
  CHECK(got[0].find(" info  [test-text] hello file") != std::string::npos);
  CHECK(got[0].size() > 24);
  CHECK(got[0][10] == 'T');
  CHECK(got[0][23] == 'Z');
}

TEST_CASE("the file is rotated by size and at most max_files rotated files are kept") {
  TempDir dir;
  const auto path = dir.path / "k8sinpodd.log";
  constexpr std::uint64_t kMaxSize = 4096;
  REQUIRE(
      k8sinpod::log::setup(spdlog::level::info, Format::text, LogFile{path.string(), kMaxSize, 2})
          .has_value());
  auto l = k8sinpod::log::get("test-rotate");
  const std::string payload(100, 'x');
  for (int i = 0; i < 400; ++i) l->info("line {} {}", i, payload);  // ~56 KB, 14 files' worth

  // spdlog inserts the index before the extension.
  const auto first = dir.path / "k8sinpodd.1.log";
  const auto second = dir.path / "k8sinpodd.2.log";
  CHECK(fs::exists(path));
  CHECK(fs::exists(first));
  CHECK(fs::exists(second));
  CHECK_FALSE(fs::exists(dir.path / "k8sinpodd.3.log"));
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    (void)e;
    ++files;
  }
  CHECK(files == 3);
  for (const auto& p : {path, first, second}) {
    CAPTURE(p.string());
    CHECK(fs::file_size(p) <= kMaxSize);
    CHECK(fs::file_size(p) > 0);
  }
  // The newest records are in the file, the ones before them in .1, nothing lost in between.
  const auto current = lines(path);
  const auto previous = lines(first);
  REQUIRE(!current.empty());
  REQUIRE(!previous.empty());
  CHECK(current.back().find("line 399 ") != std::string::npos);
  const auto index_of = [](const std::string& line) {
    const auto at = line.find("line ");
    return std::stoi(line.substr(at + 5));
  };
  CHECK(index_of(previous.back()) + 1 == index_of(current.front()));
}

TEST_CASE("JSON lines in the file parse, and set_format switches the format live") {
  TempDir dir;
  const auto path = dir.path / "json.log";
  REQUIRE(
      k8sinpod::log::setup(spdlog::level::info, Format::json, LogFile{path.string(), 1 << 20, 1})
          .has_value());
  auto l = k8sinpod::log::get("test-json");  // created before the switch below
  l->warn("quote \" and newline \n inside");
  k8sinpod::log::set_format(Format::text);
  l->info("now text");
  k8sinpod::log::set_format(Format::json);
  k8sinpod::log::get("test-json-later")->error("json again");

  const auto got = lines(path);
  REQUIRE(got.size() == 3);
  const auto first = boost::json::parse(got[0]).as_object();
  CHECK(first.at("level").as_string() == "warn");
  CHECK(first.at("logger").as_string() == "test-json");
  CHECK(first.at("message").as_string() == "quote \" and newline \n inside");
  CHECK(got[1].front() != '{');
  CHECK(got[1].find(" info  [test-json] now text") != std::string::npos);
  const auto third = boost::json::parse(got[2]).as_object();
  CHECK(third.at("logger").as_string() == "test-json-later");
  CHECK(third.at("message").as_string() == "json again");
}

TEST_CASE("set_level applies to loggers created before and after") {
  TempDir dir;
  const auto path = dir.path / "level.log";
  REQUIRE(
      k8sinpod::log::setup(spdlog::level::info, Format::text, LogFile{path.string(), 1 << 20, 1})
          .has_value());
  auto before = k8sinpod::log::get("test-level-before");
  before->debug("hidden");
  k8sinpod::log::set_level(spdlog::level::debug);
  before->debug("shown before");
  k8sinpod::log::get("test-level-after")->debug("shown after");
  k8sinpod::log::set_level(spdlog::level::warn);
  before->info("hidden again");
  const auto got = lines(path);
  REQUIRE(got.size() == 2);
  CHECK(got[0].find("shown before") != std::string::npos);
  CHECK(got[1].find("shown after") != std::string::npos);
}

TEST_CASE("a file that cannot be opened is an error value, stdout keeps working") {
  TempDir dir;
  // A regular file where a directory should be: the open fails whoever we are (also as root).
  const auto blocker = dir.path / "not-a-dir";
  std::ofstream(blocker) << "x";
  const auto path = (blocker / "k8sinpodd.log").string();
  const auto r = k8sinpod::log::setup(spdlog::level::info, Format::text, LogFile{path, 1024, 1});
  REQUIRE_FALSE(r.has_value());
  const auto& message = r.error().message;
  CAPTURE(message);
  CHECK(message.rfind("log.file \"" + path + "\": cannot open: ", 0) == 0);
  CHECK(message.find("Failed opening file") != std::string::npos);
  k8sinpod::log::get("test-bad-path")->info("still logging to stdout");
}

TEST_CASE("a failed file setup keeps the file that was working") {
  TempDir dir;
  const auto good = dir.path / "good.log";
  REQUIRE(
      k8sinpod::log::setup(spdlog::level::info, Format::text, LogFile{good.string(), 1 << 20, 1})
          .has_value());
  const auto blocker = dir.path / "blocker";
  std::ofstream(blocker) << "x";
  CHECK_FALSE(k8sinpod::log::setup(spdlog::level::info, Format::json,
                                   LogFile{(blocker / "x.log").string(), 1 << 20, 1})
                  .has_value());
  k8sinpod::log::get("test-keep")->info("kept");
  const auto got = lines(good);
  REQUIRE(got.size() == 1);
  // Level and format of the failed call did apply.
  CHECK(boost::json::parse(got[0]).as_object().at("message").as_string() == "kept");
}

TEST_CASE("bad sizes are error values, not spdlog exceptions") {
  TempDir dir;
  const auto path = (dir.path / "x.log").string();
  const auto zero = k8sinpod::log::setup(spdlog::level::info, Format::text, LogFile{path, 0, 1});
  REQUIRE_FALSE(zero.has_value());
  CHECK(zero.error().message == "log.file \"" + path + "\": max_size must be greater than 0");
  const auto many =
      k8sinpod::log::setup(spdlog::level::info, Format::text, LogFile{path, 1024, 200001});
  REQUIRE_FALSE(many.has_value());
  CHECK(many.error().message ==
        "log.file \"" + path + "\": max_files must be between 0 and 200000, got 200001");
}

TEST_CASE("setup without a file stops writing the file, the directory is created if missing") {
  TempDir dir;
  const auto path = dir.path / "sub" / "dir" / "k8sinpodd.log";
  REQUIRE(
      k8sinpod::log::setup(spdlog::level::info, Format::text, LogFile{path.string(), 1 << 20, 1})
          .has_value());
  k8sinpod::log::get("test-off")->info("one");
  k8sinpod::log::setup(spdlog::level::info, Format::text);
  k8sinpod::log::get("test-off")->info("two");
  const auto got = lines(path);
  REQUIRE(got.size() == 1);
  CHECK(got[0].find("one") != std::string::npos);
}

TEST_CASE("the log file's descriptor is close-on-exec") {
  TempDir dir;
  const auto path = dir.path / "cloexec.log";
  REQUIRE(
      k8sinpod::log::setup(spdlog::level::info, Format::text, LogFile{path.string(), 1 << 20, 1})
          .has_value());
  int found = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (fs::read_symlink(e.path(), ec) != path) continue;
    const int fd = std::stoi(e.path().filename().string());
    ++found;
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  }
  CHECK(found == 1);
}
