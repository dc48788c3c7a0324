"""HTTP service invocation for the daprd stand-in, as daprd 1.16.19 codes it.

Why a module of its own: invocation is two halves in two processes.  The CALLER's sidecar answers
``/v1.0/invoke/{app}/method/{method}`` (pkg/api/http/directmessaging.go onDirectMessage) and sends
the call to the TARGET's sidecar (pkg/messaging/direct_messaging.go invokeRemote, over daprd's
internal gRPC API); the TARGET's sidecar applies its access-control policy and calls its app
(pkg/api/grpc/daprinternal.go CallLocalStream, pkg/channel/http/http_channel.go).  This module holds
both halves and the name resolution that links them (the Configuration they read, ``spec.api`` and
``spec.accessControl``, is standin_config.py's); daprd_standin.py wires them to its two listeners.

Every rule names the Dapr file it comes from (dapr/dapr at v1.16.19 unless said otherwise; read them
with ``git -C <mirror> show v1.16.19:<path>``).  Where the stand-in cannot be daprd:

* Name resolution: no mDNS / Kubernetes DNS.  An explicit registry (``--resolve APP_ID=HOST:PORT``,
  repeatable; several addresses for one id are picked at random, as ResolverMulti's Pick) maps an
  app id to the target stand-in's internal port.  An id not in it fails as the mDNS resolver fails
  (components-contrib nameresolution/mdns/mdns.go: ``couldn't find service: <id>``).
* The internal API is HTTP/1.1 carrying one JSON document each way instead of gRPC streams of
  protobuf chunks.  Nothing observable depends on the chunking: the target's app channel reads the
  app's WHOLE answer into memory (http_channel.go invokeMethodV1 copies it into an RWRecorder
  buffer) before the first chunk leaves, so a caller never sees a partial body early.
* Caller identity: real daprd takes it from the caller's mTLS certificate (SPIFFE id
  ``spiffe://<trustDomain>/ns/<namespace>/<appId>``, pkg/security/spiffe; acl.go
  ApplyAccessControlPolicies reads it from the gRPC peer).  The stand-ins run without mTLS, so the
  caller's sidecar ASSERTS its own app id, namespace and trust domain (its Configuration's
  ``accessControl.trustDomain``, default ``public``) in the request; the target applies its policy to
  that.  This is a test double's trust model, not a security boundary.
* Resiliency ``targets.apps`` policies are not read (TaskFlow has none); the built-in service retry
  (3 retries, 1 s apart, only on Unavailable/Unauthenticated) applies, as daprd does when no app
  policy exists (direct_messaging.go invokeWithRetry, resiliency.go BuiltInServiceRetries).
* HTTPEndpoint resources and ``http://`` target ids are not supported (refused with a log line).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import posixpath
import random
import socket
import time
import urllib.parse
from typing import Callable, Optional

from standin_config import ConfigError, Configuration

# -------------------------------------------------------------------------------------------------
# Caller side (pkg/api/http/directmessaging.go, pkg/messaging/direct_messaging.go)
# -------------------------------------------------------------------------------------------------

VERBS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")  # HTTPExtension_Verb


class InvokeError(Exception):
    """A gRPC status error ("rpc error: code = X desc = Y") or a plain Go error (code None)."""

    def __init__(self, code: Optional[str], message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def go_string(self) -> str:
        if self.code is None:
            return self.message
        return f"rpc error: code = {self.code} desc = {self.message}"


def go_clean(p: str) -> str:
    """Go path.Clean."""
    if p == "":
        return "."
    c = posixpath.normpath(p)
    if c.startswith("//"):
        c = "/" + c.lstrip("/")
    return c


def path_has_prefix(path: str, *parts: str) -> int:
    """directmessaging.go pathHasPrefix."""
    pl, ppl = len(path), len(parts)
    if pl == 0:
        return -1
    start = found = 0
    i = 0
    while i < pl:
        if path[i] != "/":
            if found >= ppl:
                return i
            i += 1
            continue
        if i - start > 0:
            if found < ppl and path[start:i] == parts[found]:
                found += 1
            else:
                return -1
        start = i + 1
        i += 1
    return i if found >= ppl else -1


def find_target(path: str, headers: list) -> tuple:
    """directmessaging.go findTargetIDAndMethod on the DECODED path: the dapr-app-id header (then
    removed), Basic auth "dapr-app-id:<id>", or /v1.0/invoke/<id>/method/<method>.  `headers` is a
    mutable list of (name, value)."""
    app_id = next((v for k, v in headers if k.lower() == "dapr-app-id"), "")
    if app_id:
        headers[:] = [(a, b) for a, b in headers if a.lower() != "dapr-app-id"]
        c = go_clean(path)
        return app_id, c[1:] if c.startswith("/") else c
    auth = next((v for k, v in headers if k.lower() == "authorization"), "")
    if auth.startswith("Basic "):
        try:
            pair = base64.b64decode(auth[len("Basic "):], validate=True).decode("utf-8", "replace").split(":")
        except ValueError:
            pair = []
        if len(pair) == 2 and pair[0].lower() == "dapr-app-id":
            c = go_clean(path)
            return pair[1], c[1:] if c.startswith("/") else c
    idx = path_has_prefix(path, "v1.0", "invoke")
    if idx > 0:
        rest = path[idx:]
        m = rest.find("/method/")
        if m > 0:
            target = rest[:m]
            method = go_clean(rest[m + len("/method/"):])
            if method == ".":
                method = ""
            try:
                unq = urllib.parse.unquote_plus(target, errors="strict")
            except UnicodeDecodeError:
                unq = ""
            return (unq or target), method
    return "", ""


def normalize_method(method: str) -> str:
    """pkg/messaging/method/normalize.go NormalizeMethod; raises InvokeError(InvalidArgument)."""
    for ch in "#?\x00":
        if ch in method:
            raise InvokeError("InvalidArgument", f"invalid method: method contains forbidden character: {json.dumps(method)}")
    for i, ch in enumerate(method):
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise InvokeError("InvalidArgument",
                              f"invalid method: method contains control character at position {i}: {json.dumps(method)}")
    c = go_clean(method)
    while c.startswith("../"):
        c = c[3:]
    if c in ("..", "."):
        c = ""
    return c


def host_address() -> str:
    """utils/host.go GetHostAddress: DAPR_HOST_IP, else the outbound IP of a UDP "dial"."""
    v = os.environ.get("DAPR_HOST_IP", "")
    if v:
        return v
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("8.8.8.8", 80))
            return s.getsockname()[0]
    except OSError:
        return ""


class Registry:
    """The stand-in's name resolution: app id -> ["host:port", ...] of target stand-ins."""

    def __init__(self, entries: list):
        self.table: dict = {}
        for e in entries or []:
            app, sep, addr = e.partition("=")
            if not sep or not app or ":" not in addr:
                raise ConfigError(f"--resolve {e!r}: expected APP_ID=HOST:PORT")
            self.table.setdefault(app, []).append(addr)

    def resolve(self, app_id: str) -> str:
        addrs = self.table.get(app_id)
        if not addrs:
            raise InvokeError(None, f"couldn't find service: {app_id}")
        return random.choice(addrs)


