"""The rule table as a small neutral graph, for the diagrams and the docs.

Nothing here is a rule.  Everything is read from :data:`tcpconform.model.rules.CASES`
(or from a case list given in its place) through the executable semantics
(:func:`tcpconform.model.semantics.step`, first match wins).  Nothing of Graphviz is
imported: :mod:`tcpconform.diagrams.render` turns a :class:`Graph` into DOT.

How the graph is found
----------------------
:func:`explore` lists the endpoints one endpoint can be in, starting from
the endpoint ``socket()`` creates (blocking or not), by every trigger of the
table under every value of the system inputs and call parameters its guards
test (``q_full``, ``how``, ``linger0``, the arriving segment, ...).  The
peer is not modelled, so any segment may arrive at any time: what is found
over-approximates what a whole system reaches, yet the fields are exact (a
SYN_SENT endpoint never holds unread bytes, a FIN_WAIT_1 endpoint with an
open descriptor was shut down for writing, ...).  Four composition actions of
:mod:`tcpconform.model.system` take part: ``spawn_req`` makes a request sock
(SYN_RECEIVED, no descriptor), ``enqueue`` puts a completed one in the
accept queue, from which ``accept()`` hands it over with an open descriptor,
``destroy`` ends an endpoint (drawn as an arc to CLOSED) and ``hold`` is no
step at all.

Every step that changes ``st`` is an edge: one per (from-state, to-state,
case, action), carrying the case's id (a tuple, so that a renderer may
merge edges and keep every id).  Cases whose note says they are unreachable on an
in-order channel are left out (they exist so that every segment has a rule;
they are not arcs).  The ``rfc`` pseudo-profile's cases are added from the
states the profile reaches, flagged ``rfc_only``.

:func:`call_table` asks the same semantics, for one representative endpoint
of each state with an open descriptor, what each call returns.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from tcpconform.model import rules, semantics, vocab
from tcpconform.model.semantics import Endpoint
from tcpconform.model.table import PARAMS, Case, Outcome

# The main client and server paths of RFC 9293 Fig. 5, as state sequences.
# They decide only which arcs the diagram lays out straight and heavy (the
# arcs between consecutive states that cite Fig. 5), never which arcs exist.
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

_DEPARTS = re.compile(r"Linux departs|Linux-only", re.I)
_UNREACHABLE = re.compile(r"unreachable on an in-order channel", re.I)
_FIG5 = re.compile(r"Fig\.? ?5")
_RCVQ_CAP = 2  # rcvq is explored as 0, 1, 2 ("more than one read's worth")


@dataclass(frozen=True)
class Edge:
    """One arc of the state diagram: one case's event between two states.

    ``linux_departure``: the case is rfc-only, its note says Linux departs
    (or is Linux-only), or (linux profile) it or its outcome excludes posix.
    ``main_path``: the states are consecutive on :data:`CLIENT_PATH` or
    :data:`SERVER_PATH` and the case cites RFC 9293 Fig. 5."""
    src: str
    dst: str
    trigger: str                 # the table's trigger: "call:close", "seg", "timer:...", or "spawn"
    event: str                   # "close()", "rcv FIN", "timeout 60s"
    action: str                  # "snd FIN", "joins accept queue", or ""
    cases: tuple[str, ...]
    linux_departure: bool = False
    main_path: bool = False
    rfc_only: bool = False
    rfc_arc: bool = False        # a case of it cites RFC 9293 Fig. 5
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
# The table, asked through the semantics
class _Table:
    """``cases`` under one profile.  :meth:`step` is :func:`tcpconform.model.semantics.step`
    (the model's own interpreter) for the model's table; for another case
    list (a test's edited copy) it reads that list the same way."""

    def __init__(self, cases: Sequence[Case], profile: str):
        self.cases = cases
        self.profile = profile
        self.by_id = {c.id: c for c in cases}
        self.outcome = {o.name: o for c in cases for o in c.outcomes}
        self.by_trigger: dict[str, list[tuple[Case, tuple[Outcome, ...]]]] = {}
        for c in cases:
            if profile in c.profiles:
                self.by_trigger.setdefault(c.trigger, []).append((c, c.outcomes_for(profile)))

    def step(self, ep: Endpoint, trigger: str, inputs: Mapping, params: Mapping
             ) -> list[tuple[Case, Outcome, str, Endpoint]]:
        """(case, outcome, return value, endpoint after) for each result."""
        if self.cases is rules.CASES:
            return [(self.by_id[r.case], self.outcome[r.outcome], r.ret, semantics.apply(ep, r))
                    for r in semantics.step(ep, trigger, self.profile, inputs, params)]
        for c, outs in self.by_trigger.get(trigger, ()):
            if semantics.holds(c.when, ep, inputs, params):
                break
        else:
            return []
        results = []
        for o in outs:
            if not semantics.holds(o.when, ep, inputs, params):
                continue
            if not semantics.n_ok(o.n, params.get("n"), params.get("len"), ep.rcvq):
                continue
            new = semantics.apply_set(ep, o.set)
            new["rcvq"] = semantics.rcvq_after(o.rcvq, ep.rcvq, params.get("n"), params.get("segn"))
            ret = ep.err if o.ret == vocab.RET_ERR else o.ret
            results.append((c, o, ret, ep._replace(**new)))
        return results

    def keys(self, trigger: str) -> list[str]:
        """The inputs and call parameters the cases of ``trigger`` test."""
        found: dict[str, None] = {}
        for c, outs in self.by_trigger.get(trigger, ()):
            for g in (c.when, *(o.when for o in outs)):
                for k in g:
                    if k in vocab.INPUTS or (k in PARAMS and k != "seg"):
                        found.setdefault(k, None)
        return list(found)

    def plans(self, trigger: str) -> list[tuple[dict, dict]]:
        """Every (inputs, params) worth trying for ``trigger``: each value of
        what its guards test, the rest at its quiet default."""
        keys = self.keys(trigger)
        domains = [vocab.INPUTS[k] if k in vocab.INPUTS else PARAMS[k] for k in keys]
        if trigger == "seg":
            base = [{"seg": s, "segn": 1} for s in vocab.SEGMENTS]
        elif trigger == "call:recv":
            base = [{"len": 2, "n": 0}, {"len": 2, "n": 1}]
        elif trigger.startswith("call:"):
            base = [{"len": 2}]
        else:
            base = [{}]
        plans = []
        for values in itertools.product(*domains):
            chosen = dict(zip(keys, values))
            inputs = {k: False for k in vocab.INPUTS}
            inputs.update({k: v for k, v in chosen.items() if k in vocab.INPUTS})
            extra = {k: v for k, v in chosen.items() if k in PARAMS}
            for b in base:
                plans.append((inputs, {"how": "rdwr", "linger0": False, "port0": False, **b, **extra}))
        return plans


def request_sock(listener: Endpoint) -> Endpoint:
    """The endpoint ``spawn_req`` makes (:func:`tcpconform.model.system.rules_req`)."""
    from tcpconform.model.system import rules_req
    return rules_req(listener)


def accepted(child: Endpoint) -> Endpoint:
    """A queued child as ``accept()`` hands it over (``dequeue`` in :mod:`tcpconform.model.system`)."""
    return child._replace(fd="open", ss="CONNECTED", nb=False)


@dataclass(frozen=True)
class Step:
    src: Endpoint
    trigger: str
    params: Mapping
    case: Case
    outcome: Outcome
    ret: str
    dst: Endpoint | None   # None: the endpoint was destroyed


@dataclass
class Exploration:
    """The endpoints one endpoint can be in, and every step between them."""
    profile: str
    reach: dict[Endpoint, int] = field(default_factory=dict)  # endpoint -> steps from socket()
    steps: list[Step] = field(default_factory=list)


_CACHE: dict[tuple, tuple[Sequence[Case], Exploration]] = {}


def explore(profile: str = "linux", cases: Sequence[Case] = rules.CASES) -> Exploration:
    key = (profile, id(cases))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is cases:
        return hit[1]
    table = _Table(cases, profile)
    triggers = [t for t in table.by_trigger if t != "call:socket"]
    plans = {t: table.plans(t) for t in triggers}
    ex = Exploration(profile)
    todo: deque[Endpoint] = deque()

    def reach(ep: Endpoint, dist: int) -> None:
        ep = ep._replace(rcvq=min(ep.rcvq, _RCVQ_CAP))
        if ep not in ex.reach:
            ex.reach[ep] = dist
            todo.append(ep)

    for ep in (semantics.INITIAL, semantics.INITIAL._replace(nb=True)):
        reach(ep, 0)
    while todo:
        ep = todo.popleft()
        d = ex.reach[ep]
        if ep.fd == "none" and ep.st != "SYN_RECEIVED":
            reach(accepted(ep), d + 1)   # a queued child, accept()ed
        for trigger in triggers:
            for inputs, params in plans[trigger]:
                for c, o, ret, new in table.step(ep, trigger, inputs, params):
                    if "hold" in o.tags:
                        continue
                    gone = "destroy" in o.tags
                    if not gone:
                        new = new._replace(rcvq=min(new.rcvq, _RCVQ_CAP))
                        reach(new, d + 1)
                    ex.steps.append(Step(ep, trigger, params, c, o, ret, None if gone else new))
                    if "spawn_req" in o.tags:
                        reach(request_sock(ep), d + 1)
    _CACHE[key] = (cases, ex)
    return ex


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
    if _DEPARTS.search(c.note or ""):
        return True
    return profile == "linux" and not ("posix" in c.profiles and "posix" in o.profiles)


# --------------------------------------------------------------------------
def state_graph(profile: str = "linux", cases: Sequence[Case] = rules.CASES) -> Graph:
    """The state diagram of ``profile`` as the table ``cases`` defines it."""
    ex = explore(profile, cases)
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
        g["fig5"] |= bool(_FIG5.search(c.source))
        g["req"] &= req
        g["abort"] |= dst == "CLOSED" and _aborts(c, o, params)

    for s in ex.steps:
        c, o = s.case, s.outcome
        if _UNREACHABLE.search(c.note or ""):
            continue
        is_req = s.src.fd == "none" and s.src.st == "SYN_RECEIVED"
        if "spawn_req" in o.tags:
            add(s.src.st, "SYN_RECEIVED", "spawn", c, o, s.params, SPAWN_ACTION, new=True)
        if s.dst is None:
            add(s.src.st, "CLOSED", s.trigger, c, o, s.params, _action(o), req=is_req)
        elif s.dst.st != s.src.st:
            add(s.src.st, s.dst.st, s.trigger, c, o, s.params, _action(o), req=is_req)

    # RFC 9293 arcs no sockets API exposes, from the endpoints the profile reaches
    if profile != vocab.RFC_ONLY:
        table = _Table(cases, vocab.RFC_ONLY)
        ours = {c.id for c in cases if profile in c.profiles}
        for trigger in table.by_trigger:
            plans = table.plans(trigger)
            for ep in ex.reach:
                for inputs, params in plans:
                    for c, o, _ret, new in table.step(ep, trigger, inputs, params):
                        if c.id not in ours and new.st != ep.st:
                            add(ep.st, new.st, trigger, c, o, params, _action(o), rfc=True)

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
    ex = explore(profile, cases)
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
    ex = explore(profile, cases)
    table = _Table(cases, profile)
    reps = representatives(profile, cases)
    out: dict[str, dict[str, list[str]]] = {}
    for st, rep in reps.items():
        variants = [v for v in (rep._replace(nb=nb, rcvq=q) for nb in (False, True) for q in (0, 1))
                    if v in ex.reach]
        row: dict[str, list[str]] = {}
        for op in vocab.CALLS:
            if op == "socket":
                continue
            trigger = "call:" + op
            rets: set[str] = set()
            for v in variants:
                for inputs, params in table.plans(trigger):
                    rets.update(r for _c, _o, r, _n in table.step(v, trigger, inputs, params))
            row[op] = sorted(rets, key=ret_order)
        out[st] = row
    return out


def case_states(profile: str = "linux", cases: Sequence[Case] = rules.CASES) -> dict[str, frozenset]:
    """For each case, the states in which it decides some step (whether or
    not it changes the state): where a rule is exercised."""
    found: dict[str, set] = {}
    for s in explore(profile, cases).steps:
        found.setdefault(s.case.id, set()).add(s.src.st)
    return {k: frozenset(v) for k, v in found.items()}
