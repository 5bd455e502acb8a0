"""What the model expected where a trace diverges, in the trace's own terms.

At a divergent call, every configuration the model allows there (the
frontier closed under unobserved steps) is asked what the call could have
returned (:func:`tcpconform.model.system.possible_results`); each answer
becomes an :class:`Expected`: the value and its concrete details (the bound
on ``n`` and where it comes from, the peer address ``accept`` would return,
the value ``getsockopt`` would read), the rule that decides it, and why.  A
call that would block is followed while it sleeps, through the unobserved
steps that wake it, to the outcome it would then have and the steps that
lead there (a connect to a port nobody listens on: its SYN is answered by a
RST, and it returns ``ECONNREFUSED``); a call nothing in flight would wake
says what it waits for.

Expectations of one kind found in several configurations are merged (the
bounds on ``n`` widened), so the list is the same whichever engine found the
configurations (:mod:`tcpconform.check.verdict` words the divergence from it).

Each rule named comes with its place in ``docs/rules.md`` (:func:`rule_doc`:
the anchor :mod:`tcpconform.model.doc` writes on the rule's row).

:class:`Tally` counts the bytes each socket's calls moved so far (what an
engine notes as it goes), so that a bound on ``n`` can say where it comes
from ("12 sent by cli, 8 read").  Pure: no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

from tcpconform.model import composition, doc, rules, system, vocab
from tcpconform.model.events import Call, State, format_addr
from tcpconform.model.system import Config
from tcpconform.model.table import Case, Outcome

__all__ = ["Expected", "Tally", "expectations", "state_expectations", "headline", "rule_doc", "rule_refs",
           "RULES_DOC"]

RULES_DOC = "docs/rules.md"
"""The rule table as a document, as the repository holds it (links are relative to its root)."""

UNTIL = {
    "accept": "until a connection completes its handshake",
    "recv": "until data, a FIN or a RST arrives",
    "connect": "until its handshake ends",
    "send": "until its handshake completes",
    "poll": "until a descriptor is ready",
}
"""What a blocking call that nothing in flight wakes waits for (another socket of the trace must act)."""

# Guard values said in words: (key, value) -> words (the others are said key=value).
WORDS = {
    ("fd", "closed"): "its descriptor is closed", ("fd", "none"): "it has no descriptor",
    ("nb", True): "non-blocking", ("nb", False): "blocking",
    ("done", True): "the peer's FIN arrived", ("done", False): "no FIN arrived",
    ("rdsh", True): "shut for reading", ("wrsh", True): "shut for writing",
    ("q_nonempty", True): "a connection waits in its accept queue",
    ("q_nonempty", False): "its accept queue is empty",
    ("q_full", True): "its accept queue is full",
    ("outstanding", True): "bytes it sent are still unread by the peer",
    ("conflict", True): "another socket holds the port",
    ("fammatch", False): "the address is not of the socket's family",
    ("intr", True): "a signal interrupted its sleep", ("timeo", True): "its timeout ran out",
    ("peek", True): "MSG_PEEK", ("last", False): "another descriptor keeps the socket open",
    ("port0", True): "port 0 asked for", ("badval", True): "the value is out of range",
    ("linger0", True): "SO_LINGER with a zero timeout: an abort",
}
QUIET = {("rdsh", False), ("wrsh", False), ("q_full", False), ("outstanding", False), ("conflict", False),
         ("fammatch", True), ("intr", False), ("timeo", False), ("peek", False), ("last", True),
         ("port0", False), ("linger0", False), ("waits", False), ("badval", False)}
"""Guard values not worth saying (the quiet default)."""


# ---------------------------------------------------------------------------
# Links into docs/rules.md
# ---------------------------------------------------------------------------

def _table(cases: Sequence[Case] | None) -> dict[str, Case]:
    table = rules.CASES if cases is None else cases
    found = _TABLES.get(id(table))
    if found is None or found[0] is not table:
        found = _TABLES[id(table)] = (table, {c.id: c for c in table})
    return found[1]


_TABLES: dict[int, tuple] = {}


def rule_doc(case_id: str, cases: Sequence[Case] | None = None) -> str:
    """Where ``docs/rules.md`` lists the rule: its row (each rule of the table's
    triggers has an anchor there), else the document."""
    case = _table(cases).get(case_id)
    listed = case is not None and case.kind in doc.TRIGGER_TITLES and "rfc" not in case.profiles
    return f"{RULES_DOC}#{doc.rule_anchor(case_id)}" if listed else RULES_DOC


def rule_refs(ids: Iterable[str], cases: Sequence[Case] | None = None) -> list[dict]:
    """``[{"id": ..., "doc": ...}]``, each rule once, in order."""
    return [{"id": i, "doc": rule_doc(i, cases)} for i in dict.fromkeys(ids)]


# ---------------------------------------------------------------------------
# Bytes moved so far
# ---------------------------------------------------------------------------

class Tally:
    """What the trace's calls moved so far: bytes each socket's sends took and
    its reads returned (a ``MSG_PEEK`` read takes nothing), and which name
    each connection's address pair has (a peer whose connection is gone is
    still named)."""

    __slots__ = ("sent", "read", "names")

    def __init__(self) -> None:
        self.sent: dict[str, int] = {}
        self.read: dict[str, int] = {}
        self.names: dict[tuple, str] = {}   # (local, remote) -> the name of the socket with that pair

    def note(self, ev: Any) -> None:
        """Count one event the model explained."""
        if type(ev) is not Call:
            return
        op, ret = ev.op, ev.ret
        if ret == vocab.OK and ev.n:
            if op == "send":
                self.sent[ev.sock] = self.sent.get(ev.sock, 0) + ev.n
            elif op == "recv" and not (ev.args and "PEEK" in ev.arg("flags", ())):
                self.read[ev.sock] = self.read.get(ev.sock, 0) + ev.n
        elif op == "connect" and ret in (vocab.OK, "EINPROGRESS") and ev.local is not None and ev.addr is not None:
            self.names[(tuple(ev.local), system.normalize(tuple(ev.addr)))] = ev.sock
        elif op == "accept" and ret == vocab.OK and ev.new and ev.local is not None and ev.peer is not None:
            self.names[(tuple(ev.local), tuple(ev.peer))] = ev.new

    def peer_of(self, cfg: Config, e: system.Ep) -> str | None:
        """The name of the socket at the other end of ``e``'s connection."""
        if e.local is None or e.remote is None:
            return None
        eps = dict(cfg.eps)
        other = system.find_peer(eps, e)
        if other is not None:
            for k, v in eps.items():
                if v is other and system.is_named(k):
                    return k
        return self.names.get((e.remote, e.local))


