#!/usr/bin/env python3
"""Keeps ARCHITECTURE.md a true map of the code.

Checks, against the workspace itself (`cargo metadata`) and `.ci/boundaries`:
  * the code map names every workspace member, with its path and package name, and nothing else, and
    the files a row names are that member's;
  * the dependency graph is exactly the members' normal (non-dev, non-build) dependencies on each other;
  * the boundary table is exactly `.ci/boundaries`, which `.ci/run` enforces with `cargo tree`;
  * every repository path cited in backticks or linked (and every linked heading) in ARCHITECTURE.md,
    README.md, SECURITY.md, BENCHMARKS.md and docs/*.md exists;
  * every document under docs/ is linked from ARCHITECTURE.md, which stays a map (at most 300 lines).

Run from anywhere: python3 tests/docs/check_doc_map.py. Exits non-zero, naming each problem.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARCH = ROOT / "ARCHITECTURE.md"
MAX_ARCH_LINES = 300
# Top-level directories whose paths the docs cite; a backticked token under one of them must exist.
CITED_ROOTS = ("crates/", "services/", "migrations/", "docs/", "bench/", "helm-charts/",
               "dapr-components/", "docker/", ".ci/", "tests/")


def block(text: str, name: str) -> str:
    m = re.search(rf"<!-- {name} -->\n(.*?)<!-- /{name} -->", text, re.S)
    if not m:
        raise SystemExit(f"ARCHITECTURE.md: the <!-- {name} --> … <!-- /{name} --> block is missing")
    return m.group(1)


def short(package: str) -> str:
    return package if package == "taskflow" else package.removeprefix("taskflow-")


def workspace() -> tuple[dict[str, str], dict[str, set[str]]]:
    """Members as {package: path relative to the root}, and their normal workspace dependencies."""
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    members = {}
    for pkg in meta["packages"]:
        members[pkg["name"]] = str(Path(pkg["manifest_path"]).parent.relative_to(ROOT))
    deps = {}
    for pkg in meta["packages"]:
        deps[pkg["name"]] = {d["name"] for d in pkg["dependencies"]
                             if d["kind"] is None and d["name"] in members}
    return members, deps


def check_code_map(text: str, members: dict[str, str]) -> list[str]:
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", block(text, "code-map"), re.M)
    documented = {crate: path for path, crate in rows}
    problems = []
    for crate, path in sorted(members.items()):
        if crate not in documented:
            problems.append(f"code map: workspace member {crate} ({path}) has no row")
        elif documented[crate] != path:
            problems.append(f"code map: {crate} is at {path}, not {documented[crate]}")
    for crate in sorted(set(documented) - set(members)):
        problems.append(f"code map: {crate} is not a workspace member")
    # The files and folders a row names (`hub.rs`, `routes/`) are the member's own.
    for line in block(text, "code-map").splitlines():
        m = re.match(r"\| `([^`]+)` \| `[^`]+` \| (.*)", line)
        if not m:
            continue
        path, owns = m.groups()
        for name in re.findall(r"`([\w/]+(?:\.rs|/))`", owns):
            if not any((ROOT / path / base / name).exists() for base in ("src", "")):
                problems.append(f"code map: the {path} row names {name}, which is not in {path}/src")
    return problems


def check_graph(text: str, members: dict[str, str], deps: dict[str, set[str]]) -> list[str]:
    by_short = {short(m): m for m in members}
    documented: dict[str, set[str]] = {}
    problems = []
    for line in block(text, "dependency-graph").splitlines():
        if "→" not in line:
            continue
        left, right = (part.strip() for part in line.split("→", 1))
        names = {n.strip() for n in right.split(",") if n.strip()}
        unknown = ({left} | names) - set(by_short)
        if unknown:
            problems.append(f"dependency graph: {', '.join(sorted(unknown))} are not workspace members")
        documented[left] = names
    for crate, real in sorted(deps.items()):
        name = short(crate)
        if name not in documented:
            problems.append(f"dependency graph: no line for {name}")
            continue
        real_short = {short(d) for d in real}
        if documented[name] != real_short:
            missing = real_short - documented[name]
            extra = documented[name] - real_short
            problems.append(f"dependency graph: {name} → missing {sorted(missing)}, not real {sorted(extra)}")
    return problems


def boundaries() -> list[tuple[str, str, str]]:
    rules = []
    for line in (ROOT / ".ci/boundaries").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        rule, _, why = line.partition("#")
        words = rule.split()
        for forbidden in words[1:]:
            rules.append((words[0], forbidden, why.strip()))
    return rules


def check_boundaries(text: str) -> list[str]:
    rows = re.findall(r"^\| `([^`]+)` \| (.+?) \|", block(text, "boundaries"), re.M)
    documented = {(pkg, f.strip("` ")) for pkg, forbidden in rows for f in forbidden.split(",")}
    real = {(pkg, forbidden) for pkg, forbidden, _ in boundaries()}
    problems = [f"boundary table: {p} must not reach {f} is enforced but not listed"
                for p, f in sorted(real - documented)]
    problems += [f"boundary table: {p} must not reach {f} is listed but .ci/boundaries has no such rule"
                 for p, f in sorted(documented - real)]
    return problems


def expand(path: str) -> list[str]:
    """`a/{b,c}.rs` → a/b.rs, a/c.rs."""
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    return [p for alt in m.group(1).split(",") for p in expand(path[:m.start()] + alt + path[m.end():])]


def anchors(doc: Path) -> set[str]:
    """The anchors GitHub gives the document's headings."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", doc.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def check_paths(doc: Path) -> list[str]:
    text = doc.read_text()
    cited = set()
    problems = []
    for token in re.findall(r"`([^`\s]+)`", text):
        token = token.rstrip(".,:;")
        if token.startswith(CITED_ROOTS) and not any(c in token for c in "*<>$"):
            cited.update(expand(token.split("::")[0]))
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        linked = (doc.parent / target).resolve() if target else doc
        if target:
            cited.add(str(linked.relative_to(ROOT)))
        if anchor and linked.suffix == ".md" and linked.exists() and anchor not in anchors(linked):
            problems.append(f"{doc.relative_to(ROOT)}: links {target or doc.name}#{anchor}, "
                            "a heading that does not exist")
    for path in sorted(cited):
        if (ROOT / path).exists():
            continue
        # A crate-relative path (`tests/api/jwks.rs`, `src/…`) is fine if it exists in some member.
        if path.startswith("tests/") and any(ROOT.glob(f"*/*/{path}")):
            continue
        problems.append(f"{doc.relative_to(ROOT)}: cites {path}, which does not exist")
    return problems


def main() -> int:
    text = ARCH.read_text()
    members, deps = workspace()
    problems = check_code_map(text, members) + check_graph(text, members, deps) + check_boundaries(text)
    lines = text.count("\n")
    if lines > MAX_ARCH_LINES:
        problems.append(f"ARCHITECTURE.md has {lines} lines; it is a map: keep it under {MAX_ARCH_LINES} "
                        "and move detail to docs/")
    docs = sorted((ROOT / "docs").glob("*.md"))
    for doc in docs:
        if f"(docs/{doc.name})" not in text:
            problems.append(f"ARCHITECTURE.md does not link docs/{doc.name}")
    for doc in [ARCH, ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "BENCHMARKS.md", *docs]:
        problems += check_paths(doc)
    for p in problems:
        print(f"doc map: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"doc map: ok ({len(members)} members, {sum(map(len, deps.values()))} dependencies, "
          f"{len(boundaries())} boundary rules, {len(docs)} docs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
