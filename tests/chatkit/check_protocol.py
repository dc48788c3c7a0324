#!/usr/bin/env python3
"""TaskFlow's ChatKit server, checked against the official `openai-chatkit` package's own pydantic
models (pinned in requirements.txt), against a running server.

    python tests/chatkit/check_protocol.py --base http://127.0.0.1:PORT

Registers a user, gets a client secret from /api/chatkit/session, then holds the conversation a
ChatKit web component would: create a thread with a message that makes the assistant run a tool,
read the streamed events, list the thread's items, list threads, add a message, retry it, confirm a
deletion the assistant proposes with its card's button, rename the thread, rate the answer, refresh
the secret and delete the thread. Every request sent validates as
`ChatKitReq`; every streamed event as `ThreadStreamEvent`; every JSON answer as `Thread`,
`Page[Thread]` or `Page[ThreadItem]`. Exits non-zero on any failure.
"""

import argparse
import datetime as dt
import json
import sys
import urllib.error
import urllib.request
import uuid

from pydantic import TypeAdapter
from chatkit.types import ChatKitReq, Page, Thread, ThreadItem, ThreadStreamEvent, is_streaming_req

REQUEST = TypeAdapter(ChatKitReq)
EVENT = TypeAdapter(ThreadStreamEvent)
THREAD = TypeAdapter(Thread)
THREADS = TypeAdapter(Page[Thread])
ITEMS = TypeAdapter(Page[ThreadItem])


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def http(base, method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.headers.get("Content-Type", ""), res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def same(sent, dumped, where="$"):
    """`sent` is what the package's model makes of it: no field the model does not know (pydantic
    would drop it silently), and every value as the model dumps it (timestamps compared as instants).
    Fields left out are the model's defaults, which ChatKit.js reads the same way."""
    if isinstance(sent, dict):
        check(isinstance(dumped, dict), f"{where}: {sent!r} is not an object to the model")
        unknown = set(sent) - set(dumped)
        check(not unknown, f"{where}: fields the package's model does not have: {sorted(unknown)}")
        for k, v in sent.items():
            same(v, dumped[k], f"{where}.{k}")
    elif isinstance(sent, list):
        check(isinstance(dumped, list) and len(sent) == len(dumped), f"{where}: list changed by the model")
        for n, (a, b) in enumerate(zip(sent, dumped)):
            same(a, b, f"{where}[{n}]")
    elif isinstance(sent, str) and isinstance(dumped, str) and sent != dumped:
        try:
            a = dt.datetime.fromisoformat(sent.replace("Z", "+00:00"))
            b = dt.datetime.fromisoformat(dumped.replace("Z", "+00:00"))
        except ValueError:
            raise AssertionError(f"{where}: {sent!r} became {dumped!r}") from None
        check(a == b, f"{where}: {sent!r} is not the instant {dumped!r}")
    else:
        check(sent == dumped, f"{where}: {sent!r} became {dumped!r}")


def validated(adapter, value, what="answer"):
    """Validates `value` strictly (no coercion) with one of the package's models, and checks it
    round-trips through it unchanged."""
    model = adapter.validate_json(json.dumps(value), strict=True)
    same(value, json.loads(adapter.dump_json(model, by_alias=True, exclude_none=True)), what)
    return model


def sse_events(raw):
    """The `data:` payloads of a text/event-stream body, one per event, as ChatKit.js reads them."""
    events = []
    for block in raw.decode("utf-8").split("\n\n"):
        data = [line[len("data: "):] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            events.append(json.loads("\n".join(data)))
    return events


class Client:
    def __init__(self, base, secret):
        self.base, self.secret = base, secret

    def send(self, request, expect=200):
        """Sends a ChatKit request (validated as the package's `ChatKitReq` first)."""
        parsed = validated(REQUEST, request, request["type"])
        status, content_type, raw = http(self.base, "POST", "/api/chatkit", self.secret, request)
        check(status == expect, f"{request['type']}: expected {expect}, got {status}: {raw[:300]!r}")
        if status != 200:
            return json.loads(raw)
        if is_streaming_req(parsed):
            check(content_type.startswith("text/event-stream"), f"{request['type']}: {content_type}")
            events = sse_events(raw)
            for e in events:
                validated(EVENT, e, e.get("type", "event"))
            return events
        check(content_type.startswith("application/json"), f"{request['type']}: {content_type}")
        return json.loads(raw)


def user_input(text):
    return {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}


def the(events, kind):
    return [e for e in events if e["type"] == kind]


def check_turn(events, expect_tool):
    """The events of one answered turn, in the order ChatKit.js expects them."""
    types = [e["type"] for e in events]
    check("error" not in types, f"the turn failed: {events}")
    check("stream_options" in types, f"no stream_options: {types}")
    done = the(events, "thread.item.done")
    answer = done[-1]["item"]
    check(answer["type"] == "assistant_message", f"the last item done is not the answer: {done[-1]}")
    text = answer["content"][0]["text"]
    deltas = "".join(e["update"]["delta"] for e in the(events, "thread.item.updated")
                     if e["update"]["type"] == "assistant_message.content_part.text_delta")
    check(deltas == text, f"the deltas {deltas!r} do not add up to the answer {text!r}")
    added = [e["item"]["id"] for e in the(events, "thread.item.added")]
    check(answer["id"] in added, "the answer was never added before it was done")
    if expect_tool:
        workflows = [e["item"] for e in done if e["item"]["type"] == "workflow"]
        check(len(workflows) == 1 and workflows[0]["workflow"]["tasks"], f"no tool workflow: {types}")
        task_added = [e for e in the(events, "thread.item.updated") if e["update"]["type"] == "workflow.task.added"]
        check(len(task_added) == len(workflows[0]["workflow"]["tasks"]), "a tool was not announced as it ran")
        positions = {(e["type"], e.get("item", {}).get("id")): n for n, e in enumerate(events)}
        check(positions[("thread.item.done", workflows[0]["id"])] < positions[("thread.item.added", answer["id"])],
              "the tools' workflow was not done before the answer started")
    return answer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the server, e.g. http://127.0.0.1:8080")
    base = parser.parse_args().base.rstrip("/")

    email = f"chatkit-{uuid.uuid4().hex}@example.com"
    password = "chatkit protocol check password"
    status, _, _ = http(base, "POST", "/api/auth/register", body={"name": "ChatKit", "email": email, "password": password})
    check(status == 201, f"register: {status}")
    status, _, raw = http(base, "POST", "/api/auth/login", body={"email": email, "password": password})
    check(status == 200, f"login: {status}")
    login = json.loads(raw)
    token, user_id = login["access_token"], login["user"]["id"]

    status, _, raw = http(base, "GET", "/api/chatkit/health")
    check(status == 200 and json.loads(raw)["status"] == "ok", f"health: {status} {raw!r}")
    status, _, raw = http(base, "POST", "/api/chatkit/session", token)
    check(status == 200, f"session: {status} {raw!r}")
    secret = json.loads(raw)["client_secret"]
    # The client secret opens the assistant and nothing else.
    status, _, _ = http(base, "GET", f"/api/{user_id}/tasks", secret)
    check(status == 401, f"a client secret read tasks: {status}")
    kit = Client(base, secret)

    # A new thread whose first message makes the assistant run a tool.
    events = kit.send({"type": "threads.create", "params": {"input": user_input("add buy oat milk tomorrow")}})
    check(events[0]["type"] == "thread.created", f"the stream does not start with thread.created: {events[0]}")
    thread_id = events[0]["thread"]["id"]
    check(events[1]["type"] == "thread.item.done" and events[1]["item"]["type"] == "user_message",
          f"the user's message is not the second event: {events[1]}")
    user_item = events[1]["item"]
    answer = check_turn(events, expect_tool=True)

    status, _, raw = http(base, "GET", f"/api/{user_id}/tasks?search=oat", token)
    check(status == 200 and any("oat milk" in t["title"].lower() for t in json.loads(raw)["tasks"]),
          f"the tool did not add the task: {raw[:300]!r}")

    # What was streamed is what is read back.
    page = validated(ITEMS, kit.send({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}))
    ids = [i.id for i in page.data]
    check(ids[0] == user_item["id"] and ids[-1] == answer["id"] and len(ids) == 3,
          f"items.list asc: {ids}, expected user message, workflow, answer")
    desc = validated(ITEMS, kit.send({"type": "items.list", "params": {"thread_id": thread_id, "limit": 1}}))
    check(desc.data[0].id == answer["id"], f"items.list desc does not start at the newest: {desc.data}")
    check(desc.has_more and desc.after, "a page of 1 of 3 items says nothing follows")
    thread = validated(THREAD, kit.send({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}))
    check(thread.id == thread_id and len(thread.items.data) == 3, f"threads.get_by_id: {thread}")

    # A second message, then a retry of it.
    events = kit.send({"type": "threads.add_user_message",
                       "params": {"thread_id": thread_id, "input": user_input("show my tasks")}})
    second = events[0]["item"]
    check(second["type"] == "user_message", f"add_user_message starts with {events[0]}")
    first_answer = check_turn(events, expect_tool=True)
    events = kit.send({"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": second["id"]}})
    retried = check_turn(events, expect_tool=True)
    check(retried["id"] != first_answer["id"], "the retry did not produce a new answer")
    after = validated(ITEMS, kit.send({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}))
    ids = [i.id for i in after.data]
    check(first_answer["id"] not in ids and ids[-1] == retried["id"], f"the retried answer replaced the old: {ids}")

    # A deletion the assistant proposes is a card; its "Delete" button sends threads.custom_action.
    status, _, _ = http(base, "POST", f"/api/{user_id}/tasks", token, {"title": "read a book"})
    check(status == 201, f"create task: {status}")
    events = kit.send({"type": "threads.add_user_message",
                       "params": {"thread_id": thread_id, "input": user_input("delete the read a book task")}})
    cards = [e["item"] for e in the(events, "thread.item.done") if e["item"]["type"] == "widget"]
    check(len(cards) == 1 and cards[0]["widget"]["type"] == "Card", f"no deletion card: {[e['type'] for e in events]}")
    action = cards[0]["widget"]["confirm"]["action"]
    events = kit.send({"type": "threads.custom_action",
                       "params": {"thread_id": thread_id, "item_id": cards[0]["id"], "action": action}})
    replaced = the(events, "thread.item.replaced")
    check(len(replaced) == 1 and "confirm" not in replaced[0]["item"]["widget"], f"the card was not decided: {events}")
    status, _, raw = http(base, "GET", f"/api/{user_id}/tasks?search=book", token)
    check(status == 200 and json.loads(raw)["tasks"] == [], f"the task was not deleted: {raw[:200]!r}")

    # Threads: list, rename, rate, delete.
    threads = validated(THREADS, kit.send({"type": "threads.list", "params": {"limit": 10}}))
    check([t.id for t in threads.data] == [thread_id], f"threads.list: {threads}")
    renamed = validated(THREAD, kit.send({"type": "threads.update", "params": {"thread_id": thread_id, "title": "Groceries"}}))
    check(renamed.title == "Groceries", f"threads.update: {renamed}")
    check(kit.send({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [retried["id"]], "kind": "positive"}}) == {}, "feedback")
    kit.send({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [user_item["id"]], "kind": "negative"}}, expect=404)
    err = kit.send({"type": "attachments.create", "params": {"name": "a.png", "size": 10, "mime_type": "image/png"}}, expect=400)
    check("not supported" in err["error"]["message"], f"attachments.create: {err}")
    kit.send({"type": "threads.get_by_id", "params": {"thread_id": str(uuid.uuid4())}}, expect=404)

    # Renewing the secret, with the secret itself.
    status, _, raw = http(base, "POST", "/api/chatkit/refresh", body={"client_secret": secret})
    check(status == 200, f"refresh: {status} {raw!r}")
    kit = Client(base, json.loads(raw)["client_secret"])
    check(kit.send({"type": "threads.delete", "params": {"thread_id": thread_id}}) == {}, "threads.delete")
    check(kit.send({"type": "threads.list", "params": {}})["data"] == [], "the thread is still listed")
    print("chatkit: every request, event and answer validated with openai-chatkit's models")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"chatkit protocol check FAILED: {e}", file=sys.stderr)
        sys.exit(1)
