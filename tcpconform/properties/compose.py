"""The composed system as one z3 transition relation, generated from the rule table.

Topology (sizes in :mod:`tcpconform.properties.bounds`): a listener slot ``L``, client
slots ``C1``, ``C2``, and per client one server-side slot ``A1``, ``A2`` (the
request sock the listener spawns for that client's SYN, then the queued child,
then the accepted socket).  Between ``Ci`` and the server port there are two
lossy FIFO channels, ``upi`` (client to server) and ``dni`` (server to
client), each a few cells of segment kinds.

Every endpoint step is the per-endpoint relation of :func:`tcpconform.model.z3enc.transition_relation`
(built from ``cases``: the real table or a mutant) with its ``pre``/``post``
variables renamed to one slot's current and next state — one copy per slot.
This module adds only what :mod:`tcpconform.model.system` adds: which slot a segment
reaches (demultiplexing), the accept queue, the channels, and loss.  One step
is exactly one of: a call on a slot, a timer at a slot, the delivery of a
channel's head segment (to ``Ai``, to ``L``, or to no socket, which answers
RST), or the loss of a channel's head segment.

Abstractions (all over-approximations unless :mod:`tcpconform.properties.bounds` says
otherwise):

* ``<slot>.rcvq`` is the receive queue's byte count, as in the rules
  (``<slot>.pos``, its sign, is kept alongside: ``pos == rcvq > 0``).
  Channel cells carry a segment's kind, not its byte count: a DATA segment
  delivered carries any count up to ``<ch>.fl``, an upper bound of the DATA
  bytes in flight on the channel (a send adds its count; a delivery takes its
  count off; a loss, or a segment answered by no socket, leaves it: the bound
  only grows looser).  Every other segment, and every call or timer, carries
  0 bytes (``segn``).  Other byte counts of a step are free integers within
  the rules' byte-count rules.
* Local ports (``L.port``, ``Ai.port``): ``none``, ``P`` (the clients'
  port) or ``X`` (any other), bounds.PORTS; a segment to the server port
  reaches ``L`` only when it listens on ``P`` (tcpconform.model.system.deliveries' lookup:
  the exact connection, else a listener on the port, else no socket); a
  request sock's local port is the SYN's destination, ``P``.
* the inputs ``outstanding`` and ``conflict`` are free; segments a slot
  sends to no modelled peer (``L``'s own connection attempts) are lost.

Ghost variables (history the properties talk about; nothing reads them but
the properties, so they add no behaviour): ``<slot>.sync`` (the
slot's current connection got past the handshake), ``<slot>.eofc`` (a FIN,
FINACK or RST reached the slot, a timer aborted it, or it shut its reading
side), ``listened`` (listen() on ``L`` returned ok); per slot and connection
``finout`` (it sent its FIN or FINACK), ``finin`` (the peer's FIN or FINACK
reached it) and ``fin1`` (it sent its FIN while the peer's had not yet
reached it), all three cleared when the slot enters SYN_SENT, SYN_RECEIVED or
LISTEN; per channel ``sent`` (bytes the sender's send() calls returned) and
``read`` (bytes the receiver's recv() calls returned), summed over the
pair's successive connections: a channel is one FIFO per address pair and,
with no sequence numbers, nothing tells two connections of a pair apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import z3

from tcpconform.model import composition, rules, vocab
from tcpconform.model import z3enc as E
from tcpconform.model.table import PARAM_DEFAULTS

from tcpconform.properties import bounds as B

# The encoding below is written for these two bounds; changing them needs a new encoding.
assert B.QUEUE_CAPACITIES == (1, 2), "the capacity is one Bool, L.cap2"
assert B.SERVER_SLOTS_PER_CLIENT == 1, "one slot Ai per client Ci"

CLIENTS = tuple(f"C{i}" for i in range(1, B.CLIENTS + 1))
SERVERS = tuple(f"A{i}" for i in range(1, B.CLIENTS + 1))
SLOTS = ("L", *CLIENTS, *SERVERS)
SLOT = E.Finite("Slot", (*SLOTS, "NET"))
SEG = E.PARAM_DOMAINS["seg"]
FIELDS = tuple(E.FIELD_DOMAINS)
SYNC = {"ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"}
CALL_TRIGGERS = tuple(f"call:{c}" for c in vocab.CALLS)
TIMER_TRIGGERS = tuple(f"timer:{t}" for t in vocab.TIMERS)
CHANNELS = tuple(f"{d}{i}" for i in range(1, B.CLIENTS + 1) for d in ("up", "dn"))
# Local ports (B.PORTS): ``none`` (never bound), ``P`` (the port every client
# connects to), ``X`` (any other port).  Kept for the listener and the
# server-side slots; a client's own port matters to no property.
PORT = E.Finite("Port", ("none", *B.PORTS))
PORTED = ("L", *SERVERS)
FIN_GHOSTS = ("finout", "finin", "fin1")
BYTE_GHOSTS = ("sent", "read", "fl")
FINS = {"FIN", "FINACK"}


def _state_sorts() -> dict[str, z3.SortRef]:
    """Name and sort of every state variable."""
    sorts: dict[str, z3.SortRef] = {}
    for s in SLOTS:
        for f in FIELDS:
            sorts[f"{s}.{f}"] = E.FIELD_DOMAINS[f].sort
        for g in ("pos", "sync", "eofc", *FIN_GHOSTS):
            sorts[f"{s}.{g}"] = z3.BoolSort()
        sorts[f"{s}.rcvq"] = z3.IntSort()
    for s in PORTED:
        sorts[f"{s}.port"] = PORT.sort
    for a in SERVERS:
        sorts[f"{a}.live"] = z3.BoolSort()
        sorts[f"{a}.queued"] = z3.BoolSort()
    sorts["L.cap2"] = z3.BoolSort()
    sorts["listened"] = z3.BoolSort()
    for ch in CHANNELS:
        for k in range(B.CHANNEL_CAPACITY):
            sorts[f"{ch}.v{k}"] = z3.BoolSort()
            sorts[f"{ch}.k{k}"] = SEG.sort
        for g in BYTE_GHOSTS:
            sorts[f"{ch}.{g}"] = z3.IntSort()
    return sorts


SORTS = _state_sorts()
NAMES = tuple(SORTS)


def lit(field_: str, value) -> z3.ExprRef:
    return E.FIELD_DOMAINS[field_].lit(value)


class Slots:
    """What properties read of a system whose state variables are named
    ``<slot>.<field>`` in ``cur`` (now) and ``nxt`` (after the step), with a
    ``trigger`` step variable: this composition and :mod:`tcpconform.properties.pair`."""
    cur: dict
    nxt: dict
    trigger: z3.ExprRef

    def v(self, slot: str, f: str) -> z3.ExprRef:
        return self.cur[f"{slot}.{f}"]

    def n(self, slot: str, f: str) -> z3.ExprRef:
        return self.nxt[f"{slot}.{f}"]

    def is_trigger(self, *triggers: str) -> z3.BoolRef:
        return z3.Or([self.trigger == E.TRIGGER.lit(t) for t in triggers])

    def st_in(self, slot: str, states, nxt: bool = False) -> z3.BoolRef:
        x = (self.n if nxt else self.v)(slot, "st")
        return E.FIELD_DOMAINS["st"].member(x, states)


@dataclass
class Composed(Slots):
    """``cur``/``nxt``: state variables by name; ``init`` and ``trans``
    (over ``cur``, ``nxt`` and the step variables ``act``, ``chan`` and
    those of tcpconform.model.z3enc: trigger, ret, emit, tags, par, inp)."""
    cases: Sequence
    cur: dict = field(default_factory=dict)
    nxt: dict = field(default_factory=dict)
    init: z3.BoolRef | None = None
    trans: z3.BoolRef | None = None

    # step variables, shared by every disjunct
    act = SLOT.var("step.act")
    q = z3.Int("step.q")      # the actor's rcvq before the step
    q2 = z3.Int("step.q2")    # and after
    trigger = E.TRIGGER_VAR
    ret = E.RET_VAR
    emit = E.EMIT
    tag = E.TAG
    par = E.PAR
    inp = E.INP

    cap2 = z3.Bool("step.cap2")  # listen(): the capacity picked is 2
    port = PORT.var("step.port")  # bind()/autobind: the local port picked

    def step_vars(self) -> list:
        """Every variable of ``trans`` that is neither ``cur`` nor ``nxt``."""
        return [self.act, self.q, self.q2, self.cap2, self.port, self.trigger, self.ret, E.OUTCOME, E.VALUE_VAR,
                *self.emit.values(), *self.tag.values(), *self.par.values(), *self.inp.values()]



# ---------------------------------------------------------------------------
# Channels: FIFO of CHANNEL_CAPACITY cells (valid bit, kind), valid cells a prefix
# ---------------------------------------------------------------------------

def out_channel(s: str) -> str | None:
    """The channel slot ``s`` sends on (the listener's own segments reach no
    modelled peer)."""
    return {"C": "up", "A": "dn"}.get(s[0], "") + s[1:] if s != "L" else None


def in_channel(s: str) -> str | None:
    """The channel whose segments slot ``s`` receives as a connection's end."""
    return {"C": "dn", "A": "up"}.get(s[0], "") + s[1:] if s != "L" else None


