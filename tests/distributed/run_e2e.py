#!/usr/bin/env python3
"""Services end-to-end test: the TaskFlow release binaries (five services and web) as separate processes,
each beside its own stand-in daprd (tests/distributed/daprd_standin.py), on a fresh PostgreSQL database, with Redis
Streams pub/sub and Redis state in a Redis database of its own (issue 16, DESIGN.md §4-5).

    python3 tests/distributed/run_e2e.py --bin-dir target/release \\
        --database-url postgres://postgres:postgres@127.0.0.1:5432/postgres --redis-url redis://127.0.0.1:6379

Needs tests/distributed/requirements.txt (redis, PyYAML, websockets) and `psql`. The stand-ins deliver
every message twice. Scenarios: a REST create reaches a WebSocket client and is audited once; two
websocket replicas each push every event once; a stream ticket works once across both replicas;
through web's port (web -> its sidecar -> backend-api's sidecar -> backend-api, by service
invocation under backend-api's Helm-shaped access control) a user signs up and in and creates, lists
and updates a task, the events reach WebSocket, Authorization is forwarded and non-/api or `..`
paths are not; one client that spent its failed-login budget through web does not lock out another; a client resumes on a restarted websocket replica with exactly the events it missed,
read from backend-api's outbox by service invocation; a completed recurring task yields one next occurrence;
kill -9 of audit, then of recurring, mid-stream loses nothing; with backend-api stopped a due reminder
still reaches the WebSocket client and the audit trail; no sidecar refused a state save or a publish.
The last line is `e2e: N passed, M failed`; the exit status is non-zero if any failed. Every process,
the database and the Redis database are cleaned up on any exit (Ctrl-C and SIGTERM included).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from e2e_api import Api, User, WsClient, raw_request  # noqa: E402
from e2e_cluster import SPECS, Cluster, configs  # noqa: E402
from e2e_procs import ProcessManager, wait_until  # noqa: E402
from e2e_setup import build_resources, claim_redis_db, production_replica_shape, create_database, drop_database, psql, release_redis_db  # noqa: E402

REPO = HERE.parent.parent
WAIT = 20.0  # an event's way through the system
# A consumer killed between claiming an event and finishing it holds the claim for its 120 s lease
# (crates/bus/src/idempotency.rs); redeliveries meanwhile are answered RETRY.
LEASE_WAIT = 150.0
SETTLE = 3.0  # after the expected effects appeared, time for a duplicate to show up too


class Failed(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def tomorrow_9am() -> dt.datetime:
    return (utc_now() + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)


def settle() -> None:
    time.sleep(SETTLE)


class Ctx:
    """What the scenarios share: the services, the API client, users and open WebSocket clients."""

    def __init__(self, cluster: Cluster, run_id: str):
        self.cluster = cluster
        self.run_id = run_id
        self.api = Api(cluster.services["backend-api"].base)
        self.users: dict[str, User] = {}
        self.ws_clients: list[WsClient] = []

    def user(self, key: str) -> User:
        if key not in self.users:
            email = f"e2e-{key}-{self.run_id}@example.com"
            self.users[key] = self.api.register_and_login(f"E2E {key}", email)
        return self.users[key]

    def ws(self, replica: str, user: User, last_event_id: str | None = None) -> WsClient:
        service = self.cluster.services[replica]
        # A single-use ticket from backend-api (the long-lived token stays out of URLs).
        ticket = self.api.stream_ticket(user)
        url = f"ws://127.0.0.1:{service.app_port}/ws?ticket={urllib.parse.quote(ticket)}"
        if last_event_id:
            url += f"&last_event_id={urllib.parse.quote(last_event_id)}"
        client = WsClient(f"{replica}/{user.email}", url)
        self.ws_clients.append(client)
        return client.start()

    def close_ws(self) -> None:
        for client in self.ws_clients:
            client.close()
        self.ws_clients.clear()


# ---------------------------------------------------------------------------------------------------
# Checks shared by the scenarios
# ---------------------------------------------------------------------------------------------------


def wait_ws(client: WsClient, topic: str, task_id: str, timeout: float = WAIT) -> dict:
    def found():
        return next((m for m in client.for_tasks({task_id}) if m.get("type") == topic), None)

    try:
        return wait_until(found, timeout, what=f"{topic} of task {task_id} on {client.name}")
    except TimeoutError as e:
        seen = [(m.get("type"), m.get("task_id")) for m in client.snapshot()][-10:]
        raise Failed(f"{e}; client errors {client.errors}, state {client.closed}, last messages {seen}") from None


def ws_event_ids(client: WsClient, task_ids: set[str]) -> list[str]:
    return [m.get("id") for m in client.for_tasks(task_ids)]


def check_no_duplicate_push(client: WsClient, task_ids: set[str]) -> None:
    repeats = {i: n for i, n in Counter(ws_event_ids(client, task_ids)).items() if n > 1}
    check(not repeats, f"{client.name} received events more than once: {repeats}")


def audit_counts(ctx: Ctx, user: User, **params) -> tuple[Counter, Counter]:
    """(entries per entity id, entries per event id) of `user`'s audit trail."""
    entries = ctx.api.audit(user, **params)
    return Counter(e["entity_id"] for e in entries), Counter(e["event_id"] for e in entries)


