"""``conform prove [NAMES...] [--json] [--out DIR]``: prove the catalog's
properties and reach the witnesses.

For each property (:mod:`tcpconform.properties.catalog`):

1. **proof** — if a stored certificate (:mod:`tcpconform.properties.certificates`)
   re-checks against the current rules (init ⇒ I, I ∧ T ⇒ I', I ∧ T ⇒ P),
   the property is proven, method ``certificate``.  Otherwise the
   property's hand-written strengthening (``catalog.strengthened``), when it
   has one, is checked the same way (method ``hand-written invariant``, and
   stored as its certificate).  Otherwise Spacer runs
   (method ``spacer``); when it proves the property its invariant is
   re-checked the same way and stored.  When Spacer refutes, BMC gives the
   shortest counterexample.
2. **premise** — a run reaching the situation the property is about
   (verdict ``witnessed``), so the proof is not vacuous: the stored run
   ``tcpconform/properties/runs/premise-<name>.json`` when it re-checks step by step
   against the current transition relation, else BMC (and the run is stored).

For each witness (:mod:`tcpconform.properties.witnesses`): a run reaching its target
(``witnessed``) the same way (stored run re-checked, else BMC), searched
among runs a loopback trace can show; ``unreached`` when none exists within
its depth.  ``--out DIR`` writes every run found as a trace that
``conform check`` reads (``<name>.jsonl``) and as a netstat step table
(``<name>.txt``).

``--mutant`` (:func:`prove` with ``mutant``): each property against its named broken table; the shortest
counterexample (stored as ``counterexample-<name>.json``, re-checked against
the mutant's relation), printed as a step table and, with ``--out``, written
as a trace, which the real model's checker rejects.

Exit status 0 when every property is proven with a witnessed premise and
every witness is witnessed, 1 otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import z3

from tcpconform.properties import bounds, calls, catalog, certificates, engine, runs, witnesses
from tcpconform.properties.compose import Composed, system


def premise_run(p: catalog.Property, c: Composed, *, store: bool = True) -> runs.Found:
    """A run reaching the property's premise (stored, re-checked, or BMC)."""
    return runs.find(c, f"premise-{p.name}", runs.last_step(p.premise(c)), store=store)


def prove_one(p: catalog.Property, c: Composed | None = None, *, store: bool = True) -> dict:
    """Prove one property; the result as a JSON-ready dict."""
    c = c or system()
    t0 = time.perf_counter()
    formula = p.formula(c)
    ans = None
    inv = certificates.load(p.name, c)
    if inv is not None:
        ans = engine.check_certificate(c, formula, inv)
        if ans.verdict != "proven":
            ans = None  # stale: find a new invariant
    if ans is None:  # a hand-written inductive invariant (each clause with its reason) before Spacer
        hand = getattr(catalog, "strengthened", lambda p, c: None)(p, c)
        if hand is not None:
            ans = engine.check_certificate(c, formula, hand)
            if ans.verdict == "proven":
                ans.method = "hand-written invariant"
                if store:
                    certificates.save(p.name, hand)
            else:
                ans = None
    if ans is None:
        ans = engine.spacer(c, formula)
        if ans.verdict == "proven":
            cert = engine.check_certificate(c, formula, ans.invariant)
            if cert.verdict != "proven":
                ans = engine.Answer("unknown", "spacer", ans.seconds, detail="Spacer's invariant " + cert.detail)
            elif store:
                certificates.save(p.name, ans.invariant)
    result = {"property": p.name, "origin": p.origin, "verdict": ans.verdict, "method": ans.method,
              "seconds": round(time.perf_counter() - t0, 3)}
    if ans.verdict == "refuted":
        cex = runs.bmc(c, runs.last_step(z3.Not(formula)))   # the shortest, loopback or not
        result["counterexample"] = runs.rows(cex.run) if cex.run else None
        if cex.run is not None:
            result["_run"] = cex.run
        result["detail"] = ans.detail if cex.run else ans.detail + f"; none within {bounds.BMC_DEPTH} steps"
    elif ans.detail:
        result["detail"] = ans.detail
    w = premise_run(p, c, store=store)
    result["premise"] = {"verdict": w.verdict, "method": w.method, "seconds": round(w.seconds, 3)}
    if w.run is not None:
        result["premise"]["steps"] = len(w.run)
    return result


def witness_one(w: witnesses.Witness, c: Composed | None = None, *, store: bool = True) -> dict:
    """Reach one witness; the result as a JSON-ready dict (with the run's
    steps when found)."""
    c = system_of(w, c)
    f = runs.find(c, w.name, w.target, w.depth, realistic=w.system == "composed", store=store)
    result = {"witness": w.name, "origin": w.origin, "text": w.text, "verdict": f.verdict, "method": f.method,
              "seconds": round(f.seconds, 3)}
    if f.detail:
        result["detail"] = f.detail
    if w.unreachable:
        result["known_gap"] = w.unreachable
    if f.run is not None:
        result["run"] = runs.rows(f.run)
        result["_run"] = f.run
    return result


