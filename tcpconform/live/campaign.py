"""Random campaigns: generated call sequences, live kernel and model in lockstep.

``conform run --random N --seed S`` runs N generated sequences of socket
calls on this machine's TCP stack.  Each sequence is a *program*: a list of
abstract actions ``(op, x, y)`` (small integers) that hypothesis generates
and shrinks.  An :class:`Interpreter` turns each action into a socket call
(or, for the short-hands ``serve`` and ``dial``, the two or three calls that
make a listener or a connecting client) on a
:class:`~tcpconform.live.recorder.Recorder`, choosing among the sockets that
exist at that moment (a listener ``L``, clients ``c0``..``c2`` and the
sockets ``a0``, ``a1``.. that ``accept`` returns) and among the ports the
trace has shown; an action that means nothing at that point makes no call.
So every program is meaningful and removing any action still leaves one
(that is what makes shrinking work).  Every recorded event (the call, then
the states of every live socket) is fed at once to a
:class:`~tcpconform.check.search.Engine` (:class:`LiveFeed`): a divergence stops
the sequence at the first event the model does not explain.  The first
divergence of each kind (:func:`signature`) is shrunk by hypothesis to a
minimal program; the campaign then goes on generating until N sequences
have run, counting later divergences of known kinds (:func:`explore`).

**Never hangs.** Clients are non-blocking three times out of four.  A call
that may sleep (``connect``, ``accept``, ``send``, ``recv`` on a blocking
socket; sockets that ``accept`` returns are always blocking) is made only
when the model says it cannot sleep for ever (:func:`may_block`): in every
configuration the model allows once every segment in flight has been
delivered, the call returns at once, or (``connect``) it is woken by
segment deliveries alone.  Otherwise the action is skipped.  Bytes sent per
socket are capped far below loopback's buffers, which the model does not
know.  The recorder's watchdog (SIGALRM) remains as a last resort: a call
that sleeps anyway ends the sequence as an error, not a hang.

**Isolation and scale.** :func:`run_campaign` splits the sequences over
worker processes (:mod:`tcpconform.live.pool`, one per core by default),
each in a network namespace of its own and a fresh one again before every
sequence, so sequences never see each other's ports or TIME_WAIT
connections; it merges what the workers found into a
:class:`~tcpconform.live.campaign_report.CampaignReport`.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import tempfile
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator

from tcpconform.check import descriptors
from tcpconform.check.plain import PlainSearch
from tcpconform.check.search import Run, clock_for
from tcpconform.check.verdict import beyond_search
from tcpconform.check.trace import Call, TraceError, event_line, format_addr, parse_addr, read_trace
from tcpconform.live import campaign_report, outdir
from tcpconform.live.campaign_report import CampaignReport, Progress, Started
from tcpconform.live.observers import ObserverSpec, worker_specs
from tcpconform.live.pool import Interrupted, Worker, run_workers
from tcpconform.live.recorder import Recorder, ScenarioError, ScenarioTimeout
from tcpconform.live.recorder_v2 import RecorderV2
from tcpconform.model import system, vocab
from tcpconform.model.system import ModelError

__all__ = [
    "ACTIONS", "SOCKET_SLOTS", "Interpreter", "LiveFeed", "SeqResult", "may_block", "run_program",
    "replay_calls", "explore", "run_campaign", "worker_seed", "split", "CampaignJob", "campaign_jobs",
    "random_target",
]

ANY = "127.0.0.1:0"
SOCKET_SLOTS = ("L", "c0", "c1", "c2")
"""Where a program's sockets live: a listener ``L`` and clients ``c0``..``c2``."""
# op codes 0..15 -> kind of action; repeats weight the draw (hypothesis shrinks towards 0 = socket)
OP_TABLE = ("socket", "serve", "dial", "accept", "send", "recv", "close", "shutdown",
            "bind", "listen", "connect", "dial", "accept", "send", "recv", "close",
            # the calls version 2 of the trace format adds (V2_CALLS)
            "poll", "getopt", "setopt", "setnb", "names", "peek", "ioctl", "disconnect", "dup")
# What each version-2 action may do, by its argument ``y``: options to set and read, queue sizes asked.
SET_OPTIONS = (("SOL_SOCKET", "SO_REUSEADDR", 1), ("SOL_SOCKET", "SO_KEEPALIVE", 1),
               ("IPPROTO_TCP", "TCP_NODELAY", 1), ("SOL_SOCKET", "SO_LINGER", (1, 0)),
               ("SOL_SOCKET", "SO_RCVBUF", 4096), ("SOL_SOCKET", "SO_REUSEPORT", 1),
               ("IPPROTO_TCP", "TCP_KEEPCNT", 0), ("SOL_SOCKET", "SO_LINGER", (1, 1)))
