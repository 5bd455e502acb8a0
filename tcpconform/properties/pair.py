"""Two sockets that connect to each other: a second composed system,
generated from the same rule table, for what the main one
(:mod:`tcpconform.properties.compose`) cannot express — two active opens whose SYNs
cross (simultaneous open, RFC 9293 §3.5 Figure 8).

Topology: sockets ``P`` (127.0.0.1:5001) and ``Q`` (127.0.0.1:5002), each
the other's only peer; one FIFO channel each way (``pq``, ``qp``) of
:data:`tcpconform.properties.bounds.CHANNEL_CAPACITY` cells, lossless (loopback).  A
step is a call on one socket, a timer at one, or the delivery of a
channel's head segment to the socket it is addressed to (while that socket
is neither CLOSED nor LISTEN; no listener takes part, so steps that need an
accept queue — a SYN spawning a request sock, a segment held at a full
queue — are not steps here), and calls do not sleep (a recorder writes a
call when it returns; a non-blocking socket answers EINPROGRESS/EAGAIN
instead).  Each socket's own step is the per-endpoint
relation of :func:`tcpconform.model.z3enc.transition_relation`, renamed to it, exactly
as in :mod:`tcpconform.properties.compose`; ``rcvq`` is a state variable.  Every run of
this system is a loopback run, which :func:`to_trace` writes as a trace.
"""

from __future__ import annotations

import z3

from tcpconform.check.explain import netstat_addr, netstat_table as table_lines
from tcpconform.check.trace import call_event, format_addr, state_event, trace_header, trace_text
from tcpconform.model import composition, rules
from tcpconform.model.table import PARAM_DEFAULTS
from tcpconform.model import z3enc as E

from tcpconform.properties import bounds as B
from tcpconform.properties import runs
from tcpconform.properties.compose import SEG, Slots

SOCKS = ("P", "Q")
PORTS = {"P": 5001, "Q": 5002}
OUT = {"P": "pq", "Q": "qp"}
IN = {"P": "qp", "Q": "pq"}
FIELDS = tuple(E.FIELD_DOMAINS)
SLOT = E.Finite("PairSlot", SOCKS)
NOT_HERE = ("spawn_req", "enqueue", "dequeue", "reset_queue", "destroy", "hold")


def _sorts() -> dict:
    sorts: dict = {}
    for s in SOCKS:
        for f in FIELDS:
            sorts[f"{s}.{f}"] = E.FIELD_DOMAINS[f].sort
        sorts[f"{s}.rcvq"] = z3.IntSort()
    for ch in OUT.values():
        for k in range(B.CHANNEL_CAPACITY):
            sorts[f"{ch}.v{k}"] = z3.BoolSort()
            sorts[f"{ch}.k{k}"] = SEG.sort
    return sorts


SORTS = _sorts()
NAMES = tuple(SORTS)


