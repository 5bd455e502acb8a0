"""``conform prove [NAMES...] [--json]``: prove the catalog's properties.

For each property (:mod:`properties.catalog`):

1. **proof** — if a stored certificate (:mod:`properties.certificates`)
   re-checks against the current rules (init ⇒ I, I ∧ T ⇒ I', I ∧ T ⇒ P),
   the property is proven, method ``certificate``.  Otherwise Spacer runs
   (method ``spacer``); when it proves the property its invariant is
   re-checked the same way and stored.  When Spacer refutes, BMC gives the
   shortest counterexample.
2. **premise** — BMC finds a run reaching the situation the property is
   about (verdict ``witnessed``), so the proof is not vacuous.

Exit status 0 when every property is proven, 1 otherwise.
"""

from __future__ import annotations

import json
import time

import z3

from . import bounds, catalog, certificates, engine
from .compose import Composed, system


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
        cex = engine.bmc(c, z3.Not(formula))
        result["counterexample"] = cex.trace
        result["detail"] = ans.detail if cex.trace else ans.detail + f"; none within {bounds.BMC_DEPTH} steps"
    elif ans.detail:
        result["detail"] = ans.detail
    w = engine.bmc(c, p.premise(c))
    result["premise"] = {"verdict": w.verdict, "method": w.method, "seconds": round(w.seconds, 3)}
    return result


def format_table(results: list[dict]) -> str:
    head = ("property", "verdict", "method", "time", "premise")
    rows = [(r["property"], r["verdict"], r["method"], f"{r['seconds']:.2f}s",
             f"{r['premise']['verdict']} ({r['premise']['method']})") for r in results]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(row, widths)) for row in (head, *rows)]
    for r in results:
        if r.get("counterexample"):
            lines.append(f"\ncounterexample for {r['property']}:")
            for s in r["counterexample"]:
                lines.append(f"  {s['step']:>2} {s['act']:<3} {s['trigger']:<14} {s['seg']:<7} {s['ret']:<12} "
                             + " ".join(f"{k}={v}" for k, v in s["states"].items()))
    return "\n".join(lines)


def against_mutant(p: catalog.Property) -> dict:
    """The property under its named broken table: the shortest counterexample."""
    from . import mutants
    c = system(mutants.mutant(p.mutant))
    t0 = time.perf_counter()
    cex = engine.bmc(c, z3.Not(p.formula(c)))
    result = {"property": p.name, "origin": p.origin, "mutant": p.mutant,
              "verdict": "refuted" if cex.trace else "unknown", "method": cex.method,
              "seconds": round(time.perf_counter() - t0, 3),
              "premise": {"verdict": "-", "method": "-", "seconds": 0}}
    if cex.trace:
        result["counterexample"] = cex.trace
    return result


def counterexample_events(rows: list[dict]) -> list:
    """A counterexample as trace events (calls and the states after each step),
    for :func:`diagrams.render.sequence_from_trace`."""
    from conformance.trace import Call, State
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


def _draw(results: list[dict], out: str) -> list[str]:
    from diagrams import render
    written = []
    for r in results:
        if r.get("counterexample"):
            events = counterexample_events(r["counterexample"])
            title = f"{r['property']}: counterexample" + (f" under mutant {r['mutant']}" if r.get("mutant") else "")
            dot = render.sequence_from_trace(events, events[-1].line if events else None, title=title)
            written += [str(p) for p in render.render(dot, out, f"{r['property']}-counterexample",
                                                      formats=("svg",), dot=render.find_dot())]
    return written


def prove_command(args) -> int:
    names = list(getattr(args, "names", None) or catalog.BY_NAME)
    unknown = [n for n in names if n not in catalog.BY_NAME]
    if unknown:
        print(f"unknown properties: {', '.join(unknown)}; known: {', '.join(catalog.BY_NAME)}")
        return 2
    t0 = time.perf_counter()
    if getattr(args, "mutant", False):
        results = [against_mutant(catalog.BY_NAME[n]) for n in names]
    else:
        c = system()
        results = [prove_one(catalog.BY_NAME[n], c) for n in names]
    if getattr(args, "diagram", None):
        for path in _draw(results, args.diagram):
            print(f"wrote {path}", file=__import__("sys").stderr)
    total = round(time.perf_counter() - t0, 3)
    if getattr(args, "json", False):
        print(json.dumps({"properties": results, "seconds": total}, indent=2))
    else:
        print(format_table(results))
        print(f"\n{len(results)} properties in {total:.2f}s")
    if getattr(args, "mutant", False):
        return 0 if all(r["verdict"] == "refuted" for r in results) else 1
    ok = all(r["verdict"] == "proven" and r["premise"]["verdict"] == "witnessed" for r in results)
    return 0 if ok else 1
