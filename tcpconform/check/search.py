"""`conform check`: does some run of the model explain a trace?

The search keeps the *frontier*: every configuration of the model that is
consistent with the events read so far.  For each event it closes the
frontier under unobserved steps (segments delivered, timers fired), keeps
the configurations in which the event could happen, and applies it.  An
empty frontier is a divergence at that line.  Events are read one at a
time; memory holds the frontier (which grows with the live sockets) and the
set of names, never the file.

Pure: takes parsed events, returns a :class:`Verdict`.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Any, Iterable

from tcpconform.model import system
from tcpconform.model.system import Config, ModelError

FRONTIER_LIMIT = 20_000


@dataclass
class Verdict:
    verdict: str              # "conforms" | "diverges" | "invalid"
    line: int | None
    reason: str
    allowed: list[str] = field(default_factory=list)
    events: int = 0
    # (rule id, state it left) -> how many events one explaining run used it for
    coverage: dict = field(default_factory=dict)
    x_checked: int = 0        # x-packet / x-state events checked (tcpconform.check.observed)

    @property
    def exit_code(self) -> int:
        return {"conforms": 0, "diverges": 1}.get(self.verdict, 2)

    def as_json(self) -> dict:
        return {"verdict": self.verdict, "line": self.line, "reason": self.reason,
                "allowed": self.allowed, "events": self.events}


class Checker:
    """Incremental checker: feed events one by one with :meth:`feed`.

    Search strategy:

    * **Timers fire when an observation needs them.**  For each event the
      frontier is first closed under segment deliveries only; only if no
      configuration then explains the event is it closed again with timers
      too (handshake give-up, TIME_WAIT expiry, ...).  A timer's firing
      commutes with every step that does not touch its endpoint, so it is
      deferred to the first event that needs it.
    * **Subsumed configurations are dropped.**  If one configuration of the
      frontier reaches another by deliveries, the other adds nothing.
    * **Independent connections are set aside.**  A connection (an endpoint
      and its peer, with the segments between them) that no other socket
      refers to, whose possible states combine freely with the rest of the
      frontier, is kept apart with its own set of states and joined back when
      an event names it or may meet it (its name; its addresses or ports in a
      bind, connect or accept).  So the work per event follows the sockets
      that are active, not the length of the trace.
    """

    def __init__(self, profile: str = "linux", world: str = "closed", coverage: bool = False):
        self.profile = profile
        self.world = world
        self.coverage: dict | None = {} if coverage else None
        self.frontier: set[Config] = {system.EMPTY}
        self.parked: dict[tuple, set[Config]] = {}
        self._shelf = Shelf()
        self.events = 0
        self.rules_used: dict[str, int] = {}
        self._x = None  # x- checking (tcpconform.check.observed), from an x-observers event at the start

    def _closed(self, timers: bool) -> set[Config]:
        out: set[Config] = set()
        for c in self.frontier:
            out.update(system.closure(c, self.profile, timers, self.world))
        return out

    def feed(self, ev) -> Verdict | None:
        """Apply one event; return a divergence verdict, or None."""
        # -- x- observations: tcpconform/check/observed.py (begin) --
        if self._x is not None:
            return self._x.feed(ev)
        if getattr(ev, "ev", None) == "x-observers":
            from tcpconform.check.observed import XSearch, starts
            kinds = starts(ev, self)
            if kinds is not None:
                self._x = XSearch(self, kinds)
            return None
        # -- x- observations (end) --
        if not self.reads(ev):
            return None  # an x- extension: observations this checker does not read
        self.events += 1
        self._unpark_for(ev)
        nxt = self.advance(ev)
        if nxt is None:
            return self._divergence(ev, hasattr(ev, "op"))
        self.frontier = nxt
        self._park()
        return None

    @staticmethod
    def reads(ev) -> bool:
        """Whether :meth:`feed` looks at ``ev`` (tcpconform.check.memo asks too)."""
        return hasattr(ev, "sock") or getattr(ev, "ev", None) == "x-observers"

    def advance(self, ev) -> set[Config] | None:
        """The frontier after ``ev`` (reduced), with no setting aside; None
        if no configuration of the frontier explains it."""
        is_call = hasattr(ev, "op")
        for timers in (False, True):
            nxt = self._call(ev, timers) if is_call else self._state(ev, timers)
            if nxt:
                break
        else:
            return None
        if self.coverage is not None:
            self._cover(ev, is_call, timers)
        if len(nxt) > FRONTIER_LIMIT:
            raise ModelError(f"more than {FRONTIER_LIMIT} model configurations explain the trace so far")
        return self._reduce(nxt)

    def _state(self, ev, timers: bool) -> set[Config]:
        return {c for c in self._closed(timers) if ev.state in system.observe(c, ev.sock, self.profile)}

    def _call(self, ev, timers: bool) -> set[Config]:
        nxt: set[Config] = set()
        for c in self._closed(timers):
            for o in system.apply_call(c, ev, self.profile, self.world, timers):
                nxt.add(o.config)
                self.rules_used[o.result.case] = self.rules_used.get(o.result.case, 0) + 1
        return nxt

    def _cover(self, ev, is_call: bool, timers: bool) -> None:
        """Count the rules one run explaining this event used: the unobserved
        steps from the frontier to a configuration where the event happens,
        and the event's own rule."""
        target, rule, wait = None, None, None
        for c in self._closed(timers):
            if not is_call:
                if ev.state in system.observe(c, ev.sock, self.profile):
                    target = c
                    break
                continue
            st = dict(c.eps).get(ev.sock)
            pre = st.core.st if st else "CLOSED"
            direct = system.possible_results(c, ev, self.profile)
            if any(r.ret == ev.ret for r in direct) and \
                    system.apply_call(c, ev, self.profile, self.world, timers):
                # prefer a run in which the call returns at once
                target, rule, wait = c, (next(r.case for r in direct if r.ret == ev.ret), pre), None
                break
            if target is None and any(r.ret == "WAIT" for r in direct) and \
                    system.apply_call(c, ev, self.profile, self.world, timers):
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
        for asleep in system.sleeping(start, ev, self.profile):
            def done(c, ev=ev):
                return any(o.result.ret == ev.ret
                           for o in system.resume_call(c, ev, self.profile, self.world, timers))
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
            for label, d in system.internal_steps(c, self.profile, timers, self.world):
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

    def _divergence(self, ev, is_call: bool) -> Verdict:
        closed = self._closed(True)
        if is_call:
            return Verdict("diverges", ev.line, _why(ev), _allowed(closed, ev, self.profile, self.world),
                           self.events)
        seen = sorted({s for c in closed for s in system.observe(c, ev.sock, self.profile)})
        return Verdict("diverges", ev.line, f"socket {ev.sock!r} cannot be {ev.state} here",
                       [f"state {s}" for s in seen], self.events)

    # -- keeping the frontier small ------------------------------------------
    def _reduce(self, frontier: set[Config]) -> set[Config]:
        """Drop every configuration that another one reaches by deliveries:
        whatever it can do, the other can do too (its closure contains it)."""
        if len(frontier) < 2:
            return frontier
        keep = set(frontier)
        for c in frontier:
            if c in keep:
                reach = system.closure(c, self.profile, False, self.world)
                keep = {d for d in keep if d == c or d not in reach}
        return keep

    def _park(self, keep: frozenset = frozenset()) -> None:
        """Set aside every connection that nothing else refers to, with the
        set of states it may be in, when the frontier is the product of that
        set and the rest (so keeping them apart loses nothing); but none
        with a socket named in ``keep``.  The connection is found again by
        every name it has in any of its states (a timer may have ended one
        of its sockets in some of them only)."""
        for unit in _units(next(iter(self.frontier))):
            rest: dict[Config, set] = {}
            parts: set = set()
            for c in self.frontier:
                r, u = _split(c, unit)
                rest.setdefault(r, set()).add(u)
                parts.add(u)
            if any(len(us) != len(parts) for us in rest.values()):
                continue  # not a product: the connection's fate is tied to the rest
            names = frozenset(k for u in parts for k, _e in u.eps)
            if names & keep:
                continue
            self._put((names, unit[1]), self._reduce(parts))
            self.frontier = set(rest)

    def _unpark_for(self, ev) -> None:
        """Join back every set-aside connection the event may meet."""
        if not self.parked:
            return
        for unit in self._shelf.meeting(ev):
            if unit in self.parked:
                parts = self._take(unit)
                self.frontier = {_join(c, u) for c in self.frontier for u in parts}

    def _put(self, unit, parts) -> None:
        self.parked[unit] = parts
        self._shelf.add(unit, *unit)

    def _take(self, unit):
        parts = self.parked.pop(unit)
        self._shelf.remove(unit, *unit)
        return parts


