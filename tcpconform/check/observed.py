"""Checking the recorder's ``x-packet`` and ``x-state`` events against the model.

A trace with an ``{"ev": "x-observers", "packets": ..., "states": ...}`` event
before any call or state event (see ``docs/extensions.md``) is checked by
:class:`ObservedSearch` instead of the plain engine
(:class:`tcpconform.check.plain.PlainSearch`; :func:`tcpconform.check.search.engine_for`
chooses): the same model, the same unobserved steps, but every configuration
carries a small *reconciliation record* (:class:`Unseen`) of what the model did
that the observers have not shown yet:

* **segments**: per channel (ordered address pair), the control segments the
  model put on it, in order, not yet seen on the wire.  SYN, SYN+ACK, FIN
  (the model's FIN and FINACK) and RST are control segments; ACK, ACKFIN
  and DATA are not checked.  An ``x-packet`` event carrying a control
  segment must be the oldest unseen control segment of its direction in
  some configuration (the model may first take unobserved steps to send
  it); that configuration then forgets it, every other is dropped.  A
  retransmission (a SYN, SYN+ACK or FIN of a direction and sequence number
  already seen) is not checked again: the model reads a dropped and
  retransmitted segment as one delayed segment.  Segments the model sent
  that were never seen do not count against it (capture may lag).

* **states**: per named socket, the states its connection passed through
  since the last ``x-state`` of that name, as the kernel's full socket
  shows them (:func:`kernel_state`: a connection in TIME_WAIT is a
  timewait sock, its full socket is CLOSED).  An ``x-state`` event for a
  name, ``from -> to``, must be a step the model took for that name after
  the previous one seen (states the model passed through in between may be
  skipped: the recorder leaves a change unnamed when it is not sure whose
  it is), or one of :data:`KERNEL_STEPS`, where the kernel goes through a
  state the model steps over.  Changes with ``from == to``, and unnamed
  ones, are not checked.

A configuration survives an observation only when the observation fits its
record, so a configuration that contradicts the wire or the tracepoint is
pruned; an empty frontier is a divergence at that line.  No configuration
is dropped for what was *not* observed, so a trace the model explains with
observations that match one of its runs is never rejected.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple, Sequence

from tcpconform.check.trace import parse_addr
from tcpconform.check.verdict import Tally, Verdict, divergence
from tcpconform.model import composition, rules
from tcpconform.model import system
from tcpconform.model.events import format_addr
from tcpconform.check import bounds
from tcpconform.model.system import Config, SearchBound
from tcpconform.model.table import Case

__all__ = ["ObservedSearch", "declared_kinds", "kernel_state", "wire_kind", "KERNEL_STEPS", "CONTROL"]

# model segment kind -> the control segment it is on the wire (others are not checked)
CONTROL = {"SYN": "SYN", "SYNACK": "SYN+ACK", "FIN": "FIN", "FINACK": "FIN", "RST": "RST"}
RETRANSMITTED = ("SYN", "SYN+ACK", "FIN")
# model segment kinds a dropped segment may come back as after later ones (a FIN
# held back while its sender goes on to acknowledge the peer's FIN)
REQUEUED = ("FIN", "FINACK")

# x-netfilter "drop" -> the model's segment kinds it drops (tcpconform/live/netfilter.py's rules)
DROPPED = {"SYN": ("SYN",), "FIN": ("FIN", "FINACK"), "pure ACK": ("ACK", "ACKFIN")}

# (a, m, b): the model goes a -> b in one step where the kernel's full socket
# goes a -> m -> b.  FIN_WAIT_1 receiving a FIN that also acknowledges our FIN:
# tcp_rcv_state_process() sets FIN_WAIT2 on the ACK, then tcp_fin() ->
# tcp_time_wait() hands over to a timewait sock (the full socket: CLOSE).
# The rule fw1.finack says so itself (via FIN_WAIT_2); this entry reads the
# same tracepoint sequence against runs whose steps do not (the checks of
# every recorded trace need it: without it 25 of them diverge).
KERNEL_STEPS = frozenset({("FIN_WAIT_1", "FIN_WAIT_2", "CLOSED")})


def kernel_state(cfg: Config, name: str) -> str:
    """The state the kernel's full socket of ``name`` is in, in the model's configuration
    (:func:`tcpconform.model.composition.full_socket_state`: CLOSED where a timewait sock
    took the connection over); CLOSED for a connection that is gone."""
    for k, e in cfg.eps:
        if k == name:
            return composition.full_socket_state(e.core.st, e.core.fd)
    return "CLOSED"


def wire_kind(flags: str) -> str | None:
    """The control segment an ``x-packet``'s flags make it, or None (a pure ACK, data)."""
    fl = set(flags.split("+"))
    if "RST" in fl:
        return "RST"
    if "SYN" in fl:
        return "SYN+ACK" if "ACK" in fl else "SYN"
    if "FIN" in fl:
        return "FIN"
    return None