def _cells(vars_: dict, ch: str) -> list:
    return [(vars_[f"{ch}.v{k}"], vars_[f"{ch}.k{k}"]) for k in range(B.CHANNEL_CAPACITY)]


def _pop(cells: list) -> list:
    return [*cells[1:], (z3.BoolVal(False), cells[-1][1])]


def _push(cells: list, cond: z3.BoolRef, seg: z3.ExprRef) -> list:
    """Append ``seg`` when ``cond``; on a full channel the segment is lost."""
    out = []
    for k, (v, s) in enumerate(cells):
        here = z3.And(cond, z3.Not(v), *([cells[k - 1][0]] if k else []))
        out.append((z3.Or(v, here), z3.If(here, seg, s)))
    return out


def _emitted(c: Composed) -> tuple[z3.BoolRef, z3.ExprRef]:
    """Whether the step's outcome sends a segment, and which (an outcome
    sends at most one: tcpconform.model.rules)."""
    kind = SEG.lit(vocab.SEGMENTS[-1])
    for s in reversed(vocab.SEGMENTS[:-1]):
        kind = z3.If(c.emit[s], SEG.lit(s), kind)
    return z3.Or(list(c.emit.values())), kind


# ---------------------------------------------------------------------------
# Building the relation
# ---------------------------------------------------------------------------