GET_OPTIONS = (("SOL_SOCKET", "SO_ERROR"), ("SOL_SOCKET", "SO_ACCEPTCONN"), ("SOL_SOCKET", "SO_REUSEADDR"),
               ("SOL_SOCKET", "SO_RCVBUF"), ("IPPROTO_TCP", "TCP_NODELAY"), ("SOL_SOCKET", "SO_ERROR"),
               ("SOL_SOCKET", "SO_LINGER"), ("SOL_SOCKET", "SO_TYPE"))
IOCTLS = ("FIONREAD", "SIOCOUTQ", "FIONREAD", "SIOCOUTQNSD")
POLL_EVENTS = ["IN", "OUT", "RDHUP", "PRI", "ERR", "HUP"]
SEND_SIZES = (5, 1, 1000, 0, 6000)
RECV_SIZES = (100, 1, 7, 8192)
BACKLOGS = (1, 0, 2, 8)
HOWS = ("wr", "rd", "rdwr")
MAX_SENT = 24_000
"""Bytes one socket may send in a sequence: far below what loopback buffers hold unread."""
WATCHDOG = 2.0
"""Seconds a call the model said cannot sleep may take before the sequence is abandoned."""
SHRINK_BUDGET = 400
"""Most replays spent shrinking one divergence."""
CONNECTED_STATES = frozenset({"SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
                              "CLOSE_WAIT", "CLOSING", "LAST_ACK"})
SLEEPY_OPS = frozenset({"connect", "accept", "send", "recv", "peek"})
CONNECT_RETS = ("ok", "ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "ETIMEDOUT", "EPIPE",
                "EISCONN", "EALREADY", "EINVAL")

FAULT: Callable[[dict[str, Any]], dict[str, Any]] | None = None
"""Test hook: applied to every recorded event before it is checked (inherited by forked workers)."""


# hypothesis is imported where it is used: it is slow to import, and nothing but a
# random campaign needs it (``conform check``, ``conform run SCENARIO`` do not).

def _actions():
    from hypothesis import strategies as st
    return st.tuples(st.integers(0, len(OP_TABLE) - 1), st.integers(0, 7), st.integers(0, 7))


