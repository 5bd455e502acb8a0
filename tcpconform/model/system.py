"""Many endpoints and the network between them: the composed system.

A :class:`Config` is a set of endpoints (each named by the trace, or, for a
request sock or a child waiting in an accept queue, by its address pair) and
a set of channels, one per ordered address pair, each a FIFO of segments —
loopback delivers in order and loses nothing.  Everything an endpoint does
is decided by the rule table through :mod:`tcpconform.model.semantics`; this module
adds only what the table cannot say about one endpoint alone: which socket
an arriving segment reaches (demultiplexing), the accept queue, names,
addresses and ports.

Pure functions, no I/O, no clock: timers are steps like any other.
"""

from __future__ import annotations

import contextvars
import dataclasses
import zlib
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from tcpconform.model import composition, options, outside, rules, semantics, vocab
from tcpconform.model.events import Addr, Call, format_addr
from tcpconform.model.semantics import Endpoint, Result
from tcpconform.model.table import Case

WILDCARD = ("0.0.0.0", "::")


class Ep(NamedTuple):
    core: Endpoint
    local: Addr | None = None
    remote: Addr | None = None
    cap: int = 0          # accept-queue capacity (listeners)
    queue: tuple = ()     # keys of children waiting for accept(), oldest first
    parent: str | None = None  # the listener of a request sock / queued child
    opts: tuple = ()      # socket options set, as the kernel keeps them: ((name, value), ...) sorted
    fam: str = ""         # the socket's address family: "inet", "inet6", or "" (a version-1 trace does not say)


class Config(NamedTuple):
    eps: tuple   # ((key, Ep), ...) sorted by key (a name, or Unnamed: those first)
    net: tuple   # (((src, dst), (seg, ...)), ...) sorted; seg = (kind, nbytes)


EMPTY = Config((), ())


class Label(str):
    """The text of an unobserved step, carrying the rule it applied and the
    state it left (for coverage); None for steps no rule decides."""
    case: str | None = None
    from_state: str | None = None
    outcome: str | None = None   # the outcome's name (tcpconform.model.table.Outcome.name)
    key: Any = None              # the endpoint the rule applied to

    @classmethod
    def of(cls, text: str, case: str | None = None, from_state: str | None = None,
           outcome: str | None = None, key: Any = None) -> "Label":
        lab = cls(text)
        lab.case, lab.from_state, lab.outcome, lab.key = case, from_state, outcome, key
        return lab


class ModelError(Exception):
    """The search met something the model cannot represent."""


class SearchBound(ModelError):
    """The search met one of its bounds (``bound``: frontier, closure, seconds,
    memory; ``limit``: its value): it stopped before deciding."""

    def __init__(self, bound: str, limit: Any, message: str) -> None:
        super().__init__(message)
        self.bound, self.limit = bound, limit


WATCH: contextvars.ContextVar = contextvars.ContextVar("tcpconform_watch", default=None)
"""A callable the closure searches call every :data:`WATCH_EVERY` configurations
they make, counted over all of them (it may raise :class:`SearchBound`), or
None: how a caller bounds the time and memory of a check without the model
reading clocks or memory.  A context variable: each thread's checks have
their own."""
WATCH_EVERY = 64
_made = [0]

CLOCK: contextvars.ContextVar = contextvars.ContextVar("tcpconform_clock", default=None)
"""A :class:`tcpconform.model.timing.Clock`, or None: with one, a timer fires
only where the clock says it can have run out (a trace with times)."""


def made_one() -> None:
    """Count one configuration made by a search; call :data:`WATCH` every
    :data:`WATCH_EVERY` of them."""
    _made[0] += 1
    if _made[0] >= WATCH_EVERY:
        _made[0] = 0
        watch = WATCH.get()
        if watch is not None:
            watch()


class Unnamed(NamedTuple):
    """The key of an endpoint the trace has no name for (a request sock, a child
    waiting in an accept queue, a connection left in TIME_WAIT behind its
    descriptor): its address pair.  Unnamed keys sort before every name (a
    ``str``), among themselves as tuples, so a configuration's endpoints, keyed
    by either, have one sorted order."""
    local: Addr
    remote: Addr

    def __lt__(self, other):
        return True if isinstance(other, str) else tuple.__lt__(self, other)

    def __le__(self, other):
        return True if isinstance(other, str) else tuple.__le__(self, other)

    def __gt__(self, other):
        return False if isinstance(other, str) else tuple.__gt__(self, other)

    def __ge__(self, other):
        return False if isinstance(other, str) else tuple.__ge__(self, other)


def is_named(key: str | Unnamed) -> bool:
    """Whether ``key`` is a socket name of the trace (not an :class:`Unnamed` key)."""
    return type(key) is str


def is_symbolic(port: Any) -> bool:
    """Whether ``port`` is a stand-in for one the trace did not report."""
    return isinstance(port, int) and port < 0


def symbolic_port(name: str) -> int:
    """A stand-in for a port the trace did not report (stable, negative)."""
    return -(zlib.crc32(name.encode()) + 1)


def loopback_like(ip: str) -> str:
    """The loopback address of ``ip``'s family (a socket connecting from a
    wildcard or unbound address is given the loopback address of its family)."""
    return "::1" if ":" in ip else "127.0.0.1"


def normalize(addr: Addr) -> Addr:
    """connect() to 0.0.0.0 reaches the loopback address (Linux)."""
    if addr[0] == "0.0.0.0":
        return ("127.0.0.1", addr[1])
    if addr[0] == "::":
        return ("::1", addr[1])
    return addr


