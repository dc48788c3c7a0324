#!/usr/bin/env python3
"""Browser test of the web app: a real Chromium (Debian's, through Playwright) against a `taskflow`
binary started on a free port with an empty data directory.

It signs up, adds tasks with quick-add, edits them (with the preview of a rule being typed),
changes the settings (a due time then shows in the new zone), completes them, deletes them (undo
keeps the same task; without undo it is gone once the window ends, and a reload sends a pending
delete), watches a second browser context receive each change live, lets a reminder fire into the
inbox, streams a chat turn, signs out and back in, and checks on the way: no console errors, no
request to another origin, the first load under 200 KB, and no serious or critical axe-core
violation on the main screens. Screenshots go to --out (default target/web-test/).

Usage: python tests/web/run.py [--bin target/release/taskflow] [--out target/web-test]
Under CI=true a browser that cannot start is a failure; elsewhere the test is skipped with a notice.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
AXE_VERSION = "4.14.1"
PAGE_WEIGHT_LIMIT = 200 * 1024
PASSWORD = "correct horse battery"
LIVE_TIMEOUT_MS = 3000
UNDO_MS = 8000  # tasks.js: a delete is sent once its undo window ends


def log(msg: str) -> None:
    print(f"  {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary: Path, data_dir: str, out: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "TASKFLOW_DATA_DIR": data_dir,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "NOTIFICATION_TICK_SECS": "1",
        "LOG_FORMAT": "json",
    }
    for var in ("DATABASE_URL", "OPENAI_API_KEY", "JWT_SECRET"):
        env.pop(var, None)
    logfile = open(out / "taskflow.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([str(binary)], env=env, stdout=logfile, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"taskflow exited with {proc.returncode}; see {out / 'taskflow.log'}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("taskflow did not answer /health within 30 s")


def fetch_axe(cache: Path) -> str:
    """axe-core from the npm registry (pinned, integrity-checked), cached under the output dir."""
    target = cache / f"axe-{AXE_VERSION}.min.js"
    if target.exists():
        return target.read_text()
    with urllib.request.urlopen(f"https://registry.npmjs.org/axe-core/{AXE_VERSION}", timeout=30) as r:
        meta = json.load(r)
    with urllib.request.urlopen(meta["dist"]["tarball"], timeout=60) as r:
        tarball = r.read()
    algo, _, digest = meta["dist"]["integrity"].partition("-")
    if base64.b64encode(hashlib.new(algo, tarball).digest()).decode() != digest:
        raise SystemExit("axe-core tarball does not match the registry's integrity hash")
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        member = tar.extractfile("package/axe.min.js")
        if member is None:
            raise SystemExit("axe-core tarball has no axe.min.js")
        source = member.read().decode()
    target.write_text(source)
    return source


class Watch:
    """Console errors, page errors and requests to other origins of every page it is attached to."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.errors: list[str] = []
        self.foreign: list[str] = []
        # The access token must never be in a URL; the live stream opens with single-use tickets.
        self.token_in_url: list[str] = []
        self.streams: list[str] = []

    def attach(self, page: Page, name: str) -> Page:
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"{name}: console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"{name}: page error: {e}"))

        def request(req) -> None:
            url = req.url
            if not (url.startswith(self.base + "/") or url == self.base or url.startswith(("data:", "blob:"))):
                self.foreign.append(f"{name}: {url}")
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            if "token" in query:
                self.token_in_url.append(f"{name}: {url.split('?')[0]}?token=…")
            if "/api/sse/" in url:
                self.streams.append(url)

        page.on("request", request)
        return page

    @contextlib.contextmanager
    def provoking(self, status: int):
        """A step that makes the API answer `status` on purpose: the browser's "Failed to load
        resource" log lines for that status during the step are expected, not errors."""
        start = len(self.errors)
        yield
        time.sleep(0.3)
        mine = f"the server responded with a status of {status}"
        self.errors[start:] = [e for e in self.errors[start:] if mine not in e]


