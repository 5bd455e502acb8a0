"""What `conform check` answers, and how every engine words a divergence.

A :class:`Verdict` says whether some run of the model explains the trace,
and if not, at which line, why, and what the model expected there
(:mod:`tcpconform.check.expected`): the "allowed" list (one text per
result), the same as structured ``expected`` entries, and the rules
involved with their place in docs/rules.md.  The engines of
:mod:`tcpconform.check.search` word a divergence of a call or of a state
event with :func:`divergence`, from the configurations the model allows
there, so their verdicts are the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from tcpconform.check.expected import Tally, expectations, headline, rule_refs, state_expectations
from tcpconform.model import system
from tcpconform.model.events import Call, State, format_addr
from tcpconform.model.system import Config
from tcpconform.model.table import Case

__all__ = ["Verdict", "Tally", "divergence", "call_reason", "state_reason", "beyond_search", "divergence_lines"]


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
    # at a divergence: what the model expected there, one entry per "allowed" text, in its order
    # (tcpconform.check.expected.Expected.as_dict), and every rule involved ({"id", "doc"})
    expected: list[dict] = field(default_factory=list)
    rules: list[dict] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {"conforms": 0, "diverges": 1, "undecided": 3}.get(self.verdict, 2)

    def as_json(self) -> dict:
        return {"verdict": self.verdict, "line": self.line, "reason": self.reason,
                "allowed": self.allowed, "events": self.events, "expected": self.expected, "rules": self.rules}


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
    """Why a call diverges: no run of the model explains it (with what the trace says it returned)."""
    what = f"{call.op} on {call.sock!r} returning {call.ret}"
    if call.n is not None:
        what += f" with n={call.n}"
    elif call.op == "accept" and call.peer is not None:
        what += f" with peer {format_addr(call.peer)}"
    return f"no run of the model explains {what}"


def state_reason(event: State) -> str:
    """Why a state event diverges."""
    return f"socket {event.sock!r} cannot be {event.state} here"


def divergence(event: Call | State, configs: Iterable[Config], profile: str, world: str, events: int,
               cases: Sequence[Case] | None = None, tally: Tally | None = None, given: str = "") -> Verdict:
    """The verdict on a call or state event that no configuration of ``configs``
    (those the model allows there, closed under unobserved steps) explains:
    the reason (with ``given``, what the engine took into account, and what the
    model expected, :func:`tcpconform.check.expected.headline`), the "allowed"
    list, the expectations and the rules involved.  ``tally``: what the trace's
    calls moved so far (where a bound on a byte count comes from)."""
    if isinstance(event, Call):
        found = expectations(configs, event, profile, world, cases, tally)
        reason = call_reason(event) + given
    else:
        found = state_expectations(configs, event, profile)
        reason = state_reason(event) + given
    said = headline(found, event)
    if said:
        reason += "; " + said
    return Verdict("diverges", event.line, reason, [x.allowed() for x in found], events,
                   expected=[x.as_dict(cases) for x in found],
                   rules=rule_refs([r for x in found for r in x.steps], cases))


def divergence_lines(verdict: Verdict, event_text: str) -> list[str]:
    """A divergence as ``conform check`` prints it: the line and the reason, the
    event, what the model allowed, why each (its words), the rules with their
    place in docs/rules.md."""
    out = [f"diverges at line {verdict.line}: {verdict.reason}", f"  {event_text}",
           "model allowed here: " + (", ".join(verdict.allowed) if verdict.allowed else "nothing")]
    whys = [(x["allowed"], x["why"]) for x in verdict.expected if x.get("why")]
    if whys:
        out.append("because:")
        out += [f"  {allowed}: {why}" for allowed, why in whys]
    if verdict.rules:
        out.append("rules: " + ", ".join(f"{r['id']} ({r['doc']})" for r in verdict.rules))
    return out
