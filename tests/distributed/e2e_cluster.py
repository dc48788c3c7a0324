"""The TaskFlow services, each beside its own stand-in sidecar, as separate processes.

Environment as in dapr.yaml and README "Running the services under Dapr": PORT, DATABASE_URL (not for
websocket), JWT_SECRET (backend-api and websocket, the same value), DAPR_HTTP_PORT, APP_API_TOKEN and
DAPR_API_TOKEN (one pair per service, the same on the app and on its sidecar), DAPR_PUBSUB_NAME and
DAPR_STATE_STORE for websocket, LOG_FORMAT=json, RUST_LOG=info. Sidecars get POD_NAME and NAMESPACE
as the Dapr injector would set them.

Each sidecar runs with its Dapr Configuration (--config, see `configs()`), serves its app's
invocations on an internal port of its own (daprd's internal gRPC API) and resolves every app id to
those ports (--resolve), so `web` reaches backend-api as under Dapr: web -> web's sidecar ->
backend-api's sidecar (which applies its access-control policy) -> backend-api.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from e2e_procs import Proc, ProcessManager, clean_env, env_with, free_port, get_json, wait_http_ok

JWT_SECRET = "e2e-only-jwt-secret-" + secrets.token_hex(32)
STARTUP_TIMEOUT = 60.0


@dataclass
class ServiceSpec:
    name: str  # unique per process: websocket-0, websocket-1
    binary: str
    app_id: str
    pod_name: str
    uses_database: bool = True
    jwt: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    # Its sidecar's Configuration: one of the files `configs()` writes.
    config: str = "config.yaml"


SPECS = [
    ServiceSpec("backend-api", "backend-api", "backend-api", "backend-api-0", jwt=True,
                config="config-backend-api.yaml"),
    ServiceSpec("notification", "notification", "notification", "notification-0"),
    ServiceSpec("recurring", "recurring", "recurring", "recurring-0"),
    ServiceSpec("audit", "audit", "audit", "audit-0"),
    *[
        ServiceSpec(f"websocket-{i}", "websocket", "websocket", f"websocket-{i}", uses_database=False, jwt=True,
                    extra_env={"DAPR_PUBSUB_NAME": "pubsub-broadcast", "DAPR_STATE_STORE": "statestore-replica"},
                    config="config-websocket.yaml")
        for i in (0, 1)
    ],
    # One trusted proxy, as behind the Helm chart's ingress (ingress.trustedProxyHops).
    ServiceSpec("web", "web", "web", "web-0", uses_database=False, config="config-web.yaml",
                extra_env={"TRUSTED_PROXY_HOPS": "1"}),
]

# backend-api's access control as the Helm chart renders it with its defaults
# (helm-charts/taskflow/templates/dapr/configuration.yaml, values dapr.frontendAppIds [web] and
# dapr.trustDomain public; the release namespace is the sidecars' NAMESPACE, default).
BACKEND_API_ACCESS_CONTROL = {
    "defaultAction": "deny",
    "trustDomain": "public",
    "policies": [{
        "appId": "web",
        "defaultAction": "deny",
        "trustDomain": "public",
        "namespace": "default",
        "operations": [{"name": "/api/**", "httpVerb": ["*"], "action": "allow"}],
    }, {
        # websocket reads a resuming client's missed events from the outbox and resolves personal
        # access tokens, and nothing else.
        "appId": "websocket",
        "defaultAction": "deny",
        "trustDomain": "public",
        "namespace": "default",
        "operations": [{"name": "/internal/events/**", "httpVerb": ["GET"], "action": "allow"},
                       {"name": "/internal/access-tokens/**", "httpVerb": ["GET"], "action": "allow"}],
    }],
}


def configs(source_dir: Path, target_dir: Path) -> None:
    """The sidecars' Configurations: dapr-components/local's config.yaml (publish + state),
    config-web.yaml (invoke only) and config-websocket.yaml (state + invoke) as they are, and config-backend-api.yaml, config.yaml with the
    Helm chart's access-control policy for backend-api."""
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "config-web.yaml", "config-websocket.yaml"):
        (target_dir / name).write_text((source_dir / name).read_text())
    doc = yaml.safe_load((source_dir / "config.yaml").read_text())
    doc["metadata"]["name"] = doc["metadata"]["name"] + "-backend-api"
    doc["spec"]["accessControl"] = BACKEND_API_ACCESS_CONTROL
    (target_dir / "config-backend-api.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


@dataclass
class Service:
    spec: ServiceSpec
    app_port: int
    dapr_port: int
    internal_port: int
    app: Proc
    sidecar: Proc

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def sidecar_base(self) -> str:
        return f"http://127.0.0.1:{self.dapr_port}"

    def stats(self) -> dict:
        return get_json(f"{self.sidecar_base}/standin/stats")


class Cluster:
    def __init__(self, procs: ProcessManager, repo: Path, bin_dir: Path, standin: Path, resources: Path,
                 database_url: str, python: str = sys.executable, config_dir: Path | None = None):
        self.procs = procs
        self.repo = repo
        self.bin_dir = bin_dir
        self.standin = standin
        self.resources = resources
        self.database_url = database_url
        self.python = python
        self.config_dir = config_dir or resources.parent / "configs"
        self.services: dict[str, Service] = {}
        # Stand-in stats taken just before a sidecar was stopped (its counters die with it).
        self.stats_history: dict[str, list[dict]] = {}
        self.taken_ports: set[int] = set()

    # --- construction
    def binary(self, name: str) -> Path:
        path = self.bin_dir / name
        if not path.is_file():
            raise RuntimeError(f"binary {path} not found: build it with `cargo build --release --bins`")
        return path

    def migrate(self) -> None:
        env = env_with(clean_env(), DATABASE_URL=self.database_url, MIGRATE_ONLY="true", JWT_SECRET=JWT_SECRET,
                       LOG_FORMAT="json", RUST_LOG="info")
        proc = self.procs.add("migrate", [str(self.binary("backend-api"))], env)
        proc.start()
        code = proc.popen.wait(timeout=120)
        if code != 0:
            raise RuntimeError(f"backend-api MIGRATE_ONLY=true exited {code}:\n{proc.tail(30)}")

    def add(self, spec: ServiceSpec) -> Service:
        app_port = free_port(self.taken_ports)
        dapr_port = free_port(self.taken_ports)
        internal_port = free_port(self.taken_ports)
        app_token = secrets.token_hex(32)
        dapr_token = secrets.token_hex(32)
        app_env = env_with(
            clean_env(),
            HOST="127.0.0.1",
            PORT=str(app_port),
            DAPR_HOST="127.0.0.1",
            DAPR_HTTP_PORT=str(dapr_port),
            APP_API_TOKEN=app_token,
            DAPR_API_TOKEN=dapr_token,
            LOG_FORMAT="json",
            RUST_LOG="info",
            **spec.extra_env,
        )
        if spec.uses_database:
            app_env["DATABASE_URL"] = self.database_url
        if spec.jwt:
            app_env["JWT_SECRET"] = JWT_SECRET
        sidecar_env = env_with(
            clean_env(),
            APP_API_TOKEN=app_token,
            DAPR_API_TOKEN=dapr_token,
            POD_NAME=spec.pod_name,
            NAMESPACE="default",
            PYTHONUNBUFFERED="1",
        )
        sidecar_argv = [
            self.python, str(self.standin),
            "--app-id", spec.app_id,
            "--app-port", str(app_port),
            "--app-host", "127.0.0.1",
            "--dapr-http-port", str(dapr_port),
            "--resources-path", str(self.resources),
            "--config", str(self.config_dir / spec.config),
            "--dapr-internal-grpc-port", str(internal_port),
        ]
        service = Service(
            spec=spec,
            app_port=app_port,
            dapr_port=dapr_port,
            internal_port=internal_port,
            app=self.procs.add(spec.name, [str(self.binary(spec.binary))], app_env),
            sidecar=self.procs.add(f"{spec.name}.daprd", sidecar_argv, sidecar_env),
        )
        self.services[spec.name] = service
        return service

    # --- lifecycle
    def start_all(self) -> None:
        for spec in SPECS:
            self.add(spec)
        # Name resolution: every sidecar knows every app's internal address (websocket's two).
        resolve = [arg for s in self.services.values()
                   for arg in ("--resolve", f"{s.spec.app_id}=127.0.0.1:{s.internal_port}")]
        for service in self.services.values():
            service.sidecar.argv.extend(resolve)
        for service in self.services.values():
            service.sidecar.start()
            service.app.start()
        for service in self.services.values():
            self.wait_sidecar(service)
            self.wait_app(service)

    def wait_sidecar(self, service: Service) -> None:
        wait_http_ok(f"{service.sidecar_base}/v1.0/healthz", STARTUP_TIMEOUT, service.sidecar,
                     f"{service.name}'s stand-in sidecar /v1.0/healthz")

    def wait_app(self, service: Service) -> None:
        wait_http_ok(f"{service.base}/health", STARTUP_TIMEOUT, service.app, f"{service.name} /health")
        wait_http_ok(f"{service.base}/ready", STARTUP_TIMEOUT, service.app, f"{service.name} /ready")

    def kill9_app(self, name: str) -> None:
        self.services[name].app.kill9()

    def start_app(self, name: str) -> None:
        service = self.services[name]
        service.app.start()
        self.wait_app(service)

    def stop_app(self, name: str) -> int | None:
        return self.services[name].app.terminate()

    def stop_sidecar(self, name: str) -> None:
        service = self.services[name]
        if service.sidecar.alive():
            try:
                self.stats_history.setdefault(name, []).append(service.stats())
            except Exception as e:  # noqa: BLE001 - reported by the stats scenario
                self.stats_history.setdefault(name, []).append({"_error": f"stats before stop: {e}"})
        service.sidecar.terminate()

    def start_service(self, name: str) -> None:
        """Starts the app and its sidecar together (daprd's healthz answers only once the app
        listens), then waits for both."""
        service = self.services[name]
        service.sidecar.start()
        service.app.start()
        self.wait_sidecar(service)
        self.wait_app(service)

    def all_stats(self) -> dict[str, list[dict]]:
        """Every snapshot of every sidecar: those taken at stops, then the live one."""
        result: dict[str, list[dict]] = {}
        for name, service in self.services.items():
            snaps = list(self.stats_history.get(name, []))
            if service.sidecar.alive():
                try:
                    snaps.append(service.stats())
                except Exception as e:  # noqa: BLE001
                    snaps.append({"_error": f"stats: {e}"})
            result[name] = snaps
        return result
