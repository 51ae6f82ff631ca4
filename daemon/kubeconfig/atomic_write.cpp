#include "kubeconfig/atomic_write.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>

#include "common/unique_fd.hpp"

namespace k8sinpod::kubeconfig {
namespace {

constexpr mode_t kDirectoryMode = 0700;
constexpr int kNameAttempts = 100;

std::atomic<unsigned> temp_counter{0};

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

Error errno_error(std::string_view what, std::string_view path, int error_number) {
  return fail("kubeconfig: " + std::string(what) + " " + quote(path) + ": " +
              std::generic_category().message(error_number));
}

/// mkdir -p with kDirectoryMode for each directory created.
Result<void> make_directories(const std::string& directory) {
  struct stat st {};
  if (::stat(directory.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return fail("kubeconfig: " + quote(directory) + " is not a directory");
    return {};
  }
  if (errno != ENOENT) return errno_error("stat", directory, errno);
  const std::size_t slash = directory.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto parent = make_directories(directory.substr(0, slash)); !parent) return parent;
  }
  if (::mkdir(directory.c_str(), kDirectoryMode) != 0 && errno != EEXIST) {
    return errno_error("create directory", directory, errno);
  }
  return {};
}

Result<void> write_all(int fd, std::string_view content, const std::string& temp) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("write", temp, errno);
    }
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

/// Everything after the temp file exists; the caller unlinks it on error.
Result<void> fill_and_rename(UniqueFd& fd, std::string_view content, mode_t mode,
                             const std::string& temp, const std::string& path) {
  if (::fchmod(fd.get(), mode) != 0) return errno_error("chmod", temp, errno);
  if (auto written = write_all(fd.get(), content, temp); !written) return written;
  if (::fsync(fd.get()) != 0) return errno_error("fsync", temp, errno);
  if (fd.close() != 0) return errno_error("close", temp, errno);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int error_number = errno;
    return fail("kubeconfig: rename " + quote(temp) + " to " + quote(path) + ": " +
                std::generic_category().message(error_number));
  }
  return {};
}

}  // namespace

Result<void> write_atomic(const std::string& path, std::string_view content, mode_t mode) {
  const std::size_t slash = path.find_last_of('/');
  const std::string directory =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") {
    return fail("kubeconfig: " + quote(path) + " does not name a file");
  }
  if (auto made = make_directories(directory); !made) return made;

  const std::string temp_prefix = (directory == "/" ? "" : directory) + "/." + base + ".tmp." +
                                  std::to_string(::getpid()) + ".";
  std::string temp;
  int raw_fd = -1;
  for (int attempt = 0; attempt < kNameAttempts && raw_fd < 0; ++attempt) {
    temp = temp_prefix + std::to_string(temp_counter.fetch_add(1));
    raw_fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (raw_fd < 0 && errno != EEXIST) return errno_error("create", temp, errno);
  }
  if (raw_fd < 0) return errno_error("create", temp, EEXIST);

  UniqueFd fd(raw_fd);
  if (auto done = fill_and_rename(fd, content, mode, temp, path); !done) {
    ::unlink(temp.c_str());
    return done;
  }

  // The rename is durable only once the directory entry is on disk.
  UniqueFd dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return errno_error("open directory", directory, errno);
  if (::fsync(dir.get()) != 0) return errno_error("fsync directory", directory, errno);
  return {};
}

Result<FileContent> read_file(const std::string& path) {
  auto error = [&](int err) {
    return fail("\"" + path + "\": " + std::generic_category().message(err));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return error(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return error(err);
  }
  constexpr off_t kMax = 16 << 20;
  if (!S_ISREG(st.st_mode) || st.st_size > kMax) {
    ::close(fd);
    return fail("\"" + path + "\": not a regular file of at most 16 MiB");
  }
  FileContent out;
  out.mode = st.st_mode & 07777;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return error(err);
    }
    if (n == 0) break;
    out.content.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace k8sinpod::kubeconfig
