"""The rule table as a small neutral graph, for the diagrams and the docs.

Nothing here is a rule.  Everything is read from :data:`tcpconform.model.rules.CASES`
(or from a case list given in its place) through the endpoint state space
(:func:`tcpconform.model.space.explore`, which reads each step with
:func:`tcpconform.model.semantics.step`, first match wins).  Nothing of
Graphviz is imported: :mod:`tcpconform.diagrams.render` turns a :class:`Graph` into DOT.

How the graph is found
----------------------
Every transition of the explored space that changes ``st`` is an edge: one
per (from-state, to-state, case, action), carrying the case's id (a tuple,
so that a renderer may merge edges and keep every id).  Three composition
actions show (:mod:`tcpconform.model.composition`): ``spawn_req`` makes a
request sock (drawn LISTEN → SYN_RECEIVED, the listener staying), ``enqueue``
puts a completed one in the accept queue, ``destroy`` ends an endpoint
(drawn as an arc to CLOSED); ``hold`` is no step at all.  Cases no run on an
in-order channel reaches (``Case.in_order``) are left out (they exist so
that every segment has a rule; they are not arcs).  The ``rfc``
pseudo-profile's cases are added from the endpoints the profile reaches,
flagged ``rfc_only``.

:func:`call_table` asks the same semantics, for one representative endpoint
of each state with an open descriptor, what each call returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from tcpconform.model import composition, rules, semantics, space, vocab
from tcpconform.model.semantics import Endpoint
from tcpconform.model.table import Case, Outcome

# The main client and server paths of RFC 9293 Fig. 5, as state sequences.
# They decide only which arcs the diagram lays out straight and heavy (the
# arcs between consecutive states whose case encodes a Fig. 5 arc:
# ``Case.fig5``), never which arcs exist.
CLIENT_PATH = ("CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT", "CLOSED")
SERVER_PATH = ("CLOSED", "LISTEN", "SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED")
MAIN_PAIRS = frozenset(zip(CLIENT_PATH, CLIENT_PATH[1:])) | frozenset(zip(SERVER_PATH, SERVER_PATH[1:]))

# How labels name things, in the manner of RFC 9293 Fig. 5 ("rcv SYN / snd SYN,ACK").
RCV_NAME = {"SYN": "SYN", "SYNACK": "SYN,ACK", "ACK": "ACK of SYN", "ACKFIN": "ACK of FIN",
            "FIN": "FIN", "FINACK": "FIN + ACK of FIN", "DATA": "data", "RST": "RST"}
SND_NAME = {"SYN": "SYN", "SYNACK": "SYN,ACK", "ACK": "ACK", "ACKFIN": "ACK",
            "FIN": "FIN", "FINACK": "FIN", "DATA": "data", "RST": "RST"}
# A set of arriving segments is named by the fewest words: a FIN+ACK is a FIN,
# a SYN,ACK acknowledges the SYN.
RCV_SUBSUMES = {"FINACK": "FIN", "SYNACK": "ACK"}
# Timers are steps without a clock; the delays are Linux's defaults, for the reader.
TIMER_NAME = {"timewait_expiry": "timeout 60s", "fin_wait_2_timeout": "timeout 60s (orphan)",
              "syn_giveup": "SYN retries run out", "synack_giveup": "SYN,ACK retries run out"}
# Guard keys worth naming in a label, and how to say their values.
CONDITION = {"rcvq": {"pos": "unread data"}, "linger0": {True: "SO_LINGER 0"},
             "rdsh": {True: "reading shut"}}
TAG_ACTION = {"enqueue": "joins accept queue", "destroy": "drop request sock",
              "redeliver": "SYN passed on"}
SPAWN_ACTION = "new request sock, snd SYN,ACK"  # tcpconform.model.table TAGS: spawn_req



@dataclass(frozen=True)
class Edge:
    """One arc of the state diagram: one case's event between two states.

    ``linux_departure``: the case is rfc-only, departs from RFC 9293 in its
    transition (``Case.departs``), or (linux profile) it or its outcome
    excludes posix.  ``main_path``: the states are consecutive on
    :data:`CLIENT_PATH` or :data:`SERVER_PATH` and the case encodes an arc
    of RFC 9293 Fig. 5 (``Case.fig5``)."""
    src: str
    dst: str
    trigger: str                 # the table's trigger: "call:close", "seg", "timer:...", or "spawn"
    event: str                   # "close()", "rcv FIN", "timeout 60s"
    action: str                  # "snd FIN", "joins accept queue", or ""
    cases: tuple[str, ...]
    linux_departure: bool = False
    main_path: bool = False
    rfc_only: bool = False
    rfc_arc: bool = False        # a case of it encodes an arc of RFC 9293 Fig. 5
    request_sock: bool = False   # taken by a request sock (passive SYN_RECEIVED, no descriptor)
    new_endpoint: bool = False   # LISTEN → SYN_RECEIVED: the listener stays, a request sock is made
    abort: bool = False          # to CLOSED by a reset, an error or an abortive close

    @property
    def label(self) -> str:
        return f"{self.event} / {self.action}" if self.action else self.event


@dataclass(frozen=True)
class Graph:
    profile: str
    nodes: tuple[str, ...]
    edges: tuple[Edge, ...]
    initial: str = "CLOSED"

    def pairs(self) -> set[tuple[str, str]]:
        return {(e.src, e.dst) for e in self.edges}

    def edges_of_case(self, case_id: str) -> list[Edge]:
        return [e for e in self.edges if case_id in e.cases]


# --------------------------------------------------------------------------
# Labels
def _conditions(c: Case) -> str:
    conds = [phrases[v] for k, phrases in CONDITION.items() if k in c.when
             for v in sorted(c.when[k], key=str) if v in phrases]
    return f" [{', '.join(conds)}]" if conds else ""


def _segs_text(kinds: set[str]) -> str:
    shown = [s for s in vocab.SEGMENTS if s in kinds
             and not (s in RCV_SUBSUMES and RCV_SUBSUMES[s] in kinds)]
    return "rcv " + " or ".join(RCV_NAME.get(s, s) for s in shown)


def _event(trigger: str, what: str, conds: str, segs: set, hows: set) -> str:
    if trigger == "seg" or trigger == "spawn":
        return _segs_text(segs) + conds
    if trigger.startswith("timer:"):
        return TIMER_NAME.get(what, f"timer {what}") + conds
    args = "" if not hows or hows >= set(vocab.SHUT_HOW) else \
        "|".join(h for h in vocab.SHUT_HOW if h in hows)
    return f"{what}({args}){conds}"


def _action(o: Outcome) -> str:
    parts = []
    if o.emit:
        parts.append("snd " + ",".join(SND_NAME.get(s, s) for s in o.emit))
    parts += [TAG_ACTION[t] for t in o.tags if t in TAG_ACTION]
    return "; ".join(parts)


def _aborts(c: Case, o: Outcome, params: Mapping) -> bool:
    """A reset received or sent, an error left for the application, a request
    sock dropped, or SO_LINGER 0: the connection did not end by the FIN exchange."""
    err = o.set.get("err")
    return (params.get("seg") == "RST" or "RST" in o.emit or "destroy" in o.tags
            or (err is not None and err != "NONE") or True in c.when.get("linger0", ()))


def _departs(c: Case, o: Outcome, profile: str) -> bool:
    if profile not in c.profiles:   # an rfc-only arc, drawn beside the profile's
        return True
    if c.departs == "transition":
        return True
    return profile in vocab.LINUX_PROFILES and not ("posix" in c.profiles and "posix" in o.profiles)


# --------------------------------------------------------------------------
def state_graph(profile: str = "linux", cases: Sequence[Case] = rules.CASES) -> Graph:
    """The state diagram of ``profile`` as the table ``cases`` defines it."""
    ex = space.explore(profile, cases)
    groups: dict[tuple, dict] = {}

    def add(src: str, dst: str, trigger: str, c: Case, o: Outcome, params: Mapping,
            action: str, *, rfc: bool = False, req: bool = False, new: bool = False) -> None:
        k = (src, dst, trigger, c.id, action)
        g = groups.setdefault(k, dict(case=c, segs=set(), hows=set(), departs=False, fig5=False,
                                      rfc=rfc, req=True, new=new, abort=False))
        if "seg" in params:
            g["segs"].add(params["seg"])
        if c.trigger == "call:shutdown":
            g["hows"].add(params["how"])
        g["departs"] |= _departs(c, o, profile)
        g["fig5"] |= bool(c.fig5)
        g["req"] &= req
        g["abort"] |= dst == "CLOSED" and _aborts(c, o, params)

    for t in ex.transitions:
        c, o = t.case, t.outcome
        if not c.in_order or t.held:
            continue
        is_req = composition.is_request_sock(t.src)
        if "spawn_req" in o.tags:
            spawned = composition.request_sock(t.src).st
            add(t.src.st, spawned, "spawn", c, o, t.params, SPAWN_ACTION, new=True)
        if t.dst is None:
            add(t.src.st, "CLOSED", t.trigger, c, o, t.params, _action(o), req=is_req)
        elif t.dst.st != t.src.st:
            add(t.src.st, t.dst.st, t.trigger, c, o, t.params, _action(o), req=is_req)

    # RFC 9293 arcs no sockets API exposes, from the endpoints the profile reaches
    if profile != vocab.RFC_ONLY:
        ours = {c.id for c in cases if profile in c.profiles}
        for trigger in space.profile_triggers(vocab.RFC_ONLY, cases):
            plans = space.plans(trigger, vocab.RFC_ONLY, cases)
            for ep in ex.reach:
                for inputs, params in plans:
                    for t in space.transitions(ep, trigger, vocab.RFC_ONLY, inputs, params, cases):
                        if t.case.id not in ours and t.dst is not None and t.dst.st != ep.st:
                            add(ep.st, t.dst.st, trigger, t.case, t.outcome, params, _action(t.outcome), rfc=True)

    edges = []
    for (src, dst, trigger, case_id, action), g in groups.items():
        c = g["case"]
        what = c.what if ":" in c.trigger else ""
        edges.append(Edge(
            src=src, dst=dst, trigger=trigger, event=_event(trigger, what, _conditions(c), g["segs"], g["hows"]),
            action=action, cases=(case_id,), linux_departure=g["departs"],
            main_path=(src, dst) in MAIN_PAIRS and g["fig5"] and not g["rfc"],
            rfc_only=g["rfc"], rfc_arc=g["fig5"],
            request_sock=g["req"] and not g["new"], new_endpoint=g["new"], abort=g["abort"]))
    order = {s: i for i, s in enumerate(vocab.STATES)}
    edges.sort(key=lambda e: (order[e.src], order[e.dst], not e.main_path, e.trigger, e.event, e.action))
    return Graph(profile, tuple(vocab.STATES), tuple(edges))


# --------------------------------------------------------------------------
# Per state: what each call returns
def _typical(ep: Endpoint, dist: int) -> tuple:
    """How far an endpoint is from the usual one of its state: a descriptor
    still attached to its connection (not one a failed connect() detached),
    no pending error, blocking, nothing unread, fewest shutdown bits, a
    settled socket state (not CONNECTING/DISCONNECTING), then fewest steps
    from socket()."""
    return (ep.ss == "UNCONNECTED" and ep.st not in ("CLOSED", "LISTEN"),
            ep.err != "NONE", ep.nb, ep.rcvq, ep.done + ep.rdsh + ep.wrsh,
            ep.ss in ("CONNECTING", "DISCONNECTING"), dist, ep)


def representatives(profile: str = "linux", cases: Sequence[Case] = rules.CASES) -> dict[str, Endpoint]:
    """For each state, the most usual endpoint in it with an open descriptor
    (see :func:`_typical`); a state no open descriptor reaches is absent."""
    ex = space.explore(profile, cases)
    best: dict[str, tuple] = {}
    for ep, d in ex.reach.items():
        if ep.fd != "open":
            continue
        k = _typical(ep, d)
        if ep.st not in best or k < best[ep.st]:
            best[ep.st] = k
    return {st: best[st][-1] for st in vocab.STATES if st in best}


def ret_order(ret: str) -> tuple:
    return (ret != vocab.OK, ret == vocab.WAIT, ret)


def call_table(profile: str = "linux", cases: Sequence[Case] = rules.CASES
               ) -> dict[str, dict[str, list[str]]]:
    """For each state (an open descriptor, typical fields: :func:`representatives`),
    each call's possible return values: ``ok``, errnos, ``WAIT`` (blocks).
    The representative is tried blocking and non-blocking, with and without
    unread bytes (where reachable), and under every value of what the call's
    guards test (a full accept queue, a port conflict, ``how``, ...)."""
    ex = space.explore(profile, cases)
    reps = representatives(profile, cases)
    out: dict[str, dict[str, list[str]]] = {}
    for st, rep in reps.items():
        variants = [v for v in (rep._replace(nb=nb, rcvq=q) for nb in (False, True) for q in (0, 1))
                    if v in ex.reach]
        row: dict[str, list[str]] = {}
        for op in vocab.ALL_CALLS:
            if op in ("socket", "poll"):
                continue  # poll: its own picture (readiness)
            trigger = "call:" + op
            rets: set[str] = set()
            for v in variants:
                for inputs, params in space.plans(trigger, profile, cases):
                    rets.update(r.ret for r in semantics.step(v, trigger, profile, inputs, params, cases))
            row[op] = sorted(rets, key=ret_order)
        out[st] = row
    return out


def readiness_table(profile: str = "linux", cases: Sequence[Case] = rules.CASES) -> dict[str, list[tuple]]:
    """For each state (its representative endpoint, :func:`representatives`, and
    the same with unread bytes, a pending error, a queued connection where the
    space reaches them), what poll() reports: ``(situation, must, may)`` with
    the events of :data:`tcpconform.model.rules.POLL_RULES`."""
    ex = space.explore(profile, cases)
    out: dict[str, list[tuple]] = {}
    for st, rep in representatives(profile, cases).items():
        rows = []
        variants = [("", rep, {})]
        if st == "LISTEN":
            variants.append(("a connection queued", rep, {"q_nonempty": True}))
        busy = {"q_nonempty": False, "outstanding": True}
        if semantics.poll_events(rep, busy) != semantics.poll_events(rep, {**busy, "outstanding": False}):
            variants.append(("bytes sent the peer has not read", rep, {"outstanding": True}))
        unread = rep._replace(rcvq=1)
        if unread in ex.reach and st != "LISTEN":
            variants.append(("bytes unread", unread, {}))
        erred = next((e for e in ex.reach if e.st == st and e.fd == "open" and e.err != "NONE"), None)
        if erred is not None:
            variants.append((f"{erred.err} pending", erred, {}))
        for label, ep, extra in variants:
            inputs = {"q_nonempty": False, "outstanding": False, **extra}
            must, may = semantics.poll_events(ep, inputs)
            rows.append((label, tuple(e for e in vocab.POLL_EVENTS if e in must),
                         tuple(e for e in vocab.POLL_EVENTS if e in may - must)))
        out[st] = rows
    return out


def case_states(profile: str = "linux", cases: Sequence[Case] = rules.CASES) -> dict[str, frozenset]:
    """For each case, the states in which it decides some step (whether or
    not it changes the state): where a rule is exercised."""
    found: dict[str, set] = {}
    for t in space.explore(profile, cases).transitions:
        if not t.held:
            found.setdefault(t.case.id, set()).add(t.src.st)
    return {k: frozenset(v) for k, v in found.items()}
