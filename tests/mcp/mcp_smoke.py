"""The official Python MCP client against the running `taskflow` binary.

initialize -> tools/list -> tools/call add_task / list_tasks / complete_task over Streamable HTTP with the
user's bearer token; then checks that a second user sees none of it and that a client without a token is
refused. Usage: mcp_smoke.py BASE_URL TOKEN OTHER_TOKEN
"""

import asyncio
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

EXPECTED_TOOLS = {
    "add_task",
    "list_tasks",
    "complete_task",
    "delete_task",
    "update_task",
    "get_stats",
    "set_reminder",
}


def structured(result):
    assert not result.is_error, result
    return result.structured_content


async def session_for(base: str, token: str):
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return client, streamable_http_client(f"{base}/mcp", http_client=client)


async def main(base: str, token: str, other_token: str) -> None:
    client, transport = await session_for(base, token)
    async with client, transport as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.server_info.name == "taskflow", init
            tools = await session.list_tools()
            names = {t.name for t in tools.tools}
            assert names == EXPECTED_TOOLS, names
            delete = next(t for t in tools.tools if t.name == "delete_task")
            assert delete.annotations.destructive_hint is True, delete.annotations
            listing = next(t for t in tools.tools if t.name == "list_tasks")
            assert listing.annotations.read_only_hint is True, listing.annotations

            added = structured(
                await session.call_tool(
                    "add_task", {"title": "Ship the MCP server", "priority": "high", "due": "tomorrow 5pm"}
                )
            )
            task_id = added["task"]["id"]
            assert added["task"]["priority"] == "high", added
            assert added["task"]["due_at"], added

            # The user may have other tasks (the smoke test made some): look for this one by name.
            listed = structured(await session.call_tool("list_tasks", {"search": "Ship the MCP"}))
            assert [t["id"] for t in listed["tasks"]] == [task_id], listed

            done = structured(await session.call_tool("complete_task", {"task": "ship the mcp server"}))
            assert done["task"]["completed"] is True, done

            missing = await session.call_tool("delete_task", {"task": "no such task"})
            assert missing.is_error, missing

    other, transport = await session_for(base, other_token)
    async with other, transport as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            theirs = structured(await session.call_tool("list_tasks", {"status": "all"}))
            assert theirs["tasks"] == [], theirs
            attempt = await session.call_tool("complete_task", {"task": task_id, "completed": False})
            assert attempt.is_error, attempt

    async with httpx2.AsyncClient(timeout=10) as anonymous:
        res = await anonymous.post(
            f"{base}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Accept": "application/json, text/event-stream"},
        )
        assert res.status_code == 401, res.status_code

    print("mcp ok: initialize, tools/list (7 tools), add/list/complete; other user isolated; no token -> 401")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
