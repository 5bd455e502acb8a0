"""A recorded trace, parsed once and checked in one pass: its verdict, the
rules it exercised, and (when asked) the model's netstat next to the kernel's.

``conform run`` wants three things of every trace it records: whether the
model explains it, which rules one explaining run used (the coverage), and
with ``--explain`` the tables of :mod:`tcpconform.check.explain` after every
call.  Each event is parsed once and fed, in the same pass, to two engines
of the checker, each driven by a :class:`~tcpconform.check.search.Run`:

* the *verdict* engine, chosen as :func:`~tcpconform.check.search.check_trace`
  chooses it (with observers when the trace declares them): its verdict is
  the trace's; with ``explain``, an :class:`~tcpconform.check.explain.Explainer`
  reads the explanation off it as it goes (the plain engine then, as
  :func:`~tcpconform.check.explain.explain_text` uses);
* the *coverage* engine (``coverage=True``), which counts the rules one
  explaining run used; it does not check ``x-`` observations while it
  counts, so it is an engine of its own, fed every event until it stops.

The verdicts, reasons and "allowed" lists are those of ``check_trace``, the
coverage that of ``check_trace(..., coverage=True)``, the steps those of
``explain_text``.  Pure: no I/O.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from tcpconform.check.explain import Explainer, Step
from tcpconform.check.search import Run, engine_for, no_cyclic_gc, clock_for
from tcpconform.check.trace import TraceError, read_trace

__all__ = ["TraceCheck", "check_recorded"]


@dataclass
class TraceCheck:
    """What the model says of one recorded trace."""

    verdict: str               # conforms | diverges | invalid
    events: int                # call and state events checked, as `conform check` counts them
                               # (every line but the header when the header is unreadable)
    line: int | None = None    # the divergent or unreadable line
    reason: str = ""
    allowed: list[str] = field(default_factory=list)
    event: str | None = None   # the text of ``line`` (None when the trace conforms)
    # (rule id, state it left) -> events one explaining run used it for; {} when the
    # trace is unreadable or lies outside what the model can search
    coverage: dict[tuple[str, str], int] = field(default_factory=dict)
    explanation: list[Step] | None = None  # with ``explain``: one step per call
    parsed: list[Any] | None = None        # with ``keep_events``: every event of the trace


def check_recorded(text: str, *, explain: bool = False, keep_events: bool = False) -> TraceCheck:
    """Parse and check a trace's JSON Lines text in one pass (see the module docstring).
    ``keep_events``: also keep every parsed event (for drawing the trace)."""
    lines = text.splitlines()
    count = len(lines) - 1
    explainer = Explainer(lines) if explain else None
    parsed: list[Any] = []
    try:
        header, events = read_trace(io.BytesIO(text.encode()))
        engine, events = engine_for(header, events, memoised=not explain)
        verdict = Run(engine, clock=clock_for(header))
        coverage = Run(engine_for(header, (), coverage=True)[0], clock=clock_for(header))
        with no_cyclic_gc():
            for ev in events:
                if keep_events:
                    parsed.append(ev)
                if explainer is not None and verdict.verdict is None and not explainer.before(engine, ev):
                    verdict.passed(ev)
                elif verdict.feed(ev) is not None and explainer is not None:
                    explainer.diverged(engine, ev, verdict.verdict)
                coverage.feed(ev)
                if verdict.verdict is not None and coverage.verdict is not None and not keep_events:
                    break
    except TraceError as e:  # each run that had not stopped yet met it
        if "verdict" not in locals():   # the header itself is unreadable
            return TraceCheck("invalid", count, e.line, e.message, event=_line(lines, e.line))
        if verdict.verdict is None and explainer is not None:
            explainer.invalid(e.line, e.message)
        verdict.unreadable(e.line, e.message)
        coverage.unreadable(e.line, e.message)
    if verdict.verdict is None:
        verdict.end()
        if explainer is not None:
            explainer.end(engine)
    bad = verdict.verdict
    counted = coverage.verdict
    rules = {} if coverage.beyond or (counted is not None and counted.verdict == "invalid") else \
        dict(coverage.engine.coverage or {})
    checked = bad.events if bad.events is not None else count   # as `conform check` counts: call and state events
    return TraceCheck(bad.verdict, checked, bad.line, bad.reason or "", list(bad.allowed),
                      _line(lines, bad.line) if bad.verdict != "conforms" else None,
                      coverage=rules, explanation=explainer.steps if explainer is not None else None,
                      parsed=parsed if keep_events else None)


def _line(lines: list[str], number: int | None) -> str | None:
    if number is None or not 1 <= number <= len(lines):
        return None
    return lines[number - 1]
