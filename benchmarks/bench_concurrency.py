"""Benchmark ``conform check`` as connections multiply: K handshakes in flight at once.

The trace: a listener, K non-blocking connects to it (each EINPROGRESS),
then K accepts in the order of the connects (what an event-loop server's
accept loop sees under load: ``curl --parallel``, ``ab -c K``).  It is valid,
and ambiguous until the accepts: which handshake completed first.  For each
K, in one run: the time of ``json.loads`` of the same lines (the floor), the
check's CPU time and its ratio to the floor, the time per event, and the
verdict; each check is bounded by ``--max-seconds`` (default 30), past which
it is *undecided* (the checker's own bound, trace-format.md "Verdict added").
Then the growth: time(K) / time(smallest K), which a checker linear in K keeps
at most K / smallest K.

Run: ``bin/dev python benchmarks/bench_concurrency.py [--k 2 3 4 5 6 16] [--max-seconds S]``.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import time

from tcpconform.check.bounds import Bounds
from tcpconform.check.search import check_trace
from tcpconform.check.trace import read_trace


def connects_then_accepts(k: int, wrong_accept: bool = False) -> str:
    """The trace of K handshakes in flight to one listener, then K accepts;
    with ``wrong_accept``, the last accept names a peer that never connected."""
    out = [{"trace": 1, "profile": "linux", "world": "closed", "meta": {"generator": "bench_concurrency"}},
           {"ev": "call", "sock": "L", "op": "socket", "ret": "ok"},
           {"ev": "call", "sock": "L", "op": "bind", "addr": "127.0.0.1:5000", "ret": "ok", "local": "127.0.0.1:5000"},
           {"ev": "call", "sock": "L", "op": "listen", "backlog": 4096, "ret": "ok"}]
    for i in range(k):
        out.append({"ev": "call", "sock": f"c{i}", "op": "socket", "nonblock": True, "ret": "ok"})
        out.append({"ev": "call", "sock": f"c{i}", "op": "connect", "addr": "127.0.0.1:5000", "ret": "EINPROGRESS",
                    "local": f"127.0.0.1:{20000 + i}"})
    for i in range(k):
        peer = 19999 if wrong_accept and i == k - 1 else 20000 + i
        out.append({"ev": "call", "sock": "L", "op": "accept", "ret": "ok", "new": f"s{i}",
                    "local": "127.0.0.1:5000", "peer": f"127.0.0.1:{peer}"})
    return "".join(json.dumps(o) + "\n" for o in out)


def cold() -> None:
    """Every table the checker keeps between traces emptied: as in a fresh process."""
    from tcpconform.check import memo
    from tcpconform.model import semantics, system
    memo.clear_tables()
    system.clear_caches()
    semantics.clear_cache()


def measure(k: int, seconds: float) -> dict:
    text = connects_then_accepts(k)
    lines = text.encode().splitlines()
    c0 = time.process_time()
    for line in lines:
        json.loads(line)
    floor = max(time.process_time() - c0, 1e-6)
    cold()
    c0, w0 = time.process_time(), time.perf_counter()
    header, events = read_trace(io.BytesIO(text.encode()))
    v = check_trace(header, events, limits=Bounds(seconds=seconds))
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {"k": k, "events": len(lines) - 1, "floor": floor, "cpu": cpu, "wall": wall, "verdict": v.verdict,
            "line": v.line, "reason": v.reason}


def _bound(reason: str) -> str:
    """The bound an undecided verdict's reason names."""
    m = re.search(r"search's (\w+) bound", reason)
    return m.group(1) if m else "a"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, nargs="+", default=[2, 3, 4, 5, 6, 16], metavar="K")
    ap.add_argument("--max-seconds", type=float, default=30.0, metavar="S")
    args = ap.parse_args(argv)
    if any(k < 1 for k in args.k) or args.max_seconds <= 0:
        print("bench_concurrency: K and --max-seconds need positive numbers", file=sys.stderr)
        return 2
    rows = []
    print(f"{'K':>5} {'events':>7} {'json.loads':>11} {'check CPU':>10} {'ratio':>9} {'per event':>10}  verdict")
    for k in sorted(args.k):
        r = measure(k, args.max_seconds)
        rows.append(r)
        ratio = r["cpu"] / r["floor"]
        print(f"{k:>5} {r['events']:>7} {r['floor'] * 1e3:>9.2f}ms {r['cpu']:>9.2f}s {ratio:>8.0f}x "
              f"{r['cpu'] / r['events'] * 1e3:>8.2f}ms  {r['verdict']}"
              + (f" at line {r['line']} ({_bound(r['reason'])} bound)" if r["verdict"] == "undecided" else ""),
              flush=True)
    base = rows[0]
    decided = [r for r in rows[1:] if r["verdict"] != "undecided"]
    for r in decided:
        print(f"time(K={r['k']}) / time(K={base['k']}): {r['cpu'] / max(base['cpu'], 1e-6):.1f}x "
              f"(linear: {r['k'] / base['k']:.1f}x)")
    undecided = [r["k"] for r in rows if r["verdict"] == "undecided"]
    if undecided:
        print(f"undecided within {args.max_seconds:g} s: K = {', '.join(map(str, undecided))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
