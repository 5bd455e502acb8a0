"""The model checks itself when it is built.

* :func:`validate_static` — every guard names a known field, input or
  parameter and only values of its domain; every update targets a real
  field with a value of its domain (every target state is one of the
  eleven); every segment, tag and byte-count rule is known; case ids are
  unique; every case cites a source; the structured facts of a case agree
  with its guard and outcomes (a Fig. 5 arc leaves a state the guard allows
  and ends in a state an outcome sets; ``departs`` is a known kind).
  Runs at import of :mod:`model`.
* :func:`validate_dynamic` — over the endpoint state space
  (:func:`tcpconform.model.space.explore`: every endpoint reachable from
  ``socket()``'s through the table, with every input and parameter), asserts
  that all eleven states are reachable, that every reachable endpoint has an
  answer for every call and every segment under every profile (no silent
  gaps), and reports the cases that decide no step.  The test suite runs it.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from tcpconform.model import composition, rules, semantics, space, table, vocab
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
    triggers = {f"call:{op}" for op in vocab.ALL_CALLS} | {"seg"} | {f"timer:{t}" for t in vocab.TIMERS}
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
            if not set(o.via) <= set(vocab.STATES):
                raise ModelDefinitionError(c.id, f"passes through unknown states {list(o.via)}")
            if o.value is not None and o.value not in table.VALUES:
                raise ModelDefinitionError(c.id, f"returns unknown value {o.value!r}")
            if o.rcvq is not None and o.rcvq not in table.RCVQ_EFFECTS:
                raise ModelDefinitionError(c.id, f"unknown rcvq effect {o.rcvq!r}")
            if o.ret == vocab.RET_ERR and "err" not in c.when and "err" not in o.when:
                raise ModelDefinitionError(c.id, "returns the pending error without testing that there is one")
            if o.ret == vocab.RET_ERR and "NONE" in (o.when.get("err") or c.when.get("err")):
                raise ModelDefinitionError(c.id, "returns the pending error where there may be none")
        if c.departs and c.departs not in table.DEPARTURES:
            raise ModelDefinitionError(c.id, f"departs {c.departs!r}, not one of {table.DEPARTURES}")
        for src, dst in c.fig5:
            ends = {o.set["st"] for o in c.outcomes if "st" in o.set}
            ends |= {composition.REQUEST_SOCK_FIELDS["st"] for o in c.outcomes if "spawn_req" in o.tags}
            if src not in c.when.get("st", vocab.STATES) or dst not in ends:
                raise ModelDefinitionError(c.id, f"encodes Fig. 5 arc {src}→{dst}, which its guard "
                                                 f"and outcomes do not take")


    for rule in rules.POLL_RULES:
        if rule.event not in vocab.POLL_EVENTS:
            raise ModelDefinitionError(f"poll.{rule.event}", "unknown readiness event")
        for guard in rule.must + rule.may:
            for key, allowed in guard.items():
                dom = _domain(key)
                if dom is None or not allowed or not set(allowed) <= set(dom):
                    raise ModelDefinitionError(f"poll.{rule.event}", f"guard tests {key!r} outside its domain")


# ---------------------------------------------------------------------------
def validate_dynamic(profile: str = "linux", cases: Sequence[Case] | None = None) -> dict:
    """Check the state space of ``cases`` (the model's table unless given)
    under ``profile``; return its counts and the cases that decide no step
    (``socket()`` aside: the exploration starts from what it makes)."""
    cases = rules.CASES if cases is None else cases
    ex = space.explore(profile, cases)
    states = {ep.st for ep in ex.reach}
    missing = set(vocab.STATES) - states
    if missing:
        raise ModelDefinitionError("*", f"states never reached under {profile}: {sorted(missing)}")
    for ep in ex.reach:
        if ep.fd != "open":
            continue
        for op in vocab.ALL_CALLS:
            if op == "socket":
                continue
            trigger = f"call:{op}"
            for inputs, params in space.plans(trigger, profile, cases):
                c, outs = semantics.deciding_case(ep, trigger, profile, inputs, params, cases)
                if c is None:
                    raise ModelDefinitionError("*", f"no rule for {op} on {ep} ({profile})")
                if not any(semantics.holds(o.when, ep, inputs, params) for o in outs):
                    raise ModelDefinitionError(c.id, f"no outcome for {op} on {ep} with {inputs} ({profile})")
    for ep in ex.reach:
        if ep.st == "CLOSED":
            continue
        for inputs, params in space.plans("seg", profile, cases):
            c, _ = semantics.deciding_case(ep, "seg", profile, inputs, params, cases)
            if c is None:
                raise ModelDefinitionError("*", f"no rule for segment {params['seg']} in {ep}")
    fired: dict[str, int] = {}
    for t in ex.transitions:
        fired[t.case.id] = fired.get(t.case.id, 0) + 1
    never = [c.id for c in cases if profile in c.profiles and c.id not in fired
             and c.trigger != "call:socket" and not c.id.endswith(".badf")]
    return {**ex.counts(), "states": sorted(states), "fired": fired, "never_fired": never}