def check_audited_once(ctx: Ctx, user: User, entity_ids: set[str], event_type: str, timeout: float = WAIT) -> Counter:
    """Waits until each entity has an `event_type` audit entry, lets duplicates arrive, then requires
    exactly one per entity and per event id."""
    def all_there():
        per_entity, _ = audit_counts(ctx, user, event_type=event_type)
        return all(per_entity[i] >= 1 for i in entity_ids)

    try:
        wait_until(all_there, timeout, interval=0.5, what=f"a {event_type} audit entry for each of {len(entity_ids)} tasks")
    except TimeoutError as e:
        per_entity, _ = audit_counts(ctx, user, event_type=event_type)
        missing = sorted(i for i in entity_ids if per_entity[i] == 0)
        raise Failed(f"{e}; {len(missing)} missing: {missing[:5]}{'…' if len(missing) > 5 else ''}") from None
    settle()
    per_entity, per_event = audit_counts(ctx, user, event_type=event_type)
    repeats = {i: per_entity[i] for i in entity_ids if per_entity[i] != 1}
    check(not repeats, f"{event_type} audit entries per task must be exactly 1: {repeats}")
    dup_events = {i: n for i, n in per_event.items() if n > 1}
    check(not dup_events, f"audit entries per event id must be exactly 1: {dup_events}")
    return per_entity


def run_in_background(name: str, work) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target():
        try:
            work()
        except BaseException as e:  # noqa: BLE001 - re-raised by the scenario
            errors.append(e)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread, errors


# ---------------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------------


def scenario_rest_create_reaches_websocket_and_audit_once(ctx: Ctx) -> None:
    """1. Register + login two users; a REST create reaches a WebSocket client and is audited once."""
    a, b = ctx.user("a"), ctx.user("b")
    ws_a = ctx.ws("websocket-0", a)
    ws_b = ctx.ws("websocket-0", b)
    task = ctx.api.create_task(a, {"title": "e2e: first task"})
    pushed = wait_ws(ws_a, "task-created", task["id"])
    check(pushed["data"].get("user_id") == a.id, f"pushed event has user_id {pushed['data'].get('user_id')!r}")
    per_entity = check_audited_once(ctx, a, {task["id"]}, "task-created")
    entries = ctx.api.audit(a, entity_id=task["id"])
    check(len(entries) == 1, f"task {task['id']} has {len(entries)} audit entries, expected 1: "
          f"{[(e['event_type'], e['event_id']) for e in entries]}")
    check(entries[0]["event_id"] == pushed["id"],
          f"audited event id {entries[0]['event_id']} differs from the pushed one {pushed['id']}")
    check(per_entity[task["id"]] == 1, "audited once")
    check_no_duplicate_push(ws_a, {task["id"]})
    check(not ws_b.for_tasks({task["id"]}), "another user's WebSocket client received the event")
    check(ctx.api.audit(b, entity_id=task["id"]) == [], "another user sees the audit entry")


def scenario_two_websocket_replicas_each_push_every_event(ctx: Ctx) -> None:
    """2. Clients of one user on replica 0 and on replica 1 both receive every event, once each."""
    a = ctx.user("a")
    c0 = ctx.ws("websocket-0", a)
    c1 = ctx.ws("websocket-1", a)
    ids = [ctx.api.create_task(a, {"title": f"e2e: replicas {i}"})["id"] for i in range(4)]
    ctx.api.update_task(a, ids[0], {"title": "e2e: replicas 0, renamed"})
    ctx.api.complete_task(a, ids[1])
    ctx.api.delete_task(a, ids[2])
    expected = Counter({("task-created", i): 1 for i in ids})
    expected.update({("task-updated", ids[0]): 1, ("task-completed", ids[1]): 1, ("task-deleted", ids[2]): 1})
    task_ids = set(ids)
    for client in (c0, c1):
        try:
            wait_until(lambda: len(client.for_tasks(task_ids)) >= sum(expected.values()), WAIT,
                       what=f"{sum(expected.values())} events on {client.name}")
        except TimeoutError as e:
            got = Counter((m.get("type"), m.get("task_id")) for m in client.for_tasks(task_ids))
            raise Failed(f"{e}; missing {dict(expected - got)}") from None
    settle()
    for client in (c0, c1):
        check_no_duplicate_push(client, task_ids)
        got = Counter((m.get("type"), m.get("task_id")) for m in client.for_tasks(task_ids))
        check(got == expected, f"{client.name}: events {dict(got)}, expected {dict(expected)}")
    check(set(ws_event_ids(c0, task_ids)) == set(ws_event_ids(c1, task_ids)),
          "the two replicas pushed different event ids")


