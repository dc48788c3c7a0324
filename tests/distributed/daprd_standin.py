#!/usr/bin/env python3
"""A stand-in for daprd 1.16 (one process per app), for TaskFlow's distributed tests.

It follows what daprd 1.16.19 and components-contrib 1.16.13 are coded to do - not a convenient
subset - for the building blocks TaskFlow uses: pub/sub on Redis Streams (pubsub.redis), state on
Redis (state.redis), the cron input binding (bindings.cron), HTTP service invocation (with the
callee's access-control policy), Resiliency policies and the API tokens.
Real Redis holds the state and the streams, through the same Redis commands and Lua scripts the
Go components run.  Every rule below names the Dapr source file it comes from (dapr/dapr at tag
v1.16.19, dapr/components-contrib at v1.16.13, dapr/kit v0.16.x); read them with e.g.
``git -C <mirror> show v1.16.19:pkg/runtime/subscription/subscription.go``.

The Configuration (``--config``, daprd's ``-config``; by default TaskFlow's
dapr-components/config.yaml) decides which APIs exist: ``spec.api.allowed``/``denied`` register only
the admitted endpoints (pkg/api/http/server.go setupRoutes, endpoints/endpoint.go IsAllowed), health
always.  With publish + state (config.yaml) anything else is chi's 404; with the invoke API
(config-web.yaml) every unmatched request falls back to service invocation (onDirectMessage is chi's
NotFound/MethodNotAllowed handler).  ``spec.accessControl`` is applied to invocations this sidecar
receives.  Every API call gets a sampled W3C trace context (``samplingRate: "1"``).

Service invocation (standin_invoke.py; the Configuration in standin_config.py; both name their
sources): the caller's sidecar resolves the target app id through ``--resolve`` (no mDNS here) to
the target stand-in's internal port (``--dapr-internal-grpc-port``, standing in for daprd's internal
gRPC API), which applies its access control to the identity the caller asserts (real daprd: the mTLS
SPIFFE id) and calls its app with ITS ``APP_API_TOKEN``; statuses, headers and bodies come back as
daprd passes them, daprd's own failures as ERR_DIRECT_INVOKE (403 when the callee's policy denies,
else 500).

Stand-in additions (not daprd): ``GET /standin/stats`` (no token) and, with
``--duplicate-deliveries`` (the default), a second delivery of every consumed message, as a
consumer-group rebalance produces in real deployments.

Usage (the CLI contract the end-to-end runner relies on):
  daprd_standin.py --app-id ID --app-port PORT --dapr-http-port PORT --resources-path DIR
                   [--app-host 127.0.0.1] [--duplicate-deliveries | --no-duplicate-deliveries]
                   [--config FILE] [--dapr-internal-grpc-port PORT] [--resolve APP_ID=HOST:PORT ...]
Environment: APP_API_TOKEN, DAPR_API_TOKEN, POD_NAME, NAMESPACE (read as daprd reads them).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import posixpath
import random
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import yaml  # noqa: E402

from standin_cron import CronError, parse_schedule  # noqa: E402
from standin_gojson import (GoEOF, GoJSONError, GoNumber, go_decode_first, go_marshal,  # noqa: E402
                            go_marshal_bytes, go_parse_bool, go_quote, go_rfc3339_now,
                            go_rfc3339_parse, go_time_string_utc_now, go_type_name, go_unmarshal,
                            jsoniter_fastest_marshal, to_float64_tree)
from standin_redis import (ComponentError, ETagError, RedisStateStore, RedisStreams,  # noqa: E402
                           StreamMessage)
import standin_config  # noqa: E402
import standin_invoke  # noqa: E402
import standin_resiliency  # noqa: E402
from standin_resiliency import (CodeError, DeadlineExceeded, PolicyDef, Resiliency,  # noqa: E402
                                ResiliencyError, run_policy)

APP_ID = "?"
# The Configuration a stand-in started without --config emulates, as before it read one.
DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dapr-components",
                              "config.yaml")


def log(msg: str, level: str = "info"):
    ts = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    sys.stderr.write(f"{ts} daprd-standin[{APP_ID}] {level}: {msg}\n")
    sys.stderr.flush()


def warn(msg: str):
    log(msg, "warn")


def error(msg: str):
    log(msg, "error")


def fatal(msg: str, code: int = 1):
    log(msg, "fatal")
    os._exit(code)


# =================================================================================================
# Stats (stand-in only)
# =================================================================================================

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.d = {
            "state_saves": {},
            "state_save_refusals": [],
            # Every refused save, counted by kind (the list above keeps only the last 50).
            "state_save_refusal_kinds": {"first_write_claim_409": 0, "other": 0},
            "breakers_opened": {},
            "deliveries": {"SUCCESS": 0, "RETRY": 0, "DROP": 0, "empty_or_unknown_body_acked": 0,
                           "status_404_acked": 0, "status_other_retried": 0, "error_retried": 0},
            "duplicates_sent": 0,
            "dead_lettered": 0,
            "published": {},
            "publish_refused": {},
            "cron_ticks": {},
            # Service invocation: calls this sidecar sent for its app, by the status it answered
            # (403/500 for daprd's own errors), and calls it received on its internal API, by the
            # app's status or the gRPC code it refused or failed them with.
            "invoke": {"sent": {}, "received": {}},
        }

    def incr(self, key, sub=None, n=1):
        with self.lock:
            if sub is None:
                self.d[key] += n
            else:
                self.d[key][str(sub)] = self.d[key].get(str(sub), 0) + n

    def invoke(self, direction: str, status):
        with self.lock:
            d = self.d["invoke"][direction]
            d[str(status)] = d.get(str(status), 0) + 1

    def refusal(self, entry):
        with self.lock:
            claim = (str(entry.get("status")) == "409" and entry.get("etag") == "0"
                     and entry.get("concurrency") == "first-write")
            kinds = self.d["state_save_refusal_kinds"]
            kinds["first_write_claim_409" if claim else "other"] += 1
            lst = self.d["state_save_refusals"]
            lst.append(entry)
            del lst[:-50]

    def snapshot(self):
        with self.lock:
            import copy
            return copy.deepcopy(self.d)


STATS = Stats()


def _count_breaker_opening(name: str, _prev: str, new: str) -> None:
    if new == "open":
        STATS.incr("breakers_opened", name)


standin_resiliency.on_breaker_state_change = _count_breaker_opening


# =================================================================================================
# Errors as daprd writes them (pkg/messages/api_error.go, dapr/kit errors/errors.go)
# =================================================================================================

class HTTPError(Exception):
    def __init__(self, status: int, body: bytes, content_type: str = "application/json", headers=None):
        super().__init__(body.decode("utf-8", "replace"))
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def api_error(status: int, code: str, message: str) -> HTTPError:
    """messages.APIError.JSONErrorValue: {"errorCode": tag, "message": msg}."""
    body = '{"errorCode":' + go_quote(code) + ',"message":' + go_quote(message) + "}"
    return HTTPError(status, body.encode())


def kit_error(status: int, tag: str, message: str, reason: str, metadata: Optional[dict],
              resource: Optional[tuple] = None, field_violation: Optional[tuple] = None) -> HTTPError:
    """dapr/kit errors Error.JSONErrorValue: errorCode, message, details (ResourceInfo first when
    present, then ErrorInfo, as pkg/api/errors/*.go build() adds them)."""
    details = []
    if field_violation is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "field_violations": [{"field": field_violation[0], "description": field_violation[1]}]})
    if resource is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.ResourceInfo", "resource_type": resource[0],
                        "resource_name": resource[1], "owner": resource[2], "description": resource[3]})
    details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "dapr.io",
                    "metadata": metadata})
    body = ('{"errorCode":' + go_quote(tag) + ',"message":' + go_quote(message) + ',"details":'
            + go_marshal(details) + "}")
    return HTTPError(status, body.encode())


def plain_error(status: int, text: str, headers=None) -> HTTPError:
    """net/http http.Error."""
    h = {"X-Content-Type-Options": "nosniff"}
    h.update(headers or {})
    return HTTPError(status, (text + "\n").encode(), "text/plain; charset=utf-8", h)


# =================================================================================================
# Tracing (pkg/diagnostics: W3C trace context; samplingRate "1" as dapr-components/config.yaml)
# =================================================================================================

def parse_traceparent(tp) -> Optional[tuple]:
    """diag.SpanContextFromW3CString: 00-<32 hex>-<16 hex>-<2 hex>, non-zero ids."""
    if not isinstance(tp, str):
        return None
    p = tp.strip().split("-")
    if len(p) < 4 or len(p[0]) != 2 or len(p[1]) != 32 or len(p[2]) != 16 or len(p[3]) != 2:
        return None
    try:
        int(p[1], 16), int(p[2], 16), int(p[3], 16)
    except ValueError:
        return None
    if p[0] == "ff" or set(p[1]) == {"0"} or set(p[2]) == {"0"}:
        return None
    return p[1].lower(), p[2].lower(), p[3].lower()


def child_span(parent_tp) -> str:
    """A span started under parent_tp (or a new sampled root) as a W3C traceparent string."""
    par = parse_traceparent(parent_tp)
    span = "%016x" % random.getrandbits(64)
    if par:
        flags = "01" if int(par[2], 16) & 1 else "00"
        return f"00-{par[0]}-{span}-{flags}"
    return f"00-{uuid.uuid4().hex}-{span}-01"


# =================================================================================================
# Resources (pkg/internal/loader/disk, pkg/runtime/meta/meta.go, pkg/runtime/processor/*)
# =================================================================================================

class PubsubItem:
    """rtpubsub.PubsubItem (pkg/runtime/pubsub/adapter.go)."""

    def __init__(self, name, comp, scoped_subs, scoped_pubs, allowed, protected, namespaced):
        self.name = name
        self.comp: RedisStreams = comp
        self.scoped_subscriptions = scoped_subs
        self.scoped_publishings = scoped_pubs
        self.allowed_topics = allowed
        self.protected_topics = protected
        self.namespace_scoped = namespaced


def is_operation_allowed(topic: str, ps: PubsubItem, scoped: list) -> bool:
    """pkg/runtime/pubsub/adapter.go IsOperationAllowed."""
    if ps.allowed_topics and topic not in ps.allowed_topics:
        return False
    protected = topic in ps.protected_topics
    if not protected and len(scoped) == 0:
        return True
    return topic in scoped


def _find_param(param: str, md: dict):
    lp = param.lower()
    for k, v in md.items():
        if k.lower() == lp:
            return v, True
    return "", False


def get_scoped_topics(scope: str, app_id: str, md: dict) -> list:
    """pkg/scopes/scopes.go GetScopedTopics: "app1=t1,t2;app2=t3"; spaces removed; an app listed
    with an empty list ("app=") gets [""], i.e. no topic at all."""
    val, ok = _find_param(scope, md)
    topics = []
    if ok and val != "":
        val = val.replace(" ", "")
        for a in val.split(";"):
            parts = a.split("=")
            if len(parts) < 2 or parts[0] != app_id:
                continue
            for t in parts[1].split(","):
                if t not in topics:
                    topics.append(t)
    return topics


def get_param_topics(param: str, md: dict) -> list:
    val, ok = _find_param(param, md)
    topics = []
    if ok and val != "":
        for t in val.replace(" ", "").split(","):
            if t not in topics:
                topics.append(t)
    return topics


def dynamic_value_string(v) -> str:
    """common.DynamicValue.String(): the YAML value as JSON, unquoted when it is a string."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return go_marshal(v)
    if isinstance(v, (datetime,)):
        return v.isoformat()
    return go_marshal(v)


def env_var_allowed(key: str) -> bool:
    """pkg/runtime/processor/secret/secret.go isEnvVarAllowed."""
    k = key.upper()
    if k == "" or k == "APP_API_TOKEN" or k.startswith("DAPR_") or " " in k:
        return False
    allow = os.environ.get("DAPR_ENV_KEYS", "")
    if not allow:
        return True
    return k in allow.split(" ")


def split_yaml_docs(text: str) -> list:
    """disk/manifest.go splitYamlDoc: documents separated by "\\n---" (rest of that line dropped)."""
    docs = []
    while True:
        i = text.find("\n---")
        if i < 0:
            docs.append(text)
            break
        docs.append(text[:i])
        j = text.find("\n", i + 4)
        if j < 0:
            break
        text = text[j + 1:]
    return docs


def valid_name(n) -> bool:
    """k8s path.IsValidPathSegmentName."""
    return isinstance(n, str) and n not in (".", "..") and "/" not in n and "%" not in n


PUBSUB_RUNTIME_KEYS = {"allowedtopics", "publishingscopes", "subscriptionscopes", "protectedtopics"}
PUBSUB_COMPONENT_KEYS = {"redisHost", "redisPassword", "redisUsername", "redisDB", "redisType", "redisMaxRetries",
                         "redisMinRetryInterval", "redisMaxRetryInterval", "dialTimeout", "readTimeout",
                         "writeTimeout", "poolSize", "minIdleConns", "maxConnAge", "poolTimeout", "idleTimeout",
                         "idleCheckFrequency", "failover", "sentinelMasterName", "sentinelUsername",
                         "sentinelPassword", "enableTLS", "clientCert", "clientKey", "consumerID",
                         "redeliverInterval", "processingTimeout", "queueDepth", "concurrency", "maxLenApprox",
                         "streamTTL", "useEntraID", "useAzureAD"}
STATE_COMPONENT_KEYS = {"redisHost", "redisPassword", "redisUsername", "redisDB", "redisType", "redisMaxRetries",
                        "redisMinRetryInterval", "redisMaxRetryInterval", "dialTimeout", "readTimeout",
                        "writeTimeout", "poolSize", "minIdleConns", "maxConnAge", "poolTimeout", "idleTimeout",
                        "idleCheckFrequency", "failover", "sentinelMasterName", "sentinelUsername",
                        "sentinelPassword", "enableTLS", "clientCert", "clientKey", "ttlInSeconds",
                        "queryIndexes", "maxRetries", "maxRetryBackoff", "useEntraID", "useAzureAD"}
STATE_RUNTIME_KEYS = {"keyprefix", "actorstatestore"}
STATE_REFUSED_KEYS = {"primaryencryptionkey", "secondaryencryptionkey", "outboxpublishpubsub",
                      "outboxpublishtopic", "outboxpubsub", "outboxdiscardwhenmissingstate"}


class Runtime:
    def __init__(self, args):
        self.args = args
        self.app_id = args.app_id
        self.app_host = args.app_host
        self.app_port = args.app_port
        self.app_token = os.environ.get("APP_API_TOKEN", "")
        self.api_token = os.environ.get("DAPR_API_TOKEN", "")
        self.pod_name = os.environ.get("POD_NAME", "")
        self.namespace = os.environ.get("NAMESPACE", "")
        self.stop = threading.Event()
        self.pubsubs: dict = {}
        self.states: dict = {}
        self.state_prefix: dict = {}
        self.bindings: list = []
        self.resiliency = Resiliency(lambda m: log("resiliency: " + m))
        self.runtime_ready = False
        self.outbound_ready = False
        self.subscriptions: list = []
        self.config: Optional[standin_config.Configuration] = None  # set by main()

    # -- metadata templating: pkg/runtime/meta/meta.go convertItemsToProps --------------------
    def to_props(self, comp_name: str, items: list) -> dict:
        props = {}
        for name, val in items:
            while "{uuid}" in val:
                val = val.replace("{uuid}", str(uuid.uuid4()), 1)
            if "{podName}" in val:
                if self.pod_name == "":
                    raise ComponentError(
                        f"failed to parse metadata: property {name} refers to {{podName}} but podName is not set")
                val = val.replace("{podName}", self.pod_name)
            val = val.replace("{namespace}", self.namespace + "." + self.app_id)
            val = val.replace("{appID}", self.app_id)
            props[name] = val
        return props

    # -- loading -----------------------------------------------------------------------------
    def load_resources(self, path: str):
        if not os.path.isdir(path):
            fatal(f"resources path {path} is not a directory")
        comps = []
        names = {}
        ns_defined = os.environ.get("NAMESPACE", "") != ""
        cur_ns = os.environ.get("NAMESPACE", "default") if "NAMESPACE" in os.environ else "default"
        for fname in sorted(os.listdir(path)):
            fpath = os.path.join(path, fname)
            if os.path.isdir(fpath):
                continue
            if not (fname.endswith(".yaml") or fname.endswith(".yml")):
                warn(f"A non-YAML file {fname} was detected, it will not be loaded")
                continue
            with open(fpath, encoding="utf-8") as f:
                text = f.read()
            # Resiliency: pkg/resiliency/resiliency.go loadLocalResiliencyPath reads the whole file
            # as ONE YAML document (sigs.k8s.io/yaml: the first document only).
            try:
                first = next(iter(yaml.safe_load_all(text)), None)
            except yaml.YAMLError as e:
                first = None
                warn(f"could not parse {fname}: {e}")
            if isinstance(first, dict) and first.get("kind") == "Resiliency":
                self._load_resiliency(fname, first)
            for doc_text in split_yaml_docs(text):
                try:
                    doc = yaml.safe_load(doc_text)
                except yaml.YAMLError as e:
                    warn(f"daprd load Component error when parsing manifests yaml resource in {fpath}: {e}")
                    continue
                if not isinstance(doc, dict):
                    continue
                kind, api = doc.get("kind"), doc.get("apiVersion")
                meta = doc.get("metadata") or {}
                if kind == "Subscription":
                    fatal(f"{fname}: declarative 'kind: Subscription' is not supported by the stand-in "
                          f"(TaskFlow subscribes programmatically through GET /dapr/subscribe)")
                if kind in ("Resiliency",):
                    continue
                if kind != "Component" or api != "dapr.io/v1alpha1":
                    if kind:
                        log(f"{fname}: {api} {kind} {meta.get('name')!r} is not a component: not loaded "
                            f"from the resources path (as daprd's component loader does)")
                    continue
                name = meta.get("name")
                if not valid_name(name):
                    warn(f"{fname}: invalid name {name!r} for Component; skipped")
                    continue
                mns = meta.get("namespace") or ""
                if ns_defined and mns and mns != cur_ns:
                    continue
                if name in names:
                    fatal(f"failed to load components: duplicate definition of Component name {name} "
                          f"with existing {names[name]}")
                scopes = doc.get("scopes") or []
                if scopes and self.app_id not in scopes:
                    log(f"component {name} ({fname}) is scoped to {scopes}: not loaded for app {self.app_id}")
                    continue
                names[name] = f"{name} ({fname})"
                comps.append((fname, doc))
        for fname, doc in comps:
            self._init_component(fname, doc)

    def _load_resiliency(self, fname: str, doc: dict):
        scopes = doc.get("scopes") or []
        name = (doc.get("metadata") or {}).get("name", fname)
        if scopes and self.app_id not in scopes:
            log(f"resiliency {name} is scoped to {scopes}: not loaded")
            return
        try:
            self.resiliency.load(name, doc.get("spec") or {})
        except (ResiliencyError, ValueError, TypeError) as e:
            fatal(f"Could not read resiliency policy {name} ({fname}): {e}.  daprd would log this and "
                  f"run WITHOUT the whole Resiliency resource; the stand-in refuses to start instead")
        log(f"Loading Resiliency configuration: {name}")

    def _metadata_items(self, name: str, spec: dict) -> list:
        items = []
        for m in spec.get("metadata") or []:
            if not isinstance(m, dict) or "name" not in m:
                raise ComponentError(f"component {name}: metadata entries need a name")
            if m.get("secretKeyRef"):
                raise ComponentError(f"component {name}: metadata {m['name']} uses secretKeyRef; the stand-in "
                                     f"loads no secret store")
            if "value" in m and m["value"] is not None:
                val = dynamic_value_string(m["value"])
            elif m.get("envRef"):
                if env_var_allowed(m["envRef"]):
                    val = os.environ.get(m["envRef"], "")
                else:
                    warn(f"Component {name} references an env variable that isn't allowed: {m['envRef']}")
                    val = ""
            else:
                val = ""
            items.append((str(m["name"]), val))
        return items

    def _init_component(self, fname: str, doc: dict):
        meta = doc.get("metadata") or {}
        spec = doc.get("spec") or {}
        name = meta["name"]
        ctype = str(spec.get("type", "")).lower()
        version = str(spec.get("version", "")).lower()
        ignore_errors = bool(spec.get("ignoreErrors", False))
        try:
            if version not in ("", "v0", "v1"):
                raise ComponentError(f"couldn't find {ctype}/{version}")
            items = self._metadata_items(name, spec)
            if ctype == "pubsub.redis":
                self._init_pubsub(name, items)
            elif ctype == "state.redis":
                self._init_state(name, items)
            elif ctype == "bindings.cron":
                self._init_cron(name, items)
            else:
                fatal(f"component {name} ({fname}): type {ctype!r} is not supported by the stand-in "
                      f"(only pubsub.redis, state.redis, bindings.cron)")
        except (ComponentError, CronError) as e:
            msg = f"Failed to init component {name} ({ctype}/{version or 'v1'}): {e}"
            if ignore_errors:
                error(msg + " (ignoreErrors: true, continuing)")
                return
            fatal("process component error: " + msg)
        except Exception as e:  # redis connection errors and such
            msg = f"Failed to init component {name} ({ctype}/{version or 'v1'}): {e}"
            if ignore_errors:
                error(msg + " (ignoreErrors: true, continuing)")
                return
            fatal("process component error: " + msg)

    def _check_keys(self, name, items, component_keys, runtime_keys, refused=frozenset()):
        for k, _ in items:
            lk = k.lower()
            if lk in refused:
                raise ComponentError(f"metadata {k} changes semantics the stand-in does not implement")
            if k in component_keys or lk in runtime_keys:
                continue
            if any(lk == c.lower() for c in component_keys):
                continue  # case mismatch: parse_redis_settings explains
            warn(f"component {name}: metadata {k!r} is not read by daprd or by the component; ignored "
                 f"(as daprd ignores it)")

    def _init_pubsub(self, name, items):
        """pkg/runtime/processor/pubsub/pubsub.go Init."""
        self._check_keys(name, items, PUBSUB_COMPONENT_KEYS, PUBSUB_RUNTIME_KEYS)
        props = self.to_props(name, items)
        cid = props.get("consumerID", "").strip()
        props["consumerID"] = cid or self.app_id
        comp = RedisStreams(name, props, lambda m: log(f"pubsub {name}: {m}"), self.stop,
                            self.args.duplicate_deliveries, STATS)
        namespaced = any("{namespace}" in v for _, v in items)
        item = PubsubItem(name, comp,
                          get_scoped_topics("subscriptionScopes", self.app_id, props),
                          get_scoped_topics("publishingScopes", self.app_id, props),
                          get_param_topics("allowedTopics", props),
                          get_param_topics("protectedTopics", props), namespaced)
        self.pubsubs[name] = item
        s = comp.s
        log(f"component loaded: {name} (pubsub.redis/v1) redis={s.host}:{s.port}/{s.db} "
            f"consumerID={s.consumer_id} processingTimeout={s.processing_timeout:g}s "
            f"redeliverInterval={s.redeliver_interval:g}s queueDepth={s.queue_depth} "
            f"concurrency={s.concurrency} maxLenApprox={s.max_len_approx} "
            f"allowedTopics={item.allowed_topics} publishingScopes={item.scoped_publishings} "
            f"subscriptionScopes={item.scoped_subscriptions} namespaced={namespaced}")

    def _init_state(self, name, items):
        """pkg/runtime/processor/state/state.go Init + pkg/components/state/state_config.go."""
        self._check_keys(name, items, STATE_COMPONENT_KEYS, STATE_RUNTIME_KEYS, STATE_REFUSED_KEYS)
        props = self.to_props(name, items)
        store = RedisStateStore(name, props, lambda m: log(f"state {name}: {m}"))
        strategy = "appid"
        for k, v in props.items():
            if k.lower() == "keyprefix":
                strategy = v.lower()
                break
        if "||" in strategy:
            raise ComponentError(f"failed to save lock keyprefix: input key/keyPrefix '{strategy}' can't contain '||'")
        for k, v in props.items():
            if k.lower() == "actorstatestore" and v.lower() in ("true", "1", "yes", "y", "on"):
                log(f"state {name}: actorStateStore=true ignored (no actors in the stand-in)")
        self.states[name] = store
        self.state_prefix[name] = strategy
        log(f"component loaded: {name} (state.redis/v1) redis={store.s.host}:{store.s.port}/{store.s.db} "
            f"keyPrefix={strategy} ttlInSeconds={store.s.ttl_in_seconds}")

    def _init_cron(self, name, items):
        """pkg/runtime/processor/binding/binding.go initInputBinding + bindings/cron/cron.go Init."""
        self._check_keys(name, items, {"schedule", "direction", "route"}, set())
        raw = dict(items)
        # binding.go isBindingOfDirection: no "direction" = both; else the listed directions.
        dirs = None
        for k, v in items:
            if k.lower() == "direction":
                dirs = [d.strip().lower() for d in v.split(",")]
        if dirs is not None and "input" not in dirs:
            log(f"binding {name}: direction {dirs} has no 'input'; the cron binding is input-only, nothing to do")
            return
        props = self.to_props(name, items)
        sched = None
        for k, v in props.items():
            if k.lower() == "schedule":
                sched = v
        if not sched:
            raise ComponentError("schedule not set")
        try:
            parsed = parse_schedule(sched)
        except CronError as e:
            raise ComponentError(f"invalid schedule format '{sched}': {e}") from None
        route = raw.get("route") or name  # compstore input binding route: metadata named exactly "route"
        self.bindings.append({"name": name, "schedule": sched, "parsed": parsed, "route": route,
                              "props": props})
        log(f"successful init for input binding ({name} bindings.cron/v1) schedule={sched!r} route=/{route.lstrip('/')}")

    # -- key prefix: pkg/components/state/state_config.go GetModifiedStateKey ----------------
    def modified_key(self, store: str, key: str) -> str:
        if "||" in key:
            raise kit_error(400, "ERR_MALFORMED_REQUEST", f"input key/keyPrefix '{key}' can't contain '||'",
                            "DAPR_STATE_ILLEGAL_KEY", None, resource=("state", store, "", ""),
                            field_violation=(key, f"input key/keyPrefix '{key}' can't contain '||'"))
        strategy = self.state_prefix.get(store, "appid")
        if strategy == "none":
            return key
        if strategy == "name":
            return store + "||" + key
        if strategy == "appid":
            return key if not self.app_id else self.app_id + "||" + key
        if strategy == "namespace":
            if not self.app_id:
                return key
            if not self.namespace:
                return self.app_id + "||" + key
            return self.namespace + "." + self.app_id + "||" + key
        return strategy + "||" + key

    # -- publishing: pkg/runtime/pubsub/publisher/publisher.go Publish -----------------------
    def publish(self, ps: PubsubItem, topic: str, data: bytes, metadata: Optional[dict],
                deadline: Optional[float] = None):
        if not is_operation_allowed(topic, ps, ps.scoped_publishings):
            raise NotAllowed(topic, self.app_id)
        if ps.namespace_scoped:
            topic = self.namespace + topic
        pol = self.resiliency.component_policy(ps.name, "Pubsub", "Outbound")
        run_policy(pol, lambda d: ps.comp.publish(topic, data, metadata), deadline, log=warn)


class NotAllowed(Exception):
    def __init__(self, topic, app_id):
        super().__init__(f"topic {topic} is not allowed for app id {app_id}")


# =================================================================================================
# App channel (pkg/channel/http/http_channel.go)
# =================================================================================================

class AppCallError(Exception):
    pass


def app_call(rt: Runtime, method: str, path: str, body: bytes = b"", headers: Optional[dict] = None,
             deadline: Optional[float] = None):
    """One HTTP request to the app: the token header on every call (http_channel.go
    constructRequest: appHeaderToken), Go's client defaults.  Returns (status, body, headers)."""
    if not path.startswith("/"):
        path = "/" + path
    timeout = None
    if deadline is not None:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            raise DeadlineExceeded()
    h = {"User-Agent": "Go-http-client/1.1", "Accept-Encoding": "gzip"}
    h.update(headers or {})
    if rt.app_token:
        h["dapr-api-token"] = rt.app_token
    if method in ("POST", "PUT", "PATCH") or body:
        h["Content-Length"] = str(len(body))
    conn = http.client.HTTPConnection(rt.app_host, rt.app_port, timeout=timeout)
    try:
        conn.request(method, path, body=body if body or method in ("POST", "PUT", "PATCH") else None, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        if resp.headers.get("Content-Encoding", "").lower() == "gzip" and data:
            # Go's Transport asked for gzip itself, so it decompresses transparently.
            import gzip
            try:
                data = gzip.decompress(data)
            except OSError as e:
                raise AppCallError(f"gzip: invalid response body from the app: {e}") from None
        return resp.status, data, resp.headers
    except socket.timeout:
        raise DeadlineExceeded() from None
    except (OSError, http.client.HTTPException) as e:
        raise AppCallError(f"Post \"http://{rt.app_host}:{rt.app_port}{path}\": {e}") from None
    finally:
        conn.close()


def metadata_headers(md: dict) -> dict:
    """invoke_method_request.go WithCustomHTTPMetadata + util.go InternalMetadataToHTTPHeader:
    each metadata entry becomes a lower-cased header (content-length, content-type, trace and
    -bin keys excluded; grpc- keys get the dapr- prefix)."""
    out = {}
    for k, v in (md or {}).items():
        lk = k.lower()
        if lk in ("content-length", "content-type", "traceparent", "tracestate", "grpc-trace-bin", "dapr-app-id"):
            continue
        if lk.endswith("-bin"):
            continue
        if lk in (":method", ":scheme", ":path", ":authority"):
            lk = "dapr-" + lk[1:]
        elif lk.startswith("grpc-"):
            lk = "dapr-" + lk
        if not _valid_header_name(lk) or any(c in v for c in "\r\n"):
            continue
        out[lk] = v
    return out


def _valid_header_name(n: str) -> bool:
    return bool(n) and all(33 <= ord(c) <= 126 and c not in '()<>@,;:\\"/[]?={}' for c in n)


# =================================================================================================
# Pub/sub delivery (pkg/runtime/subscription/subscription.go + postman/http/http.go)
# =================================================================================================

class Retriable(Exception):
    """rterrors.NewRetriable."""


class Dropped(Exception):
    """rtpubsub.ErrMessageDropped."""

    def __init__(self):
        super().__init__("pubsub message dropped")


class Subscription:
    def __init__(self, rt: Runtime, ps: PubsubItem, sub: dict):
        self.rt = rt
        self.ps = ps
        self.topic = sub["topic"]
        self.dlq = sub.get("deadLetterTopic") or ""
        self.metadata = sub.get("metadata") or {}
        self.rules = sub["rules"]
        self.policy: PolicyDef = rt.resiliency.component_policy(ps.name, "Pubsub", "Inbound")

    def start(self):
        if not is_operation_allowed(self.topic, self.ps, self.ps.scoped_subscriptions):
            raise ComponentError(f"subscription to topic '{self.topic}' on pubsub '{self.ps.name}' is not allowed")
        topic = self.topic
        if self.ps.namespace_scoped:
            topic = self.rt.namespace + topic
        self.ps.comp.subscribe(topic, self.handle)
        log(f"subscribed: pubsub={self.ps.name} topic={self.topic} route={self.rules[-1][1]} "
            f"deadLetterTopic={self.dlq or '-'} consumer group={self.ps.comp.s.consumer_id} "
            f"inbound policy: {self.policy.describe()}")

    # -- the handler the component calls ----------------------------------------------------
    def handle(self, m: StreamMessage, deadline: Optional[float]):
        name = self.ps.name
        md = dict(m.metadata or {})
        md["pubsubName"] = name
        msg_topic = m.topic
        if self.ps.namespace_scoped:
            msg_topic = msg_topic.replace(self.rt.namespace, "", 1)
        try:
            raw = _is_raw_payload(self.metadata)
        except ValueError as e:
            error(f"error deserializing pubsub metadata: {e}")
            return self._dlq_or_raise(m, md, deadline, e)
        if raw:
            ce = from_raw_payload(m.data, msg_topic, name)
            if "traceid" in md:
                ce["traceid"] = md["traceid"]
            if "traceparent" in md:
                ce["traceparent"] = md["traceparent"]
                ce["traceid"] = md["traceparent"]
            if "tracestate" in md:
                ce["tracestate"] = md["tracestate"]
            data = go_marshal_bytes(ce)
        else:
            try:
                ce = go_unmarshal(m.data)
                if ce is None:
                    ce = {}
                if not isinstance(ce, dict):
                    raise GoJSONError(f"json: cannot unmarshal {go_type_name(ce)} into Go value of type "
                                      f"map[string]interface {{}}")
            except GoJSONError as e:
                error(f"error deserializing cloud event in pubsub {name} and topic {msg_topic}: {e}")
                return self._dlq_or_raise(m, md, deadline, e)
            if "traceid" not in ce and "traceid" in md:
                ce["traceid"] = md["traceid"]
            if "traceparent" not in ce and "traceparent" in md:
                ce["traceparent"] = md["traceparent"]
                ce["traceid"] = md["traceparent"]
            if "tracestate" not in ce and "tracestate" in md:
                ce["tracestate"] = md["tracestate"]
            data = m.data
        if has_expired(ce):
            warn(f"dropping expired pub/sub event {ce.get('id')} as of {ce.get('expiration')}")
            if self.dlq:
                try:
                    self.send_to_dead_letter(m, md, deadline)
                except Exception:  # noqa: BLE001
                    pass
            return
        path = None
        for match, rpath in self.rules:
            if not match:
                path = rpath
                break
        if path is None:
            log(f"no matching route for event {ce.get('id')} in pubsub {name} and topic {msg_topic}; skipping")
            if self.dlq:
                try:
                    self.send_to_dead_letter(m, md, deadline)
                except Exception:  # noqa: BLE001
                    pass
            return

        def attempt(att_deadline):
            try:
                self.deliver(ce, data, msg_topic, md, path, att_deadline)
            except Retriable as e:
                warn(f"encountered a retriable error while publishing a subscribed message to topic "
                     f"{msg_topic}, err: {e}")
                raise
            except CodeError as e:
                warn(f"encountered a retriable error while publishing a subscribed message to topic "
                     f"{msg_topic}, err: {e}")
                raise
            except Dropped:
                if self.dlq:
                    try:
                        self.send_to_dead_letter(m, md, att_deadline)
                    except Exception as de:  # noqa: BLE001
                        warn(f"failed to send dropped message to dead letter queue for topic {msg_topic}: {de}")
                        raise Dropped() from None
                return
            except Exception as e:  # noqa: BLE001
                error(f"encountered a non-retriable error while publishing a subscribed message to topic "
                      f"{msg_topic}, err: {e}")
                raise

        try:
            run_policy(self.policy, attempt, None, log=warn, stop_event=self.rt.stop)
        except Exception as err:  # noqa: BLE001
            if self.rt.stop.is_set():
                raise
            if self.dlq:
                try:
                    self.send_to_dead_letter(m, md, deadline)
                    return
                except Exception:  # noqa: BLE001
                    pass
            raise err

    def _dlq_or_raise(self, m, md, deadline, err):
        if self.dlq:
            try:
                self.send_to_dead_letter(m, md, deadline)
                return
            except Exception:  # noqa: BLE001
                pass
        raise err

    def send_to_dead_letter(self, m: StreamMessage, md: dict, deadline: Optional[float]):
        """subscription.go sendToDeadLetter: the ORIGINAL bytes and metadata, published through the
        runtime publisher (so publishingScopes/allowedTopics apply to the dead-letter topic), under
        the context the call site passes - for exhausted retries that is the component's handler
        context, which pubsub/redis bounds by processingTimeout."""
        try:
            if deadline is not None and time.monotonic() >= deadline:
                raise DeadlineExceeded()
            self.rt.publish(self.ps, self.dlq, m.data, md, deadline)
        except Exception as e:  # noqa: BLE001
            error(f"error sending message to dead letter, origin topic: {m.topic} dead letter topic {self.dlq} err: {e}")
            raise
        STATS.incr("dead_lettered")
        log(f"dead-lettered message {m.msg_id} from topic {m.topic} to {self.dlq}")

    def deliver(self, ce: dict, data: bytes, topic: str, md: dict, path: str, att_deadline):
        """postman/http/http.go Deliver."""
        headers = {"Content-Type": "application/cloudevents+json"}
        it = ce.get("traceparent")
        if it is None:
            it = ce.get("traceid")
        if it is not None:
            if not isinstance(it, str):
                fatal(f"cloud event {ce.get('id')} carries a non-string traceparent/traceid ({it!r}): daprd 1.16 "
                      f"panics here (interface conversion in postman/http/http.go Deliver) and exits", 2)
            headers["traceparent"] = child_span(it)
        headers.update(metadata_headers(md))
        eid = ce.get("id")
        try:
            status, body, _ = app_call(self.rt, "POST", path, data, headers, att_deadline)
        except (AppCallError, DeadlineExceeded) as e:
            STATS.incr("deliveries", "error_retried")
            raise Retriable(f"error returned from app channel while sending pub/sub event to app: {e}") from None
        if 200 <= status <= 299:
            try:
                resp = go_decode_first(body)
                st = _app_response_status(resp)
            except GoEOF:
                log(f"delivered {eid} to {path}: {status} with empty body: acked (daprd: debug 'skipping status "
                    f"check due to empty response body')")
                STATS.incr("deliveries", "empty_or_unknown_body_acked")
                return
            except GoJSONError as e:
                log(f"delivered {eid} to {path}: {status}, body not an app response ({e}): acked (daprd: debug "
                    f"'skipping status check due to error parsing result')")
                STATS.incr("deliveries", "empty_or_unknown_body_acked")
                return
            if st in ("", "SUCCESS"):
                STATS.incr("deliveries", "SUCCESS")
                log(f"delivered {eid} ({topic}) to {path}: {status} SUCCESS")
                return
            if st == "RETRY":
                STATS.incr("deliveries", "RETRY")
                raise Retriable(f"RETRY status returned from app while processing pub/sub event {eid}")
            if st == "DROP":
                STATS.incr("deliveries", "DROP")
                warn(f"DROP status returned from app while processing pub/sub event {eid}")
                raise Dropped()
            STATS.incr("deliveries", "RETRY")
            raise Retriable(f"unknown status returned from app while processing pub/sub event {eid}, status: {st}")
        if status == 404:
            error(f"non-retriable error returned from app while processing pub/sub event {eid}: "
                  f"{body.decode('utf-8', 'replace')}. status code returned: {status}")
            STATS.incr("deliveries", "status_404_acked")
            return
        STATS.incr("deliveries", "status_other_retried")
        msg = (f"retriable error returned from app while processing pub/sub event {eid}, topic: "
               f"{ce.get('topic')}, body: {body.decode('utf-8', 'replace')}. status code returned: {status}")
        warn(msg)
        raise CodeError(status, Retriable(msg))


def _app_response_status(v) -> str:
    """Decoding into contribpubsub.AppResponse{Status string `json:"status"`}: a non-object or a
    non-string status is a decode error; keys match case-insensitively; null leaves it empty."""
    if v is None:
        return ""
    if not isinstance(v, dict):
        raise GoJSONError(f"json: cannot unmarshal {go_type_name(v)} into Go value of type pubsub.AppResponse")
    st = ""
    exact = [x for k, x in v.items() if k == "status"]
    cands = exact or [x for k, x in v.items() if k.lower() == "status"]
    for x in cands:
        if x is None:
            continue
        if not isinstance(x, str) or isinstance(x, GoNumber):
            raise GoJSONError(f"json: cannot unmarshal {go_type_name(x)} into Go struct field "
                              f"AppResponse.status of type pubsub.AppResponseStatus")
        st = x
    return st


def _is_raw_payload(md: dict) -> bool:
    """components-contrib metadata/utils.go IsRawPayload."""
    v = (md or {}).get("rawPayload", "")
    if v == "":
        return False
    try:
        return go_parse_bool(v)
    except ValueError:
        raise ValueError(f"rawPayload value must be a valid boolean: actual is '{v}'") from None


def from_raw_payload(data: bytes, topic: str, pubsub: str) -> dict:
    """components-contrib pubsub/envelope.go FromRawPayload."""
    return {"id": str(uuid.uuid4()), "specversion": "1.0", "datacontenttype": "application/octet-stream",
            "source": "Dapr", "type": "com.dapr.event.sent", "topic": topic, "pubsubname": pubsub,
            "data_base64": base64.b64encode(data).decode()}


def has_expired(ce: dict) -> bool:
    """envelope.go HasExpired."""
    e = ce.get("expiration")
    if e is None or e == "":
        return False
    if not isinstance(e, str):
        return False
    t = go_rfc3339_parse(e)
    if t is None:
        return False
    return t < datetime.now(timezone.utc)


# =================================================================================================
# Envelope (pkg/runtime/pubsub/cloudevents.go NewCloudEvent + components-contrib pubsub/envelope.go)
# =================================================================================================

def is_ct(ct: str, expected: str) -> bool:
    """components-contrib contenttype/utils.go isContentType."""
    lc = ct.lower()
    if lc == expected:
        return True
    i = lc.find(";")
    return i >= 0 and lc[:i] == expected


class PanicNilMap(Exception):
    pass


def new_cloud_event(app_id: str, pubsub: str, topic: str, content_type: str, body: bytes, trace_id: str,
                    trace_state: str, metadata: dict) -> dict:
    if is_ct(content_type, "application/cloudevents+json"):
        # FromCloudEvent: the body is the envelope; unmarshalPrecise (Decoder + UseNumber)
        m = go_decode_first(body)
        if m is None:
            raise PanicNilMap()
        if not isinstance(m, dict):
            raise GoJSONError(f"json: cannot unmarshal {go_type_name(m)} into Go value of type map[string]interface {{}}")
        if "time" not in m:
            m["time"] = go_rfc3339_now()
        if "traceid" not in m:
            m["traceid"] = trace_id
            m["traceparent"] = trace_id
        if "tracestate" not in m:
            m["tracestate"] = trace_state
        m["topic"] = topic
        m["pubsubname"] = pubsub
        if m.get("source") is None:
            m["source"] = "Dapr"
        if m.get("type") is None:
            m["type"] = "com.dapr.event.sent"
        if m.get("specversion") is None:
            m["specversion"] = "1.0"
        return m
    # mapstructure.WeakDecode(metadata, req): only these "cloudevent.*" keys exist on the struct
    # (cloudevent.subject does not: it is ignored in 1.16), matched case-insensitively.
    fields = {"cloudevent.id": None, "cloudevent.traceid": None, "cloudevent.tracestate": None,
              "cloudevent.source": None, "cloudevent.type": None, "cloudevent.traceparent": None}
    for f in fields:
        if f in metadata:
            fields[f] = metadata[f]
        else:
            for k, v in metadata.items():
                if k.lower() == f:
                    fields[f] = v
                    break
    ce_id = fields["cloudevent.id"] if fields["cloudevent.id"] is not None else ""
    source = fields["cloudevent.source"] if fields["cloudevent.source"] is not None else app_id
    ctype = fields["cloudevent.type"] if fields["cloudevent.type"] is not None else ""
    if fields["cloudevent.traceid"] is not None:
        trace_id = fields["cloudevent.traceid"]
    if fields["cloudevent.tracestate"] is not None:
        trace_state = fields["cloudevent.tracestate"]
    if fields["cloudevent.traceparent"]:
        trace_id = fields["cloudevent.traceparent"]
    # NewCloudEventsEnvelope
    if ce_id == "":
        ce_id = str(uuid.uuid4())
    if source == "":
        source = "Dapr"
    if ctype == "":
        ctype = "com.dapr.event.sent"
    if content_type == "":
        content_type = "text/plain"
    field = "data"
    if is_ct(content_type, "application/json"):
        try:
            data = go_decode_first(body)
        except GoJSONError:
            data = body.decode("utf-8", "replace")
    elif is_ct(content_type, "application/octet-stream") or is_ct(content_type, "application/cloudevents+protobuf"):
        data = base64.b64encode(body).decode()
        field = "data_base64"
    else:
        data = body.decode("utf-8", "replace")
    return {"id": ce_id, "specversion": "1.0", "datacontenttype": content_type, "source": source, "type": ctype,
            "topic": topic, "pubsubname": pubsub, "traceid": trace_id, "traceparent": trace_id,
            "tracestate": trace_state, "time": go_rfc3339_now(), field: data}


def apply_ttl_metadata(ce: dict, metadata: dict):
    """envelope.go ApplyMetadata: the Redis component has no FeatureMessageTTL, so Dapr writes
    ``expiration`` from metadata ttl / ttlInSeconds (metadata/utils.go TryGetTTL; errors ignored)."""
    val = ""
    for key in ("ttl", "ttlInSeconds"):
        for k, v in metadata.items():
            if k.lower() == key.lower():
                val = v
                break
        if val:
            break
    if not val:
        return
    from standin_gojson import go_atoi, parse_go_duration
    try:
        secs = parse_go_duration(val)
        if secs < 0:
            secs = 0
    except ValueError:
        try:
            n = go_atoi(val)
        except ValueError:
            return
        if n <= 0:
            return
        secs = n
    exp = datetime.now(timezone.utc).timestamp() + secs
    ce["expiration"] = datetime.fromtimestamp(exp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# =================================================================================================
# HTTP API server (pkg/api/http/*.go)
# =================================================================================================

RT: Optional[Runtime] = None
SIDECAR: Optional[standin_invoke.Sidecar] = None


def get_metadata_from_query(qs: dict) -> dict:
    """http.go getMetadataFromRequest: every "metadata.X" query parameter (first value)."""
    return {k[len("metadata."):]: v[0] for k, v in qs.items() if k.startswith("metadata.")}


def clean_path(p: str) -> str:
    """CleanPathMiddleware (path.Clean of the escaped path) + StripSlashesMiddleware."""
    c = posixpath.normpath(p) if p else "/"
    if c.startswith("//"):
        c = "/" + c.lstrip("/")
    if not c.startswith("/"):
        c = "/" + c
    return c


class _Unmatched(Exception):
    """No registered route matched (404) or its method did not (405): chi's NotFound/MethodNotAllowed."""

    def __init__(self, error: HTTPError):
        super().__init__(str(error))
        self.error = error


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "daprd-standin"
    sys_version = ""

    def log_message(self, fmt, *a):  # quiet: notable actions are logged by the handlers
        pass

    # -- plumbing -------------------------------------------------------------------------------
    def _body(self) -> bytes:
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            out = b""
            while True:
                line = self.rfile.readline().strip()
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                out += self.rfile.read(size)
                self.rfile.readline()
            return out
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status: int, body: bytes = b"", ctype: Optional[str] = None, headers: Optional[dict] = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status != 204 and status != 304:
            if ctype:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 204 and body and self.command != "HEAD":
            self.wfile.write(body)

    def _send_err(self, e: HTTPError):
        self._send(e.status, e.body, e.content_type, e.headers)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_OPTIONS(self):
        self._dispatch("OPTIONS")

    def do_HEAD(self):
        self._dispatch("HEAD")

    # -- routing --------------------------------------------------------------------------------
    def _dispatch(self, method: str):
        rt = RT
        raw_path, _, query = self.path.partition("?")
        self._raw_path, self._query = raw_path, query
        qs = urllib.parse.parse_qs(query, keep_blank_values=True)
        body = self._body()
        try:
            if raw_path == "/standin/stats" and method == "GET":
                self._send(200, (go_marshal(STATS.snapshot()) + "\n").encode(), "application/json")
                return
            # middlewares.go APITokenAuthMiddleware: every route but GET healthz / healthz/outbound
            if rt.api_token:
                trimmed = urllib.parse.unquote(raw_path).strip("/")
                excluded = method == "GET" and trimmed in ("v1.0/healthz", "v1.0/healthz/outbound")
                if self.headers.get("dapr-api-token", "") != rt.api_token and not excluded:
                    warn(f"{method} {raw_path}: 401 invalid api token")
                    if raw_path.startswith("/v1.0/publish/"):
                        STATS.incr("publish_refused", 401)
                    if method == "POST" and raw_path.startswith("/v1.0/state/"):
                        STATS.incr("state_saves", 401)
                        STATS.refusal({"key": None, "status": 401, "etag": None, "concurrency": None,
                                       "reason": "invalid api token"})
                    raise plain_error(401, "invalid api token")
            path = clean_path(raw_path)
            self._method = method
            segs = path.split("/")[1:]
            self._route(method, segs, qs, body)
        except HTTPError as e:
            self._send_err(e)
        except ConnectionResetByPanic:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        except Exception as e:  # noqa: BLE001 - a stand-in bug: make it loud, never silent
            import traceback
            error(f"stand-in internal error on {method} {self.path}: {e}\n{traceback.format_exc()}")
            self._send_err(api_error(500, "ERROR", f"daprd stand-in internal error: {e}"))

    def _param(self, name: str, raw: str) -> str:
        """unescapeRequestParametersHandler: url.QueryUnescape on every route parameter."""
        try:
            if "%" in raw and not _valid_escapes(raw):
                raise ValueError(raw)
            return urllib.parse.unquote_plus(raw, errors="strict")
        except (ValueError, UnicodeDecodeError):
            raise plain_error(400, f'failed to unescape request parameter "{name}". Error: invalid URL escape') from None

    def _route(self, method, segs, qs, body):
        """server.go setupRoutes: only the endpoints the Configuration's api allow/deny lists admit
        are registered (endpoint.go IsAllowed); healthz always.  With the invoke API registered,
        onDirectMessage is also chi's NotFound and MethodNotAllowed handler (server.go handle,
        IsFallback), so every unmatched request becomes an invocation attempt."""
        api = RT.config.api
        invoke = api.endpoint_allowed("invoke", "v1.0/invoke/*")
        try:
            self._route_registered(method, segs, qs, body, api, invoke)
        except _Unmatched as u:
            if invoke:
                return self._invoke(method, body)
            raise u.error from None

    def _route_registered(self, method, segs, qs, body, api, invoke):
        not_found = _Unmatched(plain_error(404, "404 page not found"))
        if (len(segs) >= 5 and segs[0] == "v1.0-alpha1" and segs[1] == "publish" and segs[2] == "bulk"
                and api.endpoint_allowed("publish", "v1.0-alpha1/publish/bulk/{pubsubname}/*", "v1alpha1")):
            # http.go: Route "publish/bulk/{pubsubname}/*", Version v1.0-alpha1, POST and PUT.
            if method not in ("POST", "PUT"):
                raise _Unmatched(HTTPError(405, b"", "", {"Allow": "POST, PUT"}))
            return self._bulk_publish(self._param("pubsubname", segs[3]), self._param("*", "/".join(segs[4:])),
                                      qs, body)
        if len(segs) < 2 or segs[0] != "v1.0":
            raise not_found

        def allow(*methods):
            if method not in methods:
                raise _Unmatched(HTTPError(405, b"", "", {"Allow": ", ".join(methods)}))

        if segs[1] == "healthz" and len(segs) == 2:
            allow("GET")
            return self._healthz(qs)
        if segs[1] == "healthz" and len(segs) == 3 and segs[2] == "outbound":
            allow("GET")
            if not RT.outbound_ready:
                raise api_error(500, "ERR_OUTBOUND_HEALTH_NOT_READY", "dapr outbound is not ready")
            return self._send(204)
        if segs[1] == "publish" and len(segs) >= 4 and api.endpoint_allowed("publish", "v1.0/publish/{pubsubname}/*"):
            # "/v1.0/publish/bulk/..." is this route with a pub/sub named "bulk" (daprd's bulk API is
            # under v1.0-alpha1): ERR_PUBSUB_NOT_FOUND, as daprd answers.
            allow("POST")
            return self._publish(self._param("pubsubname", segs[2]), self._param("*", "/".join(segs[3:])), qs, body)
        state = api.endpoint_allowed("state", "v1.0/state/{storeName}")
        if state and segs[1] == "state" and len(segs) == 3:
            allow("POST")
            return self._post_state(self._param("storeName", segs[2]), qs, body)
        if state and segs[1] == "state" and len(segs) == 4:
            if method == "POST" and segs[3] in ("bulk", "transaction"):
                log(f"POST /v1.0/state/{{store}}/{segs[3]} is not implemented by the stand-in: 404")
                raise plain_error(404, "404 page not found")
            allow("GET", "DELETE")
            store = self._param("storeName", segs[2])
            key = self._param("key", segs[3])
            if method == "GET":
                return self._get_state(store, key, qs)
            return self._delete_state(store, key, qs)
        raise not_found

    # -- directmessaging.go (standin_invoke.py) ------------------------------------------------
    def _invoke(self, method, body):
        # r.Header after APITokenAuthMiddleware, which deletes dapr-api-token only when it checked it.
        headers = [(k, v) for k, v in self.headers.items()
                   if not (RT.api_token and k.lower() == "dapr-api-token")]
        span = child_span(self.headers.get("traceparent"))  # the tracing middleware's server span
        path = urllib.parse.unquote(self._raw_path, errors="replace")  # r.URL.Path
        reply = standin_invoke.on_direct_message(SIDECAR, method, path, self._query, headers, body, span)
        self._send_reply(reply)

    def _send_reply(self, reply):
        """The response as net/http writes it: the given headers, Date when absent, a Content-Length
        for the (whole) body unless the status has none."""
        self.send_response_only(reply.status)
        names = set()
        for k, v in reply.headers:
            names.add(k.lower())
            self.send_header(k, v)
        if "date" not in names:
            self.send_header("Date", self.date_time_string())
        if "content-length" not in names and reply.status not in (204, 304) and reply.status >= 200:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body and self.command != "HEAD" and reply.status not in (204, 304):
            self.wfile.write(reply.body)

    # -- healthz.go ---------------------------------------------------------------------------
    def _healthz(self, qs):
        if not RT.runtime_ready:
            raise api_error(500, "ERR_HEALTH_NOT_READY", "dapr is not ready: [runtime]")
        if "appid" in qs and qs["appid"][0] != RT.app_id:
            raise api_error(500, "ERR_HEALTH_APPID_NOT_MATCH", "dapr app-id does not match")
        self._send(204)

    # -- publish (http.go onPublish) -----------------------------------------------------------
    def _publish(self, pubsub_name, topic, qs, body):
        rt = RT
        md = get_metadata_from_query(qs)
        try:
            self._publish_inner(rt, pubsub_name, topic, md, body)
        except HTTPError as e:
            STATS.incr("publish_refused", e.status)
            warn(f"publish {pubsub_name}/{topic} refused: {e.status} {e.body.decode('utf-8', 'replace')}")
            raise
        STATS.incr("published", topic)
        self._send(204)

    @staticmethod
    def _pubsub_and_topic(rt, pubsub_name, topic, md):
        """http.go validateAndGetPubsubAndTopic."""
        ps = rt.pubsubs.get(pubsub_name)
        if ps is None:
            raise kit_error(404, "ERR_PUBSUB_NOT_FOUND", f"pubsub {pubsub_name} is not found",
                            "DAPR_PUBSUB_NOT_FOUND", md)
        if topic == "":
            raise kit_error(404, "ERR_TOPIC_NAME_EMPTY", "topic is empty in pubsub " + pubsub_name,
                            "DAPR_PUBSUB_TOPIC_NAME_EMPTY", md,
                            resource=("pubsub", pubsub_name, "", "topic is empty in pubsub " + pubsub_name))
        return ps

    @staticmethod
    def _raw_payload(pubsub_name, md):
        try:
            return _is_raw_payload(md)
        except ValueError as e:
            msg = f"failed deserializing metadata. Error: {e}"
            raise kit_error(400, "ERR_PUBSUB_REQUEST_METADATA", msg, "DAPR_PUBSUB_METADATA_DESERIALIZATION", md,
                            resource=("pubsub", pubsub_name, "", msg)) from None

    def _publish_inner(self, rt, pubsub_name, topic, md, body):
        ps = self._pubsub_and_topic(rt, pubsub_name, topic, md)
        content_type = self.headers.get("Content-Type", "")
        raw = self._raw_payload(pubsub_name, md)
        data = body
        ce = None
        if not raw:
            span = child_span(self.headers.get("traceparent"))
            tstate = self.headers.get("tracestate", "") if parse_traceparent(self.headers.get("traceparent")) else ""
            try:
                ce = new_cloud_event(rt.app_id, pubsub_name, topic, content_type, body, span, tstate, md)
            except PanicNilMap:
                error("http: panic serving request: assignment to entry in nil map (a cloudevents+json body "
                      "of `null` makes daprd 1.16's FromCloudEvent panic; net/http drops the connection)")
                STATS.incr("publish_refused", "connection-dropped")
                raise ConnectionResetByPanic() from None
            except GoJSONError as e:
                raise kit_error(500, "ERR_PUBSUB_CLOUD_EVENTS_SER", "cannot create cloudevent",
                                "DAPR_PUBSUB_CLOUD_EVENT_CREATION", {"appID": rt.app_id, "error": str(e)},
                                resource=("pubsub", pubsub_name, "", "cannot create cloudevent"))
            apply_ttl_metadata(ce, md)
            data = go_marshal_bytes(ce)
        try:
            rt.publish(ps, topic, data, md)
        except NotAllowed as e:
            msg = f"topic {topic} is not allowed for app id {rt.app_id}"
            raise kit_error(403, "ERR_PUBSUB_FORBIDDEN", msg, "DAPR_PUBSUB_FORBIDDEN",
                            {"topic": topic, "error": str(e)}, resource=("pubsub", pubsub_name, "", msg))
        except Exception as e:  # noqa: BLE001
            msg = f"error when publishing to topic {topic} in pubsub {pubsub_name}: {e}"
            raise kit_error(500, "ERR_PUBSUB_PUBLISH_MESSAGE", msg, "DAPR_PUBSUB_PUBLISH_MESSAGE",
                            {"topic": topic, "error": str(e)}, resource=("pubsub", pubsub_name, "", msg))
        log(f"published to {pubsub_name}/{topic} id={ce.get('id') if ce else '(raw)'} "
            f"content-type={content_type or '(none: text/plain)'}")

    # -- bulk publish (http.go onBulkPublish, daprd 1.16.19) ------------------------------------
    # Read in dapr/dapr v1.16.19: pkg/api/http/http.go (onBulkPublish, bulkPublishMessageEntry),
    # pkg/api/http/util.go (ConvertEventToBytes), pkg/api/http/responses.go (BulkPublishResponse),
    # utils/utils.go (PopulateMetadataForBulkPublishEntry), pkg/runtime/pubsub/publisher/publisher.go
    # (BulkPublish), pkg/runtime/pubsub/default_bulkpub.go (the fallback for components without
    # BulkPublish, as pubsub.redis: every entry a Publish of its own, in parallel, "no guarantee that
    # messages sent to the broker are in the same order as specified in the request") and
    # pkg/runtime/pubsub/bulkpublish_resiliency.go (retries resend only the failed entries).
    def _bulk_publish(self, pubsub_name, topic, qs, body):
        rt = RT
        md = get_metadata_from_query(qs)
        try:
            n = self._bulk_publish_inner(rt, pubsub_name, topic, md, body)
        except HTTPError as e:
            STATS.incr("publish_refused", e.status)
            warn(f"bulk publish {pubsub_name}/{topic} refused: {e.status} {e.body.decode('utf-8', 'replace')[:500]}")
            raise
        STATS.incr("published", topic, n)
        self._send(204)

    def _bulk_publish_inner(self, rt, pubsub_name, topic, md, body) -> int:
        ps = self._pubsub_and_topic(rt, pubsub_name, topic, md)
        raw = self._raw_payload(pubsub_name, md)
        app_meta = {"appID": rt.app_id}

        def events_error(reason: str, message: str, meta: dict) -> HTTPError:
            return kit_error(400, "ERR_PUBSUB_EVENTS_SER", message, reason, meta,
                             resource=("pubsub", pubsub_name, "", message))

        # json.NewDecoder(r.Body).Decode(&[]bulkPublishMessageEntry)
        try:
            incoming = decode_bulk_entries(body)
        except GoJSONError as e:
            text = "EOF" if isinstance(e, GoEOF) else str(e)
            raise events_error("DAPR_PUBSUB_UNMARSHAL_EVENTS",
                               f"error when unmarshaling the request for topic {topic} pubsub {pubsub_name}: {text}",
                               app_meta) from None
        entries = []
        seen = set()
        for entry in incoming:
            try:
                data = convert_event_to_bytes(entry["event"], entry["contentType"])
            except GoJSONError as e:
                raise events_error("DAPR_PUBSUB_MARSHAL_ENVELOPE",
                                   f"error when marshalling cloud event envelope for topic {topic} pubsub "
                                   f"{pubsub_name}: {e}", dict(app_meta, error=str(e))) from None
            emd = None
            if entry["metadata"] is not None:
                # PopulateMetadataForBulkPublishEntry: entry keys win over the request's.  An entry
                # WITHOUT metadata gets none at all - not even the request's (http.go).
                emd = dict(entry["metadata"])
                for k, v in md.items():
                    emd.setdefault(k, v)
            eid = entry["entryId"]
            if eid == "" or eid in seen:
                err = "entryId is duplicated or not present for entry"
                raise events_error("DAPR_PUBSUB_MARSHAL_EVENTS",
                                   f"error marshaling events to bytes for topic {topic} pubsub {pubsub_name}. "
                                   f"error: {err}", dict(app_meta, error=err))
            seen.add(eid)
            entries.append({"entryId": eid, "data": data, "contentType": entry["contentType"], "metadata": emd})
        if not raw:
            # One producer span per entry, children of the request's span.
            request_span = child_span(self.headers.get("traceparent"))
            tstate = self.headers.get("tracestate", "") if parse_traceparent(self.headers.get("traceparent")) else ""
            for e in entries:
                emd = e["metadata"] or {}
                try:
                    ce = new_cloud_event(rt.app_id, pubsub_name, topic, e["contentType"], e["data"],
                                         child_span(request_span), tstate, emd)
                except PanicNilMap:
                    error("http: panic serving request: assignment to entry in nil map (an entry of "
                          "application/cloudevents+json whose event is null); net/http drops the connection")
                    STATS.incr("publish_refused", "connection-dropped")
                    raise ConnectionResetByPanic() from None
                except GoJSONError as ex:
                    raise kit_error(500, "ERR_PUBSUB_CLOUD_EVENTS_SER", "cannot create cloudevent",
                                    "DAPR_PUBSUB_CLOUD_EVENT_CREATION", dict(app_meta, error=str(ex)),
                                    resource=("pubsub", pubsub_name, "", "cannot create cloudevent")) from None
                apply_ttl_metadata(ce, emd)
                e["data"] = go_marshal_bytes(ce)
        # publisher.go BulkPublish
        if not is_operation_allowed(topic, ps, ps.scoped_publishings):
            msg = f"topic {topic} is not allowed for app id {rt.app_id}"
            raise kit_error(403, "ERR_PUBSUB_FORBIDDEN", msg, "DAPR_PUBSUB_FORBIDDEN",
                            {"topic": topic, "error": msg}, resource=("pubsub", pubsub_name, "", msg))
        target = rt.namespace + topic if ps.namespace_scoped else topic
        pol = rt.resiliency.component_policy(ps.name, "Pubsub", "Outbound")
        state = {"remaining": entries, "failed": []}

        def attempt(_deadline):
            # default_bulkpub.go: each entry its own Publish, up to 100 at a time, in no set order.
            order = list(state["remaining"])
            random.shuffle(order)
            failed = []
            for e in order:
                try:
                    ps.comp.publish(target, e["data"], e["metadata"])
                except Exception as ex:  # noqa: BLE001 - the component's error, per entry
                    failed.append((e["entryId"], str(ex)))
            state["failed"] = failed
            if failed:
                ids = {f[0] for f in failed}
                state["remaining"] = [e for e in state["remaining"] if e["entryId"] in ids]
                raise BulkPublishFailed(failed[0][1])

        try:
            run_policy(pol, attempt, None, log=warn)
        except Exception as err:  # noqa: BLE001
            # bulkpublish_resiliency.go: a timeout, an open (or half-open, busy) breaker, or no
            # failed entries reported: every entry still to send counts as failed.
            if (isinstance(err, (DeadlineExceeded, ResiliencyError, standin_resiliency.BreakerOpen,
                                 standin_resiliency.BreakerTooManyRequests)) or not state["failed"]):
                failed = [(e["entryId"], str(err)) for e in state["remaining"]]
            else:
                failed = state["failed"]
            msg = f"error when publishing to topic {topic} in pubsub {pubsub_name}: {err}"
            res = go_marshal({"failedEntries": [{"entryId": i, "error": t} for i, t in failed],
                              "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE"})
            STATS.incr("published", topic, len(entries) - len(failed))
            # setResponseMetadataHeaders (net/http canonicalises the names) + respondWithData
            raise HTTPError(500, res.encode(), "application/json",
                            {"Metadata.responsedata": res, "Metadata.error": msg}) from None
        log(f"bulk published {len(entries)} entries to {pubsub_name}/{topic}")
        return len(entries)

    # -- state (http.go onGetState / onPostState / onDeleteState) ------------------------------
    def _store(self, name):
        rt = RT
        if not rt.states:
            raise kit_error(500, "ERR_STATE_STORE_NOT_CONFIGURED", f"state store {name} is not configured",
                            "DAPR_STATE_NOT_CONFIGURED", {"appID": rt.app_id})
        st = rt.states.get(name)
        if st is None:
            raise kit_error(400, "ERR_STATE_STORE_NOT_FOUND", f"state store {name} is not found",
                            "DAPR_STATE_NOT_FOUND", {"appID": rt.app_id})
        return st

    def _get_state(self, store_name, key, qs):
        rt = RT
        store = self._store(store_name)
        md = get_metadata_from_query(qs)
        k = rt.modified_key(store_name, key)
        pol = rt.resiliency.component_policy(store_name, "Statestore", "Outbound")
        try:
            data, etag = run_policy(pol, lambda d: store.get(k, md), None, log=warn)
        except Exception as e:  # noqa: BLE001
            raise api_error(500, "ERR_STATE_GET", f"fail to get {key} from state store {store_name}: {e}")
        if data is None:
            return self._send(204)
        headers = {"ETag": etag} if etag is not None else {}
        self._send(200, data, "application/json", headers)

    def _delete_state(self, store_name, key, qs):
        rt = RT
        store = self._store(store_name)
        concurrency = qs.get("concurrency", [""])[0]
        consistency = qs.get("consistency", [""])[0]
        md = get_metadata_from_query(qs)
        k = rt.modified_key(store_name, key)
        etag = self.headers.get("If-Match") if "If-Match" in self.headers else None
        pol = rt.resiliency.component_policy(store_name, "Statestore", "Outbound")
        try:
            # onDeleteState runs store.Delete under the policy WITHOUT marking etag errors
            # permanent (unlike saves): a mismatch is retried like any error.
            run_policy(pol, lambda d: store.delete(k, etag, concurrency, consistency, md), None, log=warn)
        except ETagError as e:
            code = 409 if e.kind == "mismatch" else 400
            raise api_error(code, "ERR_STATE_DELETE", f"failed deleting state with key {key}: {e}")
        except Exception as e:  # noqa: BLE001
            raise api_error(500, "ERR_STATE_DELETE", f"failed deleting state with key {key}: {e}")
        log(f"state {store_name}: deleted {key}")
        self._send(204)

    def _post_state(self, store_name, qs, body):
        rt = RT
        items = []
        try:
            self._post_state_inner(rt, store_name, qs, body, items)
        except HTTPError as e:
            STATS.incr("state_saves", e.status)
            reason = e.body.decode("utf-8", "replace")
            if not items:
                STATS.refusal({"key": None, "status": e.status, "etag": None, "concurrency": None, "reason": reason})
            for it in items:
                STATS.refusal({"key": it["key"], "status": e.status, "etag": it["etag"],
                               "concurrency": it["concurrency"] or None, "reason": reason})
            warn(f"state {store_name}: save of {[i['key'] for i in items]} refused: {e.status} {reason}")
            raise
        STATS.incr("state_saves", 204)
        self._send(204)

    def _post_state_inner(self, rt, store_name, qs, body, items_out):
        store = self._store(store_name)
        try:
            parsed = go_decode_first(body)
            reqs = decode_set_requests(parsed)
        except GoJSONError as e:
            raise api_error(400, "ERR_MALFORMED_REQUEST", str(e))
        if not reqs:
            return
        md = get_metadata_from_query(qs)
        for r in reqs:
            items_out.append({"key": r["key"], "etag": r["etag"], "concurrency": r["concurrency"]})
        for r in reqs:
            if r["key"] == "":
                raise api_error(400, "ERR_MALFORMED_REQUEST", '"key" is a required field')
            if r["metadata"] is None:
                r["metadata"] = dict(md)
            else:
                r["metadata"].update(md)
            r["skey"] = rt.modified_key(store_name, r["key"])
        pol = rt.resiliency.component_policy(store_name, "Statestore", "Outbound")
        try:
            perform_bulk_store(pol, store, reqs)
        except ETagError as e:
            code = 409 if e.kind == "mismatch" else 400
            raise api_error(code, "ERR_STATE_SAVE", f"failed saving state in state store {store_name}: {e}")
        except Exception as e:  # noqa: BLE001
            raise api_error(500, "ERR_STATE_SAVE", f"failed saving state in state store {store_name}: {e}")
        for r in reqs:
            log(f"state {store_name}: saved {r['key']} (etag={r['etag']!r}, concurrency={r['concurrency'] or '-'}, "
                f"ttl={r['metadata'].get('ttlInSeconds', '-')})")


class ConnectionResetByPanic(Exception):
    pass


def _valid_escapes(s: str) -> bool:
    """url.QueryUnescape rejects a '%' not followed by two hex digits."""
    i = 0
    while i < len(s):
        if s[i] == "%":
            h = s[i + 1:i + 3]
            if len(h) != 2 or any(c not in "0123456789abcdefABCDEF" for c in h):
                return False
            i += 3
        else:
            i += 1
    return True


class BulkPublishFailed(Exception):
    """errgroup.Wait's error: the first failed entry's."""


def decode_bulk_entries(body: bytes) -> list:
    """json.NewDecoder(body).Decode(&[]bulkPublishMessageEntry) (http.go): entryId string, event
    any (numbers become float64), contentType string, metadata map[string]string; field names
    matched case-insensitively, unknown fields ignored, `null` for the list is no entries."""
    parsed = go_decode_first(body)
    if parsed is None:
        return []
    if not isinstance(parsed, list):
        raise GoJSONError(f"json: cannot unmarshal {go_type_name(parsed)} into Go value of type "
                          f"[]http.bulkPublishMessageEntry")
    out = []
    for el in parsed:
        if el is None:
            el = {}
        if not isinstance(el, dict):
            raise GoJSONError(f"json: cannot unmarshal {go_type_name(el)} into Go value of type "
                              f"http.bulkPublishMessageEntry")

        def string_field(name):
            v, found = _go_field(el, name)
            if not found or v is None:
                return ""
            if not isinstance(v, str) or isinstance(v, GoNumber):
                raise GoJSONError(f"json: cannot unmarshal {go_type_name(v)} into Go struct field "
                                  f"bulkPublishMessageEntry.{name} of type string")
            return str(v)

        entry_id = string_field("entryId")
        content_type = string_field("contentType")
        event, _ = _go_field(el, "event")
        md, _ = _go_field(el, "metadata")
        if md is not None:
            if not isinstance(md, dict):
                raise GoJSONError(f"json: cannot unmarshal {go_type_name(md)} into Go struct field "
                                  f"bulkPublishMessageEntry.metadata of type map[string]string")
            for mv in md.values():
                if mv is not None and (not isinstance(mv, str) or isinstance(mv, GoNumber)):
                    raise GoJSONError(f"json: cannot unmarshal {go_type_name(mv)} into Go struct field "
                                      f"bulkPublishMessageEntry.metadata of type string")
            md = {k: (str(v) if v is not None else "") for k, v in md.items()}
        out.append({"entryId": entry_id, "event": to_float64_tree(event), "contentType": content_type,
                    "metadata": md})
    return out


def convert_event_to_bytes(event, content_type: str) -> bytes:
    """pkg/api/http/util.go ConvertEventToBytes (content types as components-contrib
    contenttype/utils.go): octet-stream wants a base64 string, text/* and application/xml a string,
    JSON and cloudevents+json any value (json.Marshal), anything else is refused."""
    mismatch = "error: mismatch between contentType and event"
    if is_ct(content_type, "application/octet-stream"):
        if not isinstance(event, str):
            raise GoJSONError(mismatch)
        try:
            return base64.b64decode(event, validate=True)
        except (ValueError, TypeError) as e:
            raise GoJSONError(f"error: unable to decode base64 application/octect-stream data: {e}") from None
    if content_type.lower().startswith("text/") or is_ct(content_type, "application/xml"):
        if not isinstance(event, str):
            raise GoJSONError(mismatch)
        return event.encode("utf-8")
    if is_ct(content_type, "application/json") or is_ct(content_type, "application/cloudevents+json"):
        return go_marshal_bytes(event)
    raise GoJSONError(mismatch)


def _go_field(obj: dict, name: str):
    """encoding/json field matching: exact key first, else case-insensitive; last one wins."""
    hit = None
    found = False
    for k, v in obj.items():
        if k == name or k.lower() == name.lower():
            hit, found = v, True
    return hit, found


def decode_set_requests(parsed) -> list:
    """json.Decode into []state.SetRequest (components-contrib state/requests.go): key string,
    value any (float64 numbers), etag *string, metadata map[string]string, options
    {Concurrency, Consistency string}, contentType *string.  Any type mismatch is an error."""
    if parsed is None:
        return []
    if not isinstance(parsed, list):
        raise GoJSONError(f"json: cannot unmarshal {go_type_name(parsed)} into Go value of type []state.SetRequest")
    out = []
    for el in parsed:
        if el is None:
            el = {}
        if not isinstance(el, dict):
            raise GoJSONError(f"json: cannot unmarshal {go_type_name(el)} into Go value of type state.SetRequest")

        def string_field(name, nullable):
            v, found = _go_field(el, name)
            if not found or v is None:
                return None if nullable else ""
            if not isinstance(v, str) or isinstance(v, GoNumber):
                raise GoJSONError(f"json: cannot unmarshal {go_type_name(v)} into Go struct field SetRequest.{name} "
                                  f"of type {'*string' if nullable else 'string'}")
            return str(v)

        key = string_field("key", False)
        etag = string_field("etag", True)
        string_field("contentType", True)
        value, _ = _go_field(el, "value")
        value = to_float64_tree(value)
        md, found = _go_field(el, "metadata")
        if md is not None:
            if not isinstance(md, dict):
                raise GoJSONError(f"json: cannot unmarshal {go_type_name(md)} into Go struct field SetRequest.metadata "
                                  f"of type map[string]string")
            for mk, mv in md.items():
                if mv is not None and (not isinstance(mv, str) or isinstance(mv, GoNumber)):
                    raise GoJSONError(f"json: cannot unmarshal {go_type_name(mv)} into Go struct field "
                                      f"SetRequest.metadata of type string")
            md = {mk: (str(mv) if mv is not None else "") for mk, mv in md.items()}
        opts, _ = _go_field(el, "options")
        concurrency = consistency = ""
        if opts is not None:
            if not isinstance(opts, dict):
                raise GoJSONError(f"json: cannot unmarshal {go_type_name(opts)} into Go struct field SetRequest.options "
                                  f"of type state.SetStateOption")
            for fname in ("Concurrency", "Consistency"):
                v, f = _go_field(opts, fname)
                if f and v is not None:
                    if not isinstance(v, str) or isinstance(v, GoNumber):
                        raise GoJSONError(f"json: cannot unmarshal {go_type_name(v)} into Go struct field "
                                          f"SetStateOption.options.{fname} of type string")
                    if fname == "Concurrency":
                        concurrency = str(v)
                    else:
                        consistency = str(v)
        out.append({"key": key, "value": value, "etag": etag, "metadata": md, "concurrency": concurrency,
                    "consistency": consistency})
    return out


def perform_bulk_store(pol: PolicyDef, store: RedisStateStore, reqs: list):
    """pkg/components/state/bulk.go PerformBulkStoreOperation: one request -> store.Set with etag
    errors made permanent; several -> DefaultBulkStore.BulkSet (all in parallel), retrying only
    the keys that failed with a non-etag error."""
    from standin_resiliency import Permanent

    def set_one(r):
        value_bytes = jsoniter_fastest_marshal(r["value"]).encode("utf-8")
        store.set(r["skey"], value_bytes, r["etag"], r["concurrency"], r["consistency"], r["metadata"])

    if len(reqs) == 1:
        def op(_d):
            try:
                set_one(reqs[0])
            except ETagError as e:
                raise Permanent(e)
        return run_policy(pol, op, None, log=warn)

    pending = {"reqs": list(reqs)}

    def op_multi(_d):
        cur = pending["reqs"]
        errs = [None] * len(cur)

        def run(i):
            try:
                set_one(cur[i])
            except Exception as e:  # noqa: BLE001
                errs[i] = e
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(cur))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failed = [(cur[i], e) for i, e in enumerate(errs) if e is not None]
        if not failed:
            return None
        retry = [r for r, e in failed if not isinstance(e, ETagError)]
        if retry:
            pending["reqs"] = retry
            # errors.Join of BulkStoreErrors; the HTTP layer's errors.As finds an ETagError in it
            etags = [e for _, e in failed if isinstance(e, ETagError)]
            if etags:
                raise etags[0]
            raise failed[0][1]
        kind = "invalid" if any(e.kind == "invalid" for _, e in failed) else "mismatch"
        raise Permanent(ETagError(kind, "; ".join(str(e) for _, e in failed)))

    return run_policy(pol, op_multi, None, log=warn)


# =================================================================================================
# Subscriptions from the app (pkg/runtime/pubsub/subscriptions.go GetSubscriptionsHTTP)
# =================================================================================================

def get_subscriptions_http(rt: Runtime) -> list:
    pol = rt.resiliency.builtin_init_policy()

    def op(d):
        return app_call(rt, "GET", "/dapr/subscribe", b"", {"Content-Type": "application/json",
                                                            "Dapr-App-Id": rt.app_id}, d)
    status, body, _ = run_policy(pol, op, None, log=warn)
    subs = []
    if status == 200:
        try:
            parsed = go_decode_first(body)
        except GoEOF:
            parsed = None
        except GoJSONError as e:
            raise ComponentError(f"error getting topics from app: {e}") from None
        if parsed is None:
            parsed = []
        if not isinstance(parsed, list):
            raise ComponentError(f"error getting topics from app: json: cannot unmarshal {go_type_name(parsed)} "
                                 f"into Go value of type []pubsub.SubscriptionJSON")
        for si in parsed:
            if si is None:
                si = {}
            if not isinstance(si, dict):
                raise ComponentError("error getting topics from app: subscription entries must be objects")
            get = lambda n: _go_field(si, n)[0]  # noqa: E731
            routes = get("routes") or {}
            rules = []
            for r in (routes.get("rules") or []) if isinstance(routes, dict) else []:
                rules.append(((r.get("match") or "").strip(), r.get("path") or ""))
            default = routes.get("default") if isinstance(routes, dict) else None
            if default:
                rules.append(("", default))
            elif get("route"):
                rules.append(("", get("route")))
            bulk = get("bulkSubscribe") or {}
            md = get("metadata") or {}
            subs.append({"pubsubname": get("pubsubname") or "", "topic": get("topic") or "",
                         "deadLetterTopic": get("deadLetterTopic") or "", "metadata": md, "rules": rules,
                         "bulk": bool(isinstance(bulk, dict) and bulk.get("enabled"))})
    elif status == 404:
        log("user app did not subscribe to any topic (GET /dapr/subscribe: 404)")
    else:
        error(f"app returned http status code {status} from subscription endpoint")
    out = []
    for s in subs:
        if not s["rules"]:
            warn(f"topic {s['topic']} has an empty routes. removing from subscriptions list")
            continue
        out.append(s)
    return out


def start_app_subscriptions(rt: Runtime):
    """subscriber.go StartAppSubscriptions/initProgrammaticSubscriptions: only when a pub/sub is
    loaded; the subscription list is read ONCE (a failure leaves the sidecar without
    subscriptions for its lifetime)."""
    if not rt.pubsubs:
        log("no pub/sub component loaded: GET /dapr/subscribe is not called")
        return
    try:
        subs = get_subscriptions_http(rt)
    except Exception as e:  # noqa: BLE001
        error(f"failed to subscribe to topics: {e}.  daprd does not ask again: this sidecar has NO subscriptions")
        return
    for pname in rt.pubsubs:
        topics = [s["topic"] for s in subs if s["pubsubname"] == pname]
        if topics:
            log(f"app is subscribed to the following topics: {topics} through pubsub={pname}")
    for s in subs:
        ps = rt.pubsubs.get(s["pubsubname"])
        if ps is None:
            warn(f"subscription to {s['pubsubname']}/{s['topic']}: no such pub/sub component loaded; ignored")
            continue
        if s["bulk"]:
            error(f"subscription {s['pubsubname']}/{s['topic']} asks for bulkSubscribe: not implemented by the stand-in")
            continue
        if any(m for m, _ in s["rules"]):
            error(f"subscription {s['pubsubname']}/{s['topic']} uses routing rules with CEL 'match' expressions: "
                  f"not implemented by the stand-in; not started")
            continue
        sub = Subscription(rt, ps, s)
        try:
            sub.start()
            rt.subscriptions.append(sub)
        except Exception as e:  # noqa: BLE001
            error(f"Failed to start subscription for pubsub {s['pubsubname']}, topic {s['topic']}: {e} "
                  f"(daprd keeps retrying this in the background, without success)")


# =================================================================================================
# Input bindings (pkg/runtime/processor/binding/send.go)
# =================================================================================================

def start_bindings(rt: Runtime):
    for b in rt.bindings:
        name = b["name"]
        subscribed = False
        dirs = None
        for k, v in b["props"].items():
            if k.lower() == "direction":
                dirs = [d.strip().lower() for d in v.split(",")]
        if dirs is not None and "input" in dirs:
            subscribed = True  # isBindingOfExplicitDirection: no OPTIONS probe
        else:
            try:
                status, _, _ = app_call(rt, "OPTIONS", "/" + b["route"].lstrip("/"), b"",
                                        {"Content-Type": "application/json"}, time.monotonic() + 3.0)
            except Exception as e:  # noqa: BLE001
                warn(f"failed to read from bindings: could not invoke OPTIONS method on input binding subscription "
                     f"endpoint {b['route']!r}: {e} (daprd stops starting the remaining bindings too)")
                return
            subscribed = status // 100 == 2 or status == 405
            log(f"binding {name}: OPTIONS /{b['route']} -> {status}")
        if not subscribed:
            log(f"app has not subscribed to binding {name}.")
            continue
        threading.Thread(target=_cron_loop, args=(rt, b), name=f"cron-{name}", daemon=True).start()
        log(f"input binding {name} started (schedule {b['schedule']!r})")


def _cron_loop(rt: Runtime, b: dict):
    sched = b["parsed"]
    loc_now = lambda: datetime.now().astimezone()  # noqa: E731 - cron.New default location: time.Local
    nxt = sched.next(loc_now())
    while nxt is not None and not rt.stop.is_set():
        delay = (nxt - loc_now()).total_seconds()
        if delay > 0 and rt.stop.wait(delay):
            return
        now = loc_now()
        # kit/cron Cron.run: each due entry runs in its own goroutine (ticks may overlap)
        threading.Thread(target=_send_binding_event, args=(rt, b), daemon=True).start()
        nxt = sched.next(now)


def _send_binding_event(rt: Runtime, b: dict):
    """sendBindingEventToApp (HTTP): POST /<route> with an EMPTY body, Content-Type application/json,
    the cron metadata (timeZone, readTimeUTC) as headers; non-200 is a CodeError for the inbound
    policy; afterwards any non-2xx is an error."""
    name = b["name"]
    path = "/" + b["route"].lstrip("/")
    headers = {"Content-Type": "application/json", "timezone": "Local", "readtimeutc": go_time_string_utc_now(),
               "traceparent": child_span(None)}
    pol = rt.resiliency.component_policy(name, "Binding", "Inbound")

    class NonOK(Exception):
        def __init__(self, status):
            super().__init__(f"error sending binding event to application, status {status}")
            self.status = status

    def op(d):
        try:
            status, body, _ = app_call(rt, "POST", path, b"", headers, d)
        except Exception:
            STATS.incr("cron_ticks", "error")
            raise
        STATS.incr("cron_ticks", status)
        if status != 200:
            raise CodeError(status, NonOK(status))
        return status

    try:
        status = run_policy(pol, op, None, log=warn, stop_event=rt.stop)
    except CodeError as ce:
        if pol.retry is not None:
            # policy.go: the Disposer drops the response of a failed attempt, so send.go ends
            # with "error invoking app: response object is nil"
            warn(f"binding {name}: tick POST {path} -> {ce.status}: error invoking app: response object is nil")
            return
        status = ce.status
    except Exception as e:  # noqa: BLE001
        warn(f"binding {name}: tick POST {path}: error invoking app: {e}")
        return
    if status < 200 or status > 299:
        warn(f"binding {name}: fails to send binding event to http app channel, status code: {status}")
    else:
        log(f"binding {name}: tick POST {path} -> {status}")


# =================================================================================================
# Internal API (pkg/api/grpc/daprinternal.go CallLocalStream; HTTP+JSON here, see standin_invoke.py)
# =================================================================================================

class InternalHandler(BaseHTTPRequestHandler):
    """daprd's internal gRPC server (--dapr-internal-grpc-port): other sidecars' invocations of this
    app.  No dapr-api-token here: daprd protects this port with mTLS, not with the API token."""
    protocol_version = "HTTP/1.1"
    server_version = "daprd-standin-internal"
    sys_version = ""

    def log_message(self, fmt, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        if self.path != "/dapr.proto.internals.v1.ServiceInvocation/CallLocalStream":
            doc = {"error": {"code": "Unimplemented", "message": f"unknown method {self.path}"}}
        else:
            try:
                doc = standin_invoke.call_local(SIDECAR, json.loads(raw))
            except standin_invoke.InvokeError as e:
                doc = {"error": {"code": e.code or "Unknown", "message": e.message}}
            except Exception as e:  # noqa: BLE001 - a stand-in bug: make it loud, never silent
                import traceback
                error(f"stand-in internal error on CallLocalStream: {e}\n{traceback.format_exc()}")
                doc = {"error": {"code": "Internal", "message": f"daprd stand-in internal error: {e}"}}
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# =================================================================================================
# Startup (pkg/runtime/runtime.go initRuntime, blockUntilAppIsReady, appHealthChanged)
# =================================================================================================

def wait_for_app(rt: Runtime):
    log(f"application protocol: http. waiting on port {rt.app_port}.  This will block until the app is "
        f"listening on that port.")
    n = 0
    while not rt.stop.is_set():
        try:
            with socket.create_connection((rt.app_host, rt.app_port), timeout=0.5):
                break
        except OSError:
            n += 1
            if n % 100 == 0:
                log(f"waiting for application to listen on port {rt.app_port}")
            rt.stop.wait(0.1)
    if not rt.stop.is_set():
        log(f"application discovered on port {rt.app_port}")


def main(argv=None):
    global APP_ID, RT, SIDECAR
    p = argparse.ArgumentParser(description="daprd 1.16 stand-in")
    p.add_argument("--app-id", required=True)
    p.add_argument("--app-port", required=True, type=int)
    p.add_argument("--dapr-http-port", required=True, type=int)
    p.add_argument("--resources-path", required=True)
    p.add_argument("--app-host", default="127.0.0.1")
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help="the daprd Configuration (-config); default: dapr-components/config.yaml")
    p.add_argument("--dapr-internal-grpc-port", type=int, default=0,
                   help="port of the internal API other sidecars invoke this app through (0: none)")
    p.add_argument("--resolve", action="append", default=[], metavar="APP_ID=HOST:PORT",
                   help="name resolution: an app id's sidecar internal API address (repeatable)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--duplicate-deliveries", dest="duplicate_deliveries", action="store_true", default=True)
    g.add_argument("--no-duplicate-deliveries", dest="duplicate_deliveries", action="store_false")
    args = p.parse_args(argv)
    APP_ID = args.app_id
    rt = Runtime(args)
    RT = rt
    try:
        rt.config = standin_config.Configuration(args.config, log)
        registry = standin_invoke.Registry(args.resolve)
    except (OSError, yaml.YAMLError, standin_config.ConfigError) as e:
        fatal(f"configuration {args.config}: {e}")
    SIDECAR = standin_invoke.Sidecar(rt.app_id, rt.app_host, rt.app_port, rt.api_token, rt.app_token,
                                     rt.config, registry, log, STATS.invoke, child_span)

    def on_signal(signum, _frame):
        log(f"received signal {signal.Signals(signum).name}; shutting down")
        rt.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    log(f"starting daprd stand-in (daprd 1.16.19 semantics) app id: {rt.app_id}; app {rt.app_host}:{rt.app_port}; "
        f"duplicates {'on' if args.duplicate_deliveries else 'off'}; APP_API_TOKEN {'set' if rt.app_token else 'unset'}; "
        f"DAPR_API_TOKEN {'set' if rt.api_token else 'unset'}")
    rt.load_resources(args.resources_path)
    for ps in rt.pubsubs.values():
        log(f"pubsub {ps.name}: outbound policy {rt.resiliency.component_policy(ps.name, 'Pubsub', 'Outbound').describe()}")
    for st in rt.states:
        log(f"state {st}: outbound policy {rt.resiliency.component_policy(st, 'Statestore', 'Outbound').describe()}")

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    try:
        server = Server(("127.0.0.1", args.dapr_http_port), Handler)
    except OSError as e:
        fatal(f"failed to start HTTP server: {e}")
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    log(f"HTTP server is running on port {args.dapr_http_port}")
    api = rt.config.api
    log(f"configuration {rt.config.name}: APIs publish={api.endpoint_allowed('publish', 'v1.0/publish/{pubsubname}/*')} "
        f"state={api.endpoint_allowed('state', 'v1.0/state/{storeName}')} "
        f"invoke={api.endpoint_allowed('invoke', 'v1.0/invoke/*')}; access control "
        f"{'on' if rt.config.acl else 'none'}; resolve {registry.table}")
    if args.dapr_internal_grpc_port:
        try:
            internal = Server(("127.0.0.1", args.dapr_internal_grpc_port), InternalHandler)
        except OSError as e:
            fatal(f"failed to start the internal API server: {e}")
        threading.Thread(target=internal.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        log(f"internal API (gRPC stand-in) is running on port {args.dapr_internal_grpc_port}")
    rt.outbound_ready = True

    wait_for_app(rt)
    if not rt.stop.is_set():
        rt.runtime_ready = True
        log("dapr initialized. Status: Running.")
        start_app_subscriptions(rt)
        start_bindings(rt)
    while not rt.stop.wait(0.5):
        pass
    server.shutdown()
    log("stand-in stopped")
    # Threads still delivering are daemons: leave without waiting for them.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
