"""The z3 encoding and the executable semantics read the same table the same way.

:mod:`tcpconform.model.z3enc` and :mod:`tcpconform.model.semantics` are two interpreters of
:data:`tcpconform.model.rules.CASES`.  On random endpoints, triggers, inputs and
parameters, the set of results ``semantics.step`` returns must be exactly the
set of models :func:`tcpconform.model.z3enc.successors` enumerates.  A mutated table fed
to the z3 side must make them disagree somewhere: the comparison can fail.
"""

from __future__ import annotations

import dataclasses

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpconform.model import rules, semantics, vocab, z3enc
from tcpconform.model.semantics import Endpoint
from tcpconform.model.table import PARAMS

TRIGGERS = tuple(semantics.triggers())

endpoints = st.fixed_dictionaries(
    {**{f: st.sampled_from(dom) for f, dom in vocab.FINITE_FIELDS.items()},
     "rcvq": st.integers(0, 5)}
).map(lambda d: Endpoint(**d))
inputs = st.fixed_dictionaries({k: st.sampled_from(dom) for k, dom in vocab.INPUTS.items()})
params = st.fixed_dictionaries({
    "seg": st.sampled_from(vocab.SEGMENTS),
    **{k: st.sampled_from(dom) for k, dom in PARAMS.items()},   # how, linger0
    "len": st.none() | st.integers(0, 6),
    "n": st.integers(0, 7),
    "segn": st.integers(0, 6),
})


def by_semantics(ep, trigger, profile, inp, par) -> set:
    return {z3enc.normalize(ep, r) for r in semantics.step(ep, trigger, profile, inp, par)}


def by_z3(ep, trigger, profile, inp, par, encoding=None) -> set:
    return z3enc.successors(ep, trigger, profile, inp, par, encoding=encoding)


# ---- witnesses: configurations z3 finds in which a given outcome is taken ----

# Bounds for the integers of a witness (they are otherwise unbounded).
BOUNDS = z3.And(z3enc.PRE["rcvq"] <= 5, z3enc.PAR["len"] <= 6, z3enc.PAR["n"] <= 7, z3enc.PAR["segn"] <= 6)


def decode_config(m: z3.ModelRef):
    """The pre-state, inputs and parameters of a z3 model."""
    val = lambda x: m.eval(x, model_completion=True)  # noqa: E731
    ep = Endpoint(**{f: d.decode(val(z3enc.PRE[f])) for f, d in z3enc.FIELD_DOMAINS.items()},
                  rcvq=val(z3enc.PRE["rcvq"]).as_long())
    inp = {k: d.decode(val(z3enc.INP[k])) for k, d in z3enc.INPUT_DOMAINS.items()}
    par = {k: d.decode(val(z3enc.PAR[k])) for k, d in z3enc.PARAM_DOMAINS.items()}
    par.update({k: val(z3enc.PAR[k]).as_long() for k in z3enc.INT_PARAMS})
    if not z3.is_true(val(z3enc.PAR["has_len"])):
        par["len"] = None
    return ep, inp, par


def witness(enc: z3enc.Encoding, index: int):
    """A configuration (ep, inputs, params) in which outcome ``index`` is taken, or None."""
    s = z3.Solver()
    s.add(enc.domain, enc.formula, BOUNDS, enc.outcome == index)
    return decode_config(s.model()) if s.check() == z3.sat else None


_WITNESSES: dict[str, tuple] = {}


def witnesses(profile: str) -> tuple:
    """(trigger, outcome name, ep, inputs, params) for every outcome z3 can take."""
    if profile not in _WITNESSES:
        names, found = z3enc.outcome_names(), []
        for trigger in TRIGGERS:
            enc = z3enc.encode(trigger, profile)
            for c in z3enc.cases_for(trigger, profile, rules.CASES):
                for o in c.outcomes_for(profile):
                    w = witness(enc, names.index(o.name))
                    if w is not None:
                        found.append((trigger, o.name, *w))
        _WITNESSES[profile] = tuple(found)
    return _WITNESSES[profile]


# Every key a configuration has, with the values it may take.
KEYS = {**{("ep", f): st.sampled_from(d) for f, d in vocab.FINITE_FIELDS.items()},
        ("ep", "rcvq"): st.integers(0, 5),
        **{("inp", k): st.sampled_from(d) for k, d in vocab.INPUTS.items()},
        ("par", "seg"): st.sampled_from(vocab.SEGMENTS),
        **{("par", k): st.sampled_from(d) for k, d in PARAMS.items()},
        ("par", "len"): st.none() | st.integers(0, 6),
        ("par", "n"): st.integers(0, 7),
        ("par", "segn"): st.integers(0, 6)}


@st.composite
def configs(draw, profile: str):
    """(trigger, ep, inputs, params): half drawn uniformly, half a witness
    of some outcome with up to three keys changed, so that the rare corners
    of the table (and the boundaries between cases) are visited often."""
    if draw(st.booleans()):
        return draw(st.tuples(st.sampled_from(TRIGGERS), endpoints, inputs, params))
    trigger, _, ep, inp, par = draw(st.sampled_from(witnesses(profile)))
    parts = {"ep": ep._asdict(), "inp": dict(inp), "par": dict(par)}
    for _ in range(draw(st.integers(0, 3))):
        where, key = draw(st.sampled_from(list(KEYS)))
        parts[where][key] = draw(KEYS[where, key])
    return trigger, Endpoint(**parts["ep"]), parts["inp"], parts["par"]