def declared_kinds(ev) -> dict | None:
    """The observers an ``x-observers`` event declares on (``{"packets": bool,
    "states": bool}``), or None: not such an event, or both off (nothing to
    check: the plain engine will do)."""
    data = getattr(ev, "data", None)
    if getattr(ev, "ev", None) != "x-observers" or not isinstance(data, dict):
        return None
    kinds = {"packets": data.get("packets") is True, "states": data.get("states") is True}
    return kinds if any(kinds.values()) else None


class Unseen(NamedTuple):
    """A configuration's reconciliation record: what the model did that the observers have not shown yet."""
    pkt: tuple = ()   # ((chan, (kind, ...)), ...) sorted: sent by the model, not yet seen
    st: tuple = ()    # ((name, last, (state, ...)), ...) sorted: states not yet seen


NOTHING_UNSEEN = Unseen()


def _record_step(c: Config, c2: Config, popped, xs: Unseen, fresh: str | None = None) -> Unseen:
    """``xs`` after the step ``c -> c2`` (which delivered the head of channel ``popped``)."""
    before = dict(c.net)
    pkt = None
    for ch, segs in c2.net:
        old = before.get(ch, ())
        if ch == popped:
            old = old[1:]
        new = segs[len(old):] if segs[:len(old)] == old else segs
        sent = tuple(CONTROL[k] for k, _n in new if k in CONTROL)
        if sent:
            pkt = pkt if pkt is not None else dict(xs.pkt)
            pkt[ch] = pkt.get(ch, ()) + sent
    st = None
    names = {k for k, _ in c.eps if system.is_named(k)} | {k for k, _ in c2.eps if system.is_named(k)}
    for name in names:
        a, b = kernel_state(c, name), kernel_state(c2, name)
        if a != b and name != fresh:
            st = st if st is not None else {n: (last, vis) for n, last, vis in xs.st}
            last, vis = st.get(name, (a, ()))
            st[name] = (last, vis + (b,))
    if fresh is not None:
        st = st if st is not None else {n: (last, vis) for n, last, vis in xs.st}
        st[fresh] = (kernel_state(c2, fresh), ())
    if pkt is None and st is None:
        return xs
    return Unseen(tuple(sorted(pkt.items())) if pkt is not None else xs.pkt,
              tuple(sorted((n, last, vis) for n, (last, vis) in st.items())) if st is not None else xs.st)


