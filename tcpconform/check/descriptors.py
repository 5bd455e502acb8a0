"""From a version-2 trace's calls to the calls the model speaks: descriptors, and calls renamed.

In version 2 a name denotes a *descriptor*; ``dup`` (and inheritance across
``fork``) makes two descriptors of one socket.  The model holds sockets, so
this module, which follows the trace's descriptors exactly (nothing about
them is uncertain), names each socket after its first descriptor and
rewrites every event onto it:

* a call through any open descriptor of a socket is a call on the socket;
* a call through a closed descriptor of a socket that other descriptors
  still hold is made on a name the model does not know, so the rules for a
  closed descriptor answer it (EBADF; POLLNVAL);
* ``close`` of a descriptor that is not the socket's last is a ``close``
  with ``last`` false (the rules: nothing else happens);
* a ``state`` event through any descriptor names the socket's connection.

It also gives the model's names to calls the format spells otherwise
(:data:`tcpconform.model.vocab.CALLS_V2`): ``fcntl(F_SETFL)`` and
``ioctl(FIONBIO)`` are ``setnb``, ``fcntl(F_GETFL)`` is ``getnb``,
``connect`` to ``AF_UNSPEC`` is ``disconnect``, and a ``poll`` of several
descriptors is one ``poll`` per descriptor, each with its own events asked
and returned, checked one after the other at the same line.

Known over-approximation: a poll's descriptors are checked one by one, so
unobserved steps may come between two of them; the model may thus explain
a poll whose results no single instant gives.

Pure: a generator over events, no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Iterator

from tcpconform.model.events import Call, State

# Calls the model reads as they are while no socket has two descriptors.
_AS_THEY_ARE = frozenset({"bind", "listen", "send", "recv", "shutdown", "setsockopt", "getsockopt",
                          "getsockname", "getpeername"})
CLOSED_SUFFIX = " (closed)"  # a closed descriptor of a socket another descriptor holds


def for_model(header, events: Iterable) -> Iterable:
    """The events of a trace as the model reads them (version 1: as they are)."""
    if getattr(header, "version", 1) == 1:
        return events
    return Descriptors().rewrite(events)


class Descriptors:
    """The trace's descriptors: which socket each names, which are open."""

    def __init__(self) -> None:
        self.socket_of: dict[str, str] = {}     # descriptor name -> socket (its first descriptor's name)
        self.open: dict[str, set[str]] = {}     # socket -> names of its open descriptors
        self.closed_as: dict[str, str] = {}     # closed descriptor -> the name the model knows it by
        self.shared = False                     # some socket has had two descriptors (a dup)

    def key_of(self, name: str) -> str:
        """Where a call through ``name`` goes in the model."""
        sock = self.socket_of.get(name, name)
        held = self.open.get(sock)
        if held is not None and name not in held and held:
            # closed, while another descriptor keeps the socket: a name no descriptor has
            alias = self.closed_as.get(name)
            if alias is None:
                alias = name + CLOSED_SUFFIX
                while alias in self.socket_of:
                    alias += "'"
                self.closed_as[name] = alias
            return alias
        return sock

    def _introduce(self, name: str, sock: str | None = None) -> None:
        sock = sock or name
        self.socket_of[name] = sock
        self.open.setdefault(sock, set()).add(name)

    def rewrite(self, events: Iterable) -> Iterator:
        for ev in events:
            t = type(ev)
            if t is State:
                sock = self.socket_of.get(ev.sock, ev.sock)
                yield ev if sock == ev.sock else dataclasses.replace(ev, sock=sock)
            elif t is Call:
                if ev.op == "poll":
                    yield from self._poll(ev)
                else:
                    yield self._call(ev)
            elif isinstance(getattr(ev, "data", None), dict) and ev.data.get("sock") in self.socket_of:
                # an observation (x-state, x-packet) named after a descriptor: its socket's
                sock = self.socket_of[ev.data["sock"]]
                yield ev if sock == ev.data["sock"] else dataclasses.replace(ev, data={**ev.data, "sock": sock})
            else:
                yield ev

    def _call(self, ev: Call) -> Call:
        """The model's call for a trace's call (not a poll)."""
        op, ok = ev.op, ev.ret == "ok"
        if not self.shared and op in _AS_THEY_ARE:
            return ev  # one descriptor per socket so far: a name is its socket
        if op == "socket":
            if ok:
                self._introduce(ev.sock)
            return ev
        key = self.key_of(ev.sock)
        args = ev.args
        new = ev.new
        if op == "fcntl" or (op == "ioctl" and ev.arg("req") == "FIONBIO"):
            if op == "ioctl":
                args = (("nonblock", ev.arg("value") != 0),)
                op = "setnb"
            else:
                op = "setnb" if ev.arg("cmd") == "F_SETFL" else "getnb"
                args = tuple((k, v) for k, v in args if k == "nonblock")
        elif op == "connect" and ev.arg("unspec"):
            op, args = "disconnect", ()
        elif op == "dup":
            new = None
            self.shared = True
            if ok and key not in self.closed_as.values():
                self._introduce(ev.new, key)
        elif op == "accept" and ok:
            self._introduce(ev.new)
        elif op == "close" and key not in self.closed_as.values():
            held = self.open.get(key, set())
            if ev.sock in held:
                held.discard(ev.sock)
                if held:
                    args = tuple(sorted(args + (("last", False),)))
        if key == ev.sock and op == ev.op and args is ev.args and new == ev.new:
            return ev  # the common case: nothing to rename
        return dataclasses.replace(ev, sock=key, op=op, args=args, new=new)

    def _poll(self, ev: Call) -> Iterator[Call]:
        """One model ``poll`` per descriptor (a poll interrupted or unfinished: one, on the first)."""
        socks = ev.arg("socks")
        base = {"edge": ev.arg("edge"), "timeout": ev.arg("timeout")}
        if ev.arg("select"):
            base["select"] = True
        if ev.ret != "ok":
            name, events = socks[0]
            yield dataclasses.replace(ev, sock=self.key_of(name),
                                      args=tuple(sorted({**base, "events": events}.items())))
            return
        ready = dict(ev.arg("ready", ()))
        forever_empty = ev.arg("timeout") == -1 and not ready
        for name, events in socks:
            args = {**base, "events": events, "revents": ready.get(name, ())}
            if forever_empty:
                args["forever_empty"] = True
            yield dataclasses.replace(ev, sock=self.key_of(name), args=tuple(sorted(args.items())))