# --------------------------------------------------------------------------
# Mutable working copy
class _Work:
    __slots__ = ("eps", "net")

    def __init__(self, cfg: Config):
        self.eps = dict(cfg.eps)
        self.net = {k: list(v) for k, v in cfg.net}

    def push(self, src: Addr, dst: Addr, kind: str, n: int = 0) -> None:
        self.net.setdefault((src, dst), []).append((kind, n))

    def pop(self, chan: tuple) -> tuple:
        segs = self.net[chan]
        seg = segs.pop(0)
        if not segs:
            del self.net[chan]
        return seg

    def freeze(self) -> Config:
        eps = tuple(sorted((k, e) for k, e in self.eps.items()
                           if not (e.core.st == "CLOSED" and e.core.fd == "closed")))
        net = tuple(sorted((k, tuple(v)) for k, v in self.net.items() if v))
        return Config(eps, net)


# --------------------------------------------------------------------------
# Facts the rules ask about
def _covers(wild: str, v6only: bool, ip: str) -> bool:
    """Whether the wildcard address ``wild`` takes in ``ip``: 0.0.0.0 every
    IPv4 address, :: every IPv6 address and, unless IPV6_V6ONLY, every IPv4
    one too (a dual-stack socket: IPv4 peers appear as ::ffff:a.b.c.d)."""
    if wild == "0.0.0.0":
        return ":" not in ip
    return ":" in ip or not v6only


def _overlap(a: str, b: str, a6only: bool = False, b6only: bool = False) -> bool:
    """Whether two local addresses meet (ipv4 inet_rcv_saddr_equal, ipv6_rcv_saddr_equal);
    ``a6only``/``b6only``: the holder of ``a``/``b`` set IPV6_V6ONLY."""
    return a == b or (a in WILDCARD and _covers(a, a6only, b)) or (b in WILDCARD and _covers(b, b6only, a))


def v6only(e: Ep) -> bool:
    return options.has(e.opts, "v6only")


def holds_port(e: Ep) -> bool:
    """Whether an endpoint keeps its local port from others: a socket bound
    by bind() or autobound while its descriptor is open, or any connection
    the kernel still holds (TIME_WAIT and orphans included)."""
    c = e.core
    if e.local is None:
        return False
    if c.fd == "open" and c.bound != "no":
        return True
    return c.st != "CLOSED" and not composition.is_request_sock(c)


def port_conflict(eps: dict, me: str, addr: Addr) -> bool:
    """Whether ``addr`` is held by another socket — or by the caller's own
    connection, when it lives on in TIME_WAIT apart from the descriptor —
    that does not share it (SO_REUSEADDR, SO_REUSEPORT: tcpconform.model.options.SHARING)."""
    mine = eps.get(me)
    my_opts = mine.opts if mine is not None else ()
    my6 = mine is not None and v6only(mine)
    for k, e in eps.items():
        if k == me and not composition.own_connection_holds_port(e.core):
            continue
        theirs = connection_opts(e) if k == me else e.opts
        if (holds_port(e) and e.local[1] == addr[1] and _overlap(e.local[0], addr[0], v6only(e), my6)
                and not options.shares(my_opts, theirs, e.core.st)):
            return True
    return False


TW_OPTS = "$time_wait"  # options.kept: the options a descriptor's connection in TIME_WAIT keeps


def connection_opts(e: Ep) -> tuple:
    """The options of the connection an endpoint denotes: a connection in TIME_WAIT
    keeps those its socket had when it entered it (tcp_time_wait copies sk_reuse
    into tw_reuse), whatever the descriptor sets afterwards."""
    kept = options.kept(e.opts, TW_OPTS)
    return kept if kept is not None else e.opts


def find_peer(eps: dict, e: Ep) -> Ep | None:
    if e.local is None or e.remote is None:
        return None
    for other in eps.values():
        if other.local == e.remote and other.remote == e.local and other is not e:
            return other
    # self-connect: the peer is the endpoint itself
    return e if e.local == e.remote else None


def outstanding(w: _Work, e: Ep) -> bool:
    if e.local is None or e.remote is None:
        return False
    for kind, n in w.net.get((e.local, e.remote), ()):
        if kind == "DATA" and n > 0:
            return True
    peer = find_peer(w.eps, e)
    return peer is not None and peer.core.rcvq > 0


def queue_full(w: _Work, e: Ep) -> bool:
    if e.core.st == "LISTEN":
        return len(e.queue) >= e.cap
    if e.parent is not None and e.parent in w.eps:
        p = w.eps[e.parent]
        return p.core.st == "LISTEN" and len(p.queue) >= p.cap
    return False


def demux(eps: dict, src: Addr, dst: Addr) -> str | None:
    """The socket a segment from ``src`` to ``dst`` reaches: a connection
    with that exact address pair, else a listener on the port, else none
    (tcp_ipv4.c __inet_lookup: established hash first, then listeners)."""
    found = demux_all(eps, src, dst)
    return found[0] if found else None


def demux_all(eps: dict, src: Addr, dst: Addr) -> list:
    """Every socket the segment may reach: the one connection with that
    address pair, else each listener on the port (several only with
    SO_REUSEPORT, which picks one by a hash of the addresses:
    inet_hashtables.c inet_lhash2_lookup → inet_lookup_reuseport)."""
    for k, e in eps.items():
        if e.local == dst and e.remote == src and e.core.st not in ("CLOSED", "LISTEN"):
            return [k]
    return [k for k, e in eps.items()
            if e.core.st == "LISTEN" and e.local is not None and e.local[1] == dst[1]
            and _overlap(e.local[0], dst[0], v6only(e))]