# ---------------------------------------------------------------------------
# One expectation
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Expected:
    """One thing the model expected of the divergent event (see :meth:`as_dict`)."""

    op: str                    # the call's op, or "state"
    sock: str
    ret: str | None            # what the call returns (after blocking, when it blocks); None: not known yet
    rule: str                  # the case that decides ``ret`` (that puts the call to sleep, when ``ret`` is None)
    blocks: bool = False       # the call first sleeps
    steps: tuple = ()          # every rule on the way, in order (the sleep's, unobserved steps', the return's);
                               # a call's has its rule at least, a state event's is empty
    n_min: int | None = None   # the bounds on the byte count returned (both None: the call returns none)
    n_max: int | None = None
    peer: str | None = None    # accept: the address of the peer it returns
    local: str | None = None   # accept: the local address of the socket it returns
    value: str | None = None   # what else the call returns: getsockopt's value, getsockname's address, ...
    state: str | None = None   # a state event: a state the socket may be seen in
    why: str = ""              # where the value comes from, in the trace's terms
    n_rule: str | None = None  # the outcome's constraint on n (tcpconform.model.table.N_RULES)

    def details(self) -> str:
        """The concrete details, as the "allowed" list writes them (``n=5``, ``1<=n<=4``, ``peer=...``)."""
        out = []
        if self.n_min is not None:
            out.append(f"n={self.n_min}" if self.n_min == self.n_max else f"{self.n_min}<=n<={self.n_max}")
        for key in ("peer", "local", "value"):
            if getattr(self, key) is not None:
                out.append(f"{key}={getattr(self, key)}")
        return " ".join(out)

    def allowed(self) -> str:
        """The entry of the verdict's "allowed" list."""
        if self.op == "state":
            return f"state {self.state}"
        what = " ".join(x for x in (self.ret, self.details()) if x)
        if not self.blocks:
            return f"{what} [{self.rule}]"
        if self.ret is None:
            return f"{self.op} blocks [{self.rule}]"
        return f"{self.op} blocks, then {what} [{self.steps[0]}, {self.rule}]"

    def what(self, ret_known: bool) -> str:
        """The value said in words (without the errno when the trace's own was the same)."""
        parts = []
        if self.n_min is not None:
            if self.n_min == self.n_max:
                parts.append(f"{self.n_min} byte{'s' if self.n_min != 1 else ''}"
                             + (", end of stream" if self.n_min == 0 and self.op == "recv" else ""))
            elif self.n_min == 1:
                parts.append(f"at most {self.n_max} byte{'s' if self.n_max != 1 else ''}")
            else:
                parts.append(f"{self.n_min} to {self.n_max} bytes")
        parts += [f"{k} {getattr(self, k)}" for k in ("peer", "value") if getattr(self, k) is not None]
        if ret_known and parts:
            return ", ".join(parts)
        return f"{self.ret}" + (f" with {', '.join(parts)}" if parts else "")

    def phrase(self, call: Call | None = None) -> str:
        """The expectation as a sentence: ``recv would return at most 4 bytes (12 sent by cli, 8 read)``."""
        why = f" ({self.why})" if self.why else ""
        if self.op == "state":
            return f"{self.sock} would be {self.state}{why}"
        if self.ret is None:
            return f"{self.op} would block {self.why}".rstrip()
        verb = "block, then return" if self.blocks else "return"
        return f"{self.op} would {verb} {self.what(call is not None and call.ret == self.ret)}{why}"

    def as_dict(self, cases: Sequence[Case] | None = None) -> dict:
        """The expectation as JSON: ``op``, ``sock``, ``ret`` (None: a call that would block
        with no outcome known yet; a state event's is None too), ``blocks``, ``n_min``/``n_max``,
        ``peer``, ``local``, ``value``, ``state``, ``rule`` (the deciding case), ``rules`` (every
        case on the way, in order, each ``{"id", "doc"}`` with its link into docs/rules.md),
        ``why`` and ``allowed`` (the text of its "allowed" entry)."""
        return {"op": self.op, "sock": self.sock, "ret": self.ret, "blocks": self.blocks,
                "n_min": self.n_min, "n_max": self.n_max, "peer": self.peer, "local": self.local,
                "value": self.value, "state": self.state, "rule": self.rule or None,
                "rules": rule_refs(self.steps, cases),
                "why": self.why or None, "allowed": self.allowed()}


