"""Benchmark: ``bin/dev python -m tcpconform.properties.bench [--stored] [NAMES...]``.

By default, for each property: the time Spacer takes to prove it from
scratch, the size of the invariant it finds, and the time plain z3 takes to
re-check that invariant as a certificate (and the hand-written
strengthening, for a property that has one); then the totals.  Certificates on
disk are neither read nor written.

``--stored``: only the re-check of each stored certificate (what ``conform
prove`` spends on proofs when the rules have not changed).
"""

from __future__ import annotations

import sys
import time

from tcpconform.properties import catalog, certificates, engine
from tcpconform.properties.compose import system


def main(argv: list[str]) -> int:
    stored = "--stored" in argv
    names = [a for a in argv if a != "--stored"]
    t0 = time.perf_counter()
    c = system()
    build = time.perf_counter() - t0
    print(f"composed system built in {build:.2f}s")
    spent = {"spacer": 0.0, "certificate": 0.0}
    ok = True
    for p in (catalog.BY_NAME[n] for n in names) if names else catalog.CATALOG:
        f = p.formula(c)
        if stored:
            inv = certificates.load(p.name, c)
            b = engine.check_certificate(c, f, inv) if inv is not None else None
            spent["certificate"] += b.seconds if b else 0.0
            ok &= b is not None and b.verdict == "proven"
            print(f"{p.name:38} certificate {b.verdict if b else 'missing':8} {b.seconds if b else 0:6.2f}s",
                  flush=True)
            continue
        a = engine.spacer(c, f)
        line = f"{p.name:38} spacer {a.verdict:8} {a.seconds:6.2f}s"
        spent["spacer"] += a.seconds
        if a.invariant is not None:
            clauses = a.invariant.num_args() if a.invariant.num_args() else 0
            b = engine.check_certificate(c, f, a.invariant)
            spent["certificate"] += b.seconds
            line += f"  invariant {clauses:3} clauses  re-check {b.verdict} {b.seconds:.2f}s"
            ok &= b.verdict == "proven"
        hand = catalog.strengthened(p, c)
        if hand is not None:  # the hand-written strengthening, which the catalog keeps for it
            h = engine.check_certificate(c, f, hand)
            line += f"  strengthening {h.verdict} {h.seconds:.2f}s"
            ok &= h.verdict == "proven"
        ok &= a.verdict == "proven" or (hand is not None and h.verdict == "proven")
        print(line, flush=True)
    print(f"total: spacer {spent['spacer']:.2f}s, certificates {spent['certificate']:.2f}s, "
          f"wall {time.perf_counter() - t0:.2f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
