"""The properties, each declared once: name, origin, formula, premise, mutant.

A property's ``formula(c)`` is over the current state of the composed
system ``c`` (:mod:`tcpconform.properties.compose`) and the variables of one step from
it (which slot acts, the trigger, the return value, what is sent, the next
state).  It is proven when it holds for **every step from every reachable
state** — an invariant of the reachable steps, so it covers properties of
states (those that mention only the current state) and of calls alike.

``premise(c)`` is the situation the property is about; the vacuity check
asks z3 for a run that reaches it (a property whose premise is unreachable
would hold for nothing).  ``mutant`` names the broken table
(:mod:`tcpconform.properties.mutants`) under which the property must be refuted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import z3

from tcpconform.model import rules
from tcpconform.model import z3enc as E

from tcpconform.properties.compose import CHANNELS, CLIENTS, SERVERS, SLOT, SLOTS, SYNC, Composed, queue_full


@dataclass(frozen=True)
class Clause:
    """One clause of a hand-written strengthening: what it says, and the
    counterexample to induction that forced it (a state satisfying the other
    clauses with a step out of them, or into a violation)."""
    text: str
    forced_by: str
    formula: Callable[[Composed], z3.BoolRef]


@dataclass(frozen=True)
class Property:
    name: str
    origin: str
    text: str
    formula: Callable[[Composed], z3.BoolRef]
    premise: Callable[[Composed], z3.BoolRef]
    mutant: str
    strengthening: tuple[Clause, ...] = ()  # a hand-written inductive invariant, when there is one


def strengthened(p: Property, c: Composed) -> z3.BoolRef | None:
    """The property's hand-written inductive invariant over ``c`` (None
    when it has none: Spacer found its certificate alone)."""
    return z3.And([k.formula(c) for k in p.strengthening]) if p.strengthening else None


def actor(c: Composed, f: Callable[[str], z3.BoolRef], slots=SLOTS) -> z3.BoolRef:
    """``f(s)`` for the slot ``s`` that takes the step (false for network steps
    and for slots not in ``slots``)."""
    return z3.Or([z3.And(c.act == SLOT.lit(s), f(s)) for s in slots])


def ok(c: Composed) -> z3.BoolRef:
    return c.ret == E.RET.lit("ok")


def recv_eof(c: Composed) -> z3.BoolRef:
    """recv() asked for bytes and returned 0: end-of-stream."""
    return z3.And(c.is_trigger("call:recv"), ok(c), c.par["has_len"], c.par["len"] > 0, c.par["n"] == 0)


def _listener_data(c: Composed, s: str) -> z3.BoolRef:
    """Slot ``s``, listening, carries data in this step."""
    return z3.And(c.st_in(s, {"LISTEN"}), z3.Or(
        z3.And(c.is_trigger("call:send", "call:recv"), ok(c)),
        c.emit["DATA"],
        z3.And(c.n(s, "pos"), z3.Not(c.v(s, "pos")))))


CATALOG: tuple[Property, ...] = (
    Property(
        "no_send_before_established",
        "design card: 'no send succeeds before the client reaches ESTABLISHED'",
        "send() returns ok only on a socket whose current connection has reached ESTABLISHED "
        "(or a state after it)",
        lambda c: z3.Not(actor(c, lambda s: z3.And(c.is_trigger("call:send"), ok(c), z3.Not(c.v(s, "sync"))))),
        lambda c: actor(c, lambda s: z3.And(c.is_trigger("call:send"), c.st_in(s, {"SYN_SENT"}))),
        "send_in_syn_sent"),
    Property(
        "listener_carries_no_data",
        "design card: 'a listening socket never carries data'; seed S10",
        "on a LISTEN socket no send() or recv() returns ok, it sends no DATA, and no step "
        "puts bytes into its receive queue",
        lambda c: z3.Not(actor(c, lambda s: _listener_data(c, s))),
        lambda c: actor(c, lambda s: z3.And(c.st_in(s, {"LISTEN"}), c.is_trigger("call:send", "call:recv"))),
        "recv_on_listener_ok"),
    Property(
        "listener_stays_listen_across_accept",
        "seed S11 ('the listening socket stays in LISTEN')",
        "accept() on a LISTEN socket leaves it in LISTEN",
        lambda c: z3.Not(actor(c, lambda s: z3.And(c.is_trigger("call:accept"), c.st_in(s, {"LISTEN"}),
                                                   z3.Not(c.st_in(s, {"LISTEN"}, nxt=True))))),
        lambda c: actor(c, lambda s: z3.And(c.is_trigger("call:accept"), ok(c))),
        "accept_moves_listener"),
    Property(
        "eof_only_after_fin",
        "R9293 §3.10.3",
        "recv() reports end-of-stream only on a socket that received the peer's FIN (or a RST, "
        "or gave up on a timer, or shut down its reading side itself)",
        lambda c: z3.Not(actor(c, lambda s: z3.And(recv_eof(c), z3.Not(c.v(s, "eofc"))))),
        lambda c: actor(c, lambda s: z3.And(recv_eof(c), c.v(s, "done"))),
        "recv_eof_when_closed"),
    Property(
        "connect_no_second_handshake",
        "af_inet.c __inet_stream_connect",
        "connect() on a socket that is not CLOSED never sends a SYN (an open descriptor whose "
        "connection is in TIME_WAIT reads CLOSED: rules.CLOSEDISH)",
        lambda c: z3.Not(actor(c, lambda s: z3.And(c.is_trigger("call:connect"),
                                                   z3.Not(c.st_in(s, rules.CLOSEDISH)), c.emit["SYN"]))),
        lambda c: actor(c, lambda s: z3.And(c.is_trigger("call:connect"), c.st_in(s, {"LISTEN"}))),
        "connect_on_listener"),
    Property(
        "refused_before_listen",
        "seed S1 ('before listen(), every connection request to that port is refused')",
        "until listen() on the server socket returns ok, no server-side connection exists and "
        "no client's connection gets past the handshake",
        lambda c: z3.Implies(z3.Not(c.cur["listened"]), z3.And(
            *[z3.Not(c.v(a, "live")) for a in SERVERS],
            *[z3.Not(c.v(s, "sync")) for s in CLIENTS],
            *[z3.Not(c.st_in(s, SYNC | {"SYN_RECEIVED"})) for s in CLIENTS])),
        lambda c: z3.And(z3.Not(c.cur["listened"]), actor(
            c, lambda s: z3.And(c.is_trigger("seg"), c.par["seg"] == E.PARAM_DOMAINS["seg"].lit("RST"),
                                c.st_in(s, {"SYN_SENT"})), CLIENTS)),
        "bind_listens"),
)



def _dequeues(c: Composed, a: str) -> z3.BoolRef:
    """The step is accept() on ``L`` handing out server-side slot ``a``."""
    return z3.And(c.act == SLOT.lit("L"), c.tag["dequeue"],
                  c.v(a, "fd") == E.FIELD_DOMAINS["fd"].lit("none"),
                  c.n(a, "fd") == E.FIELD_DOMAINS["fd"].lit("open"))


CATALOG += (
    Property(
        "accept_returns_completed_connection",
        "seed S12, refuted as stated: accept() does not create the socket in SYN_RCVD; "
        "inet_csk_accept only dequeues a connection whose handshake the kernel completed",
        "accept() returns only a connection that has completed its handshake (it reached "
        "ESTABLISHED; it may have been reset since, as Linux hands out reset children too), "
        "never a request still in SYN_RECEIVED",
        lambda c: z3.Not(z3.Or([z3.And(_dequeues(c, a), z3.Not(c.v(a, "sync"))) for a in SERVERS])),
        lambda c: z3.Or([_dequeues(c, a) for a in SERVERS]),
        "enqueue_before_ack"),
    Property(
        "no_data_after_fin",
        "R9293 §3.10.7.4 (a FIN is the last segment of the peer's byte stream)",
        "once the peer's FIN has arrived on a connection, no step adds bytes to its receive queue",
        lambda c: z3.Not(actor(c, lambda s: z3.And(c.v(s, "done"), c.n(s, "pos"), z3.Not(c.v(s, "pos"))))),
        lambda c: actor(c, lambda s: z3.And(c.v(s, "done"), c.is_trigger("seg"))),
        "ack_taken_for_fin"),
)



def _receiver(ch: str) -> str:
    """The slot that receives what channel ``ch`` carries."""
    return ("A" if ch.startswith("up") else "C") + ch[2:]


# The certificates of the next two properties are these clauses (Spacer also
# proves both, in 25-90 s depending on the load, with 46 and 55 clauses).
BYTES_STRENGTHENING = (
    Clause("on each channel, bytes read + bytes queued at the receiver + bytes in flight <= bytes sent",
           "read <= sent alone: up1.read 1, A1.rcvq 1, up1.sent 1; A1's recv() of its queued byte "
           "makes read 2 > sent 1",
           lambda c: z3.And([c.cur[f"{ch}.read"] + c.v(_receiver(ch), "rcvq") + c.cur[f"{ch}.fl"]
                             <= c.cur[f"{ch}.sent"] for ch in CHANNELS])),
    Clause("bytes in flight are never negative",
           "up1.sent 0, up1.read 1, up1.fl -1 satisfies the sum (1 + 0 - 1 <= 0) with read > sent",
           lambda c: z3.And([c.cur[f"{ch}.fl"] >= 0 for ch in CHANNELS])),
    Clause("a receiver's queue is never negative",
           "A1.rcvq -1, up1.read 1, up1.sent 0 satisfies the sum; a SYN reaching L makes a new request "
           "sock in A1 with an empty queue, and the sum becomes 1 > 0",
           lambda c: z3.And([c.v(_receiver(ch), "rcvq") >= 0 for ch in CHANNELS])),
)
_FIN_FIRST_STATES = {"FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "TIME_WAIT"}
FIN_STRENGTHENING = (
    Clause("a socket in FIN_WAIT_1, FIN_WAIT_2, CLOSING or TIME_WAIT sent its FIN before the peer's "
           "reached it (fin1)",
           "the property alone: C1 in FIN_WAIT_2 with fin1 clear takes the peer's FIN into TIME_WAIT",
           lambda c: z3.And([z3.Implies(c.st_in(s, _FIN_FIRST_STATES), c.v(s, "fin1")) for s in SLOTS])),
    Clause("a socket the peer's FIN reached is not in ESTABLISHED, SYN_SENT or SYN_RECEIVED",
           "A2 in SYN_RECEIVED with finin set and fin1 clear: shutdown(SHUT_WR) sends its FIN and "
           "enters FIN_WAIT_1 without fin1 (finin says the peer's FIN came first)",
           lambda c: z3.And([z3.Implies(c.v(s, "finin"),
                                        z3.Not(c.st_in(s, {"ESTABLISHED", "SYN_SENT", "SYN_RECEIVED"})))
                             for s in SLOTS])),
)


def _enters_time_wait(c: Composed, s: str) -> z3.BoolRef:
    return z3.And(z3.Not(c.st_in(s, {"TIME_WAIT"})), c.st_in(s, {"TIME_WAIT"}, nxt=True))


CATALOG += (
    Property(
        "accepted_has_listener_address",
        "seed S11 ('the new socket has the same local address and port as the listener')",
        "accept() returns a socket whose local port is the listener's (every address here is "
        "127.0.0.1: bounds.PORTS)",
        lambda c: z3.Not(z3.Or([z3.And(_dequeues(c, a), c.v(a, "port") != c.v("L", "port")) for a in SERVERS])),
        lambda c: z3.Or([_dequeues(c, a) for a in SERVERS]),
        "bind_moves_listener"),
    Property(
        "received_within_sent",
        "R9293 §3.10.4 (RECEIVE returns only text the peer SENT)",
        "on each client/server pair and direction, the bytes recv() returned never exceed the "
        "bytes the peer's send() returned (summed over the pair's successive connections)",
        lambda c: z3.And([c.nxt[f"{ch}.read"] <= c.nxt[f"{ch}.sent"] for ch in CHANNELS]),
        lambda c: actor(c, lambda s: z3.And(c.is_trigger("call:recv"), ok(c), c.par["n"] > 0),
                        (*CLIENTS, *SERVERS)),
        "recv_fills_buffer", BYTES_STRENGTHENING),
    Property(
        "time_wait_only_after_own_fin_first",
        "R9293 §3.6 and Fig. 5 (the side that closes first waits in TIME-WAIT)",
        "a connection enters TIME_WAIT only on a side that sent its FIN before the peer's FIN "
        "reached it (in a simultaneous close both sides did, and both wait)",
        lambda c: z3.Not(actor(c, lambda s: z3.And(_enters_time_wait(c, s), z3.Not(c.v(s, "fin1"))))),
        lambda c: actor(c, lambda s: _enters_time_wait(c, s)),
        "close_wait_waits", FIN_STRENGTHENING),
)


def _sends_fin(c: Composed) -> z3.BoolRef:
    return z3.Or(c.emit["FIN"], c.emit["FINACK"])


def _rst_arrives(c: Composed) -> z3.BoolRef:
    return z3.And(c.is_trigger("seg"), c.par["seg"] == E.PARAM_DOMAINS["seg"].lit("RST"))


def _ack_waits(c: Composed, a: str) -> z3.BoolRef:
    """Request sock ``a`` has its client's ACK at the head of its channel."""
    ch = "up" + a[1:]
    return z3.And(c.v(a, "live"), z3.Not(c.v(a, "queued")), c.st_in(a, {"SYN_RECEIVED"}),
                  c.v(a, "fd") == E.FIELD_DOMAINS["fd"].lit("none"),
                  c.cur[f"{ch}.v0"], c.cur[f"{ch}.k0"] == E.PARAM_DOMAINS["seg"].lit("ACK"))