# ---------------------------------------------------------------------------
# What a call could have done
# ---------------------------------------------------------------------------

class _Ask:
    """The question: one call, under a profile, world and rule table, with what the trace moved so far."""

    def __init__(self, call: Call, profile: str, world: str, cases: Sequence[Case] | None, tally: Tally | None):
        self.call, self.profile, self.world, self.cases = call, profile, world, cases
        self.tally = tally if tally is not None else Tally()
        self.table = _table(cases)
        self.outcomes: dict[str, Outcome] = {o.name: o for c in self.table.values() for o in c.outcomes}

    def results(self, cfg: Config) -> list:
        return system.possible_results(cfg, self.call, self.profile, self.cases)

    def endpoint(self, cfg: Config):
        """The call's endpoint in ``cfg`` (a name whose connection is gone: as the rules see it)."""
        return dict(cfg.eps).get(self.call.sock, GONE)

    # -- one result on one configuration ----------------------------------------
    def expected(self, cfg: Config, r, blocks: bool = False, steps: tuple = (), why: str = "") -> Expected:
        call, e = self.call, self.endpoint(cfg)
        n_min = n_max = peer = local = value = None
        if r.n_rule is not None:
            n_min, n_max, n_why = self._count(cfg, e, r.n_rule)
            why = why or n_why
        if "dequeue" in r.tags and e.queue:
            child = dict(cfg.eps).get(e.queue[0])
            if child is not None:
                peer = format_addr(child.remote) if child.remote else None
                local = format_addr(child.local) if child.local else None
                why = why or f"first in {call.sock}'s accept queue"
        if r.value is not None:
            value = _value(r.value, e)
        if not why and not blocks:
            why = self._guard_words(r, e)
        return Expected(call.op, call.sock, r.ret, r.case, blocks, steps or (r.case,), n_min, n_max,
                        peer, local, value, None, why, r.n_rule)

    def _count(self, cfg: Config, e, n_rule: str) -> tuple:
        """The bounds on ``n`` the outcome allows here, and where they come from."""
        length = self.call.length
        if n_rule == "zero":
            return 0, 0, ""
        if n_rule == "len":
            return length, length, ""
        if n_rule == "partial":
            return 1, length - 1, "a non-blocking send may take part of what it is offered"
        rcvq = e.core.rcvq
        if length is not None and length < rcvq:
            return 1, length, f"{length} asked for, more received and not yet read"
        peer = self.tally.peer_of(cfg, e)
        read = self.tally.read.get(self.call.sock, 0)
        if peer is None:
            return 1, rcvq, f"{rcvq} received and not yet read"
        sent = self.tally.sent.get(peer, 0)
        moved = f"{sent} sent by {peer}, {read} read"
        return 1, rcvq, moved if sent - read == rcvq else f"{rcvq} received and not yet read; {moved}"

    def _guard_words(self, r, e) -> str:
        """The guard that decided, in the endpoint's and the call's own values:
        ``L is in LISTEN``, ``srv: its descriptor is closed``."""
        case, outcome = self.table.get(r.case), self.outcomes.get(r.outcome)
        if case is None:
            return ""
        guard = dict(case.when)
        guard.update({k: v for k, v in (outcome.when if outcome is not None else {}).items() if k not in guard})
        params = system.call_params(self.call, False, e)
        parts = []
        for key, allowed in guard.items():
            if key == "st":
                continue  # said first
            if key == "rcvq":
                parts.append(f"{e.core.rcvq} bytes not yet read" if e.core.rcvq else "nothing to read")
            else:
                # an endpoint field or a call parameter as it is; a fact of the system as the guard says it
                v = getattr(e.core, key) if key in vocab.FINITE_FIELDS else params.get(key) if key in params else (
                    next(iter(allowed)) if len(allowed) == 1 else None)
                if (key, v) in QUIET:
                    continue
                words = WORDS.get((key, v))
                parts.append(words or (f"{key}={v}" if v is not None else f"{key} in {sorted(map(str, allowed))}"))
        who = f"{self.call.sock} is in {e.core.st}" if "st" in guard else self.call.sock
        return ", ".join([who, *parts]) if "st" in guard else (f"{who}: {', '.join(parts)}" if parts else "")

    # -- a call that sleeps --------------------------------------------------------
    def woken(self, starts: list[Config], sleep_rule: str, timers: bool) -> list[Expected]:
        """What a call that went to sleep in ``starts`` returns after unobserved steps:
        every configuration they reach in which it can return, each with the
        shortest run of steps that gets there (searched breadth first)."""
        order = sorted(set(starts), key=repr)
        parent: dict[Config, Any] = {c: None for c in order}
        todo = deque(order)
        found = []
        while todo and len(parent) <= system.CLOSURE_LIMIT:
            c = todo.popleft()
            back = [r for r in self.results(c) if r.ret != vocab.WAIT]
            if back:
                root, labels = _path(parent, c)
                steps = (sleep_rule, *(lab.case for lab in labels if getattr(lab, "case", None)))
                for r in back:
                    why = self._woken_why(root, r, labels)
                    found.append(self.expected(c, r, True, steps + (r.case,), why))
            for label, d in system.internal_steps(c, self.profile, timers, self.world, cases=self.cases):
                if d not in parent:
                    parent[d] = (c, label)
                    todo.append(d)
        return found

    def _woken_why(self, start: Config, r, labels: list) -> str:
        """Why a call that slept from ``start`` returns ``r`` after the steps ``labels``."""
        e = self.endpoint(start)
        if self.call.op == "connect" and e.local and e.remote:
            there = [k for k in system.demux_all(dict(start.eps), e.local, e.remote) if k != self.call.sock]
            if r.ret == "ECONNREFUSED" and not there:
                return f"nothing listens on {format_addr(e.remote)}"
            if r.ret == vocab.OK and len(there) == 1 and system.is_named(there[0]):
                return f"{there[0]} listens on {format_addr(e.remote)}"
        from tcpconform.model.outside import UNBOUNDED   # the stand-in size of an outside peer's data
        said = [str(lab).replace(f"DATA({UNBOUNDED})", "DATA(from a peer outside the trace)")
                + (f" [{lab.case}]" if getattr(lab, "case", None) else "") for lab in labels]
        if not said:
            return ""
        return "after " + ", ".join(said[:4]) + (", ..." if len(said) > 4 else "")


