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

from dataclasses import dataclass, field
from typing import Iterable

from model import system
from model.system import Config, ModelError

FRONTIER_LIMIT = 20_000


@dataclass
class Verdict:
    verdict: str              # "conforms" | "diverges" | "invalid"
    line: int | None
    reason: str
    allowed: list[str] = field(default_factory=list)
    events: int = 0

    @property
    def exit_code(self) -> int:
        return {"conforms": 0, "diverges": 1}.get(self.verdict, 2)

    def as_json(self) -> dict:
        return {"verdict": self.verdict, "line": self.line, "reason": self.reason,
                "allowed": self.allowed, "events": self.events}


class Checker:
    """Incremental checker: feed events one by one with :meth:`feed`."""

    def __init__(self, profile: str = "linux", world: str = "closed"):
        self.profile = profile
        self.world = world
        self.frontier: set[Config] = {system.EMPTY}
        self.events = 0
        self.rules_used: dict[str, int] = {}

    def _closed(self) -> set[Config]:
        out: set[Config] = set()
        for c in self.frontier:
            out.update(system.closure(c, self.profile))
        return out

    def feed(self, ev) -> Verdict | None:
        """Apply one event; return a divergence verdict, or None."""
        if not hasattr(ev, "sock"):
            return None  # an x- extension: observations this checker does not read
        self.events += 1
        if hasattr(ev, "op"):
            return self._call(ev)
        return self._state(ev)

    def _state(self, ev) -> Verdict | None:
        nxt = {c for c in self._closed() if ev.state in system.observe(c, ev.sock, self.profile)}
        if not nxt:
            seen = sorted({s for c in self._closed() for s in system.observe(c, ev.sock, self.profile)})
            return Verdict("diverges", ev.line,
                           f"socket {ev.sock!r} cannot be {ev.state} here",
                           [f"state {s}" for s in seen], self.events)
        self.frontier = nxt
        return None

    def _call(self, ev) -> Verdict | None:
        closed = self._closed()
        nxt: set[Config] = set()
        for c in closed:
            for o in system.call_outcomes(c, ev, self.profile):
                nxt.add(o.config)
                self.rules_used[o.result.case] = self.rules_used.get(o.result.case, 0) + 1
        if not nxt:
            return Verdict("diverges", ev.line, _why(ev), _allowed(closed, ev, self.profile), self.events)
        if len(nxt) > FRONTIER_LIMIT:
            raise ModelError(f"more than {FRONTIER_LIMIT} model configurations explain the trace so far")
        self.frontier = nxt
        return None


def _why(ev) -> str:
    what = f"{ev.op} on {ev.sock!r} returning {ev.ret}"
    if ev.n is not None:
        what += f" with n={ev.n}"
    return f"no run of the model explains {what}"


def _allowed(closed: Iterable[Config], ev, profile: str) -> list[str]:
    seen: dict[str, None] = {}
    for c in closed:
        for o in system.call_outcomes(c, ev, profile, match=False):
            r = o.result
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


def check_trace(header, events: Iterable) -> Verdict:
    """Check a parsed trace.  A TraceError raised by ``events`` propagates."""
    checker = Checker(getattr(header, "profile", "linux"), getattr(header, "world", "closed"))
    last_line = None
    for ev in events:
        last_line = ev.line
        try:
            bad = checker.feed(ev)
        except ModelError as e:
            return Verdict("diverges", ev.line, f"outside what the model can search: {e}", [], checker.events)
        if bad is not None:
            return bad
    return Verdict("conforms", None,
                   f"{checker.events} events explained by the {checker.profile} model"
                   + (f" (last line {last_line})" if last_line else ""),
                   [], checker.events)
