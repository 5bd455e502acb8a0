"""The shape of a rule: cases with guards, each with one or more outcomes.

A *case* is one branch of the kernel (or of the RFC): a trigger (a call, an
arriving segment, a timer) and a guard over the endpoint's fields, the
system facts in :data:`tcpconform.model.vocab.INPUTS` and the call's parameters.  Cases
of one trigger are tried in order and the first whose guard holds decides,
as the kernel's own checks do (``first match wins``).

An *outcome* is one result the case allows.  A case with several outcomes
is nondeterminism the model cannot resolve from what a trace shows (how much
room is left in a send buffer, which errno POSIX lets an implementation
pick).  An outcome may have its own extra guard.

A case also carries what the diagrams and the documents say about it, as
data: the RFC 9293 Figure 5 arcs it encodes, whether (and in what) Linux
departs from RFC 9293 or POSIX, whether an in-order channel reaches it.

Guards and effects are plain data in a small language, read by two
interpreters: :mod:`tcpconform.model.semantics` (Python) and :mod:`tcpconform.model.z3enc` (z3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from tcpconform.model import vocab

# Guard keys that are not endpoint fields or system inputs: call parameters.
PARAMS: dict[str, tuple] = {
    "how": vocab.SHUT_HOW,
    "linger0": (False, True),
    "port0": (False, True),   # bind() asked for port 0 (the kernel picks one)
    # version 2 of the trace format
    "last": (False, True),      # close(): the socket's last open descriptor (dup, fork share one socket)
    "nonblock": (False, True),  # fcntl(F_SETFL) / ioctl(FIONBIO): the flag asked for
    "peek": (False, True),      # recv(MSG_PEEK)
    "waits": (False, True),     # poll() with a timeout other than 0: it may sleep (and be interrupted)
    "opt": ("SO_ERROR", "SO_ACCEPTCONN", "TCP_FASTOPEN", "IPV6_V6ONLY", "other"),  # the options a rule names
    "badval": (False, True),    # setsockopt: a value outside the option's range (tcpconform.model.options)
    "timeo": (False, True),     # a blocking call whose socket has SO_RCVTIMEO (recv, accept) or SO_SNDTIMEO
                                # (send, connect) set: its sleep may run out
    "fammatch": (False, True),  # bind/connect: the address is of the socket's family; set/getsockopt: its family has the level
    "intr": (False, True),      # a signal came while the call slept (the trace says EINTR)
    "req": ("FIONREAD", "SIOCOUTQ", "SIOCOUTQNSD"),  # ioctl: what is asked
}
# What a parameter of version 2 is when the caller does not say (a version-1
# call: the quiet value, under which the version-1 rules read as before).
PARAM_DEFAULTS: dict[str, Any] = {"last": True, "nonblock": False, "peek": False, "waits": False,
                                  "opt": "other", "req": "FIONREAD", "badval": False, "timeo": False,
                                  "fammatch": True, "intr": False}
# Values a call returns besides its errno, each computed from the endpoint
# (before the call) or, for addresses, queues and options, by the composition
# (tcpconform.model.system): the outcome names one with ``value``.
VALUES = (
    "err",        # the pending error (0 when none): getsockopt(SO_ERROR)
    "listening",  # 1 if the socket listens, else 0: getsockopt(SO_ACCEPTCONN)
    "nb",         # the descriptor is non-blocking: fcntl(F_GETFL)
    "rcvq",       # bytes arrived and not yet read: ioctl(FIONREAD)
    "zero",       # 0
    "count",      # any count of bytes: the model does not know (ioctl SIOCOUTQ: acknowledgements are not modelled)
    "option",     # the value the option was set to, as the kernel reads it back (tcpconform.model.options)
    "sockname",   # the local address: getsockname()
    "peername",   # the peer's address: getpeername()
    "poll",       # the readiness events (tcpconform.model.rules.POLL_RULES): poll()
    "nval",       # the readiness of a closed descriptor: POLLNVAL alone
)
# ``rcvq`` is tested through a sign only.
RCVQ_SIGNS = ("zero", "pos")

# Constraints on the byte count ``n`` a send/recv returned, and effects on
# ``rcvq``.  Both interpreters know exactly these words.
N_RULES = ("len", "partial", "upto_rcvq", "zero")
RCVQ_EFFECTS = ("minus_n", "plus_seg", "zero")

# Special effect values.
RELEASE = "$release"  # bound: auto -> no (the autobound port is released), else unchanged

# How a case departs from RFC 9293 or POSIX (its note says in words how).
DEPARTURES = (
    "transition",  # the state change itself: one RFC 9293 does not have, or not the one it has
    "behaviour",   # what a call returns, an errno, a timer's length, a side effect
)

# Composition actions an outcome asks the system to carry out.
TAGS = (
    "introduce",     # socket(): a new endpoint with the trace's name
    "set_local",     # bind(): take the address the trace reports
    "autobind",      # connect()/listen() on an unbound socket: a local port is picked
    "set_remote",    # connect(): the peer address is the one asked for
    "set_backlog",   # listen(): the accept queue's capacity
    "dequeue",       # accept(): the child at the head of the queue gets the trace's name
    "reset_queue",   # the listener stops: each queued child is reset (RST), each request sock dropped
    "spawn_req",     # a SYN reaches a listener: a request sock (SYN_RECEIVED) is made, it sends SYN+ACK
    "enqueue",       # a request sock completes: it joins its listener's accept queue
    "destroy",       # the endpoint disappears (a request sock dropped)
    "hold",          # the segment cannot be taken now; it stays at the head of its channel
    "redeliver",     # the segment is handed on to whatever socket now matches it
    "set_option",    # setsockopt(): the option's value is kept (tcpconform.model.options)
)


def _frozen(value: Any) -> frozenset:
    if isinstance(value, (set, frozenset, tuple, list)):
        return frozenset(value)
    return frozenset((value,))


@dataclass(frozen=True)
class Outcome:
    ret: str = vocab.OK
    set: Mapping[str, Any] = field(default_factory=dict)
    emit: tuple[str, ...] = ()
    when: Mapping[str, frozenset] = field(default_factory=dict)
    n: str | None = None
    rcvq: str | None = None
    tags: tuple[str, ...] = ()
    profiles: frozenset = frozenset(vocab.PROFILES)
    name: str = ""
    # States the kernel's socket passes through during the call and leaves
    # again, before the state the outcome sets (seen by the state tracepoint,
    # e.g. a connect() that fails inside tcp_v4_connect after SYN_SENT).
    via: tuple[str, ...] = ()
    # What the call returns besides ret, one of VALUES (None: nothing).
    value: str | None = None


@dataclass(frozen=True)
class Case:
    id: str
    trigger: str
    when: Mapping[str, frozenset]
    outcomes: tuple[Outcome, ...]
    source: str
    note: str = ""
    profiles: frozenset = frozenset(vocab.PROFILES)
    # The arcs of RFC 9293 Figure 5 the case encodes, as (from, to) model states.
    fig5: tuple[tuple[str, str], ...] = ()
    # "" or one of DEPARTURES: where Linux departs from RFC 9293 or POSIX.
    departs: str = ""
    # False: no run on an in-order channel reaches the case (it exists so that
    # every segment has a rule; it is no arc of the state diagram).
    in_order: bool = True

    @property
    def kind(self) -> str:
        return self.trigger.split(":", 1)[0]

    @property
    def what(self) -> str:
        return self.trigger.split(":", 1)[1]

    def outcomes_for(self, profile: str) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if profile in o.profiles)


def guard(**kw: Any) -> dict[str, frozenset]:
    """Build a guard: each keyword is a field, input or parameter and the
    values it may take (a single value or a collection)."""
    return {k: _frozen(v) for k, v in kw.items()}


def out(ret: str = vocab.OK, *, when: Mapping[str, Any] | None = None,
        profiles: Any = vocab.PROFILES, **kw: Any) -> Outcome:
    return Outcome(
        ret=ret,
        when=guard(**(when or {})),
        profiles=_frozen(profiles),
        **kw,
    )


def case(id: str, trigger: str, when: Mapping[str, Any] | None, *outcomes: Outcome,
         source: str, note: str = "", profiles: Any = vocab.PROFILES,
         fig5: tuple[tuple[str, str], ...] = (), departs: str = "", in_order: bool = True) -> Case:
    return Case(
        id=id,
        trigger=trigger,
        when=guard(**(when or {})),
        outcomes=tuple(
            Outcome(**{**o.__dict__, "name": o.name or f"{id}/{i}"}) for i, o in enumerate(outcomes)
        ),
        source=source,
        note=note,
        profiles=_frozen(profiles),
        fig5=tuple(fig5),
        departs=departs,
        in_order=in_order,
    )
