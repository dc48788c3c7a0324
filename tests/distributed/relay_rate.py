#!/usr/bin/env python3
"""How many events per second backend-api's outbox relay publishes through a sidecar (issue 19,
"The relay keeps up under Dapr"). A measurement, not a test: nothing here asserts on time.

    python3 tests/distributed/relay_rate.py --bin-dir target/release \\
        --database-url postgres://postgres:postgres@127.0.0.1:5432/postgres --redis-url redis://127.0.0.1:6379

For each number of active users (1, 100 and 10 000 by default) and each publish mode, on a fresh
PostgreSQL database migrated by backend-api (MIGRATE_ONLY):

1. `--events` `task-created` rows (default 20 000) are written straight into the outbox, the users
   taking turns (row i belongs to user i mod U), so each user's rows interleave with everyone
   else's as concurrent creates would commit them. The payload has the shape and size of a real
   create's.
2. backend-api starts beside the five-service test's stand-in sidecar (daprd_standin.py, with the
   shipped dapr-components/local components and Configuration, Redis Streams in a Redis database of
   its own) and its relay publishes the backlog.
3. The rate is read from the outbox itself: the relay stamps `published_at` once per pass, so
   (rows published after the first pass) / (last pass's stamp - first pass's stamp), which leaves
   out start-up. The CPU time of backend-api and of its sidecar (whole life, /proc) per event shows
   which side is the bottleneck. The run also checks that every row was published, that the sidecar
   counted as many events, and that each user's events are in the stream in outbox order (each
   event where it first appears: a later copy, from a publish the relay timed out on, is answered as
   done by consumers' idempotency claims).

Modes: `bulk` runs the sidecar with the shipped Configuration (which admits daprd's bulk publish
API, v1.0-alpha1); `single` with that Configuration minus the bulk publish rule, so daprd
(and the stand-in) answer 404 to bulk publish and the relay falls back to one POST per event, as
against an older daprd. `--modes single` with a build from before bulk publish measures the old
relay.

The stand-in is Python, so these figures measure the relay against it, not against daprd (a Go
process that does the same work in far less CPU); both share the machine's cores with PostgreSQL,
Redis and the relay. Prints one line per run and a Markdown table; `--json FILE` writes the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import yaml  # noqa: E402

from e2e_cluster import SPECS, Cluster, configs  # noqa: E402
from e2e_procs import ProcessManager, wait_until  # noqa: E402
from e2e_setup import build_resources, claim_redis_db, create_database, drop_database, psql, release_redis_db  # noqa: E402

REPO = HERE.parent.parent
TOPIC = "task-created"
SOURCE = "backend-api"


def seed_sql(events: int, users: int) -> str:
    """`events` task-created rows, row g for user g mod `users`, in one statement."""
    return f"""
INSERT INTO outbox (event_id, topic, partition_key, payload, created_at, attempts, next_attempt_at, source, traceparent)
SELECT e.id, '{TOPIC}', e.user_id,
       jsonb_build_object(
         'event_id', e.id, 'event_type', '{TOPIC}', 'user_id', e.user_id,
         'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
         'task', jsonb_build_object(
           'id', gen_random_uuid(), 'user_id', e.user_id, 'title', 'Relay rate task ' || e.g,
           'description', 'Seeded by tests/distributed/relay_rate.py to measure the outbox relay',
           'completed', false, 'priority', 'medium', 'tags', jsonb_build_array('bench', 'relay'),
           'due_date', null, 'reminder_offsets', jsonb_build_array(), 'recurrence', null,
           'created_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'updated_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))),
       now(), 0, now(), '{SOURCE}',
       '00-' || md5(e.id::text) || '-' || substr(md5(e.g::text), 1, 16) || '-01'
FROM (SELECT g, gen_random_uuid() AS id,
             '00000000-0000-4000-8000-' || lpad((g % {users})::text, 12, '0') AS user_id
      FROM generate_series(0, {events - 1}) AS g) AS e
