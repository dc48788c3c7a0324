"""Dapr resiliency for the daprd stand-in: retries, timeouts and circuit breakers.

Sources (dapr/dapr v1.16.19 unless noted):
* pkg/resiliency/resiliency.go   - loading ``kind: Resiliency`` files from the resources path
  (loadLocalResiliencyPath: one YAML document per file, ``scopes`` filter), decodePolicies
  (retry.DefaultConfig + the YAML's policy/duration/maxInterval/maxRetries/matching only; timeouts
  "123" = milliseconds), decodeTargets, ComponentInboundPolicy/ComponentOutboundPolicy (named target
  first, else the Default{Pubsub,Statestore,Binding}Component{Inbound,Outbound}/Component/""
  RetryPolicy/TimeoutPolicy/CircuitBreakerPolicy templates), BuiltInInitializationRetries, and the
  per-component circuit-breaker instances (keyed by component name only, so inbound and outbound
  of one component share one breaker).
* pkg/apis/resiliency/v1alpha1/types.go - which YAML fields exist at all: a retry has only
  policy, duration, maxInterval, maxRetries, matching.  initialInterval, multiplier,
  randomizationFactor and maxElapsedTime cannot be set from YAML.
* pkg/resiliency/policy.go       - NewRunnerWithOptions: per-attempt timeout, circuit breaker
  around each attempt (an open breaker stops the retries), retry with backoff, CodeError +
  ``matching.httpStatusCodes`` decides whether a status is retried.
* pkg/resiliency/retry.go        - RetryConditionMatch (code ranges "500-599,404").
* pkg/resiliency/breaker/circuitbreaker.go - gobreaker settings, Trip is a CEL expression over
  requests/totalSuccesses/totalFailures/consecutiveSuccesses/consecutiveFailures.
* dapr/kit retry/retry.go (v0.16.x) - DefaultConfig: constant 5s, exponential 500ms initial,
  factor 0.5, multiplier 1.5, max interval 60s, max elapsed 15m, maxRetries -1 (unbounded).
* github.com/cenkalti/backoff/v4 v4.3.0 - ExponentialBackOff.NextBackOff,
  getRandomValueFromInterval, WithMaxRetries, RetryNotify (Permanent errors stop at once).
* github.com/sony/gobreaker - closed/open/half-open state machine with generations.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from standin_gojson import go_atoi, parse_go_duration


class Permanent(Exception):
    """backoff.Permanent(err): stops the retry loop; the wrapped error is returned."""

    def __init__(self, err: BaseException):
        super().__init__(str(err))
        self.err = err


class CodeError(Exception):
    """resiliency.NewCodeError(status, err): lets ``matching.httpStatusCodes`` decide on retry."""

    def __init__(self, status: int, err: BaseException):
        super().__init__(str(err))
        self.status = status
        self.err = err


class DeadlineExceeded(Exception):
    def __init__(self):
        super().__init__("context deadline exceeded")


class BreakerOpen(Exception):
    def __init__(self):
        super().__init__("circuit breaker is open")


class BreakerTooManyRequests(Exception):
    def __init__(self):
        super().__init__("too many requests")


class ResiliencyError(Exception):
    pass


def parse_dapr_duration(val: str) -> float:
    """pkg/resiliency/resiliency.go parseDuration / dapr/kit config decodeString for durations:
    an integer is milliseconds, otherwise Go time.ParseDuration."""
    try:
        return go_atoi(val) / 1000.0
    except ValueError:
        return parse_go_duration(val)


# ------------------------------------------------------------------------------------------
# Retry / backoff
# ------------------------------------------------------------------------------------------

@dataclass
class RetryConfig:
    policy: str = "constant"
    duration: float = 5.0
    initial_interval: float = 0.5
    randomization_factor: float = 0.5
    multiplier: float = 1.5
    max_interval: float = 60.0
    max_elapsed: float = 15 * 60.0
    max_retries: int = -1
    http_codes: Optional[list] = None  # list of (start, end); None = retry every status
    grpc_codes: Optional[list] = None

    def describe(self) -> str:
        if self.policy == "constant":
            return f"constant duration={self.duration}s maxRetries={self.max_retries}"
        return (f"exponential initial={self.initial_interval}s x{self.multiplier} "
                f"±{self.randomization_factor} maxInterval={self.max_interval}s "
                f"maxElapsed={self.max_elapsed}s maxRetries={self.max_retries}")

    def has_retries(self) -> bool:
        return self.max_retries != 0

    def status_needs_retry(self, code: int) -> bool:
        """retry.go RetryConditionMatch.statusCodeNeedRetry."""
        if 0 <= code <= 16:
            ranges = self.grpc_codes
        elif 100 <= code <= 599:
            ranges = self.http_codes
        else:
            return False
        if ranges is None:
            return True
        return any(a <= code <= b for a, b in ranges)

    def new_backoff(self):
        return _Backoff(self)


class _Backoff:
    """cenkalti/backoff v4: ConstantBackOff or ExponentialBackOff wrapped in WithMaxRetries."""

    STOP = None

    def __init__(self, cfg: RetryConfig):
        self.cfg = cfg
        self.tries = 0
        self.current = cfg.initial_interval
        self.start = time.monotonic()

    def next(self) -> Optional[float]:
        c = self.cfg
        if c.max_retries >= 0:
            if c.max_retries == 0 or self.tries >= c.max_retries:
                return None
            self.tries += 1
        if c.policy == "constant":
            return c.duration
        elapsed = time.monotonic() - self.start
        rf = c.randomization_factor
        cur = self.current
        if rf == 0:
            nxt = cur
        else:
            delta = rf * cur
            lo, hi = cur - delta, cur + delta
            # getRandomValueFromInterval works in nanoseconds: min + random*(max-min+1ns)
            nxt = lo + random.random() * (hi - lo + 1e-9)
        if cur >= c.max_interval / c.multiplier:
            self.current = c.max_interval
        else:
            self.current = cur * c.multiplier
        if c.max_elapsed != 0 and elapsed + nxt > c.max_elapsed:
            return None
        return nxt


def _parse_code_patterns(patterns: str, lo: int, hi: int) -> Optional[list]:
    """retry.go parsePatterns/compilePattern."""
    if not patterns:
        return None
    out = []
    for p in patterns.split(","):
        if p == "":
            continue
        parts = p.split("-")
        if len(parts) > 2:
            raise ResiliencyError(f"invalid pattern {p}, more than one '-' exists")
        try:
            start = go_atoi(parts[0])
            end = go_atoi(parts[1]) if len(parts) == 2 else start
        except ValueError as e:
            raise ResiliencyError(f"failed to parse code from pattern {p}: {e}") from None
        if not (lo <= start <= hi):
            raise ResiliencyError(f"invalid pattern {p}, start code {start} is not valid")
        if not (lo <= end <= hi):
            raise ResiliencyError(f"invalid pattern {p}, end code {end} is not valid")
        if end < start:
            raise ResiliencyError(f"invalid pattern {p}, start code {start} is greater than end code {end}")
        out.append((start, end))
    return out


def _decode_retry(name: str, spec) -> RetryConfig:
    """resiliency.go decodePolicies: retry.DefaultConfig() then retry.DecodeConfig(yaml fields)."""
    if not isinstance(spec, dict):
        raise ResiliencyError(f"invalid retry configuration {name!r}: not a mapping")
    rc = RetryConfig()
    known = {"policy", "duration", "maxinterval", "maxretries", "matching"}
    for k, v in spec.items():
        lk = k.lower()
        if lk not in known:
            # types.go has no such field: sigs.k8s.io/yaml drops it silently.  Loud here because
            # the author clearly expected it to do something.
            raise ResiliencyError(
                f"retry policy {name!r}: field {k!r} does not exist in Dapr's Resiliency schema "
                f"(pkg/apis/resiliency/v1alpha1/types.go Retry has only policy, duration, "
                f"maxInterval, maxRetries, matching); daprd would silently ignore it")
        if lk == "policy":
            if not isinstance(v, str):
                raise ResiliencyError(f"retry {name!r}: policy must be a string")
            pv = v.lower()
            if pv == "":
                continue
            if pv not in ("constant", "exponential"):
                raise ResiliencyError(f"invalid retry configuration {name!r}: unexpected back off policy type: {v}")
            rc.policy = pv
        elif lk in ("duration", "maxinterval"):
            if not isinstance(v, str):
                raise ResiliencyError(
                    f"retry {name!r}: {k} must be a YAML string (types.go declares it string; a bare "
                    f"number makes daprd reject the whole Resiliency file)")
            if v == "":
                continue
            try:
                d = parse_dapr_duration(v)
            except ValueError:
                raise ResiliencyError(f"invalid retry configuration {name!r}: invalid duration {v!r}") from None
            if lk == "duration":
                rc.duration = d
            else:
                rc.max_interval = d
        elif lk == "maxretries":
            if isinstance(v, bool) or not isinstance(v, int):
                raise ResiliencyError(f"retry {name!r}: maxRetries must be an integer")
            rc.max_retries = v
        elif lk == "matching":
            if v is None:
                continue
            if not isinstance(v, dict):
                raise ResiliencyError(f"retry {name!r}: matching must be a mapping")
            for mk, mv in v.items():
                if mk == "httpStatusCodes":
                    rc.http_codes = _parse_code_patterns(str(mv), 100, 599)
                elif mk == "gRPCStatusCodes":
                    rc.grpc_codes = _parse_code_patterns(str(mv), 0, 16)
                else:
                    raise ResiliencyError(f"retry {name!r}: unknown matching field {mk!r}")
    return rc


# ------------------------------------------------------------------------------------------
# Circuit breaker (gobreaker) with the Trip CEL expression
# ------------------------------------------------------------------------------------------

_TRIP_VARS = ("requests", "totalSuccesses", "totalFailures", "consecutiveSuccesses", "consecutiveFailures")


def _compile_trip(expr: str) -> Callable[[dict], bool]:
    """A small evaluator for the CEL subset Dapr documents for ``trip``:
    comparisons of the five counters with integers, combined with &&, || and parentheses."""
    tokens = re.findall(r"\s*(\d+|[A-Za-z_]\w*|&&|\|\||>=|<=|==|!=|>|<|\(|\))", expr)
    if "".join(tokens).replace(" ", "") != expr.replace(" ", ""):
        raise ResiliencyError(f"trip expression {expr!r} is outside the CEL subset the stand-in evaluates")
    pos = [0]

    def peek():
        return tokens[pos[0]] if pos[0] < len(tokens) else None

    def take():
        t = peek()
        pos[0] += 1
        return t

    def atom():
        t = take()
        if t == "(":
            e = or_expr()
            if take() != ")":
                raise ResiliencyError(f"trip expression {expr!r}: missing ')'")
            return e
        if t in _TRIP_VARS:
            op = take()
            num = take()
            if op not in (">=", "<=", "==", "!=", ">", "<") or not (num or "").isdigit():
                raise ResiliencyError(f"trip expression {expr!r}: expected '<counter> <op> <int>'")
            n = int(num)
            ops = {">=": lambda a: a >= n, "<=": lambda a: a <= n, "==": lambda a: a == n,
                   "!=": lambda a: a != n, ">": lambda a: a > n, "<": lambda a: a < n}
            f = ops[op]
            return lambda c, t=t, f=f: f(c[t])
        raise ResiliencyError(f"trip expression {expr!r}: unexpected token {t!r}")

    def and_expr():
        e = atom()
        while peek() == "&&":
            take()
            r = atom()
            e = (lambda a, b: lambda c: a(c) and b(c))(e, r)
        return e

    def or_expr():
        e = and_expr()
        while peek() == "||":
            take()
            r = and_expr()
            e = (lambda a, b: lambda c: a(c) or b(c))(e, r)
        return e

    fn = or_expr()
    if pos[0] != len(tokens):
        raise ResiliencyError(f"trip expression {expr!r}: trailing tokens")
    return fn


@dataclass
class BreakerTemplate:
    name: str
    max_requests: int = 0
    interval: float = 0.0
    timeout: float = 0.0
    trip_src: str = ""
    trip: Optional[Callable] = None


# Called with (breaker name, previous state, new state) on every transition; the stand-in counts
# openings in its stats so that a test can assert no breaker opened.
on_breaker_state_change: Optional[Callable[[str, str, str], None]] = None


class CircuitBreaker:
    """github.com/sony/gobreaker CircuitBreaker as configured by breaker/circuitbreaker.go."""

    CLOSED, OPEN, HALF = "closed", "open", "half-open"

    def __init__(self, name: str, tpl: BreakerTemplate, log):
        self.name = name
        self.max_requests = tpl.max_requests or 1
        self.interval = tpl.interval
        self.timeout = tpl.timeout or 60.0
        self.trip = tpl.trip or (lambda c: c["consecutiveFailures"] > 5)
        self.log = log
        self.lock = threading.Lock()
        self.state = self.CLOSED
        self.generation = 0
        self._new_generation(time.monotonic())

    def _new_generation(self, now):
        self.generation += 1
        self.counts = dict.fromkeys(_TRIP_VARS, 0)
        if self.state == self.CLOSED:
            self.expiry = now + self.interval if self.interval > 0 else None
        elif self.state == self.OPEN:
            self.expiry = now + self.timeout
        else:
            self.expiry = None

    def _set_state(self, st, now):
        if st == self.state:
            return
        prev = self.state
        self.state = st
        self._new_generation(now)
        self.log(f"Circuit breaker {self.name!r} changed state from {prev} to {st}")
        if on_breaker_state_change is not None:
            on_breaker_state_change(self.name, prev, st)

    def _current(self, now):
        if self.state == self.CLOSED:
            if self.expiry is not None and self.expiry < now:
                self._new_generation(now)
        elif self.state == self.OPEN:
            if self.expiry < now:
                self._set_state(self.HALF, now)
        return self.state, self.generation

    def execute(self, fn):
        with self.lock:
            now = time.monotonic()
            st, gen = self._current(now)
            if st == self.OPEN:
                raise BreakerOpen()
            if st == self.HALF and self.counts["requests"] >= self.max_requests:
                raise BreakerTooManyRequests()
            self.counts["requests"] += 1
        try:
            res = fn()
        except BaseException as e:
            self._after(gen, False)
            raise e
        self._after(gen, True)
        return res

    def _after(self, before_gen, ok):
        with self.lock:
            now = time.monotonic()
            st, gen = self._current(now)
            if gen != before_gen:
                return
            c = self.counts
            if ok:
                c["totalSuccesses"] += 1
                c["consecutiveSuccesses"] += 1
                c["consecutiveFailures"] = 0
                if st == self.HALF and c["consecutiveSuccesses"] >= self.max_requests:
                    self._set_state(self.CLOSED, now)
            else:
                c["totalFailures"] += 1
                c["consecutiveFailures"] += 1
                c["consecutiveSuccesses"] = 0
                if st == self.CLOSED:
                    try:
                        trip = bool(self.trip(c))
                    except Exception:
                        trip = False
                    if trip:
                        self._set_state(self.OPEN, now)
                elif st == self.HALF:
                    self._set_state(self.OPEN, now)


# ------------------------------------------------------------------------------------------
# Policies and the runner
# ------------------------------------------------------------------------------------------

@dataclass
class PolicyDef:
    name: str
    timeout: float = 0.0
    retry: Optional[RetryConfig] = None
    breaker: Optional[CircuitBreaker] = None

    def describe(self) -> str:
        return (f"{self.name}: timeout={self.timeout or 'none'} "
                f"retry=({self.retry.describe() if self.retry else 'none'}) "
                f"breaker={'yes' if self.breaker else 'none'}")


def run_policy(pol: Optional[PolicyDef], op: Callable[[Optional[float]], object],
               deadline: Optional[float] = None, log=None, stop_event=None):
    """policy.go NewRunnerWithOptions.  ``op(attempt_deadline)`` performs one attempt and raises on
    error; ``deadline`` is the caller's context deadline (monotonic seconds) or None."""
    def attempt():
        att_deadline = deadline
        if pol is not None and pol.timeout > 0:
            d = time.monotonic() + pol.timeout
            att_deadline = d if att_deadline is None else min(att_deadline, d)
        if att_deadline is not None and time.monotonic() >= att_deadline:
            raise DeadlineExceeded()
        if pol is not None and pol.breaker is not None:
            try:
                return pol.breaker.execute(lambda: op(att_deadline))
            except (BreakerOpen, BreakerTooManyRequests) as e:
                if pol.retry is not None:
                    raise Permanent(e)
                raise
        return op(att_deadline)

    if pol is None or pol.retry is None:
        try:
            return attempt()
        except Permanent as p:
            raise p.err
    b = pol.retry.new_backoff()
    notified = False
    n = 0
    while True:
        n += 1
        try:
            res = attempt()
            if notified and log:
                log(f"Recovered processing operation {pol.name} after {n} attempts")
            return res
        except Permanent as p:
            raise p.err
        except CodeError as ce:
            if not pol.retry.status_needs_retry(ce.status):
                raise ce
            err = ce
        except Exception as e:  # noqa: BLE001 - every error is retried unless permanent
            err = e
        nxt = b.next()
        if nxt is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise DeadlineExceeded()
            raise err
        if deadline is not None and time.monotonic() + nxt >= deadline:
            # backoff.WithContext: the context ends before the next attempt
            time.sleep(max(0.0, deadline - time.monotonic()))
            raise DeadlineExceeded()
        if not notified and log:
            log(f"Error processing operation {pol.name}. Retrying in {nxt:.3f}s… ({err})")
            notified = True
        if stop_event is not None:
            if stop_event.wait(nxt):
                raise err
        else:
            time.sleep(nxt)


