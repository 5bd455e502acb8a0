"""Reading the calls of version 2 of the trace format (``trace-format.md``, its last section).

Version 2 adds times (``t``, ``t0``), processes (``pid``, ``tid``), the
calls real programs make besides the nine of version 1 (options, ``fcntl``,
``ioctl``, ``getsockname``/``getpeername``, ``dup``, ``poll``), fields of the
old calls (``family``, ``nonblock`` on ``accept``, send/recv ``flags`` and
``via``, ``connect`` to ``AF_UNSPEC``, ``close`` ``via``) and the results
``EINTR`` and ``unfinished``.  Each call becomes a
:class:`tcpconform.model.events.Call`; what version 1 has no field for is in
:attr:`Call.args <tcpconform.model.events.Call.args>`, sorted (key, value)
pairs:

=============  ==========================================================
op             ``args``
=============  ==========================================================
socket         ``family`` ("inet" or "inet6")
accept         ``nonblock`` (True; absent when false)
connect        ``unspec`` (True: ``addr`` was "AF_UNSPEC"; ``addr`` is None)
send, recv     ``flags``: sorted tuple of flag names (absent when none)
setsockopt     ``level``, ``opt``, ``value``
getsockopt     ``level``, ``opt``, and on ok ``value``
fcntl          ``cmd`` ("F_SETFL" or "F_GETFL"), ``nonblock`` (F_SETFL; F_GETFL on ok)
ioctl          ``req``, ``value`` (FIONBIO: the value set; others on ok)
poll           ``socks`` ((name, events), ...), ``timeout``, ``edge``, and on ok
               ``ready`` ((name, revents), ...); event lists are sorted tuples
=============  ==========================================================

``getsockname`` puts its address in ``local``, ``getpeername`` in ``peer``;
``dup`` names the new descriptor in ``new``.  A ``SO_LINGER`` value is the
pair ``(onoff, linger)``; ``SO_ERROR``'s is ``0`` or an errno name.
Informational fields (``via``, ``pid``, ``tid``, ``t0``) are checked and dropped.
"""

from __future__ import annotations

import math
import re
from typing import Any

from tcpconform.check import fields as v1
from tcpconform.check.fields import Bad as _Bad, addr_field as _addr, bool_field as _bool, int_field as _int
from tcpconform.check.fields import name_field as _name, quote as _quote, show as _show
from tcpconform.model.events import Call

OPS = v1.OPS + ("setsockopt", "getsockopt", "fcntl", "ioctl", "getsockname", "getpeername", "dup", "poll")
LEVELS = ("SOL_SOCKET", "IPPROTO_TCP", "IPPROTO_IP", "IPPROTO_IPV6")
FAMILIES = ("inet", "inet6")
SEND_FLAGS = ("DONTWAIT", "NOSIGNAL", "MORE", "OOB", "EOR")
RECV_FLAGS = ("PEEK", "DONTWAIT", "WAITALL", "TRUNC", "OOB")
SEND_VIA = ("send", "write", "writev", "sendto", "sendmsg", "sendfile", "splice")
RECV_VIA = ("recv", "read", "readv", "recvfrom", "recvmsg", "splice")
CLOSE_VIA = ("close", "exit", "exec", "dup2", "close_range")
FCNTL_CMDS = ("F_SETFL", "F_GETFL")
IOCTL_REQS = ("FIONREAD", "SIOCINQ", "SIOCOUTQ", "SIOCOUTQNSD", "FIONBIO")
POLL_EVENTS = ("IN", "PRI", "OUT", "RDHUP", "ERR", "HUP", "NVAL")
SELECT_EVENTS = ("IN", "OUT", "PRI")
TIMEOUT_OPTS = ("SO_RCVTIMEO", "SO_SNDTIMEO", "TCP_USER_TIMEOUT")
UNFINISHED = "unfinished"

_OPT_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}\Z")
# Fields every v2 event may carry (informational, or times).
COMMON = frozenset({"t", "t0", "pid", "tid"})

