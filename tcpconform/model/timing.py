"""Time: in a trace with times, a timer fires only once it can have.

Without times (version 1, or a version-2 trace without ``t``) any number of
timers may fire between two events.  With times, each timer that runs for
an endpoint (the table's timer cases say where: TIME_WAIT, an orphaned
FIN_WAIT_2, SYN_SENT, a request sock behind a full queue) has a length
(:data:`tcpconform.model.rules.TIMER_LENGTHS`, set by the trace header's
``sysctl`` where the kernel has a setting), and a :class:`Clock` keeps, for
each endpoint and timer, the earliest time the timer can have started: the
time of the last event *before* the step that started it (the step itself
is unobserved, so it came at or after that event).  A timer may fire before
an event at time ``t`` only if ``t`` is at least its start plus its length,
less :data:`TOLERANCE`.  Taking the earliest start keeps the check from ever
refusing what a kernel did; what it cannot refuse is a timer that started
later than the event before it.

Pure: the checker feeds it the times and the configurations; no clock is read.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from tcpconform.model import rules, semantics, vocab

TOLERANCE_S = 0.25      # a trace's clock and the kernel's timer wheel may disagree by this much ...
TOLERANCE_SHARE = 0.02  # ... plus this share of the timer's length (timers on the wheel fire late, never early)


def lengths(sysctl: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Each timer's length in seconds, from the header's ``sysctl`` or the kernel's defaults."""
    sysctl = sysctl or {}
    out = {}
    for timer, (how, name, default, _src) in rules.TIMER_LENGTHS.items():
        value = sysctl.get(name, default) if name else default
        if not isinstance(value, int) or value < 0:
            value = default
        value = min(value, 1 << 20)  # beyond any kernel's limit (tcp_syn_retries stops at 127)
        out[timer] = float(value) if how == "seconds" else float(value + 1)
    return out


class Clock:
    """Times of a trace as the model's timers read them (see the module docstring)."""

    def __init__(self, profile: str, sysctl: Mapping[str, Any] | None = None, cases=None) -> None:
        self.profile = profile
        self.cases = cases if cases is not None else rules.CASES
        self.length = lengths(sysctl)
        self.now: float | None = None      # the time of the event being explained (None: it has none)
        self.floor: float | None = None    # the latest time shown so far: no later event is before it
        self.before = 0.0                  # the floor before the event being explained
        self.started: dict[tuple, float] = {}   # (endpoint key, timer) -> earliest start
        self.changed: dict[Any, tuple] = {}     # endpoint key -> (its states, the floor when they were first seen)
        self._running: dict[tuple, tuple] = {}  # (TCP state, descriptor) -> the timers that may run there

    def setting(self, name: str, value: Any) -> None:
        """A kernel setting changed during the trace (the recorder's ``x-sysctl``):
        a timer's length may only shorten, so a timer armed before the change,
        which the kernel runs with the old length, is not held back longer than
        the shorter of the two."""
        new = lengths({name: value})
        default = lengths({})
        for timer, (_how, sysctl_name, _d, _src) in rules.TIMER_LENGTHS.items():
            if sysctl_name == name:
                self.length[timer] = min(self.length[timer], new[timer], default[timer])

    @property
    def active(self) -> bool:
        """Whether the trace has shown a time yet (before that, timers are free)."""
        return self.floor is not None

    def at(self, t: float | None) -> None:
        """The next event happens at ``t`` (None: the event has no time: it lies
        somewhere between the last time shown and the next, so no timer is held back)."""
        self.before = self.floor if self.floor is not None else 0.0
        self.now = t
        if t is not None:
            self.floor = t

    def key(self) -> tuple:
        """What decides every :meth:`may_fire` answer (closures computed under it may be kept)."""
        return (self.now, self.before, tuple(sorted(self.length.items())),
                tuple(sorted(self.started.items(), key=repr)), tuple(sorted(
                    ((k, v[1]) for k, v in self.changed.items()), key=repr)))

    def may_fire(self, key: Any, timer: str) -> bool:
        """Whether ``timer`` of endpoint ``key`` can have run out by now.  A timer
        not seen running yet (its endpoint reached the state unobserved, e.g. while
        its connection was kept apart from the search) started no earlier than
        the endpoint's states were last seen to change."""
        if self.now is None:
            return True
        start = self.started.get((key, timer))
        if start is None:
            start = self.changed.get(key, (None, self.before))[1]
        need = self.length[timer]
        return self.now >= start + need - (TOLERANCE_S + TOLERANCE_SHARE * need)

    def seen(self, endpoints: Iterable[tuple[Any, Any]]) -> None:
        """After an event, given (key, endpoint fields) of every endpoint the model may
        be in now: stamp every timer now running that has no start yet with the
        floor before this event; forget timers that run nowhere any more."""
        if self.floor is None:
            return
        running = set()
        states: dict[Any, set] = {}
        for key, core in endpoints:
            states.setdefault(key, set()).add((core.st, core.fd))
            for timer in self._timers_in(core.st, core.fd):
                running.add((key, timer))
        self.started = {k: self.started.get(k, self.before) for k in running}
        changed = {}
        for key, sts in states.items():
            old = self.changed.get(key)
            changed[key] = old if old is not None and old[0] == frozenset(sts) else (frozenset(sts), self.before)
        self.changed = changed

    def _timers_in(self, st: str, fd: str) -> tuple:
        """The timers whose cases may decide for an endpoint in ``st`` with descriptor ``fd``."""
        hit = self._running.get((st, fd))
        if hit is None:
            hit = self._running[st, fd] = tuple(
                t for t in vocab.TIMERS
                if any(st in c.when.get("st", (st,)) and fd in c.when.get("fd", (fd,))
                       for c, _outs in semantics.cases_for("timer:" + t, self.profile, self.cases)))
        return hit