def _path(parent: dict, c: Config) -> tuple[Config, list]:
    """The start a search reached ``c`` from, and the labels of the steps on the way, in order."""
    out = []
    while parent.get(c) is not None:
        c, label = parent[c]
        out.append(label)
    return c, out[::-1]


def _value(kind: str, e) -> str | None:
    """What else a call returns (tcpconform.model.table.VALUES), as the trace writes it; None: not said here."""
    core = e.core
    if kind == "err":
        return "0" if core.err == "NONE" else core.err
    if kind == "listening":
        return "1" if core.st == "LISTEN" else "0"
    if kind == "nb":
        return "true" if core.nb else "false"
    if kind == "rcvq":
        return str(core.rcvq)
    if kind == "zero":
        return "0"
    if kind == "sockname":
        return format_addr(e.local) if e.local else "0.0.0.0:0"
    if kind == "peername":
        return format_addr(e.remote) if e.remote else None
    return None


def _merged(found: Iterable[Expected]) -> list[Expected]:
    """One expectation per kind (the same value, rule and sleep, the same
    addresses): the bounds on ``n`` widened over the configurations, the
    words and steps of the one with the widest bound, then the fewest steps,
    then the first words; sorted by their "allowed" text."""
    groups: dict[tuple, list[Expected]] = {}
    for x in found:
        key = (x.blocks, x.ret, x.rule, x.steps[:1], x.peer, x.local, x.value, x.state, x.n_rule)
        groups.setdefault(key, []).append(x)
    out = []
    for xs in groups.values():
        best = min(xs, key=lambda x: (-(x.n_max or 0), len(x.steps), x.why, x.steps))
        if best.n_min is not None:
            best = replace(best, n_min=min(x.n_min for x in xs), n_max=max(x.n_max for x in xs))
        out.append(best)
    return sorted(out, key=lambda x: x.allowed())


