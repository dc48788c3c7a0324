"""Cron schedules as the cron input binding parses them.

components-contrib v1.16.13 bindings/cron/cron.go builds its parser with
``cron.SecondOptional | Minute | Hour | Dom | Month | Dow | Descriptor`` from dapr/kit cron
(a fork of robfig/cron v3).  So a schedule is either
* a descriptor: ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight``,
  ``@hourly``, or ``@every <Go duration>`` (dapr/kit cron/constantdelay.go: the delay is used as
  given - unlike upstream robfig it is not rounded to whole seconds - and the next run is
  ``now + delay``); or
* 5 fields (minute hour dom month dow) or 6 fields (second first), each a list of ``*``/``?``,
  ``a``, ``a-b``, with optional ``/step``, month and weekday names allowed; an optional
  ``TZ=Zone``/``CRON_TZ=Zone`` prefix (dapr/kit cron/parser.go, spec.go).
Day-of-month and day-of-week are OR-ed unless one of them is ``*``/``?`` (spec.go dayMatches).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from standin_gojson import parse_go_duration

try:
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover
    ZoneInfo = None

_BOUNDS = {
    "second": (0, 59, {}),
    "minute": (0, 59, {}),
    "hour": (0, 23, {}),
    "dom": (1, 31, {}),
    "month": (1, 12, {n: i + 1 for i, n in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}),
    "dow": (0, 6, {n: i for i, n in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}),
}


class CronError(ValueError):
    pass


def _parse_field(text: str, kind: str):
    lo, hi, names = _BOUNDS[kind]
    values = set()
    star = False
    for part in text.split(","):
        rng, _, step_s = part.partition("/")
        if rng in ("*", "?"):
            start, end = lo, hi
            # robfig getRange: "*" sets the star bit unless a step > 1 is given
            if not step_s or step_s == "1":
                star = True
        else:
            a, dash, b = rng.partition("-")

            def num(x):
                xl = x.lower()
                if xl in names:
                    return names[xl]
                if not x.isdigit():
                    raise CronError(f"failed to parse int from {x}")
                return int(x)

            start = num(a)
            end = num(b) if dash else (hi if step_s else start)
        step = 1
        if step_s:
            if not step_s.isdigit() or int(step_s) == 0:
                raise CronError(f"invalid step in {part!r}")
            step = int(step_s)
        if start < lo or end > hi or start > end:
            raise CronError(f"end of range ({end}) above maximum ({hi}) or beginning below minimum: {part}")
        values.update(range(start, end + 1, step))
    return values, star


class Schedule:
    def next(self, now: datetime) -> Optional[datetime]:  # pragma: no cover - interface
        raise NotImplementedError


class EverySchedule(Schedule):
    def __init__(self, delay: float):
        self.delay = delay

    def next(self, now):
        return now + timedelta(seconds=self.delay)


class SpecSchedule(Schedule):
    def __init__(self, fields: dict, loc):
        self.f = fields
        self.loc = loc

    def _day_ok(self, t):
        dom, dom_star = self.f["dom"]
        dow, dow_star = self.f["dow"]
        dm = t.day in dom
        wm = ((t.weekday() + 1) % 7) in dow
        if dom_star or dow_star:
            return dm and wm
        return dm or wm

    def next(self, now):
        t = now.astimezone(self.loc) if self.loc else now
        t = t.replace(microsecond=0) + timedelta(seconds=1)
        limit = t.year + 5
        while t.year <= limit:
            if t.month not in self.f["month"][0]:
                y, m = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
                t = t.replace(year=y, month=m, day=1, hour=0, minute=0, second=0)
                continue
            if not self._day_ok(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
                continue
            if t.hour not in self.f["hour"][0]:
                t = (t + timedelta(hours=1)).replace(minute=0, second=0)
                continue
            if t.minute not in self.f["minute"][0]:
                t = (t + timedelta(minutes=1)).replace(second=0)
                continue
            if t.second not in self.f["second"][0]:
                t = t + timedelta(seconds=1)
                continue
            return t
        return None


def parse_schedule(spec: str) -> Schedule:
    loc = None
    s = spec
    if s.startswith("TZ=") or s.startswith("CRON_TZ="):
        head, _, s = s.partition(" ")
        zone = head.split("=", 1)[1]
        if ZoneInfo is None:
            raise CronError("time zones unavailable")
        try:
            loc = ZoneInfo(zone)
        except Exception as e:  # noqa: BLE001
            raise CronError(f"provided bad location {zone}: {e}") from None
        s = s.strip()
    if s.startswith("@"):
        if s in ("@yearly", "@annually"):
            s = "0 0 0 1 1 *"
        elif s == "@monthly":
            s = "0 0 0 1 * *"
        elif s == "@weekly":
            s = "0 0 0 * * 0"
        elif s in ("@daily", "@midnight"):
            s = "0 0 0 * * *"
        elif s == "@hourly":
            s = "0 0 * * * *"
        elif s.startswith("@every "):
            try:
                d = parse_go_duration(s[len("@every "):])
            except ValueError as e:
                raise CronError(f"failed to parse duration {s}: {e}") from None
            return EverySchedule(d)
        else:
            raise CronError(f"unrecognized descriptor: {s}")
    parts = s.split()
    if len(parts) == 5:
        parts = ["0"] + parts
    elif len(parts) != 6:
        raise CronError(f"expected 5 to 6 fields, found {len(parts)}: {s}")
    kinds = ["second", "minute", "hour", "dom", "month", "dow"]
    fields = {k: _parse_field(p, k) for k, p in zip(kinds, parts)}
    return SpecSchedule(fields, loc)
