#!/usr/bin/env python3
"""TaskFlow's webhooks checked by the Standard Webhooks reference library.

Starts the `taskflow` binary it is given (its own data directory and port; private networks allowed,
so a receiver on 127.0.0.1 can be reached; retries after 200 ms), runs a receiver on 127.0.0.1 that
answers 500 twice and then 204, registers a user and an endpoint, creates a task, and checks that:

- every attempt verifies with `standardwebhooks.Webhook(secret).verify(body, headers)` — the
  reference implementation a receiver would use — and a tampered body or another secret does not;
- the three attempts carry one `webhook-id`, and the body is `{type, timestamp, data}` for the task;
- the delivery log shows one delivery, delivered after three attempts, with the receiver's 204;
- after a secret rotation both the old and the new secret verify the next delivery (the grace period).

    python tests/webhooks/check_delivery.py --bin target/release/taskflow

Exits non-zero, naming what failed.
"""
from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

WAIT = 30.0


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(base: str, method: str, path: str, token: str | None = None, body: dict | None = None,
            expect: int | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    if expect is not None:
        check(status == expect, f"{method} {path}: {status} {raw[:300]!r}, expected {expect}")
    return status, (json.loads(raw) if raw else {})


class Receiver(http.server.BaseHTTPRequestHandler):
    """Answers 500 to the first `fail_first` requests, 204 after; records every request."""

    fail_first = 2
    received: list[tuple[dict[str, str], bytes]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.lock:
            self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = 500 if len(self.received) <= self.fail_first else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


def wait_for(what: str, predicate, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the taskflow binary")
    binary = parser.parse_args().bin

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "REDIS_URL", "TEST_DATABASE_URL", "TEST_REDIS_URL")}
        env.update(PORT=str(port), TASKFLOW_DATA_DIR=data_dir, WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
                   WEBHOOK_RETRY_SCHEDULE="200ms,200ms,200ms", WEBHOOK_POLL_MS="50", RUST_LOG="warn")
        server = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:

            def up() -> bool:
                if server.poll() is not None:
                    err = server.stderr.read().decode() if server.stderr else ""
                    raise AssertionError(f"taskflow exited with {server.returncode}: {err[-2000:]}")
                return _listening(port) and request(base, "GET", "/health")[0] == 200

            wait_for("/health", up)
            run(base, hook_url)
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
            receiver.shutdown()
    print("ok: webhooks verified by standardwebhooks", flush=True)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def run(base: str, hook_url: str) -> None:
    email, password = f"hooks-{uuid.uuid4().hex}@example.com", "webhook check password"
    request(base, "POST", "/api/auth/register", body={"name": "Hooks", "email": email, "password": password}, expect=201)
    _, login = request(base, "POST", "/api/auth/login", body={"email": email, "password": password}, expect=200)
    token, user_id = login["access_token"], login["user"]["id"]

    _, endpoint = request(base, "POST", f"/api/{user_id}/webhooks", token,
                          {"url": hook_url, "events": ["task-created", "task-updated"]}, expect=201)
    secret = endpoint["secret"]
    check(secret.startswith("whsec_"), f"secret: {secret[:10]}…")
    _, task = request(base, "POST", f"/api/{user_id}/tasks", token, {"title": "Ship the webhook check"}, expect=201)

    wait_for("three attempts", lambda: len(Receiver.received) >= 3)
    attempts = list(Receiver.received[:3])
    ids = {headers["webhook-id"] for headers, _ in attempts}
    check(len(ids) == 1, f"one webhook-id across retries, got {ids}")
    for headers, body in attempts:
        payload = Webhook(secret).verify(body, headers)
        check(payload["type"] == "task-created", f"type: {payload['type']}")
        check(payload["data"]["task"]["id"] == task["id"], f"data: {json.dumps(payload['data'])[:300]}")
        check(isinstance(payload["timestamp"], str), f"timestamp: {payload['timestamp']!r}")
        try:
            Webhook(secret).verify(body + b" ", headers)
            raise AssertionError("a changed body verified")
        except WebhookVerificationError:
            pass
        try:
            Webhook("whsec_" + "QUJD" * 8).verify(body, headers)
            raise AssertionError("another secret verified")
        except WebhookVerificationError:
            pass

    endpoint_path = f"/api/{user_id}/webhooks/{endpoint['id']}"

    def delivered():
        _, log = request(base, "GET", f"{endpoint_path}/deliveries", token, expect=200)
        done = [d for d in log["deliveries"] if d["status"] == "delivered"]
        return done[0] if done else None

    delivery = wait_for("the delivery log to say delivered", delivered)
    check(delivery["attempts"] == 3 and delivery["last_status_code"] == 204, f"delivery: {delivery}")
    check(delivery["webhook_id"] == attempts[0][0]["webhook-id"], f"log's webhook_id: {delivery}")

    # A rotation: during the grace period both secrets sign.
    _, rotated = request(base, "POST", f"{endpoint_path}/rotate-secret", token, expect=200)
    new_secret = rotated["secret"]
    check(new_secret != secret, "rotation returned the same secret")
    request(base, "PATCH", f"/api/{user_id}/tasks/{task['id']}", token, {"title": "Ship it, renamed"}, expect=200)
    wait_for("the update's delivery", lambda: len(Receiver.received) >= 4)
    headers, body = Receiver.received[3]
    for key in (secret, new_secret):
        payload = Webhook(key).verify(body, headers)
        check(payload["type"] == "task-updated", f"type after rotation: {payload['type']}")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
