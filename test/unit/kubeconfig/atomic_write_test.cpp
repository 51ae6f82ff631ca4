#include "kubeconfig/atomic_write.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using k8sinpod::kubeconfig::write_atomic;
namespace fs = std::filesystem;

namespace {

/// A fresh directory under $TMPDIR (or /tmp), removed with its content at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "k8sinpod-kubeconfig-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// Sets the umask for the scope of one test.
class Umask {
 public:
  explicit Umask(mode_t mask) : previous_(::umask(mask)) {}
  Umask(const Umask&) = delete;
  Umask& operator=(const Umask&) = delete;
  ~Umask() { ::umask(previous_); }

 private:
  mode_t previous_;
};

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::vector<std::string> names_in(const fs::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

}  // namespace

TEST_CASE("write_atomic writes the exact content with mode 0600 even under umask 0") {
  TempDir dir;
  const Umask umask(0);
  const fs::path target = dir.path() / "kubeconfig";
  const std::string content = std::string("apiVersion: v1\n\0binary\xff\n", 24);
  REQUIRE(write_atomic(target.string(), content, 0600).has_value());
  CHECK(read(target) == content);
  CHECK(mode_of(target) == 0600);
  CHECK(names_in(dir.path()) == std::vector<std::string>{"kubeconfig"});
}

TEST_CASE("write_atomic sets the requested mode even when the umask would narrow it") {
  TempDir dir;
  const Umask umask(0077);
  const fs::path target = dir.path() / "kubeconfig";
  REQUIRE(write_atomic(target.string(), "x", 0644).has_value());
  CHECK(mode_of(target) == 0644);
}

TEST_CASE("write_atomic replaces an existing file and its mode") {
  TempDir dir;
  const fs::path target = dir.path() / "kubeconfig";
  {
    std::ofstream out(target);
    out << "old content that is longer than the new one\n";
  }
  fs::permissions(target, fs::perms(0644));
  REQUIRE(write_atomic(target.string(), "new\n", 0600).has_value());
  CHECK(read(target) == "new\n");
  CHECK(mode_of(target) == 0600);
  CHECK(names_in(dir.path()) == std::vector<std::string>{"kubeconfig"});
}

TEST_CASE("write_atomic writes an empty file") {
  TempDir dir;
  const fs::path target = dir.path() / "empty";
  REQUIRE(write_atomic(target.string(), "", 0600).has_value());
  CHECK(fs::file_size(target) == 0);
}

TEST_CASE("write_atomic creates missing parent directories with mode 0700") {
  TempDir dir;
  const Umask umask(0);
  const fs::path target = dir.path() / "var" / "lib" / "k8sinpod" / "kubeconfig";
  REQUIRE(write_atomic(target.string(), "content", 0600).has_value());
  CHECK(read(target) == "content");
  CHECK(mode_of(dir.path() / "var") == 0700);
  CHECK(mode_of(dir.path() / "var" / "lib") == 0700);
  CHECK(mode_of(dir.path() / "var" / "lib" / "k8sinpod") == 0700);
}

TEST_CASE("write_atomic leaves an existing parent directory's mode alone") {
  TempDir dir;
  fs::create_directory(dir.path() / "shared");
  fs::permissions(dir.path() / "shared", fs::perms(0755));
  REQUIRE(write_atomic((dir.path() / "shared" / "k").string(), "x", 0600).has_value());
  CHECK(mode_of(dir.path() / "shared") == 0755);
}

TEST_CASE("write_atomic fails on a directory target and removes its temp file") {
  TempDir dir;
  const fs::path target = dir.path() / "kubeconfig";
  fs::create_directory(target);
  const auto result = write_atomic(target.string(), "content", 0600);
  REQUIRE_FALSE(result.has_value());
  const std::string& message = result.error().message;
  CHECK(message.starts_with("kubeconfig: rename \"" + dir.path().string() + "/.kubeconfig.tmp."));
  CHECK(message.ends_with("\" to \"" + target.string() + "\": Is a directory"));
  CHECK(names_in(dir.path()) == std::vector<std::string>{"kubeconfig"});
  CHECK(fs::is_directory(target));
}

TEST_CASE("write_atomic fails when a parent is a regular file") {
  TempDir dir;
  { std::ofstream out(dir.path() / "file"); }
  const std::string target = (dir.path() / "file" / "kubeconfig").string();
  const auto result = write_atomic(target, "content", 0600);
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().message ==
        "kubeconfig: \"" + (dir.path() / "file").string() + "\" is not a directory");
}

TEST_CASE("write_atomic reports a temp file it cannot create, leaving nothing behind") {
  // A 250-character name is valid, but its temp name exceeds NAME_MAX (255): fails even as root.
  TempDir dir;
  const std::string target = (dir.path() / std::string(250, 'k')).string();
  const auto result = write_atomic(target, "x", 0600);
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().message.starts_with("kubeconfig: create \"" + dir.path().string() + "/." +
                                           std::string(250, 'k') + ".tmp."));
  CHECK(result.error().message.ends_with("\": File name too long"));
  CHECK(names_in(dir.path()).empty());
}

TEST_CASE("write_atomic rejects a path that names no file") {
  TempDir dir;
  const auto result = write_atomic(dir.path().string() + "/", "x", 0600);
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().message ==
        "kubeconfig: \"" + dir.path().string() + "/\" does not name a file");
}

TEST_CASE("read_file returns the content and the permission bits, and names a missing path") {
  char dir[] = "/tmp/k8sinpod-read-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/kc";
  REQUIRE(k8sinpod::kubeconfig::write_atomic(path, "apiVersion: v1\n", 0600).has_value());
  auto got = k8sinpod::kubeconfig::read_file(path);
  REQUIRE(got.has_value());
  CHECK(got->content == "apiVersion: v1\n");
  CHECK(got->mode == 0600);
  ::chmod(path.c_str(), 0644);
  CHECK(k8sinpod::kubeconfig::read_file(path)->mode == 0644);
  ::unlink(path.c_str());
  auto missing = k8sinpod::kubeconfig::read_file(path);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message == "\"" + path + "\": No such file or directory");
  ::rmdir(dir);
}
