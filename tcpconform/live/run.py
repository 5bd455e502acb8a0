"""Named scenarios: record each on this machine's TCP stack and check its trace.

:func:`run_scenarios` records the named scenarios (:mod:`tcpconform.live.scenarios`)
with :class:`~tcpconform.live.recorder.Recorder` over loopback, in worker
processes (:mod:`tcpconform.live.pool`, one per core by default), each in a
network namespace of its own and a fresh one for every scenario.  Each
worker parses and checks every trace it records once
(:func:`tcpconform.live.checking.check_recorded`): the verdict, the rules
the trace exercised, and with ``explain`` the model's netstat next to the
kernel's after every call, all from that one pass.  With ``out_dir``, each
trace is written to ``DIR/SCENARIO.jsonl`` (an existing file is never
overwritten), and the rules exercised are drawn on the state diagram
(``coverage``), each divergent trace as a sequence chart.

The result is a :class:`RunReport`; :meth:`RunReport.lines` and
:meth:`RunReport.to_json` are what ``conform run`` prints.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from tcpconform.check import explain as explained
from tcpconform.check.explain import Step
from tcpconform.diagrams import render
from tcpconform.live import outdir
from tcpconform.live.checking import check_recorded
from tcpconform.live.netfilter import ScenarioSkipped
from tcpconform.live.observers import ObserverSpec, worker_specs
from tcpconform.live.outdir import RunRefused
from tcpconform.live.pool import Ready, Worker, run_workers
from tcpconform.live.recorder import ScenarioError
from tcpconform.live.scenarios import SCENARIOS, record
from tcpconform.model import rules

__all__ = ["Outcome", "RunReport", "RunRefused", "run_scenarios"]

OBSERVED = {"packets": "packets on lo (x-packet)", "states": "sock:inet_sock_set_state (x-state)"}
"""The observers, by the key of the trace's ``x-observers`` event, as the report names them."""


@dataclass
class Outcome:
    """What happened to one scenario."""

    name: str
    verdict: str  # conforms | diverges | invalid | error | skipped
    events: int = 0  # events in the trace (header not counted)
    line: int | None = None
    reason: str = ""
    allowed: list[str] = field(default_factory=list)
    event: str | None = None  # the text of the line named by ``line``
    trace: str | None = None  # where the trace was written

    def format(self) -> str:
        """The outcome as ``conform run`` prints it."""
        head = f"{self.name:<30} {self.verdict:<9} {self.events:>4} events"
        if self.trace:
            head += f"  -> {self.trace}"
        if self.verdict == "conforms":
            return head
        if self.verdict in ("diverges", "invalid") and self.line is not None:
            detail = f"\n    line {self.line}: {self.reason}\n    {self.event or ''}"
            if self.verdict == "diverges":
                detail += f"\n    model allowed here: {', '.join(self.allowed) if self.allowed else 'nothing'}"
            return head + detail
        return head + f"\n    {self.reason}"


@dataclass
class ScenarioRecorded:
    """A worker's word on one scenario: the outcome, and what the one check of its trace gave."""

    outcome: Outcome
    trace_text: str | None = None  # the trace (None: the scenario did not record one)
    coverage: dict[tuple[str, str], int] = field(default_factory=dict)
    explanation: list[Step] | None = None
    observers: dict[str, Any] = field(default_factory=dict)  # the trace's x-observers event, or {}
    divergence_chart: str | None = None  # DOT text, when asked to draw and the trace diverges


@dataclass
class ObserverCount:
    """In how many of the recorded scenarios an observer was on, and why it was off (first reason)."""

    on: int
    of: int
    off_reason: str | None


@dataclass
class Coverage:
    """Which rules of the linux profile the live stack exercised (one explaining run of each trace)."""

    rules_exercised: int
    rules_total: int
    exercised: list[str]
    not_exercised: list[str]
    drawn: list[str] | None = None  # the files drawn, when asked to draw

    def format(self) -> str:
        n, total = self.rules_exercised, self.rules_total
        text = (f"rule coverage: {n} of {total} rules of the linux profile exercised by the live stack "
                f"({100 * n // total}%)")
        if self.drawn:
            text += "; drawn in " + ", ".join(self.drawn)
        return text

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.drawn is None:
            del out["drawn"]
        return out


