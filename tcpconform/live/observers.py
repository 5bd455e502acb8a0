"""The recorder's optional observers: packets on ``lo`` and the state-change tracepoint.

:class:`Observers` is opened by a :class:`~tcpconform.live.recorder.Recorder`
inside the scenario's fresh network namespace, from an :class:`ObserverSpec`
that ``conform run`` prepares for each worker (:func:`worker_specs`).  It
writes, as the trace's first event, which observers are on and why the
others are off::

    {"ev": "x-observers", "packets": true, "states": false,
     "off": {"states": "not root (...)"}}

and after each call, :meth:`Observers.drain` turns what was seen since into
``x-state`` and ``x-packet`` events (see ``docs/extensions.md``).

Both observers need the run to be in a network namespace of its own (on a
shared ``lo`` other programs' packets and ports would be mixed in).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from tcpconform.check.trace import parse_addr
from tcpconform.live import netns, packets, tracepoint

__all__ = ["Observers", "ObserverSpec", "worker_specs"]


@dataclass(frozen=True)
class ObserverSpec:
    """What one worker's recordings may observe, and why not what they may not."""

    packets: bool = True                 # capture the packets on lo
    packets_off: str | None = None       # why not, when ``packets`` is false
    instance: str | None = None          # the worker's tracefs instance (None: no state observer)
    ports: tuple[int, int] | None = None  # the worker's port slot (the instance's filter)
    off: str | None = None               # why there is no instance


@contextlib.contextmanager
def worker_specs(workers: int, wanted: bool, isolation: str) -> Iterator[tuple[list[ObserverSpec], str | None]]:
    """One spec per worker, and why the state observer is off for the whole run (None: on
    where permitted).  ``wanted`` false (``--observers off``) or ``isolation`` ``none``
    turn both observers off.  The tracefs instances live as long as the block
    (removed on exit, interrupts included)."""
    why = "--observers off" if not wanted else (
        "--isolation none (the observers need the run's own namespaces)" if isolation == "none" else None)
    with tracepoint.Session(workers, enabled=why is None) as session:
        specs = []
        for k in range(workers):
            instance = session.for_worker(k)
            specs.append(ObserverSpec(packets=why is None, packets_off=why, instance=instance["instance"],
                                      ports=tuple(instance["ports"]) if instance["ports"] else None,
                                      off=why if why is not None else instance["off"]))
        yield specs, why or session.off


class Observers:
    """Open observers for one recording; ``k`` is its number within its worker (which
    picks its window of the worker's port slot)."""

    def __init__(self, spec: ObserverSpec, k: int = 0) -> None:
        self.capture: packets.Capture | None = None
        self.reader: tracepoint.Reader | None = None
        self.window: tuple[int, int] | None = None
        self.off: dict[str, str] = {}
        own = netns.in_own_namespace()
        if not spec.packets:
            self.off["packets"] = spec.packets_off or "not asked for"
        elif not own:
            self.off["packets"] = "no network namespace of its own (lo is shared with the host)"
        else:
            try:
                self.capture = packets.Capture()
            except OSError as e:
                self.off["packets"] = f"AF_PACKET on lo: {e.strerror or e}"
        if spec.instance is None:
            self.off["states"] = spec.off or "no tracefs instance"
        elif not own:
            self.off["states"] = "no network namespace of its own (ports cannot be told apart)"
        else:
            try:
                self.window = tracepoint.window(spec.ports, k)
                tracepoint.set_port_range(*self.window)
                self.reader = tracepoint.Reader(spec.instance)
                self.reader.drain()  # what earlier scenarios of this worker left: not ours
            except OSError as e:
                self.off["states"] = f"tracefs: {e.strerror or e}"
                self.close_reader()

    def header_event(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"ev": "x-observers", "packets": self.capture is not None,
                              "states": self.reader is not None}
        if self.off:
            ev["off"] = dict(self.off)
        return ev

    def drain(self, name_of: Callable[[tracepoint.StateChange], str | None]) -> list[dict[str, Any]]:
        """``x-state`` events (named by ``name_of``) then ``x-packet`` events seen since the last drain."""
        out: list[dict[str, Any]] = []
        if self.reader is not None:
            for ch in self.reader.drain():
                if not self._ours(ch):
                    continue
                ev: dict[str, Any] = {"ev": "x-state"}
                name = name_of(ch)
                if name is not None:
                    ev["sock"] = name
                ev.update({"local": ch.local, "remote": ch.remote, "from": ch.old, "to": ch.new})
                out.append(ev)
        if self.capture is not None:
            out.extend(seg.event() for seg in self.capture.drain())
            lost = self.capture.dropped()
            if lost:  # the capture is no longer complete: say so (the checker stops checking it)
                out.append({"ev": "x-packet-drops", "n": lost})
        return out

    def _ours(self, ch: tracepoint.StateChange) -> bool:
        """Whether one of the change's ports lies in this scenario's window (the instance's
        filter admits the worker's whole slot: older scenarios' namespaces included)."""
        lo, hi = self.window or (0, -1)
        ports = (parse_addr(ch.local)[1], parse_addr(ch.remote)[1])
        return any(lo <= p <= hi for p in ports)

    def close_reader(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def close(self) -> None:
        self.close_reader()
        if self.capture is not None:
            self.capture.close()
            self.capture = None
