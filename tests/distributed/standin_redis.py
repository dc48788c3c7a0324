"""The two Redis components the stand-in supports, against a real Redis server.

* ``RedisStateStore`` - components-contrib v1.16.13 state/redis/redis.go (v1): every save runs
  the component's ``setDefaultQuery`` Lua script through EVAL, then EXPIRE/PERSIST for the TTL;
  deletes run ``delDefaultQuery``; reads do HGETALL (falling back to GET).  The scripts below are
  written from that file and run the same Redis commands in the same order; the ``first-write``
  hash field, the ``version`` counter used as ETag and the error they raise are the component's.
* ``RedisStreams`` - components-contrib v1.16.13 pubsub/redis/redis.go: XADD ``data`` +
  ``metadata`` (JSON of the publish metadata) with ``MAXLEN ~ maxLenApprox`` (else ``MINID ~`` from
  streamTTL); one consumer group per stream named consumerID, created from ID ``0`` with MKSTREAM,
  read with XREADGROUP (group AND consumer name are both consumerID), a bounded queue
  (queueDepth) drained by ``concurrency`` workers, XACK only after the handler returned without
  error, and a reclaim loop every redeliverInterval that XPENDINGs the group and XCLAIMs entries
  idle for at least processingTimeout.
* ``parse_redis_settings`` - common/component/redis/settings.go + redis.go
  ParseClientFromProperties (defaults per component type, legacy keys, the millisecond rule for
  processingTimeout/redeliverInterval).
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import redis

from standin_gojson import (GoJSONError, go_atoi, go_marshal, go_parse_bool, go_unmarshal,
                            parse_go_duration)

# ----------------------------------------------------------------------------------------------
# Settings (common/component/redis/settings.go, redis.go)
# ----------------------------------------------------------------------------------------------

# mapstructure keys of rediscomponent.Settings; matching is case-insensitive like mapstructure's.
_INT = "int"
_UINT = "uint"
_BOOL = "bool"
_DUR = "duration"        # time.Duration via kit decodeString: integer = ms, else ParseDuration
_RDUR = "redisduration"  # settings.go Duration.DecodeString: integer = ms (negative kept), else ParseDuration
_STR = "string"
_SETTINGS = {
    "redisHost": _STR, "redisPassword": _STR, "redisUsername": _STR, "sentinelPassword": _STR,
    "sentinelUsername": _STR, "redisDB": _INT, "redisType": _STR, "redisMaxRetries": _INT,
    "redisMinRetryInterval": _RDUR, "redisMaxRetryInterval": _RDUR, "dialTimeout": _RDUR,
    "readTimeout": _RDUR, "writeTimeout": _RDUR, "poolSize": _INT, "minIdleConns": _INT,
    "maxConnAge": _RDUR, "poolTimeout": _RDUR, "idleTimeout": _RDUR, "idleCheckFrequency": _RDUR,
    "sentinelMasterName": _STR, "failover": _BOOL, "enableTLS": _BOOL, "clientCert": _STR,
    "clientKey": _STR, "ttlInSeconds": _INT, "queryIndexes": _STR, "consumerID": _STR,
    "processingTimeout": _DUR, "queueDepth": _UINT, "concurrency": _UINT, "maxLenApprox": _INT,
    "streamTTL": _DUR, "useEntraID": _BOOL, "useAzureAD": _BOOL,
}
_STATE_ONLY = {"ttlInSeconds", "queryIndexes"}
_PUBSUB_ONLY = {"consumerID", "processingTimeout", "queueDepth", "concurrency", "maxLenApprox", "streamTTL"}
# Connection-tuning knobs: they change timing under failure, not the semantics the tests exercise.
_TUNING = {"redisMaxRetries", "redisMinRetryInterval", "redisMaxRetryInterval", "dialTimeout",
           "readTimeout", "writeTimeout", "poolSize", "minIdleConns", "maxConnAge", "poolTimeout",
           "idleTimeout", "idleCheckFrequency", "maxRetries", "maxRetryBackoff"}


class ComponentError(Exception):
    pass


@dataclass
class RedisSettings:
    host: str = ""
    port: int = 6379
    password: str = ""
    username: str = ""
    db: int = 0
    ttl_in_seconds: Optional[int] = None
    consumer_id: str = ""
    processing_timeout: float = 0.0
    redeliver_interval: float = 0.0
    queue_depth: int = 0
    concurrency: int = 0
    max_len_approx: int = 0
    stream_ttl: float = 0.0

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, db=self.db,
                           password=self.password or None, username=self.username or None,
                           socket_connect_timeout=5, health_check_interval=0)


def _decode_value(key: str, kind: str, val: str):
    try:
        if kind == _STR:
            return val
        if kind == _INT:
            return go_atoi(val)
        if kind == _UINT:
            return go_atoi(val, unsigned=True)
        if kind == _BOOL:
            return go_parse_bool(val)
        if kind in (_DUR, _RDUR):
            try:
                n = go_atoi(val)
                if kind == _RDUR and n < 0:
                    return n * 1e-9
                return n / 1000.0
            except ValueError:
                return parse_go_duration(val)
    except ValueError:
        raise ComponentError(
            f"redis client configuration error: decode failed. invalid {kind} {val!r} for {key}") from None
    raise AssertionError(kind)


def parse_redis_settings(props: dict, comp_type: str, log) -> RedisSettings:
    """ParseClientFromProperties(properties, componentType) for StateStoreType or PubSubType."""
    s = RedisSettings()
    props = dict(props)
    if comp_type == "state":
        # redis.go: legacy keys maxRetryBackoff/maxRetries for state stores
        if not props.get("redisMinRetryInterval") and props.get("maxRetryBackoff"):
            try:
                go_atoi(props["maxRetryBackoff"])
            except ValueError as e:
                raise ComponentError(f"redis store error: can't parse maxRetryBackoff field: {e}") from None
        if not props.get("redisMaxRetries") and props.get("maxRetries"):
            props["redisMaxRetries"] = props["maxRetries"]
    else:
        s.processing_timeout = 60.0
        s.redeliver_interval = 15.0
        s.queue_depth = 100
        s.concurrency = 10
    lower = {k.lower(): k for k in _SETTINGS}
    values = {}
    for key, val in props.items():
        canon = lower.get(key.lower())
        if canon is None:
            continue
        if canon != key:
            raise ComponentError(
                f"metadata {key!r} only matches the component field {canon!r} case-insensitively; "
                f"daprd's runtime reads some keys with exact case (e.g. consumerID), so spell it {canon!r}")
        if canon in (_STATE_ONLY if comp_type == "pubsub" else _PUBSUB_ONLY):
            continue  # mdonly: the other component type ignores it
        values[canon] = _decode_value(canon, _SETTINGS[canon], val)
    host = values.get("redisHost", "")
    if not host:
        raise ComponentError("redis host is required (metadata redisHost)")
    h, sep, p = host.rpartition(":")
    if not sep:
        raise ComponentError(f"redisHost {host!r} has no port (go-redis dials host:port)")
    s.host, s.port = h, int(p)
    s.password = values.get("redisPassword", "")
    s.username = values.get("redisUsername", "")
    s.db = values.get("redisDB", 0)
    unsupported = []
    if values.get("redisType", "node").lower() not in ("", "node"):
        unsupported.append("redisType=" + values["redisType"])
    for flag in ("failover", "enableTLS", "useEntraID", "useAzureAD"):
        if values.get(flag):
            unsupported.append(flag + "=true")
    for k in ("sentinelMasterName", "sentinelPassword", "sentinelUsername", "clientCert", "clientKey"):
        if values.get(k):
            unsupported.append(k)
    if comp_type == "state" and values.get("queryIndexes"):
        unsupported.append("queryIndexes (RediSearch query API)")
    if unsupported:
        raise ComponentError("metadata the stand-in cannot honour faithfully: " + ", ".join(unsupported))
    for k in _TUNING:
        if k in values or k in props:
            log(f"metadata {k} accepted and ignored (connection tuning only)")
    if comp_type == "state":
        s.ttl_in_seconds = values.get("ttlInSeconds")
    else:
        s.consumer_id = values.get("consumerID", "")
        if "processingTimeout" in values:
            s.processing_timeout = values["processingTimeout"]
        if "queueDepth" in values:
            s.queue_depth = values["queueDepth"]
        if "concurrency" in values:
            s.concurrency = values["concurrency"]
        s.max_len_approx = values.get("maxLenApprox", 0)
        s.stream_ttl = values.get("streamTTL", 0.0)
        # redis.go: "because of legacy reasons" an integer is milliseconds.  RedeliverInterval has
        # `mapstructure:"-"`, so ONLY the integer form is read: "15s" is silently ignored and the
        # 15s default stays.
        pt = props.get("processingTimeout")
        if pt:
            try:
                s.processing_timeout = go_atoi(pt, unsigned=True) / 1000.0
            except ValueError:
                pass
        ri = props.get("redeliverInterval")
        if ri:
            try:
                s.redeliver_interval = go_atoi(ri, unsigned=True) / 1000.0
            except ValueError:
                log(f"WARNING redeliverInterval {ri!r} is not an integer number of milliseconds: "
                    f"components-contrib ignores it (settings.go RedeliverInterval has mapstructure:\"-\"), "
                    f"the default {s.redeliver_interval:g}s applies")
    return s


def _connect(s: RedisSettings, what: str) -> redis.Redis:
    c = s.client()
    try:
        c.ping()
    except redis.RedisError as e:
        raise ComponentError(f"{what}: error connecting to redis at {s.host}:{s.port}: {e}") from None
    return c


# ----------------------------------------------------------------------------------------------
# State store
# ----------------------------------------------------------------------------------------------

# components-contrib v1.16.13 state/redis/redis.go setDefaultQuery, re-typed: the same commands
# in the same order.  ARGV[1] = expected version ("0" when no etag / last-write), ARGV[2] = data,
# ARGV[3] = "0" for first-write concurrency, "1" otherwise.
LUA_SET = """
local current = redis.pcall("HGET", KEYS[1], "version")
if type(current) == "table" then
  redis.call("DEL", KEYS[1])