def axe_check(page: Page, axe_source: str, label: str, out: Path) -> None:
    # Evaluated through the DevTools protocol, so the page's CSP (no inline script) does not apply.
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source + "\n;0")
    result = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations'],"
        " runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    bad = [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]
    (out / f"axe-{label}.json").write_text(json.dumps(result["violations"], indent=2))
    minor = len(result["violations"]) - len(bad)
    if bad:
        lines = [f"{v['impact']}: {v['id']} ({v['help']}) on {[n['target'] for n in v['nodes']][:3]}" for v in bad]
        raise AssertionError(f"axe on {label}:\n    " + "\n    ".join(lines))
    log(f"axe {label}: no serious or critical violations ({minor} minor)")


def token_of(page: Page) -> tuple[str, str]:
    session = page.evaluate("() => JSON.parse(localStorage.getItem('taskflow.session'))")
    return session["token"], session["user"]["id"]


def api(page: Page, method: str, path: str, body: dict | None = None) -> dict:
    """A request from the page itself (same origin, the app's token)."""
    return page.evaluate(
        """async ([method, path, body]) => {
            const s = JSON.parse(localStorage.getItem('taskflow.session'));
            const res = await fetch(path, {method, headers: {'Authorization': 'Bearer ' + s.token,
                'Content-Type': 'application/json'}, body: body ? JSON.stringify(body) : undefined});
            return {status: res.status, body: res.status === 204 ? null : await res.json()};
        }""",
        [method, path, body],
    )


def tasks_list(page: Page):
    return page.get_by_role("list", name="Tasks", exact=True)


def task_checkbox(page: Page, title: str):
    return tasks_list(page).get_by_role("checkbox", name=title, exact=True)


def task_row(page: Page, title: str):
    return tasks_list(page).get_by_role("listitem").filter(has=page.get_by_role("checkbox", name=title, exact=True))


