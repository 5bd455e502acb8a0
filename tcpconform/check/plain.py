"""The plain engine of `conform check`: the frontier search, event by event.

The search keeps the *frontier*: every configuration of the model that is
consistent with the events read so far.  For each event it closes the
frontier under unobserved steps (segments delivered, timers fired), keeps
the configurations in which the event could happen, and applies it.  An
empty frontier is a divergence at that line.  Events are read one at a
time; memory holds the frontier (which grows with the live sockets) and the
set of names, never the file.

Pure: takes parsed events, returns a :class:`~tcpconform.check.verdict.Verdict`.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Sequence

from tcpconform.check import parking
from tcpconform.check.parking import Parked, ParkedIndex
from tcpconform.check.verdict import Tally, Verdict, divergence
from tcpconform.model import system
from tcpconform.check import bounds
from tcpconform.model.system import Config, SearchBound
from tcpconform.model.table import Case

__all__ = ["PlainSearch"]


class PlainSearch:
    """The plain engine: feed call and state events one by one with :meth:`feed`
    (extension events are passed over).

    Search strategy:

    * **Timers fire when an observation needs them.**  For each event the
      frontier is first closed under segment deliveries only; only if no
      configuration then explains the event is it closed again with timers
      too (handshake give-up, TIME_WAIT expiry, ...).  A timer's firing
      commutes with every step that does not touch its endpoint, so it is
      deferred to the first event that needs it.
    * **Subsumed configurations are dropped.**  If one configuration of the
      frontier reaches another by deliveries, the other adds nothing.
    * **Independent connections are parked** (:mod:`tcpconform.check.parking`):
      after each event, and joined back when an event may meet them.

    ``frontier`` and ``parked`` (parked connection -> its possible states)
    are the state; the memoised engine builds a plain one from its own
    (:meth:`from_state`) and asks it single steps (:meth:`advance`,
    :meth:`park`).
    """

    x_checked = 0  # this engine checks no x- observations
    used_timers = False  # whether the last event advanced needed a timer (see advance)

    def __init__(self, profile: str = "linux", world: str = "closed", coverage: bool = False,
                 cases: Sequence[Case] | None = None):
        self.profile = profile
        self.world = world
        self.cases = cases  # the rule table: the model's unless another is given (a mutant)
        self.coverage: dict | None = {} if coverage else None
        self._seen: dict[str, str] = {}  # with coverage: the state last observed of each name
        self.frontier: set[Config] = {system.EMPTY}
        self.parked: dict[Parked, set[Config]] = {}
        self._index = ParkedIndex()
        self.events = 0
        self.rules_used: dict[str, int] = {}
        self.tally = Tally()  # what the trace's calls moved so far (for the words of a divergence)

    @classmethod
    def from_state(cls, profile: str, world: str, frontier: set[Config],
                   parked: dict[Parked, set[Config]] | None = None, events: int = 0,
                   cases: Sequence[Case] | None = None, tally: Tally | None = None) -> "PlainSearch":
        """A plain engine in the given state (no coverage; ``tally``: what the trace moved so far)."""
        engine = cls(profile, world, cases=cases)
        if tally is not None:
            engine.tally = tally
        engine.frontier = set(frontier)
        for conn, parts in (parked or {}).items():
            engine._add_parked(conn, parts)
        engine.events = events
        return engine

    def feed(self, ev) -> Verdict | None:
        """Apply one event; return a divergence verdict, or None."""
        if not hasattr(ev, "sock"):
            return None  # an x- extension: observations this engine does not read
        self.events += 1
        self.unpark_for(ev)
        nxt = self.advance(ev)
        if nxt is None:
            return self._divergence(ev)
        self.frontier = nxt
        self.park()
        self.tally.note(ev)
        return None

    def endpoint_states(self):
        """(key, endpoint fields) of every endpoint of the frontier and the parked connections."""
        for c in itertools.chain(self.frontier, *self.parked.values()):
            for k, e in c.eps:
                yield k, e.core

    def closed(self, timers: bool) -> set[Config]:
        """The frontier closed under unobserved steps (deliveries only, unless ``timers``)."""
        out: set[Config] = set()
        for c in self.frontier:
            out.update(system.closure(c, self.profile, timers, self.world, cases=self.cases))
        return out

    def closure_for(self, call, timers: bool = False) -> set[Config]:
        """The configurations ``call`` may meet now: the parked connections it may
        meet joined back (the next :meth:`feed` parks them again), closed under
        unobserved steps (deliveries only, unless ``timers``)."""
        self.unpark_for(call)
        return self.closed(timers)

    def advance(self, ev) -> set[Config] | None:
        """The frontier after ``ev`` (reduced), with nothing parked or joined;
        None if no configuration of the frontier explains it."""
        is_call = hasattr(ev, "op")
        for timers in (False, True):
            nxt = self._call(ev, timers) if is_call else self._state(ev, timers)
            if nxt:
                break
        else:
            return None
        self.used_timers = timers  # the event needed a timer to have fired (what a trace's times decide)
        if self.coverage is not None:
            self._cover(ev, is_call, timers)
            if not is_call:
                self._seen[ev.sock] = ev.state
        if len(nxt) > bounds.frontier():
            raise SearchBound("frontier", bounds.frontier(),
                              f"more than {bounds.frontier()} model configurations explain the trace so far")
        return self._reduce(nxt)

    def _state(self, ev, timers: bool) -> set[Config]:
        return {c for c in self.closed(timers) if ev.state in system.observe(c, ev.sock, self.profile)}

    def _call(self, ev, timers: bool) -> set[Config]:
        nxt: set[Config] = set()
        for c in self.closed(timers):
            for o in system.apply_call(c, ev, self.profile, self.world, timers, self.cases):
                nxt.add(o.config)
                self.rules_used[o.result.case] = self.rules_used.get(o.result.case, 0) + 1
        return nxt

    def _cover(self, ev, is_call: bool, timers: bool) -> None:
        """Count the rules one run explaining this event used: the unobserved
        steps from the frontier to a configuration where the event happens,
        and the event's own rule."""
        target, rule, wait = None, None, None
        candidates = self.closed(timers)
        seen = self._seen.get(getattr(ev, "sock", None))
        if is_call and seen is not None:
            # a run in which the name is still as it was last seen first: the
            # unobserved steps that moved it on may be ones the trace rules out later
            still = [c for c in candidates if seen in system.observe(c, ev.sock, self.profile)]
            candidates = still + [c for c in candidates if seen not in system.observe(c, ev.sock, self.profile)]
        for c in candidates:
            if not is_call:
                if ev.state in system.observe(c, ev.sock, self.profile):
                    target = c
                    break
                continue
            st = dict(c.eps).get(ev.sock)
            pre = st.core.st if st else "CLOSED"
            direct = system.possible_results(c, ev, self.profile, self.cases)
            if any(r.ret == ev.ret for r in direct) and \
                    system.apply_call(c, ev, self.profile, self.world, timers, self.cases):
                # prefer a run in which the call returns at once
                target, rule, wait = c, (next(r.case for r in direct if r.ret == ev.ret), pre), None
                break
            if target is None and any(r.ret == "WAIT" for r in direct) and \
                    system.apply_call(c, ev, self.profile, self.world, timers, self.cases):
                target = c
                wait = (next(r.case for r in direct if r.ret == "WAIT"), pre)
        if wait is not None:
            rule = wait  # a blocking call: its first half (what follows is unobserved)
        used = self._path(target, timers) if target is not None else []
        if rule is not None:
            used.append(rule)
        if wait is not None:
            used += self._wait_path(target, ev, timers)
        for key in used:
            self.coverage[key] = self.coverage.get(key, 0) + 1

    def _wait_path(self, start: Config, ev, timers: bool) -> list:
        """The unobserved steps while a blocking call slept, up to its return."""
        for asleep in system.sleeping(start, ev, self.profile, self.cases):
            def done(c, ev=ev):
                return any(o.result.ret == ev.ret
                           for o in system.resume_call(c, ev, self.profile, self.world, timers, self.cases))
            steps = self._path(None, timers, starts=[asleep.config], goal=done)
            if steps is not None:
                return steps
        return []

    def _path(self, target: Config | None, timers: bool, starts=None, goal=None) -> list | None:
        """Rules along a shortest run of unobserved steps from the frontier
        (or ``starts``) to ``target`` (or to a configuration meeting ``goal``)."""
        starts = list(self.frontier) if starts is None else starts
        parent: dict = {c: None for c in starts}
        todo = list(starts)
        found = next((c for c in starts if goal(c)), None) if goal else (target if target in parent else None)
        while todo and found is None:
            c = todo.pop(0)
            for label, d in system.internal_steps(c, self.profile, timers, self.world, cases=self.cases):
                if d not in parent:
                    parent[d] = (c, label)
                    todo.append(d)
                    if (goal(d) if goal else d == target):
                        found = d
                        break
        if found is None:
            return [] if goal is None else None
        steps = []
        c = found
        while parent.get(c) is not None:
            c, label = parent[c]
            if getattr(label, "case", None):
                steps.append((label.case, label.from_state))
        return steps[::-1]

    def _divergence(self, ev) -> Verdict:
        return divergence(ev, self.closed(True), self.profile, self.world, self.events, self.cases, self.tally)

    # -- keeping the frontier small ------------------------------------------
    def _reduce(self, frontier: set[Config]) -> set[Config]:
        """Drop every configuration that another one reaches by deliveries:
        whatever it can do, the other can do too (its closure contains it)."""
        if len(frontier) < 2:
            return frontier
        keep = set(frontier)
        for c in frontier:
            if c in keep:
                reach = system.closure(c, self.profile, False, self.world, cases=self.cases)
                keep = {d for d in keep if d == c or d not in reach}
        return keep

    def park(self, keep: Iterable = frozenset()) -> None:
        """Park every connection that nothing else refers to, with the set of
        states it may be in, when the frontier is the product of that set and
        the rest (so keeping them apart loses nothing); but none with a socket
        named in ``keep``.  The parked connection is found again by every name
        it has in any of its states (a timer may have ended one of its sockets
        in some of them only)."""
        keep = frozenset(keep)
        for conn in parking.parkable(next(iter(self.frontier))):
            rest: dict[Config, set] = {}
            parts: set = set()
            for c in self.frontier:
                r, u = parking.split(c, conn)
                rest.setdefault(r, set()).add(u)
                parts.add(u)
            if any(len(us) != len(parts) for us in rest.values()):
                continue  # not a product: the connection's fate is tied to the rest
            names = frozenset(k for u in parts for k, _e in u.eps)
            if names & keep:
                continue
            self._add_parked(Parked(names, conn.pair), self._reduce(parts))
            self.frontier = set(rest)

    def unpark_for(self, ev) -> None:
        """Join back every parked connection the event may meet."""
        if not self.parked:
            return
        for conn in self._index.met_by(ev, parking.own_ports(self.frontier, ev.sock, ev)):
            if conn in self.parked:
                parts = self._remove_parked(conn)
                self.frontier = {parking.join(c, u) for c in self.frontier for u in parts}

    def _add_parked(self, conn: Parked, parts: set[Config]) -> None:
        self.parked[conn] = parts
        self._index.add(conn, conn)

    def _remove_parked(self, conn: Parked) -> set[Config]:
        parts = self.parked.pop(conn)
        self._index.remove(conn, conn)
        return parts
