"""The model checks itself when it is built.

* :func:`validate_static` — every guard names a known field, input or
  parameter and only values of its domain; every update targets a real
  field with a value of its domain (every target state is one of the
  eleven); every segment, tag and byte-count rule is known; case ids are
  unique; every case cites a source.  Runs at import of :mod:`model`.
* :func:`explore` — from the one initial endpoint, every endpoint reachable
  through the table (with every input and parameter), and which cases fire.
  :func:`validate_dynamic` asserts that all eleven states are reachable,
  that every reachable endpoint has an answer for every call and every
  segment under every profile (no silent gaps), and that every case of the
  linux profile fires somewhere.  The test suite runs it.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Iterable

from tcpconform.model import rules, semantics, table, vocab
from tcpconform.model.semantics import Endpoint
from tcpconform.model.table import Case


class ModelDefinitionError(Exception):
    def __init__(self, case_id: str, what: str):
        super().__init__(f"rule {case_id}: {what}")
        self.case_id = case_id
        self.what = what


SPECIAL_SET = {
    "bound": {table.RELEASE, rules.CLAIM},
    "ss": {rules.IFCONN_DISC, rules.IFCONN_CONN},
}


def _domain(key: str):
    if key in vocab.FINITE_FIELDS:
        return vocab.FINITE_FIELDS[key]
    if key in vocab.INPUTS:
        return vocab.INPUTS[key]
    if key == "seg":
        return vocab.SEGMENTS
    if key in table.PARAMS:
        return table.PARAMS[key]
    if key == "rcvq":
        return table.RCVQ_SIGNS
    return None


def validate_static(cases: Iterable[Case] = rules.CASES) -> None:
    seen: set[str] = set()
    triggers = {f"call:{op}" for op in vocab.CALLS} | {"seg"} | {f"timer:{t}" for t in vocab.TIMERS}
    for c in cases:
        if c.id in seen:
            raise ModelDefinitionError(c.id, "id used twice")
        seen.add(c.id)
        if c.trigger not in triggers:
            raise ModelDefinitionError(c.id, f"unknown trigger {c.trigger!r}")
        if not c.source:
            raise ModelDefinitionError(c.id, "cites no source")
        if not c.outcomes:
            raise ModelDefinitionError(c.id, "has no outcome")
        for guard in [c.when] + [o.when for o in c.outcomes]:
            for key, allowed in guard.items():
                dom = _domain(key)
                if dom is None:
                    raise ModelDefinitionError(c.id, f"guard tests unknown {key!r}")
                if not allowed or not set(allowed) <= set(dom):
                    raise ModelDefinitionError(c.id, f"guard {key}={sorted(map(str, allowed))} outside {dom}")
        for o in c.outcomes:
            if not set(o.profiles) <= set(vocab.PROFILES) | {vocab.RFC_ONLY}:
                raise ModelDefinitionError(c.id, f"unknown profile in {sorted(o.profiles)}")
            for key, value in o.set.items():
                if key not in vocab.FINITE_FIELDS:
                    raise ModelDefinitionError(c.id, f"updates unknown field {key!r}")
                if value not in vocab.FINITE_FIELDS[key] and value not in SPECIAL_SET.get(key, ()):
                    raise ModelDefinitionError(c.id, f"sets {key} to {value!r}, not a value of its domain")
            for seg in o.emit:
                if seg not in vocab.SEGMENTS:
                    raise ModelDefinitionError(c.id, f"sends unknown segment {seg!r}")
            for tag in o.tags:
                if tag not in table.TAGS:
                    raise ModelDefinitionError(c.id, f"unknown action {tag!r}")
            if o.n is not None and o.n not in table.N_RULES:
                raise ModelDefinitionError(c.id, f"unknown byte-count rule {o.n!r}")
            if o.rcvq is not None and o.rcvq not in table.RCVQ_EFFECTS:
                raise ModelDefinitionError(c.id, f"unknown rcvq effect {o.rcvq!r}")
            if o.ret == vocab.RET_ERR and "err" not in c.when and "err" not in o.when:
                raise ModelDefinitionError(c.id, "returns the pending error without testing that there is one")
            if o.ret == vocab.RET_ERR and "NONE" in (o.when.get("err") or c.when.get("err")):
                raise ModelDefinitionError(c.id, "returns the pending error where there may be none")


# ---------------------------------------------------------------------------
# Exploration of one endpoint's reachable fields
def _input_combos():
    keys = list(vocab.INPUTS)
    for values in itertools.product(*(vocab.INPUTS[k] for k in keys)):
        yield dict(zip(keys, values))


def _param_combos(trigger: str):
    if trigger == "seg":
        for seg in vocab.SEGMENTS:
            yield {"seg": seg, "segn": 1 if seg == "DATA" else 0}
    elif trigger == "call:shutdown":
        for how in vocab.SHUT_HOW:
            yield {"how": how}
    elif trigger == "call:close":
        for l0 in (False, True):
            yield {"linger0": l0}
    elif trigger in ("call:send", "call:recv"):
        yield {"len": 2, "n": None}
    elif trigger == "call:bind":
        for port0 in (False, True):
            yield {"port0": port0}
    else:
        yield {}


def _abstract(ep: Endpoint) -> Endpoint:
    # rcvq matters only through its sign; 0 and 1 stand for all values
    return ep._replace(rcvq=min(ep.rcvq, 1))


def _successors(ep: Endpoint, trigger: str, profile: str, inputs: dict, params: dict):
    """Successor endpoints, choosing concrete byte counts for the outcome."""
    for r in semantics.step(ep, trigger, profile, inputs, params):
        if r.n_rule in ("len", "partial", "upto_rcvq"):
            p = dict(params, n=1)
            rs = [x for x in semantics.step(ep, trigger, profile, inputs, p) if x.outcome == r.outcome]
            for x in rs:
                yield x, semantics.apply(ep, x)
        else:
            yield r, semantics.apply(ep, r)


def explore(profile: str = "linux"):
    """Every abstract endpoint reachable from socket()'s, and the cases that fire."""
    start = [semantics.INITIAL, semantics.INITIAL._replace(nb=True)]
    seen: set[Endpoint] = set(start)
    fired: dict[str, int] = {}
    todo = deque(start)
    trig = list(semantics.triggers())
    while todo:
        ep = todo.popleft()
        for trigger in trig:
            for inputs in _input_combos():
                for params in _param_combos(trigger):
                    for r, nxt in _successors(ep, trigger, profile, inputs, params):
                        fired[r.case] = fired.get(r.case, 0) + 1
                        targets = [nxt]
                        if "spawn_req" in r.tags:
                            from tcpconform.model.system import rules_req
                            targets.append(rules_req(ep))
                        if "dequeue" in r.tags:
                            # the accepted child: any endpoint waiting in a queue, now with a descriptor
                            targets += [q._replace(fd="open", ss="CONNECTED", nb=False)
                                        for q in list(seen) if q.fd == "none" and q.st != "SYN_RECEIVED"]
                        for t in targets:
                            t = _abstract(t)
                            if "destroy" in r.tags and t == _abstract(nxt):
                                continue
                            if t not in seen:
                                seen.add(t)
                                todo.append(t)
    return seen, fired