def run(base: str, out: Path, axe_source: str) -> None:
    watch = Watch(base)
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        except PlaywrightError as e:
            if os.environ.get("CI") == "true":
                raise SystemExit(f"FAIL: chromium cannot start under CI: {e}") from e
            print(f"SKIP: chromium cannot start here: {e}")
            return
        log(f"browser: Chromium {browser.version}")
        a_ctx = browser.new_context(viewport={"width": 1280, "height": 860})
        a = watch.attach(a_ctx.new_page(), "A")
        a.set_default_timeout(10_000)

        # First load: everything it fetches, from this origin only, under the weight limit.
        loaded: list = []
        def on_response(r) -> None:
            loaded.append(r)

        a.on("response", on_response)
        a.goto(base + "/", wait_until="networkidle")
        weight = sum(len(r.body()) for r in loaded if r.request.method == "GET")
        a.remove_listener("response", on_response)
        log(f"first load: {len(loaded)} responses, {weight} bytes (limit {PAGE_WEIGHT_LIMIT})")
        assert weight < PAGE_WEIGHT_LIMIT, f"first load is {weight} bytes"
        html = next(r for r in loaded if r.url == base + "/")
        assert "default-src 'self'" in html.headers["content-security-policy"]
        assets = [r for r in loaded if "/assets/" in r.url]
        assert assets and all("immutable" in r.headers.get("cache-control", "") for r in assets)
        expect(a.get_by_role("tab", name="Sign in")).to_be_visible()
        a.screenshot(path=str(out / "01-sign-in.png"))
        axe_check(a, axe_source, "sign-in", out)

        # Sign up (the session is a token in localStorage).
        email = f"web-{int(time.time() * 1000)}@example.com"
        a.get_by_role("tab", name="Create account").click()
        signup = a.locator("#signup-form")
        signup.get_by_label("Name").fill("Ada Lovelace")
        signup.get_by_label("E-mail").fill(email)
        signup.get_by_label("Password").fill(PASSWORD)
        a.get_by_role("button", name="Create account").click()
        new_task = a.get_by_role("textbox", name="New task", exact=True)
        expect(new_task).to_be_focused()
        log("signed up; the New task box has the focus")

        # Quick-add: the preview says what will be added; Enter adds it.
        new_task.fill("Call the plumber tomorrow at 9am #home !high")
        understood = a.locator("#quick-understood")
        expect(understood).to_contain_text("Will add:")
        expect(understood).to_contain_text("#home")
        expect(understood).to_contain_text("High priority")
        new_task.press("Enter")
        expect(task_checkbox(a, "Call the plumber")).to_be_visible()
        expect(understood).to_contain_text("Added:")
        expect(understood).to_contain_text(re.compile(r"Tomorrow 0?9:00"))
        expect(new_task).to_have_value("")
        row = task_row(a, "Call the plumber")
        expect(row).to_contain_text(re.compile(r"Tomorrow 0?9:00"))
        expect(row).to_contain_text("#home")
        log("quick-add: 'Call the plumber', due tomorrow 09:00, #home, high priority")
        for line in ["Pay rent every month on the 1st #bills", "Water the plants every other day", "Read a book"]:
            new_task.fill(line)
            new_task.press("Enter")
            expect(new_task).to_have_value("")
        expect(task_checkbox(a, "Pay rent")).to_be_visible()
        with watch.provoking(422):
            new_task.fill("tomorrow at 9am")
            expect(understood).to_contain_text("no title left")
            new_task.fill("")

        # Overdue and due-today stand out.
        _, user_id = token_of(a)
        past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
        r = api(a, "POST", f"/api/{user_id}/tasks", {"title": "Renew the passport", "due_at": past})
        assert r["status"] == 201, r
        overdue_row = task_row(a, "Renew the passport")
        expect(overdue_row).to_contain_text("Overdue")
        expect(overdue_row).to_have_class(re.compile(r"\boverdue\b"))
        log("a task created through the API appeared live and is marked overdue")
        expect(tasks_list(a).get_by_role("listitem")).to_have_count(5)
        expect(a.locator("#stats")).to_contain_text("5 pending")
        expect(a.locator("#stats")).to_contain_text("1 overdue")
        a.screenshot(path=str(out / "02-tasks.png"))
        axe_check(a, axe_source, "tasks", out)

        # A second window of the same user: sign in there; the session survives a reload.
        b_ctx = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True)
        b = watch.attach(b_ctx.new_page(), "B")
        b.set_default_timeout(10_000)
        b.goto(base + "/")
        b.locator("#signin-form").get_by_label("E-mail").fill(email)
        b.locator("#signin-form").get_by_label("Password").fill(PASSWORD)
        b.get_by_role("button", name="Sign in").click()
        expect(task_checkbox(b, "Call the plumber")).to_be_visible()
        b.reload()
        expect(task_checkbox(b, "Call the plumber")).to_be_visible()
        b.wait_for_function("() => document.body.dataset.live === 'on'")
        log("window B (phone size, dark) signed in; still signed in after a reload")

        def live(what: str, check) -> None:
            start = time.monotonic()
            check()
            log(f"live in B: {what} ({(time.monotonic() - start) * 1000:.0f} ms)")

        a.wait_for_function("() => document.body.dataset.live === 'on'")
        new_task.fill("Buy milk #groceries")
        new_task.press("Enter")
        live("created", lambda: expect(task_checkbox(b, "Buy milk")).to_be_visible(timeout=LIVE_TIMEOUT_MS))

        # Edit every field in the dialog.
        tasks_list(a).get_by_role("button", name="Edit Call the plumber", exact=True).click()
        dialog = a.get_by_role("dialog", name="Edit task")
        expect(dialog).to_be_visible()
        dialog.get_by_label("Title").fill("Call the plumber about the sink")
        dialog.get_by_label("Description").fill("The kitchen sink drips.\nAsk for a quote.")
        dialog.get_by_label("Priority").select_option("low")
        dialog.get_by_label("Category").select_option("home")
        dialog.get_by_label("Tags").fill("home, sink")
        dialog.get_by_role("button", name="Add reminder").click()
        dialog.get_by_label("Minutes before").fill("45")
        a.screenshot(path=str(out / "03-edit.png"))
        axe_check(a, axe_source, "edit-dialog", out)
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        edited = task_row(a, "Call the plumber about the sink")
        expect(edited).to_contain_text("#sink")
        expect(edited).to_contain_text("Low priority")
        expect(edited).to_contain_text("⏰ 1")
        live("edited", lambda: expect(task_checkbox(b, "Call the plumber about the sink")).to_be_visible(timeout=LIVE_TIMEOUT_MS))
        _, user_id = token_of(a)
        listed = api(a, "GET", f"/api/{user_id}/tasks?search=sink")["body"]["tasks"][0]
        assert listed["description"] == "The kitchen sink drips.\nAsk for a quote.", listed
        assert listed["category"] == "home" and listed["priority"] == "low", listed
        assert listed["reminders"][0]["minutes_before_due"] == 45, listed

        # A repeating task's dialog previews its next dates, then those of the rule being typed
        # (POST /recurrence/preview, unsaved), and says in words why a rule is refused.
        tasks_list(a).get_by_role("button", name="Edit Pay rent", exact=True).click()
        expect(dialog.get_by_label("Repeats")).to_have_value("custom")
        next_dates = dialog.locator("#e-next")
        expect(next_dates).to_contain_text("Next:")
        rule = dialog.get_by_label("RRULE")
        rule.fill("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29")
        expect(next_dates).to_contain_text(re.compile(r"Next: .*2028.*2032"))
        log(f"typed rule previews: {next_dates.inner_text()!r}")
        with watch.provoking(422):
            rule.fill("FREQ=SOMETIMES")
            expect(next_dates).to_contain_text("This rule cannot be used")
            expect(next_dates).to_have_class(re.compile(r"\berror\b"))
        log(f"a refused rule says: {next_dates.inner_text()!r}")
        dialog.get_by_label("Repeats").select_option("weekly")
        expect(next_dates).to_contain_text("Next:")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
        rent = api(a, "GET", f"/api/{user_id}/tasks?search=rent")["body"]["tasks"][0]
        assert rent["recurrence"]["rule"] != "weekly", "a preview saves nothing"

        # Settings (from the header, by keyboard): name, time zone, due-soon reminder; dates follow
        # the new zone at once.
        r = api(a, "POST", f"/api/{user_id}/tasks", {"title": "Dentist appointment", "due_at": "2031-06-15T12:00:00Z"})
        assert r["status"] == 201, r
        expect(task_checkbox(a, "Dentist appointment")).to_be_visible()
        a.get_by_role("button", name="Settings").focus()
        a.keyboard.press("Enter")
        settings = a.get_by_role("dialog", name="Settings")
        expect(settings).to_be_visible()
        expect(settings.get_by_label("Name")).to_be_focused()
        with watch.provoking(422):
            settings.get_by_label("Name").fill("   ")
            settings.get_by_role("button", name="Save settings").click()
            expect(settings.locator(".form-error")).not_to_be_empty()
        log(f"a blank name says: {settings.locator('.form-error').inner_text()!r}")
        settings.get_by_label("Name").fill("Ada King")
        settings.get_by_label("Time zone").select_option("Asia/Tokyo")
        settings.get_by_label("Notify me before a task without its own reminder is due").check()
        settings.get_by_label("Minutes before due").fill("15")
        a.screenshot(path=str(out / "07-settings.png"))
        axe_check(a, axe_source, "settings", out)
        settings.get_by_role("button", name="Save settings").click()
        expect(settings).to_be_hidden()
        expect(a.locator("#who")).to_have_text("Ada King")
        profile = api(a, "GET", "/api/auth/me")["body"]
        assert (profile["name"], profile["timezone"], profile["default_reminder_minutes"]) == ("Ada King", "Asia/Tokyo", 15), profile
        # 12:00 UTC is 21:00 in Tokyo: the row and the editor show it there.
        expect(task_row(a, "Dentist appointment")).to_contain_text(re.compile(r"\b(0?9:00\s?PM|21:00)"))
        tasks_list(a).get_by_role("button", name="Edit Dentist appointment", exact=True).click()
        expect(dialog.get_by_label("Due", exact=True)).to_have_value("2031-06-15T21:00")
        dialog.get_by_role("button", name="Cancel").click()
        log("settings saved: name, Asia/Tokyo (a 12:00 UTC due time shows as 21:00), 15-minute due-soon reminder")

        filters = a.locator("#filters")

        # Complete by checkbox (keyboard), in A; B sees it leave its pending list.
        task_checkbox(a, "Read a book").focus()
        a.keyboard.press("Space")
        expect(task_checkbox(a, "Read a book")).to_have_count(0)
        live("completed", lambda: expect(task_checkbox(b, "Read a book")).to_have_count(0, timeout=LIVE_TIMEOUT_MS))
        filters.get_by_label("Status").select_option("completed")
        expect(task_checkbox(a, "Read a book")).to_be_checked()
        task_checkbox(a, "Read a book").uncheck()
        expect(task_checkbox(a, "Read a book")).to_have_count(0)
        live("reopened", lambda: expect(task_checkbox(b, "Read a book")).to_be_visible(timeout=LIVE_TIMEOUT_MS))
        filters.get_by_label("Status").select_option("pending")

        # Filters, search and sort.
        filters.get_by_label("Priority").select_option("high")
        expect(tasks_list(a).get_by_role("listitem")).to_have_count(0)
        filters.get_by_label("Priority").select_option("")
        filters.get_by_label("Tag").fill("bills")
        expect(tasks_list(a).get_by_role("listitem")).to_have_count(1)
        filters.get_by_label("Tag").fill("")
        filters.get_by_label("Search").fill("plants")
        expect(tasks_list(a).get_by_role("listitem")).to_have_count(1)
        filters.get_by_label("Search").fill("")
        filters.get_by_label("Sort by").select_option("title:asc")
        expect(tasks_list(a).get_by_role("listitem").first).to_contain_text("Buy milk")
        filters.get_by_label("Sort by").select_option("created_at:desc")
        log("filters by priority and tag, search and sort work")

        # Delete with undo: the row goes at once, but the DELETE waits out the undo window, so Undo
        # keeps the task itself (same id) and window B never loses it.
        def task_id(word: str) -> str:
            return api(a, "GET", f"/api/{user_id}/tasks?status=all&search={word}")["body"]["tasks"][0]["id"]

        def status_of(task: str) -> int:
            with watch.provoking(404):
                return api(a, "GET", f"/api/{user_id}/tasks/{task}")["status"]

        milk = task_id("milk")
        tasks_list(a).get_by_role("button", name="Delete Buy milk", exact=True).click()
        expect(task_checkbox(a, "Buy milk")).to_have_count(0)
        a.locator(".toast", has_text="Deleted").get_by_role("button", name="Undo").click()
        expect(task_checkbox(a, "Buy milk")).to_be_visible()
        assert status_of(milk) == 200 and task_id("milk") == milk, "undo keeps the same task"
        expect(task_checkbox(b, "Buy milk")).to_be_visible()
        log(f"delete + undo kept task {milk}; B never lost it")
        # Without undo the task is really deleted when the window ends, and B sees it then.
        plants = task_id("plants")
        tasks_list(a).get_by_role("button", name="Delete Water the plants", exact=True).click()
        expect(task_checkbox(a, "Water the plants")).to_have_count(0)
        assert status_of(plants) == 200, "nothing is deleted during the undo window"
        live("deleted after the undo window", lambda: expect(task_checkbox(b, "Water the plants")).to_have_count(0, timeout=UNDO_MS + LIVE_TIMEOUT_MS))
        assert status_of(plants) == 404, "the delete was sent when the window ended"
        # A page that goes away sends its pending deletes (keepalive) instead of dropping them.
        passport = task_id("passport")
        tasks_list(a).get_by_role("button", name="Delete Renew the passport", exact=True).click()
        expect(task_checkbox(a, "Renew the passport")).to_have_count(0)
        a.reload()
        expect(task_checkbox(a, "Call the plumber about the sink")).to_be_visible()
        deadline = time.monotonic() + 5
        while status_of(passport) != 404 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status_of(passport) == 404, "a reload sent the pending delete"
        expect(task_checkbox(a, "Renew the passport")).to_have_count(0)
        log("a delete pending at reload was sent on pagehide")

        # Load more: a page holds 50 tasks.
        for i in range(50):
            assert api(a, "POST", f"/api/{user_id}/tasks", {"title": f"Bulk {i:02}"})["status"] == 201
        a.reload()
        expect(tasks_list(a).get_by_role("listitem")).to_have_count(50)
        a.get_by_role("button", name="Load more").click()
        expect(tasks_list(a).get_by_role("listitem")).to_have_count(55)
        expect(a.get_by_role("button", name="Load more")).to_be_hidden()
        log("load more fetched the next page (cursor)")

        # A reminder fires (the timer ticks every second) and shows in both windows' inbox.
        soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
        later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        for title in ("Stretch", "Drink water"):
            r = api(a, "POST", f"/api/{user_id}/tasks", {"title": title, "due_at": later, "reminders": [{"remind_at": soon}]})
            assert r["status"] == 201, r
        expect(a.locator("#unread")).to_have_text("2", timeout=15_000)
        expect(a.get_by_text("⏰ Reminder: Stretch")).to_be_visible()
        expect(b.locator("#unread")).to_have_text("2", timeout=5_000)
        log("two reminders fired; both windows show 2 unread")
        a.get_by_role("button", name="Notifications, 2 unread").click()
        inbox = a.get_by_role("list", name="Notifications")
        expect(inbox).to_contain_text("Stretch")
        a.screenshot(path=str(out / "04-inbox.png"))
        axe_check(a, axe_source, "inbox", out)
        inbox.get_by_role("button", name="Mark read: Stretch").click()
        expect(a.locator("#unread")).to_have_text("1")
        a.get_by_role("button", name="Mark all read").click()
        expect(a.locator("#unread")).to_be_hidden()
        a.keyboard.press("Escape")
        log("mark read, then mark all read: no unread left")

        # The assistant streams a turn and shows its tool call; the list updates from the events.
        a.get_by_role("button", name="Assistant").click()
        message = a.get_by_role("textbox", name="Message the assistant")
        expect(message).to_be_focused()
        message.fill("add water the garden tomorrow at 7pm #garden")
        message.press("Enter")
        chat_log = a.get_by_role("log", name="Conversation")
        expect(chat_log.locator(".tool summary")).to_contain_text("add_task")
        expect(chat_log).to_contain_text("Created")
        expect(task_checkbox(a, "water the garden")).to_be_visible()
        live("created by the assistant", lambda: expect(task_checkbox(b, "water the garden")).to_be_visible(timeout=LIVE_TIMEOUT_MS))
        a.screenshot(path=str(out / "05-assistant.png"))
        axe_check(a, axe_source, "assistant", out)
        a.keyboard.press("Escape")
        b.evaluate("() => document.querySelectorAll('.toast').forEach((t) => t.remove())")
        b.screenshot(path=str(out / "06-phone-dark.png"), full_page=False)
        axe_check(b, axe_source, "phone-dark", out)
        # Nothing sticks out of a phone's width: every control of the header is on screen.
        clipped = b.evaluate("""() => {
            const width = document.documentElement.clientWidth;
            const out = [...document.querySelectorAll('.topbar button, .filters select, .filters input')]
                .filter((e) => e.offsetParent !== null)
                .filter((e) => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > width + 0.5; })
                .map((e) => e.id || e.textContent.trim());
            if (document.documentElement.scrollWidth > width) out.push('page wider than the screen');
            return out;
        }""")
        if clipped:
            raise AssertionError(f"cut off on a phone-sized screen: {clipped}")
        log("phone-sized screen: every header and filter control fits")

        # An error is shown in words: the API's message.
        with watch.provoking(422):
            new_task.fill("Dentist feb 30")
            new_task.press("Enter")
            expect(understood).to_have_class(re.compile(r"\berror\b"))
        log(f"a refused line says: {understood.inner_text()!r}")
        new_task.fill("")

        # A token the server no longer accepts returns to sign-in; signing out clears the session.
        b.evaluate("""() => { const s = JSON.parse(localStorage.getItem('taskflow.session'));
            s.token = 'not-a-token'; localStorage.setItem('taskflow.session', JSON.stringify(s)); }""")
        with watch.provoking(401):
            b.reload()
            expect(b.get_by_role("button", name="Sign in")).to_be_visible()
        log("a rejected token returns to sign-in")
        a.get_by_role("button", name="Sign out").click()
        expect(a.get_by_role("button", name="Sign in")).to_be_visible()
        a.reload()
        expect(a.get_by_role("button", name="Sign in")).to_be_visible()
        assert a.evaluate("() => localStorage.getItem('taskflow.session')") is None
        log("signed out; still signed out after a reload")

        # Wrong password: the API's message, in words.
        a.locator("#signin-form").get_by_label("E-mail").fill(email)
        a.locator("#signin-form").get_by_label("Password").fill("wrong password!")
        with watch.provoking(401):
            a.get_by_role("button", name="Sign in").click()
            expect(a.locator("#signin-form .form-error")).not_to_be_empty()
        log(f"wrong password says: {a.locator('#signin-form .form-error').inner_text()!r}")

        assert not watch.errors, "console errors:\n  " + "\n  ".join(watch.errors)
        assert not watch.foreign, "requests to other origins:\n  " + "\n  ".join(watch.foreign)
        assert not watch.token_in_url, "access token in a URL:\n  " + "\n  ".join(watch.token_in_url)
        tickets = [urllib.parse.parse_qs(urllib.parse.urlsplit(u).query).get("ticket", [None])[0] for u in watch.streams]
        assert watch.streams and all(tickets), f"live streams opened without a ticket: {watch.streams}"
        assert len(set(tickets)) == len(tickets), "a stream ticket was used twice"
        log(f"no console errors, no request to another origin, no token in a URL; {len(tickets)} live streams, each with its own ticket")
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", type=Path, default=None, help="the taskflow binary (default: release, else debug)")
    parser.add_argument("--out", type=Path, default=ROOT / "target" / "web-test")
    args = parser.parse_args()
    binary = args.bin
    if binary is None:
        candidates = [ROOT / "target" / "release" / "taskflow", ROOT / "target" / "debug" / "taskflow"]
        binary = next((c for c in candidates if c.exists()), None)
        if binary is None:
            raise SystemExit("no taskflow binary; build one with cargo build --release --bin taskflow")
    args.out.mkdir(parents=True, exist_ok=True)
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            raise SystemExit(f"FAIL: {CHROMIUM} is missing (apt-get install chromium)")
        print(f"SKIP: {CHROMIUM} is missing (apt-get install chromium)")
        return 0
    axe_source = fetch_axe(args.out)
    print(f"web app browser test: {binary} → screenshots in {args.out}")
    with tempfile.TemporaryDirectory(prefix="taskflow-web-") as data_dir:
        proc, base = start_server(binary, data_dir, args.out)
        try:
            run(base, args.out, axe_source)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    print("web app browser test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
