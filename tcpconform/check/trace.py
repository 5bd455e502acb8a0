"""Streaming reader, and the writer, of traces in the format of ``trace-format.md`` (versions 1 and 2).

A trace is JSON Lines: a header object on line 1, then one event per line.
:func:`read_trace` reads the header eagerly and returns a generator of events
that reads, validates and yields one line at a time, so memory does not grow
with the length of the file; the only thing that grows is the set of socket
names introduced so far (names are never reused, so it must be kept).

Everything wrong with the input is reported as a :class:`TraceError` carrying
the 1-based line number (header = line 1), a message saying what is wrong,
and, where one field is to blame, that field's name. This module never prints.
Whatever the input (values of any JSON type in any field, nesting as deep as
the JSON parser allows, numbers it refuses, bytes that are not UTF-8), the
reader raises nothing but :class:`TraceError`.  A key given twice in one
object has its last value, as Python's own JSON reader has it.

The writer (:func:`trace_header`, :func:`call_event`, :func:`state_event`,
:func:`event_line`, :func:`trace_text`) is the one every trace of this
project is written with: the recorder's, the proofs' runs, the claims'
evidence and the tests'.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO, Iterable, Iterator, NoReturn, Union

import orjson

from tcpconform.model import vocab
from tcpconform.model.events import Addr, Call, State, format_addr
from tcpconform.check.fields import (  # noqa: F401 - OPS, ERRNOS, SHUTDOWN_HOW, parse_addr are this module's too
    ERRNOS, MAX_LINE_BYTES, OPS, SHUTDOWN_HOW, STATES, Bad as _Bad, addr_field as _addr, bool_field as _bool,
    int_field as _int, kind as _kind, name_field as _name, parse_addr, quote as _quote, ret_field as _ret,
    show as _show)
from tcpconform.check import trace_v2

__all__ = [
    "Addr",
    "Header",
    "Call",
    "State",
    "Extension",
    "Event",
    "TraceError",
    "OPS",
    "STATES",
    "ERRNOS",
    "PROFILES",
    "WORLDS",
    "SHUTDOWN_HOW",
    "MAX_LINE_BYTES",
    "CALL_ARGS",
    "parse_addr",
    "format_addr",
    "read_trace",
    "trace_header",
    "call_event",
    "state_event",
    "event_line",
    "trace_text",
]

# ---------------------------------------------------------------------------
# Vocabulary of the format
# ---------------------------------------------------------------------------

PROFILES = vocab.PROFILES
WORLDS = ("closed", "open")



# ---------------------------------------------------------------------------
# Data types (calls and states are the model's own: tcpconform.model.events)
# ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Header:
    """Line 1 of a trace."""

    profile: str = "linux"
    world: str = "closed"
    meta: dict = field(default_factory=dict)
    version: int = 1
    stack: dict = field(default_factory=dict)    # version 2: what produced the trace (informational)
    sysctl: dict = field(default_factory=dict)   # version 2: kernel settings by their sysctl names


@dataclass(frozen=True, slots=True)
class Extension:
    """An event whose ``ev`` starts with ``x-``; ``data`` is the whole JSON object."""

    line: int
    ev: str
    data: dict


Event = Union[Call, State, Extension]


class TraceError(Exception):
    """The input is not a usable trace; ``str()`` gives ``"line N: message"``."""

    def __init__(self, line: int, message: str, field: str | None = None) -> None:
        super().__init__(line, message, field)
        self.line = line
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


# ---------------------------------------------------------------------------
# Small validators (raise _Bad; the caller adds the line number)
# ---------------------------------------------------------------------------

_BASE = frozenset({"ev", "sock", "op", "ret"})

# op -> (fields allowed whatever ret is, fields allowed (and required) only on
# the listed outcomes, those outcomes)
_SHAPE: dict[str, tuple[frozenset, frozenset, frozenset]] = {
    "socket": (frozenset({"nonblock"}), frozenset(), frozenset()),
    "bind": (frozenset({"addr"}), frozenset({"local"}), frozenset({"ok"})),
    "listen": (frozenset({"backlog"}), frozenset(), frozenset()),
    "connect": (frozenset({"addr"}), frozenset({"local"}), frozenset({"ok", "EINPROGRESS"})),
    "accept": (frozenset(), frozenset({"new", "local", "peer"}), frozenset({"ok"})),
    "send": (frozenset({"len"}), frozenset({"n"}), frozenset({"ok"})),
    "recv": (frozenset({"len"}), frozenset({"n"}), frozenset({"ok"})),
    "shutdown": (frozenset({"how"}), frozenset(), frozenset()),
    "close": (frozenset({"linger0"}), frozenset(), frozenset()),
}
CALL_ARGS = frozenset().union(*(always for always, _, _ in _SHAPE.values()))
"""The fields that say what a call was asked to do (``addr``, ``backlog``, ``len``,
``how``, ``nonblock``, ``linger0``); the others of a call say what it returned."""
# (op, whether ret is one of the outcomes that carry the extra fields) -> allowed keys
_ALLOWED = {
    (op, with_result): _BASE | always | (result if with_result else frozenset())
    for op, (always, result, _) in _SHAPE.items()
    for with_result in (False, True)
}
_ALLOWED_T = {k: v | {"t"} for k, v in _ALLOWED.items()}  # a version-2 call version 1 could write, with its time
# The ops whose version-2 call, when it has no field version 1 lacks, is the version-1 call with its time
# (socket: version 2 names its family; connect: version 2 lets `local` be left out).
_V1_SHAPED = frozenset({"bind", "listen", "accept", "send", "recv", "shutdown", "close"})
_OPS = frozenset(OPS)
_STATES = frozenset(STATES)
_STATE_KEYS = frozenset({"ev", "sock", "state"})


def _check_keys(obj: dict, allowed: frozenset, what: str, op: str, ret: str) -> None:
    """Refuse fields that this kind of event does not take (``x-`` fields are ignored)."""
    if obj.keys() <= allowed:
        return
    for key in obj:
        if key in allowed or key.startswith("x-"):
            continue
        if what == "call" and op in _SHAPE:
            _, result, outcomes = _SHAPE[op]
            if key in result:
                need = " or ".join(repr(o) for o in sorted(outcomes))
                raise _Bad(f"{op}: field {key!r} is only allowed when ret is {need}, not {ret!r}", key)
            raise _Bad(f"{op}: unexpected field {_quote(key)}", key)
        raise _Bad(f"{what}: unexpected field {_quote(key)}", key)


def _call(obj: dict, line: int, t: float | None = None) -> Call:
    """Validate the fields of a ``call`` event (names are checked by the caller)."""
    sock = obj.get("sock")
    if type(sock) is not str or not sock:
        sock = _name(obj, "sock")  # raises the right message
    op = obj.get("op")
    if type(op) is not str or op not in _OPS:
        if "op" not in obj:
            raise _Bad("missing field 'op'", "op")
        raise _Bad(f"unknown op {_show(op)} (expected one of: {', '.join(OPS)})", "op")
    ret = obj.get("ret")
    if ret != "ok" and (type(ret) is not str or ret not in ERRNOS):
        ret = _ret(obj)
    ok = ret == "ok"
    allowed = (_ALLOWED if t is None else _ALLOWED_T)[op, ret in _SHAPE[op][2]]
    if not obj.keys() <= allowed:
        _check_keys(obj, allowed, "call", op, ret)

    if op == "send" or op == "recv":
        length = _int(obj, "len")
        if length < 0:
            raise _Bad(f"{op}: field 'len' must be >= 0, got {length}", "len")
        n = None
        if ok:
            n = _int(obj, "n")
            low = 1 if op == "send" and length > 0 else 0
            if not low <= n <= length:
                raise _Bad(f"{op}: field 'n' must be between {low} and len={length}, got {n}", "n")
        return Call(line, sock, op, ret, length=length, n=n, t=t)
    if op == "socket":
        return Call(line, sock, op, ret, nonblock=_bool(obj, "nonblock"), t=t)
    if op == "close":
        return Call(line, sock, op, ret, linger0=_bool(obj, "linger0"), t=t)
    if op == "connect" or op == "bind":
        addr = _addr(obj, "addr")
        local = _addr(obj, "local") if ret in _SHAPE[op][2] else None
        return Call(line, sock, op, ret, addr=addr, local=local, t=t)
    if op == "accept":
        if not ok:
            return Call(line, sock, op, ret, t=t)
        return Call(line, sock, op, ret, new=_name(obj, "new"),
                    local=_addr(obj, "local"), peer=_addr(obj, "peer"), t=t)
    if op == "listen":
        return Call(line, sock, op, ret, backlog=_int(obj, "backlog"), t=t)
    # shutdown
    how = obj.get("how")
    if how not in SHUTDOWN_HOW:
        if "how" not in obj:
            raise _Bad("missing field 'how'", "how")
        raise _Bad(f"shutdown: field 'how' must be \"rd\", \"wr\" or \"rdwr\", got {_show(how)}", "how")
    return Call(line, sock, op, ret, how=how, t=t)


def _state(obj: dict, line: int) -> State:
    """Validate a ``state`` event."""
    sock = _name(obj, "sock")
    if "state" not in obj:
        raise _Bad("missing field 'state'", "state")
    state = obj["state"]
    if type(state) is not str or state not in _STATES:
        raise _Bad(f"unknown state {_show(state)} (expected one of: {' '.join(STATES)})", "state")
    if not obj.keys() <= _STATE_KEYS:
        _check_keys(obj, _STATE_KEYS, "state", "", "")
    return State(line, sock, state)


# ---------------------------------------------------------------------------
# Lines and JSON
# ---------------------------------------------------------------------------

def _lines(stream: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    """Raw lines of ``stream``, read with a length limit when the stream allows it."""
    readline = getattr(stream, "readline", None)
    if readline is None:
        return iter(stream)
    return iter(partial(readline, MAX_LINE_BYTES + 1), b"")


def _decode(raw: bytes, lineno: int) -> Any:
    """Parse one raw line as JSON; raise TraceError for blank, binary or malformed lines."""
    if len(raw) > MAX_LINE_BYTES:
        _too_long(raw, lineno)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        _bad_json(raw, lineno, e)


def _too_long(raw: bytes, lineno: int) -> None:
    """Raise if ``raw`` (without its line end) is longer than MAX_LINE_BYTES."""
    if len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES:
        raise TraceError(lineno, f"line is longer than {MAX_LINE_BYTES} bytes")


def _bad_json(raw: bytes, lineno: int, problem: orjson.JSONDecodeError) -> NoReturn:
    """Raise the TraceError that best explains why ``raw`` did not parse."""
    if not raw.strip():
        raise TraceError(lineno, "blank line (only a single final newline is allowed)")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TraceError(lineno, f"not valid UTF-8 (byte {e.start + 1} of the line)") from None
    if raw.startswith(codecs.BOM_UTF8):
        raise TraceError(lineno, "invalid JSON: the line starts with a UTF-8 byte order mark")
    if not raw.endswith(b"\n"):
        raise TraceError(lineno, f"invalid JSON (truncated last line?): {problem.msg} at column {problem.colno}")
    raise TraceError(lineno, f"invalid JSON: {problem.msg} at column {problem.colno}")


def _header(obj: Any) -> Header:
    """Validate the header object (line 1)."""
    if not isinstance(obj, dict):
        raise _Bad(f"the header must be a JSON object, got {_kind(obj)}")
    if "trace" not in obj:
        raise _Bad("header: missing field 'trace' (the format version, 1 or 2)", "trace")
    version = obj["trace"]
    if type(version) is not int or version not in (1, 2):
        raise _Bad(f"header: field 'trace' must be the integer 1 or 2, got {_show(version)}", "trace")
    profile = obj.get("profile", "linux")
    if profile not in PROFILES:
        raise _Bad(f"header: unknown profile {_show(profile)} (expected one of "
                   + ", ".join(f'"{p}"' for p in PROFILES) + ")", "profile")
    world = obj.get("world", "closed")
    if world not in WORLDS:
        raise _Bad(f"header: unknown world {_show(world)} (expected \"closed\" or \"open\")", "world")
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise _Bad(f"header: field 'meta' must be an object, got {_kind(meta)}", "meta")
    known = ("trace", "profile", "world", "meta") + (("stack", "sysctl") if version == 2 else ())
    for key in obj:
        if key not in known and not key.startswith("x-"):
            raise _Bad(f"header: unexpected field {_quote(key)}", key)
    extra = {}
    for key in ("stack", "sysctl"):
        value = obj.get(key, {})
        if not isinstance(value, dict):
            raise _Bad(f"header: field {key!r} must be an object, got {_kind(value)}", key)
        extra[key] = value
    for name, value in extra["sysctl"].items():
        if type(value) is not int and not (isinstance(value, list) and all(type(v) is int for v in value)):
            raise _Bad(f"header: sysctl {_quote(name)} must be an integer (or a list of integers), "
                       f"got {_show(value)}", "sysctl")
    return Header(profile=profile, world=world, meta=meta, version=version, **extra)


def read_trace(stream: BinaryIO | Iterable[bytes]) -> tuple[Header, Iterator[Event]]:
    """Read a trace from a binary file object (or any iterable of byte lines).

    The header is read and validated at once (raising :class:`TraceError`);
    the events come from the returned generator, which reads and validates
    one line per event and raises :class:`TraceError` at the first bad line.
    """
    lines = _lines(stream)
    first = next(lines, None)
    if first is None:
        raise TraceError(1, "empty file")
    try:
        header = _header(_decode(first, 1))
    except _Bad as e:
        raise TraceError(1, e.message, e.field) from None
    return header, (_events(lines) if header.version == 1 else _events_v2(lines))


def _events(lines: Iterator[bytes], one=None) -> Iterator[Event]:
    """Generator behind :func:`read_trace`: validate and yield events from line 2 on,
    each made by ``one(obj, lineno, introduced)`` (version 1's :func:`_event` unless given)."""
    one = one or _event
    introduced: dict[str, int] = {}  # socket name -> line that introduced it
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    lineno = 1
    for raw in lines:
        lineno += 1
        if len(raw) > MAX_LINE_BYTES:
            _too_long(raw, lineno)
        try:
            obj = loads(raw)
        except decode_error as e:
            _bad_json(raw, lineno, e)
        try:
            if type(obj) is not dict:
                raise _Bad(f"an event must be a JSON object, got {_kind(obj)}")
            event = one(obj, lineno, introduced)
        except _Bad as e:
            raise TraceError(lineno, e.message, e.field) from None
        yield event


def _event(obj: dict, lineno: int, introduced: dict[str, int]) -> Event:
    """One event of a version-1 trace."""
    ev = obj.get("ev")
    if ev == "call":
        event = _call(obj, lineno)
        _names(event, introduced)
        return event
    if ev == "state":
        event = _state(obj, lineno)
        if event.sock not in introduced:
            raise _unintroduced(event.sock)
        return event
    return _other(obj, ev, lineno, introduced)


def _other(obj: dict, ev: Any, lineno: int, introduced: dict[str, int]) -> Extension:
    """An ``x-`` event (checked if it is one this project writes), else the error for ``ev``."""
    if isinstance(ev, str) and ev.startswith("x-"):
        if ev in _CHECKED_X:
            _CHECKED_X[ev](obj, introduced)
        return Extension(lineno, ev, obj)
    if "ev" not in obj:
        raise _Bad("missing field 'ev'", "ev")
    raise _Bad(f"unknown ev {_show(ev)} (expected \"call\", \"state\" or an \"x-\" extension)", "ev")


def _events_v2(lines: Iterator[bytes]) -> Iterator[Event]:
    """:func:`_events` for a version-2 trace: its calls (tcpconform.check.trace_v2),
    times that never go back, and the names ``dup`` and ``poll`` use."""
    last = [0.0]
    state_keys = _STATE_KEYS | trace_v2.COMMON

    def one(obj: dict, lineno: int, introduced: dict[str, int]) -> Event:
        ev = obj.get("ev")
        if ev == "call":
            event = None
            t = obj.get("t")
            if obj.get("op") in _V1_SHAPED and (t is None or (type(t) is float and t >= 0)):
                try:
                    event = _call(obj, lineno, t)  # the fast path: what version 1 reads, and its time
                except _Bad:
                    event = None  # version 2 reads it (or says what is wrong)
            if event is None:
                event = trace_v2.call(obj, lineno)
            for other in trace_v2.names(event):
                if other not in introduced:
                    raise _unintroduced(other)
            _names(event, introduced)
            t = event.t
        elif ev == "state":
            t, _t0 = trace_v2.common(obj)
            if "t0" in obj:
                raise _Bad("state: unexpected field 't0'", "t0")
            event = _state({k: v for k, v in obj.items() if k not in trace_v2.COMMON}, lineno)
            if t is not None:
                event = State(lineno, event.sock, event.state, t)
            for key in obj:
                if key not in state_keys and not key.startswith("x-"):
                    raise _Bad(f"state: unexpected field {_quote(key)}", key)
            if event.sock not in introduced:
                raise _unintroduced(event.sock)
        else:
            event = _other(obj, ev, lineno, introduced)
            t = trace_v2.number(obj, "t", required=False) if "t" in obj else None
        if t is not None:
            if t < last[0]:
                raise _Bad(f"field 't' goes back in time: {t:g} after {last[0]:g}", "t")
            last[0] = t
        return event

    return _events(lines, one)


# ---------------------------------------------------------------------------
# The extensions this project writes and checks (docs/extensions.md): their
# fields are validated; any other x- event passes untouched.
# ---------------------------------------------------------------------------

_FLAGS = frozenset({"SYN", "FIN", "RST", "PSH", "ACK", "URG"})


def _x_keys(obj: dict, allowed: frozenset) -> None:
    for key in obj:
        if key not in allowed and not key.startswith("x-"):
            raise _Bad(f"{obj['ev']}: unexpected field {_quote(key)}", key)


def _x_packet(obj: dict, introduced: dict[str, int]) -> None:
    _x_keys(obj, frozenset({"ev", "src", "dst", "flags", "seq", "ack", "len"}))
    _addr(obj, "src")
    _addr(obj, "dst")
    flags = obj.get("flags")
    if not isinstance(flags, str) or not (flags == "NONE" or set(flags.split("+")) <= _FLAGS):
        raise _Bad(f"x-packet: field 'flags' must be TCP flags joined by '+' "
                   f"(SYN FIN RST PSH ACK URG) or \"NONE\", got {_show(flags)}", "flags")
    for key in ("seq", "ack", "len"):
        if key in obj and (_int(obj, key) < 0 or obj[key] > 0xFFFFFFFF):
            raise _Bad(f"x-packet: field {key!r} must be in 0..2**32-1, got {_show(obj[key])}", key)


def _x_state(obj: dict, introduced: dict[str, int]) -> None:
    _x_keys(obj, frozenset({"ev", "sock", "local", "remote", "from", "to"}))
    if "sock" in obj:
        if _name(obj, "sock") not in introduced:
            raise _unintroduced(obj["sock"])
    _addr(obj, "local")
    _addr(obj, "remote")
    for key in ("from", "to"):
        if key not in obj:
            raise _Bad(f"x-state: missing field {key!r}", key)
        value = obj[key]
        if type(value) is not str or value not in _STATES:   # an array or object is not hashable
            raise _Bad(f"x-state: field {key!r} must be one of the eleven states, got {_show(value)}", key)


def _x_observers(obj: dict, introduced: dict[str, int]) -> None:
    _x_keys(obj, frozenset({"ev", "packets", "states", "off"}))
    _bool(obj, "packets")
    _bool(obj, "states")
    off = obj.get("off", {})
    if not isinstance(off, dict) or not all(isinstance(v, str) for v in off.values()):
        raise _Bad(f"x-observers: field 'off' must map observers to reasons, got {_show(off)}", "off")


_NETFILTER_DROPS = frozenset({"SYN", "FIN", "pure ACK"})   # tcpconform.check.observed.DROPPED's keys


def _x_netfilter(obj: dict, introduced: dict[str, int]) -> None:
    _x_keys(obj, frozenset({"ev", "drop", "on"}))
    _bool(obj, "on")
    if not isinstance(obj.get("drop"), str) or obj["drop"] not in _NETFILTER_DROPS:
        raise _Bad(f"x-netfilter: field 'drop' must be one of {', '.join(sorted(_NETFILTER_DROPS))}, "
                   f"got {_show(obj.get('drop'))}", "drop")


_CHECKED_X = {"x-packet": _x_packet, "x-state": _x_state, "x-observers": _x_observers,
              "x-netfilter": _x_netfilter}


def _unintroduced(name: str) -> _Bad:
    return _Bad(f"socket {_quote(name)} used before it was introduced", "sock")


def _names(call: Call, introduced: dict[str, int]) -> None:
    """Check the socket names of a call against those introduced so far, and record new ones."""
    sock = call.sock
    if call.op == "socket":
        if sock in introduced:
            raise _Bad(f"socket name {_quote(sock)} was already introduced at line {introduced[sock]}", "sock")
        if call.ret == "ok":
            introduced[sock] = call.line
        return
    if sock not in introduced:
        raise _unintroduced(sock)
    if call.new is not None:
        if call.new in introduced:
            raise _Bad(f"{call.op}: name {_quote(call.new)} in 'new' was already introduced at line "
                       f"{introduced[call.new]}", "new")
        introduced[call.new] = call.line


# ---------------------------------------------------------------------------
# Writing traces
# ---------------------------------------------------------------------------

def trace_header(version: int = 1, **fields: Any) -> dict:
    """The header object (line 1): ``{"trace": version}`` and the fields given
    (``profile``, ``world``, ``meta``; in version 2 also ``stack``, ``sysctl``), in the order given."""
    return {"trace": version, **fields}


def call_event(sock: str, op: str, ret: str = "ok", args: dict | None = None, **fields: Any) -> dict:
    """A ``call`` event: ``{"ev": "call", "sock", "op", **args, "ret", **fields}``.

    ``args`` are written before ``ret``, the keyword fields after it; a
    writer that puts the call's arguments (``addr``, ``backlog``, ``len``,
    ...) before its outcome and what it returned (``local``, ``n``, ...)
    after, as the recorder does, passes the first as ``args``."""
    return {"ev": "call", "sock": sock, "op": op, **(args or {}), "ret": ret, **fields}


def state_event(sock: str, state: str) -> dict:
    """A ``state`` event: ``sock`` is seen in ``state``."""
    return {"ev": "state", "sock": sock, "state": state}


def event_line(obj: dict) -> str:
    """One line of a trace (the header or an event), without its newline.

    Written by :func:`json.dumps` with its default separators (``", "``,
    ``": "``), as the format's examples are and every stored trace is, so
    that a trace written again is the same bytes."""
    return json.dumps(obj)


def trace_text(header: dict, events: Iterable[dict]) -> str:
    """A whole trace as JSON Lines: the header, one line per event, a final newline."""
    return "".join(event_line(obj) + "\n" for obj in (header, *events))