ORDER BY e.g
"""


def single_only_config(path: Path) -> None:
    """The Configuration without its bulk publish rule (publish v1alpha1): bulk publish answers 404."""
    doc = yaml.safe_load(path.read_text())
    allowed = doc["spec"]["api"]["allowed"]
    kept = [r for r in allowed if not (r.get("name") == "publish" and r.get("version") != "v1.0")]
    doc["spec"]["api"]["allowed"] = kept
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def stream_order_ok(redis_url: str, redis_db: int, order: dict[str, int]) -> tuple[bool, int, int]:
    """Whether every user's events in the task-created stream are in outbox order, each counted
    where it first appears (a later copy is a redelivery, which consumers' idempotency claims
    answer as done), on the entries the stream still holds (the component trims it to about
    maxLenApprox); also how many were checked and how many copies were skipped."""
    import redis

    from e2e_setup import redis_parts

    host, port, password = redis_parts(redis_url)
    client = redis.Redis(host=host, port=port, password=password or None, db=redis_db)
    try:
        last: dict[str, int] = {}
        seen: set[str] = set()
        checked = copies = 0
        for _, fields in client.xrange(TOPIC):
            envelope = json.loads(fields[b"data"])
            event_id = envelope.get("id")
            rank = order.get(event_id)
            if rank is None:
                continue
            if event_id in seen:
                copies += 1
                continue
            seen.add(event_id)
            user = envelope["data"]["user_id"]
            if rank < last.get(user, -1):
                return False, checked, copies
            last[user] = rank
            checked += 1
        return True, checked, copies
    finally:
        client.close()


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process so far, from /proc/PID/stat."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(args, users: int, mode: str, redis_db: int) -> dict:
    owner = f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(4)}"
    name, url = create_database(args.database_url)
    claim_redis_db(args.redis_url, redis_db, owner)
    work = Path(tempfile.mkdtemp(prefix="relay-rate-"))
    procs = ProcessManager(work, REPO)
    try:
        resources = work / "resources"
        build_resources(REPO / "dapr-components" / "local", resources, args.redis_url, redis_db, patch_replicas=False)
        config_dir = work / "configs"
        configs(REPO / "dapr-components" / "local", config_dir)
        if mode == "single":
            single_only_config(config_dir / "config-backend-api.yaml")
        cluster = Cluster(procs, REPO, Path(args.bin_dir).resolve(), HERE / "daprd_standin.py", resources, url,
                          python=args.python, config_dir=config_dir)
        cluster.migrate()
        psql(url, seed_sql(args.events, users))
        order = {row[0]: int(row[1]) for row in psql(url, "SELECT event_id, id FROM outbox")}
        service = cluster.add(SPECS[0])
        service.sidecar.argv.append("--no-duplicate-deliveries")
        cluster.start_service(service.name)

        def pending() -> int:
            return int(psql(url, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0])

        wait_until(lambda: pending() == 0, args.timeout, interval=0.5, what=f"the relay to publish {args.events} rows")
        # Whole-life CPU (start-up included, a few tens of milliseconds) of the app and of its sidecar.
        app_cpu, sidecar_cpu = cpu_seconds(service.app.pid), cpu_seconds(service.sidecar.pid)
        stats = json.loads(urllib.request.urlopen(f"{service.sidecar_base}/standin/stats", timeout=10).read())
        passes = psql(url, "SELECT published_at, count(*) FROM outbox GROUP BY published_at ORDER BY published_at")
        first, first_rows = passes[0][0], int(passes[0][1])
        span = float(psql(url, "SELECT extract(epoch FROM max(published_at) - min(published_at)) FROM outbox")[0][0])
        in_order, checked, copies = stream_order_ok(args.redis_url, redis_db, order)
        result = {
            "users": users, "mode": mode, "events": args.events, "passes": len(passes),
            "first_pass_rows": first_rows, "first_pass_at": first, "span_s": round(span, 3),
            "events_per_s": round((args.events - first_rows) / span) if span > 0 else None,
            "app_cpu_ms_per_event": round(1000 * app_cpu / args.events, 3),
            "sidecar_cpu_ms_per_event": round(1000 * sidecar_cpu / args.events, 3),
            "sidecar_published": stats["published"].get(TOPIC, 0),
            "sidecar_refused": stats["publish_refused"],
            "per_user_order_kept": in_order, "order_checked_events": checked, "copies_in_stream": copies,
        }
        cluster.stop_app(service.name)
        return result
    finally:
        procs.stop_all()
        if args.keep_logs:
            print(f"  logs: {work}", flush=True)
        drop_database(args.database_url, name)
        release_redis_db(args.redis_url, redis_db, owner)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin-dir", default=str(REPO / "target" / "release"))
    p.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL",
                                                           "postgres://postgres:postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379"))
    p.add_argument("--redis-db", type=int, default=13)
    p.add_argument("--users", default="1,100,10000")
    p.add_argument("--modes", default="single,bulk")
    p.add_argument("--events", type=int, default=20000)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--python", default=sys.executable, help="interpreter for the stand-in")
    p.add_argument("--json", help="write the runs to this file")
    p.add_argument("--keep-logs", action="store_true")
    args = p.parse_args()
    runs = []
    for users in [int(u) for u in args.users.split(",")]:
        for mode in args.modes.split(","):
            r = run_once(args, users, mode, args.redis_db)
            runs.append(r)
            print(json.dumps(r), flush=True)
    print("\n| Active users | Publish | Events | Passes | Events/s | backend-api CPU ms/event | Sidecar CPU ms/event "
          "| Sidecar counted | Per-user order |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['users']} | {r['mode']} | {r['events']} | {r['passes']} | {r['events_per_s']} | "
              f"{r['app_cpu_ms_per_event']} | {r['sidecar_cpu_ms_per_event']} | "
              f"{r['sidecar_published']} | {'kept' if r['per_user_order_kept'] else 'BROKEN'} "
              f"({r['order_checked_events']} checked, {r['copies_in_stream']} copies) |")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))
    bad = [r for r in runs if not r["per_user_order_kept"] or r["sidecar_published"] < r["events"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
