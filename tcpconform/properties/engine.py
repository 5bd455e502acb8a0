"""Three ways z3 answers a question about the composed system.

* :func:`spacer` — an unbounded proof: the reachable states as the least
  solution of constrained Horn clauses (``Inv(init)``, ``Inv(s) ∧ T(s,s') →
  Inv(s')``, ``Inv(s) ∧ T(s,s') ∧ ¬P → false``) with **one** transition rule
  whose body is the disjunction of every step, solved by Spacer.  On success
  it returns the inductive invariant Spacer found.
* :func:`check_certificate` — a proof from a given invariant ``I`` with
  plain z3: ``init ⇒ I`` and ``I ∧ T ⇒ I' ∧ P`` (unsat checks on solvers
  that hold ``init`` and ``T`` once for every certificate).  An invariant
  found for other rules fails here: a certificate never outlives the rules
  it was found for.
* :func:`bmc` — bounded model checking: the shortest run (up to a depth)
  that reaches a step satisfying a target.  Used for witnesses (vacuity) and
  counterexamples, never as a proof.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import z3

from tcpconform.properties import bounds as B
from tcpconform.properties.compose import NAMES, Composed


@dataclass
class Answer:
    verdict: str            # "proven" / "refuted" / "unknown" / "witnessed" / "unreached"
    method: str
    seconds: float
    invariant: z3.BoolRef | None = None
    detail: str = ""
    trace: list | None = None


def _cur(c: Composed) -> list:
    return [c.cur[k] for k in NAMES]


def _nxt(c: Composed) -> list:
    return [c.nxt[k] for k in NAMES]


def _step_vars(c: Composed) -> list:
    return c.step_vars()


def spacer(c: Composed, prop: z3.BoolRef, timeout_ms: int = 60_000) -> Answer:
    """Prove ``prop`` for every step from every reachable state with Spacer."""
    t0 = time.perf_counter()
    cur, nxt = _cur(c), _nxt(c)
    fp = z3.Fixedpoint()
    fp.set(engine="spacer", timeout=timeout_ms)
    inv = z3.Function("Inv", *[v.sort() for v in cur], z3.BoolSort())
    bad = z3.Function("Bad", z3.BoolSort())
    fp.register_relation(inv, bad)
    fp.declare_var(*cur, *nxt, *_step_vars(c))
    fp.rule(inv(*cur), c.init)
    fp.rule(inv(*nxt), [inv(*cur), c.trans])
    fp.rule(bad(), [inv(*cur), c.trans, z3.Not(prop)])
    try:
        res = fp.query(bad)
    except z3.Z3Exception as exc:  # timeout: z3 cancels the query
        return Answer("unknown", "spacer", time.perf_counter() - t0, detail=str(exc))
    dt = time.perf_counter() - t0
    if res == z3.unsat:
        cover = fp.get_cover_delta(-1, inv)
        invariant = z3.substitute_vars(cover, *cur)
        return Answer("proven", "spacer", dt, invariant=invariant)
    if res == z3.sat:
        return Answer("refuted", "spacer", dt, detail="Spacer found a run reaching a violation")
    return Answer("unknown", "spacer", dt, detail=fp.reason_unknown())


def _solvers(c: Composed) -> tuple[z3.Solver, z3.Solver]:
    """Two incremental solvers for ``c``, made once: one holding ``init``, one
    holding ``trans``.  Each re-check pushes its own assertions and pops them,
    so the large transition relation is taken in once for every certificate
    (what z3 learns from ``trans`` alone stays true for all of them)."""
    if getattr(c, "_cert_solvers", None) is None:
        si, st = z3.Solver(), z3.Solver()
        si.add(c.init)
        st.add(c.trans)
        c._cert_solvers = (si, st)
    return c._cert_solvers


def _unsat(s: z3.Solver, *assertions: z3.BoolRef) -> z3.CheckSatResult:
    s.push()
    try:
        s.add(*assertions)
        return s.check()
    finally:
        s.pop()


def check_certificate(c: Composed, prop: z3.BoolRef, invariant: z3.BoolRef) -> Answer:
    """Re-check an inductive invariant with plain z3: ``init ⇒ I``, and
    ``I ∧ T ⇒ I' ∧ P`` (one query; when it fails, a second says which part)."""
    t0 = time.perf_counter()
    inv_next = z3.substitute(invariant, *zip(_cur(c), _nxt(c)))
    si, st = _solvers(c)

    def fail(r: z3.CheckSatResult, what: str) -> Answer:
        return Answer("refuted" if r == z3.sat else "unknown", "certificate",
                      time.perf_counter() - t0, detail=f"{what} fails")

    r = _unsat(si, z3.Not(invariant))
    if r != z3.unsat:
        return fail(r, "init ⇒ I")
    r = _unsat(st, invariant, z3.Or(z3.Not(inv_next), z3.Not(prop)))
    if r != z3.unsat:
        step = _unsat(st, invariant, z3.Not(inv_next))
        return fail(r, "I ∧ T ⇒ I'" if step != z3.unsat else "I ∧ T ⇒ P")
    return Answer("proven", "certificate", time.perf_counter() - t0, invariant=invariant)


def bmc(c: Composed, target: z3.BoolRef, depth: int = B.BMC_DEPTH) -> Answer:
    """The shortest run of at most ``depth`` steps whose last step satisfies
    ``target`` (a formula over the current state and the step):
    :func:`tcpconform.properties.runs.bmc`, its run as ``trace`` rows (``run``: the run)."""
    from tcpconform.properties import runs
    f = runs.bmc(c, runs.last_step(target), depth)
    ans = Answer(f.verdict, f.method, f.seconds, detail=f.detail, trace=runs.rows(f.run) if f.run else None)
    ans.run = f.run
    return ans