def go_url_error(verb: str, url: str, err: str) -> str:
    """net/url Error: `Get "http://…": <err>` (urlErrorOp: the method title-cased)."""
    return f'{verb[:1]}{verb[1:].lower()} "{url}": {err}'


def go_dial_error(host: str, port: int, e: OSError) -> str:
    if isinstance(e, ConnectionRefusedError):
        return f"dial tcp {host}:{port}: connect: connection refused"
    if isinstance(e, socket.timeout):
        return f"dial tcp {host}:{port}: i/o timeout"
    return f"dial tcp {host}:{port}: {e}"


def call_internal(address: str, envelope: dict, timeout: float = 300.0) -> dict:
    """One CallLocalStream on the target stand-in; an unreachable target is gRPC Unavailable."""
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    body = json.dumps(envelope).encode()
    try:
        try:
            conn.connect()
        except OSError as e:
            raise InvokeError("Unavailable", 'connection error: desc = "transport: Error while dialing: '
                              + go_dial_error(host, int(port), e) + '"') from None
        try:
            conn.request("POST", "/dapr.proto.internals.v1.ServiceInvocation/CallLocalStream", body=body,
                         headers={"Content-Type": "application/json", "Content-Length": str(len(body))})
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise InvokeError("Unavailable", f"error reading from server: {e}") from None
    finally:
        conn.close()
    doc = json.loads(raw)
    if "error" in doc:
        raise InvokeError(doc["error"]["code"], doc["error"]["message"])
    return doc