def expectations(configs: Iterable[Config], call: Call, profile: str, world: str = "closed",
                 cases: Sequence[Case] | None = None, tally: Tally | None = None) -> list[Expected]:
    """What ``call`` could have done in any of ``configs`` (see the module docstring), sorted
    by the text of their "allowed" entries."""
    ask = _Ask(call, profile, world, cases, tally)
    found: list[Expected] = []
    asleep: dict[str, dict[Config, None]] = {}   # the case that puts it to sleep -> where
    for c in configs:
        for r in ask.results(c):
            if r.ret != vocab.WAIT:
                found.append(ask.expected(c, r))
            else:
                asleep.setdefault(r.case, {})[c] = None
    for rule, where in sorted(asleep.items()):
        starts = [a.config for c in where for a in system.sleeping(c, call, profile, cases) if a.result.case == rule]
        woken = []
        for timers in (False, True):   # timers only when no delivery wakes it (as the search lets them fire)
            woken = ask.woken(starts, rule, timers)
            if woken:
                break
        until = UNTIL.get(call.op, "until another socket of the trace acts")
        found += woken or [Expected(call.op, call.sock, None, rule, True, (rule,),
                                    why=f"{until}: nothing in flight would wake it")]
    return _merged(found)


def state_expectations(configs: Iterable[Config], event: State, profile: str) -> list[Expected]:
    """The states the event's socket could have been seen in, in any of ``configs``."""
    seen = sorted({s for c in configs for s in system.observe(c, event.sock, profile)})
    return [Expected("state", event.sock, None, "", state=s) for s in seen]


def headline(found: Sequence[Expected], event: Any) -> str:
    """The expectations as one sentence.  A state event: the states the socket may
    be in.  A call: those with the trace's own result when there are any (what
    differs is then a detail: the peer, the byte count), else all; each value
    said once (at once before after blocking), at most three."""
    if type(event) is State:
        return f"it may be {' or '.join(x.state for x in found)} here" if found else ""
    call = event if type(event) is Call else None
    if call is not None:
        same = [x for x in found if x.ret == call.ret]
        found = same or found
    said: dict[tuple, str] = {}
    for x in sorted(found, key=lambda x: (x.blocks, x.allowed())):
        said.setdefault((x.ret is None, x.state, x.what(False)), x.phrase(call))
    phrases = list(said.values())
    if not phrases:
        return ""
    more = len(phrases) - 3
    return " or ".join(phrases[:3]) + (f" (or {more} more: see the allowed list)" if more > 0 else "")


GONE = system.Ep(core=composition.gone())
"""A name whose connection is gone, as the rules see it."""
