#!/usr/bin/env python3
"""The calendar feed, parsed by a real iCalendar parser (PyPI `icalendar`, pinned in
requirements.txt), against a running server.

    python tests/calendar/check_feed.py --base http://127.0.0.1:PORT

Registers a user in Europe/Berlin, creates a weekly task with two reminders (its title has `,;\\`
and non-ASCII, its description line breaks too) and a plain task through the REST API, gets a feed token, fetches the feed
with it and checks what a calendar app would read: RRULE, TZID with its VTIMEZONE, VALARM triggers,
the title round-tripped, the VTODO variant, and that the feed token is refused elsewhere. Exits
non-zero on any failure.
"""

import argparse
import datetime as dt
import json
import sys
import urllib.error
import urllib.request
import uuid

import icalendar

TITLE = "Réunion, équipe; chemin C:\\temp — 会議"
# Titles are one line; the description carries the line breaks.
DESCRIPTION = "Agenda:\n1, 2; 3 \\ fin\nzweite Zeile — ünïcødé"


def request(base, method, path, token=None, body=None, expect=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as res:
            status, headers, raw = res.status, res.headers, res.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    if expect is not None and status != expect:
        raise AssertionError(f"{method} {path}: expected {expect}, got {status}: {raw[:300]!r}")
    return status, headers, raw


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def parse(raw):
    text = raw.decode("utf-8")
    check(all(len(line.encode()) <= 75 for line in text.split("\r\n")), "a line is longer than 75 octets")
    check("\n" not in text.replace("\r\n", ""), "a line ends without CR")
    return icalendar.Calendar.from_ical(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the server, e.g. http://127.0.0.1:8080")
    base = parser.parse_args().base.rstrip("/")

    email = f"calendar-{uuid.uuid4().hex}@example.com"
    password = "calendar feed check password"
    request(base, "POST", "/api/auth/register", body={"name": "Calendar", "email": email, "password": password}, expect=201)
    _, _, raw = request(base, "POST", "/api/auth/login", body={"email": email, "password": password}, expect=200)
    login = json.loads(raw)
    token, user_id = login["access_token"], login["user"]["id"]
    request(base, "PATCH", "/api/auth/me", token, {"timezone": "Europe/Berlin"}, expect=200)

    _, _, raw = request(base, "POST", f"/api/{user_id}/tasks", token, {
        "title": TITLE, "description": DESCRIPTION, "priority": "high", "tags": ["team", "weekly"],
        "due_at": "2030-01-07T08:00:00Z", "recurrence": "FREQ=WEEKLY;BYDAY=MO;COUNT=10",
        "reminders": [{"minutes_before_due": 15}, {"minutes_before_due": 1440}],
    }, expect=201)
    recurring_id = json.loads(raw)["id"]
    _, _, raw = request(base, "POST", f"/api/{user_id}/tasks", token,
                        {"title": "Pay rent", "priority": "low", "due_at": "2030-02-01T10:30:00Z"}, expect=201)
    plain_id = json.loads(raw)["id"]

    _, _, raw = request(base, "POST", f"/api/{user_id}/calendar/feed-token", token, expect=201)
    feed = json.loads(raw)
    feed_token = feed["token"]
    check(feed["url"].endswith(f"/api/{user_id}/calendar.ics?token={feed_token}"), f"feed url: {feed['url']}")

    feed_path = f"/api/{user_id}/calendar.ics?token={feed_token}"
    _, headers, raw = request(base, "GET", feed_path, expect=200)
    check(headers["Content-Type"].startswith("text/calendar"), headers["Content-Type"])
    cal = parse(raw)
    check(str(cal["VERSION"]) == "2.0" and "PRODID" in cal, "VERSION/PRODID")
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    check(set(events) == {f"{recurring_id}@taskflow", f"{plain_id}@taskflow"}, f"events: {sorted(events)}")

    weekly = events[f"{recurring_id}@taskflow"]
    check(str(weekly["SUMMARY"]) == TITLE, f"title round trip: {str(weekly['SUMMARY'])!r}")
    check(str(weekly["DESCRIPTION"]) == DESCRIPTION, f"description: {str(weekly['DESCRIPTION'])!r}")
    rrule = weekly["RRULE"]
    check(rrule["FREQ"] == ["WEEKLY"] and rrule["BYDAY"] == ["MO"] and rrule["COUNT"] == [10], f"RRULE: {rrule.to_ical()}")
    start = weekly["DTSTART"]
    check(start.params.get("TZID") == "Europe/Berlin", f"TZID: {start.params}")
    check(start.dt.replace(tzinfo=None) == dt.datetime(2030, 1, 7, 9, 0), f"DTSTART local: {start.dt}")
    check(start.dt.astimezone(dt.timezone.utc) == dt.datetime(2030, 1, 7, 8, 0, tzinfo=dt.timezone.utc), f"DTSTART: {start.dt}")
    zones = [str(z["TZID"]) for z in cal.walk("VTIMEZONE")]
    check(zones == ["Europe/Berlin"], f"VTIMEZONE: {zones}")
    triggers = sorted(a["TRIGGER"].dt for a in weekly.walk("VALARM"))
    check(triggers == [dt.timedelta(days=-1), dt.timedelta(minutes=-15)], f"triggers: {triggers}")
    check(all(str(a["ACTION"]) == "DISPLAY" for a in weekly.walk("VALARM")), "ACTION")
    check(int(weekly["PRIORITY"]) == 1, "PRIORITY high -> 1")
    categories = [str(c) for c in weekly["CATEGORIES"].cats]
    check(categories == ["team", "weekly"], f"CATEGORIES: {categories}")
    check(weekly.get("DURATION") is not None or weekly.get("DTEND") is not None, "no DURATION/DTEND")

    rent = events[f"{plain_id}@taskflow"]
    check(rent["DTSTART"].dt == dt.datetime(2030, 2, 1, 10, 30, tzinfo=dt.timezone.utc), f"plain DTSTART: {rent['DTSTART'].dt}")
    check("RRULE" not in rent and int(rent["PRIORITY"]) == 9, "plain task")

    # 304 for an unchanged feed.
    req = urllib.request.Request(base + feed_path, headers={"If-None-Match": headers["ETag"]})
    try:
        urllib.request.urlopen(req, timeout=15)
        raise AssertionError("expected 304 for a matching If-None-Match")
    except urllib.error.HTTPError as e:
        check(e.code == 304, f"If-None-Match: {e.code}")

    # The to-do variant, with the completed task.
    request(base, "PATCH", f"/api/{user_id}/tasks/{plain_id}/complete", token, expect=200)
    _, _, raw = request(base, "GET", feed_path + "&component=vtodo&include=completed", expect=200)
    todos = {str(t["UID"]): t for t in parse(raw).walk("VTODO")}
    done, pending = todos[f"{plain_id}@taskflow"], todos[f"{recurring_id}@taskflow"]
    check(str(done["STATUS"]) == "COMPLETED" and "COMPLETED" in done, "completed VTODO")
    check(done["DUE"].dt == dt.datetime(2030, 2, 1, 10, 30, tzinfo=dt.timezone.utc), "VTODO DUE")
    check(str(pending["STATUS"]) == "NEEDS-ACTION" and str(pending["SUMMARY"]) == TITLE, "pending VTODO")
    check(sorted(a["TRIGGER"].dt for a in pending.walk("VALARM")) == triggers, "VTODO alarms")

    # The feed token opens nothing else; a rotated one stops at once.
    status, _, _ = request(base, "GET", f"/api/{user_id}/tasks", feed_token)
    check(status == 401, f"feed token as bearer on /tasks: {status}")
    request(base, "POST", f"/api/{user_id}/calendar/feed-token", token, expect=201)
    status, _, _ = request(base, "GET", feed_path)
    check(status == 401, f"rotated token: {status}")
    print("ok: calendar feed parsed by icalendar", icalendar.__version__)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