def invoke_with_retry(fn: Callable[[], dict], target: str, log) -> dict:
    """direct_messaging.go invokeWithRetry with the built-in policy (resiliency.go
    BuiltInServiceRetries: constant 1 s, 3 retries): only Unavailable / Unauthenticated are retried;
    the last error is wrapped as "failed to invoke target %s after %d retries"."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except InvokeError as e:
            if e.code not in ("Unavailable", "Unauthenticated"):
                raise
            if attempt >= 4:
                raise InvokeError(None, f"failed to invoke target {target} after {attempt - 1} retries. "
                                        f"Error: {e.go_string()}") from None
            log(f"invoke {target}: attempt {attempt} failed ({e.go_string()}); retrying in 1s")
            time.sleep(1.0)


# -------------------------------------------------------------------------------------------------
# Header conversions (pkg/messaging/v1/util.go, pkg/proto/internals/v1/service_invocation_additional.go)
# -------------------------------------------------------------------------------------------------

def canonical(k: str) -> str:
    """textproto.CanonicalMIMEHeaderKey (ASCII token keys)."""
    if not all(c.isalnum() or c == "-" for c in k):
        return k
    return "-".join(p[:1].upper() + p[1:].lower() for p in k.split("-"))


def metadata_add(md: list, key: str, values: list) -> None:
    """DaprInternalMetadata is a map of key -> values: an existing key gets the values appended."""
    for entry in md:
        if entry[0] == key:
            entry[1].extend(values)
            return
    md.append([key, list(values)])


def metadata_to_http_headers(md: list, span_tp: str) -> list:
    """util.go InternalMetadataToHTTPHeader: lower-cased names; traceparent/tracestate/grpc-trace-bin
    and destination-app-id and content-type and -bin keys skipped; grpc- / pseudo keys get "dapr-";
    then the trace headers: the metadata's traceparent when present, else the current span's."""
    out, tp, ts = [], "", ""
    for key, values in md:
        if not values:
            continue
        k = key.lower()
        if k == "traceparent":
            tp = values[0]
            continue
        if k == "tracestate":
            ts = values[0]
            continue
        if k in ("grpc-trace-bin", "destination-app-id"):
            continue
        if k == "baggage":
            out.append(("baggage", values[0]))
            continue
        if k.endswith("-bin") or k == "content-type":
            continue
        if k in (":method", ":scheme", ":path", ":authority"):
            k = "dapr-" + k[1:]
        elif k.startswith("grpc-"):
            k = "dapr-" + k
        for v in values:
            out.append((k, v))
    if tp:
        out.append(("traceparent", tp))
        if ts:
            out.append(("tracestate", ts))
    elif span_tp:
        out.append(("traceparent", span_tp))
    return out


def sniff_content_type(body: bytes) -> str:
    """net/http DetectContentType, reduced to what TaskFlow's apps can answer: text or binary."""
    try:
        text = body[:512].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    stripped = text.lstrip("\t\n\x0c\r ").lower()
    if stripped.startswith("<!doctype html") or stripped.startswith("<html"):
        return "text/html; charset=utf-8"
    return "text/plain; charset=utf-8"