def _endpoint(c: Composed, s: str, enc: E.Encoding) -> z3.BoolRef:
    """The per-endpoint relation, renamed to slot ``s``."""
    sub = [(E.PRE[f], c.v(s, f)) for f in FIELDS] + [(E.POST[f], c.n(s, f)) for f in FIELDS]
    sub += [(E.PRE["rcvq"], c.v(s, "rcvq")), (E.POST["rcvq"], c.n(s, "rcvq"))]
    return z3.And(z3.substitute(enc.formula, *sub),
                  z3.substitute(enc.domain, *sub),
                  c.q == c.v(s, "rcvq"), c.q2 == c.n(s, "rcvq"),
                  (c.q > 0) == c.v(s, "pos"), c.n(s, "pos") == (c.q2 > 0))


def _frame(c: Composed, upd: dict, actor: str | None) -> z3.BoolRef:
    """next == updated value for every variable, except the actor's endpoint
    fields (which the endpoint relation decides)."""
    skip = {f"{actor}.{f}" for f in (*FIELDS, "pos", "rcvq")} if actor else set()
    return z3.And([c.nxt[k] == upd.get(k, c.cur[k]) for k in NAMES if k not in skip])


def _set_cells(upd: dict, ch: str, cells: list) -> None:
    for k, (v, s) in enumerate(cells):
        upd[f"{ch}.v{k}"], upd[f"{ch}.k{k}"] = v, s


def queue_full(c: Composed) -> z3.BoolRef:
    """The listener's accept queue is full (capacity 1 or 2: ``L.cap2``)."""
    q = [c.v(a, "queued") for a in SERVERS]
    return z3.If(c.v("L", "cap2"), z3.And(q), z3.Or(q))