def system_of(w: witnesses.Witness, c: Composed | None = None):
    """The system a witness is about: the composed system, or the pair."""
    if w.system == "pair":
        from tcpconform.properties import pair
        return pair.system()
    return c or system()


def trace_of(run: runs.Run, meta: dict | None = None) -> str:
    """A run (of the composed system or of the pair) as a trace."""
    if "pair.act" in run.steps[0]["vars"]:
        from tcpconform.properties import pair
        return pair.to_trace(run, meta)
    return runs.to_trace(run, meta)


def table_of(run: runs.Run, title: str = "") -> str:
    if "pair.act" in run.steps[0]["vars"]:
        from tcpconform.properties import pair
        return pair.netstat_table(run, title)
    return runs.netstat_table(run, title)


def against_mutant(p: catalog.Property, *, store: bool = True) -> dict:
    """The property under its named broken table: the shortest counterexample
    (among runs a loopback trace can show when there is one)."""
    from tcpconform.properties import mutants
    c = system(mutants.mutant(p.mutant))
    t0 = time.perf_counter()
    f = runs.find(c, f"counterexample-{p.name}", runs.last_step(z3.Not(p.formula(c))), realistic=True,
                  fallback=True, store=store, table=f"mutant {p.mutant}")
    result = {"property": p.name, "origin": p.origin, "mutant": p.mutant,
              "verdict": "refuted" if f.run else "unknown", "method": f.method,
              "seconds": round(time.perf_counter() - t0, 3),
              "premise": None}   # a mutant's run needs no premise
    if f.detail:
        result["detail"] = f.detail
    if f.run is not None:
        result["counterexample"] = runs.rows(f.run)
        result["_run"] = f.run
        result["real_checker"] = real_checker(f.run)
    return result


def real_checker(run: runs.Run) -> dict:
    """What the real rules say of a mutant's run: the first step they do not
    allow, and the real model's checker on the run's trace (it diverges, or
    the deviating step is one no trace can show: ``hidden``)."""
    import io

    from tcpconform.check.search import check_trace
    from tcpconform.check.trace import read_trace
    real = system()
    k = runs.first_deviation(real, run)
    header, events = read_trace(io.BytesIO(runs.to_trace(run).encode()))
    v = check_trace(header, events)
    out = {"deviates_at_step": k, "verdict": v.verdict, "line": v.line, "reason": v.reason}
    if v.verdict == "conforms" and k:
        out["hidden"] = runs.hidden(real, run, k)
    return out


def _table(head: tuple, rows: list[tuple]) -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    return ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in (head, *rows)]


def format_table(results: list[dict], wits: list[dict] = ()) -> str:
    lines: list[str] = []
    if results:
        lines += _table(("property", "verdict", "method", "time", "premise"),
                        [(r["property"], r["verdict"], r["method"], f"{r['seconds']:.2f}s",
                          f"{r['premise']['verdict']} ({r['premise']['method']})" if r.get("premise") else "")
                         for r in results])
    if wits:
        lines += [""] if lines else []
        lines += _table(("witness", "verdict", "method", "time", "origin"),
                        [(w["witness"], w["verdict"], w["method"], f"{w['seconds']:.2f}s", w["origin"])
                         for w in wits])
    for w in wits:
        if w.get("known_gap") and w["verdict"] != "witnessed":
            lines.append(f"  {w['witness']}: {w['verdict']} — known gap: {w['known_gap']}")
    for r in results:
        if r.get("counterexample"):
            what = f" under mutant {r['mutant']}" if r.get("mutant") else ""
            lines.append(f"\ncounterexample for {r['property']}{what} ({r['method']}):")
            for s in r["counterexample"]:
                lines.append(f"  {s['step']:>2} {s['act']:<3} {s['trigger']:<14} {s['seg']:<7} {s['ret']:<12} "
                             + " ".join(f"{k}={v}" for k, v in s["states"].items()))
            if r.get("_run") is not None:
                lines.append(runs.netstat_table(r["_run"]))
            rc = r.get("real_checker")
            if rc:
                lines.append(f"real rules: step {rc['deviates_at_step']} is not theirs; the real checker on the trace: "
                             + (f"diverges at line {rc['line']}: {rc['reason']}" if rc["verdict"] == "diverges"
                                else f"{rc['verdict']} (the deviating step shows nothing a trace records)"
                                if rc.get("hidden") else rc["verdict"]))
    return "\n".join(lines)


def counterexample_events(rows: list[dict]) -> list:
    """A counterexample as trace events (calls and the states after each step),
    for :func:`tcpconform.diagrams.render.sequence_from_trace`."""
    from tcpconform.model.events import Call, State
    events, last, line = [], {}, 1
    for r in rows:
        if r["trigger"].startswith("call:"):
            line += 1
            ret = "ok" if r["ret"] in ("ok", "WAIT") else r["ret"]
            events.append(Call(line=line, sock=r["act"], op=r["trigger"][5:], ret=ret))
        for slot, st in r["states"].items():
            if last.get(slot) != st:
                line += 1
                events.append(State(line=line, sock=slot, state=st))
                last[slot] = st
    return events


