"""Executable semantics of one endpoint: the rule table read as Python.

Pure functions, no I/O and no clock.  :func:`step` takes an endpoint's
fields, a trigger, the system inputs and the call's parameters, and returns
every result the rule table allows under a profile.  The composition of
many endpoints and the network is :mod:`tcpconform.model.system`.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

from tcpconform.model import rules, vocab
from tcpconform.model.table import PARAM_DEFAULTS, RELEASE, Case, Outcome

CONNECTING_TO = "$connecting->"


class Endpoint(NamedTuple):
    """The finite fields of an endpoint, plus the receive-queue byte count."""
    st: str
    ss: str
    fd: str
    bound: str
    nb: bool
    err: str
    done: bool
    rdsh: bool
    wrsh: bool
    role: str
    rcvq: int


INITIAL = Endpoint(**rules.INITIAL)


class Result(NamedTuple):
    case: str
    outcome: str
    ret: str            # "ok", an errno, or WAIT
    changes: tuple      # ((field, new value), ...) — only fields that change
    emit: tuple         # segment kinds sent
    tags: tuple         # composition actions
    n_rule: str | None  # the constraint the returned byte count met
    value: str | None = None  # what else the call returns (tcpconform.model.table.VALUES)


def _value(ep: Endpoint, key: str, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    if key == "rcvq":
        return "pos" if ep.rcvq > 0 else "zero"
    if key in vocab.FINITE_FIELDS:
        return getattr(ep, key)
    if key in inputs:
        return inputs[key]
    if key in params:
        return params[key]
    if key in PARAM_DEFAULTS:
        return PARAM_DEFAULTS[key]
    raise KeyError(f"rule guard tests {key!r}, which the caller did not supply")


def holds(guard: Mapping[str, frozenset], ep: Endpoint, inputs: Mapping, params: Mapping) -> bool:
    for key, allowed in guard.items():
        if _value(ep, key, inputs, params) not in allowed:
            return False
    return True


def n_ok(rule: str | None, n: int | None, length: int | None, rcvq: int) -> bool:
    """Does the byte count a call returned meet the outcome's constraint?
    ``n is None`` asks only whether some count could."""
    if rule is None:
        return True  # the call returns no byte count
    if rule == "zero":
        return n is None or n == 0
    if length is None:
        return n is None
    if rule == "len":
        return n is None or n == length
    if rule == "partial":
        return length >= 2 if n is None else 1 <= n < length
    if rule == "upto_rcvq":
        top = min(length, rcvq)
        return top >= 1 if n is None else 1 <= n <= top
    raise ValueError(f"unknown byte-count rule {rule!r}")


def apply_set(ep: Endpoint, sets: Mapping[str, Any]) -> dict:
    """The field updates of an outcome, with the special values resolved
    against the endpoint *before* the step."""
    new: dict[str, Any] = {}
    for key, value in sets.items():
        if value == RELEASE:
            value = "no" if ep.bound == "auto" else ep.bound
        elif value == rules.CLAIM:
            value = "auto" if ep.bound == "no" else ep.bound
        elif isinstance(value, str) and value.startswith(CONNECTING_TO):
            value = value[len(CONNECTING_TO):] if ep.ss == "CONNECTING" else ep.ss
        new[key] = value
    return new


def rcvq_after(effect: str | None, rcvq: int, n: int | None, segn: int | None) -> int:
    if effect is None:
        return rcvq
    if effect == "minus_n":
        return rcvq - (n or 0)
    if effect == "plus_seg":
        return rcvq + (segn or 0)
    if effect == "zero":
        return 0
    raise ValueError(f"unknown rcvq effect {effect!r}")


# Each table read once: (trigger, profile) -> its cases and their outcomes
# under the profile, in table order.  A table is kept with its index, so that
# its id is never reused by another while the index lives.
_INDEXES: dict[int, tuple[Sequence[Case], dict]] = {}


def cases_for(trigger: str, profile: str, cases: Sequence[Case] | None = None
              ) -> tuple[tuple[Case, tuple[Outcome, ...]], ...]:
    """The cases of ``trigger`` under ``profile`` in table order, each with
    its outcomes under the profile.  ``cases``: the model's table
    (:data:`tcpconform.model.rules.CASES`) unless another is given (an edited
    copy, a mutant)."""
    cases = rules.CASES if cases is None else cases
    hit = _INDEXES.get(id(cases))
    if hit is None or hit[0] is not cases:
        hit = (cases, {})
        _INDEXES[id(cases)] = hit
    index = hit[1]
    key = (trigger, profile)
    found = index.get(key)
    if found is None:
        found = tuple((c, c.outcomes_for(profile)) for c in cases
                      if c.trigger == trigger and profile in c.profiles)
        index[key] = found
    return found


def fires_in(trigger: str, profile: str, st: str, cases: Sequence[Case] | None = None) -> bool:
    """Whether some case of ``trigger`` may decide in TCP state ``st`` (its
    guard on ``st``, if it has one, allows it): a cheap test before
    :func:`step` for triggers tried in every state (the timers)."""
    if _PROBES is not None and (cases is None or cases is rules.CASES):
        _PROBES.add(("fires_in", trigger, profile, st))
    return any(st in c.when.get("st", (st,)) for c, _ in cases_for(trigger, profile, cases))


def deciding_case(ep: Endpoint, trigger: str, profile: str, inputs: Mapping, params: Mapping,
                  cases: Sequence[Case] | None = None):
    """The first case of the trigger whose guard holds (first match wins)."""
    for c, outs in cases_for(trigger, profile, cases):
        if holds(c.when, ep, inputs, params):
            return c, outs
    return None, ()


def step(ep: Endpoint, trigger: str, profile: str, inputs: Mapping[str, Any] | None = None,
         params: Mapping[str, Any] | None = None, cases: Sequence[Case] | None = None) -> list[Result]:
    """Every result the table allows for ``trigger`` on ``ep``.

    ``params`` may hold ``len``, ``n`` (the count a call returned; omit to
    ask for all), ``segn`` (bytes of an arriving DATA segment), ``how``,
    ``linger0`` and ``seg``.  ``cases``: the model's table unless another
    is given; this is the one reading of any rule table in Python.
    """
    inputs = inputs or {}
    params = params or {}
    if cases is not None and cases is not rules.CASES:
        return list(_step(ep, trigger, profile, inputs, params, cases))
    key = (ep, trigger, profile, tuple(inputs.items()), tuple(params.items()))
    if _PROBES is not None:
        _PROBES.add(key)
    hit = _STEP_CACHE.get(key)
    if hit is None:
        hit = _step(ep, trigger, profile, inputs, params, None)
        if len(_STEP_CACHE) > 200_000:
            _STEP_CACHE.clear()
        _STEP_CACHE[key] = hit
    return list(hit)


# step() is a pure function of its arguments: its results on the model's table are kept.
_STEP_CACHE: dict = {}

# ---------------------------------------------------------------------------
# Probes: which questions a computation asked of the model's table
_PROBES: set | None = None


@contextlib.contextmanager
def probing() -> Iterator[set]:
    """Within the block, every question asked of the model's own table (each
    :func:`step` and :func:`fires_in`, cached or not) is added to the set
    yielded, as a *probe* (see :func:`answer`).  Another table that gives
    the same answer to every probe of a computation would have made the same
    computation step for step; so only a table that answers some probe
    differently can change its outcome (what mutation adequacy uses to know
    which traces a mutant can change).  Caches above this module (closures,
    the memoised checker's transitions) skip questions: empty them first."""
    global _PROBES
    outer, _PROBES = _PROBES, set()
    try:
        yield _PROBES
    finally:
        _PROBES = outer


def answer(probe: tuple, cases: Sequence[Case] | None = None) -> Any:
    """What ``cases`` (the model's table unless given) answers to ``probe``."""
    if probe[0] == "fires_in":
        return fires_in(probe[1], probe[2], probe[3], cases)
    ep, trigger, profile, inputs, params = probe
    return _step(ep, trigger, profile, dict(inputs), dict(params), cases)


def probe_trigger(probe: tuple) -> str:
    """The trigger a probe asks about."""
    return probe[1]


def clear_cache() -> None:
    """Forget the results of :func:`step` kept for the model's table."""
    _STEP_CACHE.clear()


def _step(ep: Endpoint, trigger: str, profile: str, inputs: Mapping[str, Any],
          params: Mapping[str, Any], cases: Sequence[Case] | None) -> tuple[Result, ...]:
    c, outs = deciding_case(ep, trigger, profile, inputs, params, cases)
    if c is None:
        return ()
    results = []
    n = params.get("n")
    for o in outs:
        if not holds(o.when, ep, inputs, params):
            continue
        if not n_ok(o.n, n, params.get("len"), ep.rcvq):
            continue
        ret = ep.err if o.ret == vocab.RET_ERR else o.ret
        new = apply_set(ep, o.set)
        q = rcvq_after(o.rcvq, ep.rcvq, n, params.get("segn"))
        if q != ep.rcvq:
            new["rcvq"] = q
        changes = tuple((k, v) for k, v in new.items() if getattr(ep, k) != v)
        results.append(Result(c.id, o.name, ret, changes, o.emit, o.tags, o.n, o.value))
    return tuple(results)


def poll_events(ep: Endpoint, inputs: Mapping[str, Any]) -> tuple[frozenset, frozenset]:
    """The readiness events poll() must report for a descriptor of ``ep`` and
    those it may (a superset), from :data:`tcpconform.model.rules.POLL_RULES`
    (inputs: ``q_nonempty``, ``outstanding``)."""
    key = (ep, tuple(sorted(inputs.items())))
    hit = _POLL_CACHE.get(key)
    if hit is None:
        must, may = set(), set()
        for rule in rules.POLL_RULES:
            if any(holds(g, ep, inputs, {}) for g in rule.must):
                must.add(rule.event)
                may.add(rule.event)
            elif any(holds(g, ep, inputs, {}) for g in rule.may):
                may.add(rule.event)
        hit = _POLL_CACHE[key] = (frozenset(must), frozenset(may))
    return hit


_POLL_CACHE: dict = {}


def apply(ep: Endpoint, result: Result) -> Endpoint:
    if not result.changes:
        return ep
    key = (ep, result.changes)
    new = _APPLY_CACHE.get(key)
    if new is None:
        new = ep._replace(**dict(result.changes))
        if len(_APPLY_CACHE) > 200_000:
            _APPLY_CACHE.clear()
        _APPLY_CACHE[key] = new
    return new


_APPLY_CACHE: dict = {}


def triggers(cases: Sequence[Case] | None = None) -> Iterable[str]:
    """Every trigger of the table, in the order of its first case."""
    seen: dict[str, None] = {}
    for c in rules.CASES if cases is None else cases:
        seen.setdefault(c.trigger, None)
    return tuple(seen)
