#!/usr/bin/env python3
"""Schema validation of the deployment manifests (run by .ci/run; needs the pinned tools).

1. The Helm chart is linted (strict) and rendered with Helm's own library for the default values,
   values-minikube.yaml and ci/full-values.yaml.
2. Every rendered Kubernetes object, and helm-charts/minikube/dependencies.yaml, is validated with
   `kubernetes-validate --strict` against the schemas of each Kubernetes version in
   --kube-version. An object whose schema is unknown fails (kubernetes-validate itself would only
   warn).
3. Dapr resources are not Kubernetes built-ins: the rendered ones, every YAML file under
   dapr-components/ (including local/) and dapr.yaml are validated with check-jsonschema against
   the schemas in dapr-components/schemas/, which are themselves checked against their metaschema.
4. Deployment rules that Dapr 1.16 enforces only at run time, for every shipped component file and
   the chart rendered with the default values (also with the ingress on), values-minikube.yaml and
   ci/full-values.yaml:
   * every Dapr-enabled pod (dapr.io/enabled "true") can start its sidecar: it mounts the
     Kubernetes API token or carries dapr.io/disable-builtin-k8s-secret-store "true";
   * every pubsub.kafka component retries as designed, with backOffMaxElapsedTime set ("0");
   * every pub/sub component's publishingScopes match the publishing table (common.PUBLISHES plus
     each subscriber's dead-letter topic), and every app it is scoped to is listed in its
     publishingScopes and subscriptionScopes;
   * /mcp reaches backend-api through the Ingress;
   * the Kafka topic-creation script is the same in docker-compose.yml and the chart's hook Job, and
     passes `shellcheck -s sh`.
5. The chart's NetworkPolicies select every service's pods and admit clients only to the public
   services; the Minikube dependencies admit only their namespace.
6. docker-compose.yml has no default for a secret: `docker compose config` refuses (naming the
   variable) without an env file, with .env.example as shipped, and without each secret alone;
   it resolves with all of them set.

Exit status 0 when everything validates; otherwise every finding is printed and the status is 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from common import (
    CHART,
    COMPONENTS,
    DAPR_SCHEMAS,
    REPO,
    RUN_TEMPLATE,
    SCHEMAS,
    VALUES_SETS,
    COMPOSE_SECRETS,
    CheckFailed,
    Rendered,
    compose_config,
    env_file_with_secrets,
    ingress_routes,
    kafka_backoff_problem,
    load_values,
    load_yaml_docs,
    pod_templates,
    render_chart,
    route_of,
    run_compose_config,
    sidecar_start_problem,
    tool,
    topic_scope_problems,
)

# The renders the deployment rules are checked on: (values set, overrides). The default values
# keep the ingress off, so they are rendered once more with it on.
RULE_RENDERS: list[tuple[str, dict | None]] = [
    ("default", None),
    ("default", {"ingress": {"enabled": True}}),
    ("minikube", None),
    ("full", None),
]
# Request paths the Ingress must send to backend-api's MCP endpoint.
MCP_PATH = "/mcp"
MCP_APP = "backend-api"

MINIKUBE_DEPENDENCIES = REPO / "helm-charts" / "minikube" / "dependencies.yaml"
ENV_EXAMPLE_PATH = REPO / ".env.example"


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def lint_chart(kube_version: str, problems: list[str]) -> None:
    import helm_python as helm

    for name, files in VALUES_SETS.items():
        report = helm.lint(str(CHART), load_values(files), strict=True, kube_version=f"v{kube_version}")
        findings = [
            f"{m['path']}: {m['error']}" for m in report.get("messages", []) if m.get("severity", 0) >= 2
        ] + list(report.get("errors") or [])
        if findings:
            problems.append(f"helm lint ({name} values):\n    " + "\n    ".join(findings))
        else:
            print(f"  ok: helm lint --strict ({name} values, Kubernetes {kube_version})")


def kubernetes_validate(files: list[Path], kube_versions: list[str], problems: list[str]) -> None:
    for version in kube_versions:
        proc = run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, *map(str, files)])
        out = (proc.stdout + proc.stderr).strip()
        # Unknown kinds are only a WARN for kubernetes-validate: every object here must be known.
        if proc.returncode != 0 or out:
            problems.append(f"kubernetes-validate --strict -k {version}:\n    " + out.replace("\n", "\n    "))
        else:
            print(f"  ok: {len(files)} manifest files valid against Kubernetes {version} (strict)")


def check_jsonschema(schema: Path, files: list[Path], label: str, problems: list[str]) -> None:
    if not files:
        return
    proc = run([tool("check-jsonschema"), "--schemafile", str(schema), *map(str, files)])
    if proc.returncode != 0:
        problems.append(f"{label} against {rel(schema)}:\n    " + (proc.stdout + proc.stderr).strip().replace("\n", "\n    "))
    else:
        print(f"  ok: {label}: {len(files)} file(s) valid against {rel(schema)}")


def split_for_validation(workdir: Path, problems: list[str]) -> tuple[list[Path], dict[str, list[Path]]]:
    """Render every values set; write each object to its own file, Kubernetes vs Dapr kinds apart."""
    kube_files: list[Path] = []
    dapr_files: dict[str, list[Path]] = {kind: [] for kind in DAPR_SCHEMAS}
    for name in VALUES_SETS:
        rendered = render_chart(name)
        count = 0
        for template, objects in rendered.by_template.items():
            for i, obj in enumerate(objects):
                kind, api = obj.get("kind"), obj.get("apiVersion", "")
                stem = template.replace("/", "_").removesuffix(".yaml")
                path = workdir / f"{name}__{stem}__{i}.yaml"
                path.write_text(yaml.safe_dump(obj, sort_keys=False), encoding="utf-8")
                count += 1
                if api.startswith("dapr.io/"):
                    if kind not in dapr_files:
                        problems.append(f"{template} ({name} values): no schema for Dapr kind {kind}")
                        continue
                    dapr_files[kind].append(path)
                else:
                    kube_files.append(path)
        print(f"  ok: chart rendered with {name} values: {count} objects")
    return kube_files, dapr_files


def component_rules(component: dict, where: str, problems: list[str]) -> int:
    """Kafka backoff and topic scoping of one component; returns the number of rules checked."""
    spec_type = component.get("spec", {}).get("type", "")
    name = component.get("metadata", {}).get("name")
    checked = 0
    if spec_type == "pubsub.kafka":
        checked += 1
        problem = kafka_backoff_problem(component)
        if problem:
            problems.append(f"{where}: Kafka component {name}: {problem}")
    if spec_type.startswith("pubsub."):
        checked += 1
        for problem in topic_scope_problems(component):
            problems.append(f"{where}: pub/sub component {name}: {problem}")
    return checked


def deployment_rules(problems: list[str]) -> None:
    before = len(problems)
    checked = 0
    for path in sorted(COMPONENTS.rglob("*.yaml")):
        if path.parent == SCHEMAS:
            continue
        for doc in load_yaml_docs(path):
            if doc.get("kind") == "Component":
                checked += component_rules(doc, rel(path), problems)
    for values_set, overrides in RULE_RENDERS:
        rendered: Rendered = render_chart(values_set, overrides)
        where = f"chart ({rendered.values_set} values)"
        dapr_pods = 0
        for name, template in pod_templates(rendered):
            ann = (template.get("metadata") or {}).get("annotations") or {}
            dapr_pods += str(ann.get("dapr.io/enabled", "")).lower() == "true"
            problem = sidecar_start_problem(rendered, template)
            if problem:
                problems.append(f"{where}: {name}: {problem}")
        if dapr_pods == 0:
            problems.append(f"{where}: no Dapr-enabled workload rendered (expected the five services)")
        checked += dapr_pods
        kinds = {c.get("spec", {}).get("type") for c in rendered.of_kind("Component")}
        if "pubsub.kafka" not in kinds:
            problems.append(f"{where}: no pubsub.kafka component rendered")
        for component in rendered.of_kind("Component"):
            checked += component_rules(component, where, problems)
        web_notes_problem = web_notes(rendered)
        if web_notes_problem:
            problems.append(f"{where}: NOTES.txt: {web_notes_problem}")
        checked += 1
        routes = ingress_routes(rendered)
        if overrides and overrides.get("ingress", {}).get("enabled") and not routes:
            problems.append(f"{where}: no Ingress rendered")
        for host, paths in routes.items():
            checked += 1
            got = route_of(paths, MCP_PATH)
            if got != MCP_APP:
                problems.append(f"{where}: Ingress (host {host or '*'}): {MCP_PATH} reaches {got or 'nothing'}, must reach {MCP_APP} (its MCP endpoint)")
    if len(problems) == before:
        print(f"  ok: {checked} checks: sidecars can start (API token or built-in secret store disabled), Kafka backoff "
              f"as designed, publishing scopes as designed, {MCP_PATH} routed to {MCP_APP}, NOTES.txt opens the web app")


def web_notes(rendered: Rendered) -> str | None:
    """NOTES.txt must say how to open the web app when it is deployed: the Ingress address with the
    ingress on, else a port-forward to the `web` Service (or minikube's URL for a NodePort)."""
    web = rendered.values["services"]["web"]
    notes = rendered.notes or ""
    if not web.get("enabled"):
        return None
    if "Open the web app" not in notes:
        return "says nothing about the web app"
    if rendered.values["ingress"].get("enabled"):
        host = rendered.values["ingress"].get("host") or "<ingress address>"
        return None if f"://{host}/\n" in notes else f"no web app URL on the Ingress host {host}"
    if web["service"]["type"] == "NodePort":
        return None if "minikube service" in notes and "-web -n" in notes else "no minikube URL for the web Service"
    return None if "port-forward svc/" in notes and "-web 8080:" in notes else "no port-forward to the web Service"


def compose_secrets(problems: list[str]) -> None:
    """docker compose must refuse to start without each secret, never fall back to a public default:
    no .env at all, .env.example as shipped (empty values), and each secret missing on its own."""
    compose = tool("docker-compose")
    with tempfile.TemporaryDirectory(prefix="taskflow-compose-") as tmp:
        cases: list[tuple[str, Path | None, tuple[str, ...]]] = [
            ("without an env file", None, COMPOSE_SECRETS),
            ("with .env.example as shipped", ENV_EXAMPLE_PATH, COMPOSE_SECRETS),
        ]
        for name in COMPOSE_SECRETS:
            case_dir = Path(tmp) / name
            case_dir.mkdir()
            cases.append((f"without {name}", env_file_with_secrets(case_dir, omit=(name,)), (name,)))
        for label, env_file, missing in cases:
            result = run_compose_config(compose, env_file)
            if result.model is not None:
                problems.append(f"docker compose config {label} succeeded: it must refuse to start without {', '.join(missing)}")
            elif not any(f"required variable {name} is missing" in result.stderr for name in missing):
                problems.append(f"docker compose config {label} failed without naming one of {', '.join(missing)}: {result.stderr[:300]}")
        full = run_compose_config(compose, env_file_with_secrets(Path(tmp)))
        if full.model is None:
            problems.append(f"docker compose config with .env.example and every secret set failed:\n    {full.stderr}")
    if not any(p.startswith("docker compose config") for p in problems):
        print(f"  ok: {len(cases)} refusals without secrets (each names the variable); resolves with all {len(COMPOSE_SECRETS)} set")


# Services clients reach; every other one admits no one but scrapers on its app port.
PUBLIC_SERVICES = {"backend-api", "websocket", "web"}


def network_policies(problems: list[str]) -> None:
    """Every TaskFlow pod is selected by a NetworkPolicy of the chart (default values); only the
    public services admit everyone on their app port; the dev dependencies admit their namespace only."""
    before = len(problems)
    rendered = render_chart("default")
    policies = rendered.of_kind("NetworkPolicy")
    for name, template in pod_templates(rendered):
        labels = (template.get("metadata") or {}).get("labels") or {}
        component = labels.get("app.kubernetes.io/component")
        if not str((template.get("metadata") or {}).get("annotations", {}).get("dapr.io/enabled", "")).lower() == "true":
            continue
        selecting = [
            p for p in policies
            if all(labels.get(k) == v for k, v in ((p["spec"].get("podSelector") or {}).get("matchLabels") or {}).items())
            and "Ingress" in p["spec"].get("policyTypes", [])
        ]
        if not selecting:
            problems.append(f"chart (default values): {name}: no NetworkPolicy selects its pods, so any pod in the cluster reaches them")
            continue
        open_rules = [r for p in selecting for r in p["spec"].get("ingress", []) if not r.get("from")]
        if component not in PUBLIC_SERVICES and open_rules:
            problems.append(f"chart (default values): {name}: a NetworkPolicy rule admits every peer, but {component} serves no clients")
        if component in PUBLIC_SERVICES and not open_rules:
            problems.append(f"chart (default values): {name}: clients (the ingress) cannot reach {component} with publicFrom empty")
    deps = [d for d in load_yaml_docs(MINIKUBE_DEPENDENCIES) if d.get("kind") == "NetworkPolicy"]
    if not any(all(r.get("from") for r in d["spec"].get("ingress", [])) for d in deps):
        problems.append(f"{rel(MINIKUBE_DEPENDENCIES)}: no NetworkPolicy keeps the unauthenticated broker, database and Redis to the namespace")
    if len(problems) == before:
        print(f"  ok: {len(policies)} NetworkPolicies select every service's pods; only {', '.join(sorted(PUBLIC_SERVICES))} admit clients; dev dependencies closed to other namespaces")


def topic_scripts(problems: list[str]) -> None:
    """The `rpk topic create` script of the compose one-shot service and of the chart's hook Job:
    one script (the compose copy with `$$` for `$`), shellcheck-clean as POSIX sh."""
    scripts: dict[str, str] = {}
    model = compose_config(tool("docker-compose"))
    for name, svc in model["services"].items():
        command = [str(c) for c in (svc.get("command") or [])]
        if any("rpk topic create" in c for c in command):
            # `docker compose config` prints `$` escaped as `$$`, as in the file.
            scripts[f"docker-compose.yml service {name}"] = command[-1].replace("$$", "$")
    for job in render_chart("default").of_kind("Job"):
        for c in job["spec"]["template"]["spec"]["containers"]:
            command = [str(x) for x in (c.get("command") or []) + (c.get("args") or [])]
            if any("rpk topic create" in x for x in command):
                scripts[f"chart Job {job['metadata']['name']}"] = command[-1]
    if len(scripts) != 2:
        problems.append(f"expected the topic-creation script in docker-compose.yml and in the chart's Job, found it in {sorted(scripts) or 'neither'}")
        return
    (a_name, a), (b_name, b) = scripts.items()
    if a.strip() != b.strip():
        problems.append(f"the topic-creation scripts differ between {a_name} and {b_name}: keep them identical")
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(a)
    try:
        proc = run([tool("shellcheck"), "-s", "sh", f.name])
    finally:
        Path(f.name).unlink()
    if proc.returncode != 0:
        problems.append(f"shellcheck -s sh on the topic-creation script ({a_name}):\n    " + proc.stdout.strip().replace("\n", "\n    "))
    else:
        print(f"  ok: topic-creation script identical in {a_name} and {b_name}, shellcheck clean")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--kube-version",
        action="append",
        required=True,
        help="Kubernetes version to validate against (repeatable), e.g. 1.29.0",
    )
    args = parser.parse_args()
    problems: list[str] = []

    try:
        print("JSON schemas (dapr-components/schemas):")
        proc = run([tool("check-jsonschema"), "--check-metaschema", *map(str, sorted(SCHEMAS.glob("*.json")))])
        if proc.returncode != 0:
            problems.append("schemas are not valid JSON Schema:\n    " + proc.stdout.strip())
        else:
            print("  ok: every schema is valid against its metaschema")

        print("Dapr resource files (dapr-components/**):")
        by_kind: dict[str, list[Path]] = {kind: [] for kind in DAPR_SCHEMAS}
        for path in sorted(COMPONENTS.rglob("*")):
            if path.is_dir() or path.parent == SCHEMAS:
                continue
            if path.suffix not in (".yaml", ".yml"):
                problems.append(f"{rel(path)}: only Dapr YAML belongs in dapr-components/ (daprd warns about anything else)")
                continue
            docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
            if len(docs) != 1:
                problems.append(f"{rel(path)}: expected exactly one resource per file, found {len(docs)}")
                continue
            kind = docs[0].get("kind")
            if kind not in by_kind:
                problems.append(f"{rel(path)}: kind {kind!r} has no schema (expected one of {sorted(by_kind)})")
                continue
            by_kind[kind].append(path)
        for kind, files in by_kind.items():
            check_jsonschema(DAPR_SCHEMAS[kind], files, f"{kind} files", problems)

        print("Run template (dapr.yaml):")
        check_jsonschema(SCHEMAS / "run-template.schema.json", [RUN_TEMPLATE], "dapr.yaml", problems)

        print("Helm chart (helm-charts/taskflow):")
        for version in args.kube_version:
            lint_chart(version, problems)
        with tempfile.TemporaryDirectory(prefix="taskflow-manifests-") as tmp:
            kube_files, dapr_files = split_for_validation(Path(tmp), problems)
            kube_files.append(MINIKUBE_DEPENDENCIES)
            kubernetes_validate(kube_files, args.kube_version, problems)
            for kind, files in dapr_files.items():
                check_jsonschema(DAPR_SCHEMAS[kind], files, f"rendered Dapr {kind} objects", problems)

        print("Deployment rules (sidecar start, Kafka backoff, topic scopes, /mcp):")
        deployment_rules(problems)
        topic_scripts(problems)

        print("NetworkPolicies (chart, minikube dependencies):")
        network_policies(problems)

        print("docker compose secrets (docker-compose.yml, .env.example):")
        compose_secrets(problems)
    except CheckFailed as e:
        problems.append(str(e))

    if problems:
        print("\nMANIFEST VALIDATION FAILED:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print("all manifests valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
