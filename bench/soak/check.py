#!/usr/bin/env python3
"""The soak's integrity checks: the load client's logs (acknowledged writes, received events)
compared with what the database holds once the outbox has drained. Prints one JSON object:
{"checks": [{"name", "ok", ...figures}]}; report.py turns it into soak.md and the exit status.

- writes: every acknowledged write is there — a task whose last acknowledged write was a delete is
  gone, any other is present at the version that write returned (completed, for a complete). A task
  whose last request failed without an answer (the kill -9 phase) is only held to its last
  acknowledged version as a minimum, and is not checked after an unanswered delete.
- audit: every event in the outbox has its audit entry (audit_logs.event_id is unique, so at most
  one), every acknowledged create has exactly one task-created entry, nothing is left unpublished.
- occurrences: every completed recurring task has exactly one next occurrence (the task with
  occurrence key "<series>:<its position + 1>"), and no series has two tasks at one position.
- reminders: each of the soak's reminders fired exactly once: fired_at set, one inbox row, one
  reminder-due audit entry.
- sockets: each WebSocket and SSE client received every event of its user written during the
  window (none missed) and none twice.
"""
import argparse
import collections
import json
import os
import subprocess
import sys


def rows(url, sql):
    r = subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-Atq", "-c", f"copy ({sql}) to stdout"],
        capture_output=True, text=True, env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
    )
    if r.returncode != 0:
        sys.exit(f"check.py: query failed: {sql}\n{r.stderr}")
    return [line.split("\t") for line in r.stdout.splitlines()]


def read_acks(paths):
    """(op, ok, user, task, version) in the order the writes happened."""
    out = []
    for path in paths:
        with open(path) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) >= 6:
                    out.append((p[1], p[2] == "ok", p[3], p[4], int(p[5])))
    return out


def check_writes(url, acks):
    history = collections.defaultdict(list)
    for op, ok, _user, task, version in acks:
        if task != "-":
            history[task].append((op, ok, version))
    tasks = {r[0]: (int(r[1]), r[2] == "t") for r in rows(url, "select id::text, version, completed from tasks")}
    lost, checked, uncertain, examples = 0, 0, 0, []
    for task, ops in history.items():
        i = next((k for k in range(len(ops) - 1, -1, -1) if ops[k][1]), None)
        if i is None:
            continue
        last_ok, after = ops[i], ops[i + 1:]
        unanswered = [o for o in after if not o[1]]
        if any(o[0] == "delete" for o in unanswered):
            uncertain += 1
            continue
        checked += 1
        op, _, version = last_ok
        row = tasks.get(task)
        if op == "delete":
            bad = row is not None
        elif row is None:
            bad = True
        elif unanswered:
            uncertain += 1
            bad = row[0] < version
        else:
            bad = (version and row[0] != version) or (op == "complete" and not row[1])
        if bad:
            lost += 1
            if len(examples) < 5:
                examples.append({"task": task, "last_acknowledged": op, "version": version, "db": row})
    return {"name": "acknowledged writes present", "ok": lost == 0, "tasks_checked": checked,
            "writes_acknowledged": sum(1 for a in acks if a[1]), "lost": lost,
            "unanswered_not_checked_exactly": uncertain, "examples": examples}


def check_audit(url, acks):
    unaudited = int(rows(url, "select count(*) from outbox o where not exists "
                              "(select 1 from audit_logs a where a.event_id = o.event_id)")[0][0])
    pending = int(rows(url, "select count(*) from outbox where published_at is null")[0][0])
    events = int(rows(url, "select count(*) from outbox")[0][0])
    created = collections.Counter(r[0] for r in rows(
        url, "select entity_id from audit_logs where event_type = 'task-created'"))
    acked = {a[3] for a in acks if a[1] and a[0] in ("create", "create-recurring", "reminder")}
    not_once = [t for t in acked if created.get(t, 0) != 1]
    twice = sum(1 for c in created.values() if c > 1)
    return {"name": "every created task audited exactly once",
            "ok": unaudited == 0 and pending == 0 and not not_once and twice == 0,
            "events_in_outbox": events, "events_unaudited": unaudited, "outbox_pending": pending,
            "acknowledged_creates": len(acked), "creates_not_audited_once": len(not_once),
            "tasks_with_two_created_entries": twice, "examples": not_once[:5]}


