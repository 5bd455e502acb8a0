"""Witnesses: situations the composed system must be able to reach, each
declared once — a name, where it comes from (a seed claim id of
../shared/seed/claims.md or the literature), what it shows, and a target
over a whole run — and each shown by a concrete run that z3 finds
(:func:`tcpconform.properties.runs.find`: a stored run re-checked against the current
rules, else bounded model checking).

A witness is reachability, not a proof: its verdict is ``witnessed`` (with
the run) or ``unreached`` within its depth.  Its runs are searched under
:class:`tcpconform.properties.runs.Realism`, so that each becomes a loopback trace that
``conform check`` accepts (a test checks every one).

Targets talk about the whole run (:class:`tcpconform.properties.runs.Path`): ``p.at(k,
f)`` reads a formula over one step at step ``k``.  Byte counts: the realism
constraints make every send carry ``DATA_BYTES`` and chain each slot's
receive queue from step to step, so "the bytes of that one send" is stated
by allowing exactly one DATA segment in the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import z3

from tcpconform.model import z3enc as E

from tcpconform.properties import bounds as B
from tcpconform.properties.compose import CLIENTS, SLOT, Composed
from tcpconform.properties.runs import Path

PAIRS = tuple((f"C{i}", f"A{i}") for i in range(1, B.CLIENTS + 1))  # a client and its server side


@dataclass(frozen=True)
class Witness:
    name: str
    origin: str
    text: str
    target: Callable[[Composed, Path], z3.BoolRef]
    depth: int = B.BMC_DEPTH
    claim: str | None = None      # the seed claim it shows (or refutes), for docs/claims.md
    refutes: bool = False         # the run contradicts the claim as the seed states it
    unreachable: str = ""         # why the composed system cannot reach it (a known gap, reported as such)
    system: str = "composed"      # "pair": tcpconform.properties.pair, two sockets connecting to each other


# ---------------------------------------------------------------------------
# One-step predicates (over c.cur, c.nxt and the step variables)
# ---------------------------------------------------------------------------

def acts(c: Composed, s: str) -> z3.BoolRef:
    return c.act == SLOT.lit(s)


def ok(c: Composed) -> z3.BoolRef:
    return c.ret == E.RET.lit("ok")


def call_ok(c: Composed, s: str, op: str) -> z3.BoolRef:
    return z3.And(acts(c, s), c.is_trigger(f"call:{op}"), ok(c))


def reads_bytes(c: Composed, s: str) -> z3.BoolRef:
    """``s`` takes bytes from its receive queue: recv() returned n > 0."""
    return z3.And(call_ok(c, s, "recv"), c.par["n"] > 0)


def live(c: Composed, s: str, nxt: bool = False) -> z3.BoolRef:
    """A slot that holds a socket (server-side slots come and go)."""
    if s in CLIENTS or s == "L":
        return z3.BoolVal(True)
    return (c.nxt if nxt else c.cur)[f"{s}.live"]


def in_state(c: Composed, s: str, states, nxt: bool = False) -> z3.BoolRef:
    return z3.And(live(c, s, nxt), c.st_in(s, set(states), nxt=nxt))


def anywhere(p: Path, f: z3.BoolRef, lo: int = 0, hi: int | None = None) -> z3.BoolRef:
    return z3.Or([p.at(k, f) for k in range(lo, len(p) if hi is None else hi)] or [z3.BoolVal(False)])


def nowhere(p: Path, f: z3.BoolRef, lo: int = 0, hi: int | None = None) -> z3.BoolRef:
    return z3.Not(anywhere(p, f, lo, hi))


def last(p: Path, f: z3.BoolRef) -> z3.BoolRef:
    return p.at(len(p) - 1, f)


# ---------------------------------------------------------------------------
# The targets
# ---------------------------------------------------------------------------

def _s3(c: Composed, p: Path) -> z3.BoolRef:
    """The last step: a client in ESTABLISHED sends, ok, while its server
    side is a request sock still in SYN_RECEIVED."""
    return last(p, z3.Or([z3.And(call_ok(c, cl, "send"), c.st_in(cl, {"ESTABLISHED"}),
                                 in_state(c, a, {"SYN_RECEIVED"})) for cl, a in PAIRS]))


def _s8(c: Composed, p: Path) -> z3.BoolRef:
    """A send returns ok (step j) while the peer's receive queue is empty;
    the client sent no DATA before and sends nothing after; the bytes reach the peer's receive queue,
    and the peer application closes its socket with them unread (its last
    step): no recv of the peer took any byte after j, and none ever can."""
    n = len(p)
    alts = []
    for cl, a in PAIRS:
        send, data, reads = call_ok(c, cl, "send"), z3.And(acts(c, cl), c.emit["DATA"]), reads_bytes(c, a)
        closes = last(p, z3.And(call_ok(c, a, "close"), c.v(a, "pos")))
        for j in range(n - 1):
            alts.append(z3.And(p.at(j, z3.And(send, z3.Not(c.v(a, "pos")))), nowhere(p, data, 0, j),
                               nowhere(p, send, j + 1), nowhere(p, reads, j + 1), closes))
    return z3.Or(alts) if alts else z3.BoolVal(False)


def _s9(c: Composed, p: Path) -> z3.BoolRef:
    """Exactly one DATA segment in the whole run, sent by a client's send()
    (step j); two recv() calls on its server side after it return ok with
    n > 0 (the second is the last step), together at most what the send
    took: both read bytes of that one send."""
    n = len(p)
    data = c.emit["DATA"]
    alts = []
    for cl, a in PAIRS:
        send, reads = call_ok(c, cl, "send"), reads_bytes(c, a)
        for j in range(n - 2):
            once = z3.And(p.at(j, send), p.at(j, data), nowhere(p, data, 0, j), nowhere(p, data, j + 1),
                          last(p, reads))
            for k1 in range(j + 1, n - 1):
                alts.append(z3.And(once, p.at(k1, reads),
                                   p.at(k1, c.par["n"]) + last(p, c.par["n"]) <= p.at(j, c.par["n"])))
    return z3.Or(alts) if alts else z3.BoolVal(False)


def _simultaneous_open(c: Composed, p: Path) -> z3.BoolRef:
    """The last step: a SYN reaches a socket in SYN_SENT (RFC 9293 Fig. 5:
    SYN-SENT → SYN-RECEIVED on a SYN without ACK)."""
    return last(p, z3.Or([z3.And(acts(c, s), c.is_trigger("seg"),
                                 c.par["seg"] == E.PARAM_DOMAINS["seg"].lit("SYN"),
                                 in_state(c, s, {"SYN_SENT"}), in_state(c, s, {"SYN_RECEIVED"}, nxt=True))
                          for s in ("L", *CLIENTS, *(a for _, a in PAIRS))]))


def _simultaneous_open_pair(c, p: Path) -> z3.BoolRef:
    """On the pair (tcpconform.properties.pair): each socket, in SYN_SENT, receives the
    other's SYN and moves to SYN_RECEIVED; after the last step both are
    ESTABLISHED."""
    from tcpconform.properties import pair
    syn = E.PARAM_DOMAINS["seg"].lit("SYN")
    crossed = [anywhere(p, z3.And(c.act == pair.SLOT.lit(s), c.is_trigger("seg"), c.par["seg"] == syn,
                                  c.st_in(s, {"SYN_SENT"}), c.st_in(s, {"SYN_RECEIVED"}, nxt=True)))
               for s in pair.SOCKS]
    return z3.And(*crossed, last(p, z3.And([c.st_in(s, {"ESTABLISHED"}, nxt=True) for s in pair.SOCKS])))


def _simultaneous_close(c: Composed, p: Path) -> z3.BoolRef:
    """After the last step both ends of a connection are in CLOSING: each
    sent its FIN and then received the other's before its own was
    acknowledged.  The server side was accepted (its FIN is its
    application's, not one inherited from a listener shut for writing)."""
    return last(p, z3.Or([z3.And(in_state(c, cl, {"CLOSING"}, nxt=True), in_state(c, a, {"CLOSING"}, nxt=True),
                                 c.nxt[f"{a}.fd"] != E.FIELD_DOMAINS["fd"].lit("none"))
                          for cl, a in PAIRS]))


def _half_close(c: Composed, p: Path) -> z3.BoolRef:
    """One end shuts its writing side (shutdown(SHUT_WR) returns ok, step j);
    the other end receives that FIN (CLOSE_WAIT) and then sends (step m > j;
    it sent no DATA before j); the end that shut down receives those bytes
    (recv returns n > 0, the last step)."""
    n = len(p)
    wr = E.PARAM_DOMAINS["how"].lit("wr")
    alts = []
    for x, y in (*PAIRS, *((a, cl) for cl, a in PAIRS)):
        shut = z3.And(call_ok(c, x, "shutdown"), c.par["how"] == wr)
        data = z3.And(acts(c, y), c.emit["DATA"])
        sends = z3.And(call_ok(c, y, "send"), c.st_in(y, {"CLOSE_WAIT"}))
        for j in range(n - 2):
            alts.append(z3.And(p.at(j, shut), nowhere(p, data, 0, j), anywhere(p, sends, j + 1, n - 1),
                               last(p, reads_bytes(c, x))))
    return z3.Or(alts) if alts else z3.BoolVal(False)


def _s2(c: Composed, p: Path) -> z3.BoolRef:
    """After the last step a client and its server side are both ESTABLISHED."""
    return last(p, z3.Or([z3.And(in_state(c, cl, {"ESTABLISHED"}, nxt=True), in_state(c, a, {"ESTABLISHED"}, nxt=True))
                          for cl, a in PAIRS]))


def _s12(c: Composed, p: Path) -> z3.BoolRef:
    """No accept() is ever called, and after the last step a server-side
    socket is ESTABLISHED, waiting in the accept queue: the kernel completed
    the connection with no accept() at all."""
    return z3.And(nowhere(p, z3.And(acts(c, "L"), c.is_trigger("call:accept"))),
                  last(p, z3.Or([z3.And(in_state(c, a, {"ESTABLISHED"}, nxt=True), c.nxt[f"{a}.queued"])
                                 for _, a in PAIRS])))


def _s14(c: Composed, p: Path) -> z3.BoolRef:
    """One end of a connection passes CLOSE_WAIT (it received the peer's FIN
    first) and, after the last step, the other end is in TIME_WAIT."""
    return z3.Or([z3.And(anywhere(p, in_state(c, y, {"CLOSE_WAIT"}, nxt=True)),
                         last(p, in_state(c, x, {"TIME_WAIT"}, nxt=True)))
                  for cl, a in PAIRS for x, y in ((cl, a), (a, cl))])


def _s7(c: Composed, p: Path) -> z3.BoolRef:
    """The last step: connect() on a client that holds no local port sends
    a SYN and leaves the socket bound to a port the kernel picked."""
    bound = E.FIELD_DOMAINS["bound"]
    return last(p, z3.Or([z3.And(acts(c, cl), c.is_trigger("call:connect"), c.emit["SYN"],
                                 c.v(cl, "bound") == bound.lit("no"), c.n(cl, "bound") == bound.lit("auto"),
                                 c.st_in(cl, {"SYN_SENT"}, nxt=True)) for cl, _ in PAIRS]))


WITNESSES: tuple[Witness, ...] = (
    Witness("S3_send_before_server_established", "seed S3",
            "the client is ESTABLISHED and its send() returns ok while the server side is still SYN_RECEIVED",
            _s3, claim="S3"),
    Witness("S8_sent_but_never_read", "seed S8",
            "send() returns ok, the bytes reach the peer's receive queue, and the peer application closes "
            "without reading them: they never reach it",
            _s8, claim="S8"),
    Witness("S9_one_send_two_recvs", "seed S9",
            "the bytes of one send() (the only DATA segment of the run) are read by two recv() calls, "
            "each returning n > 0",
            _s9, depth=11, claim="S9"),
    Witness("simultaneous_open", "R9293 §3.5 Figure 8",
            "a SYN reaches a socket in SYN_SENT, which moves to SYN_RECEIVED",
            _simultaneous_open, depth=8,
            unreachable="the composed topology has no second active opener facing a client: clients "
                        "connect only to the listener's port, server-side sockets never connect, and the "
                        "listener's own SYNs reach no modelled peer (tcpconform/properties/bounds.py); witness "
                        "simultaneous_open_pair reaches it on two sockets facing each other, and the live "
                        "scenario simultaneous-open shows it on the kernel"),
    Witness("simultaneous_open_pair", "R9293 §3.5 Figure 8",
            "two sockets connect() to each other and their SYNs cross: each goes SYN_SENT → SYN_RECEIVED "
            "on the other's SYN, then both are ESTABLISHED (on tcpconform/properties/pair.py, two sockets facing each other)",
            _simultaneous_open_pair, depth=8, system="pair"),
    Witness("simultaneous_close", "R9293 §3.6 Figure 13",
            "both ends of a connection are in CLOSING: their FINs crossed",
            _simultaneous_close, depth=11),
    Witness("half_close", "R9293 §3.6 (half-closed connection)",
            "after shutdown(SHUT_WR) on one end, the other end (CLOSE_WAIT) still sends and the first "
            "end receives those bytes",
            _half_close, depth=12),
    Witness("S14_close_wait_and_time_wait", "seed S14",
            "closing a connection: one end passes CLOSE_WAIT, the other reaches TIME_WAIT",
            _s14, depth=12, claim="S14"),
    Witness("S7_connect_autobinds", "seed S7",
            "connect() on a socket with no local port picks one (bound: no → auto) and starts the handshake",
            _s7, claim="S7"),
    Witness("S2_handshake", "seed S2",
            "a client and its server-side socket are both ESTABLISHED",
            _s2, claim="S2"),
    Witness("S12_established_before_accept", "seed S12, refuted as stated",
            "with no accept() call at all, a server-side socket is ESTABLISHED in the accept queue: the "
            "kernel, not accept(), completes the connection",
            _s12, claim="S12", refutes=True),
)

BY_NAME = {w.name: w for w in WITNESSES}