# --------------------------------------------------------------------------
# Unobserved steps: segment deliveries and timers
def internal_steps(cfg: Config, profile: str, timers: bool = True,
                   world: str = "closed", loss: bool = False,
                   cases: Sequence[Case] | None = None) -> Iterator[tuple[str, Config]]:
    """Every unobserved step from ``cfg``: the delivery of the segment at the
    head of any channel, (with ``loss``) its loss, (in an open world) what
    peers outside the trace may do, and (with ``timers``) any timer.
    ``cases``: the rule table (the model's unless another is given, a mutant)."""
    for chan, segs in cfg.net:
        yield from deliveries(cfg, chan, segs[0], profile, world, cases)
        if loss:
            yield f"lose {segs[0][0]} {format_addr(chan[0])}>{format_addr(chan[1])}", lose_head(cfg, chan)
    if world == "open":
        yield from _outside_actions(cfg)
    if not timers:
        return
    w0 = None
    clock = CLOCK.get()
    for key, e in cfg.eps:
        for timer in vocab.TIMERS:
            trigger = "timer:" + timer
            if not semantics.fires_in(trigger, profile, e.core.st, cases):
                continue
            if clock is not None and not clock.may_fire(key, timer):
                continue  # its time has not come
            w0 = w0 or _Work(cfg)
            for r in semantics.step(e.core, trigger, profile, {"q_full": queue_full(w0, e)}, cases=cases):
                w = _Work(cfg)
                _apply_endpoint_result(w, key, r, None, None, 0)
                yield Label.of(f"timer {timer} at {display(key)}", r.case, e.core.st, r.outcome, key), w.freeze()


def is_outside(eps: dict, addr: Addr) -> bool:
    """An address no endpoint of the configuration holds (open world: a peer
    the trace does not show may be there)."""
    for e in eps.values():
        if e.local is not None and (e.local == addr or (
                e.core.st == "LISTEN" and e.local[1] == addr[1] and _overlap(e.local[0], addr[0], v6only(e)))):
            return False
    return True


def lose_head(cfg: Config, chan: tuple) -> Config:
    """``cfg`` with the segment at the head of channel ``chan`` lost (it never arrives)."""
    w = _Work(cfg)
    w.pop(chan)
    return w.freeze()


def requeue_head(cfg: Config, chan: tuple) -> Config:
    """``cfg`` with the segment at the head of channel ``chan`` moved to its
    tail: dropped on the wire and retransmitted after what the sender sent since."""
    w = _Work(cfg)
    seg = w.net[chan][0]
    w.pop(chan)
    w.net.setdefault(chan, []).append(seg)
    return w.freeze()


