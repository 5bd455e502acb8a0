"""What a random campaign found, over all its workers, as ``conform run --random`` reports it.

:func:`report` merges the workers' :class:`~tcpconform.live.campaign.ExploreResult`:
one entry per kind of divergence (the smallest program any worker shrank it
to), the first few errors, and every trace written (a divergence's minimal
trace, an error's) into the output directory, or a new temporary one, never
over an existing file.  :meth:`CampaignReport.lines` and
:meth:`CampaignReport.to_json` are what ``conform run`` prints.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import Any

from tcpconform.check import explain as explained
from tcpconform.check.explain import Step
from tcpconform.live.outdir import write_new
from tcpconform.live.pool import Ready

__all__ = ["CampaignReport", "FoundDivergence", "CampaignError", "Started", "Progress", "report"]


@dataclass(frozen=True)
class Started:
    """A campaign begins."""

    sequences: int
    seed: int
    workers: int
    steps: int

    def format(self) -> str:
        return (f"random campaign: {self.sequences} sequences, seed {self.seed}, {self.workers} "
                f"worker{'s' if self.workers > 1 else ''}, up to {self.steps} actions each")


@dataclass(frozen=True)
class Progress:
    """Sequences run so far (every 50, and at the end)."""

    done: int
    requested: int
    per_second: float
    shrinking: int | None  # the worker that is shrinking a divergence, if the last word was its
    replays: int           # that worker's shrinking runs so far

    def format(self) -> str:
        return (f"{self.done}/{self.requested} sequences, {self.per_second:.0f}/s"
                + (f"; worker {self.shrinking} shrinking a divergence ({self.replays} replays)"
                   if self.shrinking is not None else ""))


@dataclass
class FoundDivergence:
    """One kind of divergence (:func:`tcpconform.live.campaign.signature`), over all workers."""

    signature: str
    sequences: int       # sequences that diverged so
    worker: int          # the worker that shrank it smallest
    calls: int           # calls of the minimal program
    shrunk_from: int     # calls of the first program found
    replays: int
    line: int | None
    reason: str
    event: str | None
    allowed: list[str]
    program: list
    trace: str | None    # where the minimal trace was written
    explanation: list[Step] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "explanation"}
        if self.explanation is not None:
            out["explain"] = explained.explain_json(self.explanation)
        return out


@dataclass
class CampaignError:
    """A sequence that ended in an error (a call that hung, or a bug of ours)."""

    reason: str
    worker: int
    calls: int
    trace: str | None


@dataclass
class CampaignReport:
    seed: int
    requested: int
    jobs: int
    steps: int
    sequences: int
    conforms: int
    diverged: int
    errors: int
    calls: int
    skipped: int
    replays: int
    seconds: float
    divergences: list[FoundDivergence]
    errors_detail: list[CampaignError]
    problems: list[str]
    out: str | None      # where the traces went
    longest: tuple[list[Step], list] | None  # with explain and no divergence: worker 0's longest (steps, program)
    observers: str
    ready: list[Ready] = field(default_factory=list)

    @property
    def status(self) -> int:
        """1 a divergence was found; 2 an error, a problem or too few sequences; else 0."""
        if self.divergences:
            return 1
        if self.problems or self.errors or self.sequences < self.requested:
            return 2
        return 0

    @property
    def per_second(self) -> float | None:
        return round(self.sequences / self.seconds, 1) if self.seconds > 0 else None

    def reproduce(self) -> str:
        return f"conform run --random {self.requested} --seed {self.seed} --jobs {self.jobs} --steps {self.steps}"

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "requested": self.requested, "jobs": self.jobs, "steps": self.steps,
            "sequences": self.sequences, "conforms": self.conforms, "diverged": self.diverged,
            "errors": self.errors, "calls": self.calls, "skipped": self.skipped, "replays": self.replays,
            "seconds": self.seconds, "sequences_per_second": self.per_second,
            "divergences": [d.to_json() for d in self.divergences],
            "errors_detail": [vars(e) for e in self.errors_detail], "problems": self.problems, "out": self.out,
            "first": None if self.longest is None else {"explain": explained.explain_json(self.longest[0]),
                                                        "program": self.longest[1]},
            "reproduce": self.reproduce(), "observers": self.observers,
        }

    def lines(self) -> list[str]:
        """The report as ``conform run`` prints it (one string may hold several lines)."""
        plural = lambda n, word: f"{word}{'s' if n != 1 else ''}"  # noqa: E731
        lines = [
            f"random: {self.sequences} sequences (seed {self.seed}, {self.jobs} {plural(self.jobs, 'worker')}, "
            f"{self.calls} calls, {self.skipped} calls skipped because the model said they could sleep for ever): "
            f"{self.conforms} conform, {self.diverged} diverge ({len(self.divergences)} "
            f"{plural(len(self.divergences), 'kind')}), {self.errors} {plural(self.errors, 'error')}; "
            f"{self.seconds:.1f} s, {self.per_second} sequences/s"
            + (f" ({self.replays} more runs spent shrinking)" if self.replays else ""),
        ]
        for d in self.divergences:
            lines.append(f"  diverges ({d.sequences} {plural(d.sequences, 'sequence')}): {d.signature}")
            lines.append(f"    shrunk from {d.shrunk_from} to {d.calls} calls ({d.replays} replays)"
                         + (f" -> {d.trace}" if d.trace else ""))
            lines.append(f"    line {d.line}: {d.reason}")
            lines.append(f"    {d.event or ''}")
            lines.append(f"    model allowed here: {', '.join(d.allowed) if d.allowed else 'nothing'}")
            steps = explained.format_steps(d.explanation or [], d.trace or "the shrunk trace (not kept)")
            if steps:
                lines.append(steps)
        for e in self.errors_detail:
            lines.append(f"  error (worker {e.worker}, {e.calls} calls): {e.reason.splitlines()[0]}"
                         + (f" -> {e.trace}" if e.trace else ""))
        for p in self.problems:
            lines.append(f"  problem: {p.splitlines()[0]}")
        if self.sequences < self.requested and not self.divergences:
            lines.append(f"  only {self.sequences} of {self.requested} sequences ran")
        if self.longest is not None:
            lines.append("no divergence; the longest sequence of worker 0, explained:")
            lines.append(explained.format_steps(self.longest[0]))
        lines.append(f"observers: {self.observers}")
        lines.append(f"reproduce: {self.reproduce()}")
        return lines


def report(requested: int, seed: int, jobs: int, steps: int, results: dict[int, Any], problems: list[str],
           seconds: float, out: str | None, explain: bool, observers: str, ready: list[Ready]) -> CampaignReport:
    """Merge the workers' results (worker index -> ExploreResult); write the traces found."""
    kinds: dict[str, tuple[Any, int]] = {}  # signature -> (the smallest DivergenceKind, its worker)
    counts: dict[str, int] = {}
    for index in sorted(results):
        for d in results[index].divergences:
            counts[d.signature] = counts.get(d.signature, 0) + d.count
            have = kinds.get(d.signature)
            if have is None or d.minimal.size() < have[0].minimal.size():
                kinds[d.signature] = (d, index)
    errors = [(e, i) for i, r in sorted(results.items()) for e in r.error_samples]
    directory = out
    if (kinds or errors) and directory is None:
        directory = tempfile.mkdtemp(prefix=f"conform-run-{seed}-")
    divergences = []
    unwritable = False
    for number, (d, worker) in enumerate(kinds.values(), 1):
        m = d.minimal
        path = write_new(directory, f"random-seed{seed}-{number}", m.trace_text) if directory else None
        unwritable |= path is None and bool(directory)
        divergences.append(FoundDivergence(
            d.signature, counts[d.signature], worker, len(m.calls), d.first_calls, d.replays, m.line, m.reason,
            m.event, m.allowed, m.program, path, explained.explain_text(m.trace_text) if explain else None))
    error_entries = []
    for number, (e, worker) in enumerate(errors, 1):
        path = write_new(directory, f"random-seed{seed}-error-{number}", e.trace_text) if directory and e.trace_text else None
        error_entries.append(CampaignError(e.reason, worker, len(e.calls), path))
    if unwritable:
        problems = problems + [f"cannot write into {directory!r}"]
    longest = None
    if explain and not divergences:
        r0 = results[0].longest if 0 in results else None
        if r0 is not None and r0.trace_text:
            longest = (explained.explain_text(r0.trace_text), r0.program)
    totals = {k: sum(getattr(r, k) for r in results.values())
              for k in ("sequences", "conforms", "diverged", "errors", "calls", "skipped", "replays")}
    return CampaignReport(seed, requested, jobs, steps, **totals, seconds=round(seconds, 3),
                          divergences=divergences, errors_detail=error_entries, problems=problems, out=directory,
                          longest=longest, observers=observers, ready=ready)
