"""Benchmark: ``bin/dev python -m properties.bench [NAMES...]``.

For each property, the time Spacer takes to prove it from scratch, the size
of the invariant it finds, and the time plain z3 takes to re-check that
invariant as a certificate; then the totals.  Certificates on disk are
neither read nor written.
"""

from __future__ import annotations

import sys
import time

from . import catalog, engine
from .compose import system


def main(names: list[str]) -> int:
    t0 = time.perf_counter()
    c = system()
    build = time.perf_counter() - t0
    print(f"composed system built in {build:.2f}s")
    spent = {"spacer": 0.0, "certificate": 0.0}
    ok = True
    for p in (catalog.BY_NAME[n] for n in names) if names else catalog.CATALOG:
        f = p.formula(c)
        a = engine.spacer(c, f)
        line = f"{p.name:38} spacer {a.verdict:8} {a.seconds:6.2f}s"
        spent["spacer"] += a.seconds
        if a.invariant is not None:
            clauses = a.invariant.num_args() if a.invariant.num_args() else 0
            b = engine.check_certificate(c, f, a.invariant)
            spent["certificate"] += b.seconds
            line += f"  invariant {clauses:3} clauses  re-check {b.verdict} {b.seconds:.2f}s"
            ok &= b.verdict == "proven"
        ok &= a.verdict == "proven"
        print(line, flush=True)
    print(f"total: spacer {spent['spacer']:.2f}s, certificates {spent['certificate']:.2f}s, "
          f"wall {time.perf_counter() - t0:.2f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
