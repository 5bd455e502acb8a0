"""`conform check`: does some run of the model explain a trace?

Three engines answer, each fed the trace's events one at a time through the
same :class:`Engine` interface; the verdicts, lines, reasons and "allowed"
lists are the same whichever answers:

* the plain engine (:class:`tcpconform.check.plain.PlainSearch`): the
  frontier search; the only one that counts rule coverage;
* the memoised engine (:class:`tcpconform.check.memo.MemoSearch`): the same
  search on configurations renamed to a canonical form, its answers kept
  (a lifecycle repeated on new names and ports is a look-up); what it has
  not seen it hands to a plain engine;
* the engine with observers (:class:`tcpconform.check.observed.ObservedSearch`):
  for a trace that declares ``x-observers`` before any call, the search with
  the wire's and the tracepoint's observations checked too.

:func:`engine_for` chooses one, once, from the header and the events before
the first call; :func:`check_trace` runs it over the trace.

Pure: takes parsed events, returns a :class:`~tcpconform.check.verdict.Verdict`.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from typing import Iterable, Iterator, Protocol, Sequence

from tcpconform.check import descriptors
from tcpconform.check.memo import MemoSearch
from tcpconform.check.observed import ObservedSearch, declared_kinds
from tcpconform.check.parking import Parked
from tcpconform.check.plain import PlainSearch
from tcpconform.check.bounds import DEFAULT, Bounds, applied
from tcpconform.check.verdict import Verdict, beyond_search
from tcpconform.model.events import Call
from tcpconform.model import system, timing
from tcpconform.model.system import Config, ModelError
from tcpconform.model.table import Case

__all__ = ["Engine", "engine_for", "check_trace", "run_engine", "Run", "no_cyclic_gc", "Verdict", "PlainSearch"]


class Engine(Protocol):
    """What every engine of the checker offers."""

    profile: str
    world: str
    events: int                 # call and state events explained so far
    x_checked: int              # x-packet / x-state observations checked so far
    coverage: dict | None       # (rule, state it left) -> uses, when counted

    @property
    def frontier(self) -> set[Config]: ...        # configurations consistent with the events so far

    @property
    def parked(self) -> dict[Parked, set[Config]]: ...  # parked connection -> its possible states

    def feed(self, event) -> Verdict | None:
        """Apply one event; return a divergence verdict, or None."""

    def closure_for(self, call: Call, timers: bool = False) -> set[Config]:
        """The configurations ``call`` may meet now, closed under unobserved steps."""


def engine_for(header, events: Iterable, coverage: bool = False,
               memoised: bool = True, cases: Sequence[Case] | None = None) -> tuple[Engine, Iterator]:
    """The engine for a trace, and its events to feed it (all of them, the
    ones looked at included).  The events are looked at up to the first call
    or state event: an ``x-observers`` declaration with an observer on before
    it, in a closed world and without ``coverage``, chooses the engine with
    observers; else ``coverage`` the plain engine that counts it, else the
    memoised engine (unless ``memoised`` is false: the plain one).  A
    TraceError raised by ``events`` propagates.  ``cases``: the rule table
    the engine reads (the model's unless another is given, a mutant)."""
    profile, world = getattr(header, "profile", "linux"), getattr(header, "world", "closed")
    events = iter(descriptors.for_model(header, events))
    looked: list = []
    if world == "closed" and not coverage:
        for ev in events:
            looked.append(ev)
            if hasattr(ev, "sock"):
                break
            kinds = declared_kinds(ev)
            if kinds is not None:
                return (ObservedSearch(profile, world, kinds, declared_at=ev.line, cases=cases),
                        itertools.chain(looked, events))
    rest = itertools.chain(looked, events)
    if coverage:
        return PlainSearch(profile, world, coverage=True, cases=cases), rest
    if memoised:
        return MemoSearch(profile, world, cases), rest
    return PlainSearch(profile, world, cases=cases), rest


def check_trace(header, events: Iterable, coverage: bool = False, fast: bool = True,
                cases: Sequence[Case] | None = None, limits: Bounds | None = None) -> Verdict:
    """Check a parsed trace.  A TraceError raised by ``events`` propagates.
    With ``coverage``, the verdict counts the rules an explaining run used.
    Unless ``fast`` is false (or with ``coverage``) the search is memoised
    (the same verdicts, reasons and "allowed" lists).  ``cases``: the rule
    table to check against (the model's unless another is given, a mutant).
    ``limits``: the search's bounds (:mod:`tcpconform.check.bounds`; the
    defaults unless given): past one, the verdict is undecided."""
    with applied(limits or DEFAULT) as watch:
        engine, events = engine_for(header, events, coverage=coverage, memoised=fast, cases=cases)
        return run_engine(engine, events, watch, clock_for(header, cases))


def clock_for(header, cases: Sequence[Case] | None = None):
    """The clock for a trace's times (tcpconform.model.timing), from its header."""
    return timing.Clock(getattr(header, "profile", "linux"), getattr(header, "sysctl", None), cases)


def run_engine(engine: Engine, events: Iterable, watch=None, clock=None) -> Verdict:
    """Feed ``events`` to ``engine`` up to the first divergence; the verdict
    (``watch``: called before each event, it may stop the search; ``clock``:
    the trace's times, tcpconform.model.timing.Clock)."""
    with no_cyclic_gc():
        return _feed_all(engine, events, watch, clock)


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """While searching: the cyclic garbage collector off.  The search makes
    many small objects, none in a cycle, and keeps large caches of them
    (tcpconform.model.system, tcpconform.check.memo); the collector would walk
    those caches again and again (it took most of the time on long traces),
    reference counting alone frees what is dropped."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _feed_all(engine: Engine, events: Iterable, watch=None, clock=None) -> Verdict:
    run = Run(engine, watch, clock)
    for ev in events:
        if run.feed(ev) is not None:
            return run.verdict
    return run.end()


class Run:
    """One engine fed event by event up to its verdict: what :func:`run_engine`
    does, in steps, for a caller that feeds several engines (or watches one)
    in one pass over the events."""

    def __init__(self, engine: Engine, watch=None, clock=None) -> None:
        self.engine = engine
        self.watch = watch       # tcpconform.check.bounds.Watch, or None: no time or memory bound
        self.clock = clock       # tcpconform.model.timing.Clock, or None: timers fire at any time
        self.verdict: Verdict | None = None
        self.beyond = False      # stopped because the search met one of its limits
        self.last_line: int | None = None

    def feed(self, ev) -> Verdict | None:
        """Feed one event, unless the verdict is known; the divergence, or None."""
        if self.verdict is not None:
            return None
        self.last_line = ev.line
        if self.clock is not None and getattr(ev, "ev", None) == "x-sysctl":
            self.clock.setting(ev.data.get("name"), ev.data.get("value"))
        t = getattr(ev, "t", None)
        token = None
        if self.clock is not None and (t is not None or self.clock.active):
            self.clock.at(t)   # once a trace has shown a time, every later event is after it
            token = system.CLOCK.set(self.clock)
        try:
            if self.watch is not None:
                self.watch()
            bad = self.engine.feed(ev)
            if token is not None and bad is None:
                self.clock.seen(self.engine.endpoint_states())
        except (ModelError, MemoryError) as e:
            self.verdict, self.beyond = beyond_search(ev.line, e, self.engine.events), True
            return self.verdict
        finally:
            if token is not None:
                system.CLOCK.reset(token)
        if bad is not None:
            bad.coverage = self.engine.coverage or {}
            self.verdict = bad
        return bad

    def passed(self, ev) -> None:
        """An event read but not fed to the engine (one no engine reads): the
        verdict's "last line" counts it still."""
        if self.verdict is None:
            self.last_line = ev.line

    def unreadable(self, line: int, message: str) -> Verdict:
        """The trace cannot be read on at ``line``: the verdict, unless known."""
        if self.verdict is None:
            self.verdict = Verdict("invalid", line, message)
        return self.verdict

    def end(self) -> Verdict:
        """The trace ended: the verdict (conforms, unless one is known)."""
        if self.verdict is None:
            e = self.engine
            self.verdict = Verdict("conforms", None,
                                   f"{e.events} events explained by the {e.profile} model"
                                   + (f" (last line {self.last_line})" if self.last_line else ""),
                                   [], e.events, e.coverage or {}, e.x_checked)
        return self.verdict
