"""What the end-to-end test sets up around the services: a fresh PostgreSQL database, a Redis
database number of its own, and a resources directory made from the shipped local Dapr components.

The components are copied from dapr-components/local/ and patched only where the test needs it; each
patch is returned as a line to print. Scopes, publishingScopes, subscriptionScopes, consumer ids and
key prefixes stay as shipped, so the run also checks the shipped components. One change is of another
kind: the local files serve `dapr run -f .`, one process per app, so websocket's consumer group and
key prefix are its app id (the Dapr CLI gives daprd no POD_NAME). Two websocket replicas take the
shape of the production components instead, a consumer group and key prefix per pod ("{podName}"),
and the test first checks that dapr-components/ really ships that shape.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import urllib.parse
from pathlib import Path

import yaml

# ---------------------------------------------------------------------------------------------------
# PostgreSQL (through psql: the CI machine has postgresql-client, and no Python driver is needed)
# ---------------------------------------------------------------------------------------------------


def psql(url: str, sql: str) -> list[list[str]]:
    """Runs `sql` and returns its rows as lists of text fields."""
    out = subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-AtqX", "-F", "\x1f", "-c", sql],
        capture_output=True, text=True, timeout=30, env=dict(os.environ, PGCONNECT_TIMEOUT="5"),
    )
    if out.returncode != 0:
        raise RuntimeError(f"psql failed ({out.returncode}): {out.stderr.strip()} -- SQL: {sql}")
    return [line.split("\x1f") for line in out.stdout.splitlines() if line]


def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def create_database(admin_url: str) -> tuple[str, str]:
    """Creates an empty database with a unique name; returns (name, url)."""
    name = f"taskflow_e2e_{os.getpid()}_{secrets.token_hex(3)}"
    psql(admin_url, f'CREATE DATABASE "{name}"')
    return name, with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    psql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------------


def redis_parts(url: str) -> tuple[str, int, str]:
    """(host, port, password) of a redis:// URL."""
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379, urllib.parse.unquote(parts.password or "")


LOCK_KEY = "taskflow-e2e:owner"


def _redis_client(url: str, db: int):
    import redis

    host, port, password = redis_parts(url)
    return redis.Redis(host=host, port=port, password=password or None, db=db, socket_timeout=10)


def _owner_is_dead(owner: bytes | None) -> bool:
    """True when the run named `owner` ("host:pid:…") ran on this machine and its process is gone
    (a runner killed with -9 cannot release its database)."""
    import os
    import socket

    host, _, rest = (owner or b"").decode(errors="replace").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim_redis_db(url: str, db: int, owner: str) -> None:
    """Takes Redis database `db` for this run and empties it. Two runs on one database would share
    streams, consumer groups and claims (and flush each other), so a second run is refused."""
    client = _redis_client(url, db)
    try:
        if not client.set(LOCK_KEY, owner, nx=True, ex=3 * 3600) and not _owner_is_dead(client.get(LOCK_KEY)):
            raise RuntimeError(f"Redis database {db} is in use by another end-to-end run "
                               f"({client.get(LOCK_KEY)!r}); pass another --redis-db, or wait for it to end")
        client.flushdb()
        client.set(LOCK_KEY, owner, ex=3 * 3600)
    finally:
        client.close()


def release_redis_db(url: str, db: int, owner: str) -> None:
    """Empties Redis database `db`, if this run still owns it."""
    client = _redis_client(url, db)
    try:
        if client.get(LOCK_KEY) in (owner.encode(), None):
            client.flushdb()
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------------
# Dapr resources
# ---------------------------------------------------------------------------------------------------

# What the test changes so that faults resolve in seconds rather than minutes.
# redeliverInterval as an integer of milliseconds: components-contrib reads only that form of it
# (a duration string such as the shipped "15s" is ignored and its 15 s default applies).
PUBSUB_TIMING = {"processingTimeout": "10s", "redeliverInterval": "2000"}
CRON_SCHEDULE = "@every 1s"
# Deliveries the app answered RETRY (or that failed): a retry at least every 2 s, and more retries
# than fit in the 120 s idempotency lease (crates/bus/src/idempotency.rs DEFAULT_LEASE), so that an
# event claimed by a consumer killed mid-effect is redone after the lease, never dead-lettered. (On
# Redis Streams each delivery's retries are also cut at processingTimeout; the message then stays
# pending and the reclaim loop delivers it again.)
EVENT_RETRY = {"maxInterval": "2s", "maxRetries": 90}
BREAKER_TIMEOUT = "5s"


def _meta_get(doc: dict, name: str):
    for item in doc["spec"].get("metadata") or []:
        if item.get("name") == name:
            return item.get("value")
    return None