def write_runs(results: list[dict], out: str) -> list[str]:
    """Every run of the results as a trace (``.jsonl``) and a netstat step
    table (``.txt``) in ``out``."""
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for r in results:
        run = r.get("_run")
        if run is None:
            continue
        if r.get("witness"):
            stem, meta = r["witness"], {"witness": r["witness"], "origin": r["origin"]}
        else:
            stem, meta = f"{r['property']}-counterexample", {"counterexample": r["property"], "mutant": r.get("mutant")}
        meta["found_by"] = r["method"]
        (d / f"{stem}.jsonl").write_text(trace_of(run, meta))
        (d / f"{stem}.txt").write_text(table_of(run, f"{stem} ({r['method']})") + "\n")
        written += [str(d / f"{stem}.jsonl"), str(d / f"{stem}.txt")]
    return written


def _public(r: dict) -> dict:
    return {k: v for k, v in r.items() if not k.startswith("_")}


class UnknownNames(ValueError):
    """Names that are neither a property nor a witness."""

    def __init__(self, unknown: list[str], known: list[str]) -> None:
        super().__init__(f"unknown properties or witnesses: {', '.join(unknown)}; known: {', '.join(known)}")
        self.unknown, self.known = unknown, known


@dataclass
class ProveReport:
    """What ``conform prove`` found: one JSON-ready dict per property and per witness."""

    properties: list[dict]
    witnesses: list[dict]
    seconds: float
    mutant: bool
    written: list[str] = field(default_factory=list)  # diagrams and runs written

    @property
    def status(self) -> int:
        """0 when every property is proven with its premise witnessed and every witness
        witnessed (with ``mutant``: every property refuted); else 1."""
        if self.mutant:
            return 0 if all(r["verdict"] == "refuted" for r in self.properties) else 1
        ok = all(r["verdict"] == "proven" and r["premise"]["verdict"] == "witnessed" for r in self.properties)
        return 0 if ok and all(witness_ok(w) for w in self.witnesses) else 1

    def to_json(self) -> dict:
        """The report's body in the JSON envelope: ``results``, the properties then
        the witnesses, each with its ``kind`` and ``name``."""
        return {"results": [{"kind": "property", "name": r["property"], **_public(r)} for r in self.properties]
                + [{"kind": "witness", "name": w["witness"], **_public(w)} for w in self.witnesses],
                "seconds": self.seconds}

    def lines(self) -> list[str]:
        return [format_table(self.properties, self.witnesses),
                f"\n{len(self.properties)} properties, {len(self.witnesses)} witnesses in {self.seconds:.2f}s"]


def prove(names: Sequence[str] = (), *, mutant: bool = False, out_dir: str | None = None,
          progress: Callable[[int, int, str], None] | None = None) -> ProveReport:
    """Prove the named properties and reach the named witnesses (all when none is named);
    with ``mutant``, each property against its broken table instead.  ``out_dir``:
    write every run found as a trace and a netstat step table (the diagrams draw
    them: :func:`tcpconform.diagrams.render.draw_runs`).
    ``progress(done, total, name)`` is told before each property or witness
    is taken up (the command line draws it on a terminal).
    Raises :class:`UnknownNames`."""
    known = {**catalog.BY_NAME, **calls.BY_NAME, **witnesses.BY_NAME}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UnknownNames(unknown, list(known))
    props = [n for n in names if n in catalog.BY_NAME] if names else list(catalog.BY_NAME)
    per_endpoint = [n for n in names if n in calls.BY_NAME] if names else list(calls.BY_NAME)
    wits = [n for n in names if n in witnesses.BY_NAME] if names else list(witnesses.BY_NAME)
    t0 = time.perf_counter()
    total = len(props) + len(per_endpoint) + (0 if mutant else len(wits))
    done = iter(range(total))

    def tell(name: str) -> str:
        if progress is not None:
            progress(next(done), total, name)
        return name

    if mutant:
        results, wres = [against_mutant(catalog.BY_NAME[tell(n)]) for n in props], []
    else:
        c = system() if props or wits else None
        results = [prove_one(catalog.BY_NAME[tell(n)], c) for n in props]
        wres = [witness_one(witnesses.BY_NAME[tell(n)], c) for n in wits]
    # the calls version 2 adds: proven per endpoint (tcpconform.properties.calls)
    results += [calls.prove_one(calls.BY_NAME[tell(n)], mutant=mutant) for n in per_endpoint]
    if progress is not None:
        progress(total, total, "")
    written = write_runs(results + wres, out_dir) if out_dir else []
    return ProveReport(results, wres, round(time.perf_counter() - t0, 3), mutant, written)


def witness_ok(w: dict) -> bool:
    """Witnessed; or unreached where the witness declares the composed
    system cannot reach it (a known gap, printed with its reason)."""
    return w["verdict"] == "witnessed" or (w["verdict"] == "unreached" and bool(w.get("known_gap")))