@dataclass
class RunReport:
    """What a run of named scenarios found."""

    outcomes: list[Outcome]
    explanations: dict[str, list[Step]]  # scenario -> steps (with ``explain``, every recorded one)
    observers: dict[str, ObserverCount]  # "packets", "states"
    coverage: Coverage
    ready: list[Ready]                   # the workers, as they said where they run
    traces: dict[str, str] = field(default_factory=dict)  # scenario -> its trace (JSON Lines), if recorded
    notes: list[str] = field(default_factory=list)  # what was not drawn, and why

    @property
    def status(self) -> int:
        """0 every trace conforms; 1 some trace diverges; 2 one is invalid or a scenario could not run;
        3 the check of one stopped before deciding (undecided) and none of the above."""
        verdicts = {o.verdict for o in self.outcomes}
        if verdicts & {"invalid", "error"}:
            return 2
        return 1 if "diverges" in verdicts else 3 if "undecided" in verdicts else 0

    def summary(self) -> dict[str, int]:
        counts = {"scenarios": len(self.outcomes)}
        for o in self.outcomes:
            counts[o.verdict] = counts.get(o.verdict, 0) + 1
        return counts

    def lines(self) -> list[str]:
        """The report as ``conform run`` prints it (one string may hold several lines)."""
        out = []
        for o in self.outcomes:
            out.append(o.format())
            steps = explained.format_steps(self.explanations.get(o.name, []),
                                           o.trace or "the trace as recorded (not kept: add --out DIR to keep it)")
            if steps:
                out.append(steps)
        counts = self.summary()
        out.append(f"{len(self.outcomes)} scenarios: " + ", ".join(
            f"{counts[k]} {k}" for k in ("conforms", "diverges", "undecided", "invalid", "error", "skipped")
            if counts.get(k)))
        out.append("observers: " + "; ".join(
            f"{OBSERVED[kind]} on" if c.on == c.of else f"{OBSERVED[kind]} off in {c.of - c.on} of {c.of}: {c.off_reason}"
            for kind, c in self.observers.items()))
        out.append(self.coverage.format())
        return out

    def to_json(self) -> dict[str, Any]:
        scenarios = []
        for o in self.outcomes:
            entry = asdict(o)
            if o.name in self.explanations:
                entry["explain"] = explained.explain_json(self.explanations[o.name])
            scenarios.append(entry)
        return {"scenarios": scenarios, "observers": {k: asdict(c) for k, c in self.observers.items()},
                "summary": self.summary(), "coverage": self.coverage.to_json()}


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _ScenarioJob:
    """One worker's share of the scenarios."""

    names: tuple[str, ...]
    explain: bool
    draw: bool
    observers: ObserverSpec


def run_scenarios(names: Sequence[str], out_dir: str | None = None, *, jobs: int | None = None,
                  isolation: str = "auto", observers: bool = True, explain: bool = False,
                  progress: Callable[[int, int, str], None] | None = None) -> RunReport:
    """Record and check the named scenarios (see the module docstring).  ``jobs``: worker
    processes (default one per core, never more than scenarios); ``isolation``: see
    :data:`tcpconform.live.pool.ISOLATIONS`; ``observers``: also record packets and the
    state-change tracepoint where permitted; ``progress(done, total, name)``: told as each
    scenario's result arrives (and ``(total, total, "")`` at the end).  Raises :class:`RunRefused`, before anything
    runs, for an unknown name or an output directory that cannot take the traces;
    :class:`tcpconform.live.pool.Interrupted` on SIGINT/SIGTERM."""
    names = list(names)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise RunRefused(f"unknown scenario{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
                         "known scenarios:\n  " + "\n  ".join(SCENARIOS))
    trace_paths = outdir.prepare(out_dir, names)
    jobs = max(1, min((os.cpu_count() or 1) if jobs is None else jobs, len(names)))
    recorded: dict[str, ScenarioRecorded] = {}

    def handle(index: int, msg: ScenarioRecorded) -> None:
        name = msg.outcome.name
        if msg.trace_text is not None and name in trace_paths:
            try:
                outdir.write_exclusive(trace_paths[name], msg.trace_text)
                msg.outcome.trace = trace_paths[name]
            except OSError as e:
                msg.outcome = Outcome(name, "error", reason=f"cannot write {trace_paths[name]!r}: {e.strerror or e}")
        recorded[name] = msg
        if progress:
            progress(len(recorded), len(names), name)

    with worker_specs(jobs, observers, isolation) as (specs, _why_off):
        work = [_ScenarioJob(tuple(names[k::jobs]), explain, out_dir is not None, specs[k]) for k in range(jobs)]
        pool_report = run_workers(work, _record_and_check, handle, isolation)
    if progress:
        progress(len(names), len(names), "")
    outcomes = [recorded[n].outcome if n in recorded else
                Outcome(n, "error", reason="; ".join(pool_report.problems) or "the scenario did not run") for n in names]
    traced = [recorded[n] for n in names if n in recorded and recorded[n].trace_text is not None]
    used: dict[tuple[str, str], int] = {}
    for r in traced:
        for key, count in r.coverage.items():
            used[key] = used.get(key, 0) + count
    report = RunReport(outcomes, {r.outcome.name: r.explanation for r in traced if r.explanation is not None},
                       _observer_counts(traced), coverage_of(used), pool_report.ready,
                       {r.outcome.name: r.trace_text for r in traced})
    if out_dir is not None:
        charts = [("coverage", render.coverage_overlay(used))]
        charts += [(f"{r.outcome.name}-divergence", r.divergence_chart) for r in traced
                   if r.outcome.verdict == "diverges" and r.divergence_chart is not None]
        report.coverage.drawn = _draw(charts, out_dir, report.notes)
    return report