def _ghosts(c: Composed, s: str, upd: dict, eof_cause: z3.BoolRef,
            fin_in: z3.BoolRef = z3.BoolVal(False)) -> None:
    """The actor's ghost variables after its step.  ``fin_in``: the step
    delivers the peer's FIN (or FINACK) to it.  A new connection (the slot
    enters a handshake state) starts its history afresh."""
    st2 = c.st_in(s, SYNC, nxt=True)
    handshake = c.st_in(s, {"SYN_SENT", "SYN_RECEIVED", "LISTEN"}, nxt=True)
    upd[f"{s}.sync"] = z3.If(st2, True, z3.If(handshake, False, c.v(s, "sync")))
    upd[f"{s}.eofc"] = z3.Or(c.v(s, "eofc"), eof_cause)
    fin_out = z3.Or([c.emit[k] for k in sorted(FINS)])
    finin = z3.And(z3.Not(handshake), z3.Or(c.v(s, "finin"), fin_in))
    upd[f"{s}.finin"] = finin
    upd[f"{s}.finout"] = z3.And(z3.Not(handshake), z3.Or(c.v(s, "finout"), fin_out))
    # the segment arrives before the step's answer leaves: a FIN sent in reply to the peer's is not first
    upd[f"{s}.fin1"] = z3.And(z3.Not(handshake), z3.Or(c.v(s, "fin1"), z3.And(fin_out, z3.Not(finin))))


def _bytes_of_call(c: Composed, s: str, upd: dict) -> list:
    """Byte ghosts of a call on a connection's end ``s``: ``send()`` returning
    ``n`` adds ``n`` to what it sent on its channel, and to the bytes in flight
    there when it emits the DATA segment (counted even when a full channel
    loses it: ``fl`` is an upper bound); ``recv()`` returning ``n`` adds ``n``
    to what was read from the channel it receives on.  A call carries no
    arriving segment (``segn`` 0)."""
    conds = [c.par["segn"] == 0]
    if s == "L":
        return conds
    ok = c.ret == E.RET.lit("ok")
    out, inc = out_channel(s), in_channel(s)
    sent = z3.If(z3.And(c.is_trigger("call:send"), ok), c.par["n"], 0)
    upd[f"{out}.sent"] = c.cur[f"{out}.sent"] + sent
    upd[f"{out}.fl"] = c.cur[f"{out}.fl"] + z3.If(c.emit["DATA"], sent, 0)
    upd[f"{inc}.read"] = c.cur[f"{inc}.read"] + z3.If(z3.And(c.is_trigger("call:recv"), ok), c.par["n"], 0)
    return conds


def _port(c: Composed, s: str, upd: dict) -> list:
    """The local port after a call on ``s`` (tcpconform.model.system._apply_call_result):
    ``set_local`` (bind) takes the port asked for, ``autobind`` picks one
    when the socket holds none (``bound`` is ``no``); either may be ``P`` or
    another port ``X`` (``step.port``).  Otherwise the port stays, also when
    the socket releases it (tcpconform.model.system keeps ``local``)."""
    if s not in PORTED:
        return []
    pick = z3.Or(c.tag["set_local"], z3.And(c.tag["autobind"], c.v(s, "bound") == lit("bound", "no")))
    upd[f"{s}.port"] = z3.If(pick, c.port, c.v(s, "port"))
    return [c.port != PORT.lit("none")]


def _call(c: Composed, s: str) -> z3.BoolRef:
    """A sockets call on slot ``s``."""
    upd: dict = {}
    conds = [c.is_trigger(*CALL_TRIGGERS)]
    if s in SERVERS:
        conds += [c.v(s, "live"), c.v(s, "fd") != lit("fd", "none")]
    conds += [c.inp["q_nonempty"] == (z3.Or([c.v(a, "queued") for a in SERVERS]) if s == "L" else False),
              c.inp["q_full"] == (queue_full(c) if s == "L" else False)]
    on, kind = _emitted(c)
    ch = out_channel(s)
    if ch:  # the listener's own connection attempts reach no modelled peer: lost
        _set_cells(upd, ch, _push(_cells(c.cur, ch), on, kind))
    conds += _bytes_of_call(c, s, upd) + _port(c, s, upd)
    shut_rd = z3.And(c.is_trigger("call:shutdown"), E.PARAM_DOMAINS["how"].member(c.par["how"], {"rd", "rdwr"}))
    _ghosts(c, s, upd, shut_rd)
    if s == "L":
        upd["listened"] = z3.Or(c.cur["listened"], z3.And(c.is_trigger("call:listen"), c.ret == E.RET.lit("ok")))
        upd["L.cap2"] = z3.If(c.tag["set_backlog"], c.cap2, c.cur["L.cap2"])
        return z3.Or(_dequeue_or_reset(c, upd, conds))
    return z3.And(*conds, _frame(c, upd, s))