def http_status(url: str) -> int:
    """The status of a GET of `url` (an SSE stream: only the head is read)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def scenario_a_stream_ticket_works_once_across_replicas(ctx: Ctx) -> None:
    """2b. A stream ticket opens one SSE stream on replica 0; replayed on replica 1 or on replica 0
    it is refused (401): the replicas share the ledger of spent tickets in the state store. The
    long-lived token in the URL is refused too."""
    a = ctx.user("a")
    ticket = urllib.parse.quote(ctx.api.stream_ticket(a))
    r0, r1 = (ctx.cluster.services[f"websocket-{i}"] for i in (0, 1))
    sse = lambda service, query: f"http://127.0.0.1:{service.app_port}/api/sse/{a.id}?{query}"  # noqa: E731
    check(http_status(sse(r0, f"ticket={ticket}")) == 200, "a fresh ticket did not open the stream on replica 0")
    check(http_status(sse(r1, f"ticket={ticket}")) == 401, "a spent ticket opened the stream on replica 1")
    check(http_status(sse(r0, f"ticket={ticket}")) == 401, "a spent ticket opened the stream again on replica 0")
    token = urllib.parse.quote(a.token)
    check(http_status(sse(r1, f"token={token}")) == 401, "the access token in the URL was accepted")


def invocations(service, direction: str) -> int:
    """How many invocations `service`'s stand-in sent (for its app) or received (for its app)."""
    return sum((service.stats().get("invoke", {}).get(direction) or {}).values())