def validate_dynamic(profile: str = "linux") -> dict:
    seen, fired = explore(profile)
    states = {ep.st for ep in seen}
    missing = set(vocab.STATES) - states
    if missing:
        raise ModelDefinitionError("*", f"states never reached under {profile}: {sorted(missing)}")
    for ep in seen:
        if ep.fd != "open":
            continue
        for op in vocab.CALLS:
            if op == "socket":
                continue
            for inputs in _input_combos():
                for params in _param_combos(f"call:{op}"):
                    c, outs = semantics.deciding_case(ep, f"call:{op}", profile, inputs, params)
                    if c is None:
                        raise ModelDefinitionError("*", f"no rule for {op} on {ep} ({profile})")
                    if not any(semantics.holds(o.when, ep, inputs, params) for o in outs):
                        raise ModelDefinitionError(c.id, f"no outcome for {op} on {ep} with {inputs} ({profile})")
    for ep in seen:
        if ep.st == "CLOSED":
            continue
        for params in _param_combos("seg"):
            for inputs in _input_combos():
                c, _ = semantics.deciding_case(ep, "seg", profile, inputs, params)
                if c is None:
                    raise ModelDefinitionError("*", f"no rule for segment {params['seg']} in {ep}")
    never = [c.id for c in rules.CASES if profile in c.profiles and c.id not in fired
             and c.kind != "rfc" and not c.id.endswith(".badf")]
    return {"endpoints": len(seen), "states": sorted(states), "fired": fired, "never_fired": never}
