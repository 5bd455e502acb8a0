"""The properties of the calls version 2 adds: proven for every endpoint, each refuted by its
broken data, none vacuous; and the readiness rules read the same in z3 as in Python."""

from __future__ import annotations

import itertools

import pytest
import z3

from tcpconform.model import rules, semantics, space
from tcpconform.model import z3enc as E
from tcpconform.properties import calls


@pytest.mark.parametrize("name", list(calls.BY_NAME))
def test_property_is_proven_and_not_vacuous(name):
    r = calls.prove_one(calls.BY_NAME[name])
    assert (r["verdict"], r["premise"]["verdict"]) == ("proven", "witnessed"), r


@pytest.mark.parametrize("name", list(calls.BY_NAME))
def test_property_is_refuted_by_its_mutant(name):
    r = calls.prove_one(calls.BY_NAME[name], mutant=True)
    assert r["verdict"] == "refuted" and r["counterexample_endpoint"]["pre"], r


def test_poll_rules_read_the_same_in_z3():
    solver = z3.Solver()
    # one endpoint per combination of the fields the rules test (the others cannot change the answer)
    tested = sorted({k for r in rules.POLL_RULES for g in r.must + r.may for k in g} - set(E.INP))
    reach = list({tuple(getattr(ep, k) if k != "rcvq" else ep.rcvq > 0 for k in tested): ep
                  for ep in space.explore("linux").reach}.values())
    checked = 0
    for ep, (q, out) in itertools.product(reach, itertools.product((False, True), repeat=2)):
        inputs = {"q_nonempty": q, "outstanding": out}
        must, may = semantics.poll_events(ep, inputs)
        solver.push()
        solver.add(E.fix(ep, inputs, {"n": 0}))
        for rule in rules.POLL_RULES:
            for guards, want in ((rule.must, rule.event in must), (rule.must + rule.may, rule.event in may)):
                got = solver.check(z3.Or([E.guard(g) for g in guards] or [z3.BoolVal(False)])) == z3.sat
                assert got == want, (ep, inputs, rule.event)
                checked += 1
        solver.pop()
    assert checked == len(reach) * 4 * len(rules.POLL_RULES) * 2
