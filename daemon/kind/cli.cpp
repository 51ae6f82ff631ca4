#include "kind/cli.hpp"

#include <memory>

namespace k8sinpod::kind {

namespace asio = boost::asio;

Cli::Cli(process::Runner& runner, Settings settings, std::vector<std::string> env, LogLine log_line)
    : runner_(runner),
      settings_(std::move(settings)),
      env_(std::move(env)),
      log_line_(std::move(log_line)) {}

asio::awaitable<Cli::Run> Cli::run(std::vector<std::string> argv,
                                   std::chrono::milliseconds timeout) {
  auto lines = std::make_shared<std::vector<std::string>>();
  process::Spec spec;
  spec.argv = std::move(argv);
  spec.env = env_;
  spec.timeout = timeout;
  auto on_line = [lines, log = log_line_](std::string_view line) {
    if (lines->size() < 1000) lines->emplace_back(line);
    if (log) log(line);
  };
  // GCC 12: build the awaitable first, so no temporary with a destructor spans the co_await.
  auto op = runner_.run(std::move(spec), on_line);
  auto outcome = co_await std::move(op);
  co_return Run{std::move(outcome), std::move(*lines)};
}

std::string Cli::describe_failure(const std::string& what, const Run& r) const {
  std::string msg = "kind: " + what + " \"" + settings_.cluster + "\": ";
  if (!r.outcome) return msg + r.outcome.error().message;
  const auto& o = *r.outcome;
  if (o.timed_out) {
    return msg + "timed out after " + std::to_string(o.took.count() / 1000) +
           "s, process group killed";
  }
  if (o.signal != 0) return msg + "killed by signal " + std::to_string(o.signal);
  return msg + "exit " + std::to_string(o.exit_code) + ": " + error_summary(r.stderr_lines);
}

asio::awaitable<Result<bool>> Cli::cluster_exists(std::chrono::milliseconds timeout) {
  auto op = run(get_clusters_argv(settings_), timeout);
  auto r = co_await std::move(op);
  if (!r.outcome || !r.outcome->success()) co_return fail(describe_failure("get clusters", r));
  co_return lists_cluster(r.outcome->stdout_text, settings_.cluster);
}

asio::awaitable<CreateOutcome> Cli::create(std::chrono::milliseconds timeout) {
  auto op = run(create_argv(settings_), timeout);
  auto r = co_await std::move(op);
  CreateOutcome c;
  if (r.outcome) c.took = r.outcome->took;
  c.ok = r.outcome && r.outcome->success();
  if (!c.ok) {
    c.already_exists = is_already_exists(r.stderr_lines);
    c.error = describe_failure("create cluster", r);
  }
  co_return c;
}

asio::awaitable<Result<void>> Cli::remove(std::chrono::milliseconds timeout) {
  auto op = run(delete_argv(settings_), timeout);
  auto r = co_await std::move(op);
  if (!r.outcome || !r.outcome->success()) co_return fail(describe_failure("delete cluster", r));
  co_return Result<void>();
}

asio::awaitable<Result<std::string>> Cli::kubeconfig(std::chrono::milliseconds timeout) {
  auto op = run(get_kubeconfig_argv(settings_), timeout);
  auto r = co_await std::move(op);
  if (!r.outcome || !r.outcome->success()) co_return fail(describe_failure("get kubeconfig", r));
  if (r.outcome->stdout_text.empty()) {
    co_return fail("kind: get kubeconfig \"" + settings_.cluster + "\": empty output");
  }
  co_return std::move(r.outcome->stdout_text);
}

}  // namespace k8sinpod::kind
