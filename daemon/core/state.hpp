#pragma once
/// The supervisor's decision core: one pure transition function.
///
///     Transition step(const State&, const Event&, TimePoint now, const Policy&);
///
/// No clock, socket, file or process is touched here: time arrives as `now`, timers leave as
/// `ArmTimer` commands, jitter comes from `Policy::seed`. The state table this implements is in
/// docs/architecture.md; every row of it is a test in test/unit/core/.

#include <chrono>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace k8sinpod::core {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;

enum class Phase {
  starting,     // nothing asked yet
  discovering,  // asking kind and Docker whether the cluster exists
  deleting,     // removing leftover nodes before a create
  creating,     // `kind create cluster` is running
  configuring,  // cluster exists: resolving the control-plane IP, writing the kubeconfig
  ready,        // kubeconfig current and the API server answers /readyz
  unready,      // supervised, but some readiness check fails
  backoff,      // a step failed; waiting before starting over
  guarded,      // crash-loop guard: too many creations within the window; not recreating
  stopping,     // shutdown requested
};
inline constexpr Phase kAllPhases[] = {
    Phase::starting, Phase::discovering, Phase::deleting, Phase::creating, Phase::configuring,
    Phase::ready,    Phase::unready,     Phase::backoff,  Phase::guarded,  Phase::stopping};
const char* to_string(Phase p);

/// Why a cluster is recreated; a label of k8sinpod_cluster_recreations_total.
enum class RecreateReason { ip_change, unhealthy, control_plane_gone };
inline constexpr RecreateReason kAllRecreateReasons[] = {
    RecreateReason::ip_change, RecreateReason::unhealthy, RecreateReason::control_plane_gone};
const char* to_string(RecreateReason r);

/// Why the kubeconfig on disk was rewritten outside an IP change; a label of
/// k8sinpod_kubeconfig_repairs_total.
enum class RepairReason { missing, modified };
inline constexpr RepairReason kAllRepairReasons[] = {RepairReason::missing, RepairReason::modified};
const char* to_string(RepairReason r);

struct Policy {
  Duration probe_interval{std::chrono::seconds(5)};
  // After a Docker event the cluster is often mid-change (a node restarting): until it is ready
  // again, re-check after this delay, growing by half each time, up to probe_interval.
  Duration recheck_initial{std::chrono::milliseconds(10)};
  // Within listen_window of such an event, a probe refused at the TCP connect (the node is up,
  // its API server not yet listening) is followed by bare connects every listen_pace, and the
  // probe runs again as soon as one is not refused. A refused connect costs a SYN and a RST;
  // the series would find a late listener up to half the time since the event after it opened.
  Duration listen_pace{std::chrono::milliseconds(2)};
  Duration listen_window{std::chrono::seconds(1)};
  int failure_threshold = 3;
  bool recreate_on_ip_change = false;  // remediation.on_ip_change: recreate (default repatch)
  Duration recreate_after{std::chrono::seconds(60)};  // continuous failure before recreating
  Duration restart_grace{std::chrono::seconds(30)};   // control plane down before recreating
  Duration backoff_initial{std::chrono::seconds(10)};
  Duration backoff_max{std::chrono::minutes(5)};
  Duration backoff_reset{std::chrono::minutes(10)};  // ready this long resets the backoff
  double backoff_jitter = 0.1;             // delay = d + r * jitter * d, r in [0,1) from `seed`
  int max_recreates = 5;                   // crash-loop guard: creations allowed ...
  Duration window{std::chrono::hours(1)};  // ... within this window
  std::uint64_t seed = 0;
};

/// Monotonic counters; metrics and /status read them from the published state.
struct Counters {
  std::uint64_t probes_ok = 0;
  std::uint64_t probes_failed = 0;
  std::uint64_t creations_ok = 0;
  std::uint64_t creations_failed = 0;
  std::uint64_t kubeconfig_writes = 0;
  std::uint64_t kubeconfig_write_failures = 0;
  std::uint64_t control_plane_ip_changes = 0;
  std::uint64_t recreations[std::size(kAllRecreateReasons)] = {};       // by RecreateReason
  std::uint64_t kubeconfig_repairs[std::size(kAllRepairReasons)] = {};  // by RepairReason
  std::uint64_t docker_events = 0;  // relevant Docker events that triggered a re-check
  friend bool operator==(const Counters&, const Counters&) = default;
};

