"""The state space of one endpoint: every endpoint the rule table reaches.

:func:`explore` lists the endpoints one endpoint can be in, starting from the
endpoints ``socket()`` creates (blocking or not), by every trigger of the
table under every value of the system inputs and call parameters its guards
test (``q_full``, ``how``, ``linger0``, the arriving segment, ...; the plans
of :func:`plans`), each step read by :func:`tcpconform.model.semantics.step`.
The peer is not modelled, so any segment may arrive at any time: what is
found over-approximates what a whole system reaches, yet the fields are
exact (a SYN_SENT endpoint never holds unread bytes, a FIN_WAIT_1 endpoint
with an open descriptor was shut down for writing, ...).  The receive queue
is explored as 0, 1 and 2 bytes ("more than one read's worth").

Composition takes part as :mod:`tcpconform.model.composition` says: a SYN
at a listener makes a request sock, a completed connection waiting in a
queue is reached again as ``accept()`` hands it over, ``destroy`` ends an
endpoint.  ``hold`` (the segment waits) is a transition that changes nothing.

The self-checks (:mod:`tcpconform.model.selfcheck`) and the diagrams and
docs (:mod:`tcpconform.model.graph`) read the same exploration.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from tcpconform.model import composition, rules, semantics, vocab
from tcpconform.model.semantics import Endpoint
from tcpconform.model.table import PARAMS, Case, Outcome

RCVQ_CAP = 2  # rcvq is explored as 0, 1, 2


def profile_triggers(profile: str, cases: Sequence[Case] | None = None) -> list[str]:
    """The triggers of ``profile``'s cases, in the order of the first of each."""
    found: dict[str, None] = {}
    for c in rules.CASES if cases is None else cases:
        if profile in c.profiles:
            found.setdefault(c.trigger, None)
    return list(found)


def tested_keys(trigger: str, profile: str, cases: Sequence[Case] | None = None) -> list[str]:
    """The inputs and call parameters the cases of ``trigger`` test (``seg`` aside)."""
    found: dict[str, None] = {}
    for c, outs in semantics.cases_for(trigger, profile, cases):
        for g in (c.when, *(o.when for o in outs)):
            for k in g:
                if k in vocab.INPUTS or (k in PARAMS and k != "seg"):
                    found.setdefault(k, None)
    return list(found)


def plans(trigger: str, profile: str, cases: Sequence[Case] | None = None) -> list[tuple[dict, dict]]:
    """Every (inputs, params) worth trying for ``trigger``: each value of
    what its guards test, the rest at its quiet default; every segment kind
    for ``seg``; a recv returning 0 and 1 bytes."""
    keys = tested_keys(trigger, profile, cases)
    domains = [vocab.INPUTS[k] if k in vocab.INPUTS else PARAMS[k] for k in keys]
    if trigger == "seg":
        base = [{"seg": s, "segn": 1} for s in vocab.SEGMENTS]
    elif trigger == "call:recv":
        base = [{"len": 2, "n": 0}, {"len": 2, "n": 1}]
    elif trigger.startswith("call:"):
        base = [{"len": 2}]
    else:
        base = [{}]
    found = []
    for values in itertools.product(*domains):
        chosen = dict(zip(keys, values))
        inputs = {k: False for k in vocab.INPUTS}
        inputs.update({k: v for k, v in chosen.items() if k in vocab.INPUTS})
        extra = {k: v for k, v in chosen.items() if k in PARAMS}
        for b in base:
            found.append((inputs, {"how": "rdwr", "linger0": False, "port0": False, **b, **extra}))
    return found


@dataclass(frozen=True)
class Transition:
    """One step of one endpoint: ``trigger`` with ``inputs`` and ``params``
    on ``src``, decided by ``case``, taking ``outcome``, returning ``ret``."""
    src: Endpoint
    trigger: str
    inputs: Mapping
    params: Mapping
    case: Case
    outcome: Outcome
    ret: str
    dst: Endpoint | None   # None: the endpoint was destroyed

    @property
    def held(self) -> bool:
        """The segment waits (``hold``): no step is taken."""
        return "hold" in self.outcome.tags


