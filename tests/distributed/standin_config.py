"""The daprd Configuration (-config FILE) for the stand-in: the parts it reads.

Why a module of its own: two unrelated consumers read it - the stand-in's router (which APIs exist:
``spec.api.allowed``/``denied``, pkg/api/http/server.go setupRoutes) and the target half of service
invocation (``spec.accessControl``, pkg/acl/acl.go with its operation trie pkg/config/acl_trie.go).
dapr/dapr at v1.16.19; read the files with ``git -C <mirror> show v1.16.19:<path>``.
"""

from __future__ import annotations

from typing import Callable, Optional

import yaml

# -------------------------------------------------------------------------------------------------
# Configuration: spec.api (pkg/config/configuration.go, pkg/api/http/endpoints/endpoint.go)
# -------------------------------------------------------------------------------------------------

DEFAULT_TRUST_DOMAIN = "public"  # pkg/config/configuration.go DefaultTrustDomain


class ConfigError(Exception):
    pass


class ApiAccess:
    """spec.api.allowed / spec.api.denied for the HTTP protocol."""

    def __init__(self, allowed: dict, denied: dict):
        self.allowed = allowed
        self.denied = denied

    @staticmethod
    def rules(lst) -> dict:
        """configuration.go GetRulesByProtocol: "<version>/<name>" of each rule whose protocol is
        "http" (case-insensitive); a rule without a protocol counts for neither HTTP nor gRPC."""
        out = {}
        for r in lst or []:
            if not isinstance(r, dict):
                raise ConfigError(f"spec.api rule {r!r} is not a mapping")
            if str(r.get("protocol", "")).lower() == "http":
                out[f"{r.get('version', '')}/{r.get('name', '')}"] = True
        return out

    def endpoint_allowed(self, group: str, route: str, group_version: str = "v1") -> bool:
        """endpoint.go IsAllowed for an endpoint of group version `group_version` ("v1",
        EndpointGroupVersion1; "v1alpha1" for the bulk publish API) named `group` whose route is
        `route` ("v1.0/invoke/*"): the denylist first, then the allowlist (an empty one allows
        everything); each matched by the group key ("v1alpha1/publish") or, the "legacy" way, by a
        rule key that prefixes the route.  So a rule {name: publish, version: v1.0} admits
        "v1.0/publish/..." but not "v1.0-alpha1/publish/bulk/...": bulk publish needs a rule of
        its own (version v1.0-alpha1 or v1alpha1)."""
        def matches(rules):
            return (group_version + "/" + group) in rules or any(route.startswith(k) for k in rules)
        if self.denied and matches(self.denied):
            return False
        if not self.allowed:
            return True
        return matches(self.allowed)


# -------------------------------------------------------------------------------------------------
# Configuration: spec.accessControl (pkg/acl/acl.go, pkg/config/acl_trie.go)
# -------------------------------------------------------------------------------------------------

def _is_match(target: str, pattern: str) -> bool:
    """acl_trie.go isMatch: '*' matches any run of characters (also none)."""
    tl, pl = len(target), len(pattern)
    m = [[False] * (pl + 1) for _ in range(tl + 1)]
    m[0][0] = True
    for i in range(1, pl + 1):
        if pattern[i - 1] == "*":
            m[0][i] = True
        else:
            break
    for i in range(1, tl + 1):
        for j in range(1, pl + 1):
            if pattern[j - 1] == "*":
                m[i][j] = m[i][j - 1] or m[i - 1][j]
            elif target[i - 1] == pattern[j - 1]:
                m[i][j] = m[i - 1][j - 1]
    return m[tl][pl]


class _Node:
    def __init__(self, char: str, data=None):
        self.char = char
        self.data = data
        self.subs: list = []


def _find_with_wildcard(char: str, nodes: list, is_end: bool):
    """acl_trie.go findNodeWithWildcard (first match in insertion order)."""
    for n in nodes:
        if n.char == char:
            return n
        if n.char == "/*":
            if is_end:
                return n
            continue
        if n.char == "/**":
            return n
        if _is_match(char, n.char):
            return n
    return None


class Trie:
    """acl_trie.go Trie: operations split on "/", "/*" one segment, "/**" any number."""

    def __init__(self):
        self.root = _Node("/")

    def put(self, operation: str, data) -> None:
        parts = operation.split("/")
        node = self.root
        for i, part in enumerate(parts):
            if i == 0:
                continue
            char = "/" + part
            sub = next((n for n in node.subs if n.char == char), None)
            if sub is None:
                new = _Node(char, data if i == len(parts) - 1 else None)
                node.subs.append(new)
                node = new
            elif i == len(parts) - 1:
                if sub.data is None:
                    sub.data = data
            else:
                node = sub

    def search(self, operation: str):
        node = self.root
        parts = operation.split("/")
        for i, part in enumerate(parts):
            if i == 0:
                continue
            is_end = i == len(parts) - 1
            node = _find_with_wildcard("/" + part, node.subs, is_end)
            if node is None:
                return None
            if node.data is not None:
                if not is_end and node.char.endswith("/*") and not node.char.endswith("/**"):
                    continue
                return node.data
            if is_end:
                node = _find_with_wildcard("/*", node.subs, is_end)
                if node is not None and node.data is not None:
                    return node.data
        return None