end
local marked = redis.pcall("HGET", KEYS[1], "first-write")
if (not current) or type(current) == "table" or current == "" or current == ARGV[1]
   or ((not marked) and ARGV[1] == "0") then
  redis.call("HSET", KEYS[1], "data", ARGV[2])
  if ARGV[3] == "0" then
    redis.call("HSET", KEYS[1], "first-write", 0)
  end
  return redis.call("HINCRBY", KEYS[1], "version", 1)
end
return error("failed to set key " .. KEYS[1])
"""

# state/redis/redis.go delDefaultQuery, re-typed likewise.
LUA_DEL = """
local current = redis.pcall("HGET", KEYS[1], "version")
if (not current) or type(current) == "table" or current == ARGV[1] or current == "" or ARGV[1] == "0" then
  return redis.call("DEL", KEYS[1])
end
return error("failed to delete " .. KEYS[1])
"""


class ETagError(Exception):
    """components-contrib state/errors.go ETagError (kind "mismatch" -> 409, "invalid" -> 400)."""

    def __init__(self, kind: str, cause: str):
        prefix = "possible etag mismatch. error from state store" if kind == "mismatch" else "invalid etag value"
        super().__init__(f"{prefix}: {cause}" if cause else prefix)
        self.kind = kind


class StoreError(Exception):
    pass


def _redis_err(e: BaseException) -> str:
    return str(e)


class RedisStateStore:
    def __init__(self, name: str, props: dict, log):
        self.name = name
        self.log = log
        self.s = parse_redis_settings(props, "state", log)
        self.client = _connect(self.s, "redis store")
        info = self.client.info("replication")
        self.replicas = int(info.get("connected_slaves", 0) or 0)
        # rediscomponent.ClientHasJSONSupport: "JSON.GET" answered by anything but "unknown command"
        try:
            self.client.execute_command("JSON.GET")
            self.has_json = True
        except redis.ResponseError as e:
            self.has_json = not str(e).startswith("unknown command") and "unknown command" not in str(e)
        self._set = self.client.register_script(LUA_SET)
        self._del = self.client.register_script(LUA_DEL)

    def _json_path(self, metadata: dict) -> bool:
        if (metadata or {}).get("contentType") == "application/json" and self.has_json:
            raise StoreError("stand-in: the RedisJSON code path (metadata.contentType=application/json on a "
                             "server with RedisJSON) is not implemented")
        return False

    @staticmethod
    def check_options(concurrency: str, consistency: str):
        """state/request_options.go CheckRequestOptions."""
        if consistency not in ("", "strong", "eventual"):
            raise StoreError(f"unrecognized consistency model '{consistency}'")
        if concurrency not in ("", "first-write", "last-write"):
            raise StoreError(f"unrecognized concurrency model '{concurrency}'")

    def get(self, key: str, metadata: dict):
        """StateStore.Get -> getDefault: (data bytes or None, etag str or None)."""
        self._json_path(metadata)
        try:
            vals = self.client.hgetall(key)
        except redis.ResponseError:
            # directGet: "Falls back to original get for backward compats."
            try:
                v = self.client.get(key)
            except redis.RedisError as e:
                raise StoreError(_redis_err(e)) from None
            return (v, None) if v is not None else (None, None)
        except redis.RedisError as e:
            raise StoreError(_redis_err(e)) from None
        if not vals:
            return None, None
        if b"data" not in vals or b"version" not in vals:
            raise StoreError("required hash field 'data' or 'version' was not found")
        return vals[b"data"], vals[b"version"].decode("utf-8", "replace")

    def set(self, key: str, value_bytes: bytes, etag: Optional[str], concurrency: str,
            consistency: str, metadata: dict):
        """StateStore.Set.  value_bytes is utils.Marshal(req.Value, jsoniter.ConfigFastest.Marshal)."""
        self.check_options(concurrency, consistency)
        # parseETag
        if concurrency == "last-write" or etag is None or etag == "":
            ver = 0
        else:
            try:
                ver = go_atoi(etag)
            except ValueError as e:
                raise ETagError("invalid", str(e).replace("strconv.Atoi", "strconv.Atoi")) from None
        # parseTTL
        ttl = None
        tv = (metadata or {}).get("ttlInSeconds")
        if tv:
            try:
                ttl = go_atoi(tv)
            except ValueError as e:
                raise StoreError(f"failed to parse ttl from metadata: {str(e).replace('Atoi', 'ParseInt')}") from None
        if ttl is None:
            ttl = self.s.ttl_in_seconds
        first_write = 0 if concurrency == "first-write" else 1
        self._json_path(metadata)
        try:
            self._set(keys=[key], args=[str(ver), value_bytes, str(first_write)])
        except redis.ResponseError as e:
            if etag:  # req.HasETag()
                raise ETagError("mismatch", _redis_err(e)) from None
            raise StoreError(f"failed to set key {key}: {_redis_err(e)}") from None
        except redis.RedisError as e:
            if etag:
                raise ETagError("mismatch", _redis_err(e)) from None
            raise StoreError(f"failed to set key {key}: {_redis_err(e)}") from None
        if ttl is not None and ttl > 0:
            try:
                self.client.expire(key, ttl)
            except redis.RedisError as e:
                raise StoreError(f"failed to set key {key} ttl: {e}") from None
        if ttl is not None and ttl <= 0:
            try:
                self.client.persist(key)
            except redis.RedisError as e:
                raise StoreError(f"failed to persist key {key}: {e}") from None
        if consistency == "strong" and self.replicas > 0:
            try:
                self.client.execute_command("WAIT", self.replicas, 1000)
            except redis.RedisError as e:
                raise StoreError(f"redis waiting for {self.replicas} replicas to acknowledge write, err: {e}") from None

    def delete(self, key: str, etag: Optional[str], concurrency: str, consistency: str, metadata: dict):
        """StateStore.Delete: no etag -> "0", which deletes unconditionally."""
        self.check_options(concurrency, consistency)
        if etag is None or etag == "":
            etag = "0"
        self._json_path(metadata)
        try:
            self._del(keys=[key], args=[etag])
        except redis.RedisError as e:
            raise ETagError("mismatch", _redis_err(e)) from None


# ----------------------------------------------------------------------------------------------
# Pub/sub (Redis Streams)
# ----------------------------------------------------------------------------------------------

@dataclass
class StreamMessage:
    topic: str
    msg_id: str
    data: bytes
    metadata: Optional[dict]


class RedisStreams:
    def __init__(self, name: str, props: dict, log, stop: threading.Event, duplicates: bool, stats):
        self.name = name
        self.log = log
        self.stop = stop
        self.s = parse_redis_settings(props, "pubsub", log)
        self.client = _connect(self.s, "redis streams")
        self.duplicates = duplicates
        self.stats = stats
        self._dup_seen: dict = {}
        self._dup_lock = threading.Lock()
        self.queue: "queue.Queue" = queue.Queue(maxsize=max(1, self.s.queue_depth))
        for i in range(max(1, self.s.concurrency)):
            threading.Thread(target=self._worker, name=f"{name}-worker-{i}", daemon=True).start()

    # -- publish ------------------------------------------------------------------------------
    def publish(self, topic: str, data: bytes, metadata: Optional[dict]):
        """Publish: XADD topic [MAXLEN ~ n | MINID ~ id] * data <bytes> metadata <json>."""
        fields = {"data": data}
        if metadata is not None:
            fields["metadata"] = go_marshal(metadata).encode("utf-8")
        items = list(fields.items())
        random.shuffle(items)  # go-redis iterates the Values map: Go map order
        kwargs = {}
        if self.s.max_len_approx > 0:
            kwargs = {"maxlen": self.s.max_len_approx, "approximate": True}
        elif self.s.stream_ttl > 0:
            minid = f"{int((time.time() - self.s.stream_ttl) * 1000)}-1"
            kwargs = {"minid": minid, "approximate": True}
        try:
            return self.client.xadd(topic, dict(items), **kwargs)
        except redis.RedisError as e:
            raise StoreError(f"redis streams: error from publish: {e}") from None

    # -- subscribe ----------------------------------------------------------------------------
    def _create_group(self, stream: str):
        try:
            self.client.xgroup_create(stream, self.s.consumer_id, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def subscribe(self, topic: str, handler: Callable[[StreamMessage, Optional[float]], None]):
        self._create_group(topic)
        threading.Thread(target=self._poll, args=(topic, handler), name=f"{self.name}-poll-{topic}",
                         daemon=True).start()
        threading.Thread(target=self._reclaim_loop, args=(topic, handler),
                         name=f"{self.name}-reclaim-{topic}", daemon=True).start()

    def _wrap(self, topic: str, msg_id, fields) -> StreamMessage:
        mid = msg_id.decode() if isinstance(msg_id, bytes) else msg_id
        data = b""
        if fields is not None and b"data" in fields:
            data = fields[b"data"]
        md = None
        if fields is not None and b"metadata" in fields:
            try:
                parsed = go_unmarshal(fields[b"metadata"])
                if isinstance(parsed, dict):
                    md = {k: v for k, v in parsed.items() if isinstance(v, str)}
                elif parsed is not None:
                    raise GoJSONError("json: cannot unmarshal into map[string]string")
            except GoJSONError as e:
                self.log(f"Redis PubSub: Could not extract metadata for Redis message {mid}: {e}")
        return StreamMessage(topic=topic, msg_id=mid, data=data, metadata=md)

    def _enqueue(self, topic, msgs, handler):
        for msg_id, fields in msgs:
            m = self._wrap(topic, msg_id, fields)
            while not self.stop.is_set():
                try:
                    self.queue.put((m, handler), timeout=0.5)
                    break
                except queue.Full:
                    continue

    def _poll(self, topic, handler):
        cid = self.s.consumer_id
        conn = self.s.client()
        while not self.stop.is_set():
            try:
                res = conn.xreadgroup(cid, cid, {topic: ">"}, count=self.s.queue_depth, block=1000)
            except redis.ResponseError as e:
                if "NOGROUP" in str(e):
                    self.log(f"redis streams: consumer group {cid} does not exist for stream {topic}; recreating")
                    try:
                        self._create_group(topic)
                    except redis.RedisError:
                        pass
                self.log(f"redis streams: error reading from stream {topic}: {e}")
                self.stop.wait(0.1)
                continue
            except redis.RedisError as e:
                self.log(f"redis streams: error reading from stream {topic}: {e}")
                self.stop.wait(0.1)
                continue
            for _stream, msgs in res or []:
                self._enqueue(topic, msgs, handler)

    def _reclaim_loop(self, topic, handler):
        if self.s.processing_timeout == 0 or self.s.redeliver_interval == 0:
            return
        self._reclaim(topic, handler)
        while not self.stop.wait(self.s.redeliver_interval):
            self._reclaim(topic, handler)

    def _reclaim(self, topic, handler):
        cid = self.s.consumer_id
        pt_ms = int(self.s.processing_timeout * 1000)
        while not self.stop.is_set():
            try:
                pending = self.client.xpending_range(topic, cid, min="-", max="+", count=self.s.queue_depth)
            except redis.RedisError as e:
                self.log(f"error retrieving pending Redis messages: {e}")
                return
            ids = [p["message_id"] for p in pending if p["time_since_delivered"] >= pt_ms]
            if not ids:
                return
            try:
                claimed = self.client.xclaim(topic, cid, cid, pt_ms, ids)
            except redis.RedisError as e:
                self.log(f"error claiming pending Redis messages: {e}")
                return
            good = [(i, f) for i, f in claimed if f is not None]
            got = {(i.decode() if isinstance(i, bytes) else i) for i, _ in good}
            if good:
                self.log(f"reclaimed {len(good)} pending message(s) on {topic} idle >= {self.s.processing_timeout:g}s")
            self._enqueue(topic, good, handler)
            # removeMessagesThatNoLongerExistFromPending: entries gone from the stream are acked
            for i in ids:
                key = i.decode() if isinstance(i, bytes) else i
                if key not in got:
                    try:
                        self.client.xack(topic, cid, key)
                    except redis.RedisError:
                        pass

    # -- processing ---------------------------------------------------------------------------
    def _worker(self):
        while not self.stop.is_set():
            try:
                m, handler = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            dup_mode = self._duplicate_plan(m)
            if dup_mode == "concurrent":
                self._spawn_duplicate(m, handler, random.uniform(0.0, 0.03))
            self.process(m, handler)
            if dup_mode == "after":
                self._spawn_duplicate(m, handler, random.uniform(0.02, 0.3))

    def _duplicate_plan(self, m: StreamMessage) -> Optional[str]:
        """Stand-in only: at-least-once made visible.  Every message is delivered a second time, as
        a consumer-group rebalance / redelivery would; one in three concurrently with the first."""
        if not self.duplicates:
            return None
        key = (m.topic, m.msg_id)
        with self._dup_lock:
            if key in self._dup_seen:
                return None
            self._dup_seen[key] = True
            if len(self._dup_seen) > 100000:
                for k in list(self._dup_seen)[:50000]:
                    del self._dup_seen[k]
        return "concurrent" if random.random() < 1 / 3 else "after"

    def _spawn_duplicate(self, m, handler, delay):
        def run():
            if self.stop.wait(delay):
                return
            self.stats.incr("duplicates_sent")
            self.log(f"duplicate delivery of {m.topic}/{m.msg_id} (stand-in at-least-once)")
            self.process(m, handler)
        threading.Thread(target=run, daemon=True).start()

    def process(self, m: StreamMessage, handler):
        """processMessage: the handler gets a context bounded by processingTimeout (when both
        processingTimeout and redeliverInterval are set); XACK only after success."""
        deadline = None
        if self.s.processing_timeout and self.s.redeliver_interval:
            deadline = time.monotonic() + self.s.processing_timeout
        try:
            handler(m, deadline)
        except Exception as e:  # noqa: BLE001
            self.log(f"Error processing Redis message {m.msg_id}: {e} (left pending: redelivered after "
                     f"processingTimeout {self.s.processing_timeout:g}s by the reclaim loop)")
            return
        try:
            self.client.xack(m.topic, self.s.consumer_id, m.msg_id)
        except redis.RedisError as e:
            self.log(f"Error acknowledging Redis message {m.msg_id}: {e}")