def _dequeue_or_reset(c: Composed, upd: dict, conds: list) -> list:
    """The listener's call: accept dequeues one queued child (any: the FIFO
    order of the queue is not kept, an over-approximation); stopping the
    listener resets queued children (RST) and drops request socks."""
    alts = []
    plain = z3.And(*conds, z3.Not(c.tag["dequeue"]), z3.Not(c.tag["reset_queue"]), _frame(c, upd, "L"))
    alts.append(plain)
    for a in SERVERS:
        u = dict(upd)
        u[f"{a}.queued"] = z3.BoolVal(False)
        for f, value in composition.ACCEPTED.items():  # accept() hands the child over
            u[f"{a}.{f}"] = lit(f, value)
        alts.append(z3.And(*conds, c.tag["dequeue"], c.v(a, "queued"), _frame(c, u, "L")))
    u = dict(upd)
    for a in SERVERS:
        waiting = z3.And(c.v(a, "live"), c.v(a, "fd") == lit("fd", "none"))
        rst = z3.And(waiting, c.v(a, "queued"), c.st_in(a, composition.RESET_WHEN_LISTENER_STOPS))
        ch = "dn" + a[1:]
        _set_cells(u, ch, _push(_cells(c.cur, ch), rst, SEG.lit("RST")))
        u[f"{a}.live"] = z3.And(c.v(a, "live"), z3.Not(waiting))
        u[f"{a}.queued"] = z3.And(c.v(a, "queued"), z3.Not(waiting))
    alts.append(z3.And(*conds, z3.Not(c.tag["dequeue"]), c.tag["reset_queue"], _frame(c, u, "L")))
    return alts


def _timer(c: Composed, s: str) -> z3.BoolRef:
    upd: dict = {}
    conds = [c.is_trigger(*TIMER_TRIGGERS), c.inp["q_nonempty"] == False]  # noqa: E712
    if s in SERVERS:
        conds += [c.v(s, "live"),
                  c.inp["q_full"] == z3.And(c.v(s, "fd") == lit("fd", "none"), c.st_in("L", {"LISTEN"}),
                                            queue_full(c)),
                  z3.Not(c.tag["reset_queue"])]
        upd[f"{s}.live"] = z3.And(c.v(s, "live"), z3.Not(c.tag["destroy"]))
    else:
        conds += [c.inp["q_full"] == False, z3.Not(c.tag["destroy"]), z3.Not(c.tag["reset_queue"])]  # noqa: E712
    conds.append(c.par["segn"] == 0)
    _ghosts(c, s, upd, z3.BoolVal(True))
    return z3.And(*conds, _frame(c, upd, s))