class AccessControl:
    """acl.go ParseAccessControlSpec (isHTTP: the apps are HTTP apps) and the lookup of
    isOperationAllowedByAccessControlPolicy."""

    def __init__(self, spec: dict):
        self.default_action = str(spec.get("defaultAction") or "").lower()
        self.trust_domain = spec.get("trustDomain") or DEFAULT_TRUST_DOMAIN
        policies = spec.get("policies")
        if not spec.get("defaultAction"):
            # acl.go: policies but no global action -> deny; an empty policy list -> allow.
            self.default_action = "deny" if (policies is None or len(policies) > 0) else "allow"
        self.policies: dict = {}
        bad_td, bad_ns, bad_app = [], [], False
        for p in policies or []:
            app, td, ns = p.get("appId") or "", p.get("trustDomain") or "", p.get("namespace") or ""
            invalid = False
            if not app:
                bad_app = True
            if not td:
                bad_td.append(app)
                invalid = True
            if not ns:
                bad_ns.append(app)
                invalid = True
            if invalid or bad_app:
                continue
            trie = Trie()
            for op in p.get("operations") or []:
                name = str(op.get("name") or "")
                if not name.startswith("/"):
                    name = "/" + name
                name = name.lower()
                verbs = {str(v): op.get("action", "") for v in (op.get("httpVerb") or [])}
                trie.put(name, {"verbs": verbs, "action": op.get("action", "")})
            self.policies[f"{app}||{ns}"] = {"default": p.get("defaultAction") or "", "td": td, "ns": ns,
                                             "ops": trie}
        if bad_td or bad_ns or bad_app:
            raise ConfigError(
                f"invalid access control spec. missing trustdomain for apps: [{' '.join(bad_td)}], missing "
                f"namespace for apps: [{' '.join(bad_ns)}], missing app name on at least one of the app "
                f"policies: {'true' if bad_app else 'false'}")

    @staticmethod
    def parse(spec) -> Optional["AccessControl"]:
        """None when no ACL is specified (no trustDomain, defaultAction nor policies)."""
        if not isinstance(spec, dict) or (not spec.get("trustDomain") and not spec.get("defaultAction")
                                          and not spec.get("policies")):
            return None
        return AccessControl(spec)

    def allowed(self, caller: dict, operation: str, verb: str) -> bool:
        """isOperationAllowedByAccessControlPolicy with isHTTP=true; `verb` "" is HTTPExtension NONE."""
        action = self.default_action
        pol = self.policies.get(f"{caller['app_id']}||{caller['namespace']}")
        if pol is None or pol["td"] != caller["trust_domain"] or pol["ns"] != caller["namespace"]:
            return action.lower() == "allow"
        if pol["default"]:
            action = pol["default"]
        if not operation.startswith("/"):
            operation = "/" + operation
        op = pol["ops"].search(operation.lower())
        if op is not None:
            if verb:
                if verb in op["verbs"]:
                    action = op["verbs"][verb]
                elif "*" in op["verbs"]:
                    action = op["verbs"]["*"]
            else:
                action = pol["default"]
        return str(action).lower() == "allow"


class Configuration:
    """The parts of a daprd Configuration (-config FILE) the stand-in reads."""

    def __init__(self, path: Optional[str], log: Callable[[str], None]):
        spec: dict = {}
        self.name = "(none)"
        if path:
            with open(path, encoding="utf-8") as f:
                docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
            doc = next((d for d in docs if d.get("kind") == "Configuration"), None)
            if doc is None:
                raise ConfigError(f"{path}: no kind: Configuration document")
            spec = doc.get("spec") or {}
            self.name = (doc.get("metadata") or {}).get("name", path)
        api = spec.get("api") or {}
        self.api = ApiAccess(ApiAccess.rules(api.get("allowed")), ApiAccess.rules(api.get("denied")))
        self.acl = AccessControl.parse(spec.get("accessControl"))
        ac = spec.get("accessControl") or {}
        self.trust_domain = ac.get("trustDomain") or DEFAULT_TRUST_DOMAIN
        rate = str((spec.get("tracing") or {}).get("samplingRate", ""))
        if rate != "1":
            log(f"configuration {self.name}: tracing.samplingRate {rate!r}; the stand-in samples every request "
                f"anyway (as samplingRate \"1\")")