def _losses(c: Config, xs: Unseen, kinds: set):
    """A segment at the head of a channel, of a kind a netfilter rule of the trace dropped,
    lost: the kernel retransmits a dropped segment, but the retransmission may take
    another form or not happen at all (in a simultaneous open, a SYN dropped while its
    socket goes SYN_SENT -> SYN_RECEIVED is retransmitted as a SYN+ACK).  The lost
    segment was never on the wire: it leaves the channel's unseen control segments too.
    A FIN may also come back behind what its sender sent since (:data:`REQUEUED`): its
    retransmission follows the ACK its sender gave the peer's FIN meanwhile."""
    pending = dict(xs.pkt)
    for ch, segs in c.net:
        kind = segs[0][0]
        if kind not in kinds:
            continue
        lost = system.lose_head(c, ch)
        if kind in CONTROL:
            unseen = pending.get(ch, ())
            ctrl = sum(1 for k, _n in segs if k in CONTROL)
            if len(unseen) < ctrl:
                continue  # the capture saw it: it was not dropped
            i = len(unseen) - ctrl
            rest = unseen[:i] + unseen[i + 1:]
            pkt = dict(pending)
            if rest:
                pkt[ch] = rest
            else:
                pkt.pop(ch, None)
            yield lost, xs._replace(pkt=tuple(sorted(pkt.items())))
            if kind in REQUEUED and len(segs) > 1 and all(k != "RST" for k, _n in segs[1:]):
                # retransmitted after the segments its sender sent since it was dropped
                # (never after a RST: nothing is retransmitted once the connection is reset)
                pkt[ch] = rest + (unseen[i],)
                yield system.requeue_head(c, ch), xs._replace(pkt=tuple(sorted(pkt.items())))
        else:
            yield lost, xs


def _match_addr(model, seen) -> bool:
    return model[0] == seen[0] and (model[1] == seen[1] or system.is_symbolic(model[1]))


def _see_packet(xs: Unseen, src, dst, kind: str) -> Iterable[Unseen]:
    """``xs`` with the control segment ``kind`` from ``src`` to ``dst`` seen, for every channel
    it may be the oldest unseen segment of (none: the observation contradicts ``xs``)."""
    for i, (ch, kinds) in enumerate(xs.pkt):
        if kinds[0] == kind and _match_addr(ch[0], src) and _match_addr(ch[1], dst):
            rest = kinds[1:]
            pkt = xs.pkt[:i] + (((ch, rest),) if rest else ()) + xs.pkt[i + 1:]
            yield xs._replace(pkt=pkt)


def _see_state(xs: Unseen, cfg: Config, name: str, old: str, new: str) -> Unseen | None:
    entry = next(((last, vis) for n, last, vis in xs.st if n == name), None)
    last, vis = entry if entry is not None else (kernel_state(cfg, name), ())
    prev = last
    for j, b in enumerate(vis):
        if prev == old and b == new:
            return _with_states(xs, name, new, vis[j + 1:])
        if (prev, new, b) in KERNEL_STEPS and old == prev:
            return _with_states(xs, name, new, vis[j:])       # the kernel's extra state, before b
        if (prev, old, b) in KERNEL_STEPS and new == b:
            return _with_states(xs, name, new, vis[j + 1:])   # from the kernel's extra state to b
        prev = b
    return None


def _passed_through(xs: Unseen, c: Config, c2: Config, states: tuple | None, name: Any) -> Unseen:
    """``xs`` after the step ``c -> c2`` of the endpoint ``name``, with
    ``states``, which the kernel's socket passed through during it (the
    outcome's ``via``), shown before the state it ended in."""
    if not states or not system.is_named(name):
        return xs
    st = {n: (last, vis) for n, last, vis in xs.st}
    end = kernel_state(c2, name)
    last, vis = st.get(name, (end, ()))
    if kernel_state(c, name) != end:
        vis = vis[:-1]  # the step's own change, shown after the states passed through
    st[name] = (last, vis + tuple(states) + (end,))
    return xs._replace(st=tuple(sorted((n, last, vis) for n, (last, vis) in st.items())))


def _with_states(xs: Unseen, name: str, last: str, vis: tuple) -> Unseen:
    st = tuple(sorted([(n, l, v) for n, l, v in xs.st if n != name] + [(name, last, vis)]))
    return xs._replace(st=st)


