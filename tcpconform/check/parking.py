"""Parked connections: parts of the frontier kept apart while no event meets them.

A connection (an endpoint and its peer, with the segments between them)
that no other socket refers to, and whose possible states combine freely
with the rest of the frontier, can be *parked*: kept apart with its own set
of states, and joined back when an event names it or may meet it (its name;
its addresses or ports in a bind, connect or accept).  So the work per event
follows the sockets that are active, not the length of the trace.

This module holds what both the plain and the memoised engine park with:
which connections of a configuration can be parked (:func:`parkable`), how
a configuration is split around one and joined back (:func:`split`,
:func:`join`), and the index that finds parked connections again from an
event (:class:`ParkedIndex`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tcpconform.model import system
from tcpconform.model.system import Config

__all__ = ["Parked", "ParkedIndex", "parkable", "split", "join", "own_ports"]


class Parked(NamedTuple):
    """A parked connection as the index knows it: every key its endpoints have
    (in any of its states) and its two addresses."""
    names: frozenset
    pair: frozenset


class ParkedIndex:
    """Where parked connections are found again: each entry (any hashable
    handle, e.g. the :class:`Parked` itself) is indexed by its names, its
    address pair, each of the two addresses and their ports."""

    def __init__(self) -> None:
        self.of_pair: dict[frozenset, Any] = {}
        self.by_name: dict[str, set] = {}
        self.by_addr: dict[tuple, set] = {}
        self.by_port: dict[int, set] = {}

    def add(self, handle, parked: Parked) -> None:
        names, pair = parked
        self.of_pair[pair] = handle
        for name in names:
            self.by_name.setdefault(name, set()).add(handle)
        for a in pair:
            self.by_addr.setdefault(a, set()).add(handle)
            self.by_port.setdefault(a[1], set()).add(handle)

    def remove(self, handle, parked: Parked) -> None:
        names, pair = parked
        if self.of_pair.get(pair) == handle:
            del self.of_pair[pair]
        for index, keys in ((self.by_name, names), (self.by_addr, pair), (self.by_port, {a[1] for a in pair})):
            for k in keys:
                index[k].discard(handle)
                if not index[k]:
                    del index[k]

    def met_by(self, ev, ports: set | frozenset = frozenset()) -> set:
        """The handles of the parked connections an event may meet: its names;
        the address pair of a connect or accept (or, for a connect from an
        unknown port, the address it connects to); the ports a bind may find
        held, and ``ports`` (for a listen, the socket's own: :func:`own_ports`)."""
        names = {ev.sock}
        pairs: set = set()     # exact address pairs the event may touch
        addrs: set = set()     # an address whose partner the event does not tell
        ports = set(ports)     # ports a bind or listen may find held
        if hasattr(ev, "op"):
            if ev.new:
                names.add(ev.new)
            if ev.op == "bind":
                ports |= {a[1] for a in (ev.addr, ev.local) if a is not None and a[1]}
            elif ev.op == "connect" and ev.addr is not None:
                target = system.normalize(tuple(ev.addr))
                if ev.local is not None:
                    pairs.add(frozenset((tuple(ev.local), target)))
                else:
                    addrs.add(target)
            elif ev.op == "accept" and ev.local is not None and ev.peer is not None:
                pairs.add(frozenset((tuple(ev.local), tuple(ev.peer))))
        met = set()
        for name in names:
            met.update(self.by_name.get(name, ()))
        for pair in pairs:
            if pair in self.of_pair:
                met.add(self.of_pair[pair])
        for a in addrs:
            met.update(self.by_addr.get(a, ()))
        for p in ports:
            met.update(self.by_port.get(p, ()))
        return met


def own_ports(configs, name, ev) -> frozenset:
    """For a listen event, the local ports ``name`` has in ``configs``: listen()
    asks for the socket's own port again, and a connection it left behind may
    hold it (nothing for another event)."""
    if getattr(ev, "op", None) != "listen":
        return frozenset()
    return frozenset(e.local[1] for c in configs for k, e in c.eps
                     if k == name and e.local is not None and e.local[1])


def parkable(cfg: Config) -> list[Parked]:
    """Connections of ``cfg`` that could be parked: the endpoints sharing an
    address pair (a connection and its peer), when nothing of them can reach a
    listener: none is a request sock or a queued child (they belong to their
    listener), none is SYN_SENT and no SYN is in flight between them.  Any
    other segment they exchange reaches one of them, or gets a RST whether or
    not a listener has the address."""
    groups: dict[frozenset, list] = {}
    tied: set = set()
    for k, e in cfg.eps:
        if e.local is None or e.remote is None:
            continue
        pair = frozenset((e.local, e.remote))
        groups.setdefault(pair, []).append(k)
        if e.parent is not None or e.core.st in ("SYN_SENT", "LISTEN"):
            tied.add(pair)
    for chan, segs in cfg.net:
        if any(kind == "SYN" for kind, _n in segs):
            tied.add(frozenset(chan))  # a SYN in flight may reach a listener
    return [Parked(frozenset(ks), pair) for pair, ks in groups.items() if pair not in tied]


def split(cfg: Config, parked: Parked) -> tuple[Config, Config]:
    """``cfg`` as (the rest, the connection ``parked``: its endpoints and channels)."""
    pair = parked.pair
    inside = {k for k, e in cfg.eps
              if e.local is not None and e.remote is not None and frozenset((e.local, e.remote)) == pair}
    part = Config(tuple((k, e) for k, e in cfg.eps if k in inside),
                  tuple((ch, segs) for ch, segs in cfg.net if frozenset(ch) == pair))
    rest = Config(tuple((k, e) for k, e in cfg.eps if k not in inside),
                  tuple((ch, segs) for ch, segs in cfg.net if frozenset(ch) != pair))
    return rest, part


def join(cfg: Config, part: Config) -> Config:
    """One configuration of ``cfg`` and a parked connection's ``part``."""
    return Config(tuple(sorted(cfg.eps + part.eps)), tuple(sorted(cfg.net + part.net)))