_BASE = frozenset({"ev", "sock", "op", "ret"}) | COMMON
# op -> (fields allowed whatever ret is, fields allowed only on ok / EINPROGRESS)
_FIELDS: dict[str, tuple[frozenset, frozenset]] = {
    "socket": (frozenset({"nonblock", "family"}), frozenset()),
    "bind": (frozenset({"addr"}), frozenset({"local"})),
    "listen": (frozenset({"backlog"}), frozenset()),
    "connect": (frozenset({"addr"}), frozenset({"local"})),
    "accept": (frozenset({"nonblock"}), frozenset({"new", "local", "peer"})),
    "send": (frozenset({"len", "flags", "via"}), frozenset({"n"})),
    "recv": (frozenset({"len", "flags", "via"}), frozenset({"n"})),
    "shutdown": (frozenset({"how"}), frozenset()),
    "close": (frozenset({"linger0", "via"}), frozenset()),
    "setsockopt": (frozenset({"level", "opt", "value"}), frozenset()),
    "getsockopt": (frozenset({"level", "opt"}), frozenset({"value"})),
    "fcntl": (frozenset({"cmd", "nonblock"}), frozenset()),
    "ioctl": (frozenset({"req", "value"}), frozenset()),
    "getsockname": (frozenset(), frozenset({"addr"})),
    "getpeername": (frozenset(), frozenset({"addr"})),
    "dup": (frozenset(), frozenset({"new"})),
    "poll": (frozenset({"socks", "timeout", "edge"}), frozenset({"ready"})),
}
_OPS = frozenset(OPS)
_ALLOWED = {(op, with_result): _BASE | always | (result if with_result else frozenset())
            for op, (always, result) in _FIELDS.items() for with_result in (False, True)}


def number(obj: dict, key: str, low: float | None = 0.0, required: bool = True) -> float | None:
    """A JSON number (int or float, finite, not a boolean) of at least ``low``."""
    if key not in obj:
        if required:
            raise _Bad(f"missing field {key!r}", key)
        return None
    value = obj[key]
    if type(value) not in (int, float) or not math.isfinite(value):
        raise _Bad(f"field {key!r} must be a number, got {_show(value)}", key)
    if low is not None and value < low:
        raise _Bad(f"field {key!r} must be >= {low:g}, got {_show(value)}", key)
    return value


def common(obj: dict) -> tuple[float | None, float | None]:
    """Check the fields any v2 event may carry; return (``t``, ``t0``)."""
    if "t" not in obj and "t0" not in obj and "pid" not in obj and "tid" not in obj:
        return None, None
    t = obj.get("t")
    if type(t) is float and t >= 0 and "t0" not in obj and "pid" not in obj and "tid" not in obj:
        return t, None  # the common case of a recorded trace
    t = number(obj, "t", required=False)
    t0 = number(obj, "t0", required=False)
    if t0 is not None:
        if t is None:
            raise _Bad("field 't0' is only allowed with 't'", "t0")
        if t0 > t:
            raise _Bad(f"field 't0' ({t0:g}) must not be after 't' ({t:g})", "t0")
    for key in ("pid", "tid"):
        if key in obj and (type(obj[key]) is not int or obj[key] < 0):
            raise _Bad(f"field {key!r} must be a non-negative integer, got {_show(obj[key])}", key)
    return t, t0


def _choice(obj: dict, key: str, allowed: tuple, required: bool = True, default: Any = None) -> Any:
    if key not in obj:
        if required:
            raise _Bad(f"missing field {key!r}", key)
        return default
    value = obj[key]
    if value not in allowed or type(value) is not str:
        raise _Bad(f"field {key!r} must be one of {', '.join(allowed)}, got {_show(value)}", key)
    return value


def _names_list(obj: dict, key: str, allowed: tuple, what: str) -> tuple:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise _Bad(f"field {key!r} must be a list of {what}, got {_show(value)}", key)
    for item in value:
        if type(item) is not str or item not in allowed:
            raise _Bad(f"field {key!r}: unknown {what[:-1]} {_show(item)} (expected one of: "
                       f"{', '.join(allowed)})", key)
    return tuple(sorted(set(value)))


def _ret(obj: dict) -> str:
    ret = obj.get("ret")
    if ret == "ok" or ret == UNFINISHED:
        return ret
    return v1.ret_field(obj)


