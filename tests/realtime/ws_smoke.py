"""A real third-party WebSocket client against the running `taskflow` binary.

Asks for a single-use stream ticket (POST /api/{user_id}/stream-tickets), connects to /ws with it in
the query string (as a browser does: it cannot set headers), creates a task over HTTP, and expects
its `task-created` message; then checks that the spent ticket, a connection without a token and the
long-lived token in the URL are each refused with HTTP 401 before the upgrade.
Usage: ws_smoke.py BASE_URL TOKEN USER_ID
"""

import asyncio
import json
import sys
import urllib.parse
import urllib.request

import websockets


def api(base: str, token: str, method: str, path: str, body=None) -> dict:
    request = urllib.request.Request(
        f"{base}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method,
    )
    return json.load(urllib.request.urlopen(request, timeout=5))


async def refused(url: str, what: str) -> None:
    try:
        async with websockets.connect(url):
            raise AssertionError(f"{what} was accepted")
    except websockets.exceptions.InvalidStatus as refusal:
        assert refusal.response.status_code == 401, (what, refusal.response.status_code)


async def main(base: str, token: str, user_id: str) -> None:
    ws_url = base.replace("http://", "ws://", 1) + "/ws"
    ticket = api(base, token, "POST", f"/api/{user_id}/stream-tickets")["ticket"]
    with_ticket = f"{ws_url}?ticket={urllib.parse.quote(ticket)}"
    async with websockets.connect(with_ticket) as socket:
        task = api(base, token, "POST", f"/api/{user_id}/tasks", {"title": "Pushed over WebSocket"})
        message = json.loads(await asyncio.wait_for(socket.recv(), timeout=5))
        assert message["type"] == "task-created", message
        assert message["task_id"] == task["id"], (message, task)
        assert message["data"]["task"]["title"] == "Pushed over WebSocket", message
    await refused(with_ticket, "a spent ticket")
    await refused(ws_url, "a socket without a token")
    await refused(f"{ws_url}?{urllib.parse.urlencode({'token': token})}", "the access token in the URL")
    print("websocket ok: task-created pushed over a ticket; spent ticket, no token, token in URL -> 401")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
