"""Go-compatible encoding helpers for the daprd stand-in (tests/distributed/daprd_standin.py).

daprd is a Go program: the exact bytes it stores in Redis and sends to the app come from Go's
``encoding/json`` (envelopes, stream metadata, error bodies) or from json-iterator's
``ConfigFastest`` (the Redis state store's value encoding).  The helpers below reproduce what those
encoders and decoders do, so the stand-in's wire format matches daprd 1.16's:

* ``go_decode_first``  - ``json.NewDecoder(r).Decode(&v)``: reads the FIRST JSON value and ignores
  whatever follows it; an empty body is ``io.EOF``.  Used where daprd uses a Decoder
  (dapr pkg/api/http/http.go onPostState, components-contrib pubsub/envelope.go unmarshalPrecise,
  dapr pkg/runtime/subscription/postman/http/http.go reading the app's response).
* ``go_unmarshal``     - ``json.Unmarshal``: the whole input must be one value (trailing data is an
  error).  Used by dapr pkg/runtime/subscription/subscription.go for the consumed message.
* ``go_marshal``       - ``json.Marshal``: map keys sorted, HTML characters escaped (``<`` ``>`` ``&``
  become ``\\u003c`` …), U+2028/U+2029 escaped, ``\\b``/``\\f`` short escapes (Go >= 1.22).
* ``jsoniter_fastest_marshal`` - json-iterator ``ConfigFastest`` as used by components-contrib
  state/redis/redis.go (``jsoniter.ConfigFastest``): no HTML escaping, map keys in Go's random map
  order, float64 written with at most 6 decimals (``MarshalFloatWith6Digits``).
* ``parse_go_duration`` - Go ``time.ParseDuration``; ``go_parse_bool`` - ``strconv.ParseBool``;
  ``go_atoi`` - ``strconv.Atoi``/``ParseInt(s, 10, 64)``.

Numbers decoded from JSON are kept as ``GoNumber`` (their literal text), which is what
``decoder.UseNumber()`` gives daprd; ``to_float64_tree`` converts them the way a plain
``interface{}`` decode does (float64).
"""

from __future__ import annotations

import json
import math
import random
import re
from datetime import datetime, timezone


class GoNumber(str):
    """A JSON number kept as its literal text (Go ``json.Number``)."""


class GoJSONError(ValueError):
    """A decode error; the message imitates Go's encoding/json wording where it matters."""


class GoEOF(GoJSONError):
    """``io.EOF`` from a json.Decoder that found no value at all."""

    def __init__(self) -> None:
        super().__init__("EOF")


def _reject_constant(name: str):
    # Go's decoder has no NaN/Infinity literals.
    raise GoJSONError(f"invalid character '{name[0]}' looking for beginning of value")


_DECODER = json.JSONDecoder(parse_float=GoNumber, parse_int=GoNumber,
                            parse_constant=_reject_constant, strict=True)
_WS = " \t\r\n"


def _text(data) -> str:
    if isinstance(data, (bytes, bytearray, memoryview)):
        # Go replaces invalid UTF-8 with U+FFFD while decoding strings.
        return bytes(data).decode("utf-8", errors="replace")
    return data


def _fix_surrogates(v):
    # Go decodes a lone UTF-16 surrogate escape to U+FFFD.
    if isinstance(v, str) and not isinstance(v, GoNumber):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in v):
            return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in v)
        return v
    if isinstance(v, list):
        return [_fix_surrogates(x) for x in v]
    if isinstance(v, dict):
        return {_fix_surrogates(k): _fix_surrogates(x) for k, x in v.items()}
    return v


def _raw_decode(text: str, i: int):
    try:
        obj, end = _DECODER.raw_decode(text, i)
    except json.JSONDecodeError as e:
        if e.pos >= len(text):
            raise GoJSONError("unexpected EOF") from None
        ch = text[e.pos]
        raise GoJSONError(f"invalid character {ch!r} looking for beginning of value") from None
    return _fix_surrogates(obj), end


def go_decode_first(data):
    """json.NewDecoder(bytes).Decode(&v): the first value; trailing bytes are not read."""
    text = _text(data)
    i = 0
    while i < len(text) and text[i] in _WS:
        i += 1
    if i == len(text):
        raise GoEOF()
    obj, _ = _raw_decode(text, i)
    return obj