def scenario_web_forwards_through_dapr_invoke(ctx: Ctx) -> None:
    """2c. Through web's port only: sign up, sign in, create, list and update a task (web -> its
    sidecar -> backend-api's sidecar, whose Helm-shaped access control admits web -> backend-api);
    the WebSocket client on websocket-0 gets the events; without Authorization backend-api's 401 comes
    back through web; non-/api paths and `..` paths are answered by web and never forwarded."""
    web, backend = ctx.cluster.services["web"], ctx.cluster.services["backend-api"]
    api = Api(web.base)
    sent0, received0 = invocations(web, "sent"), invocations(backend, "received")
    user = api.register_and_login("E2E web", f"e2e-web-{ctx.run_id}@example.com")
    ticket = urllib.parse.quote(api.stream_ticket(user))
    client = WsClient(f"websocket-0/{user.email}",
                      f"ws://127.0.0.1:{ctx.cluster.services['websocket-0'].app_port}/ws?ticket={ticket}")
    ctx.ws_clients.append(client)
    client.start()
    task = api.create_task(user, {"title": "e2e: through web"})
    listed = [t["id"] for t in api.tasks(user)]
    check(listed == [task["id"]], f"tasks listed through web: {listed}, expected [{task['id']}]")
    updated = api.update_task(user, task["id"], {"title": "e2e: through web, renamed"})
    check(updated["title"] == "e2e: through web, renamed", f"update through web answered {updated}")
    wait_ws(client, "task-created", task["id"])
    pushed = wait_ws(client, "task-updated", task["id"])
    check(pushed["data"].get("user_id") == user.id, f"task-updated names user {pushed['data'].get('user_id')!r}")
    status, headers, body = raw_request(web.base, "GET", f"/api/{user.id}/tasks", {"Accept": "application/json"})
    check(status == 401 and b'"error"' in body, f"without Authorization through web: {status} {body[:300]!r}")
    # register, login, stream ticket, create, list, update, the 401: seven calls, each through both sidecars.
    sent, received = invocations(web, "sent") - sent0, invocations(backend, "received") - received0
    check(sent == 7 and received == 7,
          f"web's sidecar sent {sent} invocations and backend-api's received {received}, expected 7 and 7")
    refused = {}
    for path in ("/api/../v1.0/state/statestore/k", "/api/%2e%2e/healthz", f"/api/{user.id}/..%2Fhealth",
                 "/v1.0/invoke/backend-api/method/api/health", "/internal/tasks"):
        status, _, body = raw_request(web.base, "GET", path, {"Authorization": f"Bearer {user.token}"})
        refused[path] = status
        check(status == 404, f"GET {path} through web answered {status} {body[:200]!r}, expected web's 404")
    check(invocations(web, "sent") - sent0 == 7 and invocations(backend, "received") - received0 == 7,
          f"a refused path was forwarded: {refused}")
    # The chat's event stream across two sidecars: daprd 1.16 cannot stream it (it would fail the call
    # after the turn ran), so web asks for it with another Accept and the reply arrives whole.
    chat = urllib.request.Request(
        f"{web.base}/api/{user.id}/chat/stream", method="POST",
        data=json.dumps({"message": "add buy e2e stamps"}).encode(),
        headers={"Authorization": f"Bearer {user.token}", "Content-Type": "application/json",
                 "Accept": "text/event-stream"})
    with urllib.request.urlopen(chat, timeout=60) as r:
        status, body = r.status, r.read()
    check(status == 200 and b"event: done" in body, f"chat/stream through web answered {status} {body[-300:]!r}")
    # ChatKit the same way: a client secret from /api/chatkit/session, then a thread whose events
    # arrive whole; the thread reads back through web.
    status, _, body = raw_request(web.base, "POST", "/api/chatkit/session",
                                  {"Authorization": f"Bearer {user.token}"})
    check(status == 200, f"chatkit session through web answered {status} {body[:300]!r}")
    secret = json.loads(body)["client_secret"]
    create = {"type": "threads.create", "params": {"input": {
        "content": [{"type": "input_text", "text": "add buy e2e envelopes"}], "attachments": [], "inference_options": {}}}}
    kit = urllib.request.Request(
        f"{web.base}/api/chatkit", method="POST", data=json.dumps(create).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json",
                 "Accept": "text/event-stream"})
    with urllib.request.urlopen(kit, timeout=60) as r:
        status, body = r.status, r.read()
    events = [json.loads(line[len(b"data: "):]) for line in body.split(b"\n") if line.startswith(b"data: ")]
    kinds = [e["type"] for e in events]
    check(status == 200 and kinds[:1] == ["thread.created"] and events[-1].get("item", {}).get("type") == "assistant_message",
          f"chatkit through web answered {status} {kinds}")
    status, _, body = raw_request(web.base, "POST", "/api/chatkit", {
        "Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        body=json.dumps({"type": "items.list", "params": {"thread_id": events[0]["thread"]["id"], "order": "asc"}}).encode())
    items = json.loads(body)["data"] if status == 200 else []
    check(items and items[-1]["id"] == events[-1]["item"]["id"],
          f"chatkit items through web: {status} {[i.get('id') for i in items]}")


def login_through_web(web, email: str, password: str, client: str) -> int:
    """One login through web from `client`, as the ingress in front of web records it."""
    status, _, _ = raw_request(web.base, "POST", "/api/auth/login",
                               {"Content-Type": "application/json", "X-Forwarded-For": client,
                                "taskflow-client-address": "192.0.2.1"},
                               body=json.dumps({"email": email, "password": password}).encode())
    return status


def scenario_login_budgets_through_web_are_per_client(ctx: Ctx) -> None:
    """2f. Every browser's login reaches backend-api from its own sidecar, so per-address budgets
    keyed by that peer would let one client lock everybody out. web (behind one trusted proxy here)
    names the client, backend-api believes it only on calls its sidecar authenticated: a client that
    spent its failed-login budget through web is refused, another signs in, and the name a client
    gives itself (taskflow-client-address) counts for nothing."""
    web = ctx.cluster.services["web"]
    user = ctx.api.register_and_login("E2E budget", f"e2e-budget-{ctx.run_id}@example.com")
    attacker, refused_after = "203.0.113.66", None
    for attempt in range(1, 80):
        # A new account each time: only the address's budget is spent, never an account's.
        status = login_through_web(web, f"nobody-{attempt}-{ctx.run_id}@example.com", "wrong password", attacker)
        if status == 429:
            refused_after = attempt
            break
        check(status == 401, f"failed login {attempt} through web answered {status}")
    check(refused_after is not None, "79 failed logins from one client through web were never refused")
    status = login_through_web(web, user.email, "correct horse battery", attacker)
    check(status == 429, f"the refused client signed in through web: {status}")
    status = login_through_web(web, user.email, "correct horse battery", "198.51.100.7")
    check(status == 200, f"another client's login through web answered {status} after {attacker} was refused")


def series_tasks(ctx: Ctx, user: User, title: str) -> list[dict]:
    return [t for t in ctx.api.tasks(user, search=title) if t["title"] == title]


def scenario_a_client_resumes_on_a_restarted_replica_from_the_outbox(ctx: Ctx) -> None:
    """2d. A client saw one event on replica 0 and left; replica 1 restarts (its buffer is empty) and
    two events are written; the client reconnects to replica 1 with `?last_event_id=` and gets exactly
    those two, then the live one, none twice — read from backend-api's outbox through service
    invocation (websocket's sidecar -> backend-api's, whose policy admits websocket to
    `GET /internal/events/**` only). An id the outbox does not hold gets `resync`."""
    a = ctx.user("resume")
    backend = ctx.cluster.services["backend-api"]
    c0 = ctx.ws("websocket-0", a)
    first = ctx.api.create_task(a, {"title": "e2e: resume 1"})["id"]
    seen = wait_ws(c0, "task-created", first)
    c0.close()
    ctx.cluster.stop_app("websocket-1")
    ctx.cluster.start_app("websocket-1")
    missed = [ctx.api.create_task(a, {"title": f"e2e: resume {i}"})["id"] for i in (2, 3)]
    check_audited_once(ctx, a, set(missed), "task-created")
    received = invocations(backend, "received")
    client = ctx.ws("websocket-1", a, last_event_id=seen["id"])
    live = ctx.api.create_task(a, {"title": "e2e: resume 4"})["id"]
    wait_ws(client, "task-created", live)
    settle()
    got = [m.get("task_id") for m in client.snapshot() if m.get("type") == "task-created"]
    check(got == missed + [live], f"replica 1 replayed {got}, expected {missed + [live]} (missed, then live)")
    check(not any(m.get("type") == "resync" for m in client.snapshot()), "a resumable client was told to resync")
    check(invocations(backend, "received") > received, "no invocation reached backend-api: the replay was not read from the outbox")
    stranger = ctx.ws("websocket-1", a, last_event_id="01900000-0000-7000-8000-000000000000")
    wait_until(lambda: any(m.get("type") == "resync" for m in stranger.snapshot()), WAIT,
               what="resync for an id the outbox does not hold")


def scenario_a_personal_access_token_opens_a_replicas_stream_through_backend_api(ctx: Ctx) -> None:
    """2e. A personal access token on a websocket replica's SSE stream: websocket keeps no data, so it
    resolves the token through service invocation of backend-api's `GET /internal/access-tokens/**`
    (admitted by backend-api's policy like `/internal/events/**`). With `tasks:read` the stream opens
    and carries the user's events; without it 403 `insufficient_scope`; once revoked, 401."""
    a = ctx.user("pat")
    backend = ctx.cluster.services["backend-api"]
    base = f"http://127.0.0.1:{ctx.cluster.services['websocket-0'].app_port}"

    def token(scopes: list[str]) -> dict:
        return ctx.api.request("POST", f"/api/{a.id}/tokens", {"name": "e2e", "scopes": scopes},
                               token=a.token, expect=(201,))

    reader, writer = token(["tasks:read"]), token(["tasks:write"])
    received = invocations(backend, "received")
    status, _, body = raw_request(base, "GET", f"/api/sse/{a.id}", {"Authorization": f"Bearer {writer['token']}"})
    check(status == 403 and b"insufficient_scope" in body, f"a token without tasks:read got {status} {body[:200]!r}")
    req = urllib.request.Request(f"{base}/api/sse/{a.id}", headers={
        "Authorization": f"Bearer {reader['token']}", "Accept": "text/event-stream"})
    with urllib.request.urlopen(req, timeout=WAIT) as stream:
        check(stream.status == 200, f"a tasks:read token got {stream.status} on the SSE stream")
        created = ctx.api.create_task(a, {"title": "e2e: pat stream"})["id"]
        deadline = time.monotonic() + WAIT
        seen = False
        while not seen and time.monotonic() < deadline:
            line = stream.readline()
            seen = created.encode() in line
        check(seen, f"the SSE stream opened with a personal access token did not carry task {created}")
    check(invocations(backend, "received") > received, "no invocation reached backend-api: the token was not resolved there")
    ctx.api.request("DELETE", f"/api/{a.id}/tokens/{reader['id']}", token=a.token, expect=(204,))
    status, _, body = raw_request(base, "GET", f"/api/sse/{a.id}", {"Authorization": f"Bearer {reader['token']}"})
    check(status == 401, f"a revoked token got {status} {body[:200]!r}")


def scenario_recurring_completion_yields_one_next_occurrence(ctx: Ctx) -> None:
    """3. Completing a recurring task yields exactly one next occurrence, every message delivered twice;
    reopening and completing it again creates nothing more."""
    a = ctx.user("a")
    title = f"e2e: daily {ctx.run_id}"
    due = tomorrow_9am()
    first = ctx.api.create_task(a, {"title": title, "due_at": iso(due), "recurrence": "daily"})
    ctx.api.complete_task(a, first["id"])
    try:
        wait_until(lambda: len(series_tasks(ctx, a, title)) >= 2, WAIT, what="the next occurrence")
    except TimeoutError as e:
        raise Failed(f"{e}; tasks: {[(t['id'], t['completed']) for t in series_tasks(ctx, a, title)]}") from None
    settle()
    tasks = series_tasks(ctx, a, title)
    check(len(tasks) == 2, f"expected the task and one next occurrence, found {len(tasks)} tasks")
    nxt = next(t for t in tasks if t["id"] != first["id"])
    check(nxt["parent_task_id"] == first["id"], f"next occurrence's parent is {nxt['parent_task_id']}")
    check(nxt["recurrence"]["occurrence"] == 2, f"next occurrence is #{nxt['recurrence']['occurrence']}")
    check(not nxt["completed"], "next occurrence is already completed")
    check(parse_time(nxt["due_at"]) == due + dt.timedelta(days=1), f"next occurrence due {nxt['due_at']}")
    # The new occurrence's own event reaches the audit trail, once.
    check_audited_once(ctx, a, {nxt["id"]}, "task-created")
    # Reopen, complete again: two more task-completed events, no new task.
    ctx.api.complete_task(a, first["id"], completed=False)
    ctx.api.complete_task(a, first["id"], completed=True)
    wait_until(lambda: audit_counts(ctx, a, event_type="task-completed", entity_id=first["id"])[0][first["id"]] >= 3,
               WAIT, interval=0.5, what="the second completion in the audit trail")
    settle()
    tasks = series_tasks(ctx, a, title)
    check(len(tasks) == 2, f"after reopening and completing again: {len(tasks)} tasks, expected 2")


def kill_mid_stream(ctx: Ctx, victim: str, items: list, act, kill_after: int, gap: float) -> None:
    """Runs `act(item)` for every item in the background, kill -9s `victim` after `kill_after`
    items, restarts it two seconds later, and waits for the background work to end."""
    done: list = []

    def work():
        for item in items:
            act(item)
            done.append(item)
            time.sleep(gap)

    thread, errors = run_in_background(f"{victim}-load", work)
    wait_until(lambda: len(done) >= kill_after or errors or not thread.is_alive(), WAIT,
               what=f"{kill_after} actions before killing {victim}")
    ctx.cluster.kill9_app(victim)
    print(f"    kill -9 {victim} after {len(done)} of {len(items)} actions", flush=True)
    time.sleep(2)
    ctx.cluster.start_app(victim)
    print(f"    {victim} restarted and ready after {len(done)} of {len(items)} actions", flush=True)
    thread.join(timeout=120)
    if errors:
        raise Failed(f"background requests failed: {errors[0]!r}")
    check(not thread.is_alive(), "background requests did not finish")


def scenario_kill9_audit_loses_nothing(ctx: Ctx) -> None:
    """4a. kill -9 of audit while tasks are being created, then restart: every created task has exactly
    one task-created audit entry."""
    u = ctx.user("kill-audit")
    created: list[str] = []
    kill_mid_stream(ctx, "audit", list(range(40)),
                    lambda i: created.append(ctx.api.create_task(u, {"title": f"e2e: load {i}"})["id"]),
                    kill_after=12, gap=0.1)
    check(len(created) == 40, f"{len(created)} tasks created, expected 40")
    check_audited_once(ctx, u, set(created), "task-created", timeout=LEASE_WAIT)


def scenario_kill9_recurring_loses_nothing(ctx: Ctx) -> None:
    """4b. kill -9 of recurring while recurring tasks are being completed, then restart: every completed
    task has exactly one next occurrence."""
    u = ctx.user("kill-recurring")
    due = iso(tomorrow_9am())
    firsts = [ctx.api.create_task(u, {"title": f"e2e: series {i}", "due_at": due, "recurrence": "daily"})["id"]
              for i in range(16)]
    kill_mid_stream(ctx, "recurring", firsts, lambda t: ctx.api.complete_task(u, t), kill_after=5, gap=0.15)

    def next_occurrences() -> Counter:
        return Counter(t["parent_task_id"] for t in ctx.api.tasks(u) if t["parent_task_id"])

    try:
        wait_until(lambda: all(next_occurrences()[t] >= 1 for t in firsts), LEASE_WAIT, interval=0.5,
                   what="a next occurrence of each of the 16 completed series")
    except TimeoutError as e:
        counts = next_occurrences()
        raise Failed(f"{e}; {sum(1 for t in firsts if counts[t] == 0)} series have none") from None
    settle()
    counts = next_occurrences()
    wrong = {t: counts[t] for t in firsts if counts[t] != 1}
    check(not wrong, f"next occurrences per series must be exactly 1: {wrong}")
    check(len(ctx.api.tasks(u)) == 32, f"{len(ctx.api.tasks(u))} tasks, expected 16 series x 2")


def stop_backend_api(ctx: Ctx) -> None:
    code = ctx.cluster.stop_app("backend-api")
    ctx.cluster.stop_sidecar("backend-api")
    check(code == 0, f"backend-api exited {code} after SIGTERM (expected a clean 0)")


def start_backend_api(ctx: Ctx) -> None:
    ctx.cluster.start_service("backend-api")


def audited_in_database(ctx: Ctx, event_type: str, entity_id: str) -> int:
    rows = psql(ctx.cluster.database_url,
                f"SELECT count(*) FROM audit_logs WHERE event_type = '{event_type}' AND entity_id = '{entity_id}'")
    return int(rows[0][0])


def scenario_reminder_fires_while_backend_api_is_down(ctx: Ctx) -> None:
    """5. With backend-api (and its sidecar) stopped, a due reminder still reaches the WebSocket clients
    of both replicas as `reminder-due` and lands in the audit trail exactly once."""
    a = ctx.user("a")
    c0, c1 = ctx.ws("websocket-0", a), ctx.ws("websocket-1", a)
    remind_at = utc_now() + dt.timedelta(seconds=15)
    task = ctx.api.create_task(a, {
        "title": "e2e: reminder while backend-api is down",
        "due_at": iso(utc_now() + dt.timedelta(minutes=30)),
        "reminders": [{"remind_at": iso(remind_at)}],
    })
    reminder_id = task["reminders"][0]["id"]
    wait_ws(c0, "task-created", task["id"])  # the pipeline is live before the stop
    try:
        stop_backend_api(ctx)
        stopped = utc_now()
        print(f"    backend-api and its sidecar stopped {(remind_at - stopped).total_seconds():.1f} s before the reminder",
              flush=True)
        check(stopped < remind_at - dt.timedelta(seconds=1),
              "backend-api took too long to stop: the reminder came due while it was up (inconclusive)")
        wait_for = (remind_at - utc_now()).total_seconds() + WAIT
        pushes = [wait_ws(c, "reminder-due", task["id"], timeout=wait_for) for c in (c0, c1)]
        check(pushes[0]["id"] == pushes[1]["id"], "the replicas pushed different reminder-due events")
        check(pushes[0]["data"].get("reminder", {}).get("reminder_id") == reminder_id,
              f"reminder-due names reminder {pushes[0]['data'].get('reminder')}, expected {reminder_id}")
        try:
            wait_until(lambda: audited_in_database(ctx, "reminder-due", reminder_id) >= 1, WAIT, interval=0.5,
                       what="the reminder-due row in audit_logs (PostgreSQL, backend-api down)")
        except TimeoutError as e:
            raise Failed(str(e)) from None
        settle()
        count = audited_in_database(ctx, "reminder-due", reminder_id)
        check(count == 1, f"audit_logs holds {count} reminder-due rows for the reminder, expected 1")
        for c in (c0, c1):
            check_no_duplicate_push(c, {task["id"]})
    finally:
        start_backend_api(ctx)
    entries = ctx.api.audit(a, event_type="reminder-due", entity_id=reminder_id)
    check(len(entries) == 1, f"after restarting backend-api the audit trail has {len(entries)} reminder-due entries")
    check(entries[0]["event_id"] == pushes[0]["id"], "the audited reminder-due event is not the pushed one")


def refusal_is_allowed(refusal) -> bool:
    """A 409 on a first-write claim (etag "0") of a key that is already claimed is the protocol
    working; anything else is a refused save."""
    if not isinstance(refusal, dict):
        return False
    status = str(refusal.get("status"))
    etag = refusal.get("etag")
    first_write = str(refusal.get("concurrency", "first-write")) == "first-write"
    return status == "409" and etag == "0" and first_write


def scenario_no_state_save_or_publish_refused(ctx: Ctx) -> None:
    """6. Every stand-in: no state save answered 500 or 400 (409 only for a first-write claim of an
    already-claimed key), no circuit breaker opened, no publish refused, nothing dead-lettered; and
    duplicates were really delivered."""
    problems: list[str] = []
    duplicates = 0
    for name, snaps in ctx.cluster.all_stats().items():
        for snap in snaps:
            if "_error" in snap:
                problems.append(f"{name}: {snap['_error']}")
                continue
            saves = {str(k): v for k, v in (snap.get("state_saves") or {}).items()}
            refused_publish = {k: v for k, v in (snap.get("publish_refused") or {}).items() if v}
            refusals = snap.get("state_save_refusals") or []
            duplicates += int(snap.get("duplicates_sent") or 0)
            print(f"    {name}: state_saves {saves}, deliveries {snap.get('deliveries')}, "
                  f"duplicates_sent {snap.get('duplicates_sent')}, dead_lettered {snap.get('dead_lettered')}, "
                  f"published {snap.get('published')}, publish_refused {snap.get('publish_refused')}, "
                  f"cron_ticks {snap.get('cron_ticks')}, invoke {snap.get('invoke')}", flush=True)
            for status in ("500", "400"):
                if saves.get(status):
                    problems.append(f"{name}: {saves[status]} state saves answered {status}")
            bad = [r for r in refusals if not refusal_is_allowed(r)]
            if bad:
                problems.append(f"{name}: {len(bad)} refused state saves other than a first-write claim "
                                f"of a claimed key (409, etag \"0\"): {bad[:3]}")
            kinds = snap.get("state_save_refusal_kinds") or {}
            if int(kinds.get("other") or 0):
                problems.append(f"{name}: {kinds['other']} refused state saves in all other than a "
                                "first-write claim of a claimed key")
            # A claim reads the key first (crates/bus/src/dapr/client.rs), so only two deliveries of
            # one event racing each other meet a 409; daprd counts each toward the breaker.
            print(f"    {name}: first-write claims refused (racing deliveries): "
                  f"{kinds.get('first_write_claim_409', 0)}", flush=True)
            opened = {k: v for k, v in (snap.get("breakers_opened") or {}).items() if v}
            if opened:
                problems.append(f"{name}: circuit breakers opened: {opened}")
            if refused_publish:
                problems.append(f"{name}: publishes refused: {refused_publish}")
            if int(snap.get("dead_lettered") or 0):
                problems.append(f"{name}: {snap['dead_lettered']} deliveries dead-lettered (nothing here is poison)")
    check(not problems, "; ".join(problems))
    check(duplicates > 0, "no stand-in delivered a duplicate: the run did not test at-least-once delivery")


SCENARIOS = [
    scenario_rest_create_reaches_websocket_and_audit_once,
    scenario_two_websocket_replicas_each_push_every_event,
    scenario_a_stream_ticket_works_once_across_replicas,
    scenario_web_forwards_through_dapr_invoke,
    scenario_login_budgets_through_web_are_per_client,
    scenario_a_client_resumes_on_a_restarted_replica_from_the_outbox,
    scenario_a_personal_access_token_opens_a_replicas_stream_through_backend_api,
    scenario_recurring_completion_yields_one_next_occurrence,
    scenario_kill9_audit_loses_nothing,
    scenario_kill9_recurring_loses_nothing,
    scenario_reminder_fires_while_backend_api_is_down,
    scenario_no_state_save_or_publish_refused,
]


# ---------------------------------------------------------------------------------------------------
# Set-up, run, clean-up
# ---------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin-dir", required=True, type=Path, help="directory of the service binaries")
    p.add_argument("--database-url", required=True, help="an existing database to create the test database from")
    p.add_argument("--redis-url", required=True)
    p.add_argument("--redis-db", type=int, default=14, help="Redis database number the test owns (flushed)")
    p.add_argument("--standin", type=Path, default=HERE / "daprd_standin.py")
    p.add_argument("--components", type=Path, default=REPO / "dapr-components" / "local")
    p.add_argument("--only", action="append", default=[], help="run only scenarios whose name contains this")
    p.add_argument("--keep-logs", action="store_true", help="keep the temporary directory with the logs")
    return p.parse_args()


def print_patches(patches: list[str], loud: list[str]) -> None:
    print("==> components: dapr-components/local patched for the test:")
    for line in patches:
        print(f"    {line}")
    if loud:
        print("    websocket replicas, in the production components' shape (dapr-components/*.yaml, checked):")
    for line in loud:
        print(f"    {line}")
    print(flush=True)


def run_scenarios(ctx: Ctx, scenarios, results: Counter) -> None:
    """Runs each scenario, counting results["passed"] and results["failed"] as they end."""
    for scenario in scenarios:
        name = scenario.__name__.removeprefix("scenario_")
        print(f"==> {name}: {scenario.__doc__.strip().splitlines()[0]}", flush=True)
        started = time.monotonic()
        try:
            scenario(ctx)
        except Exception as e:  # noqa: BLE001 - every scenario runs, each failure is reported
            results["failed"] += 1
            detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
            print(f"FAIL {name} ({time.monotonic() - started:.1f} s): {detail}", flush=True)
        else:
            results["passed"] += 1
            print(f"PASS {name} ({time.monotonic() - started:.1f} s)", flush=True)
        finally:
            ctx.close_ws()


def main() -> int:
    args = parse_args()
    # Ctrl-C (also when started from a shell that ignores SIGINT in background jobs) and SIGTERM
    # unwind through the clean-up below.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scenarios = [s for s in SCENARIOS if not args.only or any(o in s.__name__ for o in args.only)]
    bin_dir = args.bin_dir if args.bin_dir.is_absolute() else (Path.cwd() / args.bin_dir)
    work = Path(tempfile.mkdtemp(prefix="taskflow-e2e-"))
    (work / "logs").mkdir()
    procs = ProcessManager(work / "logs", REPO)
    db_name = None
    redis_claimed = False
    owner = f"{socket.gethostname()}:{os.getpid()}:{work.name}"
    ctx = None
    results: Counter = Counter()
    try:
        if not args.standin.is_file():
            raise RuntimeError(f"stand-in sidecar {args.standin} not found")
        db_name, db_url = create_database(args.database_url)
        print(f"==> database {db_name}; Redis database {args.redis_db}; logs in {work / 'logs'}", flush=True)
        claim_redis_db(args.redis_url, args.redis_db, owner)
        redis_claimed = True
        production_replica_shape(REPO / "dapr-components")
        patches, loud = build_resources(args.components, work / "resources", args.redis_url, args.redis_db)
        print_patches(patches, loud)
        configs(args.components, work / "configs")
        cluster = Cluster(procs, REPO, bin_dir, args.standin, work / "resources", db_url,
                          config_dir=work / "configs")
        cluster.migrate()
        print(f"==> migrated; starting {len(SPECS)} services and {len(SPECS)} stand-in sidecars", flush=True)
        cluster.start_all()
        for s in cluster.services.values():
            print(f"    {s.name}: app :{s.app_port} (pid {s.app.pid}), sidecar :{s.dapr_port} (pid {s.sidecar.pid})")
        ctx = Ctx(cluster, work.name.rsplit("-", 1)[-1].lower())
        run_scenarios(ctx, scenarios, results)
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
    except Exception:  # noqa: BLE001 - set-up failure: reported, then cleaned up
        print(f"SET-UP FAILED:\n{traceback.format_exc()}", flush=True)
    finally:
        passed = results["passed"]
        failed = len(scenarios) - passed  # a scenario that did not run (set-up failure, Ctrl-C) failed
        if ctx is not None:
            ctx.close_ws()
        procs.stop_all()
        if failed:
            procs.print_tails()
        cleanup(args, db_name, owner if redis_claimed else None, work, keep=args.keep_logs)
    print(f"e2e: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


def cleanup(args, db_name: str | None, redis_owner: str | None, work: Path, keep: bool) -> None:
    if db_name:
        try:
            drop_database(args.database_url, db_name)
        except Exception as e:  # noqa: BLE001
            print(f"warning: could not drop database {db_name}: {e}", flush=True)
    if redis_owner:
        try:
            release_redis_db(args.redis_url, args.redis_db, redis_owner)
        except Exception as e:  # noqa: BLE001
            print(f"warning: could not flush Redis database {args.redis_db}: {e}", flush=True)
    if keep:
        print(f"logs kept in {work / 'logs'}", flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