@dataclass
class Space:
    """The endpoints one endpoint can be in, and every transition between them."""
    profile: str
    reach: dict[Endpoint, int] = field(default_factory=dict)  # endpoint -> steps from socket()
    transitions: list[Transition] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The size of the space: what a change of meaning of the table changes."""
        return {
            "endpoints": len(self.reach),
            "open_descriptor_endpoints": sum(1 for ep in self.reach if ep.fd == "open"),
            "transitions": len(self.transitions),
            "state_changes": sum(1 for t in self.transitions if t.dst is None or t.dst.st != t.src.st),
            "cases_deciding": len({t.case.id for t in self.transitions}),
            "depth": max(self.reach.values(), default=0),
        }

    def per_state(self) -> dict[str, int]:
        """How many endpoints of the space are in each TCP state."""
        found = {st: 0 for st in vocab.STATES}
        for ep in self.reach:
            found[ep.st] += 1
        return found


_LOOKUPS: dict[int, tuple[Sequence[Case], dict, dict]] = {}


def _lookup(cases: Sequence[Case]) -> tuple[dict, dict]:
    """The cases of a table by id and its outcomes by name (kept per table)."""
    hit = _LOOKUPS.get(id(cases))
    if hit is None or hit[0] is not cases:
        hit = (cases, {c.id: c for c in cases}, {o.name: o for c in cases for o in c.outcomes})
        _LOOKUPS[id(cases)] = hit
    return hit[1], hit[2]


def transitions(ep: Endpoint, trigger: str, profile: str, inputs: Mapping, params: Mapping,
                cases: Sequence[Case] | None = None) -> list[Transition]:
    """The results of :func:`tcpconform.model.semantics.step` as transitions:
    the case and outcome themselves and the endpoint after (``ep`` itself
    when the segment is held, None when the endpoint is destroyed)."""
    cases = rules.CASES if cases is None else cases
    by_id, by_name = _lookup(cases)
    found = []
    for r in semantics.step(ep, trigger, profile, inputs, params, cases):
        o = by_name[r.outcome]
        dst = ep if "hold" in o.tags else None if "destroy" in o.tags else semantics.apply(ep, r)
        found.append(Transition(ep, trigger, inputs, params, by_id[r.case], o, r.ret, dst))
    return found


_CACHE: dict[tuple, tuple[Sequence[Case], Space]] = {}


def explore(profile: str = "linux", cases: Sequence[Case] | None = None) -> Space:
    """The endpoint state space of ``cases`` (the model's table unless given)
    under ``profile``, breadth first from ``socket()``'s endpoints."""
    cases = rules.CASES if cases is None else cases
    key = (profile, id(cases))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is cases:
        return hit[1]
    triggers = [t for t in profile_triggers(profile, cases) if t != "call:socket"]
    tries = {t: plans(t, profile, cases) for t in triggers}
    space = Space(profile)
    todo: deque[Endpoint] = deque()

    def reach(ep: Endpoint, dist: int) -> Endpoint:
        ep = ep._replace(rcvq=min(ep.rcvq, RCVQ_CAP))
        if ep not in space.reach:
            space.reach[ep] = dist
            todo.append(ep)
        return ep

    for pre in (semantics.INITIAL, semantics.INITIAL._replace(nb=True)):
        for r in semantics.step(pre, "call:socket", profile, {}, {}, cases):
            reach(semantics.apply(pre, r), 0)
    while todo:
        ep = todo.popleft()
        d = space.reach[ep]
        if composition.waits_in_queue(ep):
            reach(composition.accepted(ep), d + 1)
        for trigger in triggers:
            for inputs, params in tries[trigger]:
                for t in transitions(ep, trigger, profile, inputs, params, cases):
                    if not t.held and t.dst is not None:
                        t = replace(t, dst=reach(t.dst, d + 1))
                    space.transitions.append(t)
                    if "spawn_req" in t.outcome.tags:
                        reach(composition.request_sock(ep), d + 1)
    _CACHE[key] = (cases, space)
    return space


_COMPOSED: dict[tuple, tuple[Sequence[Case], frozenset]] = {}


def composed(profile: str = "linux", cases: Sequence[Case] | None = None) -> frozenset:
    """Every endpoint a composed system can hold: :func:`explore`'s, closed
    under what the system makes other than by a rule's step
    (:func:`tcpconform.model.composition.made_from`, and a closed name whose
    connection is gone) and under the steps from those; the receive queue
    capped as in :func:`explore`.  A superset of what any trace reaches, which
    proofs over reachable endpoints need."""
    cases = rules.CASES if cases is None else cases
    key = (profile, id(cases))
    hit = _COMPOSED.get(key)
    if hit is not None and hit[0] is cases:
        return hit[1]
    base = explore(profile, cases)
    triggers = [t for t in profile_triggers(profile, cases) if t != "call:socket"]
    tries = {t: plans(t, profile, cases) for t in triggers}
    seen = set(base.reach)
    todo: deque[Endpoint] = deque()

    def add(ep: Endpoint) -> None:
        ep = ep._replace(rcvq=min(ep.rcvq, RCVQ_CAP))
        if ep not in seen:
            seen.add(ep)
            todo.append(ep)
    add(composition.gone())
    for ep in base.reach:
        for made in composition.made_from(ep):
            add(made)
    while todo:
        ep = todo.popleft()
        for made in composition.made_from(ep):
            add(made)
        if composition.waits_in_queue(ep):
            add(composition.accepted(ep))
        for trigger in triggers:
            for inputs, params in tries[trigger]:
                for t in transitions(ep, trigger, profile, inputs, params, cases):
                    if t.dst is not None:
                        add(t.dst)
                    if "spawn_req" in t.outcome.tags:
                        add(composition.request_sock(ep))
    found = frozenset(seen)
    _COMPOSED[key] = (cases, found)
    return found