def _meta_set(doc: dict, name: str, value: str, patches: list[str], why: str) -> None:
    items = doc["spec"].setdefault("metadata", [])
    for item in items:
        if item.get("name") == name:
            old = item.get("value")
            if old == value:
                return
            item["value"] = value
            patches.append(f"{doc['metadata']['name']}: {name} {old!r} -> {value!r} ({why})")
            return
    items.append({"name": name, "value": value})
    patches.append(f"{doc['metadata']['name']}: {name} (unset) -> {value!r} ({why})")


def _patch_component(doc: dict, redis_host: str, redis_password: str, redis_db: int,
                     patches: list[str], loud: list[str], patch_replicas: bool) -> None:
    kind = doc["spec"]["type"]
    name = doc["metadata"]["name"]
    if kind in ("pubsub.redis", "state.redis"):
        _meta_set(doc, "redisHost", redis_host, patches, "the test's Redis")
        _meta_set(doc, "redisDB", str(redis_db), patches, "a Redis database of the test's own, flushed before and after")
        if redis_password:
            _meta_set(doc, "redisPassword", redis_password, patches, "the test's Redis")
    if kind == "pubsub.redis":
        for key, value in PUBSUB_TIMING.items():
            if _meta_get(doc, key) is not None:
                _meta_set(doc, key, value, patches, "reclaim a dead consumer's messages in seconds")
    if kind == "bindings.cron":
        _meta_set(doc, "schedule", CRON_SCHEDULE, patches, "a reminder fires within a second of its time")
    if not patch_replicas:
        return
    # Two websocket replicas: a consumer group and an idempotency key prefix each, as the production
    # components have them (checked by production_replica_shape).
    if name == "pubsub-broadcast":
        consumer = str(_meta_get(doc, "consumerID") or "")
        if "{podName}" not in consumer:
            _meta_set(doc, "consumerID", "{podName}", loud,
                      "a consumer group per replica, as ../pubsub-broadcast.yaml's consumerGroup")
    if name == "statestore-replica":
        prefix = str(_meta_get(doc, "keyPrefix") or "")
        if "{podName}" not in prefix:
            _meta_set(doc, "keyPrefix", "{podName}", loud,
                      "idempotency claims per replica, as ../statestore-replica.yaml's keyPrefix")


def production_replica_shape(production_dir: Path) -> None:
    """Raises unless the production components give each websocket pod its own consumer group and
    its own idempotency key prefix: the shape the replica scenario gives the local components."""
    wanted = {("pubsub-broadcast", "consumerGroup"), ("statestore-replica", "keyPrefix")}
    found = set()
    for path in sorted(production_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "Component":
                continue
            for name, field in wanted:
                if doc["metadata"]["name"] == name and "{podName}" in str(_meta_get(doc, field) or ""):
                    found.add((name, field))
    missing = wanted - found
    if missing:
        raise RuntimeError(f"{production_dir}: no per-pod {sorted(missing)}: websocket replicas would share them")


def _patch_resiliency(doc: dict, patches: list[str]) -> None:
    policies = doc["spec"].get("policies") or {}
    for name, retry in (policies.get("retries") or {}).items():
        if name == "eventDeliveryRetry":
            for key, value in EVENT_RETRY.items():
                if retry.get(key) != value:
                    patches.append(f"resiliency: retries.{name}.{key} {retry.get(key)!r} -> {value!r} "
                                   "(retry every <= 2 s, and for longer than the 120 s idempotency lease)")
                    retry[key] = value
    for name, breaker in (policies.get("circuitBreakers") or {}).items():
        if breaker.get("timeout") != BREAKER_TIMEOUT:
            patches.append(f"resiliency: circuitBreakers.{name}.timeout {breaker.get('timeout')!r} -> "
                           f"{BREAKER_TIMEOUT!r} (an open breaker recovers in seconds)")
            breaker["timeout"] = BREAKER_TIMEOUT


def build_resources(source_dir: Path, target_dir: Path, redis_url: str, redis_db: int,
                    patch_replicas: bool = True) -> tuple[list[str], list[str]]:
    """Copies every YAML document of `source_dir` into `target_dir`, patched; returns the patches
    applied as (ordinary, loud) lists of lines."""
    host, port, password = redis_parts(redis_url)
    patches: list[str] = []
    loud: list[str] = []
    target_dir.mkdir(parents=True, exist_ok=True)
    files = sorted(list(source_dir.glob("*.yaml")) + list(source_dir.glob("*.yml")))
    if not files:
        raise RuntimeError(f"no Dapr resources found in {source_dir}")
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for doc in docs:
            kind = doc.get("kind")
            if kind == "Component":
                _patch_component(doc, f"{host}:{port}", password, redis_db, patches, loud, patch_replicas)
            elif kind == "Resiliency":
                _patch_resiliency(doc, patches)
        (target_dir / path.name).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return patches, loud