class Shelf:
    """Where connections set aside are found again: each entry (any key,
    e.g. the unit) is indexed by its names, its address pair, each of the two
    addresses and their ports."""

    def __init__(self) -> None:
        self.of_pair: dict[frozenset, Any] = {}
        self.by_name: dict[str, set] = {}
        self.by_addr: dict[tuple, set] = {}
        self.by_port: dict[int, set] = {}

    def add(self, key, names, pair) -> None:
        self.of_pair[pair] = key
        for name in names:
            self.by_name.setdefault(name, set()).add(key)
        for a in pair:
            self.by_addr.setdefault(a, set()).add(key)
            self.by_port.setdefault(a[1], set()).add(key)

    def remove(self, key, names, pair) -> None:
        if self.of_pair.get(pair) == key:
            del self.of_pair[pair]
        for index, keys in ((self.by_name, names), (self.by_addr, pair), (self.by_port, {a[1] for a in pair})):
            for k in keys:
                index[k].discard(key)
                if not index[k]:
                    del index[k]

    def meeting(self, ev) -> set:
        """The entries an event may meet: its names; the address pair of a
        connect or accept (or, for a connect from an unknown port, the
        address it connects to); the ports a bind may find held."""
        names = {ev.sock}
        pairs: set = set()     # exact address pairs the event may touch
        addrs: set = set()     # an address whose partner the event does not tell
        ports: set = set()     # ports a bind may find held
        if hasattr(ev, "op"):
            if ev.new:
                names.add(ev.new)
            if ev.op == "bind":
                ports = {a[1] for a in (ev.addr, ev.local) if a is not None and a[1]}
            elif ev.op == "connect" and ev.addr is not None:
                target = system.normalize(tuple(ev.addr))
                if ev.local is not None:
                    pairs.add(frozenset((tuple(ev.local), target)))
                else:
                    addrs.add(target)
            elif ev.op == "accept" and ev.local is not None and ev.peer is not None:
                pairs.add(frozenset((tuple(ev.local), tuple(ev.peer))))
        wake = set()
        for name in names:
            wake.update(self.by_name.get(name, ()))
        for pair in pairs:
            if pair in self.of_pair:
                wake.add(self.of_pair[pair])
        for a in addrs:
            wake.update(self.by_addr.get(a, ()))
        for p in ports:
            wake.update(self.by_port.get(p, ()))
        return wake