class Pair(Slots):
    """The system: ``cur``/``nxt`` state variables, ``init``, ``trans`` over
    them and the step variables (the same names as compose's where they
    mean the same)."""
    names = NAMES
    act = SLOT.var("pair.act")
    trigger, ret, emit, tag, par, inp = E.TRIGGER_VAR, E.RET_VAR, E.EMIT, E.TAG, E.PAR, E.INP

    def __init__(self, cases=rules.CASES, profile: str = B.PROFILE):
        self.cur = {k: z3.Const(k, s) for k, s in SORTS.items()}
        self.nxt = {k: z3.Const(k + "'", s) for k, s in SORTS.items()}
        enc = E.transition_relation(profile, cases)
        self.init = z3.And(
            *[self.cur[f"{s}.{f}"] == E.FIELD_DOMAINS[f].lit(rules.INITIAL[f])
              for s in SOCKS for f in FIELDS if f != "nb"],
            *[self.cur[f"{s}.rcvq"] == 0 for s in SOCKS],
            *[z3.Not(self.cur[f"{ch}.v{k}"]) for ch in OUT.values() for k in range(B.CHANNEL_CAPACITY)])
        # the nine calls of version 1: what version 2 adds to them is at its quiet value
        quiet = [E.PAR[k] == E.PARAM_DOMAINS[k].lit(v) for k, v in PARAM_DEFAULTS.items()]
        self.trans = z3.And(z3.Or([self._step(s, enc) for s in SOCKS]), *quiet)

    def step_vars(self) -> list:
        return [self.act, self.trigger, self.ret, E.OUTCOME, E.VALUE_VAR, *self.emit.values(), *self.tag.values(),
                *self.par.values(), *self.inp.values()]

    def _cells(self, vars_: dict, ch: str) -> list:
        return [(vars_[f"{ch}.v{k}"], vars_[f"{ch}.k{k}"]) for k in range(B.CHANNEL_CAPACITY)]

    def _step(self, s: str, enc) -> z3.BoolRef:
        sub = [(E.PRE[f], self.v(s, f)) for f in FIELDS] + [(E.POST[f], self.n(s, f)) for f in FIELDS]
        sub += [(E.PRE["rcvq"], self.v(s, "rcvq")), (E.POST["rcvq"], self.n(s, "rcvq"))]
        endpoint = z3.And(z3.substitute(enc.formula, *sub), z3.substitute(enc.domain, *sub))
        emits = z3.Or(list(self.emit.values()))
        kind = SEG.lit(E.vocab.SEGMENTS[-1])
        for seg in reversed(E.vocab.SEGMENTS[:-1]):
            kind = z3.If(self.emit[seg], SEG.lit(seg), kind)
        out, inc = self._cells(self.cur, OUT[s]), self._cells(self.cur, IN[s])
        full = out[-1][0]
        # the emitted segment joins the back of the out channel (never onto a full one: lossless)
        pushed = [(z3.Or(v, z3.And(emits, z3.Not(v), *([out[k - 1][0]] if k else []))),
                   z3.If(z3.And(emits, z3.Not(v), *([out[k - 1][0]] if k else [])), kind, x))
                  for k, (v, x) in enumerate(out)]
        popped = [*inc[1:], (z3.BoolVal(False), inc[-1][1])]
        head_v, head = inc[0]
        common = [self.act == SLOT.lit(s), endpoint, z3.Implies(emits, z3.Not(full)),
                  self.inp["q_nonempty"] == False, self.inp["q_full"] == False,  # noqa: E712
                  self.inp["conflict"] == False, self.par["port0"] == False,  # noqa: E712  distinct fixed ports
                  # a single-threaded recorder records a call when it returns: no call sleeps here,
                  # and each socket is created once (its socket() call is the trace's, before its first call)
                  self.ret != E.RET.lit("WAIT"), z3.Not(self.is_trigger("call:socket")),
                  *[z3.Not(self.tag[t]) for t in NOT_HERE]]
        call = z3.And(self.is_trigger(*(f"call:{c}" for c in E.vocab.CALLS)), self.par["segn"] == 0)
        timer = z3.And(self.is_trigger(*(f"timer:{t}" for t in E.vocab.TIMERS)), self.par["segn"] == 0)
        deliver = z3.And(head_v, self.is_trigger("seg"), self.par["seg"] == head,
                         z3.Not(self.st_in(s, {"CLOSED", "LISTEN"})))
        redeliver = self.tag["redeliver"]
        new_in = [(z3.If(z3.And(deliver, z3.Not(redeliver)), v2, v), z3.If(z3.And(deliver, z3.Not(redeliver)), k2, k))
                  for (v, k), (v2, k2) in zip(inc, popped)]
        frame = []
        other = "Q" if s == "P" else "P"
        frame += [self.n(other, f) == self.v(other, f) for f in (*FIELDS, "rcvq")]
        for (v, k), (v2, k2) in zip(pushed, self._cells(self.nxt, OUT[s])):
            frame += [v2 == v, k2 == k]
        for (v, k), (v2, k2) in zip(new_in, self._cells(self.nxt, IN[s])):
            frame += [v2 == v, k2 == k]
        return z3.And(*common, z3.Or(call, timer, deliver), *frame)