def go_unmarshal(data):
    """json.Unmarshal(bytes, &v): exactly one value, only whitespace around it."""
    text = _text(data)
    i = 0
    while i < len(text) and text[i] in _WS:
        i += 1
    if i == len(text):
        raise GoJSONError("unexpected end of JSON input")
    obj, end = _raw_decode(text, i)
    while end < len(text) and text[end] in _WS:
        end += 1
    if end != len(text):
        raise GoJSONError(f"invalid character {text[end]!r} after top-level value")
    return obj


def go_type_name(v) -> str:
    """The JSON kind name Go uses in UnmarshalTypeError messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, GoNumber):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "number"


# ---------------------------------------------------------------------------------------------
# Float formatting (strconv.AppendFloat with precision -1, as encoding/json and jsoniter use it)
# ---------------------------------------------------------------------------------------------

def _shortest_digits(f: float):
    """Shortest round-trip decimal digits of |f| and the decimal point position (0.DIGITS x 10^p)."""
    r = repr(abs(f))
    if "e" in r:
        mant, exp = r.split("e")
        exp = int(exp)
    else:
        mant, exp = r, 0
    ip, _, fp = mant.partition(".")
    allds = ip + fp
    stripped = allds.lstrip("0")
    point = len(ip) + exp - (len(allds) - len(stripped))
    digits = stripped.rstrip("0")
    if not digits:
        return "0", 1
    return digits, point


def go_format_float(f: float, fmt: str) -> str:
    digits, point = _shortest_digits(f)
    sign = "-" if (f < 0 or (f == 0 and math.copysign(1.0, f) < 0)) else ""
    if digits == "0":
        return sign + ("0" if fmt == "f" else "0e+00")
    if fmt == "f":
        if point <= 0:
            body = "0." + "0" * (-point) + digits
        elif point >= len(digits):
            body = digits + "0" * (point - len(digits))
        else:
            body = digits[:point] + "." + digits[point:]
        return sign + body
    e = point - 1
    body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    es = "-" if e < 0 else "+"
    return f"{sign}{body}e{es}{abs(e):02d}"


def go_float64_json(f: float) -> str:
    """encoding/json floatEncoder (64 bit) == jsoniter WriteFloat64."""
    if math.isinf(f) or math.isnan(f):
        raise GoJSONError(f"json: unsupported value: {f}")
    a = abs(f)
    fmt = "f"
    if a != 0 and (a < 1e-6 or a >= 1e21):
        fmt = "e"
    s = go_format_float(f, fmt)
    if fmt == "e":
        # clean up e-09 to e-9
        m = re.search(r"e-0(\d)$", s)
        if m:
            s = s[: m.start()] + "e-" + m.group(1)
    return s


def jsoniter_float64_lossy(f: float) -> str:
    """json-iterator Stream.WriteFloat64Lossy (MarshalFloatWith6Digits)."""
    if math.isinf(f) or math.isnan(f):
        raise GoJSONError(f"unsupported value: {f}")
    out = ""
    if f < 0:
        out = "-"
        f = -f
    if f > 0x4FFFFFF:
        return out + go_float64_json(f)
    exp = 1000000
    lval = int(f * float(exp) + 0.5)
    out += str(lval // exp)
    fval = lval % exp
    if fval == 0:
        return out
    frac = str(fval).rjust(6, "0").rstrip("0")
    return out + "." + frac


# ---------------------------------------------------------------------------------------------
# Encoders
# ---------------------------------------------------------------------------------------------

_GO_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def go_quote(s: str) -> str:
    """encoding/json appendString with escapeHTML=true."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _GO_SHORT:
            out.append(_GO_SHORT[ch])
        elif o < 0x20 or ch in "<>&":
            out.append("\\u%04x" % o)
        elif o in (0x2028, 0x2029):
            out.append("\\u%04x" % o)
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_marshal(v) -> str:
    """encoding/json.Marshal of the decoded value tree (maps sorted by key)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, GoNumber):
        return str(v)
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float64_json(v)
    if isinstance(v, dict):
        keys = sorted(v.keys(), key=lambda k: k.encode("utf-8", "surrogatepass"))
        return "{" + ",".join(go_quote(k) + ":" + go_marshal(v[k]) for k in keys) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(go_marshal(x) for x in v) + "]"
    raise TypeError(f"cannot marshal {type(v)!r}")


def go_marshal_bytes(v) -> bytes:
    return go_marshal(v).encode("utf-8", "surrogatepass")


def _jsoniter_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20:
            out.append("\\u%04x" % o)
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def jsoniter_fastest_marshal(v) -> str:
    """json-iterator ConfigFastest.Marshal of a value decoded into interface{} (floats for numbers).

    Map iteration in Go is randomised and ConfigFastest does not sort keys, so neither do we."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return jsoniter_float64_lossy(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _jsoniter_quote(v)
    if isinstance(v, dict):
        keys = list(v.keys())
        random.shuffle(keys)
        return "{" + ",".join(_jsoniter_quote(k) + ":" + jsoniter_fastest_marshal(v[k]) for k in keys) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(jsoniter_fastest_marshal(x) for x in v) + "]"
    raise TypeError(f"cannot marshal {type(v)!r}")