def _units(cfg: Config) -> list:
    """Connections of ``cfg`` that could be set aside: the endpoints sharing an
    address pair (a connection and its peer), when nothing of them can reach a
    listener: none is a request sock or a queued child (they belong to their
    listener), none is SYN_SENT and no SYN is in flight between them.  Any
    other segment they exchange reaches one of them, or gets a RST whether or
    not a listener has the address; each as (names, the two addresses)."""
    groups: dict[frozenset, list] = {}
    tied: set = set()
    for k, e in cfg.eps:
        if e.local is None or e.remote is None:
            continue
        pair = frozenset((e.local, e.remote))
        groups.setdefault(pair, []).append(k)
        if e.parent is not None or e.core.st in ("SYN_SENT", "LISTEN"):
            tied.add(pair)
    for chan, segs in cfg.net:
        if any(kind == "SYN" for kind, _n in segs):
            tied.add(frozenset(chan))  # a SYN in flight may reach a listener
    return [(frozenset(ks), pair) for pair, ks in groups.items() if pair not in tied]


def _split(cfg: Config, unit) -> tuple[Config, Config]:
    _keys, pair = unit
    inside = {k for k, e in cfg.eps
              if e.local is not None and e.remote is not None and frozenset((e.local, e.remote)) == pair}
    part = Config(tuple((k, e) for k, e in cfg.eps if k in inside),
                  tuple((ch, segs) for ch, segs in cfg.net if frozenset(ch) == pair))
    rest = Config(tuple((k, e) for k, e in cfg.eps if k not in inside),
                  tuple((ch, segs) for ch, segs in cfg.net if frozenset(ch) != pair))
    return rest, part


