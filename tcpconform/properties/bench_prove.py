"""Benchmark of ``conform prove``: ``bin/dev python -m tcpconform.properties.bench_prove [--bmc]``.

Prints, in one run on this machine:

* a **baseline**: the time z3 takes to find one step of the composed system
  from its initial states (one satisfiable query over the transition
  relation) — every other figure is also given as a multiple of it, so
  figures from machines of different speed, or from a loaded machine,
  compare;
* each property: its proof (stored certificate re-checked, else Spacer)
  and its premise (stored run re-checked, else BMC);
* each witness: its run (stored run re-checked, else BMC); with ``--bmc``
  also the BMC search from scratch next to the re-check (the speed-up the
  stored runs give);
* the whole suite, as ``conform prove`` runs it (goal: ≤ 10 s here).

Nothing on disk is written.
"""

from __future__ import annotations

import argparse
import time

import z3

from tcpconform.properties import catalog, prove, runs, witnesses
from tcpconform.properties.compose import system


def baseline(c) -> float:
    """Seconds for one satisfiable one-step query (best of three)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        s = z3.Solver()
        s.add(c.init, c.trans)
        assert s.check() == z3.sat
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tcpconform.properties.bench_prove")
    ap.add_argument("--bmc", action="store_true", help="also time each witness's BMC search from scratch")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    c = system()
    build = time.perf_counter() - t0
    base = baseline(c)
    print(f"composed system built in {build:.2f}s; baseline (one step query) {base * 1000:.1f} ms")
    fmt = lambda x: f"{x:7.2f}s {x / base:8.0f}x"  # noqa: E731
    print(f"{'property':40} {'proof':>17} {'premise':>17}  methods")
    ok = True
    for p in catalog.CATALOG:
        r = prove.prove_one(p, c, store=False)   # its "seconds" is the proof's; the premise's are apart
        print(f"{p.name:40} {fmt(r['seconds'])} {fmt(r['premise']['seconds'])}  "
              f"{r['method']}; {r['premise']['method']}")
        ok &= r["verdict"] == "proven" and r["premise"]["verdict"] == "witnessed"
    print(f"{'witness':40} {'run':>17} {'bmc from scratch':>17}  method")
    for w in witnesses.WITNESSES:
        r = prove.witness_one(w, c, store=False)
        scratch = ""
        if args.bmc:
            f = runs.bmc(prove.system_of(w, c), w.target, w.depth, realistic=w.system == "composed")
            scratch = fmt(f.seconds)
        print(f"{w.name:40} {fmt(r['seconds'])} {scratch:>17}  {r['method']}")
        ok &= prove.witness_ok(r)
    t1 = time.perf_counter()
    results = [prove.prove_one(p, c, store=False) for p in catalog.CATALOG]
    wres = [prove.witness_one(w, c, store=False) for w in witnesses.WITNESSES]
    suite = time.perf_counter() - t1 + build
    print(f"whole suite ({len(results)} properties, {len(wres)} witnesses, with the build): {fmt(suite)}"
          f"  goal 10 s: {'met' if suite <= 10 else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
