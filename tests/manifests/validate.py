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
    CheckFailed,
    load_values,
    render_chart,
    tool,
)

MINIKUBE_DEPENDENCIES = REPO / "helm-charts" / "minikube" / "dependencies.yaml"


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
