"""Random campaigns as a gate: many seeds, longer sequences, divergences per thousand.

Runs ``conform run --random N --seed S --steps K`` (the library function
:func:`tcpconform.live.campaign.run_campaign`, exactly what the command runs)
for every seed given and every ``--steps`` value, and prints, per campaign:
sequences run, sequences that diverged, divergences per thousand sequences,
and each distinct kind of divergence (the shrunk trace's divergent call and
what the model allowed there, with the shrunk trace's path); then a total
line over all campaigns, with the kinds counted once across them.

Seeds: ``--seeds S ...`` lists them; ``--count N`` adds N more, drawn from
``--base`` (default 0) by a seeded generator, so a fresh set is one new
``--base`` away.  Every campaign's traces go to ``DIR/seedS-stepsK`` under
``--out DIR``, which must not exist (a run never writes over another's);
without ``--out``, to a new temporary directory.

Exit 1 if any campaign found a divergence, 2 if one met errors (a call that
hung, a worker that failed) but none diverged, else 0.  Needs root and
network namespaces, as ``conform run`` does; each campaign of 300 sequences
takes about 15 s on 2 cores.

Run: ``python benchmarks/campaign_gate.py --seeds 1 7 100 2755127191 --count 3 --random 300 --steps 20 40 --out DIR``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tcpconform.live.campaign import run_campaign  # noqa: E402
from tcpconform.live.outdir import RunRefused  # noqa: E402


def seeds_of(listed: list[int], count: int, base: int) -> list[int]:
    """The listed seeds, then ``count`` more drawn from ``base`` (none repeated)."""
    seeds = list(dict.fromkeys(listed))
    rng = random.Random(base)
    while len(seeds) < len(dict.fromkeys(listed)) + count:
        s = rng.randrange(2**32)
        if s not in seeds:
            seeds.append(s)
    return seeds


def per_thousand(diverged: int, sequences: int) -> float:
    return 1000 * diverged / sequences if sequences else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[], metavar="S", help="seeds to run")
    ap.add_argument("--count", type=int, default=0, metavar="N", help="N more seeds, drawn from --base")
    ap.add_argument("--base", type=int, default=0, help="seed of the generator of --count seeds (default 0)")
    ap.add_argument("--random", type=int, default=300, metavar="N", help="sequences per campaign (default 300)")
    ap.add_argument("--steps", type=int, nargs="+", default=[20, 40], metavar="K",
                    help="most actions in a sequence; one campaign per value (default 20 40)")
    ap.add_argument("--jobs", type=int, help="worker processes (default: one per core)")
    ap.add_argument("--out", metavar="DIR", help="directory for the traces (must not exist)")
    args = ap.parse_args(argv)

    seeds = seeds_of(args.seeds, args.count, args.base)
    if not seeds:
        ap.error("no seeds: give --seeds S ... or --count N")
    if args.out is not None and os.path.lexists(args.out):
        ap.error(f"--out {args.out!r} exists; nothing is overwritten (choose another directory)")
    out = Path(args.out) if args.out is not None else Path(tempfile.mkdtemp(prefix="conform-gate-"))

    total_seq = total_div = total_err = 0
    kinds: dict[str, list[str]] = {}  # signature -> shrunk traces, over all campaigns
    started = time.monotonic()
    print(f"{'seed':>10} {'steps':>5} {'sequences':>9} {'diverged':>8} {'per 1000':>8} {'kinds':>5} "
          f"{'errors':>6} {'seconds':>7}", flush=True)
    for steps in args.steps:
        for seed in seeds:
            try:
                r = run_campaign(args.random, seed, jobs=args.jobs, steps=steps,
                                 out_dir=str(out / f"seed{seed}-steps{steps}"))
            except RunRefused as e:
                print(f"refused: {e.message}", file=sys.stderr)
                return 2
            total_seq += r.sequences
            total_div += r.diverged
            total_err += r.errors + len(r.problems) + (r.sequences < r.requested)
            print(f"{seed:>10} {steps:>5} {r.sequences:>9} {r.diverged:>8} "
                  f"{per_thousand(r.diverged, r.sequences):>8.1f} {len(r.divergences):>5} "
                  f"{r.errors:>6} {r.seconds:>7.1f}", flush=True)
            for d in r.divergences:
                kinds.setdefault(d.signature, []).append(d.trace or "(not written)")
                print(f"{'':>12}{d.sequences} x {d.signature}", flush=True)
                print(f"{'':>14}{d.event}", flush=True)
                print(f"{'':>14}shrunk to {d.calls} calls: {d.trace}", flush=True)
            for e in r.errors_detail:
                print(f"{'':>12}error: {e.reason.splitlines()[0]} -> {e.trace}", flush=True)
            for p in r.problems:
                print(f"{'':>12}problem: {p.splitlines()[0]}", flush=True)
    print(f"total: {len(seeds)} seeds x steps {'/'.join(map(str, args.steps))}: {total_seq} sequences, "
          f"{total_div} diverged ({per_thousand(total_div, total_seq):.1f} per 1000), {len(kinds)} distinct "
          f"{'kind' if len(kinds) == 1 else 'kinds'}, {total_err} errors; {time.monotonic() - started:.0f} s; "
          f"traces in {out}")
    for signature, traces in kinds.items():
        print(f"  {signature}: {len(traces)} campaigns, e.g. {traces[0]}")
    return 1 if total_div else 2 if total_err else 0


if __name__ == "__main__":
    sys.exit(main())