def _record_and_check(job: _ScenarioJob, worker: Worker) -> None:
    """Worker target: record each scenario of the job in a fresh namespace, check it once, send the result."""
    for k, name in enumerate(job.names):
        try:
            worker.fresh()
            rec = record(name, netstat=job.explain, observers=job.observers, number_in_worker=k)
        except ScenarioSkipped as e:
            worker.send(ScenarioRecorded(Outcome(name, "skipped", reason=str(e))))
            continue
        except (ScenarioError, OSError) as e:
            worker.send(ScenarioRecorded(Outcome(name, "error", reason=f"{type(e).__name__}: {e}")))
            continue
        trace_text = rec.trace_lines()
        checked = check_recorded(trace_text, explain=job.explain, keep_events=job.draw)
        chart = None
        if job.draw and checked.verdict == "diverges":
            chart = render.sequence_from_trace(checked.parsed, checked.line,
                                               title=f"{name}: diverges at line {checked.line}")
        first_event = rec.events[0] if rec.events else {}
        worker.send(ScenarioRecorded(
            Outcome(name, checked.verdict, checked.events, checked.line, checked.reason, checked.allowed,
                    checked.event),
            trace_text, checked.coverage, checked.explanation,
            observers=first_event if first_event.get("ev") == "x-observers" else {}, divergence_chart=chart))


def _observer_counts(traced: list[ScenarioRecorded]) -> dict[str, ObserverCount]:
    """Which observers were on in every recorded scenario, and why any was off (first reason)."""
    counts = {}
    for kind in OBSERVED:
        on = [r for r in traced if r.observers.get(kind)]
        why = next((r.observers.get("off", {}).get(kind) for r in traced if not r.observers.get(kind)), None)
        counts[kind] = ObserverCount(len(on), len(traced), why)
    return counts


def coverage_of(used: dict[tuple[str, str], int]) -> Coverage:
    """The rules of the linux profile the runs used ((rule, state) -> count), counted as the overlay counts them."""
    total = [c.id for c in rules.of_profile("linux")]
    cases = sorted({case for case, _ in used} & set(total))
    return Coverage(len(cases), len(total), cases, sorted(set(total) - set(cases)))


def _draw(charts: list[tuple[str, str]], out_dir: str, notes: list[str]) -> list[str]:
    """Render each (stem, DOT text) into ``out_dir`` unless a file of that stem is there."""
    dot = render.find_dot()
    written: list[str] = []
    for stem, text in charts:
        if any(Path(out_dir).glob(f"{stem}.*")):
            notes.append(f"not drawing {stem}: a file of that name is already in {out_dir}")
            continue
        written += [str(p) for p in render.render(text, out_dir, stem, formats=("svg",), dot=dot)]
    return written
