"""Benchmark ``conform run --random``: scenarios per second, against merely recording them.

Runs, in one go:

1. **campaign**: a random campaign of ``--sequences`` generated sequences on
   ``--jobs`` workers (default: one per core), each worker in its own network
   namespace and a fresh one per sequence, every event checked by the model
   as it is recorded, divergences shrunk (exactly what ``conform run --random
   N --seed S`` does, minus printing);
2. **baseline**: the very same calls (as the campaign made them) recorded
   again on the same number of workers and namespaces, without hypothesis
   and without the model: the cost of the live kernel and the recorder alone;
3. **checked**: the same again, each trace then checked by the model (no
   hypothesis): the difference to the campaign is generation and shrinking.

Prints sequences per second for both, the share of the campaign's time the
baseline accounts for, and whether the campaign reaches the goal of 50
sequences per second. Shrinking runs are reported apart: they are extra
runs a campaign makes only when it finds a divergence.

The campaign records and checks the ``x-packet`` / ``x-state`` observers as
``conform run`` does (``--observers off``: without them); the two baselines
replay without them.

Run: ``bin/dev python benchmarks/bench_run.py [--sequences N] [--jobs J] [--seed S] [--steps K] [--observers on|off]``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from dataclasses import dataclass, replace

from tcpconform.check.search import check_trace
from tcpconform.check.trace import read_trace
from tcpconform.live import campaign, pool
from tcpconform.live.campaign import ExploreResult
from tcpconform.live.observers import worker_specs
from tcpconform.live.recorder import ScenarioError

GOAL = 50.0


def run_campaign(n: int, seed: int, jobs: int, steps: int,
                 observers: bool = True) -> tuple[float, dict[int, ExploreResult], list[str]]:
    """The campaign's workers as ``conform run --random`` runs them, keeping every program's calls."""
    campaign.preload()
    work = campaign.campaign_jobs(n, seed, jobs, steps, keep_calls=True)
    results: dict[int, ExploreResult] = {}
    with worker_specs(len(work), observers, "auto") as (specs, off):
        work = [replace(job, observers=spec) for job, spec in zip(work, specs)]
        started = time.perf_counter()
        report = pool.run_workers(work, campaign.random_target, lambda index, r: results.__setitem__(index, r))
        seconds = time.perf_counter() - started
    notes = [f"observers {'off' if not observers else 'states off: ' + off if off else 'on'}"]
    isolation = sorted({r.isolated.mode for r in report.ready})
    return seconds, results, report.problems + [f"isolation {i}" for i in isolation] + notes


@dataclass(frozen=True)
class _Replay:
    programs: list[list]
    check: bool


@dataclass(frozen=True)
class _Replayed:
    sequences: int
    errors: int


def _replay_target(job: _Replay, worker: pool.Worker) -> None:
    """Record the given call lists again, and with ``job.check`` check each trace afterwards
    (no hypothesis either way)."""
    errors = 0
    for calls in job.programs:
        try:
            rec = campaign.replay_calls(calls, fresh=worker.fresh)
        except (ScenarioError, OSError):
            errors += 1
            continue
        if job.check:
            header, events = read_trace(io.BytesIO(rec.trace_lines().encode()))
            check_trace(header, events)
    worker.send(_Replayed(len(job.programs), errors))


def run_baseline(programs: list[list], jobs: int, check: bool = False) -> tuple[float, int]:
    jobs = max(1, min(jobs, len(programs)))
    work = [_Replay(programs[k::jobs], check) for k in range(jobs)]
    errors = [0]

    def handle(index: int, msg: _Replayed) -> None:
        errors[0] += msg.errors

    started = time.perf_counter()
    pool.run_workers(work, _replay_target, handle)
    return time.perf_counter() - started, errors[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--observers", choices=("on", "off"), default="on",
                        help="packets and the state-change tracepoint recorded and checked, as conform run does")
    args = parser.parse_args(argv)

    seconds, results, notes = run_campaign(args.sequences, args.seed, args.jobs, args.steps,
                                           observers=args.observers == "on")
    sequences = sum(r.sequences for r in results.values())
    calls = sum(r.calls for r in results.values())
    replays = sum(r.replays for r in results.values())
    kinds = {d.signature for r in results.values() for d in r.divergences}
    diverged = sum(r.diverged for r in results.values())
    programs = [p for k in sorted(results) for p in results[k].programs]
    base_seconds, base_errors = run_baseline(programs, args.jobs)
    checked_seconds, _ = run_baseline(programs, args.jobs, check=True)

    rate = sequences / seconds
    base_rate = len(programs) / base_seconds
    print(f"machine: {os.cpu_count()} cores, kernel {os.uname().release}; {', '.join(notes)}")
    print(f"campaign  {sequences:5d} sequences ({calls} calls, {calls / max(sequences, 1):.1f} per sequence) "
          f"in {seconds:6.2f} s = {rate:7.1f} sequences/s  (jobs {args.jobs}, seed {args.seed}; "
          f"{diverged} diverged, {len(kinds)} kind(s), {replays} shrinking runs included: "
          f"{(sequences + replays) / seconds:.1f} runs/s)")
    print(f"baseline  {len(programs):5d} sequences recorded again, unchecked, in {base_seconds:6.2f} s = "
          f"{base_rate:7.1f} sequences/s  ({base_errors} errors)")
    print(f"checked   {len(programs):5d} sequences recorded again, then checked, in {checked_seconds:6.2f} s = "
          f"{len(programs) / checked_seconds:7.1f} sequences/s  (no hypothesis, no shrinking)")
    print(f"recording alone is {100 * base_seconds / seconds:.0f}% of the campaign's time; "
          f"goal >= {GOAL:.0f} sequences/s: {'met' if rate >= GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
