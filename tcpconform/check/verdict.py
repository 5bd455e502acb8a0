"""What `conform check` answers, and how every engine words a divergence.

A :class:`Verdict` says whether some run of the model explains the trace,
and if not, at which line, why, and what the model would have allowed
there.  The engines of :mod:`tcpconform.check.search` word a divergence of a
call or of a state event the same way, with the functions here, so their
verdicts are the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from tcpconform.model import system
from tcpconform.model.events import Call, State
from tcpconform.model.system import Config
from tcpconform.model.table import Case

__all__ = ["Verdict", "call_reason", "allowed_results", "state_reason", "allowed_states", "beyond_search"]


@dataclass
class Verdict:
    verdict: str              # "conforms" | "diverges" | "invalid" | "undecided"
    line: int | None
    reason: str
    allowed: list[str] = field(default_factory=list)
    events: int = 0
    # (rule id, state it left) -> how many events one explaining run used it for
    coverage: dict = field(default_factory=dict)
    x_checked: int = 0        # x-packet / x-state events checked (tcpconform.check.observed)

    @property
    def exit_code(self) -> int:
        return {"conforms": 0, "diverges": 1, "undecided": 3}.get(self.verdict, 2)

    def as_json(self) -> dict:
        return {"verdict": self.verdict, "line": self.line, "reason": self.reason,
                "allowed": self.allowed, "events": self.events}


def beyond_search(line: int, error: Exception, events: int) -> Verdict:
    """The verdict when the search stops before deciding: one of its bounds
    was reached (a SearchBound, or memory ran out), or it met what the model
    cannot represent (a ModelError).  Undecided, never a divergence."""
    if isinstance(error, system.SearchBound):
        why = f"the search's {error.bound} bound ({error.limit}) was reached: {error}"
    elif isinstance(error, MemoryError):
        why = "memory ran out"
    else:
        why = f"the model cannot represent this: {error}"
    return Verdict("undecided", line, f"stopped before deciding: {why}", [], events)


def call_reason(call: Call) -> str:
    """Why a call diverges: no run of the model explains it."""
    what = f"{call.op} on {call.sock!r} returning {call.ret}"
    if call.n is not None:
        what += f" with n={call.n}"
    return f"no run of the model explains {what}"


def allowed_results(configs: Iterable[Config], call: Call, profile: str,
                    cases: Sequence[Case] | None = None) -> list[str]:
    """What the call could have returned in any of ``configs``, one text per
    result (with the rule that allows it), sorted."""
    seen: dict[str, None] = {}
    for c in configs:
        for r in system.possible_results(c, call, profile, cases):
            if r.ret == "WAIT":
                text = f"{call.op} blocks"
            elif r.n_rule == "len":
                text = f"{r.ret} n={call.length}"
            elif r.n_rule == "partial":
                text = f"{r.ret} 1<=n<{call.length}"
            elif r.n_rule == "upto_rcvq":
                text = f"{r.ret} n<=bytes received"
            elif r.n_rule == "zero":
                text = f"{r.ret} n=0"
            else:
                text = r.ret
            seen.setdefault(f"{text} [{r.case}]", None)
    return sorted(seen)


def state_reason(event: State) -> str:
    """Why a state event diverges."""
    return f"socket {event.sock!r} cannot be {event.state} here"


def allowed_states(configs: Iterable[Config], event: State, profile: str) -> list[str]:
    """The states the event's socket could have been seen in, in any of ``configs``."""
    seen = sorted({s for c in configs for s in system.observe(c, event.sock, profile)})
    return [f"state {s}" for s in seen]
