"""Evidence mined from random campaigns: which recorded random sequences kill
the mutants that the scenarios leave alive.

A random campaign (``conform run --random``) drives this kernel through
thousands of generated call sequences, each recorded with its observers and
checked.  Every sequence that conforms is a recorded trace of the kernel like
a scenario's, and some of them go where no scenario goes.  :func:`mine`
takes such traces and the surviving mutants and finds, for each survivor, a
trace that the real model accepts and the mutant rejects.  The traces that
kill something are the ones worth keeping (``conform mutants --mine N``
stores them with the scenario traces, in a ``random/`` folder; the program
that made each is in its header, ``meta.program``).

Cost: each trace is checked once from empty caches with its questions to
the table recorded (:func:`tcpconform.properties.adequacy.probes`); a
survivor is then checked only against the traces that asked a question it
answers differently (:func:`tcpconform.properties.adequacy.reaching`), the
traces that reach the most survivors first, at most :data:`TRIES` of them
(a mutant that a trace reaches but does not kill differs where the trace
cannot see it: more of the same rarely helps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from tcpconform.properties import adequacy
from tcpconform.properties.adequacy import EXECUTED, Baseline, Evidence, Mutant

TRIES = 6
"""Most traces tried against one survivor."""


@dataclass(frozen=True)
class Kill:
    """A survivor killed by a mined trace (read under ``profile``); ``note``:
    how the mutant's check ended when not in a divergence (:data:`adequacy.NOTES`)."""
    mutant: Mutant
    trace: Evidence
    profile: str
    note: str = ""


_WORK: dict = {}


def _probe_one(i: int) -> tuple[int, dict]:
    ev = _WORK["traces"][i]
    found = {}
    for p in _WORK["profiles"]:
        ok, asked = adequacy.probes(ev, p)
        if ok:
            found[p] = asked
    return i, found


def _pool_map(fn: Callable, n: int, jobs: int) -> Iterable:
    if jobs > 1 and n > 1:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            yield from pool.imap_unordered(fn, range(n), chunksize=4)
    else:
        yield from map(fn, range(n))


def reach(traces: Sequence[Evidence], profiles: Sequence[str], jobs: int = 1) -> Baseline:
    """The real model's view of the mined traces: those it accepts under each
    profile, and the questions each check asked (as :func:`adequacy.baseline`)."""
    _WORK.update(traces=list(traces), profiles=list(profiles))
    probed: list[dict] = [{}] * len(traces)
    try:
        for i, found in _pool_map(_probe_one, len(traces), jobs):
            probed[i] = found
    finally:
        _WORK.clear()
    scen: dict[str, list[Evidence]] = {p: [] for p in EXECUTED}
    rejected: dict[str, list[str]] = {p: [] for p in EXECUTED}
    where: dict[str, dict[str, dict[tuple, list[int]]]] = {p: {} for p in EXECUTED}
    for ev, found in zip(traces, probed):
        for p in profiles:
            if p not in found:
                rejected[p].append(ev.name)
                continue
            for q in found[p]:
                where[p].setdefault(adequacy.semantics.probe_trigger(q), {}).setdefault(q, []).append(len(scen[p]))
            scen[p].append(ev)
    return Baseline(scen, [], [], rejected, where)


def _kill_one(k: int) -> tuple[int, tuple[str, int, str] | None]:
    m, base, order = _WORK["survivors"][k], _WORK["base"], _WORK["order"]
    for p in m.profiles:
        where = sorted(adequacy.reaching(m, base, p), key=lambda i: order[p][i])
        for i in where[:TRIES]:
            v = adequacy.verdict_of(base.scenarios[p][i], p, m.cases)
            if v != "conforms":
                return k, (p, i, adequacy.NOTES.get(v, ""))
    return k, None


def mine(survivors: Sequence[Mutant], traces: Sequence[Evidence], jobs: int = 1,
         progress: Callable[[str], None] | None = None) -> list[Kill]:
    """For each survivor, a trace of ``traces`` that the real model accepts and
    the mutant rejects, if one is found (see the module docstring)."""
    tell = progress or (lambda text: None)
    profiles = [p for p in EXECUTED if any(p in m.profiles for m in survivors)]
    base = reach(traces, profiles, jobs)
    tell(f"{len(traces)} traces read; the model accepts "
         + ", ".join(f"{len(base.scenarios[p])} as {p}" for p in profiles))
    linux = [n for n in base.rejected.get("linux", []) if n in {t.name for t in traces if t.header.profile == "linux"}]
    if linux:
        tell(f"{len(linux)} sequences that conformed as they ran are rejected with their observations "
             f"checked (a model gap): {', '.join(linux[:5])}{' ...' if len(linux) > 5 else ''}")
    # the traces reaching the most survivors first: fewer traces kill them all
    counts = {p: [0] * len(base.scenarios[p]) for p in profiles}
    for m in survivors:
        for p in m.profiles:
            for i in adequacy.reaching(m, base, p):
                counts[p][i] += 1
    order = {p: {i: (-c, i) for i, c in enumerate(counts[p])} for p in profiles}
    _WORK.update(survivors=list(survivors), base=base, order=order)
    kills: list[Kill] = []
    try:
        for k, hit in _pool_map(_kill_one, len(survivors), jobs):
            if hit is not None:
                p, i, note = hit
                kills.append(Kill(survivors[k], base.scenarios[p][i], p, note))
    finally:
        _WORK.clear()
    tell(f"{len(kills)} of {len(survivors)} survivors killed by "
         f"{len({id(k.trace) for k in kills})} traces")
    return sorted(kills, key=lambda k: k.mutant.id)


__all__ = ["Kill", "mine", "reach", "TRIES"]