def check_occurrences(url, acks):
    completed = {a[3] for a in acks if a[1] and a[0] == "complete"}
    keys = {r[0] for r in rows(url, "select occurrence_key from tasks where occurrence_key is not null")}
    series = rows(url, "select id::text, coalesce(parent_task_id, id)::text, "
                       "coalesce((recurrence->>'occurrence')::int, 0) from tasks "
                       "where completed and recurrence is not null")
    position = {r[0]: (r[1], int(r[2])) for r in series}
    missing = [t for t in completed if t not in position or f"{position[t][0]}:{position[t][1] + 1}" not in keys]
    doubled = int(rows(url, "select count(*) from (select parent_task_id, recurrence->>'occurrence' from tasks "
                            "where parent_task_id is not null group by 1, 2 having count(*) > 1) d")[0][0])
    return {"name": "every completed recurring task has exactly one next occurrence",
            "ok": not missing and doubled == 0, "completed_recurring": len(completed),
            "without_next": len(missing), "positions_held_twice": doubled, "examples": missing[:5]}


def check_reminders(url, acks):
    tasks = {a[3] for a in acks if a[1] and a[0] == "reminder"}
    reminders = [r for r in rows(url, "select task_id::text, id::text, (fired_at is not null)::text from task_reminders")
                 if r[0] in tasks]
    inbox = collections.Counter(r[0] for r in rows(
        url, "select reminder_id::text from notifications where reminder_id is not null"))
    audited = collections.Counter(r[0] for r in rows(
        url, "select entity_id from audit_logs where event_type = 'reminder-due'"))
    once = [r for r in reminders if r[2] == "true" and inbox[r[1]] == 1 and audited[r[1]] == 1]
    unfired = sum(1 for r in reminders if r[2] != "true")
    return {"name": "every reminder fired exactly once", "ok": len(once) == len(tasks) and len(reminders) == len(tasks),
            "reminders": len(tasks), "fired_once": len(once), "unfired": unfired,
            "inbox_rows_not_one": sum(1 for r in reminders if inbox[r[1]] != 1),
            "audit_entries_not_one": sum(1 for r in reminders if audited[r[1]] != 1)}


def check_sockets(url, received, clients_path, start_us, end_us):
    clients = {}
    with open(clients_path) as f:
        for line in f:
            index, user, kind = line.rstrip("\n").split("\t")
            clients[index] = (user, kind)
    got = collections.defaultdict(list)
    with open(received) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) == 4:
                got[p[0]].append(p[3])
    expected = collections.defaultdict(set)
    for user, event in rows(url, "select partition_key, event_id::text from outbox where published_at is not null "
                                 f"and created_at > to_timestamp({start_us} / 1e6) "
                                 f"and created_at <= to_timestamp({end_us} / 1e6)"):
        expected[user].add(event)
    total = missed = dup = extra = 0
    worst = []
    for index, (user, kind) in clients.items():
        seen = got.get(index, [])
        unique = set(seen)
        want = expected.get(user, set())
        m = len(want - unique)
        total += len(want)
        missed += m
        dup += len(seen) - len(unique)
        extra += len(unique - want)
        if m:
            worst.append({"client": f"{kind} {index}", "user": user, "missed": m, "expected": len(want)})
    worst.sort(key=lambda w: -w["missed"])
    return {"name": "every socket got every event of its user", "ok": missed == 0 and dup == 0,
            "clients": len(clients), "ws": sum(1 for c in clients.values() if c[1] == "ws"),
            "sse": sum(1 for c in clients.values() if c[1] == "sse"),
            "expected_deliveries": total, "received": sum(len(v) for v in got.values()), "missed": missed,
            "duplicated": dup, "outside_window": extra, "examples": worst[:5]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--db-url", required=True)
    p.add_argument("--acks", action="append", required=True, help="in the order the phases ran")
    p.add_argument("--checks", default="writes,audit,occurrences,reminders,sockets")
    p.add_argument("--load", help="the load client's JSON (window_start_us, window_end_us)")
    p.add_argument("--received")
    a = p.parse_args()
    acks = read_acks(a.acks)
    wanted = a.checks.split(",")
    out = []
    if "writes" in wanted:
        out.append(check_writes(a.db_url, acks))
    if "audit" in wanted:
        out.append(check_audit(a.db_url, acks))
    if "occurrences" in wanted:
        out.append(check_occurrences(a.db_url, acks))
    if "reminders" in wanted:
        out.append(check_reminders(a.db_url, acks))
    if "sockets" in wanted:
        load = json.load(open(a.load))
        out.append(check_sockets(a.db_url, a.received, a.received + ".clients",
                                 load["window_start_us"], load["window_end_us"]))
    print(json.dumps({"checks": out}))


if __name__ == "__main__":
    main()
