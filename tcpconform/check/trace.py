"""Streaming reader, and the writer, of traces in the format of ``trace-format.md`` (version 1).

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
import errno
import ipaddress
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache, partial
from itertools import islice
from typing import Any, BinaryIO, Iterable, Iterator, NoReturn, Union

import orjson

from tcpconform.model import vocab
from tcpconform.model.events import Addr, Call, State, format_addr

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

OPS = ("socket", "bind", "listen", "connect", "accept", "send", "recv", "shutdown", "close")
STATES = (
    "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT",
)
ERRNOS = frozenset(errno.errorcode.values())
"""The errno names a ``ret`` may carry (as Python's :mod:`errno` names them)."""

# Other spellings of the same numbers (EWOULDBLOCK for EAGAIN, EOPNOTSUPP for
# ENOTSUP, ...) are accepted on input and replaced by the name in ERRNOS, so
# that a checker only ever sees one name per errno.
_ERRNO_ALIASES = {
    name: errno.errorcode[getattr(errno, name)]
    for name in dir(errno)
    if name.startswith("E") and isinstance(getattr(errno, name), int)
    and name not in ERRNOS and getattr(errno, name) in errno.errorcode
}

PROFILES = vocab.PROFILES
WORLDS = ("closed", "open")
SHUTDOWN_HOW = ("rd", "wr", "rdwr")

MAX_LINE_BYTES = 1 << 22
"""Longest line accepted (4 MiB); protects memory against files without newlines."""


# ---------------------------------------------------------------------------
# Data types (calls and states are the model's own: tcpconform.model.events)
# ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Header:
    """Line 1 of a trace."""

    profile: str = "linux"
    world: str = "closed"
    meta: dict = field(default_factory=dict)


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

class _Bad(Exception):
    """A problem found in one line, before the line number is attached."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _show(value: Any, limit: int = 60) -> str:
    """Render a JSON value for an error message, shortened to ``limit`` characters.

    The value is walked with an explicit stack, and only as far as the text
    can show, so a value nested as deep as the parser allows, an array of a
    million items or a 4 MiB string costs a few dozen steps and never
    recursion: the message must not fail on the input it describes."""
    out: list[str] = []
    size = 0
    todo: list[Any] = [value]   # what is still to be written, last first: values and _Text
    while todo and size <= limit:
        item = todo.pop()
        if isinstance(item, _Text):
            piece = item
        elif isinstance(item, (dict, list)):
            pairs = item.items() if isinstance(item, dict) else ((None, v) for v in item)
            parts: list[Any] = []
            for k, v in islice(pairs, limit):   # each item takes at least one character
                parts += [_Text(",")] if parts else []
                parts += [v] if k is None else [_Text(_scalar(k) + ":"), v]
            close = "}" if isinstance(item, dict) else "]"
            piece = "{" if close == "}" else "["
            todo += [_Text(close), *reversed(parts)]
        else:
            piece = _scalar(item, limit + 1)
        out.append(piece)
        size += len(piece)
    text = "".join(out)
    return text if len(text) <= limit and not todo else text[: limit - 3] + "..."


class _Text(str):
    """Punctuation among the values that :func:`_show` has still to write."""


def _scalar(value: Any, limit: int = MAX_LINE_BYTES) -> str:
    """A JSON scalar as JSON text; a string is cut to ``limit`` characters first."""
    if isinstance(value, str):
        return orjson.dumps(value[:limit]).decode()
    if value is None or isinstance(value, bool):
        return orjson.dumps(value).decode()
    if isinstance(value, int):
        return str(value) if value.bit_length() < 1000 else f"(an integer of {value.bit_length()} bits)"
    if isinstance(value, float) and math.isfinite(value):
        return orjson.dumps(value).decode()
    return repr(value)  # nan, inf: not JSON, which the parser refuses anyway


def _quote(name: str, limit: int = 60) -> str:
    """A field or socket name from the input, quoted for a message (a long one shortened)."""
    return repr(name) if len(name) <= limit else repr(name[: limit - 3]) + "..."


def _kind(value: Any) -> str:
    """The JSON type name of a parsed value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


_PORT = re.compile(r"(?:0|[1-9][0-9]{0,4})\Z")


@lru_cache(maxsize=1024)
def _parse_ip(text: str, bracketed: bool) -> str | None:
    """The normalised IP for ``text``, or None if it is not a literal of the right family."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if (ip.version == 6) != bracketed:
        return None
    return str(ip)


@lru_cache(maxsize=4096)  # a trace names the same addresses again and again
def parse_addr(text: str) -> Addr:
    """Parse ``"127.0.0.1:40000"`` or ``"[::1]:40000"``; raise ValueError if malformed.

    The IP is returned normalised (``"[0::1]:1"`` gives ``("::1", 1)``).
    """
    host, sep, port = text.rpartition(":")
    if not sep or not _PORT.match(port) or int(port) > 65535:
        raise ValueError(f"expected IP:PORT with a port 0..65535, got {_show(text)}")
    bracketed = host.startswith("[") and host.endswith("]")
    ip = _parse_ip(host[1:-1] if bracketed else host, bracketed)
    if ip is None:
        raise ValueError(
            f"expected an IPv4 address or a bracketed IPv6 address before the port, got {_show(text)}"
        )
    return (ip, int(port))


def _name(obj: dict, key: str) -> str:
    """Required non-empty string field (socket names)."""
    value = obj.get(key)
    if value is None and key not in obj:
        raise _Bad(f"missing field {key!r}", key)
    if not isinstance(value, str) or not value:
        raise _Bad(f"field {key!r} must be a non-empty string, got {_show(value)}", key)
    return value


def _int(obj: dict, key: str) -> int:
    """Required integer field (JSON booleans and numbers with a fraction are refused)."""
    if key not in obj:
        raise _Bad(f"missing field {key!r}", key)
    value = obj[key]
    if type(value) is not int:
        raise _Bad(f"field {key!r} must be an integer, got {_show(value)}", key)
    return value


def _bool(obj: dict, key: str) -> bool:
    """Optional boolean field, default false."""
    value = obj.get(key, False)
    if type(value) is not bool:
        raise _Bad(f"field {key!r} must be true or false, got {_show(value)}", key)
    return value


def _addr(obj: dict, key: str) -> Addr:
    """Required "IP:PORT" field."""
    if key not in obj:
        raise _Bad(f"missing field {key!r}", key)
    value = obj[key]
    if not isinstance(value, str):
        raise _Bad(f"field {key!r} must be a string \"IP:PORT\", got {_show(value)}", key)
    try:
        return parse_addr(value)
    except ValueError as e:
        raise _Bad(f"field {key!r}: {e}", key) from None


# ---------------------------------------------------------------------------
# Calls: which fields each op takes
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


def _ret(obj: dict) -> str:
    """The ``ret`` field: "ok" or an errno name (aliases replaced by the canonical name)."""
    if "ret" not in obj:
        raise _Bad("missing field 'ret'", "ret")
    ret = obj["ret"]
    if type(ret) is str:
        if ret == "ok" or ret in ERRNOS:
            return ret
        if ret in _ERRNO_ALIASES:
            return _ERRNO_ALIASES[ret]
    raise _Bad(f"field 'ret' must be \"ok\" or an errno name such as \"EPIPE\", got {_show(ret)}", "ret")


def _call(obj: dict, line: int) -> Call:
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
    allowed = _ALLOWED[op, ret in _SHAPE[op][2]]
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
        return Call(line, sock, op, ret, length=length, n=n)
    if op == "socket":
        return Call(line, sock, op, ret, nonblock=_bool(obj, "nonblock"))
    if op == "close":
        return Call(line, sock, op, ret, linger0=_bool(obj, "linger0"))
    if op == "connect" or op == "bind":
        addr = _addr(obj, "addr")
        local = _addr(obj, "local") if ret in _SHAPE[op][2] else None
        return Call(line, sock, op, ret, addr=addr, local=local)
    if op == "accept":
        if not ok:
            return Call(line, sock, op, ret)
        return Call(line, sock, op, ret, new=_name(obj, "new"),
                    local=_addr(obj, "local"), peer=_addr(obj, "peer"))
    if op == "listen":
        return Call(line, sock, op, ret, backlog=_int(obj, "backlog"))
    # shutdown
    how = obj.get("how")
    if how not in SHUTDOWN_HOW:
        if "how" not in obj:
            raise _Bad("missing field 'how'", "how")
        raise _Bad(f"shutdown: field 'how' must be \"rd\", \"wr\" or \"rdwr\", got {_show(how)}", "how")
    return Call(line, sock, op, ret, how=how)


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
        raise _Bad("header: missing field 'trace' (the format version, 1)", "trace")
    if type(obj["trace"]) is not int or obj["trace"] != 1:
        raise _Bad(f"header: field 'trace' must be the integer 1, got {_show(obj['trace'])}", "trace")
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
    for key in obj:
        if key not in ("trace", "profile", "world", "meta") and not key.startswith("x-"):
            raise _Bad(f"header: unexpected field {_quote(key)}", key)
    return Header(profile=profile, world=world, meta=meta)


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
    return header, _events(lines)


def _events(lines: Iterator[bytes]) -> Iterator[Event]:
    """Generator behind :func:`read_trace`: validate and yield events from line 2 on."""
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
            ev = obj.get("ev")
            if ev == "call":
                event = _call(obj, lineno)
                _names(event, introduced)
            elif ev == "state":
                event = _state(obj, lineno)
                if event.sock not in introduced:
                    raise _unintroduced(event.sock)
            elif isinstance(ev, str) and ev.startswith("x-"):
                if ev in _CHECKED_X:
                    _CHECKED_X[ev](obj, introduced)
                event = Extension(lineno, ev, obj)
            elif "ev" not in obj:
                raise _Bad("missing field 'ev'", "ev")
            else:
                raise _Bad(f"unknown ev {_show(ev)} (expected \"call\", \"state\" or an \"x-\" extension)", "ev")
        except _Bad as e:
            raise TraceError(lineno, e.message, e.field) from None
        yield event


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
            raise _Bad(f"accept: name {_quote(call.new)} in 'new' was already introduced at line "
                       f"{introduced[call.new]}", "new")
        introduced[call.new] = call.line


# ---------------------------------------------------------------------------
# Writing traces
# ---------------------------------------------------------------------------

def trace_header(**fields: Any) -> dict:
    """The header object (line 1): ``{"trace": 1}`` and the fields given
    (``profile``, ``world``, ``meta``), in the order given."""
    return {"trace": 1, **fields}


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