_BUILT: dict = {}


def system(cases=rules.CASES) -> Pair:
    key = id(cases)
    if key not in _BUILT or _BUILT[key][0] is not cases:
        _BUILT[key] = (cases, Pair(cases))
    return _BUILT[key][1]


def to_trace(run, meta: dict | None = None) -> str:
    """A run of the pair as a closed-world loopback trace: each socket is
    introduced by ``socket()`` before its first call; calls and every change
    of a socket's state are events."""
    lines: list[dict] = []
    named, known = set(), {}
    for k, st in enumerate(run.steps):
        v = {n: runs.value_name(x) for n, x in st["vars"].items()}
        s, before, after = v["pair.act"], run.state(k), st["state"]
        trig, ret = v["trigger"], v["out.ret"]
        if trig.startswith("call:") and ret != "WAIT" and trig != "call:socket":
            op = trig[5:]
            if s not in named:
                named.add(s)
                known[s] = "CLOSED"
                lines.append(call_event(s, "socket", **({"nonblock": True} if before[f"{s}.nb"] else {})))
            ok = ret == "ok"
            me, peer = format_addr((runs.HOST, PORTS[s])), format_addr((runs.HOST, PORTS["Q" if s == "P" else "P"]))
            kw: dict = {}
            if op == "bind":
                kw = {"addr": me, **({"local": me} if ok else {})}
            elif op == "listen":
                kw = {"backlog": 0}
            elif op == "connect":
                kw = {"addr": peer, **({"local": me} if ret in ("ok", "EINPROGRESS") else {})}
            else:
                kw = runs.call_fields(op, ok, {k[4:]: x for k, x in v.items() if k.startswith("par.")})
            lines.append(call_event(s, op, ret, **kw))
        for x in sorted(named):
            obs, = composition.observed(runs.value_name(after[f"{x}.st"]), runs.value_name(after[f"{x}.fd"]), B.PROFILE)
            if known.get(x) != obs:
                known[x] = obs
                lines.append(state_event(x, obs))
    return trace_text(trace_header(profile=B.PROFILE, world="closed", **({"meta": meta} if meta else {})), lines)


def netstat_table(run, title: str = "") -> str:
    """The run step by step with the seed's netstat columns for both sockets."""
    out = [title] if title else []
    for k, st in enumerate(run.steps):
        v = {n: runs.value_name(x) for n, x in st["vars"].items()}
        trig = v["trigger"]
        what = (f"{v['pair.act']} {trig[5:]}() -> {v['out.ret']}" if trig.startswith("call:")
                else f"{v['par.seg']} reaches {v['pair.act']}" if trig == "seg" else f"{v['pair.act']} {trig}")
        sent = [n.split(".")[-1] for n, x in st["vars"].items() if n.startswith("out.emit.") and x is True]
        out.append(f"step {k + 1}: {what}" + (f"; sends {'+'.join(sent)}" if sent else ""))
        a = st["state"]
        rows = []
        for s in SOCKS:
            other = "Q" if s == "P" else "P"
            connected = runs.value_name(a[f"{s}.ss"]) != "UNCONNECTED"
            inflight = [runs.value_name(a[f"{OUT[s]}.k{i}"]) for i in range(B.CHANNEL_CAPACITY) if a[f"{OUT[s]}.v{i}"]]
            bound = runs.value_name(a[f"{s}.bound"]) != "no" or connected
            rows.append((s, {"recvq": a[f"{s}.rcvq"], "sendq": inflight.count("DATA"),
                             "local": netstat_addr((runs.HOST, PORTS[s]) if bound else None),
                             "foreign": netstat_addr((runs.HOST, PORTS[other]) if connected else None),
                             "state": runs.value_name(a[f"{s}.st"])}))
        out += table_lines(rows, queues_right=False)
    return "\n".join(out)


__all__ = ["Pair", "system", "to_trace", "netstat_table", "NAMES", "SOCKS"]
