#!/usr/bin/env python3
"""Self-test of the daprd stand-in (daprd_standin.py) against real Redis (DB 15, flushed first).

Starts a tiny app (http.server in a thread) and one stand-in process, then proves the strict rules:
state first-write/etag codes, TTL, key prefixes; the envelope daprd builds and what it keeps or
drops; bulk publish (v1.0-alpha1: entries, metadata merging, refusals, failedEntries); scopes and tokens;
delivery twice per message; SUCCESS/RETRY/DROP/404/500/empty-body
handling with the Resiliency policy and dead letters; the processingTimeout bound on dead-lettering;
cron ticks and the OPTIONS probe; service invocation through a second stand-in (the caller,
whose Configuration admits only invoke) to this one (whose accessControl admits the caller to
/inv/**): method, query, body and headers forwarded, the caller's token swapped for the target
app's, ACL allow/deny, status and body passed back, an unknown app, a target that is down.
Closes with ``standin selftest: N passed, M failed``.

Run:  target/ci-dist-venv/bin/python tests/distributed/standin_selftest.py
Environment: REDIS_HOST (127.0.0.1), REDIS_PORT (6379), STANDIN_PYTHON (interpreter for the
stand-in; defaults to this one).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
DB = 15
APP_ID = "selftest"
APP_TOKEN = "app-secret"
DAPR_TOKEN = "dapr-secret"
CALLER_ID = "caller"
CALLER_APP_TOKEN = "caller-app-secret"
CALLER_DAPR_TOKEN = "caller-dapr-secret"

# The target's (this stand-in's) Configuration: publish + state as TaskFlow's, and an access-control
# policy in the Helm chart's shape (templates/dapr/configuration.yaml) admitting the caller to /inv/**
# with any verb, but GET of /inv/admin/** denied, and nothing else.
TARGET_CONFIG = f"""
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: selftest-target
spec:
  tracing:
    samplingRate: "1"
  api:
    allowed:
      - name: publish
        version: v1.0
        protocol: http
      - name: publish
        version: v1.0-alpha1
        protocol: http
      - name: state
        version: v1.0
        protocol: http
  accessControl:
    defaultAction: deny
    trustDomain: public
    policies:
      - appId: {CALLER_ID}
        defaultAction: deny
        trustDomain: public
        namespace: default
        operations:
          - name: /inv/admin/**
            httpVerb: ["GET"]
            action: deny
          - name: /inv/**
            httpVerb: ["*"]
            action: allow
"""
# The caller's: only the invoke API, as dapr-components/config-web.yaml.
CALLER_CONFIG = os.path.join(HERE, "..", "..", "dapr-components", "config-web.yaml")

PASSED = 0
FAILED = 0


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print(f"  ok   {name}")
    else:
        FAILED += 1
        print(f"  FAIL {name} {detail}")
    sys.stdout.flush()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ------------------------------------------------------------------------------------------------
# The app
# ------------------------------------------------------------------------------------------------

SUBSCRIPTIONS = [
    {"pubsubname": "pubsub", "topic": "orders", "routes": {"default": "/events/orders"}, "deadLetterTopic": "dlq"},
    {"pubsubname": "pubsub", "topic": "retry-topic", "route": "/events/retry", "deadLetterTopic": "dlq"},
    {"pubsubname": "pubsub", "topic": "err-topic", "routes": {"default": "/events/err"}, "deadLetterTopic": "dlq"},
    {"pubsubname": "pubsub", "topic": "nf-topic", "routes": {"default": "/events/nf"}, "deadLetterTopic": "dlq"},
    {"pubsubname": "pubsub", "topic": "drop-topic", "routes": {"default": "/events/drop"}, "deadLetterTopic": "dlq"},
    {"pubsubname": "pubsub", "topic": "drop-nodlq", "routes": {"default": "/events/drop"}},
    {"pubsubname": "pubsub", "topic": "empty-topic", "routes": {"default": "/events/empty"}},
    {"pubsubname": "pubsub", "topic": "odd-topic", "routes": {"default": "/events/odd"}},
    {"pubsubname": "pubsub", "topic": "lower-topic", "routes": {"default": "/events/lower"}},
    {"pubsubname": "pubsub", "topic": "dlq", "routes": {"default": "/events/dlq"}},
    {"pubsubname": "pubsub-slow", "topic": "slow-topic", "routes": {"default": "/events/slow"},
     "deadLetterTopic": "slow-dlq"},
    {"pubsubname": "pubsub", "topic": "not-subscribable", "routes": {"default": "/events/orders"}},
]


class App:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []

    def record(self, method, path, headers, body):
        with self.lock:
            self.requests.append({"method": method, "path": path, "headers": {k.lower(): v for k, v in headers.items()},
                                  "body": body, "t": time.time()})

    def find(self, method=None, path=None):
        with self.lock:
            return [r for r in self.requests if (method is None or r["method"] == method)
                    and (path is None or r["path"] == path)]


APP = App()


class AppHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _reply(self, status, body=b"", ctype="application/json"):
        self.send_response(status)
        if body:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _handle(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        APP.record(method, self.path, dict(self.headers), body)
        p = self.path
        if method == "GET" and p == "/dapr/subscribe":
            return self._reply(200, json.dumps(SUBSCRIPTIONS).encode())
        if method == "OPTIONS":
            return self._reply(200 if p == "/probe-cron" else 404)
        if p in ("/reminder-cron", "/probe-cron"):
            return self._reply(200)
        if p in ("/events/orders", "/events/dlq"):
            return self._reply(200, b'{"status":"SUCCESS"}')
        if p == "/events/retry":
            return self._reply(200, b'{"status":"RETRY"}')
        if p == "/events/err":
            return self._reply(500, b"boom")
        if p == "/events/nf":
            return self._reply(404, b"no such route")
        if p == "/events/drop":
            return self._reply(200, b'{"status":"DROP"}')
        if p == "/events/empty":
            return self._reply(200)
        if p == "/events/odd":
            return self._reply(200, b"not json at all", "text/plain")
        if p == "/events/lower":
            return self._reply(200, b'{"status":"success"}')
        if p == "/events/slow":
            return self._reply(200, b'{"status":"RETRY"}')
        if p.startswith("/inv/status/"):
            code = int(p.rsplit("/", 1)[1])
            self.send_response(code)
            self.send_header("X-App", "yes")
            body = f"status {code}".encode()
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        if p.startswith("/inv/sse"):
            return self._reply(200, b"data: hello\n\n", "text/event-stream")
        if p.startswith("/inv/"):
            echo = {"method": method, "path": p, "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace")}
            self.send_response(201 if method == "POST" else 200)
            self.send_header("X-Request-Id", "app-request-id")
            self.send_header("ETag", '"v7"')
            out = json.dumps(echo).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return None
        return self._reply(404)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_OPTIONS(self):
        self._handle("OPTIONS")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")


# ------------------------------------------------------------------------------------------------
# Resources
# ------------------------------------------------------------------------------------------------

def write_resources(d):
    redis_host = f"{REDIS_HOST}:{REDIS_PORT}"
    files = {
        "pubsub.yaml": f"""
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: pubsub
            spec:
              type: pubsub.redis
              version: v1
              metadata:
                - name: redisHost
                  value: "{redis_host}"
                - name: redisDB
                  value: "{DB}"
                - name: consumerID
                  value: "{{appID}}"
                - name: processingTimeout
                  value: "30s"
                - name: redeliverInterval
                  value: "1000"
                - name: maxLenApprox
                  value: "1000"
                - name: allowedTopics
                  value: "orders,retry-topic,err-topic,nf-topic,drop-topic,drop-nodlq,empty-topic,odd-topic,lower-topic,dlq,forbidden-topic,not-subscribable,bulk-broken"
                - name: publishingScopes
                  value: "selftest=orders,retry-topic,err-topic,nf-topic,drop-topic,drop-nodlq,empty-topic,odd-topic,lower-topic,dlq,not-subscribable,bulk-broken;other=forbidden-topic"
                - name: subscriptionScopes
                  value: "selftest=orders,retry-topic,err-topic,nf-topic,drop-topic,drop-nodlq,empty-topic,odd-topic,lower-topic,dlq"
            scopes:
              - selftest
            """,
        "pubsub-slow.yaml": f"""
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: pubsub-slow
            spec:
              type: pubsub.redis
              version: v1
              metadata:
                - name: redisHost
                  value: "{redis_host}"
                - name: redisDB
                  value: "{DB}"
                - name: processingTimeout
                  value: "1500"
                - name: redeliverInterval
                  value: "500"
            """,
        "other-app-pubsub.yaml": """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: kafka-for-someone-else
            spec:
              type: pubsub.kafka
              version: v1
              metadata:
                - name: brokers
                  value: "nowhere:9092"
            scopes:
              - some-other-app
            """,
        "statestore.yaml": f"""
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: statestore
            spec:
              type: state.redis
              version: v1
              metadata:
                - name: redisHost
                  value: "{redis_host}"
                - name: redisDB
                  value: "{DB}"
                - name: actorStateStore
                  value: "false"
            ---
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: statestore-pod
            spec:
              type: state.redis
              version: v1
              metadata:
                - name: redisHost
                  value: "{redis_host}"
                - name: redisDB
                  value: "{DB}"
                - name: keyPrefix
                  value: "{{podName}}"
            ---
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: statestore-cb
            spec:
              type: state.redis
              version: v1
              metadata:
                - name: redisHost
                  value: "{redis_host}"
                - name: redisDB
                  value: "{DB}"
            """,
        "cron.yaml": """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: reminder-cron
            spec:
              type: bindings.cron
              version: v1
              metadata:
                - name: schedule
                  value: "@every 1s"
                - name: direction
                  value: "input"
            ---
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: probe-cron
            spec:
              type: bindings.cron
              version: v1
              metadata:
                - name: schedule
                  value: "@every 1s"
            ---
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: unsub-cron
            spec:
              type: bindings.cron
              version: v1
              metadata:
                - name: schedule
                  value: "* * * * * *"
            """,
        "resiliency.yaml": """
            apiVersion: dapr.io/v1alpha1
            kind: Resiliency
            metadata:
              name: selftest-resiliency
            spec:
              policies:
                timeouts:
                  delivery: 5s
                retries:
                  fastRetry:
                    policy: constant
                    duration: 100ms
                    maxRetries: 2
                  slowRetry:
                    policy: constant
                    duration: 500ms
                    maxRetries: 6
                  stateRetry:
                    policy: constant
                    duration: 10ms
                    maxRetries: 3
                circuitBreakers:
                  stateBreaker:
                    maxRequests: 1
                    interval: 60s
                    timeout: 30s
                    trip: consecutiveFailures >= 5
              targets:
                components:
                  pubsub:
                    inbound:
                      timeout: delivery
                      retry: fastRetry
                  pubsub-slow:
                    inbound:
                      retry: slowRetry
                  statestore-cb:
                    outbound:
                      retry: stateRetry
                      circuitBreaker: stateBreaker
            """,
        "config.yaml": """
            apiVersion: dapr.io/v1alpha1
            kind: Configuration
            metadata:
              name: ignored-here
            spec: {}
            """,
    }
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(textwrap.dedent(text).lstrip())


# ------------------------------------------------------------------------------------------------
# HTTP helpers
# ------------------------------------------------------------------------------------------------

class Resp:
    def __init__(self, status, body, headers):
        self.status = status
        self.body = body
        self.headers = headers

    def json(self):
        return json.loads(self.body)


def call(method, url, body=None, headers=None, token=DAPR_TOKEN):
    """One request with http.client (urllib would add a Content-Type of its own)."""
    import http.client
    from urllib.parse import urlsplit
    u = urlsplit(url)
    h = dict(headers or {})
    if token:
        h["dapr-api-token"] = token
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h["Content-Length"] = str(len(data))
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, u.path + ("?" + u.query if u.query else ""), body=data, headers=h)
        resp = conn.getresponse()
        return Resp(resp.status, resp.read(), resp.headers)
    finally:
        conn.close()


def wait_until(fn, timeout=15.0, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def main():
    r = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=DB)
    r.flushdb()

    app_port = free_port()
    dapr_port = free_port()
    app_server = []  # bound only after the "app not listening yet" checks

    tmp = tempfile.mkdtemp(prefix="standin-selftest-")
    resources = os.path.join(tmp, "resources")
    os.mkdir(resources)
    write_resources(resources)
    env = dict(os.environ, APP_API_TOKEN=APP_TOKEN, DAPR_API_TOKEN=DAPR_TOKEN, POD_NAME="pod-1")
    env.pop("NAMESPACE", None)
    log_path = os.path.join(tmp, "standin.log")
    log_f = open(log_path, "w")
    py = os.environ.get("STANDIN_PYTHON", sys.executable)
    internal_port = free_port()
    target_config = os.path.join(tmp, "target-config.yaml")
    with open(target_config, "w") as f:
        f.write(TARGET_CONFIG)
    proc = subprocess.Popen([py, os.path.join(HERE, "daprd_standin.py"), "--app-id", APP_ID,
                             "--app-port", str(app_port), "--dapr-http-port", str(dapr_port),
                             "--resources-path", resources, "--config", target_config,
                             "--dapr-internal-grpc-port", str(internal_port)],
                            env=env, stdout=log_f, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{dapr_port}"
    # The caller: its own stand-in (no components), its "app" a bare listening socket (the stand-in
    # only waits for the port; nothing calls it).
    caller_app = socket.socket()
    caller_app.bind(("127.0.0.1", 0))
    caller_app.listen(8)
    caller_port = free_port()
    empty = os.path.join(tmp, "caller-resources")
    os.mkdir(empty)
    caller_env = dict(os.environ, APP_API_TOKEN=CALLER_APP_TOKEN, DAPR_API_TOKEN=CALLER_DAPR_TOKEN,
                      NAMESPACE="default")
    caller_log = open(os.path.join(tmp, "caller.log"), "w")
    caller = subprocess.Popen([py, os.path.join(HERE, "daprd_standin.py"), "--app-id", CALLER_ID,
                               "--app-port", str(caller_app.getsockname()[1]), "--dapr-http-port", str(caller_port),
                               "--resources-path", empty, "--config", CALLER_CONFIG,
                               "--resolve", f"{APP_ID}=127.0.0.1:{internal_port}",
                               "--resolve", f"ghost=127.0.0.1:{free_port()}"],
                              env=caller_env, stdout=caller_log, stderr=subprocess.STDOUT)
    caller_base = f"http://127.0.0.1:{caller_port}"
    try:
        run_checks(r, proc, base, app_server, app_port)
        invoke_checks(base, caller_base)
    finally:
        caller.terminate()
        caller.wait(timeout=10)
        caller_app.close()
        caller_log.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                rc = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = None
            check("stand-in exits cleanly on SIGTERM", rc == 0, f"rc={rc}")
        log_f.close()
        if app_server:
            app_server[0].shutdown()
        if FAILED:
            print(f"--- stand-in log ({log_path}) tail ---")
            with open(log_path) as f:
                print("".join(f.readlines()[-80:]))
            print("--- caller stand-in log tail ---")
            with open(os.path.join(tmp, "caller.log")) as f:
                print("".join(f.readlines()[-30:]))
    print(f"standin selftest: {PASSED} passed, {FAILED} failed")
    sys.exit(1 if FAILED else 0)


def run_checks(r, proc, base, app_server, app_port):
    print("startup")
    # The HTTP API answers before the app listens; healthz waits for the app port (runtime.go).
    up = wait_until(lambda: _try(lambda: call("GET", base + "/v1.0/healthz/outbound", token=None).status == 204))
    check("healthz/outbound 204 once components are loaded, before the app listens", up)
    h = call("GET", base + "/v1.0/healthz", token=None)
    check("healthz 500 ERR_HEALTH_NOT_READY while the app port is closed",
          h.status == 500 and h.json().get("errorCode") == "ERR_HEALTH_NOT_READY", f"{h.status} {h.body!r}")
    srv = ThreadingHTTPServer(("127.0.0.1", app_port), AppHandler)
    srv.daemon_threads = True
    app_server.append(srv)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ok = wait_until(lambda: call("GET", base + "/v1.0/healthz", token=None).status == 204)
    check("healthz 204 (no token needed) once the app listens", ok)
    check("the app was asked GET /dapr/subscribe",
          wait_until(lambda: APP.find("GET", "/dapr/subscribe")))
    sub = APP.find("GET", "/dapr/subscribe")[0]
    check("GET /dapr/subscribe carries dapr-api-token and dapr-app-id",
          sub["headers"].get("dapr-api-token") == APP_TOKEN and sub["headers"].get("dapr-app-id") == APP_ID)
    time.sleep(0.5)

    state_checks(r, base)
    publish_checks(r, base)
    bulk_publish_checks(r, base)
    delivery_checks(r, base)
    cron_checks(base)
    stats = call("GET", base + "/standin/stats", token=None).json()
    check("stats has exactly the contract's keys",
          set(stats) == {"state_saves", "state_save_refusals", "state_save_refusal_kinds", "breakers_opened",
                         "deliveries", "duplicates_sent", "dead_lettered", "published", "publish_refused",
                         "cron_ticks", "invoke"} and
          set(stats["deliveries"]) == {"SUCCESS", "RETRY", "DROP", "empty_or_unknown_body_acked",
                                       "status_404_acked", "status_other_retried", "error_retried"},
          json.dumps(stats)[:300])
    bad = [q for q in APP.requests if q["headers"].get("dapr-api-token") != APP_TOKEN]
    check("EVERY call from the stand-in to the app carried dapr-api-token", not bad,
          f"{len(bad)} without: {[(q['method'], q['path']) for q in bad[:5]]}")
    check("stand-in still running", proc.poll() is None)


def _try(fn):
    try:
        return fn()
    except Exception:  # noqa: BLE001
        return False


def state_checks(r, base):
    print("state")
    url = base + "/v1.0/state/statestore"
    g = call("GET", url + "/never-saved")
    check("GET missing key -> 204", g.status == 204, g.status)
    s = call("POST", url, [{"key": "claim", "value": {"state": "in-progress", "n": 1.23456789},
                            "etag": "0", "options": {"concurrency": "first-write"}}])
    check("first save etag '0' + first-write -> 204", s.status == 204, f"{s.status} {s.body!r}")
    h = r.hgetall(f"{APP_ID}||claim")
    check("Redis hash {appID}||key with data, version=1, first-write=0 (state/redis setDefaultQuery)",
          h.get(b"version") == b"1" and h.get(b"first-write") == b"0" and b"data" in h, h)
    check("value stored as jsoniter ConfigFastest writes it (float64, 6 digits)",
          json.loads(h[b"data"]) == {"state": "in-progress", "n": 1.234568}, h.get(b"data"))
    s = call("POST", url, [{"key": "claim", "value": {"state": "in-progress"}, "etag": "0",
                            "options": {"concurrency": "first-write"}}])
    check("second identical claim -> 409 ERR_STATE_SAVE", s.status == 409 and b"ERR_STATE_SAVE" in s.body,
          f"{s.status} {s.body!r}")
    s = call("POST", url, [{"key": "claim", "value": {"state": "done"}}])
    check("save of a first-write key with NO etag (last-write) -> 500", s.status == 500 and b"ERR_STATE_SAVE" in s.body,
          f"{s.status} {s.body!r}")
    s = call("POST", url, [{"key": "claim", "value": {"state": "done"}, "options": {"concurrency": "last-write"}}])
    check("explicit last-write without etag on a first-write key -> 500 too", s.status == 500, s.status)
    s = call("POST", url, [{"key": "claim", "value": {"state": "done"}, "etag": "abc",
                            "options": {"concurrency": "first-write"}}])
    check("etag 'abc' -> 400 (invalid etag)", s.status == 400 and b"invalid etag value" in s.body,
          f"{s.status} {s.body!r}")
    s = call("POST", url, [{"key": "claim", "value": {"state": "done"}, "etag": "7",
                            "options": {"concurrency": "first-write"}}])
    check("wrong etag '7' -> 409", s.status == 409, s.status)
    g = call("GET", url + "/claim")
    check("GET -> 200 with ETag 1 and the JSON value", g.status == 200 and g.headers.get("ETag") == "1"
          and g.headers.get("Content-Type") == "application/json", f"{g.status} {dict(g.headers)}")
    s = call("POST", url, [{"key": "claim", "value": {"state": "done"}, "etag": g.headers.get("ETag"),
                            "options": {"concurrency": "first-write"}, "metadata": {"ttlInSeconds": "120"}}])
    check("correct etag + first-write -> 204", s.status == 204, f"{s.status} {s.body!r}")
    g = call("GET", url + "/claim")
    check("ETag incremented to 2", g.headers.get("ETag") == "2" and g.json() == {"state": "done"},
          f"{g.headers.get('ETag')} {g.body!r}")
    ttl = r.ttl(f"{APP_ID}||claim")
    check("ttlInSeconds applied with EXPIRE", 0 < ttl <= 120, ttl)
    s = call("POST", url, [{"key": "claim", "value": 1, "etag": "2", "options": {"concurrency": "first-write"},
                            "metadata": {"ttlInSeconds": "-1"}}])
    check("ttlInSeconds -1 -> PERSIST", s.status == 204 and r.ttl(f"{APP_ID}||claim") == -1,
          f"{s.status} {r.ttl(f'{APP_ID}||claim')}")
    s = call("POST", url, [{"key": "claim", "value": 1, "etag": "3", "metadata": {"ttlInSeconds": 60}}])
    check("metadata values must be strings (Go map[string]string) -> 400 ERR_MALFORMED_REQUEST",
          s.status == 400 and b"ERR_MALFORMED_REQUEST" in s.body, f"{s.status} {s.body!r}")
    s1 = call("POST", url, [{"key": "plain", "value": "a"}])
    s2 = call("POST", url, [{"key": "plain", "value": "b"}])
    s3 = call("POST", url, [{"key": "plain", "value": "c", "etag": "0"}])
    check("a key never saved with first-write is overwritten without etag (and with etag '0')",
          (s1.status, s2.status, s3.status) == (204, 204, 204), (s1.status, s2.status, s3.status))
    check("  ... its value is the JSON string", call("GET", url + "/plain").body == b'"c"')
    s = call("POST", url, [{"key": "ttl-key", "value": "x", "metadata": {"ttlInSeconds": "100"}}])
    check("plain save with ttlInSeconds -> TTL set", s.status == 204 and 0 < r.ttl(f"{APP_ID}||ttl-key") <= 100)
    s = call("POST", url, [{"value": "x"}])
    check("missing key -> 400 \"key\" is a required field", s.status == 400 and b"required" in s.body, s.body)
    s = call("POST", url, b"{not json")
    check("malformed body -> 400 ERR_MALFORMED_REQUEST", s.status == 400 and b"ERR_MALFORMED_REQUEST" in s.body)
    s = call("POST", url, [{"key": "a||b", "value": 1}])
    check("key containing '||' -> 400", s.status == 400, s.status)
    s = call("POST", base + "/v1.0/state/nosuchstore", [{"key": "k", "value": 1}])
    check("unknown store -> 400 ERR_STATE_STORE_NOT_FOUND", s.status == 400 and s.json()["errorCode"] ==
          "ERR_STATE_STORE_NOT_FOUND", f"{s.status} {s.body!r}")
    s = call("POST", url, [{"key": "bulk-a", "value": 1}, {"key": "claim", "value": 2, "etag": "99",
                                                              "options": {"concurrency": "first-write"}}])
    check("multi-item save with one etag conflict -> 409", s.status == 409, f"{s.status} {s.body!r}")
    s = call("POST", base + "/v1.0/state/statestore-pod", [{"key": "k", "value": 1}])
    check("keyPrefix {podName} -> Redis key 'pod-1||k' (POD_NAME templating)",
          s.status == 204 and r.exists("pod-1||k") == 1, f"{s.status} {r.keys('*pod*')}")
    cb = base + "/v1.0/state/statestore-cb"
    s = call("POST", cb, [{"key": "c", "value": 1, "etag": "0", "options": {"concurrency": "first-write"}}])
    codes = [call("POST", cb, [{"key": "c", "value": 1, "etag": "0", "options": {"concurrency": "first-write"}}]).status
             for _ in range(5)]
    g = call("GET", cb + "/anything")
    check("circuit breaker (trip consecutiveFailures >= 5): five 409 etag conflicts open it; the next call fails "
          "fast with 500 'circuit breaker is open'",
          s.status == 204 and codes == [409] * 5 and g.status == 500 and b"circuit breaker is open" in g.body,
          f"{s.status} {codes} {g.status} {g.body!r}")
    d = call("DELETE", url + "/claim", headers={"If-Match": "1"})
    check("DELETE with a stale If-Match -> 409", d.status == 409, d.status)
    d = call("DELETE", url + "/claim")
    check("DELETE without If-Match -> 204 and the key is gone",
          d.status == 204 and r.exists(f"{APP_ID}||claim") == 0, d.status)
    s = call("POST", url, [{"key": "k", "value": 1}], token=None)
    check("state call without dapr-api-token -> 401 'invalid api token'",
          s.status == 401 and s.body == b"invalid api token\n", f"{s.status} {s.body!r}")
    s = call("POST", url, [{"key": "k", "value": 1}], token="wrong")
    check("state call with a wrong token -> 401", s.status == 401)
    st = call("GET", base + "/standin/stats", token=None).json()
    check("stats: state_saves counts 409/500/400 refusals",
          st["state_saves"].get("409", 0) >= 2 and st["state_saves"].get("500", 0) >= 2
          and st["state_saves"].get("400", 0) >= 1, st["state_saves"])
    ref = [x for x in st["state_save_refusals"] if x["key"] == "claim"]
    check("stats: state_save_refusals records key/status/etag/concurrency/reason",
          any(x["status"] == 500 and x["etag"] is None and "failed to set key" in x["reason"] for x in ref)
          and any(x["status"] == 409 and x["etag"] == "0" and x["concurrency"] == "first-write" for x in ref),
          ref[:3])
    kinds = st["state_save_refusal_kinds"]
    check("stats: state_save_refusal_kinds counts every refusal, first-write claims apart",
          kinds["first_write_claim_409"] >= 6 and kinds["other"] >= 3, kinds)
    check("stats: breakers_opened counts the statestore-cb breaker opening",
          any(v >= 1 and "statestore-cb" in k for k, v in st["breakers_opened"].items()), st["breakers_opened"])


def publish_checks(r, base):
    print("publish")
    url = base + "/v1.0/publish/pubsub/orders"
    p = call("POST", url + "?metadata.cloudevent.id=evt-json&metadata.cloudevent.subject=task-42"
             "&metadata.cloudevent.type=com.taskflow.test.v1&metadata.partitionKey=user-1",
             {"event_id": "evt-json", "n": 12345678901234567890},
             headers={"Content-Type": "application/json",
                      "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    check("publish application/json -> 204", p.status == 204, f"{p.status} {p.body!r}")
    entries = r.xrange("orders")
    check("stream 'orders' got one XADD entry with fields data + metadata",
          len(entries) == 1 and set(entries[0][1]) == {b"data", b"metadata"}, entries)
    if entries:
        md = json.loads(entries[0][1][b"metadata"])
        check("stream metadata field is the publish metadata as JSON",
              md == {"cloudevent.id": "evt-json", "cloudevent.subject": "task-42",
                     "cloudevent.type": "com.taskflow.test.v1", "partitionKey": "user-1"}, md)
        raw = entries[0][1][b"data"]
        check("envelope keeps the big integer exactly (UseNumber)", b"12345678901234567890" in raw, raw[:200])
    got = wait_until(lambda: [q for q in APP.find("POST", "/events/orders")
                              if json.loads(q["body"]).get("id") == "evt-json"])
    check("app received the application/json event", bool(got))
    if got:
        ce = json.loads(got[0]["body"])
        hd = got[0]["headers"]
        check("envelope id from metadata.cloudevent.id", ce["id"] == "evt-json")
        check("metadata.cloudevent.subject is IGNORED by daprd 1.16 (no subject)", "subject" not in ce, ce)
        check("type override honoured, source = app id, specversion 1.0",
              ce["type"] == "com.taskflow.test.v1" and ce["source"] == APP_ID and ce["specversion"] == "1.0", ce)
        check("topic/pubsubname/datacontenttype set; data is the JSON object",
              ce["topic"] == "orders" and ce["pubsubname"] == "pubsub"
              and ce["datacontenttype"] == "application/json" and ce["data"]["event_id"] == "evt-json", ce)
        check("traceparent continues the caller's trace; traceid == traceparent",
              ce["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-") and ce["traceid"] == ce["traceparent"]
              and "tracestate" in ce and "time" in ce, ce)
        check("delivery: Content-Type application/cloudevents+json, dapr-api-token, traceparent header",
              hd.get("content-type") == "application/cloudevents+json" and hd.get("dapr-api-token") == APP_TOKEN
              and hd.get("traceparent", "").startswith("00-0af7651916cd43dd8448eb211c80319c-"), hd)
        check("delivery: publish metadata arrives as headers (pubsubname, partitionkey)",
              hd.get("pubsubname") == "pubsub" and hd.get("partitionkey") == "user-1", hd)

    envelope = {"specversion": "1.0", "id": "evt-ce", "source": "backend-api", "type": "com.taskflow.task.created.v1",
                "subject": "task-7", "tenant": "acme", "topic": "spoofed", "datacontenttype": "application/json",
                "data": {"k": "v"}}
    p = call("POST", url, envelope, headers={"Content-Type": "application/cloudevents+json"})
    check("publish application/cloudevents+json -> 204", p.status == 204, f"{p.status} {p.body!r}")
    got = wait_until(lambda: [q for q in APP.find("POST", "/events/orders")
                              if json.loads(q["body"]).get("id") == "evt-ce"])
    if got:
        ce = json.loads(got[0]["body"])
        check("cloudevents+json: subject and extension attributes kept, source/type kept",
              ce.get("subject") == "task-7" and ce.get("tenant") == "acme" and ce["source"] == "backend-api"
              and ce["type"] == "com.taskflow.task.created.v1", ce)
        check("cloudevents+json: topic/pubsubname overwritten, traceid+traceparent added, time added",
              ce["topic"] == "orders" and ce["pubsubname"] == "pubsub" and ce.get("traceid")
              and ce.get("traceparent") == ce.get("traceid") and "time" in ce, ce)
    else:
        check("app received the cloudevents+json event", False)

    p = call("POST", url, b"hello world")
    got = wait_until(lambda: [q for q in APP.find("POST", "/events/orders")
                              if json.loads(q["body"]).get("data") == "hello world"])
    check("publish without Content-Type: datacontenttype text/plain and data is a string",
          p.status == 204 and got and json.loads(got[0]["body"])["datacontenttype"] == "text/plain",
          f"{p.status} {got[:1]}")
    p = call("POST", url, b"\x00\x01binary", headers={"Content-Type": "application/octet-stream"})
    got = wait_until(lambda: [q for q in APP.find("POST", "/events/orders") if "data_base64" in json.loads(q["body"])])
    check("application/octet-stream -> data_base64", p.status == 204 and bool(got))
    p = call("POST", base + "/v1.0/publish/pubsub/forbidden-topic", {"a": 1}, headers={"Content-Type": "application/json"})
    check("topic outside this app's publishingScopes -> 403 ERR_PUBSUB_FORBIDDEN",
          p.status == 403 and p.json()["errorCode"] == "ERR_PUBSUB_FORBIDDEN", f"{p.status} {p.body!r}")
    p = call("POST", base + "/v1.0/publish/pubsub/not-in-allowed", {"a": 1}, headers={"Content-Type": "application/json"})
    check("topic outside allowedTopics -> 403", p.status == 403, p.status)
    p = call("POST", base + "/v1.0/publish/nosuch/orders", {"a": 1}, headers={"Content-Type": "application/json"})
    check("unknown pubsub -> 404 ERR_PUBSUB_NOT_FOUND",
          p.status == 404 and p.json()["errorCode"] == "ERR_PUBSUB_NOT_FOUND", f"{p.status} {p.body!r}")
    p = call("POST", url, {"a": 1}, headers={"Content-Type": "application/json"}, token=None)
    check("publish without dapr-api-token -> 401", p.status == 401 and p.body == b"invalid api token\n", p.status)
    p = call("POST", url + "?metadata.rawPayload=maybe", {"a": 1}, headers={"Content-Type": "application/json"})
    check("malformed metadata.rawPayload -> 400 ERR_PUBSUB_REQUEST_METADATA",
          p.status == 400 and p.json()["errorCode"] == "ERR_PUBSUB_REQUEST_METADATA", f"{p.status} {p.body!r}")
    p = call("POST", url, b"[1,2]", headers={"Content-Type": "application/cloudevents+json"})
    check("cloudevents+json body that is not an object -> 500 ERR_PUBSUB_CLOUD_EVENTS_SER",
          p.status == 500 and p.json()["errorCode"] == "ERR_PUBSUB_CLOUD_EVENTS_SER", f"{p.status} {p.body!r}")
    g = call("GET", base + "/v1.0/invoke/x/method/y")
    check("routes outside the publish+state allow-list -> 404", g.status == 404, g.status)
    st = call("GET", base + "/standin/stats", token=None).json()
    check("stats: published / publish_refused counted",
          st["published"].get("orders", 0) >= 4 and st["publish_refused"].get("403", 0) >= 2
          and st["publish_refused"].get("401", 0) >= 1, (st["published"], st["publish_refused"]))


def bulk_publish_checks(r, base):
    """daprd 1.16's bulk publish (pkg/api/http/http.go onBulkPublish), as the outbox relay uses it."""
    print("bulk publish")
    import standin_config
    only_v1 = standin_config.ApiAccess(standin_config.ApiAccess.rules(
        [{"name": "publish", "version": "v1.0", "protocol": "http"}]), {})
    check("an allow-list rule {publish, v1.0} does NOT admit bulk publish (endpoint.go IsAllowed)",
          only_v1.endpoint_allowed("publish", "v1.0/publish/{pubsubname}/*")
          and not only_v1.endpoint_allowed("publish", "v1.0-alpha1/publish/bulk/{pubsubname}/*", "v1alpha1"))
    url = base + "/v1.0-alpha1/publish/bulk/pubsub/orders"
    before = len(r.xrange("orders"))
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    entries = [{"entryId": str(i), "contentType": "application/cloudevents+json",
                "metadata": {"partitionKey": f"user-{i % 2}"},
                "event": {"specversion": "1.0", "id": f"bulk-{i}", "source": "backend-api",
                          "type": "com.taskflow.task.created.v1", "subject": f"task-{i}", "traceparent": tp, "traceid": tp,
                          "datacontenttype": "application/json", "data": {"n": i}}} for i in range(6)]
    p = call("POST", url + "?metadata.ttlInSeconds=3600", entries, headers={"Content-Type": "application/json"})
    check("bulk publish of 6 cloudevents+json entries -> 204, empty body", p.status == 204 and p.body == b"",
          f"{p.status} {p.body!r}")
    added = r.xrange("orders")[before:]
    check("one XADD per entry", len(added) == 6, len(added))
    mds = [json.loads(e[1][b"metadata"]) for e in added if b"metadata" in e[1]]
    check("entry metadata merged with the request's (entry keys win)",
          len(mds) == 6 and all(m.get("ttlInSeconds") == "3600" and m.get("partitionKey", "").startswith("user-")
                                for m in mds), mds[:2])
    got = wait_until(lambda: (lambda ids: ids if all(f"bulk-{i}" in ids for i in range(6)) else None)(
        _ids("/events/orders")))
    check("the app received all 6 bulk-published events", bool(got))
    ces = {json.loads(q["body"]).get("id"): json.loads(q["body"]) for q in APP.find("POST", "/events/orders")}
    ce = ces.get("bulk-3") or {}
    check("bulk envelope: id/source/type/subject kept, the entry's traceid+traceparent kept, topic set, "
          "expiration from ttl",
          ce.get("source") == "backend-api" and ce.get("subject") == "task-3" and ce.get("traceparent") == tp
          and ce.get("topic") == "orders" and ce.get("data") == {"n": 3} and "expiration" in ce, ce)

    before = len(r.xrange("orders"))
    p = call("PUT", url + "?metadata.partitionKey=from-request",
             [{"entryId": "a", "contentType": "text/plain", "event": "plain"}], headers={"Content-Type": "application/json"})
    added = r.xrange("orders")[before:]
    check("PUT works too; an entry without metadata gets NONE of the request's (http.go)",
          p.status == 204 and len(added) == 1 and b"metadata" not in added[0][1], (p.status, added))
    plain = json.loads(added[0][1][b"data"]) if added else {}
    check("an entry without a trace of its own gets a producer span of the request's trace",
          plain.get("data") == "plain" and plain.get("traceparent", "").startswith("00-")
          and plain.get("traceparent") == plain.get("traceid"), plain)

    def refused(body, raw=False):
        q = call("POST", url, body if raw else body, headers={"Content-Type": "application/json"})
        return q.status, (q.json() if q.body.startswith(b"{") else {})

    st, js = refused([{"entryId": "x", "contentType": "application/json", "event": 1},
                      {"entryId": "x", "contentType": "application/json", "event": 2}])
    check("duplicate entryId -> 400 ERR_PUBSUB_EVENTS_SER (DAPR_PUBSUB_MARSHAL_EVENTS)",
          st == 400 and js.get("errorCode") == "ERR_PUBSUB_EVENTS_SER"
          and any(d.get("reason") == "DAPR_PUBSUB_MARSHAL_EVENTS" for d in js.get("details", [])), (st, js))
    st, js = refused([{"contentType": "application/json", "event": 1}])
    check("missing entryId -> 400", st == 400 and js.get("errorCode") == "ERR_PUBSUB_EVENTS_SER", (st, js))
    st, js = refused({"entryId": "1", "event": 1})
    check("a body that is not a list -> 400 (DAPR_PUBSUB_UNMARSHAL_EVENTS)",
          st == 400 and any(d.get("reason") == "DAPR_PUBSUB_UNMARSHAL_EVENTS" for d in js.get("details", [])), (st, js))
    st, js = refused([{"entryId": "1", "contentType": "text/plain", "event": {"not": "a string"}}])
    check("event not matching its contentType -> 400 (DAPR_PUBSUB_MARSHAL_ENVELOPE)",
          st == 400 and any(d.get("reason") == "DAPR_PUBSUB_MARSHAL_ENVELOPE" for d in js.get("details", [])), (st, js))
    st, js = refused([{"entryId": "1", "contentType": "application/x-unknown", "event": "x"}])
    check("an unknown contentType -> 400", st == 400, (st, js))
    q = call("POST", base + "/v1.0-alpha1/publish/bulk/pubsub/forbidden-topic",
             [{"entryId": "1", "contentType": "application/json", "event": {}}], headers={"Content-Type": "application/json"})
    check("bulk to a topic outside publishingScopes -> 403 ERR_PUBSUB_FORBIDDEN",
          q.status == 403 and q.json().get("errorCode") == "ERR_PUBSUB_FORBIDDEN", (q.status, q.body[:200]))
    q = call("POST", base + "/v1.0-alpha1/publish/bulk/nosuch/orders", [], headers={"Content-Type": "application/json"})
    check("bulk to an unknown pubsub -> 404 ERR_PUBSUB_NOT_FOUND",
          q.status == 404 and q.json().get("errorCode") == "ERR_PUBSUB_NOT_FOUND", (q.status, q.body[:200]))
    q = call("POST", base + "/v1.0/publish/bulk/pubsub/orders", {}, headers={"Content-Type": "application/json"})
    check("/v1.0/publish/bulk/... is the v1.0 route with a pub/sub named 'bulk' -> 404 ERR_PUBSUB_NOT_FOUND",
          q.status == 404 and q.json().get("errorCode") == "ERR_PUBSUB_NOT_FOUND", (q.status, q.body[:200]))
    q = call("GET", url)
    check("GET on the bulk route -> 405", q.status == 405, q.status)
    q = call("POST", url, [], headers={"Content-Type": "application/json"}, token=None)
    check("bulk without dapr-api-token -> 401", q.status == 401, q.status)

    # Every entry fails at the component (the stream key holds a string: WRONGTYPE from XADD).
    r.set("bulk-broken", "not a stream")
    q = call("POST", base + "/v1.0-alpha1/publish/bulk/pubsub/bulk-broken",
             [{"entryId": e, "contentType": "application/json", "event": {"e": e}} for e in ("p", "q")],
             headers={"Content-Type": "application/json"})
    body = q.json() if q.body.startswith(b"{") else {}
    failed = sorted(f.get("entryId") for f in body.get("failedEntries", []))
    check("component failure -> 500 {failedEntries:[{entryId,error}], errorCode: ERR_PUBSUB_PUBLISH_MESSAGE}",
          q.status == 500 and failed == ["p", "q"] and body.get("errorCode") == "ERR_PUBSUB_PUBLISH_MESSAGE"
          and all(f.get("error") for f in body["failedEntries"]), (q.status, q.body[:300]))
    check("the failure also comes as metadata.responseData / metadata.error headers",
          q.headers.get("Metadata.responsedata") == q.body.decode() and bool(q.headers.get("Metadata.error")),
          dict(q.headers))
    r.delete("bulk-broken")


def _ids(path, topic=None):
    out = []
    for q in APP.find("POST", path):
        try:
            ce = json.loads(q["body"])
        except ValueError:
            continue
        if topic is None or ce.get("topic") == topic:
            out.append(ce.get("id"))
    return out


def pel(r, stream, group=APP_ID):
    try:
        return r.xpending(stream, group)["pending"]
    except redis.ResponseError:
        return -1


def delivery_checks(r, base):
    print("delivery")
    pub = lambda topic, eid: call("POST", f"{base}/v1.0/publish/pubsub/{topic}?metadata.cloudevent.id={eid}",  # noqa: E731
                                  {"id": eid}, headers={"Content-Type": "application/json"})
    for topic, eid in [("orders", "twice-1"), ("retry-topic", "retry-1"), ("err-topic", "err-1"),
                       ("nf-topic", "nf-1"), ("drop-topic", "drop-1"), ("drop-nodlq", "dropnodlq-1"),
                       ("empty-topic", "empty-1"), ("odd-topic", "odd-1"), ("lower-topic", "lower-1")]:
        p = pub(topic, eid)
        if p.status != 204:
            check(f"publish {topic}", False, f"{p.status} {p.body!r}")
    check("every message is delivered twice (duplicates on)",
          wait_until(lambda: _ids("/events/orders").count("twice-1") == 2), _ids("/events/orders").count("twice-1"))
    time.sleep(0.5)
    check("  ... and not a third time", _ids("/events/orders").count("twice-1") == 2)
    # RETRY: 1 attempt + maxRetries 2 = 3 POSTs per delivery run, 2 runs (duplicate)
    ok = wait_until(lambda: _ids("/events/retry").count("retry-1") == 6, timeout=10)
    check("RETRY is retried under the inbound policy (constant 100ms, maxRetries 2): 3 attempts x 2 deliveries",
          ok, _ids("/events/retry").count("retry-1"))
    check("  ... then dead-lettered: the dlq route receives the original envelope (topic retry-topic)",
          wait_until(lambda: "retry-1" in _ids("/events/dlq", "retry-topic")))
    ok = wait_until(lambda: _ids("/events/err").count("err-1") == 6, timeout=10)
    check("HTTP 500 is retried under the policy: 3 attempts x 2 deliveries", ok, _ids("/events/err").count("err-1"))
    check("  ... then dead-lettered", wait_until(lambda: "err-1" in _ids("/events/dlq", "err-topic")))
    time.sleep(1.0)
    check("HTTP 404 is not retried: 1 attempt per delivery", _ids("/events/nf").count("nf-1") == 2,
          _ids("/events/nf").count("nf-1"))
    check("  ... acked (no pending entry) and NOT dead-lettered",
          pel(r, "nf-topic") == 0 and "nf-1" not in _ids("/events/dlq"), (pel(r, "nf-topic"), _ids("/events/dlq")))
    check("DROP: no retry (1 attempt per delivery)", _ids("/events/drop").count("drop-1") == 2,
          _ids("/events/drop").count("drop-1"))
    check("DROP with a deadLetterTopic -> dead-lettered (subscription.go: ErrMessageDropped -> sendToDeadLetter)",
          wait_until(lambda: "drop-1" in _ids("/events/dlq", "drop-topic")))
    check("DROP without a deadLetterTopic -> acked, nothing else",
          pel(r, "drop-nodlq") == 0 and "dropnodlq-1" not in _ids("/events/dlq"), pel(r, "drop-nodlq"))
    check("200 with an empty body -> acked", _ids("/events/empty").count("empty-1") == 2 and pel(r, "empty-topic") == 0,
          (_ids("/events/empty"), pel(r, "empty-topic")))
    check("200 with a non-JSON body -> acked", _ids("/events/odd").count("odd-1") == 2 and pel(r, "odd-topic") == 0,
          (_ids("/events/odd"), pel(r, "odd-topic")))
    ok = wait_until(lambda: _ids("/events/lower").count("lower-1") == 6, timeout=10)
    check("200 with an UNKNOWN status value ({\"status\":\"success\"}) is retried, not acked (3 x 2 attempts)",
          ok, _ids("/events/lower").count("lower-1"))
    check("  ... and with no deadLetterTopic the message stays pending (redelivered after processingTimeout)",
          wait_until(lambda: pel(r, "lower-topic") == 1, 5), pel(r, "lower-topic"))
    for t in ("orders", "retry-topic", "err-topic", "drop-topic"):
        check(f"stream {t}: nothing left pending in group {APP_ID}", wait_until(lambda: pel(r, t) == 0, 5), pel(r, t))
    dlq_entries = r.xrange("dlq")
    md = [json.loads(e[1][b"metadata"]) for e in dlq_entries]
    check("dead letters are XADDed to the dlq stream with the original metadata plus pubsubName",
          md and all(m.get("pubsubName") == "pubsub" for m in md), md[:2])
    st = call("GET", base + "/standin/stats", token=None).json()
    d = st["deliveries"]
    check("stats: deliveries counters", d["RETRY"] >= 6 and d["status_other_retried"] >= 6 and d["DROP"] >= 4
          and d["status_404_acked"] >= 2 and d["empty_or_unknown_body_acked"] >= 4 and d["SUCCESS"] >= 2, d)
    check("stats: duplicates_sent and dead_lettered", st["duplicates_sent"] >= 8 and st["dead_lettered"] >= 6,
          (st["duplicates_sent"], st["dead_lettered"]))
    # A topic outside subscriptionScopes is not subscribed (subscription.go New -> not allowed)
    p = pub("not-subscribable", "nosub-1")
    time.sleep(1.0)
    check("a subscription outside subscriptionScopes is refused (no consumer group, no delivery)",
          p.status == 204 and "nosub-1" not in _ids("/events/orders") and pel(r, "not-subscribable") == -1,
          (p.status, pel(r, "not-subscribable")))
    # processingTimeout bounds the dead-letter publish (pubsub/redis processMessage context):
    # retries (6 x 500ms) outlast processingTimeout (1.5s) -> the DLQ publish fails, the message
    # stays pending and is reclaimed and delivered again.
    p = call("POST", f"{base}/v1.0/publish/pubsub-slow/slow-topic?metadata.cloudevent.id=slow-1", {"x": 1},
             headers={"Content-Type": "application/json"})
    check("publish to pubsub-slow", p.status == 204, f"{p.status} {p.body!r}")
    n_runs = wait_until(lambda: _ids("/events/slow").count("slow-1") >= 21, timeout=20)
    check("retries outlasting processingTimeout: dead-letter publish fails and the message is redelivered "
          "(more than the 2 x 7 attempts of two delivery runs)", n_runs, _ids("/events/slow").count("slow-1"))
    check("  ... never dead-lettered, still pending", r.xlen("slow-dlq") == 0 and pel(r, "slow-topic", "selftest") >= 1,
          (r.xlen("slow-dlq") if r.exists("slow-dlq") else 0, pel(r, "slow-topic", "selftest")))


def cron_checks(base):
    print("cron")
    ticks = wait_until(lambda: len(APP.find("POST", "/reminder-cron")) >= 2, timeout=6)
    check("cron (direction: input) ticks: POST /reminder-cron", ticks)
    reqs = APP.find("POST", "/reminder-cron")
    check("cron ticks have an EMPTY body, Content-Type application/json, the token",
          reqs and all(q["body"] == b"" and q["headers"].get("content-type") == "application/json"
                       and q["headers"].get("dapr-api-token") == APP_TOKEN for q in reqs), reqs[:1])
    check("cron ticks carry the binding metadata headers (timezone, readtimeutc)",
          reqs and reqs[0]["headers"].get("timezone") == "Local" and "UTC" in reqs[0]["headers"].get("readtimeutc", ""))
    check("direction: input -> NO OPTIONS probe", not APP.find("OPTIONS", "/reminder-cron"))
    check("no direction -> OPTIONS /probe-cron probe, 200 -> ticks",
          APP.find("OPTIONS", "/probe-cron") and wait_until(lambda: APP.find("POST", "/probe-cron"), timeout=4))
    check("no direction, OPTIONS answered 404 -> not subscribed, no ticks",
          APP.find("OPTIONS", "/unsub-cron") and not APP.find("POST", "/unsub-cron"))
    st = call("GET", base + "/standin/stats", token=None).json()
    check("stats: cron_ticks by status", st["cron_ticks"].get("200", 0) >= 2, st["cron_ticks"])



def invoke_checks(base, caller_base):
    """Service invocation: caller stand-in -> this stand-in's internal API -> the app
    (directmessaging.go, direct_messaging.go, daprinternal.go, acl.go, http_channel.go)."""
    print("invoke")
    ok = wait_until(lambda: _try(lambda: call("GET", caller_base + "/v1.0/healthz", token=None).status == 204))
    check("the caller stand-in is up", ok)
    inv = caller_base + "/v1.0/invoke/" + APP_ID + "/method"
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    before = len(APP.requests)
    res = call("PATCH", inv + "/inv/echo/a%20b?x=1&y=two%2F", body=b'{"title":"t"}', token=CALLER_DAPR_TOKEN,
               headers={"Content-Type": "application/json", "Authorization": "Bearer user-jwt",
                        "If-Match": '"v6"', "X-Custom": "kept", "traceparent": tp, "Keep-Alive": "timeout=5"})
    echo = res.json() if res.status == 200 else {}
    h = echo.get("headers", {})
    check("invoke: the app's status, body and headers come back (200, ETag, X-Request-Id)",
          res.status == 200 and res.headers.get("ETag") == '"v7"'
          and res.headers.get("X-Request-Id") == "app-request-id"
          and res.headers.get("Content-Type") == "application/json", f"{res.status} {dict(res.headers)}")
    check("invoke: method, path (decoded then re-escaped), query and body reach the app",
          echo.get("method") == "PATCH" and echo.get("path") == "/inv/echo/a%20b?x=1&y=two%2F"
          and echo.get("body") == '{"title":"t"}', echo)
    check("invoke: request headers reach the app (Authorization, If-Match, X-Custom, Content-Type)",
          h.get("authorization") == "Bearer user-jwt" and h.get("if-match") == '"v6"'
          and h.get("x-custom") == "kept" and h.get("content-type") == "application/json", h)
    # HTTPHeadersToInternalMetadata copies every header; net/http keeps all but Host and
    # Transfer-Encoding out of r.Header, so daprd forwards hop-by-hop headers such as Keep-Alive.
    check("invoke: hop-by-hop headers are forwarded as daprd forwards them (Keep-Alive)",
          h.get("keep-alive") == "timeout=5", h.get("keep-alive"))
    check("invoke: the caller's dapr-api-token is stripped, the TARGET app's APP_API_TOKEN added",
          h.get("dapr-api-token") == APP_TOKEN, h.get("dapr-api-token"))
    check("invoke: dapr-caller-app-id, dapr-caller-namespace, dapr-callee-app-id; no destination-app-id",
          h.get("dapr-caller-app-id") == CALLER_ID and h.get("dapr-caller-namespace") == "default"
          and h.get("dapr-callee-app-id") == APP_ID and "destination-app-id" not in h, h)
    check("invoke: X-Forwarded-Host and Forwarded added", h.get("x-forwarded-host") and "host=" in h.get("forwarded", ""), h)
    app_tp = h.get("traceparent", "")
    check("invoke: the app's traceparent continues the caller's trace with a span of its own",
          app_tp.split("-")[1:2] == [tp.split("-")[1]] and app_tp.split("-")[2] != tp.split("-")[2], app_tp)
    check("invoke: the response carries the caller sidecar's traceparent (same trace)",
          res.headers.get("traceparent", "").split("-")[1:2] == [tp.split("-")[1]], res.headers.get("traceparent"))
    res = call("GET", inv + "/inv/echo", token=None)
    check("invoke: without the CALLER's dapr-api-token -> 401 from its sidecar", res.status == 401, res.status)
    res = call("POST", caller_base + "/inv/echo", body=b"x", token=CALLER_DAPR_TOKEN,
               headers={"dapr-app-id": APP_ID, "Content-Type": "text/plain"})
    check("invoke: dapr-app-id header + the method as the path -> 201, the header not forwarded",
          res.status == 201 and "dapr-app-id" not in res.json()["headers"], f"{res.status} {res.body[:200]!r}")
    seen = len(APP.requests)
    res = call("GET", inv + "/inv/admin/users", token=CALLER_DAPR_TOKEN)
    body = res.json() if res.headers.get("Content-Type") == "application/json" else {}
    check("invoke: ACL deny (GET /inv/admin/**) -> 403 ERR_DIRECT_INVOKE, PermissionDenied, the SPIFFE id",
          res.status == 403 and body.get("errorCode") == "ERR_DIRECT_INVOKE"
          and "code = PermissionDenied" in body.get("message", "")
          and "spiffe://public/ns/default/caller operation: inv/admin/users verb: GET" in body.get("message", ""),
          f"{res.status} {res.body!r}")
    res2 = call("DELETE", inv + "/inv/admin/users", token=CALLER_DAPR_TOKEN)
    # acl_trie.go: the most specific operation matches (/inv/admin/**), and a verb it does not list
    # gets the app policy's defaultAction (deny) - /inv/** with "*" is NOT consulted.
    check("invoke: ACL - a verb the matched operation does not list gets the policy default (DELETE -> 403)",
          res2.status == 403 and b"operation: inv/admin/users verb: DELETE" in res2.body, f"{res2.status} {res2.body!r}")
    res3 = call("GET", inv + "/inv/../outside", token=CALLER_DAPR_TOKEN)
    check("invoke: ACL deny outside the policy (`inv/../outside` normalised to `outside`) -> 403",
          res3.status == 403 and b"operation: outside verb: GET" in res3.body, f"{res3.status} {res3.body!r}")
    check("invoke: denied calls never reached the app",
          not [q for q in APP.requests[seen:] if q["path"].startswith("/inv/admin") or q["path"].startswith("/outside")])
    res = call("GET", inv + "/inv/status/418", token=CALLER_DAPR_TOKEN)
    check("invoke: a 4xx of the app comes back with its body, content type and headers",
          res.status == 418 and res.body == b"status 418" and res.headers.get("Content-Type") == "text/plain"
          and res.headers.get("X-App") == "yes", f"{res.status} {res.body!r} {dict(res.headers)}")
    res = call("GET", inv + "/inv/status/503", token=CALLER_DAPR_TOKEN)
    check("invoke: a 5xx of the app comes back unchanged (not daprd's error body)",
          res.status == 503 and res.body == b"status 503", f"{res.status} {res.body!r}")
    res = call("GET", caller_base + "/v1.0/invoke/nobody/method/inv/echo", token=CALLER_DAPR_TOKEN)
    check("invoke: an unknown app id -> 500 ERR_DIRECT_INVOKE couldn't find service",
          res.status == 500 and res.json() == {"errorCode": "ERR_DIRECT_INVOKE",
                                               "message": "failed to invoke, id: nobody, err: couldn't find service: nobody"},
          f"{res.status} {res.body!r}")
    started = time.time()
    res = call("GET", caller_base + "/v1.0/invoke/ghost/method/inv/echo", token=CALLER_DAPR_TOKEN)
    took = time.time() - started
    check("invoke: a target sidecar that is down -> 500 ERR_DIRECT_INVOKE after 3 retries 1 s apart",
          res.status == 500 and res.json().get("errorCode") == "ERR_DIRECT_INVOKE"
          and "after 3 retries" in res.json().get("message", "") and "Unavailable" in res.json().get("message", "")
          and took >= 2.9, f"{res.status} {res.body!r} in {took:.1f}s")
    seen = len(APP.requests)
    res = call("GET", inv + "/inv/sse", token=CALLER_DAPR_TOKEN, headers={"Accept": "text/event-stream"})
    check("invoke: an SSE request (Accept: text/event-stream) reaches the app but fails 500 on the remote path",
          res.status == 500 and b"no response received from stream" in res.body
          and any(q["path"] == "/inv/sse" for q in APP.requests[seen:]), f"{res.status} {res.body!r}")
    res = call("GET", caller_base + "/v1.0/state/statestore/k", token=CALLER_DAPR_TOKEN)
    check("invoke-only sidecar: /v1.0/state/... falls back to invocation -> 404 ERR_DIRECT_INVOKE (no app id)",
          res.status == 404 and res.json().get("errorCode") == "ERR_DIRECT_INVOKE", f"{res.status} {res.body!r}")
    res = call("GET", base + "/v1.0/invoke/caller/method/x")
    check("publish+state sidecar: /v1.0/invoke/... is chi's 404 (no invoke API)",
          res.status == 404 and res.body == b"404 page not found\n", f"{res.status} {res.body!r}")
    st = call("GET", caller_base + "/standin/stats", token=None).json()["invoke"]
    check("stats: the caller counts the calls it sent by status", st["sent"].get("200", 0) >= 1
          and st["sent"].get("403", 0) >= 2 and st["sent"].get("500", 0) >= 3, st)
    st = call("GET", base + "/standin/stats", token=None).json()["invoke"]
    check("stats: the target counts the calls it received", st["received"].get("200", 0) >= 1
          and st["received"].get("PermissionDenied", 0) >= 2 and not st["sent"], st)
    check("invoke: the app got every forwarded call", len(APP.requests) > before)

if __name__ == "__main__":
    main()
