"""Drive real TCP sockets on loopback and record what the kernel does, as a trace.

A :class:`Recorder` owns a set of AF_INET SOCK_STREAM sockets named by the
trace. Each method makes exactly one socket call, appends one ``call`` event
in the format of ``trace-format.md`` and returns that event (a dict), so a
scenario can look at ``ret`` and ``n``. :meth:`Recorder.observe` appends a
``state`` event:

* while the name's descriptor is open, the state is the descriptor's own,
  ``getsockopt(IPPROTO_TCP, TCP_INFO)`` byte 0 (``tcpi_state``);
* once it is closed, the state is that of its connection as sock_diag lists
  it (an ``inet_diag`` dump over ``NETLINK_SOCK_DIAG``, matched on the
  connection's local and peer address and on inode 0, i.e. an orphan or a
  timewait sock); a TIME_WAIT sock is reported with its ``tw_substate``
  (so an orphaned FIN_WAIT_2 reads FIN_WAIT_2); not listed means CLOSED.

Rules kept here so that scenarios cannot break them:

* only loopback addresses, and ports chosen by the kernel (bind port 0);
* single-threaded; blocking calls are guarded by a watchdog (SIGALRM in the
  main thread, otherwise SO_RCVTIMEO/SO_SNDTIMEO, recorded as ``x-sockopt``)
  so a call that would block forever raises :class:`ScenarioTimeout`;
* no call is ever made on a closed descriptor (its number may be reused):
  a call on a closed name (:meth:`Recorder.call_closed`) goes to descriptor
  -1, which no descriptor ever is, and the kernel answers as it does for any
  descriptor that is not open (its file lookup fails: EBADF);
* :meth:`Recorder.close_all` (also run on context-manager exit, exceptions
  included) closes every descriptor the recorder made, without recording.

Extension events written here (a checker ignores them):
``{"ev": "x-sockopt", "sock", "opt", "value", "effective"}`` for a socket
option the trace format cannot express, and
``{"ev": "x-acceptq", "sock", "len", "backlog"}`` for a listener's accept
queue as TCP_INFO reports it (``tcpi_unacked`` / ``tcpi_sacked``), and, with
``netstat=True``, after every call's states,
``{"ev": "x-netstat", "rows": [{"sock", "state", "recvq", "sendq", "local",
"foreign"}, ...]}``: what ``netstat -tan`` would show of the run's sockets
(see :meth:`Recorder.netstat`).
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import signal
import socket
import struct
import termios
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from tcpconform.check.explain import netstat_addr, netstat_event
from tcpconform.check.trace import call_event, format_addr, parse_addr, state_event, trace_header, trace_text
from tcpconform.live.observers import Observers, ObserverSpec
from tcpconform.model import vocab

__all__ = ["Recorder", "ScenarioError", "ScenarioTimeout", "TCP_STATE_NAMES", "format_addr"]

# include/net/tcp_states.h -> the trace format's RFC 9293 spelling
TCP_STATE_NAMES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECEIVED",
    4: "FIN_WAIT_1",
    5: "FIN_WAIT_2",
    6: "TIME_WAIT",
    7: "CLOSED",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "SYN_RECEIVED",  # TCP_NEW_SYN_RECV; inet_diag reports request socks as 3 anyway
}

_SHUT = {"rd": socket.SHUT_RD, "wr": socket.SHUT_WR, "rdwr": socket.SHUT_RDWR}
_SOCKOPTS = {
    "SO_SNDBUF": (socket.SOL_SOCKET, socket.SO_SNDBUF),
    "SO_RCVBUF": (socket.SOL_SOCKET, socket.SO_RCVBUF),
}

WATCHDOG_SECONDS = 5.0
"""Longest a single blocking call may take before the scenario is abandoned."""


class ScenarioError(RuntimeError):
    """A scenario misused the recorder (unknown name, reused name, non-loopback address...)."""


class ScenarioTimeout(ScenarioError):
    """A blocking call did not return within the watchdog time."""


def _parse_addr(text: str) -> tuple[str, int]:
    """``"127.0.0.1:5"`` -> ``("127.0.0.1", 5)`` (the trace's :func:`parse_addr`); refuses
    anything but a loopback address (IPv4, or IPv6 ``::1``, or the IPv6 wildcard ``::``)."""
    try:
        ip, port = parse_addr(text)
    except ValueError as e:
        raise ScenarioError(str(e)) from None
    if ip != "::" and not ipaddress.ip_address(ip).is_loopback:
        raise ScenarioError(f"only loopback addresses may be used, got {text!r}")
    return ip, port


def _for_family(sock: socket.socket, addr: tuple[str, int]) -> tuple[str, int]:
    """An IPv4 address as an IPv6 socket reaches it: IPv4-mapped (``::ffff:a.b.c.d``)."""
    if sock.family == socket.AF_INET6 and ":" not in addr[0]:
        return (f"::ffff:{addr[0]}", addr[1])
    return addr


# ---------------------------------------------------------------------------
# sock_diag: the kernel's list of TCP sockets (what `ss -tan` shows)
# ---------------------------------------------------------------------------

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_ALL_STATES = 0xFFF  # TCP_ESTABLISHED..TCP_NEW_SYN_RECV; not TCP_BOUND_INACTIVE


@dataclass(frozen=True)
class DiagEntry:
    local: str
    peer: str
    state: str
    inode: int
    rqueue: int = 0  # idiag_rqueue: bytes unread (a listener: its accept queue's length)
    wqueue: int = 0  # idiag_wqueue: bytes not yet acknowledged (a listener: its backlog)
    cookie: int = 0  # idiag_cookie: which socket this is (a new one on the same addresses differs)


def diag_dump(sport: int = 0) -> list[DiagEntry]:
    """All IPv4 TCP sockets the kernel lists (optionally only local port ``sport``).

    Request: ``struct nlmsghdr`` + ``struct inet_diag_req_v2`` (family,
    protocol, ext, pad, states, ``inet_diag_sockid``); reply records are
    ``struct inet_diag_msg`` (family, state, timer, retrans, sockid, expires,
    rqueue, wqueue, uid, inode).
    """
    sockid = struct.pack(">HH", sport, 0) + bytes(44)
    req = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, _ALL_STATES) + sockid
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG)
    try:
        nl.settimeout(2.0)
        nl.bind((0, 0))
        hdr = struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0)
        nl.sendto(hdr + req, (0, 0))
        out: list[DiagEntry] = []
        while True:
            data = nl.recv(1 << 16)
            off = 0
            while off + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, off)
                if length < 16:
                    raise OSError(errno.EPROTO, "sock_diag: malformed netlink message")
                if kind == _NLMSG_DONE:
                    return out
                if kind == _NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, off + 16)[0]
                    raise OSError(code, f"sock_diag dump failed: {os.strerror(code)}")
                body = off + 16
                state = data[body + 1]
                lport, pport = struct.unpack_from(">HH", data, body + 4)
                lip = socket.inet_ntoa(data[body + 8 : body + 12])
                pip = socket.inet_ntoa(data[body + 24 : body + 28])
                (cookie,) = struct.unpack_from("=Q", data, body + 44)
                rqueue, wqueue, _uid, inode = struct.unpack_from("=IIII", data, body + 56)
                out.append(DiagEntry(format_addr((lip, lport)), format_addr((pip, pport)),
                                     TCP_STATE_NAMES.get(state, f"?{state}"), inode, rqueue, wqueue, cookie))
                off += (length + 3) & ~3
    finally:
        nl.close()


# ---------------------------------------------------------------------------
# The recorder
# ---------------------------------------------------------------------------

@dataclass
class Entry:
    """What the recorder knows of one trace name."""

    name: str
    sock: socket.socket | None  # None once closed
    nonblock: bool
    local: str | None = None  # last known local address of the descriptor
    conn: tuple[str, str] | None = None  # (local, peer) of its latest connection attempt
    last_state: str | None = None
    closed_seen: bool = False  # a state was recorded after close()
    cookie: int | None = None  # sock_diag's cookie of the connection it left behind at close()
    ended_ns: int | None = None  # when it was first seen TIME_WAIT or CLOSED after close()
    closed: socket.socket | None = None  # once closed, the socket object (its descriptor -1)


class Recorder:
    """Make socket calls on loopback and record them as trace events.

    ``VERSION``: the trace format it writes (1; 2 for tcpconform.live.recorder_v2).

    ``auto_observe`` (default true): after every call, observe every name
    whose state can still change (see :meth:`observe_live`). ``netstat``
    (default false): after every call (and its states), append an
    ``x-netstat`` event (see :meth:`netstat`).  ``observers``: packets and the
    state-change tracepoint to record as ``x-`` events
    (:mod:`tcpconform.live.observers`); ``number_in_worker``, this recording's
    number within its worker process, picks its window of the worker's ports.
    """

    VERSION = 1

    def __init__(self, scenario: str | None = None, *, auto_observe: bool = True,
                 watchdog: float = WATCHDOG_SECONDS, netstat: bool = False,
                 observers: ObserverSpec | None = None, number_in_worker: int = 0) -> None:
        self.scenario = scenario
        self.auto_observe = auto_observe
        self.watchdog = watchdog
        self.record_netstat = netstat
        self.events: list[dict[str, Any]] = []
        self._names: dict[str, Entry] = {}
        self._use_alarm = threading.current_thread() is threading.main_thread()
        # observers (tcpconform.live.observers): when each name was introduced, and each
        # connect call's time span, to name the tracepoint's state changes
        self._born: dict[str, int] = {}
        self._since: dict[str, tuple[int, Any]] = {}  # name -> (when its addresses were last seen to change, them)
        self._connects: list[tuple[str, int, int, str]] = []
        self._listened: set[str] = set()  # names whose last listen() succeeded (since no connect)
        self._obs: Observers | None = None
        if observers is not None:
            self._obs = Observers(observers, number_in_worker)
            self.events.append(self._obs.header_event())

    # -- context management and cleanup ----------------------------------

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_all()

    def close_all(self) -> None:
        """Close every descriptor still open (not recorded), and the observers. Safe to call twice."""
        if self._obs is not None:
            self._obs.close()
        for entry in self._names.values():
            if entry.sock is not None:
                sock, entry.sock = entry.sock, None
                try:
                    sock.close()
                except OSError:
                    pass

    # -- the trace ---------------------------------------------------------

    def header(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"kernel": os.uname().release}
        if self.scenario is not None:
            meta["scenario"] = self.scenario
        return trace_header(profile=vocab.profile_for_kernel(meta["kernel"]), world="closed", meta=meta)

    def trace_lines(self) -> str:
        """The whole trace as JSON Lines text (header first, final newline)."""
        return trace_text(self.header(), self.events)

    def names(self) -> list[str]:
        """Every name introduced so far, in order of introduction."""
        return list(self._names)

    def local(self, name: str) -> str:
        """The last known local address ("IP:PORT") of ``name``."""
        entry = self._entry(name)
        if entry.local is None:
            raise ScenarioError(f"{name!r} has no local address yet")
        return entry.local

    def is_open(self, name: str) -> bool:
        return self._entry(name).sock is not None

    def known_local(self, name: str) -> str | None:
        """The last known local address of ``name``, or None (never bound, listened or connected)."""
        return self._entry(name).local

    def last_state(self, name: str) -> str | None:
        """The state last recorded for ``name`` (None before the first observation)."""
        return self._entry(name).last_state

    def is_nonblocking(self, name: str) -> bool:
        """Whether calls on ``name`` never sleep (created with ``nonblock``; accepted sockets do sleep)."""
        return self._entry(name).nonblock

    # -- calls ---------------------------------------------------------------

    def socket(self, name: str, nonblock: bool = False, family: str = "inet") -> dict[str, Any]:
        """socket(); ``family`` "inet6" only in a version-2 recording (version 1 cannot say it)."""
        if not name or name in self._names:
            raise ScenarioError(f"socket name {name!r} is empty or already used")
        if family != "inet" and self.VERSION == 1:
            raise ScenarioError("an IPv6 socket needs a version-2 recording (tcpconform.live.recorder_v2)")
        fields: dict[str, Any] = {"family": family} if family != "inet" else {}
        fields.update({"nonblock": True} if nonblock else {})
        kind = socket.SOCK_STREAM | (socket.SOCK_NONBLOCK if nonblock else 0)
        try:
            sock = socket.socket(socket.AF_INET6 if family == "inet6" else socket.AF_INET, kind, socket.IPPROTO_TCP)
        except OSError as e:
            return self._record(name, "socket", fields, errname(e), {})
        # Python-level timeouts are emulated with poll() on a non-blocking
        # descriptor, which would change what the kernel sees: never use them.
        sock.setblocking(not nonblock)
        self._names[name] = Entry(name, sock, nonblock)
        self._born[name] = time.monotonic_ns()
        if not nonblock and not self._use_alarm:
            self._set_timeouts(name)
        return self._record(name, "socket", fields, "ok", {})

    def bind(self, name: str, addr: str) -> dict[str, Any]:
        entry, sock = self._open(name)
        target = _for_family(sock, _parse_addr(addr))
        try:
            sock.bind(target)
        except OSError as e:
            return self._record(name, "bind", {"addr": addr}, errname(e), {})
        entry.local = format_addr(sock.getsockname())
        entry.conn = None  # the descriptor starts afresh: its name no longer denotes an old connection
        return self._record(name, "bind", {"addr": addr}, "ok", {"local": entry.local})

    def listen(self, name: str, backlog: int) -> dict[str, Any]:
        entry, sock = self._open(name)
        before = sock.getsockname()
        t0 = time.monotonic_ns()
        try:
            sock.listen(backlog)
            self._connects.append((name, t0, time.monotonic_ns(), "0.0.0.0:0"))
            self._listened.add(name)
        except OSError as e:
            if sock.getsockname()[1] != before[1]:
                # the call picked a new port before failing (Linux 6.18): the descriptor's
                # socket started afresh, and a connection left in TIME_WAIT has no name now
                entry.conn = None
            return self._record(name, "listen", {"backlog": backlog}, errname(e), {})
        entry.local = format_addr(sock.getsockname())
        entry.conn = None  # a listener is no connection; an old one left behind is nameless
        return self._record(name, "listen", {"backlog": backlog}, "ok", {})

    def connect(self, name: str, addr: str) -> dict[str, Any]:
        entry, sock = self._open(name)
        target = _for_family(sock, _parse_addr(addr))
        before = sock.getsockname()  # a bound socket's address, kept for a connect that fails
        t0 = time.monotonic_ns()
        with self._guard(entry):
            try:
                sock.connect(target)
                ret = "ok"
            except OSError as e:
                ret = errname(e)
        self._connects.append((name, t0, time.monotonic_ns(), format_addr(target)))
        self._timed_out(entry, "connect", ret, "EINPROGRESS")
        result: dict[str, Any] = {}
        if ret in ("ok", "EINPROGRESS"):
            self._listened.discard(name)
            entry.local = format_addr(sock.getsockname())
            entry.conn = (entry.local, format_addr(target))
            result["local"] = entry.local
        elif ret == "ECONNABORTED" and before[1]:
            # The attempt's connection ended in an orderly way without the call
            # seeing it (a self-connect that closed itself sits in TIME_WAIT):
            # remember its address pair so sock_diag can find it after close.
            entry.conn = (format_addr(before), format_addr(target))
        elif ret in ("EISCONN", "EALREADY"):
            pass  # the call changed nothing: the descriptor's connection is the one it had
        else:
            entry.conn = None  # this attempt, the descriptor's latest, left no connection
        return self._record(name, "connect", {"addr": addr}, ret, result)

    def accept(self, listener: str, new_name: str) -> dict[str, Any]:
        entry, sock = self._open(listener)
        if not new_name or new_name in self._names:
            raise ScenarioError(f"socket name {new_name!r} is empty or already used")
        with self._guard(entry):
            try:
                new, peer = sock.accept()
                ret = "ok"
            except OSError as e:
                ret = errname(e)
        self._timed_out(entry, "accept", ret, "EAGAIN")
        if ret != "ok":
            return self._record(listener, "accept", {}, ret, {})
        new.setblocking(True)  # accept() never passes O_NONBLOCK on; make Python agree
        local = format_addr(new.getsockname())
        child = Entry(new_name, new, False, local=local, conn=(local, format_addr(peer)))
        self._names[new_name] = child
        self._born[new_name] = time.monotonic_ns()
        if not self._use_alarm:
            self._set_timeouts(new_name)
        return self._record(listener, "accept", {}, "ok",
                            {"new": new_name, "local": local, "peer": format_addr(peer)})

    def send(self, name: str, length: int) -> dict[str, Any]:
        return self._transfer(name, "send", length, lambda sock: sock.send(b"x" * length, socket.MSG_NOSIGNAL))

    def recv(self, name: str, length: int) -> dict[str, Any]:
        return self._transfer(name, "recv", length, lambda sock: len(sock.recv(length)))

    def _transfer(self, name: str, op: str, length: int, call) -> dict[str, Any]:
        """send/recv: ``call(sock)`` gives the bytes the call took or returned."""
        entry, sock = self._open(name)
        with self._guard(entry):
            try:
                n = call(sock)
                ret = "ok"
            except OSError as e:
                ret = errname(e)
        self._timed_out(entry, op, ret, "EAGAIN")
        return self._record(name, op, {"len": length}, ret, {"n": n} if ret == "ok" else {})

    def shutdown(self, name: str, how: str) -> dict[str, Any]:
        _, sock = self._open(name)
        if how not in _SHUT:
            raise ScenarioError(f"shutdown how must be one of {sorted(_SHUT)}, got {how!r}")
        try:
            sock.shutdown(_SHUT[how])
            ret = "ok"
        except OSError as e:
            ret = errname(e)
        return self._record(name, "shutdown", {"how": how}, ret, {})

    def close(self, name: str, linger0: bool = False) -> dict[str, Any]:
        """close(); with ``linger0``, SO_LINGER {1, 0} is set first so that close aborts (RST)."""
        entry, sock = self._open(name)
        if linger0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._refresh_conn(entry)
        entry.sock, entry.closed = None, sock
        t0 = time.monotonic_ns()
        try:
            sock.close()
            ret = "ok"
        except OSError as e:
            ret = errname(e)
        if name in self._listened:
            # a listener's LISTEN -> CLOSED during this call is its own, even where
            # another listener shares its address (SO_REUSEPORT)
            self._connects.append((name, t0, time.monotonic_ns(), "0.0.0.0:0"))
        return self._record(name, "close", {"linger0": True} if linger0 else {}, ret, {})

    def call_closed(self, name: str, op: str, **args: Any) -> dict[str, Any]:
        """Call ``op`` on the closed name ``name`` as a program that kept its
        descriptor number would, and record what the kernel answers; the call
        goes to descriptor -1 (see the module docstring): the name's closed
        socket object holds -1, and close is ``close(-1)``.  ``args`` as the
        call's own method takes them (``addr``, ``backlog``, ``length``, ``how``)."""
        entry = self._entry(name)
        if entry.sock is not None or entry.closed is None or entry.closed.fileno() != -1:
            raise ScenarioError(f"socket {name!r} is not a closed name")
        s = entry.closed
        fields: dict[str, Any] = {}
        if op in ("bind", "connect"):
            fields["addr"] = args["addr"]
            target = _parse_addr(args["addr"])
            raw = s.bind if op == "bind" else s.connect
            do = lambda: raw(target)  # noqa: E731
        elif op == "listen":
            fields["backlog"] = args["backlog"]
            do = lambda: s.listen(args["backlog"])  # noqa: E731
        elif op in ("send", "recv"):
            fields["len"] = args["length"]
            do = (lambda: s.send(b"x" * args["length"], socket.MSG_NOSIGNAL)) if op == "send" \
                else (lambda: s.recv(args["length"]))
        elif op == "shutdown":
            fields["how"] = args["how"]
            do = lambda: s.shutdown(_SHUT[args["how"]])  # noqa: E731
        elif op == "accept":
            do = s.accept
        elif op == "close":
            do = lambda: os.close(-1)  # noqa: E731
        else:
            raise ScenarioError(f"call_closed: no call {op!r}")
        try:
            do()
        except OSError as e:
            return self._record(name, op, fields, errname(e), {})
        raise ScenarioError(f"{op} on descriptor -1 succeeded")

    # -- options and extension events -----------------------------------------

    def setsockopt(self, name: str, opt: str, value: int) -> dict[str, Any]:
        """Set an integer socket option and record it as an ``x-sockopt`` event."""
        _, sock = self._open(name)
        if opt not in _SOCKOPTS:
            raise ScenarioError(f"unsupported socket option {opt!r}")
        level, number = _SOCKOPTS[opt]
        sock.setsockopt(level, number, value)
        event = {"ev": "x-sockopt", "sock": name, "opt": opt, "value": value,
                 "effective": sock.getsockopt(level, number)}
        self.events.append(event)
        return event

    def observe_acceptq(self, name: str) -> dict[str, Any]:
        """Record a listener's accept-queue length and backlog (``x-acceptq``), from TCP_INFO."""
        _, sock = self._open(name)
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 32)
        length, backlog = struct.unpack_from("=II", info, 24)  # tcpi_unacked, tcpi_sacked
        event = {"ev": "x-acceptq", "sock": name, "len": length, "backlog": backlog}
        self.events.append(event)
        return event

    def wait_acceptq(self, name: str, length: int, timeout: float = 0.5) -> int:
        """Wait (bounded, unrecorded) until listener ``name``'s accept queue holds at
        least ``length`` connections (TCP_INFO); returns the length seen last."""
        _, sock = self._open(name)
        deadline = time.monotonic() + timeout
        while True:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 32)
            queued = struct.unpack_from("=I", info, 24)[0]  # tcpi_unacked: the accept queue's length
            if queued >= length or time.monotonic() >= deadline:
                return queued
            time.sleep(0.001)

    def wait_inq(self, name: str, nbytes: int, timeout: float = 0.5) -> int:
        """Wait (bounded, unrecorded) until ``name`` has at least ``nbytes`` bytes queued
        for reading (SIOCINQ); returns the count seen last. Only for connected sockets."""
        _, sock = self._open(name)
        deadline = time.monotonic() + timeout
        while True:
            queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]
            if queued >= nbytes or time.monotonic() >= deadline:
                return queued
            time.sleep(0.001)

    # -- states ----------------------------------------------------------------

    def state_of(self, name: str) -> str:
        """The current state of ``name`` (see the module docstring); records nothing."""
        return self._states([self._entry(name)])[name]

    def observe(self, name: str) -> str:
        """Append a ``state`` event for ``name`` and return the state."""
        state = self.state_of(name)
        self._record_state(name, state)
        self._drain()
        return state

    def observe_all(self) -> dict[str, str]:
        """Observe every name introduced so far, in order of introduction."""
        states = self._states(list(self._names.values()))
        for name, state in states.items():
            self._record_state(name, state)
        self._drain()
        return states

    def observe_live(self) -> dict[str, str]:
        """Observe every name whose state can still change.

        That is every open descriptor, and every closed one whose connection
        was not yet seen CLOSED after the close (a connection that is gone
        cannot come back).
        """
        live = [e for e in self._names.values()
                if e.sock is not None or not (e.closed_seen and e.last_state == "CLOSED")]
        states = self._states(live)
        for name, state in states.items():
            self._record_state(name, state)
        return states

    def settle(self, name: str, states: Iterable[str] | str, timeout: float = 0.5) -> str:
        """Wait (polling every millisecond, at most ``timeout`` s) until ``name`` is in
        one of ``states``, then observe it; on timeout, observe whatever it is in."""
        wanted = {states} if isinstance(states, str) else set(states)
        unknown = wanted - set(TCP_STATE_NAMES.values())
        if unknown:
            raise ScenarioError(f"unknown states {sorted(unknown)}")
        deadline = time.monotonic() + timeout
        state = self.state_of(name)
        while state not in wanted and time.monotonic() < deadline:
            time.sleep(0.001)
            state = self.state_of(name)
        self._record_state(name, state)
        self._drain()
        return state

    def netstat(self) -> list[dict[str, Any]]:
        """The run's sockets as ``netstat -tan`` shows them; records nothing.

        One row per open descriptor (state from ``TCP_INFO``; Recv-Q and
        Send-Q from the ``SIOCINQ`` / ``SIOCOUTQ`` ioctls, or for a listener
        its accept-queue length and backlog from ``TCP_INFO``), then one per
        socket the kernel lists (sock_diag) with no descriptor of ours: a
        closed name's connection, a request sock or a connection waiting in
        an accept queue (``sock`` is then None), restricted to the ports of
        this run. A name whose connection is gone has no row.
        """
        rows: list[dict[str, Any]] = []
        ports: set[int] = set()
        for entry in self._names.values():
            for addr in (entry.local, *(entry.conn or ())):
                if addr:
                    ports.add(parse_addr(addr)[1])
            sock = entry.sock
            if sock is None:
                continue
            fd = sock.fileno()
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 32)
            state = TCP_STATE_NAMES.get(info[0], f"?{info[0]}")
            if state == "LISTEN":
                recvq, sendq = struct.unpack_from("=II", info, 24)  # tcpi_unacked, tcpi_sacked
            else:
                recvq, sendq = _ioctl_int(fd, _SIOCINQ), _ioctl_int(fd, _SIOCOUTQ)
            bound = sock.getsockname()
            local = netstat_addr(bound if bound[1] else None)
            try:
                foreign = format_addr(sock.getpeername())
            except OSError:
                foreign = netstat_addr(None, listener=state == "LISTEN")
            rows.append({"sock": entry.name, "state": state, "recvq": recvq, "sendq": sendq,
                         "local": local, "foreign": foreign})
        by_conn = {e.conn: e.name for e in self._names.values() if e.sock is None and e.conn}
        for d in diag_dump():
            if d.inode != 0:
                continue  # a descriptor: ours are listed above, any other is not this run's
            if parse_addr(d.local)[1] not in ports and parse_addr(d.peer)[1] not in ports:
                continue
            rows.append({"sock": by_conn.get((d.local, d.peer)), "state": d.state, "recvq": d.rqueue,
                         "sendq": d.wqueue, "local": d.local, "foreign": d.peer})
        return rows

    # -- internals ---------------------------------------------------------------

    def _entry(self, name: str) -> Entry:
        try:
            return self._names[name]
        except KeyError:
            raise ScenarioError(f"socket {name!r} was never introduced") from None

    def _open(self, name: str) -> tuple[Entry, socket.socket]:
        entry = self._entry(name)
        if entry.sock is None:
            raise ScenarioError(f"socket {name!r} is closed; no call may be made on it")
        return entry, entry.sock

    def _record(self, name: str, op: str, args: dict[str, Any], ret: str,
                result: dict[str, Any]) -> dict[str, Any]:
        event = call_event(name, op, ret, args, **result)
        self.events.append(event)
        if self._obs is not None:
            now = time.monotonic_ns()
            for n in (name, result.get("new")):
                e = self._names.get(n) if n else None
                if e is not None and self._since.get(n, (0, None))[1] != (e.local, e.conn):
                    self._since[n] = (now, (e.local, e.conn))
        if self.auto_observe:
            self.observe_live()
        if self.record_netstat:
            self.events.append(netstat_event(self.netstat()))
        self._drain()
        return event

    def _drain(self) -> None:
        """Append what the observers saw since the last drain (``x-state``, ``x-packet``)."""
        if self._obs is not None:
            self.events.extend(self._obs.drain(self._name_of))

    def _name_of(self, ch: Any) -> str | None:
        """The name of the socket a tracepoint state change is about, when it is sure:
        the socket a connect() (listen()) call was being made on when the change
        happened, if the change's peer is the call's target (none) and its address
        pair is not another open socket's connection, else the name whose
        connection (or, for a listener, whose local address) is the change's, if
        that name already had those addresses when the change happened (the latest
        such name); None otherwise (a request sock or a
        child not yet accepted, a connection no name denotes any more)."""
        for name, t0, t1, target in reversed(self._connects):
            if t0 <= ch.ts_ns <= t1 and ch.remote == target:
                if not ch.local.endswith(":0") and any(
                        e.name != name and e.sock is not None and e.conn == (ch.local, ch.remote)
                        for e in self._names.values()):
                    break  # another open socket's connection (no two live sockets share one): named below
                return name
        if ch.local.endswith(":0"):
            return None
        listener = ch.remote.endswith(":0")
        if ch.old == "LISTEN" and not listener:
            return None  # a request sock a listener made: no name yet, whichever name had its addresses
        # the latest name first: a port (pair) an older socket let go of may be a newer one's now
        for e in reversed(list(self._names.values())):
            if max(self._born.get(e.name, 0), self._since.get(e.name, (0, None))[0]) > ch.ts_ns:
                continue  # the name, or its present addresses, came later
            if e.ended_ns is not None and ch.ts_ns > e.ended_ns:
                continue  # its connection had ended: a new one on the same addresses
            if e.conn == (ch.local, ch.remote) or (listener and e.name in self._listened and e.local == ch.local):
                return e.name
        return None

    def _record_state(self, name: str, state: str) -> None:
        entry = self._names[name]
        entry.last_state = state
        if entry.sock is None:
            entry.closed_seen = True
            if state in ("TIME_WAIT", "CLOSED") and entry.ended_ns is None:
                entry.ended_ns = time.monotonic_ns()  # no later state change is its connection's
        self.events.append(state_event(name, state))

    def _states(self, entries: list[Entry]) -> dict[str, str]:
        """States of ``entries``: TCP_INFO for open descriptors, one sock_diag dump for the rest."""
        out: dict[str, str] = {}
        table: dict[tuple[str, str], str] | None = None
        for entry in entries:
            if entry.sock is not None:
                info = entry.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
                out[entry.name] = TCP_STATE_NAMES.get(info[0], f"?{info[0]}")
            elif entry.conn is None:
                out[entry.name] = "CLOSED"  # never had a peer: nothing outlives close()
            else:
                if table is None:
                    table = self._orphans()
                if entry.conn not in table and entry.last_state not in (None, "CLOSED"):
                    # Not listed, having been listed before: a dump can miss a connection at
                    # the instant tcp_time_wait() hands it over to a timewait sock (seen on
                    # Linux 6.18 under load, softirqs on the other CPU: the dump listed
                    # neither the orphaned FIN_WAIT_2 nor its timewait sock, and the
                    # tracepoint showed the hand-over).  One more dump tells a connection
                    # that is really gone.
                    table = self._orphans()
                state, cookie = table.get(entry.conn, ("CLOSED", None))
                if cookie is not None and entry.cookie is not None and cookie != entry.cookie:
                    state = "CLOSED"  # a new connection on the same addresses (a SYN ended a TIME_WAIT)
                elif cookie is not None:
                    entry.cookie = cookie
                out[entry.name] = state
        return out

    @staticmethod
    def _orphans() -> dict[tuple[str, str], tuple[str, int]]:
        """sock_diag's connections with no descriptor (inode 0: orphans and timewait
        socks; an open socket with the same addresses would be someone else's), with
        their cookies."""
        return {(d.local, d.peer): (d.state, d.cookie) for d in diag_dump() if d.inode == 0}

    def _refresh_conn(self, entry: Entry) -> None:
        """Before close: re-read the connection's addresses (getpeername fails once it is CLOSE)."""
        sock = entry.sock
        assert sock is not None
        try:
            peer = format_addr(sock.getpeername())
            local = format_addr(sock.getsockname())
        except OSError:
            return
        entry.local = local
        entry.conn = (local, peer)

    @contextmanager
    def _guard(self, entry: Entry) -> Iterator[None]:
        """Abandon a blocking call after ``self.watchdog`` seconds (SIGALRM)."""
        if entry.nonblock or not self._use_alarm:
            yield
            return

        def expire(signum: int, frame: object) -> None:
            raise ScenarioTimeout(f"a blocking call on {entry.name!r} did not return within "
                                  f"{self.watchdog:g} s (scenario {self.scenario!r})")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, self.watchdog)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _set_timeouts(self, name: str) -> None:
        """Off the main thread (no SIGALRM): bound blocking calls with SO_RCVTIMEO/SO_SNDTIMEO."""
        _, sock = self._open(name)
        seconds = int(self.watchdog)
        usec = int((self.watchdog - seconds) * 1e6)
        value = struct.pack("ll", seconds, usec)
        for opt, number in (("SO_RCVTIMEO", socket.SO_RCVTIMEO), ("SO_SNDTIMEO", socket.SO_SNDTIMEO)):
            sock.setsockopt(socket.SOL_SOCKET, number, value)
            self.events.append({"ev": "x-sockopt", "sock": name, "opt": opt, "value": self.watchdog})

    def _timed_out(self, entry: Entry, op: str, ret: str, timeout_errno: str) -> None:
        """Off the main thread, a blocking call failing with EAGAIN/EINPROGRESS means SO_*TIMEO expired."""
        if not self._use_alarm and not entry.nonblock and ret == timeout_errno:
            raise ScenarioTimeout(f"blocking {op} on {entry.name!r} did not return within "
                                  f"{self.watchdog:g} s (scenario {self.scenario!r})")


_SIOCINQ = termios.FIONREAD  # 0x541B: bytes in the receive queue
_SIOCOUTQ = termios.TIOCOUTQ  # 0x5411: bytes in the send queue not yet acknowledged


def _ioctl_int(fd: int, request: int) -> int | None:
    try:
        return struct.unpack("i", fcntl.ioctl(fd, request, b"\0" * 4))[0]
    except OSError:
        return None


def errname(e: OSError) -> str:
    if e.errno is None:
        raise e
    return errno.errorcode.get(e.errno, f"E{e.errno}")
