// k8sinpodd: composition root only. Parses the command line, loads the configuration (a bad one
// exits 1 with `file:line:col: message`), sets up logging and runs the App on one io_context.

#include <openssl/crypto.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "app/app.hpp"
#include "config/config.hpp"
#include "log/log.hpp"

#ifndef K8SINPOD_VERSION
#define K8SINPOD_VERSION "0.0.0"
#endif
#ifndef K8SINPOD_REVISION
#define K8SINPOD_REVISION "unknown"
#endif

namespace {

constexpr const char* kDefaultConfig = "/etc/k8sinpod/config.yaml";

constexpr const char* kUsage =
    R"(usage: k8sinpodd [--config PATH] [--check-config] [--version] [--help]

Supervises a kind cluster from inside a pod: creates or adopts it, writes a kubeconfig that
points at the control-plane container's address, probes the API server, and serves
/livez /readyz /metrics /status.

  --config PATH    configuration file (default /etc/k8sinpod/config.yaml)
  --check-config   validate the configuration and exit: 0 if valid, else 1 with
                   PATH:LINE:COL: message lines on stderr
  --version        print the version and exit
  --help           print this help and exit

DOCKER_HOST is used when the configuration does not set docker.host.
Documentation: docs/configuration.md, docs/architecture.md.
)";

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = kDefaultConfig;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version") {
      std::cout << "k8sinpodd " << K8SINPOD_VERSION << " (" << K8SINPOD_REVISION << "), "
                << OpenSSL_version(OPENSSL_VERSION) << '\n';
      return 0;
    }
    if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = std::string(arg.substr(9));
    } else {
      std::cerr << "k8sinpodd: unknown argument \"" << arg << "\"\n" << kUsage;
      return 1;
    }
  }

  auto loaded = k8sinpod::config::load_file(config_path, k8sinpod::app::env_value("DOCKER_HOST"));
  if (!loaded.config) {
    for (const auto& d : loaded.diagnostics) std::cerr << d.to_string() << '\n';
    return 1;
  }
  if (check_only) {
    std::cout << config_path << ": ok\n";
    return 0;
  }

  const auto& cfg = *loaded.config;
  std::optional<k8sinpod::log::LogFile> log_file;
  if (!cfg.log.file.empty()) {
    log_file = k8sinpod::log::LogFile{cfg.log.file, cfg.log.max_size, cfg.log.max_files};
  }
  if (auto r = k8sinpod::log::setup(k8sinpod::app::log_level(cfg.log.level),
                                    k8sinpod::app::log_format(cfg.log.format), log_file);
      !r) {
    std::cerr << config_path << ": " << r.error().message << '\n';
    return 1;
  }
  // A write to a closed socket must be an error value, never a fatal signal.
  std::signal(SIGPIPE, SIG_IGN);
  // Not PID 1 (systemd, shared PID namespace): orphans of kind and docker still come back to us.
  if (::getpid() != 1) ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  boost::asio::io_context io(1);
  k8sinpod::app::Options options;
  options.config = cfg;
  options.config_path = config_path;
  options.version = K8SINPOD_VERSION;
  options.revision = K8SINPOD_REVISION;
  options.openssl = OpenSSL_version(OPENSSL_VERSION_STRING);
  const auto path = k8sinpod::app::env_value("PATH");
  options.path_env = path && !path->empty() ? *path : "/usr/local/bin:/usr/bin:/bin";
  k8sinpod::app::App app(io, options);
  if (auto r = app.start(); !r) {
    std::cerr << config_path << ": " << r.error().message << '\n';
    k8sinpod::log::get("k8sinpodd")->error("startup failed: {}", r.error().message);
    return 1;
  }
  io.run();
  return app.exit_code();
}