# -------------------------------------------------------------------------------------------------
# The two halves
# -------------------------------------------------------------------------------------------------

class Reply:
    """What the caller's sidecar writes back: status, headers in order, the whole body."""

    def __init__(self, status: int, headers: list, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body


class Sidecar:
    """What invocation needs of one stand-in (filled in by daprd_standin.py)."""

    def __init__(self, app_id: str, app_host: str, app_port: int, api_token: str, app_token: str,
                 config: Configuration, registry: Registry, log, count, child_span):
        self.app_id = app_id
        self.app_host = app_host
        self.app_port = app_port
        self.api_token = api_token
        self.app_token = app_token
        self.config = config
        self.registry = registry
        self.log = log
        self.count = count  # count(direction, status-or-code)
        self.child_span = child_span
        # security.go CurrentNamespace: NAMESPACE, "default" only when it is not set at all.
        self.namespace = os.environ["NAMESPACE"] if "NAMESPACE" in os.environ else "default"
        self.host_address = host_address()
        self.host_name = socket.gethostname()


def error_reply(status: int, message: str) -> Reply:
    """messages.ErrDirectInvoke* JSONErrorValue, written by respondWithData (application/json)."""
    body = json.dumps({"errorCode": "ERR_DIRECT_INVOKE", "message": message}, separators=(",", ":"))
    # encoding/json escapes <, > and & (escapeHTML); json.dumps does not.
    body = body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Reply(status, [("Content-Type", "application/json")], body.encode())


def request_app_id_and_namespace(target: str, own_ns: str) -> tuple:
    """direct_messaging.go requestAppIDAndNamespace: "id" or "id.namespace"."""
    if target == "":
        raise InvokeError(None, "app id is empty")
    items = target.split(".")
    if len(items) == 1:
        return target, own_ns
    if len(items) == 2:
        return items[0], items[1]
    raise InvokeError(None, f"invalid app id {target}")


def on_direct_message(sc: Sidecar, method: str, path: str, query: str, headers: list, body: bytes,
                      server_span: str) -> Reply:
    """directmessaging.go onDirectMessage.  `path` is r.URL.Path (decoded), `headers` the request's
    after APITokenAuthMiddleware removed dapr-api-token (only when the sidecar has a token),
    `server_span` the traceparent of the HTTP server span the tracing middleware started."""
    headers = list(headers)
    target, meth = find_target(path, headers)
    if not target:
        return error_reply(404, "failed getting app id either from the URL path or the header dapr-app-id")
    verb = method.upper()
    ext_verb = verb if verb in VERBS else "POST"  # WithHTTPExtension: an unknown verb becomes POST
    md: list = []
    content_type = ""
    for k, v in headers:
        lk = k.lower()
        if lk in ("host", "transfer-encoding"):  # net/http keeps neither in r.Header
            continue
        if lk == "content-type" and not content_type:
            content_type = v
        metadata_add(md, canonical(k), [v])  # HTTPHeadersToInternalMetadata: every header
    try:
        res = _invoke(sc, target, meth, ext_verb, query, md, content_type, body, server_span)
    except InvokeError as e:
        # "Allowlist policies that are applied on the callee side can return a Permission Denied
        # error. For everything else, treat it as a gRPC transport error": 403, else 500.
        status = 403 if e.code == "PermissionDenied" else 500
        sc.count("sent", status)
        sc.log(f"invoke {target}/{meth}: {status} {e.go_string()}")
        return error_reply(status, f"failed to invoke, id: {target}, err: {e.go_string()}")
    status = int(res["status"])
    data = base64.b64decode(res["data"])
    out = metadata_to_http_headers(res["headers"], server_span)
    ct = res.get("content_type") or ""
    sc.count("sent", status)
    if status < 200 or status > 399:
        # codeError -> respondWithHTTPRawResponse: the app's body read in full, its content type or
        # application/json, a Content-Length when the app sent none.
        out = [(k, v) for k, v in out if k != "content-type"]
        out.append(("content-type", ct or "application/json"))
        if not any(k == "content-length" for k, _ in out):
            out.append(("content-length", str(len(data))))
        return Reply(status, out, data)
    if ct:
        out.append(("content-type", ct))
    elif data and verb != "HEAD":
        out.append(("content-type", sniff_content_type(data)))  # net/http sniffs on first Write
    return Reply(status, out, data)


def _invoke(sc: Sidecar, target: str, meth: str, verb: str, query: str, md: list, content_type: str,
            body: bytes, server_span: str) -> dict:
    """direct_messaging.go Invoke: normalise the method, resolve, call locally or remotely."""
    meth = normalize_method(meth)
    app_id, ns = request_app_id_and_namespace(target, sc.namespace)
    if app_id.startswith("http://") or app_id.startswith("https://"):
        raise InvokeError(None, f"the stand-in does not invoke external URLs ({app_id})")
    envelope = {"method": meth, "verb": verb, "querystring": query, "content_type": content_type,
                "metadata": md, "data": base64.b64encode(body).decode(), "span": server_span}
    if app_id == sc.app_id and ns == sc.namespace:
        # invokeLocal: straight to the own app channel, no access control, no caller headers.
        return call_local(sc, envelope, remote=False)
    address = sc.registry.resolve(app_id)

    def attempt() -> dict:
        # invokeRemote, once per attempt: the forwarded headers are appended again on a retry.
        m = envelope["metadata"]
        fwd = ""
        if sc.host_address:
            metadata_add(m, "X-Forwarded-For", [sc.host_address])
            fwd += f"for={sc.host_address};by={sc.host_address};"
        if sc.host_name:
            metadata_add(m, "X-Forwarded-Host", [sc.host_name])
            fwd += "host=" + sc.host_name
        metadata_add(m, "Forwarded", [fwd])
        for key, val in (("destination-app-id", app_id), ("dapr-caller-namespace", sc.namespace),
                         ("dapr-caller-app-id", sc.app_id), ("dapr-callee-app-id", app_id)):
            m[:] = [e for e in m if e[0] != key]  # req.Metadata()[key] = ... replaces
            m.append([key, [val]])
        # The caller's SPIFFE id, which real daprd proves with its mTLS certificate (see the module doc).
        envelope["caller"] = {"app_id": sc.app_id, "namespace": sc.namespace,
                              "trust_domain": sc.config.trust_domain}
        return call_internal(address, envelope)

    return invoke_with_retry(attempt, app_id, sc.log)


def call_local(sc: Sidecar, env: dict, remote: bool = True) -> dict:
    """The target side: daprinternal.go CallLocalStream (method normalised again, access control)
    then http_channel.go invokeMethodV1/constructRequest to the app.  Returns the response document
    or raises InvokeError with the gRPC code daprd returns."""
    meth = normalize_method(env["method"])
    md = env["metadata"]
    if remote and sc.config.acl is not None:
        caller = env["caller"]
        verb = env["verb"] if md else ""  # callLocalValidateACL: the verb only with metadata
        if not sc.config.acl.allowed(caller, meth, verb):
            spiffe = f"spiffe://{caller['trust_domain']}/ns/{caller['namespace']}/{caller['app_id']}"
            msg = (f"access control policy has denied access to id: {spiffe} operation: {meth} "
                   f"verb: {verb or 'NONE'}")
            sc.count("received", "PermissionDenied")
            sc.log(msg)
            raise InvokeError("PermissionDenied", msg)
    verb = env["verb"]
    if verb == "CONNECT":
        # http_channel.go InvokeMethod: net/http cannot send CONNECT.
        raise InvokeError("InvalidArgument", "invalid HTTP verb")
    path = go_clean(meth)
    if path == ".":
        path = ""
    # net/url keeps a valid decoded path as it is and escapes anything else (EscapedPath).
    target = urllib.parse.quote(path, safe="/!$&'()*+,;=:@[]~-._")
    if not target.startswith("/"):
        target = "/" + target
    if env.get("querystring"):
        target += "?" + env["querystring"]
    url = f"http://{sc.app_host}:{sc.app_port}{target}"
    headers = metadata_to_http_headers(md, "")
    headers = [(k, v) for k, v in headers if k not in ("traceparent", "tracestate", "content-type")]
    if env.get("content_type"):
        headers.append(("content-type", env["content_type"]))
    # The app sees the span of the target sidecar's server side, a child of the caller's.
    headers.append(("traceparent", sc.child_span(env.get("span"))))
    if sc.app_token:
        headers = [(k, v) for k, v in headers if k != "dapr-api-token"]
        headers.append(("dapr-api-token", sc.app_token))
    data = base64.b64decode(env["data"])
    sse = next((v for k, v in headers if k == "accept"), "").startswith("text/event-stream")
    try:
        status, resp_headers, resp_body = _app_request(sc, verb, target, headers, data)
    except OSError as e:
        sc.count("received", "Internal")
        msg = "error invoking app channel: " + go_url_error(verb, url, go_dial_error(sc.app_host, sc.app_port, e))
        raise InvokeError("Internal", msg) from None
    if sse and remote:
        # http_channel.go invokeMethodV1: an SSE request (Accept: text/event-stream) streams only to a
        # caller's ResponseWriter, which exists for LOCAL invocation only; remotely the app's answer
        # is buffered and dropped and the call fails (CallLocalStream: "no response received").
        sc.count("received", "Internal")
        sc.log(f"{verb} {target}: the app answered {status} to an SSE request; daprd 1.16 drops it on the "
               f"remote path: Internal")
        raise InvokeError("Internal", "error invoking app channel: no response received from stream")
    sc.count("received", status)
    md_out: list = []
    ct = ""
    for k, v in resp_headers:
        ck = canonical(k)
        if ck == "Transfer-Encoding":  # net/http moves it out of resp.Header
            continue
        if ck == "Content-Type" and not ct:
            ct = v
        metadata_add(md_out, ck, [v])
    return {"status": status, "headers": md_out, "content_type": ct, "data": base64.b64encode(resp_body).decode()}


def _app_request(sc: Sidecar, verb: str, target: str, headers: list, body: bytes) -> tuple:
    """One request on the app channel with Go's client defaults: its own gzip (and transparent
    decompression) only when the request names no Accept-Encoding; the whole answer is read."""
    names = {k.lower() for k, _ in headers}
    h = list(headers)
    if "user-agent" not in names:
        h.append(("User-Agent", "Go-http-client/1.1"))
    own_gzip = "accept-encoding" not in names
    if own_gzip:
        h.append(("Accept-Encoding", "gzip"))
    if "content-length" not in names and (body or verb in ("POST", "PUT", "PATCH")):
        h.append(("Content-Length", str(len(body))))
    conn = http.client.HTTPConnection(sc.app_host, sc.app_port, timeout=300)
    try:
        conn.putrequest(verb, target, skip_accept_encoding=True)
        for k, v in h:
            conn.putheader(k, v)
        conn.endheaders(body if body else None)
        resp = conn.getresponse()
        data = resp.read()
        out = resp.getheaders()
    except http.client.HTTPException as e:
        raise OSError(str(e)) from None
    finally:
        conn.close()
    if own_gzip and any(k.lower() == "content-encoding" and v.lower() == "gzip" for k, v in out):
        import gzip
        data = gzip.decompress(data)
        out = [(k, v) for k, v in out if k.lower() not in ("content-encoding", "content-length")]
    return resp.status, out, data