CATALOG += (  # what a TCP expert would also expect
    Property(
        "fin_sent_once",
        "R9293 §3.6 (CLOSE: the FIN is sent once, after all data; later CLOSE or SHUTDOWN calls "
        "only change the local side); tcp.c tcp_close_state / tcp_shutdown",
        "a connection sends its FIN at most once: after its FIN (or FINACK) no step of the same "
        "connection sends another one (retransmissions are not modelled)",
        lambda c: z3.Not(actor(c, lambda s: z3.And(_sends_fin(c), c.v(s, "finout")))),
        lambda c: actor(c, lambda s: z3.And(c.is_trigger("call:close"), c.v(s, "finout"))),
        "close_after_shutdown_sends_fin"),
    Property(
        "rst_leaves_no_synchronized_state",
        "R9293 §3.10.7.4 (a RST in a synchronized state: enter CLOSED, delete the TCB); "
        "tcp_input.c tcp_reset",
        "a RST that reaches a socket never leaves it in a synchronized state (ESTABLISHED … "
        "TIME_WAIT): it ends the connection",
        lambda c: z3.Not(actor(c, lambda s: z3.And(_rst_arrives(c), c.st_in(s, SYNC, nxt=True)))),
        lambda c: actor(c, lambda s: z3.And(_rst_arrives(c), c.st_in(s, SYNC))),
        "rst_challenged"),
    Property(
        "accept_queue_within_capacity",
        "include/net/sock.h sk_acceptq_is_full (backlog + 1 fit); tcp_minisocks.c tcp_check_req "
        "(the final ACK at a full queue is dropped)",
        "a connection joins the listener's accept queue only while the queue holds fewer "
        "connections than its capacity (so it never exceeds the capacity it had when the "
        "connection came); premise: a request sock's ACK waits at a full queue",
        lambda c: z3.Not(z3.Or([z3.And(c.act == SLOT.lit(a), c.tag["enqueue"], queue_full(c)) for a in SERVERS])),
        lambda c: z3.And(c.st_in("L", {"LISTEN"}), queue_full(c), z3.Or([_ack_waits(c, a) for a in SERVERS])),
        "ack_joins_full_queue"),
)

BY_NAME = {p.name: p for p in CATALOG}