struct ProbeRecord {
  bool ok = false;
  TimePoint at{};
  Duration took{};
  std::string error;  // empty when ok
  friend bool operator==(const ProbeRecord&, const ProbeRecord&) = default;
};

struct State {
  Phase phase = Phase::starting;
  bool docker_ok = true;  // false after a failed Docker API call, until one succeeds
  bool control_plane_running = false;
  std::string control_plane_ip;  // as Docker reported it last; empty when unknown
  std::string kubeconfig_ip;     // the address written into the kubeconfig; empty: not written
  bool kubeconfig_ok = false;    // the last write succeeded
  int consecutive_probe_failures = 0;
  std::optional<ProbeRecord> last_probe;
  std::optional<TimePoint> last_probe_success;
  // The address that answered; readiness needs the current one. Cleared when the control plane
  // restarted (a new started_at) and on adopt: only a new success counts then.
  std::string last_probe_success_ip;
  std::string control_plane_started_at;  // as the last inspect reported it; "" unknown
  int failed_attempts = 0;  // consecutive failed create/adopt attempts (drives the backoff)
  Duration current_backoff{0};
  std::string last_error;           // why the last step failed, for logs and /status
  bool adopted = false;             // the running cluster was found, not created by us
  bool deleted_for_create = false;  // kind said "already exist" once; a second time backs off
  bool needs_cleanup = false;       // a failed create may have left nodes: delete before retrying

  // The check cycle (inspect -> [write] -> verify -> probe) runs one at a time; a Docker event
  // during a cycle asks for another one right after it.
  bool cycle_active = false;
  bool recheck_pending = false;
  Duration quick_recheck{0};  // next re-check delay after an event while not ready; 0: none
  std::optional<TimePoint> change_seen_at;  // the last Docker event or stream reconnect
  bool listen_wait = false;        // the armed probe timer checks the listener, not a whole cycle
  bool listener_checking = false;  // the active cycle is a CheckListener

  std::optional<TimePoint> unhealthy_since;  // when failure_threshold was reached
  std::optional<TimePoint> control_plane_down_since;
  std::optional<TimePoint> ready_since;
  std::vector<TimePoint> creations;          // create attempts within policy.window
  std::optional<TimePoint> repair_started;   // an IP change or kubeconfig damage was seen
  std::string repair_what;                   // what is being repaired, for the log
  Duration last_repair_duration{0};          // detection -> ready again, last repair
  std::optional<RecreateReason> recreating;  // set while a recreate is under way
  std::string guard_reason;                  // non-empty while phase == guarded
  Counters counters;
  friend bool operator==(const State&, const State&) = default;
};

// ---- events: results of commands, timers, signals ----
enum class TimerId { probe, retry, guard };

