"""A real third-party WebSocket client against the running `taskflow` binary.

Connects to /ws with the user's token (in the query string, as a browser would), creates a task over
HTTP, and expects its `task-created` message; then checks that a connection without a token is refused
with HTTP 401 before the upgrade. Usage: ws_smoke.py BASE_URL TOKEN USER_ID
"""

import asyncio
import json
import sys
import urllib.request

import websockets


async def main(base: str, token: str, user_id: str) -> None:
    ws_url = base.replace("http://", "ws://", 1) + "/ws"
    async with websockets.connect(f"{ws_url}?token={token}") as socket:
        request = urllib.request.Request(
            f"{base}/api/{user_id}/tasks",
            data=json.dumps({"title": "Pushed over WebSocket"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        task = json.load(urllib.request.urlopen(request, timeout=5))
        message = json.loads(await asyncio.wait_for(socket.recv(), timeout=5))
        assert message["type"] == "task-created", message
        assert message["task_id"] == task["id"], (message, task)
        assert message["data"]["task"]["title"] == "Pushed over WebSocket", message
    try:
        async with websockets.connect(ws_url):
            raise AssertionError("a socket without a token was accepted")
    except websockets.exceptions.InvalidStatus as refused:
        assert refused.response.status_code == 401, refused.response.status_code
    print("websocket ok: task-created pushed; no token -> 401")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