def ACTIONS(steps: int):  # noqa: N802 - a strategy, named like a constant
    """The hypothesis strategy of programs: ``steps // 2`` to ``steps`` actions (some of
    which may stand for no call where they are)."""
    from hypothesis import strategies as st
    return st.lists(_actions(), min_size=max(1, steps // 2), max_size=max(1, steps))


# ---------------------------------------------------------------------------
# Feeding recorded events to the checker as they are produced
# ---------------------------------------------------------------------------

class _Lines:
    """An iterator of byte lines fed one at a time (read_trace's generator pulls one per event)."""

    def __init__(self, first: bytes) -> None:
        self.queue: collections.deque[bytes] = collections.deque([first])

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> bytes:
        return self.queue.popleft()  # never empty when pulled: one line is pushed per pull


class LiveFeed:
    """Parse (with :func:`read_trace`, so the trace stays valid) and check events one by one.

    ``checker`` None: only parse.  :meth:`push` returns the divergence verdict
    (a :class:`~tcpconform.check.search.Verdict`) at the first event the model does
    not explain; afterwards nothing more is fed.
    """

    def __init__(self, header: dict[str, Any], checker: Any) -> None:
        self.header = header
        self.checker = checker
        first = event_line(header).encode() + b"\n"
        self._lines = _Lines(first)
        self.parsed_header, self._events = read_trace(self._lines)
        self.descriptors = descriptors.Descriptors() if self.parsed_header.version == 2 else None
        self.run = Run(checker, clock=clock_for(self.parsed_header)) if checker is not None else None
        self.lines: list[str] = []  # event lines fed so far (JSON text)
        self.verdict: Any = None

    def push(self, events: Iterable[dict[str, Any]]) -> Any:
        if self.verdict is not None:
            return self.verdict
        for obj in events:
            text = event_line(obj)
            self.lines.append(text)
            self._lines.queue.append(text.encode() + b"\n")
            ev = next(self._events)
            if self.checker is None:
                continue
            model_events = self.descriptors.rewrite([ev]) if self.descriptors is not None else [ev]
            for mev in model_events:
                bad = self.run.feed(mev)   # a search bound met: the undecided verdict
                if bad is not None:
                    self.verdict = bad
                    return bad
        return None

    def trace_text(self) -> str:
        """The trace so far (up to the divergent event, if any) as JSON Lines."""
        return "".join(line + "\n" for line in [event_line(self.header), *self.lines])


# ---------------------------------------------------------------------------
# Would the call sleep for ever? Ask the model.
# ---------------------------------------------------------------------------

def settled_configs(checker: Any, ev: Call) -> list:
    """The configurations the checker allows for the sockets ``ev`` touches once every
    segment in flight has been delivered (no delivery step left)."""
    closed = checker.closure_for(ev)
    settled = [c for c in closed if next(system.internal_steps(c, checker.profile, False), None) is None]
    return settled or list(closed)


def may_block(checker: Any, ev: Call) -> bool:
    """True unless the model says the call cannot sleep for ever (see the module docstring)."""
    for cfg in settled_configs(checker, ev):
        results = system.possible_results(cfg, ev, checker.profile)
        if not any(r.ret == vocab.WAIT for r in results):
            continue
        if ev.op != "connect":
            return True  # recv/accept/send sleeping here wait for a call nobody will make
        woken = any(system.apply_call(cfg, replace(ev, ret=r), checker.profile, timers=False)
                    for r in CONNECT_RETS)
        if not woken:
            return True  # e.g. the SYN waits at a full accept queue: the kernel retries for minutes
    return False


# ---------------------------------------------------------------------------
# Programs -> calls
# ---------------------------------------------------------------------------

def _port(addr: str) -> str:
    return str(parse_addr(addr)[1])


class _Stop(Exception):
    """The feed found a divergence: the program ends here."""


class Interpreter:
    """Turn abstract actions into socket calls on ``rec`` (see the module docstring).

    After every call, the events it recorded go to ``feed`` (a
    :class:`LiveFeed`), so the checker is up to date before the next call and
    a divergence ends the program at once (:attr:`verdict`). The checker
    (``feed.checker``) decides whether a call on a blocking socket may be
    made. ``calls`` lists the calls made, with addresses given by the name
    they were taken from, so that :func:`replay_calls` can make the same
    calls again without a model.

    Actions: ``(op, x, y)``; ``op`` picks the kind (:data:`OP_TABLE`), ``x``
    the socket (six times in eight one on which the call does something
    interesting, see :meth:`_suits`), ``y`` the argument. Besides single
    calls there are two short-hands that make a run reach connections
    quickly: ``serve`` (socket, bind, listen on slot ``L``) and ``dial``
    (socket on a client slot, connect to a listener).
    """

    def __init__(self, rec: Recorder, feed: "LiveFeed") -> None:
        self.rec = rec
        self.feed = feed
        self.checker = feed.checker
        self.generation = dict.fromkeys(SOCKET_SLOTS, 0)
        self.current: dict[str, str] = {}
        self.accepted = 0
        self.sent: dict[str, int] = {}
        self.calls: list[tuple] = []
        self.skipped = 0  # calls not made because the model said they could sleep for ever
        self.visible: dict[str, str] = {}  # port -> the name it was first seen on, in order
        self.connected: set[str] = set()  # names on which a connect started
        self.verdict: Any = None  # the divergence, once found
        self.dups = 0

    def run(self, program: Iterable) -> None:
        """Carry out every action until the end or the first divergence."""
        try:
            for action in program:
                self.step(action)
        except _Stop:
            pass

    def open_names(self) -> list[str]:
        return [n for n in self.rec.names() if self.rec.is_open(n)]

    def _addresses(self, listeners_first: bool) -> list[tuple[str, str]]:
        """(address, name it was seen on) of every port the trace has shown so far.

        Only ports the trace itself reveals (bind's and connect's ``local``,
        accept's ``local`` and ``peer``): a port the kernel picked at
        ``listen`` on an unbound socket is never written in a trace (the
        format's ``listen`` has no ``local``), so the model cannot know that a
        connect reaches it.
        """
        items = list(self.visible.items())
        if listeners_first:
            items.sort(key=lambda kv: not self._listening(kv[1]))
        return [(format_addr(("127.0.0.1", port)), name) for port, name in items]

    def _listening(self, name: str) -> bool:
        return self.rec.is_open(name) and self.rec.last_state(name) == "LISTEN"

    def _saw(self, event: dict[str, Any]) -> None:
        if event["ret"] not in ("ok", "EINPROGRESS"):
            return
        if event["op"] in ("bind", "connect") and event.get("local"):
            self.visible.setdefault(_port(event["local"]), event["sock"])
        elif event["op"] == "accept":
            self.visible.setdefault(_port(event["local"]), event["sock"])
            self.visible.setdefault(_port(event["peer"]), event["new"])

    def step(self, action: tuple[int, int, int] | list[int]) -> bool:
        """Make the call(s) ``action`` stands for; False when it stands for none here."""
        op, x, y = (int(v) for v in action)
        kind = OP_TABLE[op % len(OP_TABLE)]
        if kind == "serve":
            return self._serve(y)
        if kind == "dial":
            return self._dial(x, y)
        names = self.open_names()
        if kind == "socket" or not names:
            return self._socket(SOCKET_SLOTS[x % len(SOCKET_SLOTS)], nonblock=y % 4 != 3)
        name = self._pick(kind, names, x)
        if kind == "bind":
            addrs = self._addresses(False)
            addr, ref = (ANY, None) if y == 0 or not addrs else addrs[(y - 1) % len(addrs)]
            return self._call("bind", name, addr, ref=ref)
        if kind == "listen":
            return self._call("listen", name, BACKLOGS[y % len(BACKLOGS)])
        if kind == "connect":
            targets = self._addresses(True)
            if not targets:
                return False
            addr, ref = targets[y % len(targets)]
            return self._call("connect", name, addr, ref=ref)
        if kind == "accept":
            return self._call("accept", name, f"a{self.accepted}")
        if kind == "send":
            length = SEND_SIZES[y % len(SEND_SIZES)]
            if self.sent.get(name, 0) + length > MAX_SENT:
                return False
            return self._call("send", name, length)
        if kind == "recv":
            return self._call("recv", name, RECV_SIZES[y % len(RECV_SIZES)])
        if kind == "shutdown":
            return self._call("shutdown", name, HOWS[y % len(HOWS)])
        if kind == "close":
            return self._call("close", name, y % 4 == 3)
        return self._v2(kind, name, names, y)

    def _v2(self, kind: str, name: str, names: list[str], y: int) -> bool:
        """The calls version 2 adds: none of them sleeps (poll has no timeout)."""
        if kind == "poll":
            watched = [name] + [n for n in names if n != name][:y % 3]
            return self._call("poll", name, [(n, POLL_EVENTS) for n in watched])
        if kind == "getopt":
            return self._call("getopt", name, GET_OPTIONS[y % len(GET_OPTIONS)])
        if kind == "setopt":
            return self._call("setopt", name, SET_OPTIONS[y % len(SET_OPTIONS)])
        if kind == "setnb":
            return self._call("setnb", name, y % 2 == 0)
        if kind == "names":
            return self._call("getsockname" if y % 2 == 0 else "getpeername", name, None)
        if kind == "peek":
            return self._call("peek", name, RECV_SIZES[y % len(RECV_SIZES)])
        if kind == "ioctl":
            return self._call("ioctl", name, IOCTLS[y % len(IOCTLS)])
        if kind == "disconnect":
            return self._call("disconnect", name, None)
        self.dups += 1
        return self._call("dup", name, f"{name}+{self.dups}")

    def _serve(self, y: int) -> bool:
        """A listener on slot ``L``: socket, bind to a kernel-chosen port, listen."""
        current = self.current.get("L")
        if current is not None and self.rec.is_open(current):
            return False
        self._socket("L", nonblock=y % 4 != 3)
        name = self.current["L"]
        self._call("bind", name, ANY)
        self._call("listen", name, BACKLOGS[y % len(BACKLOGS)])
        return True

    def _dial(self, x: int, y: int) -> bool:
        """A client connecting to a listener: client slot ``x``, listener (and blocking or not) by ``y``."""
        listeners = [(a, n) for a, n in self._addresses(True) if self._listening(n)]
        if not listeners:
            return False
        addr, ref = listeners[y % len(listeners)]
        slot = SOCKET_SLOTS[1 + x % (len(SOCKET_SLOTS) - 1)]
        current = self.current.get(slot)
        if current is None or not self.rec.is_open(current) or not self._suits("connect", current):
            if current is not None and self.rec.is_open(current):
                return False
            self._socket(slot, nonblock=y % 4 != 3)
        return self._call("connect", self.current[slot], addr, ref=ref) or True

    def _suits(self, kind: str, name: str) -> bool:
        """Whether ``name`` is a socket on which call ``kind`` does something interesting."""
        state = self.rec.last_state(name)
        if kind == "bind":
            return state == "CLOSED" and self.rec.known_local(name) is None
        if kind == "listen":
            return state == "CLOSED" and name not in self.connected and self.rec.known_local(name) is not None
        if kind == "connect":
            return state == "CLOSED" and name not in self.connected
        if kind == "accept":
            return state == "LISTEN"
        if kind in ("send", "recv", "shutdown"):
            return state in CONNECTED_STATES
        return True

    def _pick(self, kind: str, names: list[str], x: int) -> str:
        """The socket action ``(kind, x, _)`` acts on: six times in eight (x < 6) one that
        suits the call, if any; else any open socket."""
        suited = [n for n in names if self._suits(kind, n)]
        if suited and x < 6:
            return suited[x % len(suited)]
        return names[x % len(names)]

    def _socket(self, slot: str, nonblock: bool) -> bool:
        current = self.current.get(slot)
        if current is not None and self.rec.is_open(current):
            return False
        self.generation[slot] += 1
        gen = self.generation[slot]
        name = slot if gen == 1 else f"{slot}.{gen}"
        self.current[slot] = name
        start = len(self.rec.events)
        self.rec.socket(name, nonblock=nonblock)
        self.calls.append(("socket", name, nonblock))
        self._check(start)
        return True

    def _call(self, op: str, name: str, arg: Any, ref: str | None = None) -> bool:
        if op in SLEEPY_OPS and self.checker is not None and not self.rec.is_nonblocking(name):
            probe = _probe(op, name, arg)
            if self.feed.descriptors is not None:
                probe = replace(probe, sock=self.feed.descriptors.key_of(name))
            if may_block(self.checker, probe):
                self.skipped += 1
                return False
        start = len(self.rec.events)
        event = do(self.rec, op, name, arg)
        self.calls.append((op, name, ("@", ref) if ref is not None else arg))
        self._saw(event)
        if op == "connect" and event["ret"] in ("ok", "EINPROGRESS"):
            self.connected.add(name)
        if op == "accept" and event["ret"] == "ok":
            self.accepted += 1
        if op == "send" and event["ret"] == "ok":
            self.sent[name] = self.sent.get(name, 0) + event["n"]
        self._check(start)
        return True

    def _check(self, start: int) -> None:
        """Feed the events recorded since ``start``; stop the program at a divergence."""
        if FAULT is not None:
            self.rec.events[start:] = [FAULT(e) for e in self.rec.events[start:]]
        bad = self.feed.push(self.rec.events[start:])
        if bad is not None:
            self.verdict = bad
            raise _Stop()


def do(rec: Any, op: str, name: str, arg: Any) -> dict[str, Any]:
    """Make call ``op`` on ``rec`` (a RecorderV2) with the interpreter's one argument."""
    if op == "poll":
        return rec.poll(arg, timeout=0)
    if op == "getopt":
        return rec.getopt(name, *arg)
    if op == "setopt":
        return rec.setopt(name, *arg)
    if op == "setnb":
        return rec.set_nonblock(name, bool(arg))
    if op in ("getsockname", "getpeername", "disconnect"):
        return getattr(rec, op)(name)
    if op == "peek":
        return rec.recv(name, arg, flags=["PEEK"])
    if op == "ioctl":
        return rec.ioctl(name, arg)
    return getattr(rec, op)(name, arg)


def _probe(op: str, name: str, arg: Any) -> Call:
    """A call event standing for the call about to be made (its outcome unknown)."""
    if op == "connect":
        return Call(0, name, op, "ok", addr=parse_addr(arg))
    if op == "accept":
        return Call(0, name, op, "ok", new="\x00probe")
    if op == "peek":
        return Call(0, name, "recv", "ok", length=arg, args=(("flags", ("PEEK",)),))
    return Call(0, name, op, "ok", length=arg)


# ---------------------------------------------------------------------------
# One sequence
# ---------------------------------------------------------------------------

@dataclass
class SeqResult:
    """What one run of one program did."""

    verdict: str  # conforms | diverges | error
    program: list = field(default_factory=list)
    calls: list = field(default_factory=list)
    events: int = 0
    line: int | None = None
    reason: str = ""
    allowed: list = field(default_factory=list)
    event: str | None = None
    trace_text: str = ""  # the trace (kept for divergences, errors, and when asked)
    skipped: int = 0

    def size(self) -> tuple[int, int, int]:
        return (len(self.calls), len(self.program), self.events)


def run_program(program: list, *, fresh: Callable[[], Any] = lambda: None, meta: dict | None = None,
                check: bool = True, netstat: bool = False, watchdog: float = WATCHDOG,
                keep_text: bool = False, observers: ObserverSpec | None = None,
                number_in_worker: int = 0) -> SeqResult:
    """Run one program on the live stack (after ``fresh()``, e.g. a new namespace), checking
    every event as it is recorded. Every descriptor is closed before returning."""
    fresh()
    rec = RecorderV2("random", watchdog=watchdog, netstat=netstat, observers=observers,
                     number_in_worker=number_in_worker)
    header = rec.header()
    header["meta"].update(meta or {})
    header["meta"]["program"] = [list(a) for a in program]
    # the plain engine: x- events are passed over
    checker = PlainSearch(header["profile"], header["world"]) if check else None
    feed = LiveFeed(header, checker)
    # the observers' declaration goes into the trace (the plain engine passes over it):
    # the trace written is then checked with its observations by `conform check`
    feed.push([e for e in rec.events if e.get("ev") == "x-observers"])
    interp = Interpreter(rec, feed)
    result = SeqResult("conforms", [list(a) for a in program])
    try:
        interp.run(program)
        bad = interp.verdict
        if bad is not None and bad.verdict == "undecided":  # the check's bound, not the kernel's fault
            result.verdict, result.line, result.reason = "error", bad.line, f"undecided: {bad.reason}"
        elif bad is not None:
            result.verdict, result.line, result.reason = "diverges", bad.line, bad.reason
            result.allowed = list(bad.allowed)
            result.event = feed.lines[bad.line - 2] if bad.line and bad.line >= 2 else None
    except ScenarioTimeout as e:
        result.verdict, result.reason = "error", f"the model said this call returns at once; {e}"
    except (ModelError, MemoryError) as e:  # the model's search stopped before deciding what comes next
        bad = beyond_search(feed.lines and len(feed.lines) + 1, e, 0)
        result.verdict, result.reason = "error", f"undecided: {bad.reason}"
    except (ScenarioError, TraceError, OSError) as e:
        result.verdict, result.reason = "error", f"{type(e).__name__}: {e}"
    finally:
        rec.close_all()
    result.calls = [list(c) for c in interp.calls]
    result.events = len(feed.lines)
    result.skipped = interp.skipped
    if keep_text or result.verdict != "conforms":
        result.trace_text = feed.trace_text()
    return result


def replay_calls(calls: list, *, fresh: Callable[[], Any] = lambda: None, watchdog: float = WATCHDOG,
                 netstat: bool = False) -> Recorder:
    """Make the calls of a previous run again (recorded, not checked); for benchmarks."""
    fresh()
    with RecorderV2("replay", watchdog=watchdog, netstat=netstat) as rec:
        for op, name, arg in calls:
            if isinstance(arg, (list, tuple)) and len(arg) == 2 and arg[0] == "@":
                local = rec.known_local(arg[1])
                if local is None:
                    continue
                arg = format_addr(("127.0.0.1", _port(local)))
            if op == "socket":
                rec.socket(name, nonblock=bool(arg))
            else:
                do(rec, op, name, arg)
    return rec


# ---------------------------------------------------------------------------
# Many sequences, generated and shrunk by hypothesis
# ---------------------------------------------------------------------------

@dataclass
class DivergenceKind:
    """One kind of divergence (:func:`signature`) a worker found."""

    signature: str
    count: int           # sequences that diverged so
    minimal: SeqResult   # the smallest divergent run it was shrunk to
    first_calls: int     # calls of the first one found
    replays: int         # runs spent shrinking it


@dataclass
class ExploreResult:
    sequences: int = 0        # generated sequences run (shrinking replays not counted)
    conforms: int = 0
    diverged: int = 0         # sequences that diverged (each counted under its signature)
    errors: int = 0
    error_samples: list[SeqResult] = field(default_factory=list)  # the first few
    calls: int = 0
    skipped: int = 0
    divergences: list[DivergenceKind] = field(default_factory=list)  # one per kind, see explore()
    replays: int = 0          # runs spent shrinking
    rounds: int = 0
    longest: SeqResult | None = None  # the longest sequence run (kept when asked, for --explain)
    programs: list = field(default_factory=list)  # every generated run's calls (when asked)
    seconds: float = 0.0


def signature(r: SeqResult) -> str:
    """What kind of divergence: the event's kind and what the model allowed (no ports, no names)."""
    try:
        ev = json.loads(r.event or "{}")
    except ValueError:
        ev = {}
    if ev.get("ev") == "call":
        what = f"{ev.get('op')} -> {ev.get('ret')}"
        if ev.get("op") == "recv" and ev.get("ret") == "ok":
            what += " (EOF)" if ev.get("n") == 0 else " (data)"
    elif ev.get("ev") == "state":
        what = f"state {ev.get('state')}"
    else:
        what = "?"
    allowed = [_kind_of(a) for a in r.allowed or []]
    return f"{what}; model allowed: {', '.join(allowed) if allowed else 'nothing'}"


def _kind_of(allowed: str) -> str:
    """An "allowed" entry without its concrete values (addresses, ports, byte
    counts): ``ok 1<=n<=4 [recv.data]`` -> ``ok [recv.data]``."""
    words, bracket, rules = allowed.partition(" [")
    kept = " ".join(w for w in words.split() if not any(c.isdigit() or c == "=" for c in w))
    return kept + (f" [{rules}" if bracket else "")


class _Diverged(Exception):
    pass


MAX_DISTINCT = 12
"""A campaign stops looking for new kinds of divergence after this many."""


def explore(n: int, seed: int, *, steps: int = 20, fresh: Callable[[], Any] = lambda: None,
            meta: dict | None = None, after_sequence: Callable[[ExploreResult, bool], None] | None = None,
            netstat: bool = False, keep_longest: bool = False, keep_calls: bool = False,
            watchdog: float = WATCHDOG, observers: ObserverSpec | None = None,
            keep_dir: str | None = None) -> ExploreResult:
    """Run ``n`` programs generated by hypothesis from ``seed``.

    The first divergence of a kind never seen before (:func:`signature`) is
    shrunk by hypothesis to a minimal program; generation then goes on, in a
    new round with a seed derived from ``seed``, counting later divergences of
    known kinds without shrinking them again, until ``n`` sequences have run.
    ``after_sequence(result so far, shrinking)`` is called after every run.
    ``keep_dir``: every generated sequence that conforms is written there as
    a trace, ``<worker>-<number>.jsonl`` (the worker from ``meta``).
    """
    tally = ExploreResult()
    known: dict[str, DivergenceKind] = {}
    started = time.monotonic()
    with _hypothesis_home():
        _explore(n, seed, tally, known, steps=steps, fresh=fresh, meta=meta, after_sequence=after_sequence,
                 netstat=netstat, keep_longest=keep_longest, keep_calls=keep_calls, watchdog=watchdog,
                 observers=observers, keep_dir=keep_dir)
    tally.divergences = list(known.values())
    tally.seconds = time.monotonic() - started
    return tally


@contextlib.contextmanager
def _hypothesis_home() -> Iterator[None]:
    """Keep hypothesis's files (its cache of constants) out of the current directory."""
    from hypothesis import configuration
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    configuration.set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "conform-run-hypothesis"))
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(None)


