"""Named broken variants of the rule table: modified copies of ``rules.CASES``.

Each mutant is what a plausible misreading of TCP would write; the property
that names it must be refuted under it (with a counterexample), which shows
the property can fail.  The real table is never modified.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from tcpconform.model import rules
from tcpconform.model.table import case, out

Cases = tuple


def _edit(cid: str, **kw) -> Callable[[Cases], Cases]:
    """Replace fields of case ``cid``."""
    def f(cases: Cases) -> Cases:
        assert any(c.id == cid for c in cases), cid
        return tuple(replace(c, **kw) if c.id == cid else c for c in cases)
    return f


def _drop(cid: str) -> Callable[[Cases], Cases]:
    def f(cases: Cases) -> Cases:
        assert any(c.id == cid for c in cases), cid
        return tuple(c for c in cases if c.id != cid)
    return f


def _outcomes(cid: str, *outs) -> Callable[[Cases], Cases]:
    """Case ``cid`` with new outcomes (named after the case)."""
    def f(cases: Cases) -> Cases:
        old = next(c for c in cases if c.id == cid)
        new = case(old.id, old.trigger, None, *outs, source="mutant")
        return _edit(cid, outcomes=new.outcomes)(cases)
    return f


def _all(*edits: Callable[[Cases], Cases]) -> Callable[[Cases], Cases]:
    """Several edits, in order."""
    def f(cases: Cases) -> Cases:
        for e in edits:
            cases = e(cases)
        return cases
    return f


MUTANTS: dict[str, tuple[str, Callable[[Cases], Cases]]] = {
    "send_in_syn_sent": (
        "send() during the handshake copies the data and returns ok",
        _outcomes("send.handshake", out(n="len", emit=("DATA",)))),
    "recv_on_listener_ok": (
        "recv() on a listener returns 0 (end-of-stream) instead of ENOTCONN",
        _outcomes("recv.listen", out(n="zero"))),
    "accept_moves_listener": (
        "accept() turns the listener itself into the connection (ESTABLISHED)",
        _outcomes("accept.ok", out(set=dict(st="ESTABLISHED"), tags=("dequeue",)))),
    "recv_eof_when_closed": (
        "recv() on a CLOSED socket reports end-of-stream instead of ENOTCONN",
        _outcomes("recv.closed", out(n="zero"))),
    "connect_on_listener": (
        "connect() on a listener starts a handshake (RFC 9293 LISTEN -> SYN-SENT)",
        _drop("connect.listening")),
    "bind_listens": (
        "bind() alone makes the socket accept connections",
        _outcomes("bind.ok", out(set=dict(bound="explicit", st="LISTEN"), tags=("set_local",)))),
    "enqueue_before_ack": (
        "a request sock joins the accept queue on the client's ACK without recording the "
        "handshake (it stays SYN_RECEIVED): the seed's S12 reading",
        _outcomes("req.ack", out(tags=("enqueue",)))),
    "ack_taken_for_fin": (
        "the ACK completing a passive handshake is taken for the peer's FIN (SOCK_DONE set)",
        _outcomes("req.ack", out(set=dict(st="ESTABLISHED", done=True), tags=("enqueue",)))),
    "bind_moves_listener": (
        "bind() on a bound socket, a listener included, moves it to the new address "
        "(no EINVAL: the checks of __inet_bind left out)",
        _all(_drop("bind.bound"), _drop("bind.state"))),
    "recv_fills_buffer": (
        "recv() returns as many bytes as were asked for, whatever is queued (the novice's reading "
        "of recv(fd, buf, len))",
        _outcomes("recv.data", out(n="len", rcvq="minus_n"))),
    "close_wait_waits": (
        "whoever calls close() waits: close() in CLOSE_WAIT sends the FIN and enters TIME_WAIT "
        "(instead of LAST_ACK)",
        _outcomes("close.closewait", out(set=dict(rules.CLOSE_ALL, **rules.TIME_WAIT_ENTRY), emit=("FINACK",)))),
    "close_after_shutdown_sends_fin": (
        "close() after shutdown(SHUT_WR) sends a second FIN",
        _outcomes("close.closing", out(set=rules.CLOSE_ALL, emit=("FIN",)))),
    "rst_challenged": (
        "a RST in ESTABLISHED is answered by a challenge ACK and ignored (RFC 5961 §3.2 read as "
        "applying to every RST, the exact-sequence one included)",
        _outcomes("est.rst", out(emit=("ACK",)))),
    "so-error-not-cleared": (
        "getsockopt(SO_ERROR) reports the pending error and leaves it pending (read as a plain getter)",
        _outcomes("getsockopt.error", out(value="err"))),
    "close-ignores-other-descriptors": (
        "close() ends the connection whatever other descriptors of the socket are open (dup and fork forgotten)",
        _drop("close.shared")),
    "ack_joins_full_queue": (
        "the final ACK completes the connection whatever the accept queue holds (no "
        "sk_acceptq_is_full check)",
        _drop("req.full")),
}


def mutant(name: str) -> Cases:
    """The mutated copy of the real table (cached, so its encoding is built once)."""
    if name not in _CACHE:
        _CACHE[name] = MUTANTS[name][1](tuple(rules.CASES))
    return _CACHE[name]


_CACHE: dict[str, Cases] = {}