class ObservedSearch:
    """The engine for traces with observers: the frontier search of the plain
    engine, each configuration paired with its :class:`Unseen` record (no
    parking, no memoising).  Events up to the ``x-observers`` declaration
    (line ``declared_at``) are passed over, as the plain engine passes them."""

    coverage = None  # no rule coverage with observers

    def __init__(self, profile: str, world: str, kinds: dict, declared_at: int = 0,
                 cases: Sequence[Case] | None = None) -> None:
        self.profile, self.world = profile, world
        self.cases = cases  # the rule table: the model's unless another is given (a mutant)
        self._via = {o.name: o.via for case in (cases or rules.CASES) for o in case.outcomes if o.via}
        self.packets, self.states = kinds["packets"], kinds["states"]
        self.declared_at = declared_at
        self.tracked: set[tuple[Config, Unseen]] = {(system.EMPTY, NOTHING_UNSEEN)}  # the frontier, with records
        self.seen: set = set()  # (src, dst, kind, seq) of retransmittable segments seen
        self.lossy: set = set()  # model segment kinds an x-netfilter rule dropped (may be lost)
        self.events = 0
        self.x_checked = 0
        self.tally = Tally()  # what the trace's calls moved so far (for the words of a divergence)

    @property
    def frontier(self) -> set[Config]:
        """The frontier's configurations, without their records."""
        return {c for c, _ in self.tracked}

    @property
    def parked(self) -> dict:
        """Nothing is parked with observers."""
        return {}

    def endpoint_states(self):
        """(key, endpoint fields) of every endpoint of the frontier."""
        for c, _xs in self.tracked:
            for k, e in c.eps:
                yield k, e.core

    def closure_for(self, call, timers: bool = False) -> set[Config]:
        """The configurations ``call`` may meet now: the frontier closed under
        unobserved steps (deliveries only, unless ``timers``), without records."""
        out: set[Config] = set()
        for c in self.frontier:
            out.update(system.closure(c, self.profile, timers, self.world, cases=self.cases))
        return out

    def _record(self, c: Config, c2: Config, popped, xs: Unseen, outcome: str | None, key: Any,
                fresh: str | None = None) -> Unseen:
        """``xs`` after the step ``c -> c2`` that rule outcome ``outcome`` took on
        endpoint ``key``: :func:`_record_step`, then the states the outcome says
        the kernel passed through (:func:`_passed_through`)."""
        return _passed_through(_record_step(c, c2, popped, xs, fresh), c, c2, self._via.get(outcome), key)

    # -- unobserved steps -----------------------------------------------------
    def _steps(self, c: Config, xs: Unseen, timers: bool):
        for ch, segs in c.net:
            for label, c2 in system.deliveries(c, ch, segs[0], self.profile, self.world, self.cases):
                yield c2, self._record(c, c2, ch, xs, getattr(label, "outcome", None), getattr(label, "key", None))
        if timers:
            for label, c2 in system.internal_steps(c, self.profile, True, self.world, cases=self.cases):
                if label.startswith("timer"):
                    yield c2, self._record(c, c2, None, xs, label.outcome, label.key)
        if self.lossy:
            yield from _losses(c, xs, self.lossy)

    def _closure(self, start: set, timers: bool) -> set:
        seen = set(start)
        todo = list(seen)
        while todo:
            c, xs = todo.pop()
            for nxt in self._steps(c, xs, timers):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
                    if len(seen) > system.CLOSURE_LIMIT:
                        raise SearchBound("closure", system.CLOSURE_LIMIT,
                                          f"more than {system.CLOSURE_LIMIT} configurations reachable "
                                          "without an observation")
                    system.made_one()
        return seen

    # -- events -----------------------------------------------------------------
    def feed(self, ev) -> Verdict | None:
        """Apply one event; return a divergence verdict, or None."""
        if ev.line <= self.declared_at:
            return None
        kind = getattr(ev, "ev", None)
        if kind == "x-netfilter" and ev.data.get("on") is True:
            self.lossy.update(DROPPED.get(ev.data.get("drop"), ()))
        if kind == "x-packet-drops":
            self.packets = False  # the capture missed frames: the wire's record is no longer whole
        if kind is not None and not self._checks(ev):
            return None
        if kind is None:
            self.events += 1
        for timers in (False, True):
            closed = self._closure(self.tracked, timers)
            nxt = self._explained(ev, closed, timers)
            if nxt:
                break
        else:
            return self._divergence(ev, closed)
        if len(nxt) > bounds.frontier():
            raise SearchBound("frontier", bounds.frontier(),
                              f"more than {bounds.frontier()} model configurations explain the trace so far")
        if kind is not None:
            self.x_checked += 1
        else:
            self.tally.note(ev)
        self.tracked = nxt
        return None

    def _checks(self, ev) -> bool:
        """Whether this x- event is one that is checked (see the module docstring)."""
        d = ev.data
        if ev.ev == "x-packet" and self.packets:
            kind = wire_kind(d["flags"])
            if kind is None:
                return False
            if kind in RETRANSMITTED:
                key = (_addr(d["src"]), _addr(d["dst"]), kind, d.get("seq"))
                if key in self.seen:
                    return False
                self.seen.add(key)
            return True
        if ev.ev == "x-state" and self.states:
            return d.get("sock") is not None and d["from"] != d["to"]
        return False

    def _explained(self, ev, closed: set, timers: bool) -> set:
        """The configurations of ``closed`` (with their records) after ``ev``, where it happens."""
        nxt: set = set()
        kind = getattr(ev, "ev", None)
        if kind == "x-packet":
            src, dst, wk = _addr(ev.data["src"]), _addr(ev.data["dst"]), wire_kind(ev.data["flags"])
            for c, xs in closed:
                for xs2 in _see_packet(xs, src, dst, wk):
                    nxt.add((c, xs2))
        elif kind == "x-state":
            d = ev.data
            for c, xs in closed:
                xs2 = _see_state(xs, c, d["sock"], d["from"], d["to"])
                if xs2 is not None:
                    nxt.add((c, xs2))
        elif hasattr(ev, "op"):
            for c, xs in closed:
                nxt.update(self._call(c, xs, ev, timers))
        else:
            for c, xs in closed:
                if ev.state in system.observe(c, ev.sock, self.profile):
                    nxt.add((c, xs))
        return nxt

    def _call(self, c: Config, xs: Unseen, ev, timers: bool):
        fresh = ev.new if ev.op == "accept" else None
        for o in system.resume_call(c, ev, self.profile, self.world, timers, self.cases):
            yield o.config, self._record(c, o.config, None, xs, o.result.outcome, ev.sock, fresh)
        if ev.op == "socket":
            return
        for asleep in system.sleeping(c, ev, self.profile, self.cases):
            start = _record_step(c, asleep.config, None, xs)
            for c3, xs3 in self._closure({(asleep.config, start)}, timers):
                for o in system.resume_call(c3, ev, self.profile, self.world, timers, self.cases):
                    yield o.config, self._record(c3, o.config, None, xs3, o.result.outcome, ev.sock, fresh)

    def _divergence(self, ev, closed: set) -> Verdict:
        configs = {c for c, _ in closed}
        kind = getattr(ev, "ev", None)
        line = ev.line
        if kind == "x-packet":
            d = ev.data
            heads = sorted({f"{ks[0]} {format_addr(ch[0])}>{format_addr(ch[1])}"
                            for _, xs in closed for ch, ks in xs.pkt})
            return Verdict("diverges", line,
                           f"no run of the model sends {wire_kind(d['flags'])} from {d['src']} to {d['dst']} "
                           "here (x-packet)", [f"unseen: {h}" for h in heads] or ["no control segment unseen"],
                           self.events)
        if kind == "x-state":
            d = ev.data
            steps = set()
            for c, xs in closed:
                entry = next(((last, vis) for n, last, vis in xs.st if n == d["sock"]), None)
                last, vis = entry if entry is not None else (kernel_state(c, d["sock"]), ())
                for b in vis:
                    steps.add(f"{last} -> {b}")
                    last = b
            return Verdict("diverges", line,
                           f"socket {d['sock']!r} makes no {d['from']} -> {d['to']} transition here (x-state)",
                           sorted(steps) or ["no transition unseen"], self.events)
        return divergence(ev, configs, self.profile, self.world, self.events, self.cases, self.tally, _given())


def _given() -> str:
    return " (given the x-packet/x-state observations so far)"


def _addr(text: str) -> tuple:
    """An address as the model holds it (the IP normalised, as trace.parse_addr does)."""
    return tuple(parse_addr(text))