def _deliver(c: Composed, s: str, ch: str, reply: str) -> z3.BoolRef:
    """The head segment of ``ch`` reaches slot ``s``; what it sends goes
    onto ``reply``.  ``hold`` means the step cannot happen now;
    ``redeliver`` leaves the segment at the head for whatever matches next."""
    upd: dict = {}
    cells = _cells(c.cur, ch)
    head_v, head = cells[0]
    conds = [head_v, c.is_trigger("seg"), c.par["seg"] == head, z3.Not(c.tag["hold"]),
             c.inp["q_nonempty"] == False]  # noqa: E712
    _set_cells(upd, ch, [(z3.If(c.tag["redeliver"], v, v2), z3.If(c.tag["redeliver"], k, k2))
                         for (v, k), (v2, k2) in zip(cells, _pop(cells))])
    on, kind = _emitted(c)
    rcells = _push(_cells(c.cur, reply), on, kind)
    i = ch[2:]
    a = "A" + i
    fin_or_rst = SEG.member(head, {"FIN", "FINACK", "RST"})
    # A DATA segment carries at most the bytes in flight on its channel (their
    # sum is not kept per cell: an over-approximation); any other carries none.
    data = head == SEG.lit("DATA")
    conds.append(z3.If(data, c.par["segn"] <= c.cur[f"{ch}.fl"], c.par["segn"] == 0))
    upd[f"{ch}.fl"] = c.cur[f"{ch}.fl"] - z3.If(c.tag["redeliver"], 0, c.par["segn"])
    if s == "L":
        conds += [c.st_in("L", {"LISTEN"}), c.v("L", "port") == PORT.lit("P"), c.inp["q_full"] == queue_full(c),
                  z3.Not(z3.And(c.v(a, "live"), z3.Not(c.st_in(a, {"CLOSED", "LISTEN"}))))]
        # spawn_req: a request sock in slot Ai (the old CLOSED socket there leaves the model)
        spawn = c.tag["spawn_req"]
        rcells = [(z3.If(spawn, v2, v), z3.If(spawn, k2, k)) for (v, k), (v2, k2) in
                  zip(rcells, _push(_cells(c.cur, reply), z3.BoolVal(True), SEG.lit("SYNACK")))]
        for f in FIELDS:  # composition.request_sock
            val = (c.v("L", f) if f in composition.FROM_LISTENER
                   else E.FIELD_DOMAINS[f].lit(composition.REQUEST_SOCK_FIELDS[f]))
            upd[f"{a}.{f}"] = z3.If(spawn, val, c.v(a, f))
        for g, val in (("pos", False), ("sync", False), ("live", True), ("queued", False),
                       *((g, False) for g in FIN_GHOSTS)):
            upd[f"{a}.{g}"] = z3.If(spawn, z3.BoolVal(val), c.v(a, g))
        upd[f"{a}.rcvq"] = z3.If(spawn, composition.REQUEST_SOCK_FIELDS["rcvq"], c.v(a, "rcvq"))
        # the request sock's local address is the SYN's destination: the port clients connect to
        upd[f"{a}.port"] = z3.If(spawn, PORT.lit("P"), c.v(a, "port"))
        # A child of a listener shut for reading inherits RCV_SHUTDOWN: its reading side
        # is shut by the application's own call (counterexample: shutdown(L, rd) → ENOTCONN,
        # listen, connect, handshake, accept, recv → 0 with no FIN).
        upd[f"{a}.eofc"] = z3.If(spawn, c.v("L", "rdsh"), c.v(a, "eofc"))
        conds += [z3.Not(c.tag["enqueue"]), z3.Not(c.tag["destroy"]), z3.Not(c.tag["reset_queue"])]
    elif s in SERVERS:
        conds += [c.v(s, "live"), z3.Not(c.st_in(s, {"CLOSED", "LISTEN"})),
                  c.inp["q_full"] == z3.And(c.v(s, "fd") == lit("fd", "none"), c.st_in("L", {"LISTEN"}),
                                            queue_full(c)),
                  z3.Not(c.tag["spawn_req"]), z3.Not(c.tag["reset_queue"])]
        upd[f"{s}.live"] = z3.And(c.v(s, "live"), z3.Not(c.tag["destroy"]))
        upd[f"{s}.queued"] = z3.Or(c.v(s, "queued"), c.tag["enqueue"])
    else:  # a client
        conds += [z3.Not(c.st_in(s, {"CLOSED", "LISTEN"})), c.inp["q_full"] == False,  # noqa: E712
                  *[z3.Not(c.tag[t]) for t in ("spawn_req", "enqueue", "destroy", "reset_queue")]]
    _set_cells(upd, reply, rcells)
    _ghosts(c, s, upd, fin_or_rst, SEG.member(head, FINS))
    return z3.And(*conds, _frame(c, upd, s))


def _network(c: Composed) -> list[z3.BoolRef]:
    """Steps no endpoint takes: a segment reaching no socket (answered by a
    RST unless it is one), and loss of a channel's head."""
    alts = []
    for i in range(1, B.CLIENTS + 1):
        for ch, reply, nosock in (
            (f"up{i}", f"dn{i}", z3.And(z3.Not(z3.And(c.st_in("L", {"LISTEN"}), c.v("L", "port") == PORT.lit("P"))),
                                        z3.Not(z3.And(c.v(f"A{i}", "live"),
                                                      z3.Not(c.st_in(f"A{i}", {"CLOSED", "LISTEN"})))))),
            (f"dn{i}", f"up{i}", c.st_in(f"C{i}", {"CLOSED", "LISTEN"})),
        ):
            cells = _cells(c.cur, ch)
            head_v, head = cells[0]
            upd: dict = {}
            _set_cells(upd, ch, _pop(cells))
            alts.append(z3.And(head_v, _frame(c, upd, None)))  # loss
            _set_cells(upd, reply, _push(_cells(c.cur, reply), head != SEG.lit("RST"), SEG.lit("RST")))
            alts.append(z3.And(head_v, nosock, _frame(c, upd, None)))
    return alts