def to_float64_tree(v, field: str = ""):
    """What json.Unmarshal into interface{} yields: every number becomes a float64.

    Raises GoJSONError for numbers out of float64 range, as Go does."""
    if isinstance(v, GoNumber):
        f = float(v)
        if math.isinf(f):
            raise GoJSONError(f"json: cannot unmarshal number {v} into Go value of type float64")
        return f
    if isinstance(v, list):
        return [to_float64_tree(x, field) for x in v]
    if isinstance(v, dict):
        return {k: to_float64_tree(x, field) for k, x in v.items()}
    return v


# ---------------------------------------------------------------------------------------------
# strconv / time
# ---------------------------------------------------------------------------------------------

_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0,
          "m": 60.0, "h": 3600.0}


def parse_go_duration(s: str) -> float:
    """Go time.ParseDuration, returning seconds.  Raises ValueError on Go's errors."""
    orig = s
    if s == "":
        raise ValueError(f'time: invalid duration "{orig}"')
    neg = False
    if s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0.0
    if s == "":
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0.0
    while s:
        m = re.match(r"(\d*)(\.(\d*))?", s)
        whole, frac = m.group(1), m.group(3)
        if whole == "" and (frac is None or frac == ""):
            raise ValueError(f'time: invalid duration "{orig}"')
        s = s[m.end():]
        u = re.match(r"[^\d.]+", s)
        if not u:
            raise ValueError(f'time: missing unit in duration "{orig}"')
        unit = u.group(0)
        s = s[u.end():]
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
        val = float((whole or "0") + "." + (frac or "0"))
        total += val * _UNITS[unit]
    return -total if neg else total


def go_parse_bool(s: str) -> bool:
    """strconv.ParseBool."""
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{s}": invalid syntax')


def go_atoi(s: str, unsigned: bool = False) -> int:
    """strconv.Atoi / ParseInt(s, 10, 64) / ParseUint(s, 10, 64)."""
    fn = "ParseUint" if unsigned else "Atoi"
    if not re.fullmatch(r"[0-9]+" if unsigned else r"[+-]?[0-9]+", s or ""):
        raise ValueError(f'strconv.{fn}: parsing "{s}": invalid syntax')
    v = int(s)
    lim = (1 << 64) - 1 if unsigned else (1 << 63) - 1
    if v > lim or v < -(1 << 63):
        raise ValueError(f'strconv.{fn}: parsing "{s}": value out of range')
    return v


def go_rfc3339_now() -> str:
    """time.Now().Format(time.RFC3339) in the process's local zone."""
    t = datetime.now().astimezone()
    off = t.utcoffset()
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    if not off:
        return base + "Z"
    mins = int(off.total_seconds() // 60)
    sign = "+" if mins >= 0 else "-"
    mins = abs(mins)
    return f"{base}{sign}{mins // 60:02d}:{mins % 60:02d}"


def go_rfc3339_parse(s: str):
    """time.Parse(time.RFC3339, s) -> aware datetime, or None."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", s)
    if not m:
        return None
    try:
        frac = m.group(7) or ""
        us = int((frac[1:] + "000000")[:6]) if frac else 0
        tz = m.group(8)
        if tz in ("Z", "z"):
            tzinfo = timezone.utc
        else:
            from datetime import timedelta
            sign = 1 if tz[0] == "+" else -1
            tzinfo = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
        return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)),
                        int(m.group(5)), int(m.group(6)), us, tzinfo=tzinfo)
    except ValueError:
        return None


def go_time_string_utc_now() -> str:
    """time.Now().UTC().String(): '2006-01-02 15:04:05.999999999 +0000 UTC'."""
    t = datetime.now(timezone.utc)
    frac = f"{t.microsecond:06d}000".rstrip("0")
    return t.strftime("%Y-%m-%d %H:%M:%S") + ("." + frac if frac else "") + " +0000 UTC"