struct Started {};
struct ClustersListed {
  bool ok = false;
  bool exists = false;
  std::string error;
  bool docker_reachable = true;  // the shell pings Docker first; false: that ping failed
};
struct ControlPlaneInspected {
  bool ok = false;         // false: the Docker API call failed
  std::string error;       // why it failed; when ok: why a running control plane has no address
  bool found = false;      // a container with the control-plane labels exists
  bool running = false;    // and it is running
  std::string ip;          // its IPv4 address on the configured network; may be empty
  std::string started_at;  // when it last started (Docker's text, compared only); may be empty
};
struct ClusterCreated {
  bool ok = false;
  bool already_exists = false;  // kind refused: nodes for this name exist
  std::string error;
  Duration took{};
};
struct ClusterDeleted {
  bool ok = false;
  std::string error;
};
struct KubeconfigWritten {
  bool ok = false;
  std::string ip;
  std::string error;
};
struct ProbeFinished {
  bool ok = false;
  std::string ip;
  std::string error;
  Duration took{};
  bool refused = false;  // the TCP connect was refused: nothing listens at ip:6443
};
/// Result of CheckListener: a bare TCP connect to the API server's port.
struct ListenerChecked {
  std::string ip;
  bool refused = false;  // false: accepted, or failed otherwise (the probe then says why)
};
struct KubeconfigChecked {
  bool ok = false;                               // every written file holds exactly what we wrote
  RepairReason problem = RepairReason::missing;  // when !ok
  std::string detail;                            // which file, what is wrong
};
struct TimerFired {
  TimerId id;
};
/// A Docker event about this cluster's containers or its network (already filtered).
struct DockerEventSeen {
  std::string what;  // "container die", "network disconnect", ... for the log
};
/// The Docker event stream (re)connected: anything may have changed meanwhile.
struct DockerStreamConnected {};
/// A new configuration was loaded and the policy passed to step() has changed: lifts the
/// crash-loop guard and re-arms the probe timer with the new interval.
struct ConfigReloaded {};
struct ShutdownRequested {};

using Event =
    std::variant<Started, ClustersListed, ControlPlaneInspected, ClusterCreated, ClusterDeleted,
                 KubeconfigWritten, KubeconfigChecked, ProbeFinished, ListenerChecked, TimerFired,
                 DockerEventSeen, DockerStreamConnected, ConfigReloaded, ShutdownRequested>;

// ---- commands: what the shell must do next ----
struct ListClusters {
  friend bool operator==(const ListClusters&, const ListClusters&) = default;
};
struct InspectControlPlane {
  friend bool operator==(const InspectControlPlane&, const InspectControlPlane&) = default;
};
struct CreateCluster {
  friend bool operator==(const CreateCluster&, const CreateCluster&) = default;
};
struct DeleteCluster {
  friend bool operator==(const DeleteCluster&, const DeleteCluster&) = default;
};
struct WriteKubeconfig {
  std::string ip;
  friend bool operator==(const WriteKubeconfig&, const WriteKubeconfig&) = default;
};
struct CheckKubeconfig {
  friend bool operator==(const CheckKubeconfig&, const CheckKubeconfig&) = default;
};
struct Probe {
  std::string ip;
  friend bool operator==(const Probe&, const Probe&) = default;
};
/// Connect to ip:6443 and close again, without TLS; no probe is counted.
struct CheckListener {
  std::string ip;
  friend bool operator==(const CheckListener&, const CheckListener&) = default;
};
struct ArmTimer {
  TimerId id;
  Duration after;
  friend bool operator==(const ArmTimer&, const ArmTimer&) = default;
};
struct Exit {
  int code = 0;
  friend bool operator==(const Exit&, const Exit&) = default;
};

using Command =
    std::variant<ListClusters, InspectControlPlane, CreateCluster, DeleteCluster, WriteKubeconfig,
                 CheckKubeconfig, Probe, CheckListener, ArmTimer, Exit>;

struct Transition {
  State next;
  std::vector<Command> commands;
};

/// The transition function. Total: every (phase, event) pair has an answer; events that do not
/// belong to the current phase (a late result after shutdown, say) change nothing.
Transition step(const State& state, const Event& event, TimePoint now, const Policy& policy);

/// Delay before retry number `attempt` (1-based): initial * 2^(attempt-1) capped at max, plus
/// jitter in [0, jitter * delay) drawn deterministically from (seed, attempt).
Duration backoff_delay(int attempt, const Policy& policy);

/// One named readiness check, in the order /readyz lists them.
struct Check {
  const char* name;
  bool ok;
  std::string reason;  // why it fails; empty when ok
};

/// docker, cluster, kubeconfig, apiserver, crashloop. Ready iff all pass.
std::vector<Check> readiness_checks(const State& state, const Policy& policy);
bool is_ready(const State& state, const Policy& policy);

}  // namespace k8sinpod::core
