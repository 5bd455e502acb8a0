"""Proofs that a mutant of the rule table is unobservable: z3 shows that its
step relation is the real table's.

For one trigger and one profile, the step relation T(pre, inp, par, post,
out) is the z3 reading of the table (:mod:`tcpconform.model.z3enc`): the
deciding case by first match, then any of its outcomes — its guard and
byte-count rule, return value, post-state, segments sent and composition
actions.  Which outcome (by name) was taken is left out: nothing outside the
table sees it.  If the mutant's relation equals the real one for every
endpoint, input and parameter (``Xor(T_real, T_mutant)`` unsatisfiable), then
every step of every system composed from the mutant is a step of the real
one and back, so no trace can tell them apart: the mutant is *equivalent*.
This is stronger than needed (it does not ask the endpoint to be reachable)
and so sound.

:func:`equivalent_where_reachable` asks less: the same steps from every
endpoint the real table lets a composed system hold
(:func:`tcpconform.model.space.composed`: the one-endpoint exploration, which
lets any segment arrive at any time and tries every value of what the guards
test, closed under the endpoints the system makes itself — a connection left
behind, a closed name whose connection is gone, an outside peer's queued
connection; its receive queue of 2 stands for 2 or more).  If the two relations agree there,
then by induction from ``socket()`` the mutant reaches the same endpoints by
the same steps, and again no trace can tell them apart.  This proves a
mutant of a case that never decides in a reachable endpoint (or of a guard
key that reachable endpoints never test false), which the first proof
cannot.

:func:`obligation` is the query as SMT-LIB text (``(check-sat)`` answers
``unsat`` when the mutant is equivalent), so a proof can be re-checked by
any SMT solver: ``z3 FILE.smt2``.
"""

from __future__ import annotations

from typing import Sequence

import z3

from tcpconform.model import semantics, space, vocab
from tcpconform.model import z3enc as E
from tcpconform.model.table import Case


def step_formula(trigger: str, profile: str, cases: Sequence[Case]) -> z3.BoolRef:
    """The step relation of ``trigger`` under ``profile`` as the table
    ``cases`` gives it, with the outcome taken left out (every outcome is
    numbered 0)."""
    cs = E.cases_for(trigger, profile, cases)
    fires = E.first_match([E.guard(c.when) for c in cs])
    return z3.Or([z3.And(fire, E.outcome_formula(o, 0))
                  for c, fire in zip(cs, fires) for o in c.outcomes_for(profile)])


def difference(trigger: str, profile: str, real: Sequence[Case], mutant: Sequence[Case]) -> z3.BoolRef:
    """Satisfiable exactly when some step of ``trigger`` is allowed by one
    table and not by the other (byte counts well formed)."""
    return z3.And(E.DOMAIN, z3.Xor(step_formula(trigger, profile, real), step_formula(trigger, profile, mutant)))


def equivalent(trigger: str, profiles: Sequence[str], real: Sequence[Case],
               mutant: Sequence[Case]) -> bool:
    """Whether z3 proves the two tables' steps of ``trigger`` equal under every
    profile given.  ``unknown`` from z3 is no proof."""
    for profile in profiles:
        s = z3.Solver()
        s.add(difference(trigger, profile, real, mutant))
        if s.check() != z3.unsat:
            return False
    return True


_REACHABLE: dict[str, z3.BoolRef] = {}


def reachable(profile: str) -> z3.BoolRef:
    """The pre-state is an endpoint the real table reaches under ``profile``
    (a receive queue of :data:`~tcpconform.model.space.RCVQ_CAP` read as at
    least that)."""
    hit = _REACHABLE.get(profile)
    if hit is None:
        alts = []
        for ep in space.composed(profile):
            eqs = [E.PRE[f] == E.FIELD_DOMAINS[f].lit(getattr(ep, f)) for f in E.FIELD_DOMAINS]
            q = E.PRE["rcvq"]
            eqs.append(q >= ep.rcvq if ep.rcvq >= space.RCVQ_CAP else q == ep.rcvq)
            alts.append(z3.And(eqs))
        hit = _REACHABLE[profile] = z3.Or(alts)
    return hit


def reachable_witness(trigger: str, profile: str, real: Sequence[Case], mutant: Sequence[Case]):
    """A reachable endpoint and a plan of inputs and parameters
    (:func:`tcpconform.model.space.plans`) on which the two tables' steps of
    ``trigger`` differ, or None: a quick refutation, before z3 is asked."""
    tries = space.plans(trigger, profile, real) + space.plans(trigger, profile, mutant)
    for ep in space.composed(profile):
        for inputs, params in tries:
            if semantics.step(ep, trigger, profile, inputs, params, real) != \
                    semantics.step(ep, trigger, profile, inputs, params, mutant):
                return ep, inputs, params
    return None


def equivalent_where_reachable(trigger: str, profiles: Sequence[str], real: Sequence[Case],
                               mutant: Sequence[Case]) -> bool:
    """Whether z3 proves the two tables' steps of ``trigger`` equal from every
    endpoint the real table reaches, under every profile given (see the module
    docstring); ``unknown`` is no proof."""
    assert set(vocab.INT_FIELDS) == {"rcvq"}, "reachable() bounds rcvq only"
    if any(reachable_witness(trigger, p, real, mutant) is not None for p in profiles):
        return False
    for profile in profiles:
        s = z3.Solver()
        s.add(difference(trigger, profile, real, mutant), reachable(profile))
        if s.check() != z3.unsat:
            return False
    return True


def obligation(trigger: str, profiles: Sequence[str], real: Sequence[Case], mutant: Sequence[Case]) -> str:
    """The proof as SMT-LIB: one query per profile, each answering ``unsat``
    when the mutant's steps of ``trigger`` are the real ones."""
    parts = []
    for profile in profiles:
        s = z3.Solver()
        s.add(difference(trigger, profile, real, mutant))
        parts.append(f"; profile {profile}, trigger {trigger}: unsat = the same steps\n"
                     + "(push)\n" + s.to_smt2().replace("(check-sat)", "(check-sat)\n(pop)"))
    return "\n".join(parts)
