"""Properties of the calls version 2 adds, proven with z3 for every endpoint.

The composed system's proofs (:mod:`tcpconform.properties.catalog`) range over
the nine calls of version 1.  The properties here are about one endpoint's
calls, so they are proven over the z3 encoding of the rule table
(:mod:`tcpconform.model.z3enc`) for **every** endpoint the fields can
describe (a superset of those the table reaches), every input and every
parameter: a counterexample would be an endpoint and a call's result.  Each
reads the table's own data — its cases, :data:`tcpconform.model.rules.POLL_RULES`,
:data:`tcpconform.model.options.SHARING` — and each names a broken variant
of that data under which it must be refuted, so a proof that cannot fail is
caught.  Each premise (the situation the property is about) must be
satisfiable, so no proof holds vacuously.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import z3

from tcpconform.model import options, rules, vocab
from tcpconform.model import z3enc as E
from tcpconform.properties import mutants as M


@dataclass(frozen=True)
class Data:
    """The model data a property reads: the cases, the readiness rules, the port-sharing rules."""
    cases: tuple = rules.CASES
    poll: tuple = rules.POLL_RULES
    sharing: tuple = options.SHARING


@dataclass(frozen=True)
class CallProperty:
    name: str
    origin: str
    text: str
    trigger: str
    premise: Callable[[Data], z3.BoolRef]
    violation: Callable[[Data], z3.BoolRef]
    mutant: str
    broken: Callable[[Data], Data]


def _ret_in(*rets: str) -> z3.BoolRef:
    return z3.Or([E.RET_VAR == E.RET.lit(r) for r in rets if r in E.RET.values])


def _open() -> z3.BoolRef:
    return E.atom("fd", frozenset({"open"}))


def _par(key: str, value) -> z3.BoolRef:
    return E.PAR[key] == E.PARAM_DOMAINS[key].lit(value)


def _may_out(d: Data) -> z3.BoolRef:
    """poll() may report OUT for the endpoint (the readiness rules' guards for OUT)."""
    rule = next(r for r in d.poll if r.event == "OUT")
    return z3.Or([E.guard(g) for g in rule.must + rule.may] or [z3.BoolVal(False)])


def _unchanged() -> z3.BoolRef:
    return z3.And([E.POST[f] == E.PRE[f] for f in E.POST])


def _quiet() -> z3.BoolRef:
    return z3.And([z3.Not(b) for b in (*E.EMIT.values(), *E.TAG.values())])


# --- SO_REUSEADDR: whether a listen() finds its port held, from the sharing rules
MINE = {k: z3.Bool(f"mine.{k}") for k in ("reuseaddr", "reuseport")}
THEIRS = {k: z3.Bool(f"theirs.{k}") for k in ("reuseaddr", "reuseport")}
THEIR_STATE = E.Finite("HolderState", vocab.STATES)
THEIR_ST = THEIR_STATE.var("theirs.st")


def _shares(d: Data) -> z3.BoolRef:
    """options.shares read as a formula: some sharing rule lets the two sockets share."""
    return z3.Or([z3.And(MINE[effect], THEIRS[effect], z3.Not(_their_state_in(unless)))
                  for effect, unless, _src in d.sharing] or [z3.BoolVal(False)])


def _their_state_in(states) -> z3.BoolRef:
    return THEIR_STATE.member(THEIR_ST, states) if states else z3.BoolVal(False)


def _listen_finds_holder(d: Data) -> z3.BoolRef:
    """A listen() on an explicitly bound port that another socket holds: the
    rules' ``conflict`` input is that the two do not share it."""
    return z3.And(E.atom("bound", frozenset({"explicit"})), E.INP["conflict"] == z3.Not(_shares(d)))


def _broken_sharing(d: Data) -> Data:
    """Misreading: SO_REUSEADDR lets a port be shared with a listener too (as BSD's SO_REUSEPORT)."""
    return replace(d, sharing=tuple((e, () if e == "reuseaddr" else u, s) for e, u, s in d.sharing))


def _broken_poll(d: Data) -> Data:
    """Misreading: a connecting socket is writable (OUT while SYN_SENT)."""
    return replace(d, poll=tuple(r._replace(may=r.may + (rules.guard(st="SYN_SENT"),)) if r.event == "OUT" else r
                                 for r in d.poll))


def _broken_cases(name: str) -> Callable[[Data], Data]:
    return lambda d: replace(d, cases=M.mutant(name))


PROPERTIES: tuple[CallProperty, ...] = (
    CallProperty(
        "so_error_reported_once", "SO_ERROR (version 2)",
        "getsockopt(SO_ERROR) returns the pending error and clears it: the next read says 0",
        "call:getsockopt",
        premise=lambda d: z3.And(_open(), _par("opt", "SO_ERROR"), z3.Not(E.atom("err", frozenset({"NONE"})))),
        violation=lambda d: z3.And(_par("opt", "SO_ERROR"), _ret_in(vocab.OK), z3.Or(
            z3.Not(E.POST["err"] == E.FIELD_DOMAINS["err"].lit("NONE")), E.VALUE_VAR != E.VALUE.lit("err"))),
        mutant="so-error-not-cleared", broken=_broken_cases("so-error-not-cleared")),
    CallProperty(
        "descriptor_keeps_connection", "dup and fork (version 2)",
        "closing one of a socket's descriptors while another is open changes nothing: no segment, no state",
        "call:close",
        premise=lambda d: z3.And(_open(), _par("last", False), E.atom("st", frozenset({"ESTABLISHED"}))),
        violation=lambda d: z3.And(_par("last", False), z3.Or(z3.Not(_unchanged()), z3.Not(_quiet()))),
        mutant="close-ignores-other-descriptors", broken=_broken_cases("close-ignores-other-descriptors")),
    CallProperty(
        "poll_out_means_connected", "poll (version 2)",
        "a connecting socket that poll() may report writable (OUT) has finished its handshake: "
        "connect() does not sleep, or say EALREADY or EINPROGRESS, again",
        "call:connect",
        premise=lambda d: z3.And(_open(), _may_out(d), E.atom("ss", frozenset({"CONNECTING"}))),
        violation=lambda d: z3.And(_open(), _may_out(d), E.atom("ss", frozenset({"CONNECTING"})),
                                   _ret_in(vocab.WAIT, "EALREADY", "EINPROGRESS")),
        mutant="poll-out-while-connecting", broken=_broken_poll),
    CallProperty(
        "reuseaddr_one_listener", "SO_REUSEADDR (version 2)",
        "with SO_REUSEADDR alone (no SO_REUSEPORT), a socket cannot start listening on a port another socket "
        "listens on",
        "call:listen",
        premise=lambda d: z3.And(_open(), _listen_finds_holder(d), MINE["reuseaddr"], THEIRS["reuseaddr"],
                                 THEIR_ST == THEIR_STATE.lit("LISTEN"), E.atom("st", frozenset({"CLOSED"}))),
        violation=lambda d: z3.And(_listen_finds_holder(d), z3.Not(MINE["reuseport"]), z3.Not(THEIRS["reuseport"]),
                                   z3.Not(E.atom("st", frozenset({"LISTEN"}))),   # one that starts listening
                                   THEIR_ST == THEIR_STATE.lit("LISTEN"), _ret_in(vocab.OK),
                                   E.POST["st"] == E.FIELD_DOMAINS["st"].lit("LISTEN")),
        mutant="reuseaddr-shares-with-listeners", broken=_broken_sharing),
)
BY_NAME = {p.name: p for p in PROPERTIES}


def _solve(p: CallProperty, d: Data, what: Callable[[Data], z3.BoolRef], profile: str) -> z3.ModelRef | None:
    enc = E.encode(p.trigger, profile, d.cases)
    s = z3.Solver()
    s.add(enc.formula, enc.domain, what(d))
    res = s.check()
    if res == z3.unknown:
        raise RuntimeError(f"z3 answered unknown for {p.name}: {s.reason_unknown()}")
    return s.model() if res == z3.sat else None


def _endpoint(m: z3.ModelRef) -> dict:
    val = lambda x: m.eval(x, model_completion=True)  # noqa: E731
    pre = {f: E.FIELD_DOMAINS[f].decode(val(E.PRE[f])) for f in E.FIELD_DOMAINS}
    return {"pre": {k: str(v) for k, v in pre.items()}, "ret": str(E.RET.decode(val(E.RET_VAR)))}


def prove_one(p: CallProperty, profiles=vocab.PROFILES, mutant: bool = False) -> dict:
    """Prove ``p`` under every profile (or, with ``mutant``, refute it under its broken data)."""
    t0 = time.perf_counter()
    d = p.broken(Data()) if mutant else Data()
    found = None
    for profile in profiles:
        m = _solve(p, d, p.violation, profile)
        if m is not None:
            found = (profile, _endpoint(m))
            break
    premise = _solve(p, Data(), p.premise, "linux")
    verdict = ("refuted" if found else "survives") if mutant else ("refuted" if found else "proven")
    return {"property": p.name, "verdict": verdict, "method": "z3, every endpoint",
            "seconds": round(time.perf_counter() - t0, 3), "origin": p.origin, "text": p.text,
            "premise": {"verdict": "witnessed" if premise is not None else "unreached",
                        "method": "z3 model"},
            **({"mutant": p.mutant} if mutant else {}),
            **({"counterexample_endpoint": {"profile": found[0], **found[1]}} if found else {})}
