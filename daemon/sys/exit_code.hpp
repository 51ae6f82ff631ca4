#pragma once
/// The daemon's exit codes (conventions.md, "PID 1 in a container"): 0 after a clean shutdown,
/// 1 for a startup or configuration error, 128+N when signal N forced the exit (the shell's
/// convention: a second SIGTERM during shutdown exits 143). Pure.

namespace k8sinpod::sys {

inline constexpr int kExitOk = 0;
inline constexpr int kExitStartupError = 1;

/// 128 + `sig`: SIGTERM (15) -> 143, SIGINT (2) -> 130.
constexpr int exit_code_for_signal(int sig) { return 128 + sig; }

}  // namespace k8sinpod::sys
