#pragma once
/// Crash-safe replacement of a file: readers see the old content or the new one, never a mix.
/// Blocking file I/O (a few syscalls, fsync included): call it where blocking is acceptable.
/// Thread-safe (temp names are unique per process and call).

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/error.hpp"

namespace k8sinpod::kubeconfig {

/// Replaces `path` with `content`, file mode exactly `mode` (set at creation and again with
/// fchmod, so the umask cannot widen or narrow it):
///  1. creates missing parent directories with mode 0700 (kubeconfig.path often points into
///     /var/lib/k8sinpod, which may not exist yet); existing directories are left alone;
///  2. writes a temp file `.<name>.tmp.<pid>.<counter>` in the same directory
///     (O_CREAT|O_EXCL|O_CLOEXEC), fsyncs it, renames it over `path`, fsyncs the directory.
/// On failure the temp file is removed and the Error names the step, the path and strerror:
/// `kubeconfig: rename "/a/.k.tmp.7.0" to "/a/k": Is a directory`.
Result<void> write_atomic(const std::string& path, std::string_view content, mode_t mode);

struct FileContent {
  std::string content;
  mode_t mode = 0;  // permission bits only
};

/// Reads a whole file (at most 16 MiB) and its permission bits, following symlinks. Errors name
/// the path: `"/x/kubeconfig": no such file or directory`.
Result<FileContent> read_file(const std::string& path);

}  // namespace k8sinpod::kubeconfig