def _option_value(obj: dict, opt: str, key: str = "value") -> Any:
    if key not in obj:
        raise _Bad(f"missing field {key!r}", key)
    value = obj[key]
    if opt == "SO_LINGER":
        if (not isinstance(value, dict) or set(value) != {"onoff", "linger"}
                or type(value["onoff"]) is not int or type(value["linger"]) is not int
                or value["onoff"] < 0):
            raise _Bad(f"SO_LINGER: field {key!r} must be {{\"onoff\": 0 or 1, \"linger\": seconds}}, "
                       f"got {_show(value)}", key)
        return (value["onoff"], value["linger"])
    if opt == "SO_ERROR" and type(value) is str:
        if value not in v1.ERRNOS:
            raise _Bad(f"SO_ERROR: field {key!r} must be 0 or an errno name, got {_show(value)}", key)
        return value
    if opt in TIMEOUT_OPTS:
        return number(obj, key, low=None)  # a negative one is the kernel's to refuse (or to read as 0)
    if type(value) is not int:
        raise _Bad(f"{opt}: field {key!r} must be an integer, got {_show(value)}", key)
    return value


def _poll_list(obj: dict, key: str, inner: str) -> tuple:
    value = obj.get(key)
    if not isinstance(value, list):
        raise _Bad(f"poll: field {key!r} must be a list of {{\"sock\": NAME, \"{inner}\": [...]}}, "
                   f"got {_show(value)}", key)
    out = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"sock", inner}:
            raise _Bad(f"poll: each entry of {key!r} must be {{\"sock\": NAME, \"{inner}\": [...]}}, "
                       f"got {_show(item)}", key)
        name = item["sock"]
        if type(name) is not str or not name:
            raise _Bad(f"poll: a 'sock' in {key!r} must be a non-empty string, got {_show(name)}", key)
        out.append((name, _names_list(item, inner, POLL_EVENTS, "events")))
    return tuple(out)