def _explore(n: int, seed: int, tally: ExploreResult, known: dict[str, DivergenceKind], **options: Any) -> None:
    while tally.sequences < n:
        new = _round(n, worker_seed(seed, tally.rounds), tally, known, **options)
        tally.rounds += 1
        if new is None or len(known) >= MAX_DISTINCT:
            break


def _round(n: int, seed: int, tally: ExploreResult, known: dict[str, DivergenceKind], *, steps: int,
           fresh: Callable[[], Any], meta: dict | None, after_sequence: Any, netstat: bool,
           keep_longest: bool, keep_calls: bool, watchdog: float, observers: ObserverSpec | None,
           keep_dir: str | None) -> str | None:
    """One hypothesis run, until ``tally.sequences`` reaches ``n`` or a new kind of divergence
    has been found and shrunk (its signature is returned)."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hseed

    failures: list[SeqResult] = []
    being_shrunk: list[str] = []  # the signature of the divergence being shrunk
    replays = [0]
    meta = dict(meta or {}, round=tally.rounds)

    @settings(max_examples=max(n - tally.sequences, 1), database=None, deadline=None,
              phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
              report_multiple_bugs=False, verbosity=Verbosity.quiet, print_blob=False)
    @hseed(seed)
    @given(ACTIONS(steps))
    def body(program: list) -> None:
        shrinking = bool(failures)
        if shrinking:
            if replays[0] >= SHRINK_BUDGET:
                return
            replays[0] += 1
            tally.replays += 1
        elif tally.sequences >= n:
            return
        try:
            r = run_program(program, fresh=fresh, meta=meta, netstat=netstat,
                            keep_text=keep_longest or (keep_dir is not None and not shrinking),
                            watchdog=watchdog, observers=observers,
                            number_in_worker=tally.sequences + tally.replays)
        except Exception as e:  # a bug of ours: report it, do not shrink it
            r = SeqResult("error", [list(a) for a in program],
                          reason=f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        sig = signature(r) if r.verdict == "diverges" else None
        if not shrinking:
            tally.sequences += 1
            tally.calls += len(r.calls)
            tally.skipped += r.skipped
            if keep_longest and (tally.longest is None or len(r.calls) > len(tally.longest.calls)):
                tally.longest = r
            if keep_calls:
                tally.programs.append(r.calls)
            if r.verdict == "conforms":
                tally.conforms += 1
                if keep_dir is not None:
                    name = f"w{meta.get('worker', 0)}-{tally.sequences:05d}.jsonl"
                    with open(os.path.join(keep_dir, name), "x") as f:
                        f.write(r.trace_text)
            elif r.verdict == "error":
                tally.errors += 1
                if len(tally.error_samples) < 3:
                    tally.error_samples.append(r)
            else:
                tally.diverged += 1
                if sig in known:
                    known[sig].count += 1
        if after_sequence is not None:
            after_sequence(tally, shrinking)
        if sig is None:
            return
        if not shrinking and sig not in known:
            being_shrunk.append(sig)
        if being_shrunk and sig == being_shrunk[0]:
            failures.append(r)
            raise _Diverged()  # one place: hypothesis tells failures apart by where they are raised

    try:
        body()
    except _Diverged:
        pass
    except Exception:
        if not failures:
            raise  # not ours (a complaint about a flaky replay after a divergence is expected)
    if not failures:
        return None
    known[being_shrunk[0]] = DivergenceKind(being_shrunk[0], 1, min(failures, key=SeqResult.size),
                                            len(failures[0].calls), replays[0])
    return being_shrunk[0]


def preload() -> None:
    """Import hypothesis's strategies before forking workers (not once per worker)."""
    import hypothesis.strategies  # noqa: F401
    from hypothesis import given  # noqa: F401
    ACTIONS(2)


