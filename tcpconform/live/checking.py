"""A recorded trace, parsed once and checked in one pass: its verdict, the
rules it exercised, and (when asked) the model's netstat next to the kernel's.

``conform run`` wants three things of every trace it records: whether the
model explains it, which rules one explaining run used (the coverage), and
with ``--explain`` the tables of :mod:`tcpconform.check.explain` after every
call.  Each event is parsed once and fed, in the same pass, to two
:class:`~tcpconform.check.search.Checker`:

* the *verdict* checker, which also checks the ``x-packet`` / ``x-state``
  observations (:mod:`tcpconform.check.observed`): its divergence is the
  verdict, and after each call (where the recorder took its ``x-netstat``
  snapshot, which no checker reads) the explanation's rows are read off its
  frontier with :func:`tcpconform.check.explain.model_rows` and
  :func:`~tcpconform.check.explain.possible_states`;
* the *coverage* checker (``coverage=True``), which counts the rules used;
  the search does not check ``x-`` observations while it counts, so it is a
  checker of its own, fed every event until it stops by itself.

The verdicts, reasons and "allowed" lists are those of
:func:`tcpconform.check.search.check_trace`, the coverage that of
``check_trace(..., coverage=True)``, the steps those of
:func:`tcpconform.check.explain.explain_text`.  Pure: no I/O.
"""

from __future__ import annotations

import contextlib
import gc
import io
from dataclasses import dataclass, field
from typing import Any, Iterator

from tcpconform.check.explain import Step, model_rows, possible_states
from tcpconform.check.search import Checker, Verdict
from tcpconform.check.trace import TraceError, read_trace
from tcpconform.model.system import ModelError

__all__ = ["TraceCheck", "check_recorded"]


@dataclass
class TraceCheck:
    """What the model says of one recorded trace."""

    verdict: str               # conforms | diverges | invalid
    events: int                # events in the trace (header not counted)
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
    try:
        header, events = read_trace(io.BytesIO(text.encode()))
    except TraceError as e:
        return TraceCheck("invalid", count, e.line, e.message, event=_line(lines, e.line))
    verdict_search = _Search(Checker(header.profile, header.world), _Explanation(lines) if explain else None)
    coverage_search = _Search(Checker(header.profile, header.world, coverage=True))
    parsed: list[Any] = []
    try:
        with _no_cyclic_gc():
            for ev in events:
                if keep_events:
                    parsed.append(ev)
                verdict_search.feed(ev)
                coverage_search.feed(ev)
                if verdict_search.bad is not None and coverage_search.bad is not None and not keep_events:
                    break
    except TraceError as e:  # each search that had not stopped yet met it
        verdict_search.unreadable(e)
        coverage_search.unreadable(e)
    if verdict_search.bad is None:
        verdict_search.end()
    bad = verdict_search.bad
    result = TraceCheck(bad.verdict, count, bad.line, bad.reason or "", list(bad.allowed),
                        _line(lines, bad.line) if bad.verdict != "conforms" else None,
                        coverage=coverage_search.coverage(), parsed=parsed if keep_events else None)
    if verdict_search.steps is not None:
        result.explanation = verdict_search.steps.steps
    return result


class _Search:
    """One checker fed event by event until it stops: at a divergence, at an unreadable
    line, or at the end of the trace (:attr:`bad` is then the verdict)."""

    def __init__(self, checker: Checker, steps: "_Explanation | None" = None) -> None:
        self.checker = checker
        self.steps = steps
        self.bad: Verdict | None = None
        self.outside = False  # stopped by a ModelError: counts no coverage (as check_trace does)
        self.last_line: int | None = None

    def feed(self, ev: Any) -> None:
        if self.bad is not None:
            return
        self.last_line = ev.line
        if self.steps is not None:
            self.steps.before(self.checker, ev)
        try:
            bad = self.checker.feed(ev)
        except ModelError as e:  # as check_trace says it
            bad = Verdict("diverges", ev.line, f"outside what the model can search: {e}", [], self.checker.events)
            self.outside = True
        if bad is not None:
            self.bad = bad
            if self.steps is not None:
                self.steps.diverged(self.checker, ev, bad)

    def unreadable(self, e: TraceError) -> None:
        if self.bad is None:
            self.bad = Verdict("invalid", e.line, e.message)
            if self.steps is not None:
                self.steps.invalid(e)

    def end(self) -> None:
        """The trace ended with every event explained."""
        c = self.checker
        self.bad = Verdict("conforms", None, f"{c.events} events explained by the {c.profile} model"
                           + (f" (last line {self.last_line})" if self.last_line else ""), [], c.events)
        if self.steps is not None:
            self.steps.end(c)

    def coverage(self) -> dict[tuple[str, str], int]:
        if self.outside or (self.bad is not None and self.bad.verdict == "invalid"):
            return {}
        return dict(self.checker.coverage or {})


class _Explanation:
    """The steps of :func:`tcpconform.check.explain.explain_text`, read off a checker
    that something else feeds: :meth:`before` each event is fed to it, then
    :meth:`diverged`, :meth:`invalid` or :meth:`end`."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.names: list[str] = []  # every socket the trace introduced so far
        self.steps: list[Step] = []
        self.pending: Step | None = None  # the last call, until its x-netstat snapshot

    def before(self, checker: Checker, ev: Any) -> None:
        if getattr(ev, "ev", None) == "x-netstat":
            self._flush(checker, [dict(r, key=r.get("sock") or f"({r['local']}>{r['foreign']})")
                                  for r in ev.data.get("rows", [])])
        elif hasattr(ev, "op"):
            self._flush(checker, None)
            self.pending = Step(ev.line, self.lines[ev.line - 1], [], None)
            for name in (ev.sock if ev.op == "socket" and ev.ret == "ok" else None, ev.new):
                if name and name not in self.names:
                    self.names.append(name)

    def _flush(self, checker: Checker, kernel: list[dict] | None) -> None:
        step, self.pending = self.pending, None
        if step is not None:
            step.model, step.configurations = model_rows(checker, self.names)
            step.possible = {k: sorted(v) for k, v in possible_states(checker, self.names).items()}
            step.kernel = kernel
            self.steps.append(step)

    def diverged(self, checker: Checker, ev: Any, bad: Verdict) -> None:
        step, self.pending = self.pending or Step(ev.line, self.lines[ev.line - 1], [], None), None
        step.model, step.configurations = model_rows(checker, self.names)
        step.verdict = "diverges"
        step.detail = [f"diverges at line {bad.line}: {bad.reason}", f"  {self.lines[bad.line - 1]}",
                       "model allowed here: " + (", ".join(bad.allowed) if bad.allowed else "nothing")]
        self.steps.append(step)

    def invalid(self, e: TraceError) -> None:
        self.steps.append(Step(e.line, "", [], None, verdict="invalid",
                               detail=[f"invalid at line {e.line}: {e.message}"]))

    def end(self, checker: Checker) -> None:
        self._flush(checker, None)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The search makes many small objects, none in a cycle (see check_trace): reference
    counting alone frees them, and the cyclic collector would only walk its caches."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _line(lines: list[str], number: int | None) -> str | None:
    if number is None or not 1 <= number <= len(lines):
        return None
    return lines[number - 1]