def _outside_actions(cfg: Config) -> Iterator[tuple[str, Config]]:
    """Segments a peer outside the trace may send on its own (tcpconform.model.outside)."""
    w0 = _Work(cfg)
    for key, e in cfg.eps:
        kinds = outside.SPONTANEOUS.get(e.core.st, ())
        if not kinds or e.remote is None or not is_outside(w0.eps, e.remote):
            continue
        pending = {k for k, _n in w0.net.get((e.remote, e.local), ())}
        for kind in kinds:
            if kind in pending or (kind == "FIN" and (e.core.done or "FINACK" in pending)):
                continue
            if kind == "DATA" and (e.core.rcvq >= outside.UNBOUNDED // 2 or e.core.done):
                continue
            w = _Work(cfg)
            w.push(e.remote, e.local, kind, outside.UNBOUNDED if kind == "DATA" else 0)
            yield f"outside peer {format_addr(e.remote)} sends {kind}", w.freeze()
        if e.core.rcvq >= outside.UNBOUNDED // 2 and "DATA" not in pending:
            # what the outside peer sent was exactly what has been read so far
            w = _Work(cfg)
            w.eps[key] = e._replace(core=e.core._replace(rcvq=0))
            yield f"outside peer {format_addr(e.remote)}'s data ends", w.freeze()


def deliveries(cfg: Config, chan: tuple, seg: tuple, profile: str,
               world: str = "closed", cases: Sequence[Case] | None = None) -> Iterator[tuple[str, Config]]:
    """Every way the segment ``seg`` at the head of channel ``chan`` may be
    delivered (to the socket it reaches, or answered with a RST), with its label."""
    src, dst = chan
    kind, n = seg
    w0 = _Work(cfg)
    keys = demux_all(w0.eps, src, dst)
    key = keys[0] if keys else None
    label = f"deliver {kind}{'(' + str(n) + ')' if kind == 'DATA' else ''} {format_addr(src)}>{format_addr(dst)}"
    if key is None and world == "open" and is_outside(w0.eps, dst):
        for answer in outside.REPLIES[kind]:
            w = _Work(cfg)
            w.pop(chan)
            for reply in answer:
                w.push(dst, src, reply)
            yield label + f" (outside peer answers {','.join(answer) or 'nothing'})", w.freeze()
        return
    if key is None:
        w = _Work(cfg)
        w.pop(chan)
        if kind != "RST":
            w.push(dst, src, "RST")  # R9293 §3.10.7.1; tcp_v4_send_reset
        yield label + " (no socket)", w.freeze()
        # A listener whose port the trace never showed may be the one on this port: then the segment is its.
        for held in _unshown_listener_on(cfg, dst):
            yield from deliveries(held, chan, seg, profile, world, cases)
        return
    for k in keys:
        yield from _delivered_to(cfg, w0, k, chan, seg, label, profile, world, cases)


def _delivered_to(cfg: Config, w0: _Work, key: Any, chan: tuple, seg: tuple, label: str, profile: str,
                  world: str, cases: Sequence[Case] | None) -> Iterator[tuple[str, Config]]:
    src, dst = chan
    kind, n = seg
    e = w0.eps[key]
    params = {"seg": kind, "segn": n}
    for r in semantics.step(e.core, "seg", profile, {"q_full": queue_full(w0, e)}, params, cases):
        if "hold" in r.tags:
            continue
        w = _Work(cfg)
        w.pop(chan)
        _apply_endpoint_result(w, key, r, (dst, src), seg, n)
        if "redeliver" in r.tags:
            target = demux(w.eps, src, dst)
            if target is None:
                if kind != "RST":
                    w.push(dst, src, "RST")
            else:
                # the segment goes on to whatever matches now (a listener)
                w.net.setdefault(chan, []).insert(0, seg)
                for label2, c2 in deliveries(w.freeze(), chan, seg, profile, world, cases):
                    yield Label.of(label + " then " + label2, r.case, e.core.st, r.outcome, key), c2
                continue
        yield Label.of(label, r.case, e.core.st, r.outcome, key), w.freeze()


def _apply_endpoint_result(w: _Work, key: str, r: Result, reply: tuple | None,
                           seg: tuple | None, n: int) -> None:
    """Carry out a rule's outcome on endpoint ``key``: its field changes,
    the segments it sends and its composition actions."""
    e = w.eps[key]
    core = semantics.apply(e.core, r)
    e = e._replace(core=core)
    w.eps[key] = e
    src, dst = reply if reply is not None else (e.local, e.remote)
    for kind in r.emit:
        if src is None or dst is None:
            raise ModelError(f"{display(key)} sends {kind} with no address")
        w.push(src, dst, kind, n if kind == "DATA" else 0)
    for tag in r.tags:
        if tag == "spawn_req":
            local, remote = reply  # the SYN's destination and source
            req = Ep(core=composition.request_sock(e.core), local=local, remote=remote, parent=key,
                     opts=options.inherited(e.opts), fam=e.fam)
            rk = Unnamed(local, remote)
            w.eps[rk] = req
            w.push(local, remote, "SYNACK")
        elif tag == "enqueue":
            parent = w.eps.get(e.parent)
            if parent is None or parent.core.st != "LISTEN":
                raise ModelError(f"{display(key)} completes with no listener")
            w.eps[e.parent] = parent._replace(queue=parent.queue + (key,))
        elif tag == "destroy":
            del w.eps[key]
        elif tag == "reset_queue":
            _reset_queue(w, key)


def _reset_queue(w: _Work, key: str) -> None:
    lst = w.eps[key]
    for ck in lst.queue:
        child = w.eps.pop(ck, None)
        if child is not None and composition.reset_when_listener_stops(child.core):
            w.push(child.local, child.remote, "RST")  # inet_csk_listen_stop → tcp_disconnect
    for k in [k for k, e in w.eps.items() if e.parent == key and e.core.fd == "none"]:
        del w.eps[k]
    w.eps[key] = w.eps[key]._replace(queue=())


# --------------------------------------------------------------------------
# Calls
class AppliedCall(NamedTuple):
    """A result the rules allow for a call, with the configuration after it."""
    result: Result
    config: Config


def call_inputs(w: _Work, key: str, ev: Call) -> dict:
    e = w.eps[key]
    inputs = {
        "q_nonempty": bool(e.queue),
        "q_full": queue_full(w, e),
        "outstanding": outstanding(w, e),
        "conflict": False,
    }
    if ev.op == "bind" and ev.addr is not None and ev.addr[1] != 0:
        inputs["conflict"] = port_conflict(w.eps, key, ev.addr)
    elif ev.op == "listen" and e.core.bound == "explicit" and e.local is not None:
        # listen() asks for the socket's own port again, now as a listener's
        inputs["conflict"] = port_conflict(w.eps, key, e.local)
    return inputs


_GUARD_OPTS = frozenset(("SO_ERROR", "SO_ACCEPTCONN", "TCP_FASTOPEN", "IPV6_V6ONLY"))
# Which timeout bounds a blocking call's sleep (sock.c sock_rcvtimeo, sock_sndtimeo; accept reads the receive one).
_TIMEO = {"recv": "SO_RCVTIMEO", "accept": "SO_RCVTIMEO", "send": "SO_SNDTIMEO", "connect": "SO_SNDTIMEO"}


def call_params(ev: Call, with_n: bool, e: Ep | None = None) -> dict:
    """The parameters the rules' guards read for call ``ev`` (``e``: the
    endpoint it is made on, whose options may say more: SO_LINGER)."""
    p: dict[str, Any] = {"len": ev.length, "how": ev.how,
                         "linger0": bool(ev.linger0) or (e is not None and options.lingers_zero(e.opts)),
                         "port0": ev.op == "bind" and ev.addr is not None and ev.addr[1] == 0,
                         "last": True, "nonblock": False, "peek": False, "waits": False,
                         "opt": "other", "req": "FIONREAD", "badval": False, "timeo": False,
                         "fammatch": True, "intr": ev.ret == "EINTR"}
    if e is not None:
        if e.opts and ev.op in _TIMEO:
            p["timeo"] = bool(options.kept(e.opts, _TIMEO[ev.op]))
        if ev.addr is not None and ev.op in ("bind", "connect"):
            p["fammatch"] = e.fam != "inet" or ":" not in ev.addr[0]
    if ev.args:
        a = dict(ev.args)
        p["last"] = a.get("last", True)
        p["nonblock"] = bool(a.get("nonblock", False))
        p["peek"] = "PEEK" in a.get("flags", ())
        p["waits"] = a.get("timeout", 0) != 0
        opt = a.get("opt")
        p["opt"] = opt if opt in _GUARD_OPTS else "other"
        if ev.op == "setsockopt":
            p["badval"] = not options.valid(opt, a.get("value"))
        if ev.op in ("setsockopt", "getsockopt") and e is not None:
            p["fammatch"] = a.get("level") != "IPPROTO_IPV6" or e.fam == "inet6"
        p["req"] = a.get("req", "FIONREAD") if a.get("req") in ("FIONREAD", "SIOCOUTQ", "SIOCOUTQNSD") else "FIONREAD"
    if with_n:
        p["n"] = ev.n if ev.n is not None else (0 if ev.ret == "ok" and ev.op == "recv" else None)
    return p


def _socket_results(call: Call, profile: str, cases: Sequence[Case] | None) -> list[tuple[Result, Endpoint]]:
    """What the table lets ``socket()`` do: each result with the endpoint it
    makes (from the initial endpoint, blocking or not as the call asked)."""
    pre = semantics.INITIAL._replace(nb=bool(call.nonblock))
    return [(r, semantics.apply(pre, r)) for r in semantics.step(pre, "call:socket", profile, {}, {}, cases)]
_GONE = Ep(core=composition.gone())  # a name whose connection is gone


def possible_results(cfg: Config, call: Call, profile: str, cases: Sequence[Case] | None = None) -> list[Result]:
    """Every result the rules allow for the call's arguments on ``cfg``, whatever
    the trace says it returned (``WAIT``: the call blocks); for explaining a divergence."""
    if call.op == "socket":
        return [r for r, _ep in _socket_results(call, profile, cases)]
    found = []
    held = _listener_holds(cfg, call.sock, call.addr) if call.op == "bind" else []
    for c in (cfg, *held):
        w0 = _Work(c)
        key = call.sock
        if key not in w0.eps:
            w0.eps[key] = _GONE  # the descriptor was closed and the connection is gone
        found += [r for r in semantics.step(_core_for(w0.eps[key], call), "call:" + call.op, profile,
                                            call_inputs(w0, key, call), call_params(call, False, w0.eps[key]), cases)
                  if r not in found]
    return found


def apply_call(cfg: Config, call: Call, profile: str, world: str = "closed",
               timers: bool = True, cases: Sequence[Case] | None = None) -> list[AppliedCall]:
    """The outcomes of the call on ``cfg`` that agree with what the trace reports
    (its return, byte count and addresses), each with the configuration after it.
    A call that blocks returns after any run of unobserved steps (:func:`closure`;
    without ``timers``, deliveries only), as :func:`resume_call` says."""
    return _matching(cfg, call, profile, world, timers, resume=False, cases=cases)


def resume_call(cfg: Config, call: Call, profile: str, world: str = "closed",
                timers: bool = True, cases: Sequence[Case] | None = None) -> list[AppliedCall]:
    """The outcomes of a call that slept (:func:`sleeping`) and returns now, on
    ``cfg``, that agree with what the trace reports; it does not sleep again."""
    return _matching(cfg, call, profile, world, timers, resume=True, cases=cases)


def _matching(cfg: Config, call: Call, profile: str, world: str, timers: bool,
              resume: bool, cases: Sequence[Case] | None = None) -> list[AppliedCall]:
    if call.op == "socket":
        outs = []
        for r, ep in _socket_results(call, profile, cases):
            if r.ret == call.ret:
                w = _Work(cfg)
                w.eps[call.sock] = Ep(core=ep, fam=call.arg("family", "") if call.args else "")
                outs.append(AppliedCall(r, w.freeze()))
        return outs
    key = call.sock
    if world == "open" and call.op == "accept" and call.ret == vocab.OK:
        cfg = _outside_client(cfg, call) or cfg
    outs = _matching_here(cfg, call, profile, world, timers, resume, cases)
    if call.op == "bind" and call.ret == "EADDRINUSE":
        for held in _listener_holds(cfg, key, call.addr):
            outs += _matching_here(held, call, profile, world, timers, resume, cases)
    return outs


def _unshown_listener_on(cfg: Config, addr: Addr, other_than: Any = None) -> list[Config]:
    """The configurations in which a listener whose port the trace never
    showed (listen() picked it) is the one on ``addr``'s port, one per such
    listener (but ``other_than``); none where a socket holds that port as the
    trace showed.  A segment to the port reaches it (:func:`deliveries`); a
    bind to the port finds it held (:func:`_matching`).

    Known over-approximation: what the trace showed since the listen about
    that port being free (a bind to it that succeeded, a connect to it
    refused) is not kept, so the model may take such a listener to be on it
    afterwards, which Linux cannot do.  It never rejects what Linux does."""
    w0 = _Work(cfg)
    found = []
    for lk, e in w0.eps.items():
        if (lk != other_than and e.core.st == "LISTEN" and e.local is not None and is_symbolic(e.local[1])
                and _overlap(e.local[0], addr[0], v6only(e)) and not port_conflict(w0.eps, lk, addr)):
            w = _Work(cfg)
            w.eps[lk] = e._replace(local=(e.local[0], addr[1]))
            found.append(w.freeze())
    return found


def _listener_holds(cfg: Config, key: str, addr: Addr | None) -> list[Config]:
    """For a bind of ``key`` to a concrete port: :func:`_unshown_listener_on` it."""
    if addr is None or addr[1] == 0:
        return []
    return _unshown_listener_on(cfg, addr, other_than=key)


def _core_for(e: Ep, call: Call) -> Endpoint:
    """The endpoint as the call's rules see it: MSG_DONTWAIT makes this one
    call non-blocking (net/socket.c: flags & MSG_DONTWAIT, as O_NONBLOCK);
    the field changes of its result are applied to the endpoint as it is."""
    if call.args and "DONTWAIT" in call.arg("flags", ()):
        return e.core._replace(nb=True)
    return e.core


UNFINISHED = "unfinished"
_NOTHING = Result("unfinished", "unfinished", UNFINISHED, (), (), (), None)


def _matching_here(cfg: Config, call: Call, profile: str, world: str, timers: bool,
                   resume: bool, cases: Sequence[Case] | None = None) -> list[AppliedCall]:
    key = call.sock
    w0 = _Work(cfg)
    if key not in w0.eps:
        w0.eps[key] = _GONE  # the descriptor was closed and the connection is gone
    e = w0.eps[key]
    if call.args and "OOB" in call.arg("flags", ()):
        raise ModelError(f"line {call.line}: {call.op} with MSG_OOB: urgent data is not modelled")
    unfinished = call.ret == UNFINISHED
    if unfinished and call.op == "send" and call.n is None:
        call = _with_n(call, call.length)  # taken to have sent all it offered (or nothing: below)
    results = semantics.step(_core_for(e, call), "call:" + call.op, profile, call_inputs(w0, key, call),
                             call_params(call, not unfinished, e), cases)
    outs: list[AppliedCall] = [AppliedCall(_NOTHING, cfg)] if unfinished and not resume else []
    for r in results:
        if r.ret == vocab.WAIT:
            if resume:
                continue
            w = _Work(cfg)
            if key not in w.eps:
                continue
            after = _apply_call_result(w, key, r, call, final=False)
            if after is None:
                continue
            if unfinished:
                outs.append(AppliedCall(r, after))  # asleep when the trace ended
                continue
            for c2 in closure(after, profile, timers, world, cases=cases):
                outs.extend(_matching(c2, call, profile, world, timers, resume=True, cases=cases))
            continue
        if r.ret != call.ret and not unfinished:
            continue
        if r.value is not None and not unfinished and not value_ok(w0, e, r.value, call, profile):
            continue
        w = _Work(cfg)
        if key not in w.eps:
            w.eps[key] = w0.eps[key]
        after = _apply_call_result(w, key, r, call, final=not unfinished)
        if after is not None:
            outs.append(AppliedCall(r, after))
    return outs


def _with_n(call: Call, n: int | None) -> Call:
    return dataclasses.replace(call, n=n)


def value_ok(w: _Work, e: Ep, value: str, call: Call, profile: str) -> bool:
    """Whether what the call returned besides its errno is the ``value`` the
    rule says (tcpconform.model.table.VALUES), on endpoint ``e`` before the call."""
    a = dict(call.args)
    core = e.core
    if value == "err":
        return a.get("value") == (0 if core.err == "NONE" else core.err)
    if value == "listening":
        return a.get("value") == (1 if core.st == "LISTEN" else 0)
    if value == "nb":
        return "nonblock" not in a or a["nonblock"] == core.nb
    if value == "rcvq":
        return a.get("value") == core.rcvq
    if value == "zero":
        return a.get("value") == 0
    if value == "count":
        return isinstance(a.get("value"), int) and a["value"] >= 0
    if value == "option":
        name = a.get("opt")
        kept = options.kept(e.opts, name)
        return options.reads_back(name, kept, a.get("value"))
    if value == "sockname":
        return call.local is not None  # compared (and a port the trace had not shown learnt) as the call is applied
    if value == "peername":
        return call.peer is not None and e.remote is not None and normalize(tuple(call.peer)) == e.remote
    if value == "nval":
        return tuple(a.get("revents", ())) == ("NVAL",)
    if value == "poll":
        if a.get("forever_empty"):
            return False  # with no timeout, poll returns only when some descriptor is ready
        must, may = semantics.poll_events(core, {"q_nonempty": bool(e.queue), "outstanding": outstanding(w, e)})
        if a.get("select"):
            return _select_ok(must, may, a)
        asked = set(a.get("events", ())) | set(vocab.POLL_ALWAYS)
        got = set(a.get("revents", ()))
        if not got <= may & asked:
            return False
        return a.get("edge", False) or must & asked <= got
    raise ValueError(f"unknown value {value!r}")


def _select_ok(must: set, may: set, a: dict) -> bool:
    """A select() result: a socket is in a set when some event of that set's
    class is reported (:data:`vocab.SELECT_SETS`); it must be there when one
    must be, and may be only when one may be."""
    got = set(a.get("revents", ()))
    for wanted in a.get("events", ()):
        cls = set(vocab.SELECT_SETS.get(wanted, ()))
        if wanted in got and not cls & may:
            return False
        if wanted not in got and cls & must and not a.get("edge", False):
            return False
    return True


def sleeping(cfg: Config, call: Call, profile: str, cases: Sequence[Case] | None = None) -> list[AppliedCall]:
    """A blocking call's first half: one per result in which it goes to sleep,
    with the configuration right after (a connect's SYN sent)."""
    if call.sock not in dict(cfg.eps):
        return []
    outs = []
    for r in possible_results(cfg, call, profile, cases):
        if r.ret == vocab.WAIT:
            after = _apply_call_result(_Work(cfg), call.sock, r, call, final=False)
            if after is not None:
                outs.append(AppliedCall(r, after))
    return outs


def _outside_client(cfg: Config, ev: Call) -> Config | None:
    """Open world: a client the trace does not show connected to the listener;
    its connection waits at the head of the accept queue."""
    w = _Work(cfg)
    lst = w.eps.get(ev.sock)
    if lst is None or lst.core.st != "LISTEN" or ev.peer is None or ev.local is None:
        return None
    peer, local = tuple(ev.peer), tuple(ev.local)
    if not is_outside(w.eps, peer) or (lst.queue and w.eps[lst.queue[0]].remote == peer):
        return None
    ck = Unnamed(local, peer)
    w.eps[ck] = Ep(core=composition.outside_child(lst.core),
                   local=local, remote=peer, parent=ev.sock, opts=options.inherited(lst.opts), fam=lst.fam)
    w.eps[ev.sock] = lst._replace(queue=(ck,) + lst.queue)
    return w.freeze()


def _apply_call_result(w: _Work, key: str, r: Result, ev: Call, final: bool) -> Config | None:
    """Carry out one result of a call on endpoint ``key``; None when the trace's
    reported fields (addresses, ports) contradict it."""
    e = w.eps[key]
    pre = e.core
    e = e._replace(core=semantics.apply(pre, r))
    behind = composition.left_behind(pre, r.tags)
    if behind is not None and e.local and e.remote:
        # the former connection stays, nameless, under its address pair
        w.eps[Unnamed(e.local, e.remote)] = Ep(core=behind, local=e.local, remote=e.remote, opts=connection_opts(e),
                                               fam=e.fam)
        e = e._replace(opts=tuple((n, v) for n, v in e.opts if n != TW_OPTS))
        e = e._replace(core=composition.without_connection(e.core), remote=None)
    wire = (e.local, e.remote)  # where its segments go (a disconnect's RST: to the peer it had)
    if e.core.ss == "UNCONNECTED" and pre.ss != "UNCONNECTED" and e.core.st == "CLOSED":
        e = e._replace(remote=None)  # disconnected: the socket has no peer any more
    for tag in r.tags:
        if tag == "set_local":
            if not _bind_local_ok(w, key, ev):
                return None
            e = e._replace(local=tuple(ev.local))
        elif tag == "autobind":
            if ev.op == "listen":
                if pre.bound == "no":
                    e = e._replace(local=("::" if e.fam == "inet6" else "0.0.0.0", symbolic_port(key)))
            else:  # connect
                local = e.local
                seen = tuple(ev.local) if ev.local is not None and ev.ret in (vocab.OK, "EINPROGRESS") else None
                if pre.bound == "no":
                    local = seen or (loopback_like(ev.addr[0]), symbolic_port(key))
                elif seen is not None:
                    if local is not None and local[1] != seen[1] and not is_symbolic(local[1]):
                        return None  # a bound socket connects from its own port (once the trace showed it)
                    local = seen
                elif local is not None and local[0] in WILDCARD:
                    local = (loopback_like(local[0]), local[1])
                e = e._replace(local=local)
        elif tag == "set_remote":
            e = e._replace(remote=normalize(tuple(ev.addr)))
        elif tag == "set_backlog":
            e = e._replace(cap=rules.accept_queue_capacity(ev.backlog))
        elif tag == "set_option":
            opts = e.opts
            if pre.st == "TIME_WAIT" and options.kept(opts, TW_OPTS) is None:
                opts = opts + ((TW_OPTS, opts),)  # the connection keeps what it had
            elif pre.st != "TIME_WAIT":
                opts = tuple((n, v) for n, v in opts if n != TW_OPTS)  # that connection is gone
            e = e._replace(opts=options.with_option(opts, ev.arg("opt"), ev.arg("value")))
    if ev.op == "close" and ev.linger0:
        # "linger0": SO_LINGER {1, 0} was set first; a socket another descriptor keeps open keeps it
        e = e._replace(opts=options.with_option(e.opts, "SO_LINGER", (1, 0)))
    if r.value == "sockname" and final:
        seen = tuple(ev.local)
        wild = ("::" if e.fam == "inet6" else "0.0.0.0", 0)
        if e.local is None:
            if seen != wild:
                return None
        elif seen[0] != e.local[0] and e.local[0] not in WILDCARD and seen[0] not in WILDCARD:
            return None
        elif is_symbolic(e.local[1]):
            e = e._replace(local=seen)  # a port first seen now
        elif seen[1] != e.local[1]:
            return None
        # INTERP: the address part is not followed exactly: a socket disconnected (AF_UNSPEC) shows
        # 0.0.0.0 unless bind() locked its address (tcp_disconnect → inet_reset_saddr), a wildcard
        # bound socket shows it; a wildcard on either side is taken to match
    if ev.op == "connect" and final and ev.ret in (vocab.OK, "EINPROGRESS") and ev.local is not None \
            and e.local is not None and tuple(ev.local) != e.local:
        if is_symbolic(e.local[1]):  # a port first seen now
            e = e._replace(local=tuple(ev.local))
        else:
            return None
    if "set_remote" in r.tags and e.local is not None and e.remote is not None:
        # a connect from a port bound over a TIME_WAIT with the same address pair takes it over
        # (inet_hashtables.c __inet_check_established → tcp_twsk_unique) [E] evidence/kernel-repro/v2 F3
        for k, other in list(w.eps.items()):
            if (k != key and other.core.st == "TIME_WAIT" and other.core.fd != "open"
                    and other.local == e.local and other.remote == e.remote):
                if is_named(k):
                    w.eps[k] = other._replace(core=other.core._replace(st="CLOSED"))
                else:
                    del w.eps[k]
    w.eps[key] = e
    src, dst = (e.local, e.remote) if e.remote is not None else wire
    for kind in r.emit:
        if src is None or dst is None:
            return None
        if kind == "DATA" and not ev.n:
            continue  # a zero-byte send queues nothing and sends no segment (tcp_sendmsg_locked)
        w.push(src, dst, kind, ev.n if kind == "DATA" else 0)
    for tag in r.tags:
        if tag == "dequeue":
            if not _dequeue(w, key, ev):
                return None
        elif tag == "reset_queue":
            _reset_queue(w, key)
    return w.freeze()


def _bind_local_ok(w: _Work, key: str, ev) -> bool:
    ip, port = ev.addr
    lip, lport = ev.local
    if lip != ip:
        return False
    if port != 0:
        return lport == port
    return lport != 0 and not port_conflict(w.eps, key, (lip, lport))


def _dequeue(w: _Work, key: str, ev) -> bool:
    lst = w.eps[key]
    ck = lst.queue[0]
    child = w.eps[ck]
    if (ev.peer is not None and child.remote is not None and tuple(ev.peer) != child.remote
            and is_symbolic(child.remote[1]) and _overlap(child.remote[0], ev.peer[0])):
        # the client's port, which its connect() did not show (version 2 lets a recorder
        # leave it out), is the peer port accept() shows
        _learn_port(w, child.remote[1], ev.peer[1])
        lst, ck = w.eps[key], w.eps[key].queue[0]
        child = w.eps[ck]
    del w.eps[ck]
    if ev.peer is not None and tuple(ev.peer) != child.remote:
        return False
    if ev.local is not None and tuple(ev.local) != child.local:
        return False
    w.eps[key] = lst._replace(queue=lst.queue[1:])
    core = composition.accepted(child.core)
    if ev.args and ev.arg("nonblock"):
        core = core._replace(nb=True)  # accept4(SOCK_NONBLOCK): the new file is non-blocking
    w.eps[ev.new] = child._replace(core=core, parent=None)
    return True


def _learn_port(w: _Work, symbolic: int, port: int) -> None:
    """Put ``port`` wherever the stand-in port ``symbolic`` appears in ``w``: a port
    the trace shows now that it did not show before."""
    def a(addr):
        return (addr[0], port) if addr is not None and addr[1] == symbolic else addr

    def k(key):
        return Unnamed(a(key.local), a(key.remote)) if type(key) is Unnamed else key
    w.eps = {k(key): e._replace(local=a(e.local), remote=a(e.remote), queue=tuple(k(q) for q in e.queue),
                                parent=k(e.parent) if e.parent is not None else None)
             for key, e in w.eps.items()}
    w.net = {(a(src), a(dst)): segs for (src, dst), segs in w.net.items()}


# --------------------------------------------------------------------------
# What a state event sees
def observe(cfg: Config, name: str, profile: str) -> frozenset:
    """The states a `state` event may report for ``name``: while the
    descriptor is open, what TCP_INFO says; once closed, the connection's
    state as sock_diag lists it; CLOSED when it is gone
    (:func:`tcpconform.model.composition.observed`)."""
    for k, e in cfg.eps:
        if k == name:
            return composition.observed(e.core.st, e.core.fd, profile)
    return composition.GONE


# --------------------------------------------------------------------------
# Closure under unobserved steps
CLOSURE_LIMIT = 200_000
_CLOSURE_CACHE: dict = {}
_CACHE_MAX = 50_000
_CACHE_CONFIGS = 200_000  # configurations held by all entries together (an open world's closures are large)
_cache_configs = 0
_CACHED_TABLES: dict[int, Sequence[Case]] = {}  # id -> a table other than the model's with closures kept


def _table_key(cases: Sequence[Case] | None):
    """The part of a closure's cache key that says which table it was made
    with: None for the model's own, else the table's id, the table kept alive
    as long as closures made with it are kept (so no other table can have
    its id meanwhile)."""
    if cases is None or cases is rules.CASES:
        return None
    _CACHED_TABLES[id(cases)] = cases
    return id(cases)


def closure(cfg: Config, profile: str, timers: bool = True, world: str = "closed",
            loss: bool = False, cases: Sequence[Case] | None = None) -> frozenset:
    """Every configuration reachable from ``cfg`` by unobserved steps
    (``cfg`` itself included); without ``timers``, by deliveries only.
    ``cases``: the rule table (the model's unless another is given); the
    closures kept are kept per table (:func:`_table_key`)."""
    clock = CLOCK.get() if timers else None
    ck = (cfg, profile, timers, world, loss, _table_key(cases),
          None if clock is None else clock.key())
    hit = _CLOSURE_CACHE.get(ck)
    if hit is not None:
        return hit
    seen = {cfg}
    todo = [cfg]
    while todo:
        c = todo.pop()
        for _label, c2 in internal_steps(c, profile, timers, world, loss, cases):
            if c2 not in seen:
                seen.add(c2)
                todo.append(c2)
                if len(seen) > CLOSURE_LIMIT:
                    raise SearchBound("closure", CLOSURE_LIMIT,
                                      f"more than {CLOSURE_LIMIT} configurations reachable without an observation")
                made_one()
    result = frozenset(seen)
    global _cache_configs
    if len(_CLOSURE_CACHE) > _CACHE_MAX or _cache_configs > _CACHE_CONFIGS:
        _CLOSURE_CACHE.clear()
        _CACHED_TABLES.clear()
        _cache_configs = 0
    _CLOSURE_CACHE[ck] = result
    _cache_configs += len(result)
    return result


def clear_caches() -> None:
    """Forget every closure kept (any table's)."""
    global _cache_configs
    _CLOSURE_CACHE.clear()
    _CACHED_TABLES.clear()
    _cache_configs = 0


# --------------------------------------------------------------------------
def display(key: str | Unnamed) -> str:
    """A key as text: the name, or ``(ip:port>ip:port)`` for an unnamed one."""
    if is_named(key):
        return key
    (lip, lport), (rip, rport) = key
    return f"({lip}:{lport}>{rip}:{rport})"


def describe(cfg: Config) -> list[str]:
    lines = []
    for k, e in cfg.eps:
        c = e.core
        lines.append(f"{display(k)}: {c.st} ss={c.ss} fd={c.fd} rcvq={c.rcvq} err={c.err}"
                     f" {format_addr(e.local) if e.local else '-'} > {format_addr(e.remote) if e.remote else '-'}"
                     + (f" queue={len(e.queue)}/{e.cap}" if c.st == 'LISTEN' else ""))
    for (src, dst), segs in cfg.net:
        lines.append(f"  {format_addr(src)} > {format_addr(dst)}: " + " ".join(k if k != "DATA" else f"DATA({n})" for k, n in segs))
    return lines


def named_keys(cfg: Config) -> Iterable[str]:
    return (k for k, _ in cfg.eps if is_named(k))