def worker_seed(seed: int, worker: int) -> int:
    """Worker ``worker``'s hypothesis seed, derived from the campaign's seed."""
    return random.Random(f"conform-run:{seed}:{worker}").getrandbits(64)


def split(n: int, jobs: int) -> list[int]:
    """``n`` sequences over at most ``jobs`` workers (none gets 0)."""
    jobs = max(1, min(jobs, n)) if n > 0 else 1
    return [n // jobs + (1 if k < n % jobs else 0) for k in range(jobs)]


# ---------------------------------------------------------------------------
# The campaign, over worker processes
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CampaignJob:
    """One worker's share of a campaign."""

    sequences: int
    seed: int                # the campaign's
    worker: int
    workers: int
    hypothesis_seed: int     # this worker's (:func:`worker_seed`)
    steps: int
    netstat: bool = False    # record x-netstat (for --explain)
    keep_longest: bool = False
    keep_calls: bool = False
    watchdog: float = WATCHDOG
    observers: ObserverSpec | None = None
    keep_dir: str | None = None  # write every conforming sequence's trace there


def campaign_jobs(n: int, seed: int, jobs: int, steps: int, **options: Any) -> list[CampaignJob]:
    """The workers' shares of ``n`` sequences (``options``: the other fields of :class:`CampaignJob`)."""
    shares = split(n, jobs)
    return [CampaignJob(share, seed, k, len(shares), worker_seed(seed, k), steps, **options)
            for k, share in enumerate(shares)]


@dataclass(frozen=True)
class SequencesRun:
    """A worker's progress: sequences run, shrinking runs, whether it is shrinking now."""

    sequences: int
    replays: int
    shrinking: bool


def random_target(job: CampaignJob, worker: Worker) -> None:
    """Worker target of a random campaign: explore, sending progress, then the ExploreResult."""
    last = [0.0]

    def after_sequence(state: ExploreResult, shrinking: bool) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.2 or (not shrinking and state.sequences == job.sequences):
            last[0] = now
            worker.send(SequencesRun(state.sequences, state.replays, shrinking))

    meta = {"seed": job.seed, "worker": job.worker, "jobs": job.workers,
            "hypothesis_seed": job.hypothesis_seed, "isolation": worker.isolated.mode}
    worker.send(explore(job.sequences, job.hypothesis_seed, steps=job.steps, fresh=worker.fresh, meta=meta,
                        after_sequence=after_sequence, netstat=job.netstat, keep_longest=job.keep_longest,
                        keep_calls=job.keep_calls, watchdog=job.watchdog, observers=job.observers,
                        keep_dir=job.keep_dir))


def run_campaign(n: int, seed: int, *, jobs: int | None = None, steps: int = 20, isolation: str = "auto",
                 observers: bool = True, out_dir: str | None = None, explain: bool = False,
                 progress: Callable[[Started | Progress], None] | None = None,
                 keep_dir: str | None = None) -> CampaignReport:
    """Run ``n`` random sequences from ``seed`` over ``jobs`` workers (default one per core)
    and report what they found (see the module docstring).  ``progress`` is told when the
    campaign starts and every 50 sequences.  With ``explain``: every divergence (or worker
    0's longest sequence, when none diverges) explained.  Raises
    :class:`~tcpconform.live.outdir.RunRefused` before anything runs when ``out_dir`` cannot
    be used; :class:`~tcpconform.live.pool.Interrupted` (saying how many sequences had run)
    on SIGINT/SIGTERM.  ``keep_dir``: an existing folder where every sequence that
    conforms is written as a trace (:func:`explore`)."""
    outdir.prepare(out_dir)
    preload()  # imported once here, not once per forked worker
    tell = progress or (lambda event: None)
    work = campaign_jobs(n, seed, (os.cpu_count() or 1) if jobs is None else jobs, steps, netstat=explain,
                         keep_dir=keep_dir)
    done = [0] * len(work)
    results: dict[int, ExploreResult] = {}
    started = time.monotonic()
    printed = [0]
    tell(Started(n, seed, len(work), steps))

    def handle(index: int, msg: SequencesRun | ExploreResult) -> None:
        if isinstance(msg, SequencesRun):
            done[index] = msg.sequences
            total = sum(done)
            if total // 50 > printed[0] // 50 or (total == n and printed[0] != n):
                printed[0] = total
                tell(Progress(total, n, total / max(time.monotonic() - started, 1e-9),
                              index if msg.shrinking else None, msg.replays))
        else:
            results[index] = msg

    with worker_specs(len(work), observers, isolation) as (specs, states_off):
        work = [replace(job, observers=spec, keep_longest=explain and job.worker == 0)
                for job, spec in zip(work, specs)]
        try:
            pool_report = run_workers(work, random_target, handle, isolation)
        except Interrupted as e:
            e.progress = f"{sum(done)} of {n} sequences had run."
            raise
    observed = ("x-packet and x-state recorded and checked" if states_off is None
                else f"x-state off: {states_off}" + ("" if observers and isolation != "none" else "; x-packet off too"))
    return campaign_report.report(n, seed, len(work), steps, results, pool_report.problems, time.monotonic() - started,
                                  out_dir, explain, observed, pool_report.ready)