BUILTIN_INIT_RETRIES = PolicyDef(
    name="DaprBuiltInInitializationRetries",
    retry=RetryConfig(policy="exponential", initial_interval=0.5, max_retries=3, max_interval=1.0,
                      max_elapsed=10.0, duration=2.0, multiplier=1.5, randomization_factor=0.5))


class Resiliency:
    """The merged Resiliency configuration of one daprd (resiliency.go FromConfigurations)."""

    def __init__(self, log):
        self.log = log
        self.timeouts: dict = {}
        self.retries: dict = {}
        self.breakers: dict = {}
        self.components: dict = {}
        self._cb_instances: dict = {}
        self._lock = threading.Lock()
        self.names: list = []

    def load(self, name: str, spec: dict):
        """decodePolicies + decodeTargets of one Resiliency resource.  Errors raise
        ResiliencyError (daprd logs "Could not read resiliency policy" and skips the resource)."""
        policies = spec.get("policies") or {}
        targets = spec.get("targets") or {}
        if not isinstance(policies, dict) or not isinstance(targets, dict):
            raise ResiliencyError("spec.policies and spec.targets must be mappings")
        timeouts, retries, breakers = {}, {}, {}
        for tname, tval in (policies.get("timeouts") or {}).items():
            if not isinstance(tval, str):
                raise ResiliencyError(f"timeout {tname!r} must be a string (types.go: map[string]string)")
            try:
                timeouts[tname] = parse_dapr_duration(tval)
            except ValueError:
                raise ResiliencyError(f"invalid duration {tname!r}, {tval}") from None
        for rname, rval in (policies.get("retries") or {}).items():
            if rname == "DaprBuiltInActorNotFoundRetries":
                self.log(f"Attempted to override protected policy {rname} which is not allowed. Ignoring.")
                continue
            rc = _decode_retry(rname, rval)
            if rname.startswith("DaprBuiltIn") and rc.max_retries < 3:
                rc.max_retries = 3
            retries[rname] = rc
        for bname, bval in (policies.get("circuitBreakers") or {}).items():
            if not isinstance(bval, dict):
                raise ResiliencyError(f"circuit breaker {bname!r} must be a mapping")
            tpl = BreakerTemplate(name=bname)
            for k, v in bval.items():
                lk = k.lower()
                if lk == "maxrequests":
                    tpl.max_requests = int(v)
                elif lk in ("interval", "timeout"):
                    if not isinstance(v, str):
                        raise ResiliencyError(f"circuit breaker {bname!r}: {k} must be a string")
                    d = parse_dapr_duration(v)
                    setattr(tpl, lk, d)
                elif lk == "trip":
                    tpl.trip_src = str(v)
                    tpl.trip = _compile_trip(str(v))
                else:
                    raise ResiliencyError(f"circuit breaker {bname!r}: unknown field {k!r}")
            breakers[bname] = tpl
        comps = {}
        for cname, cval in (targets.get("components") or {}).items():
            cval = cval or {}
            entry = {}
            for direction in ("inbound", "outbound"):
                pn = cval.get(direction) or {}
                for k in pn:
                    if k not in ("timeout", "retry", "circuitBreaker"):
                        raise ResiliencyError(f"target component {cname!r} {direction}: unknown field {k!r}")
                entry[direction] = {"timeout": pn.get("timeout", ""), "retry": pn.get("retry", ""),
                                    "circuitBreaker": pn.get("circuitBreaker", "")}
            comps[cname] = entry
        for key in targets:
            if key not in ("components", "apps", "actors"):
                raise ResiliencyError(f"unknown targets section {key!r}")
            if key in ("apps", "actors") and targets[key]:
                self.log(f"resiliency targets.{key} ignored: the stand-in has no service invocation or actors")
        # Check references now: a missing circuit breaker makes daprd dereference a nil template
        # (resiliency.go ComponentOutboundPolicy -> componentCBs.Get(template) panics).
        all_b = dict(self.breakers)
        all_b.update(breakers)
        for cname, entry in comps.items():
            for direction, pn in entry.items():
                if pn["circuitBreaker"] and pn["circuitBreaker"] not in all_b:
                    raise ResiliencyError(
                        f"component {cname!r} {direction} refers to unknown circuit breaker "
                        f"{pn['circuitBreaker']!r} (daprd would panic on first use)")
                for kind, table in (("timeout", {**self.timeouts, **timeouts}),
                                    ("retry", {**self.retries, **retries})):
                    if pn[kind] and pn[kind] not in table:
                        self.log(f"WARNING component {cname!r} {direction} refers to unknown {kind} "
                                 f"{pn[kind]!r}: daprd silently applies no {kind}")
        self.timeouts.update(timeouts)
        self.retries.update(retries)
        self.breakers.update(breakers)
        self.components.update(comps)
        self.names.append(name)

    def _breaker(self, comp_name: str, tpl: BreakerTemplate) -> CircuitBreaker:
        with self._lock:
            cb = self._cb_instances.get(comp_name)
            if cb is None:
                cb = CircuitBreaker(tpl.name + "-" + comp_name, tpl, self.log)
                self._cb_instances[comp_name] = cb
            return cb

    def _default(self, comp_type: str, direction: str, table: dict, template: str) -> str:
        levels = [comp_type + "Component" + direction, "Component" + direction, "Component"]
        for lvl in levels:
            n = template % lvl
            if n in table:
                return n
        n = template % ""
        return n if n in table else ""

    def component_policy(self, name: str, comp_type: str, direction: str) -> PolicyDef:
        """ComponentInboundPolicy / ComponentOutboundPolicy.  comp_type: Pubsub, Statestore, Binding;
        direction: Inbound or Outbound."""
        pol = PolicyDef(name=f"component[{name}] {'input' if direction == 'Inbound' else 'output'}")
        entry = self.components.get(name)
        if entry is not None:
            pn = entry[direction.lower()]
            if pn["timeout"]:
                pol.timeout = self.timeouts.get(pn["timeout"], 0.0)
            if pn["retry"]:
                pol.retry = self.retries.get(pn["retry"])
            if pn["circuitBreaker"]:
                pol.breaker = self._breaker(name, self.breakers[pn["circuitBreaker"]])
        else:
            r = self._default(comp_type, direction, self.retries, "Default%sRetryPolicy")
            t = self._default(comp_type, direction, self.timeouts, "Default%sTimeoutPolicy")
            c = self._default(comp_type, direction, self.breakers, "Default%sCircuitBreakerPolicy")
            if t:
                pol.timeout = self.timeouts[t]
            if r:
                pol.retry = self.retries[r]
            if c:
                pol.breaker = self._breaker(name, self.breakers[c])
        return pol

    def builtin_init_policy(self) -> PolicyDef:
        rc = self.retries.get("DaprBuiltInInitializationRetries")
        if rc is not None:
            return PolicyDef(name="DaprBuiltInInitializationRetries", retry=rc)
        return BUILTIN_INIT_RETRIES