def _join(cfg: Config, part: Config) -> Config:
    return Config(tuple(sorted(cfg.eps + part.eps)), tuple(sorted(cfg.net + part.net)))


def _why(ev) -> str:
    what = f"{ev.op} on {ev.sock!r} returning {ev.ret}"
    if ev.n is not None:
        what += f" with n={ev.n}"
    return f"no run of the model explains {what}"


def _allowed(closed: Iterable[Config], ev, profile: str, world: str = "closed") -> list[str]:
    seen: dict[str, None] = {}
    for c in closed:
        for r in system.possible_results(c, ev, profile):
            if r.ret == "WAIT":
                text = f"{ev.op} blocks"
            elif r.n_rule == "len":
                text = f"{r.ret} n={ev.length}"
            elif r.n_rule == "partial":
                text = f"{r.ret} 1<=n<{ev.length}"
            elif r.n_rule == "upto_rcvq":
                text = f"{r.ret} n<=bytes received"
            elif r.n_rule == "zero":
                text = f"{r.ret} n=0"
            else:
                text = r.ret
            seen.setdefault(f"{text} [{r.case}]", None)
    return sorted(seen)


def check_trace(header, events: Iterable, coverage: bool = False, fast: bool = True) -> Verdict:
    """Check a parsed trace.  A TraceError raised by ``events`` propagates.
    With ``coverage``, the verdict counts the rules an explaining run used.
    Unless ``fast`` is false (or with ``coverage``) the search is memoised
    (tcpconform.check.memo: the same verdicts, reasons and "allowed" lists)."""
    profile, world = getattr(header, "profile", "linux"), getattr(header, "world", "closed")
    if fast and not coverage:
        from tcpconform.check.memo import FastChecker
        checker = FastChecker(profile, world)
    else:
        checker = Checker(profile, world, coverage)
    # The search makes many small objects, none in a cycle, and keeps large
    # caches of them (tcpconform.model.system, tcpconform.check.memo); the cyclic garbage
    # collector would walk those caches again and again (it took most of the
    # time on long traces), reference counting alone frees what is dropped.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _check(checker, events)
    finally:
        if collecting:
            gc.enable()


def _check(checker, events: Iterable) -> Verdict:
    last_line = None
    for ev in events:
        last_line = ev.line
        try:
            bad = checker.feed(ev)
        except ModelError as e:
            return Verdict("diverges", ev.line, f"outside what the model can search: {e}", [], checker.events)
        if bad is not None:
            bad.coverage = checker.coverage or {}
            return bad
    from tcpconform.check.observed import checked
    return Verdict("conforms", None,
                   f"{checker.events} events explained by the {checker.profile} model"
                   + (f" (last line {last_line})" if last_line else ""),
                   [], checker.events, checker.coverage or {}, checked(checker))
