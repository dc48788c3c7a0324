"""Clients for the end-to-end test: backend-api's REST API (stdlib only) and a WebSocket listener
(Python `websockets`, run in a thread of its own so the scenarios can stay plain synchronous code)."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


class ApiError(AssertionError):
    pass


@dataclass
class User:
    id: str
    email: str
    token: str


class Api:
    """backend-api's REST API at `base` (http://127.0.0.1:PORT)."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")

    def request(self, method: str, path: str, body=None, token: str | None = None,
                expect: tuple[int, ...] = (200,), timeout: float = 15.0):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            raise ApiError(f"{method} {path}: no answer from backend-api ({e})") from None
        if status not in expect:
            raise ApiError(f"{method} {path}: HTTP {status}, expected {expect}: {raw[:500]!r}")
        return json.loads(raw) if raw else None

    # --- accounts
    def register_and_login(self, name: str, email: str, password: str = "correct horse battery") -> User:
        self.request("POST", "/api/auth/register", {"name": name, "email": email, "password": password},
                     expect=(201,))
        login = self.request("POST", "/api/auth/login", {"email": email, "password": password})
        return User(id=login["user"]["id"], email=email, token=login["access_token"])

    # --- stream tickets
    def stream_ticket(self, user: User) -> str:
        """A single-use, 60-second ticket for `?ticket=` on a websocket replica's /ws or SSE URL."""
        return self.request("POST", f"/api/{user.id}/stream-tickets", token=user.token, expect=(201,))["ticket"]

    # --- tasks
    def create_task(self, user: User, body: dict) -> dict:
        return self.request("POST", f"/api/{user.id}/tasks", body, token=user.token, expect=(201,))

    def update_task(self, user: User, task_id: str, body: dict) -> dict:
        return self.request("PATCH", f"/api/{user.id}/tasks/{task_id}", body, token=user.token)

    def complete_task(self, user: User, task_id: str, completed: bool = True) -> dict:
        return self.request("PATCH", f"/api/{user.id}/tasks/{task_id}/complete", {"completed": completed},
                            token=user.token)

    def delete_task(self, user: User, task_id: str) -> None:
        self.request("DELETE", f"/api/{user.id}/tasks/{task_id}", token=user.token, expect=(204,))

    def _pages(self, user: User, path: str, key: str, params: dict) -> list[dict]:
        items: list[dict] = []
        cursor = None
        while True:
            query = dict(params, limit=200)
            if cursor:
                query["cursor"] = cursor
            page = self.request("GET", f"/api/{user.id}/{path}?{urllib.parse.urlencode(query)}", token=user.token)
            items.extend(page[key])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def tasks(self, user: User, **params) -> list[dict]:
        return self._pages(user, "tasks", "tasks", params)

    def audit(self, user: User, **params) -> list[dict]:
        return self._pages(user, "audit", "entries", params)


def raw_request(base: str, method: str, path: str, headers: dict[str, str] | None = None,
                timeout: float = 15.0, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request with `path` sent exactly as given (no client-side normalisation of `..` or of
    percent-encodings); (status, lower-cased headers, body)."""
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class WsClient:
    """One WebSocket connection to `ws://…/ws?ticket=…`, recording every message it receives."""

    def __init__(self, name: str, url: str):
        self.name = name
        self.url = url
        self.messages: list[dict] = []
        self.errors: list[str] = []
        self.closed: str | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws = None
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ws-{name}", daemon=True)

    def start(self, timeout: float = 15.0) -> "WsClient":
        self._thread.start()
        if not self._opened.wait(timeout):
            raise AssertionError(f"{self.name}: WebSocket did not open within {timeout:.0f} s")
        if self.errors:
            raise AssertionError(f"{self.name}: WebSocket failed to open: {self.errors[0]}")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._listen())
        finally:
            self._loop.close()

    async def _listen(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        try:
            async with connect(self.url, open_timeout=10, max_size=2**22) as ws:
                self._ws = ws
                self._opened.set()
                try:
                    async for raw in ws:
                        try:
                            msg = json.loads(raw)
                        except ValueError:
                            msg = {"unparsable": str(raw)[:200]}
                        msg["_received_at"] = time.monotonic()
                        with self._lock:
                            self.messages.append(msg)
                except ConnectionClosed as e:
                    self.closed = f"closed: {e}"
        except Exception as e:  # noqa: BLE001 - recorded and reported by the scenario
            self.errors.append(f"{type(e).__name__}: {e}")
            self._opened.set()
        if self.closed is None:
            self.closed = "closed"

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.messages)

    def for_tasks(self, task_ids: set[str]) -> list[dict]:
        return [m for m in self.snapshot() if m.get("task_id") in task_ids]

    def close(self) -> None:
        if self._loop is not None and self._ws is not None and self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self._ws.close(), self._loop).result(timeout=5)
            except Exception:  # noqa: BLE001 - best effort at cleanup
                pass
        self._thread.join(timeout=5)