def _init(c: Composed) -> z3.BoolRef:
    eqs = []
    for s in SLOTS:
        for f in FIELDS:
            if f != "nb":  # the application may make any socket non-blocking
                eqs.append(c.v(s, f) == E.FIELD_DOMAINS[f].lit(rules.INITIAL[f]))
        eqs += [z3.Not(c.v(s, g)) for g in ("pos", "sync", "eofc", *FIN_GHOSTS)]
        eqs.append(c.v(s, "rcvq") == 0)
    eqs += [c.v(s, "port") == PORT.lit("none") for s in PORTED]
    eqs += [c.cur[f"{ch}.{g}"] == 0 for ch in CHANNELS for g in BYTE_GHOSTS]
    eqs += [z3.Not(c.v(a, g)) for a in SERVERS for g in ("live", "queued")]
    eqs += [z3.Not(c.cur[f"{ch}.v{k}"]) for ch in CHANNELS for k in range(B.CHANNEL_CAPACITY)]
    eqs.append(z3.Not(c.cur["listened"]))
    return z3.And(eqs)


def build(cases: Sequence = rules.CASES, profile: str = B.PROFILE) -> Composed:
    """The composed system for a rule table (the real one, or a mutant)."""
    c = Composed(cases)
    c.cur = {k: z3.Const(k, srt) for k, srt in SORTS.items()}
    c.nxt = {k: z3.Const(k + "'", srt) for k, srt in SORTS.items()}
    enc = E.transition_relation(profile, cases)
    alts = []
    for s in SLOTS:
        events = [_call(c, s), _timer(c, s)]
        if s == "L":
            events += [_deliver(c, "L", f"up{i}", f"dn{i}") for i in range(1, B.CLIENTS + 1)]
        elif s in SERVERS:
            events.append(_deliver(c, s, "up" + s[1:], "dn" + s[1:]))
        else:
            events.append(_deliver(c, s, "dn" + s[1:], "up" + s[1:]))
        alts.append(z3.And(c.act == SLOT.lit(s), _endpoint(c, s, enc), z3.Or(events)))
    alts.append(z3.And(c.act == SLOT.lit("NET"), z3.Or(_network(c))))
    c.init = _init(c)
    # the nine calls of version 1: what version 2 adds to them (MSG_PEEK, another descriptor
    # left open, a timeout, ...) is at its quiet value (tcpconform.properties.calls proves the rest)
    quiet = [E.PAR[k] == E.PARAM_DOMAINS[k].lit(v) for k, v in PARAM_DEFAULTS.items()]
    c.trans = z3.And(z3.Or(alts), *quiet)
    known = {str(v) for v in (*c.cur.values(), *c.nxt.values(), *c.step_vars())}
    extra = free_constants(c.trans) - known
    if extra:  # Spacer would read an undeclared constant as fixed for the whole run
        raise ValueError(f"step variables missing from Composed.step_vars: {sorted(extra)}")
    return c


def free_constants(e: z3.ExprRef) -> set[str]:
    """Names of the uninterpreted constants of ``e`` (a DAG walk, each node once)."""
    seen, out, todo = set(), set(), [e]
    while todo:
        x = todo.pop()
        if x.get_id() in seen:
            continue
        seen.add(x.get_id())
        if z3.is_const(x) and x.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            out.add(x.decl().name())
        elif z3.is_app(x):
            todo.extend(x.children())
    return out


_BUILT: dict = {}


def system(cases: Sequence = rules.CASES) -> Composed:
    """:func:`build`, cached per table object."""
    key = id(cases)
    if key not in _BUILT or _BUILT[key][0] is not cases:
        _BUILT[key] = (cases, build(cases))
    return _BUILT[key][1]
