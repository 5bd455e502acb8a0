"""The pieces every reader of a trace's fields shares: checking a field's
type and value, naming what is wrong, the errno names, addresses.

Used by :mod:`tcpconform.check.trace` (both versions) and
:mod:`tcpconform.check.trace_v2` (the calls version 2 adds).  Nothing here
prints or raises anything but :class:`Bad` (turned into a line-numbered
:class:`tcpconform.check.trace.TraceError` by the reader).
"""

from __future__ import annotations

import errno
import ipaddress
import math
import re
from functools import lru_cache
from itertools import islice
from typing import Any

import orjson

from tcpconform.model.events import Addr

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

SHUTDOWN_HOW = ("rd", "wr", "rdwr")

MAX_LINE_BYTES = 1 << 22
"""Longest line accepted (4 MiB); protects memory against files without newlines."""


class Bad(Exception):
    """A problem found in one line, before the line number is attached."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def show(value: Any, limit: int = 60) -> str:
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
    """Punctuation among the values that :func:`show` has still to write."""


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


def quote(name: str, limit: int = 60) -> str:
    """A field or socket name from the input, quoted for a message (a long one shortened)."""
    return repr(name) if len(name) <= limit else repr(name[: limit - 3]) + "..."


def kind(value: Any) -> str:
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
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)  # [::ffff:a.b.c.d]: the IPv4 address a dual-stack socket speaks to
    return str(ip)


@lru_cache(maxsize=4096)  # a trace names the same addresses again and again
def parse_addr(text: str) -> Addr:
    """Parse ``"127.0.0.1:40000"`` or ``"[::1]:40000"``; raise ValueError if malformed.

    The IP is returned normalised (``"[0::1]:1"`` gives ``("::1", 1)``).
    """
    host, sep, port = text.rpartition(":")
    if not sep or not _PORT.match(port) or int(port) > 65535:
        raise ValueError(f"expected IP:PORT with a port 0..65535, got {show(text)}")
    bracketed = host.startswith("[") and host.endswith("]")
    ip = _parse_ip(host[1:-1] if bracketed else host, bracketed)
    if ip is None:
        raise ValueError(
            f"expected an IPv4 address or a bracketed IPv6 address before the port, got {show(text)}"
        )
    return (ip, int(port))


def name_field(obj: dict, key: str) -> str:
    """Required non-empty string field (socket names)."""
    value = obj.get(key)
    if value is None and key not in obj:
        raise Bad(f"missing field {key!r}", key)
    if not isinstance(value, str) or not value:
        raise Bad(f"field {key!r} must be a non-empty string, got {show(value)}", key)
    return value


def int_field(obj: dict, key: str) -> int:
    """Required integer field (JSON booleans and numbers with a fraction are refused)."""
    if key not in obj:
        raise Bad(f"missing field {key!r}", key)
    value = obj[key]
    if type(value) is not int:
        raise Bad(f"field {key!r} must be an integer, got {show(value)}", key)
    return value


def bool_field(obj: dict, key: str) -> bool:
    """Optional boolean field, default false."""
    value = obj.get(key, False)
    if type(value) is not bool:
        raise Bad(f"field {key!r} must be true or false, got {show(value)}", key)
    return value


def addr_field(obj: dict, key: str) -> Addr:
    """Required "IP:PORT" field."""
    if key not in obj:
        raise Bad(f"missing field {key!r}", key)
    value = obj[key]
    if not isinstance(value, str):
        raise Bad(f"field {key!r} must be a string \"IP:PORT\", got {show(value)}", key)
    try:
        return parse_addr(value)
    except ValueError as e:
        raise Bad(f"field {key!r}: {e}", key) from None


# ---------------------------------------------------------------------------
# Calls: which fields each op takes
# ---------------------------------------------------------------------------

def ret_field(obj: dict) -> str:
    """The ``ret`` field: "ok" or an errno name (aliases replaced by the canonical name)."""
    if "ret" not in obj:
        raise Bad("missing field 'ret'", "ret")
    ret = obj["ret"]
    if type(ret) is str:
        if ret == "ok" or ret in ERRNOS:
            return ret
        if ret in _ERRNO_ALIASES:
            return _ERRNO_ALIASES[ret]
    raise Bad(f"field 'ret' must be \"ok\" or an errno name such as \"EPIPE\", got {show(ret)}", "ret")


