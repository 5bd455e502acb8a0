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


def prove_command(args) -> int:
    names = list(getattr(args, "names", None) or catalog.BY_NAME)
    unknown = [n for n in names if n not in catalog.BY_NAME]
    if unknown:
        print(f"unknown properties: {', '.join(unknown)}; known: {', '.join(catalog.BY_NAME)}")
        return 2
    t0 = time.perf_counter()
    c = system()
    results = [prove_one(catalog.BY_NAME[n], c) for n in names]
    total = round(time.perf_counter() - t0, 3)
    if getattr(args, "json", False):
        print(json.dumps({"properties": results, "seconds": total}, indent=2))
    else:
        print(format_table(results))
        print(f"\n{len(results)} properties in {total:.2f}s")
    ok = all(r["verdict"] == "proven" and r["premise"]["verdict"] == "witnessed" for r in results)
    return 0 if ok else 1