# ---- agreement ---------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("profile", vocab.PROFILES)
@settings(max_examples=2000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_z3_agrees_with_semantics(profile, data):
    trigger, ep, inp, par = data.draw(configs(profile))
    assert by_z3(ep, trigger, profile, inp, par) == by_semantics(ep, trigger, profile, inp, par)


@pytest.mark.parametrize("profile", vocab.PROFILES)
@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_transition_relation_agrees(profile, data):
    """The whole relation, with the trigger variable fixed, is the trigger's encoding."""
    trigger, ep, inp, par = data.draw(configs(profile))
    whole = z3enc.transition_relation(profile)
    assert by_z3(ep, trigger, profile, inp, par, whole) == by_semantics(ep, trigger, profile, inp, par)


@pytest.mark.parametrize("profile", vocab.PROFILES)
def test_every_outcome_witnessed(profile):
    """Every outcome z3 says can be taken is taken by the semantics in
    z3's witness, and the two agree there."""
    for trigger, name, ep, inp, par in witnesses(profile):
        sem = by_semantics(ep, trigger, profile, inp, par)
        assert name in {s[0] for s in sem}, (name, ep, inp, par)
        assert by_z3(ep, trigger, profile, inp, par) == sem, (name, ep, inp, par)
    assert len(witnesses(profile)) > 100


# ---- the comparison can fail ------------------------------------------------

def _outcome(cases, name, **changes):
    """A copy of the table with one outcome changed."""
    return tuple(
        dataclasses.replace(c, outcomes=tuple(dataclasses.replace(o, **changes) if o.name == name else o
                                              for o in c.outcomes))
        for c in cases)


def _case(cases, case_id, **changes):
    return tuple(dataclasses.replace(c, **changes) if c.id == case_id else c for c in cases)


def _swap(cases, a, b):
    cs = list(cases)
    i, j = [next(k for k, c in enumerate(cs) if c.id == x) for x in (a, b)]
    cs[i], cs[j] = cs[j], cs[i]
    return tuple(cs)


def _drop_key(cases, case_id, key):
    c = next(c for c in cases if c.id == case_id)
    return _case(cases, case_id, when={k: v for k, v in c.when.items() if k != key})


MUTATIONS = {
    # (trigger, how the table is mutated)
    "ret": ("call:send", lambda cs: _outcome(cs, "send.shut/0", ret="ECONNRESET")),
    "order": ("call:recv", lambda cs: _swap(cs, "recv.data", "recv.eof")),
    "effect": ("seg", lambda cs: _outcome(cs, "est.fin/0", set={"st": "CLOSING", "done": True})),
    "release": ("seg", lambda cs: _outcome(cs, "est.rst/0", set=dict(rules.tcp_reset("ECONNRESET"), bound="no"))),
    "emit": ("call:close", lambda cs: _outcome(cs, "close.fin/0", emit=("FINACK",))),
    "n_rule": ("call:send", lambda cs: _outcome(cs, "send.ok/1", n="upto_rcvq")),
    "rcvq": ("call:recv", lambda cs: _outcome(cs, "recv.data/0", rcvq="zero")),
    "guard": ("seg", lambda cs: _drop_key(cs, "listen.syn.full", "q_full")),
    "tag": ("call:accept", lambda cs: _outcome(cs, "accept.ok/0", tags=())),
}


def differences(a: z3enc.Encoding, b: z3enc.Encoding, limit: int = 200):
    """Configurations in which two encodings of one trigger allow different
    results (some output one allows and the other does not)."""
    s = z3.Solver()
    s.add(a.domain, BOUNDS, z3.Xor(a.formula, b.formula))
    for _ in range(limit):
        if s.check() != z3.sat:
            return
        m = s.model()
        yield decode_config(m)
        fixed = [*z3enc.PRE.values(), *z3enc.INP.values(), *z3enc.PAR.values()]
        s.add(z3.Or([x != m.eval(x, model_completion=True) for x in fixed]))


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_mutated_table_disagrees(mutation):
    """The z3 encoding of a mutated table disagrees with the semantics of
    the real one on some configuration: a wrong encoding would be caught.
    The configurations tried are where the mutated and the real encoding
    differ; the verdict is the semantics'."""
    trigger, mutate = MUTATIONS[mutation]
    profile = "linux"
    # Numbered as the real table, so that a reordered table's outcomes keep their numbers.
    mutated = z3enc.encode(trigger, profile, cases=mutate(rules.CASES), names=z3enc.outcome_names())
    tried = list(differences(z3enc.encode(trigger, profile), mutated))
    assert tried, "the mutation changed nothing z3 can see"
    assert any(by_z3(ep, trigger, profile, inp, par, mutated) != by_semantics(ep, trigger, profile, inp, par)
               for ep, inp, par in tried)
