"""The recorder for version 2 of the trace format: times, options, readiness, descriptors.

:class:`RecorderV2` is a :class:`tcpconform.live.recorder.Recorder` that
writes ``{"trace": 2, ...}`` (with the kernel as ``stack`` and the settings
the model reads as ``sysctl``), puts ``t`` (seconds since the recording
began, monotonic) on every call and state, and makes the calls version 2
adds, each one real system call recorded with what it returned:
``setsockopt``/``getsockopt``, ``fcntl`` and ``ioctl(FIONBIO)``,
``ioctl`` of the queue sizes, ``getsockname``/``getpeername``, ``dup``,
``poll`` (``select.poll``), ``connect`` to ``AF_UNSPEC`` (through libc: Python
has no way to pass that address), send/recv flags, ``accept4`` with
``SOCK_NONBLOCK``, IPv6 sockets.

A descriptor made by :meth:`dup` is a name of its own; while another name
holds the same socket open, a closed name is not observed (its socket's
state is its other names' state, observed through them).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import select
import socket
import struct
import time
from typing import Any, Iterable

from tcpconform.check.trace import format_addr, trace_header
from tcpconform.live import sysctl
from tcpconform.live.recorder import Entry, Recorder, ScenarioError, errname

_LEVELS = {"SOL_SOCKET": socket.SOL_SOCKET, "IPPROTO_TCP": socket.IPPROTO_TCP,
           "IPPROTO_IPV6": socket.IPPROTO_IPV6, "IPPROTO_IP": socket.IPPROTO_IP}
_TIMEVAL = ("SO_RCVTIMEO", "SO_SNDTIMEO")
_POLL = {"IN": select.POLLIN, "PRI": select.POLLPRI, "OUT": select.POLLOUT, "RDHUP": 0x2000,
         "ERR": select.POLLERR, "HUP": select.POLLHUP, "NVAL": select.POLLNVAL}
_SEND_FLAGS = {"DONTWAIT": socket.MSG_DONTWAIT, "NOSIGNAL": socket.MSG_NOSIGNAL, "MORE": socket.MSG_MORE}
_RECV_FLAGS = {"PEEK": socket.MSG_PEEK, "DONTWAIT": socket.MSG_DONTWAIT, "WAITALL": socket.MSG_WAITALL}
_IOCTL = {"FIONREAD": 0x541B, "SIOCOUTQ": 0x5411, "SIOCOUTQNSD": 0x894B}
# The settings the model reads from a trace's header (and a reader of the trace may want).
SYSCTLS = ("net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_syn_retries", "net.ipv4.tcp_synack_retries",
           "net.core.somaxconn", "net.core.rmem_max", "net.core.wmem_max", "net.ipv6.bindv6only")

_libc = ctypes.CDLL(None, use_errno=True)


class RecorderV2(Recorder):
    """A :class:`Recorder` that writes version 2 (see the module docstring)."""

    VERSION = 2

    def __init__(self, scenario: str | None = None, **kw: Any) -> None:
        super().__init__(scenario, **kw)
        self._t0 = time.monotonic()
        self._dups: dict[str, set[str]] = {}  # name -> every name of the same socket (itself included)

    # -- the trace ---------------------------------------------------------
    def header(self) -> dict[str, Any]:
        """:meth:`Recorder.header` in version 2: the kernel as ``stack``, the settings the model reads as ``sysctl``."""
        base = super().header()
        settings = {name: value for name in SYSCTLS if (value := sysctl.read(name)) is not None}
        return trace_header(2, profile=base["profile"], world=base["world"],
                            stack={"name": "linux", "version": base["meta"]["kernel"], "protocol": "tcp"},
                            sysctl=settings, meta=base["meta"])

    def _now(self) -> float:
        return round(time.monotonic() - self._t0, 6)

    def _record(self, name: str, op: str, args: dict[str, Any], ret: str,
                result: dict[str, Any]) -> dict[str, Any]:
        return super()._record(name, op, args, ret, {**result, "t": self._now()})

    def _record_state(self, name: str, state: str) -> None:
        super()._record_state(name, state)
        self.events[-1]["t"] = self._now()

    def observe_live(self) -> dict[str, str]:
        """As :meth:`Recorder.observe_live`, leaving out a closed name whose
        socket another name still holds open (observed through that one)."""
        live = [e for e in self._names.values()
                if (e.sock is not None or not (e.closed_seen and e.last_state == "CLOSED"))
                and not (e.sock is None and self._held_elsewhere(e.name))]
        states = self._states(live)
        for name, state in states.items():
            self._record_state(name, state)
        return states

    def _held_elsewhere(self, name: str) -> bool:
        return any(self._names[n].sock is not None for n in self._dups.get(name, ()) if n != name)

    # -- calls version 1 has, with what version 2 adds -----------------------
    def accept(self, listener: str, new_name: str, nonblock: bool = False) -> dict[str, Any]:
        if not nonblock:
            return super().accept(listener, new_name)
        entry, sock = self._open(listener)
        if not new_name or new_name in self._names:
            raise ScenarioError(f"socket name {new_name!r} is empty or already used")
        try:
            fd, peer = sock._accept()  # accept4(SOCK_CLOEXEC) ...
            ret = "ok"
        except OSError as e:
            ret = errname(e)
        if ret != "ok":
            return self._record(listener, "accept", {"nonblock": True}, ret, {})
        new = socket.socket(sock.family, sock.type & ~socket.SOCK_NONBLOCK, sock.proto, fileno=fd)
        new.setblocking(False)  # ... then O_NONBLOCK on the new file: what accept4(SOCK_NONBLOCK) gives
        local = format_addr(new.getsockname()[:2])
        peer_text = format_addr(peer[:2])
        self._names[new_name] = Entry(new_name, new, True, local=local, conn=(local, peer_text))
        self._born[new_name] = time.monotonic_ns()
        return self._record(listener, "accept", {"nonblock": True}, "ok",
                            {"new": new_name, "local": local, "peer": peer_text})

    def send(self, name: str, length: int, flags: Iterable[str] = ()) -> dict[str, Any]:
        flags = sorted(flags)
        bits = socket.MSG_NOSIGNAL
        for f in flags:
            bits |= _SEND_FLAGS[f]
        entry, sock = self._open(name)
        return self._flagged(name, "send", length, flags, lambda: sock.send(b"x" * length, bits))

    def recv(self, name: str, length: int, flags: Iterable[str] = ()) -> dict[str, Any]:
        flags = sorted(flags)
        bits = 0
        for f in flags:
            bits |= _RECV_FLAGS[f]
        entry, sock = self._open(name)
        return self._flagged(name, "recv", length, flags, lambda: len(sock.recv(length, bits)))

    def _flagged(self, name: str, op: str, length: int, flags: list, call) -> dict[str, Any]:
        entry, _sock = self._open(name)
        with self._guard(entry):
            try:
                n = call()
                ret = "ok"
            except OSError as e:
                ret = errname(e)
        args: dict[str, Any] = {"len": length, **({"flags": flags} if flags else {})}
        return self._record(name, op, args, ret, {"n": n} if ret == "ok" else {})

    # -- calls version 2 adds ---------------------------------------------------
    def setopt(self, name: str, level: str, opt: str, value: Any) -> dict[str, Any]:
        """setsockopt: ``value`` an int, (onoff, seconds) for SO_LINGER, seconds for the timeouts."""
        _, sock = self._open(name)
        raw: Any = value
        if opt == "SO_LINGER":
            raw = struct.pack("ii", *value)
        elif opt in _TIMEVAL:
            raw = struct.pack("ll", int(value), int(round((value - int(value)) * 1e6)))
        elif opt == "TCP_USER_TIMEOUT":
            raw = int(round(value * 1000))
        try:
            sock.setsockopt(_LEVELS[level], _optnum(opt), raw)
            ret = "ok"
        except OSError as e:
            ret = errname(e)
        shown = {"onoff": value[0], "linger": value[1]} if opt == "SO_LINGER" else value
        return self._record(name, "setsockopt", {"level": level, "opt": opt, "value": shown}, ret, {})

    def getopt(self, name: str, level: str, opt: str) -> dict[str, Any]:
        _, sock = self._open(name)
        try:
            if opt == "SO_LINGER":
                onoff, secs = struct.unpack("ii", sock.getsockopt(_LEVELS[level], _optnum(opt), 8))
                value: Any = {"onoff": onoff, "linger": secs}
            elif opt in _TIMEVAL:
                sec, usec = struct.unpack("ll", sock.getsockopt(_LEVELS[level], _optnum(opt), 16))
                value = round(sec + usec / 1e6, 6)
            else:
                value = sock.getsockopt(_LEVELS[level], _optnum(opt))
                if opt == "SO_ERROR":
                    value = 0 if value == 0 else errno.errorcode[value]
                elif opt == "TCP_USER_TIMEOUT":
                    value = value / 1000
            ret = "ok"
        except OSError as e:
            return self._record(name, "getsockopt", {"level": level, "opt": opt}, errname(e), {})
        return self._record(name, "getsockopt", {"level": level, "opt": opt}, ret, {"value": value})

    def set_nonblock(self, name: str, on: bool, via: str = "fcntl") -> dict[str, Any]:
        entry, sock = self._open(name)
        try:
            if via == "fcntl":
                flags = fcntl.fcntl(sock.fileno(), fcntl.F_GETFL)
                flags = flags | os.O_NONBLOCK if on else flags & ~os.O_NONBLOCK
                fcntl.fcntl(sock.fileno(), fcntl.F_SETFL, flags)
            else:
                fcntl.ioctl(sock.fileno(), 0x5421, struct.pack("i", 1 if on else 0))  # FIONBIO
            ret = "ok"
        except OSError as e:
            ret = errname(e)
        if ret == "ok":
            for n in self._dups.get(name, {name}):
                self._names[n].nonblock = on  # a flag of the open file, which dup shares
        args = ({"cmd": "F_SETFL", "nonblock": on} if via == "fcntl" else {"req": "FIONBIO", "value": int(on)})
        return self._record(name, "fcntl" if via == "fcntl" else "ioctl", args, ret, {})

    def get_nonblock(self, name: str) -> dict[str, Any]:
        _, sock = self._open(name)
        try:
            flags = fcntl.fcntl(sock.fileno(), fcntl.F_GETFL)
        except OSError as e:
            return self._record(name, "fcntl", {"cmd": "F_GETFL"}, errname(e), {})
        return self._record(name, "fcntl", {"cmd": "F_GETFL"}, "ok", {"nonblock": bool(flags & os.O_NONBLOCK)})

    def ioctl(self, name: str, req: str) -> dict[str, Any]:
        _, sock = self._open(name)
        try:
            value = struct.unpack("i", fcntl.ioctl(sock.fileno(), _IOCTL[req], b"\0" * 4))[0]
        except OSError as e:
            return self._record(name, "ioctl", {"req": req}, errname(e), {})
        return self._record(name, "ioctl", {"req": req}, "ok", {"value": value})

    def getsockname(self, name: str) -> dict[str, Any]:
        return self._getname(name, "getsockname")

    def getpeername(self, name: str) -> dict[str, Any]:
        return self._getname(name, "getpeername")

    def _getname(self, name: str, op: str) -> dict[str, Any]:
        _, sock = self._open(name)
        try:
            addr = (sock.getsockname if op == "getsockname" else sock.getpeername)()
        except OSError as e:
            return self._record(name, op, {}, errname(e), {})
        return self._record(name, op, {}, "ok", {"addr": format_addr(addr[:2])})

    def dup(self, name: str, new_name: str) -> dict[str, Any]:
        entry, sock = self._open(name)
        if not new_name or new_name in self._names:
            raise ScenarioError(f"socket name {new_name!r} is empty or already used")
        try:
            fd = os.dup(sock.fileno())
        except OSError as e:
            return self._record(name, "dup", {}, errname(e), {})
        new = socket.socket(fileno=fd)
        self._names[new_name] = Entry(new_name, new, entry.nonblock, local=entry.local, conn=entry.conn)
        self._born[new_name] = self._born.get(name, time.monotonic_ns())
        group = self._dups.setdefault(name, {name})
        group.add(new_name)
        self._dups[new_name] = group
        return self._record(name, "dup", {}, "ok", {"new": new_name})

    def close(self, name: str, linger0: bool = False) -> dict[str, Any]:
        event = super().close(name, linger0)
        if self._held_elsewhere(name):
            self._names[name].closed_seen = True  # its socket lives on under another name
        return event

    def poll(self, watch: list[tuple[str, Iterable[str]]], timeout: float = 0) -> dict[str, Any]:
        """poll() on the names' descriptors, each with the events asked for; ``timeout`` in seconds (-1: none)."""
        p = select.poll()
        fds: dict[int, str] = {}
        socks = []
        for name, events in watch:
            _, sock = self._open(name)
            mask = 0
            for ev in events:
                mask |= _POLL[ev]
            p.register(sock.fileno(), mask)
            fds[sock.fileno()] = name
            socks.append({"sock": name, "events": sorted(events)})
        entry = self._entry(watch[0][0])
        with self._guard(entry):
            try:
                got = p.poll(-1 if timeout < 0 else int(timeout * 1000))
                ret = "ok"
            except OSError as e:
                ret = errname(e)
        args = {"socks": socks, "timeout": timeout}
        if ret != "ok":
            return self._record(watch[0][0], "poll", args, ret, {})
        ready = [{"sock": fds[fd], "revents": sorted(n for n, bit in _POLL.items() if bits & bit)}
                 for fd, bits in got]
        return self._record(watch[0][0], "poll", args, "ok", {"ready": ready})

    def disconnect(self, name: str) -> dict[str, Any]:
        """connect() with an AF_UNSPEC address (through libc)."""
        _, sock = self._open(name)
        addr = ctypes.create_string_buffer(16)  # sa_family = AF_UNSPEC (0), the rest zero
        rc = _libc.connect(sock.fileno(), addr, 16)
        ret = "ok" if rc == 0 else errno.errorcode[ctypes.get_errno()]
        return self._record(name, "connect", {"addr": "AF_UNSPEC"}, ret, {})


def _optnum(opt: str) -> int:
    if opt == "TCP_USER_TIMEOUT":
        return 18
    if opt == "SO_REUSEPORT":
        return 15
    return getattr(socket, opt)


__all__ = ["RecorderV2", "SYSCTLS"]