def call(obj: dict, line: int) -> Call:
    """Validate a version-2 ``call`` event (names are checked by the caller)."""
    sock = _name(obj, "sock")
    op = obj.get("op")
    if type(op) is not str or op not in _OPS:
        if "op" not in obj:
            raise _Bad("missing field 'op'", "op")
        raise _Bad(f"unknown op {_show(op)} (expected one of: {', '.join(OPS)})", "op")
    ret = _ret(obj)
    t, _t0 = common(obj)
    with_result = ret == "ok" or (op == "connect" and ret == "EINPROGRESS")
    allowed = _ALLOWED[op, with_result]
    if not obj.keys() <= allowed:
        result = _FIELDS[op][1]
        for key in obj:
            if key not in allowed and not key.startswith("x-"):
                if key in result:
                    raise _Bad(f"{op}: field {key!r} is only allowed when the call succeeded, not {ret!r}", key)
                raise _Bad(f"{op}: unexpected field {_quote(key)}", key)
    args: list = []
    kw: dict = {}
    if op == "socket":
        kw["nonblock"] = _bool(obj, "nonblock")
        args.append(("family", _choice(obj, "family", FAMILIES, required=False, default="inet")))
    elif op in ("bind", "connect"):
        if op == "connect" and obj.get("addr") == "AF_UNSPEC":
            args.append(("unspec", True))
            if "local" in obj:
                raise _Bad("connect: field 'local' is not allowed with addr \"AF_UNSPEC\"", "local")
        else:
            kw["addr"] = _addr(obj, "addr")
            if with_result and (op == "bind" or "local" in obj):
                kw["local"] = _addr(obj, "local")
    elif op == "listen":
        kw["backlog"] = _int(obj, "backlog")
    elif op == "accept":
        if _bool(obj, "nonblock"):
            args.append(("nonblock", True))
        if ret == "ok":
            kw.update(new=_name(obj, "new"), local=_addr(obj, "local"), peer=_addr(obj, "peer"))
    elif op in ("send", "recv"):
        length = _int(obj, "len")
        if length < 0:
            raise _Bad(f"{op}: field 'len' must be >= 0, got {length}", "len")
        kw["length"] = length
        if "flags" in obj:
            flags = _names_list(obj, "flags", SEND_FLAGS if op == "send" else RECV_FLAGS, "flags")
            if flags:
                args.append(("flags", flags))
        if "via" in obj:
            _choice(obj, "via", SEND_VIA if op == "send" else RECV_VIA, required=False)
        if ret == "ok":
            n = _int(obj, "n")
            low = 1 if op == "send" and length > 0 else 0
            if not low <= n <= length:
                raise _Bad(f"{op}: field 'n' must be between {low} and len={length}, got {n}", "n")
            kw["n"] = n
    elif op == "shutdown":
        how = obj.get("how")
        if how not in v1.SHUTDOWN_HOW:
            if "how" not in obj:
                raise _Bad("missing field 'how'", "how")
            raise _Bad(f"shutdown: field 'how' must be \"rd\", \"wr\" or \"rdwr\", got {_show(how)}", "how")
        kw["how"] = how
    elif op == "close":
        kw["linger0"] = _bool(obj, "linger0")
        _choice(obj, "via", CLOSE_VIA, required=False)
    elif op in ("setsockopt", "getsockopt"):
        level = _choice(obj, "level", LEVELS)
        opt = obj.get("opt")
        if "opt" not in obj:
            raise _Bad("missing field 'opt'", "opt")
        if type(opt) is not str or not _OPT_NAME.match(opt):
            raise _Bad(f"field 'opt' must be an option's C name such as \"SO_REUSEADDR\", got {_show(opt)}", "opt")
        args += [("level", level), ("opt", opt)]
        if op == "setsockopt" or ret == "ok":
            args.append(("value", _option_value(obj, opt)))
    elif op == "fcntl":
        cmd = _choice(obj, "cmd", FCNTL_CMDS)
        args.append(("cmd", cmd))
        if cmd == "F_SETFL" or (ret == "ok" and "nonblock" in obj):
            if "nonblock" not in obj:
                raise _Bad(f"fcntl {cmd}: missing field 'nonblock'", "nonblock")
            args.append(("nonblock", _bool(obj, "nonblock")))
    elif op == "ioctl":
        req = _choice(obj, "req", IOCTL_REQS)
        args.append(("req", "FIONREAD" if req == "SIOCINQ" else req))
        if req == "FIONBIO" or ret == "ok":
            value = _int(obj, "value")
            if value < 0 and req != "FIONBIO":
                raise _Bad(f"ioctl {req}: field 'value' must be >= 0, got {value}", "value")
            args.append(("value", value))
    elif op in ("getsockname", "getpeername"):
        if ret == "ok":
            kw["local" if op == "getsockname" else "peer"] = _addr(obj, "addr")
    elif op == "dup":
        if ret == "ok":
            kw["new"] = _name(obj, "new")
    elif op == "poll":
        socks = _poll_list(obj, "socks", "events")
        if not socks:
            raise _Bad("poll: field 'socks' must name at least one socket", "socks")
        if socks[0][0] != sock:
            raise _Bad(f"poll: field 'sock' must be the first socket of 'socks' ({_quote(socks[0][0])})", "sock")
        timeout = number(obj, "timeout", low=None)
        if timeout < 0 and timeout != -1:
            raise _Bad(f"poll: field 'timeout' must be >= 0 or -1 (no timeout), got {_show(timeout)}", "timeout")
        args += [("socks", socks), ("timeout", timeout), ("edge", _bool(obj, "edge"))]
        if _bool(obj, "x-select"):   # select()'s sets (docs/extensions.md)
            if any(e not in SELECT_EVENTS for _, events in socks for e in events):
                raise _Bad("poll with x-select: a select() waits only for IN, OUT and PRI", "socks")
            args.append(("select", True))
        if ret == "ok":
            ready = _poll_list(obj, "ready", "revents")
            listed = {name for name, _ in socks}
            for name, revents in ready:
                if name not in listed:
                    raise _Bad(f"poll: {_quote(name)} is in 'ready' but not in 'socks'", "ready")
                if not revents:
                    raise _Bad(f"poll: {_quote(name)} is in 'ready' with no revents", "ready")
            args.append(("ready", ready))
    return Call(line, sock, op, ret, args=tuple(sorted(args)) if len(args) > 1 else tuple(args), t=t, **kw)


def names(call: Call) -> list[str]:
    """The names a v2 call uses besides ``sock`` (poll's other sockets)."""
    if call.op != "poll":
        return []
    return [name for name, _ in call.arg("socks", ())[1:]]
