"""Checks one rendered kustomization (`kubectl kustomize DIR`) and extracts its parts.

usage: manifests.py RENDERED OUTDIR

Writes OUTDIR/config.yaml and OUTDIR/kind.yaml (the ConfigMap's files), OUTDIR/rules.yaml (the
PrometheusRule's spec, for promtool), OUTDIR/docker_host (the k8sinpodd container's DOCKER_HOST)
and OUTDIR/probes (one `KIND PATH PORT` line per probe, the port resolved to a number).
Fails (exit 1, one line per problem) unless:
  - the ConfigMap is mounted as a directory (no subPath) where --config points;
  - every probe of k8sinpodd targets server.listen's port, startup and readiness /readyz,
    liveness /livez, and the startup probe allows more than cluster.create_timeout;
  - the metrics Service targets that port and the ServiceMonitor scrapes the Service's port;
  - automountServiceAccountToken is false and every container has requests and a memory limit.
Needs PyYAML (python3-yaml, a dependency of yamllint).
"""
import os
import re
import sys

import yaml

PROBE_PATHS = {"startupProbe": "/readyz", "readinessProbe": "/readyz", "livenessProbe": "/livez"}
problems = []


def check(ok, message):
    if not ok:
        problems.append(message)


def seconds(duration):
    """Go duration (as in docs/configuration.md) to seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"([0-9.]+)(ms|us|µs|ns|h|m|s)", duration)
    return sum(float(n) * units[u] for n, u in parts)


def one(docs, kind):
    found = [d for d in docs if d.get("kind") == kind]
    check(len(found) == 1, f"expected one {kind}, found {len(found)}")
    return found[0] if found else {}


def main(rendered, outdir):
    with open(rendered, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    cm = one(docs, "ConfigMap")
    deploy = one(docs, "Deployment")
    service = one(docs, "Service")
    monitor = one(docs, "ServiceMonitor")
    rule = one(docs, "PrometheusRule")
    if problems:
        return
    data = cm.get("data", {})
    for name in ("config.yaml", "kind.yaml"):
        check(name in data, f"ConfigMap {cm['metadata']['name']} lacks {name}")
        with open(os.path.join(outdir, name), "w", encoding="utf-8") as f:
            f.write(data.get(name, ""))
    config = yaml.safe_load(data.get("config.yaml", "")) or {}
    listen = config.get("server", {}).get("listen", "0.0.0.0:9090")
    port = int(listen.rsplit(":", 1)[1])

    pod = deploy["spec"]["template"]["spec"]
    check(pod.get("automountServiceAccountToken") is False, "automountServiceAccountToken is not false")
    containers = {c["name"]: c for c in pod["containers"]}
    for c in pod["containers"]:
        res = c.get("resources", {})
        check("cpu" in res.get("requests", {}) and "memory" in res.get("requests", {}),
              f"container {c['name']}: no cpu/memory requests")
        check("memory" in res.get("limits", {}), f"container {c['name']}: no memory limit")
    main_c = containers.get("k8sinpodd")
    check(main_c is not None, "no container k8sinpodd")
    if main_c is None:
        return
    named = {p["name"]: p["containerPort"] for p in main_c.get("ports", []) if "name" in p}

    def resolve(p):
        return named.get(p, -1) if isinstance(p, str) else p

    # --config PATH and the ConfigMap volume mounted as its directory.
    args = main_c.get("args", [])
    config_path = args[args.index("--config") + 1] if "--config" in args else "/etc/k8sinpod/config.yaml"
    cm_volumes = {v["name"] for v in pod.get("volumes", [])
                  if v.get("configMap", {}).get("name") == cm["metadata"]["name"]}
    mounts = [m for m in main_c.get("volumeMounts", []) if m["name"] in cm_volumes]
    check(len(mounts) == 1, f"ConfigMap mounted {len(mounts)} times in k8sinpodd")
    for m in mounts:
        check("subPath" not in m, "ConfigMap mounted with subPath: live reload would never see edits")
        check(m["mountPath"] == os.path.dirname(config_path),
              f"ConfigMap at {m['mountPath']}, --config is {config_path}")
    check(config.get("cluster", {}).get("kind_config", "").startswith(os.path.dirname(config_path) + "/"),
          "cluster.kind_config is not a file of the mounted ConfigMap")

    with open(os.path.join(outdir, "probes"), "w", encoding="utf-8") as f:
        for kind, path in PROBE_PATHS.items():
            probe = main_c.get(kind)
            check(probe is not None, f"k8sinpodd has no {kind}")
            if probe is None:
                continue
            get = probe.get("httpGet", {})
            check(get.get("path") == path, f"{kind} path {get.get('path')}, expected {path}")
            check(resolve(get.get("port")) == port, f"{kind} port {get.get('port')} is not server.listen's {port}")
            f.write(f"{kind} {get.get('path')} {resolve(get.get('port'))}\n")
    startup = main_c.get("startupProbe", {})
    budget = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
    create = seconds(config.get("cluster", {}).get("create_timeout", "10m"))
    check(budget > create, f"startupProbe allows {budget}s, cluster.create_timeout is {create:.0f}s")

    env = {e["name"]: e.get("value", "") for e in main_c.get("env", [])}
    with open(os.path.join(outdir, "docker_host"), "w", encoding="utf-8") as f:
        f.write(env.get("DOCKER_HOST", ""))

    sport = service["spec"]["ports"][0]
    check(resolve(sport.get("targetPort")) == port, f"Service targetPort {sport.get('targetPort')} is not {port}")
    endpoints = monitor["spec"]["endpoints"]
    check(all(e.get("port") == sport.get("name") and e.get("path", "/metrics") == "/metrics" for e in endpoints),
          "ServiceMonitor does not scrape the Service's port at /metrics")
    labels = monitor["spec"]["selector"]["matchLabels"]
    check(all(service["metadata"].get("labels", {}).get(k) == v for k, v in labels.items()),
          "ServiceMonitor selector does not match the Service's labels")

    with open(os.path.join(outdir, "rules.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(rule["spec"], f, sort_keys=False)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
    for p in problems:
        print(f"FAIL: {sys.argv[1]}: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)
