"""The kernel's ``sock:inet_sock_set_state`` tracepoint, through a tracefs instance of our own.

The tracepoint fires on every state change of a full TCP socket, in every
network namespace of the machine; it says nothing about namespaces.  So a
run is told apart from everything else by its **ports**:

* the coordinating process takes, for each worker, an exclusive *slot* of
  :data:`SLOT_PORTS` ports (a Unix socket bound to the abstract name
  ``tcp-conform-slot-N``, held for the run and released by the kernel when
  the process ends, so nothing is left on disk; another concurrent
  ``conform run`` takes other slots);
* each scenario's fresh namespace gets its own *window* of the worker's slot
  as ``net.ipv4.ip_local_port_range`` (a per-namespace sysctl), rotating over
  :data:`WINDOWS` windows, so every port of the scenario's sockets lies in it
  (the recorder only uses ports the kernel picks);
* a tracefs instance per worker, ``/sys/kernel/tracing/instances/tcp-conform-PID-K``
  (the global buffer and other tracers are untouched), with the event filter
  ``protocol == IPPROTO_TCP`` and one port of the segment's pair in the slot.

What is not exact, and where: a process outside ``conform run`` that uses a
port inside our slots (the slots lie in 10000-30479, below Linux's default
ephemeral range 32768-60999), or a socket of an earlier scenario of the
same worker still alive in its old namespace when its window comes round
again (:data:`WINDOWS` scenarios later) with the very same port pair as a
socket of the current one.  The recorder names an event only when its
address pair is one of its own sockets' (:mod:`tcpconform.live.recorder`), so
anything else becomes an unnamed ``x-state`` event, which the checker does
not check.

The instances are made and removed by the coordinating process
(:class:`Session`, a context manager: removed on exit, on SIGINT/SIGTERM
through ``conform run``'s interrupt clean-up, and, should a run have been
killed, by the next run: an instance whose PID is gone is removed).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

from tcpconform.check.trace import format_addr
from tcpconform.live.netns import libc, unshare  # libc through ctypes (Python 3.11 has no os.unshare)

__all__ = ["Session", "Watch", "Reader", "StateChange", "parse_line", "available", "leftovers",
           "KERNEL_STATES", "set_port_range", "TRACEFS", "mount_private"]

TRACEFS = "/sys/kernel/tracing"
EVENT = "events/sock/inet_sock_set_state"
PREFIX = "tcp-conform-"
SLOT_NAME = "\0tcp-conform-slot-{}"   # abstract Unix socket names (no file)
PORT_BASE = 10000
SLOT_PORTS = 1024
SLOTS = 20
WINDOWS = 16
WINDOW_PORTS = SLOT_PORTS // WINDOWS

# the tracepoint's state names -> the trace format's spelling (include/net/tcp_states.h)
KERNEL_STATES = {
    "TCP_ESTABLISHED": "ESTABLISHED", "TCP_SYN_SENT": "SYN_SENT", "TCP_SYN_RECV": "SYN_RECEIVED",
    "TCP_FIN_WAIT1": "FIN_WAIT_1", "TCP_FIN_WAIT2": "FIN_WAIT_2", "TCP_TIME_WAIT": "TIME_WAIT",
    "TCP_CLOSE": "CLOSED", "TCP_CLOSE_WAIT": "CLOSE_WAIT", "TCP_LAST_ACK": "LAST_ACK",
    "TCP_LISTEN": "LISTEN", "TCP_CLOSING": "CLOSING", "TCP_NEW_SYN_RECV": "SYN_RECEIVED",
}


@dataclass(frozen=True)
class StateChange:
    ts_ns: int        # CLOCK_MONOTONIC (the instance's trace_clock is "mono")
    local: str        # "IP:PORT"; port 0 while a connecting socket has none yet
    remote: str       # "0.0.0.0:0" for a listener
    old: str
    new: str


_LINE = re.compile(r"\s(\d+)\.(\d+): inet_sock_set_state: family=(\S+) protocol=(\S+) sport=(\d+) dport=(\d+) "
                   r"saddr=(\S+) daddr=(\S+) saddrv6=(\S+) daddrv6=(\S+) oldstate=(\S+) newstate=(\S+)")


def parse_line(line: str) -> StateChange | None:
    """One line of the instance's ``trace_pipe`` -> a TCP state change, or None."""
    m = _LINE.search(line)
    if m is None or m.group(4) != "IPPROTO_TCP":
        return None
    sec, frac = m.group(1), m.group(2)
    ts = int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])
    lip, rip = (m.group(9), m.group(10)) if m.group(3) == "AF_INET6" else (m.group(7), m.group(8))
    local, remote = format_addr((lip, m.group(5))), format_addr((rip, m.group(6)))
    old, new = KERNEL_STATES.get(m.group(11)), KERNEL_STATES.get(m.group(12))
    if old is None or new is None:
        return None
    return StateChange(ts, local, remote, old, new)


def available(root: str = TRACEFS) -> str | None:
    """None when the tracepoint can be used here, else why not."""
    if os.geteuid() != 0:
        return "not root (tracefs instances need CAP_SYS_ADMIN)"
    if not os.path.isdir(os.path.join(root, "instances")):
        return (f"tracefs is not mounted at {root} and could not be mounted privately "
                f"(mount -t tracefs nodev {root})")
    if not os.path.isdir(os.path.join(root, EVENT)):
        return "this kernel has no sock:inet_sock_set_state tracepoint"
    return None


CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 0x40000


def mount_private(root: str = TRACEFS) -> str | None:
    """Make tracefs available to this process if it is not mounted: as root,
    in a mount namespace of this process's own (``unshare(CLONE_NEWNS)``,
    every mount made private, then ``mount -t tracefs``), so nothing on the
    machine changes and the mount goes away with the process and its
    children.  Call it while the process has one thread (the kernel refuses
    a new mount namespace to a thread that shares its filesystem context).
    None when tracefs is usable afterwards (or was already), else why not."""
    if os.geteuid() != 0 or os.path.isdir(os.path.join(root, "instances")):
        return None
    if not os.path.isdir(root):
        return f"no {root} directory to mount tracefs on"
    code = unshare(CLONE_NEWNS)
    if code:
        return f"unshare(CLONE_NEWNS) failed: {os.strerror(code)}"
    c = libc()
    if c.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return f"making mounts private failed: {os.strerror(ctypes.get_errno())}"
    if c.mount(b"nodev", root.encode(), b"tracefs", 0, None) != 0:
        return f"mount -t tracefs failed: {os.strerror(ctypes.get_errno())}"
    return None


def leftovers(root: str = TRACEFS) -> list[str]:
    """Instances of ours (any PID) present now."""
    try:
        return sorted(n for n in os.listdir(os.path.join(root, "instances")) if n.startswith(PREFIX))
    except OSError:
        return []


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _remove(path: str) -> None:
    """Disable the event and remove an instance (retrying while a reader still closes it)."""
    try:
        _write(os.path.join(path, EVENT, "enable"), "0")
    except OSError:
        pass
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY:
                return
            time.sleep(0.02)


def _reap_stale(root: str) -> None:
    for name in leftovers(root):
        pid = name[len(PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _remove(os.path.join(root, "instances", name))


def _ports(slot: int) -> tuple[int, int]:
    lo = PORT_BASE + slot * SLOT_PORTS
    return lo, lo + SLOT_PORTS - 1


def window(slot_range: tuple[int, int], k: int) -> tuple[int, int]:
    """The ``k``-th scenario's port window inside a slot."""
    lo = slot_range[0] + (k % WINDOWS) * WINDOW_PORTS
    return lo, lo + WINDOW_PORTS - 1


def set_port_range(lo: int, hi: int) -> None:
    """``net.ipv4.ip_local_port_range`` of the current network namespace."""
    _write("/proc/sys/net/ipv4/ip_local_port_range", f"{lo} {hi}")


class Session:
    """Per-worker slots and tracefs instances for one run (made by the coordinating process).

    ``for_worker(k)`` is what worker ``k`` needs: ``{"instance": path or None, "ports":
    [lo, hi] or None, "off": reason or None}``.  Leaving the context removes
    every instance and releases every slot.
    """

    def __init__(self, workers: int, root: str = TRACEFS, enabled: bool = True) -> None:
        self.workers, self.root, self.enabled = workers, root, enabled
        self.instances: list[str | None] = []
        self.slots: list[tuple[int, int] | None] = []
        self._locks: list[socket.socket] = []
        self.off: str | None = None if enabled else "not asked for"

    def __enter__(self) -> "Session":
        if self.off is None:
            self.off = available(self.root)
        if self.off is None:
            try:
                _reap_stale(self.root)
                for k in range(self.workers):
                    slot = self._take_slot()
                    if slot is None:
                        self.off = f"no free port slot of {SLOTS} (other runs hold them)"
                        break
                    self.slots.append(slot)
                    self._make(k, slot)
            except OSError as e:
                self.off = f"tracefs: {e.strerror or e}"
            except BaseException:   # e.g. SIGINT while setting up: leave nothing enabled behind
                self.close()
                raise
            if self.off is not None:
                self.close()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for path in self.instances:
            if path:
                _remove(path)
        self.instances = []
        for sock in self._locks:
            sock.close()
        self._locks = []

    def for_worker(self, k: int) -> dict[str, Any]:
        if self.off is not None or k >= len(self.instances):
            return {"instance": None, "ports": None, "off": self.off or "no instance for this worker"}
        return {"instance": self.instances[k], "ports": list(self.slots[k]), "off": None}

    def _take_slot(self) -> tuple[int, int] | None:
        for slot in range(SLOTS):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(SLOT_NAME.format(slot))
            except OSError:          # EADDRINUSE: another run holds it
                sock.close()
                continue
            self._locks.append(sock)
            return _ports(slot)
        return None

    def _make(self, k: int, ports: tuple[int, int]) -> str:
        path = os.path.join(self.root, "instances", f"{PREFIX}{os.getpid()}-{k}")
        os.mkdir(path)
        self.instances.append(path)   # removed by close() from here on, whatever happens next
        try:
            _write(os.path.join(path, "trace_clock"), "mono")
            _write(os.path.join(path, "buffer_size_kb"), "512")
            lo, hi = ports
            _write(os.path.join(path, EVENT, "filter"),
                   f"protocol == 6 && ((sport >= {lo} && sport <= {hi}) || (dport >= {lo} && dport <= {hi}))")
            _write(os.path.join(path, EVENT, "enable"), "1")
        except OSError:
            self.instances.remove(path)
            _remove(path)
            raise
        return path


class Watch:
    """Every TCP state change of the machine while open, for ``conform trace``
    (whose program picks its own ports, so there is no port filter: changes
    are told apart by address pair).  ``off``: why there is none (not root,
    no tracefs), else None.  :meth:`changes` gives them with times on the
    realtime clock (strace's ``-ttt``), as ``(seconds, local, remote, old, new)``."""

    def __init__(self, root: str = TRACEFS) -> None:
        self.root = root
        self.path: str | None = None
        self.reader: Reader | None = None
        self.off: str | None = None
        self.offset = 0.0
        self.got: list[StateChange] = []

    def __enter__(self) -> "Watch":
        self.off = available(self.root)
        if self.off is not None:
            return self
        _reap_stale(self.root)
        path = os.path.join(self.root, "instances", f"{PREFIX}{os.getpid()}-trace")
        try:
            os.mkdir(path)
            self.path = path
            _write(os.path.join(path, "trace_clock"), "mono")
            _write(os.path.join(path, "buffer_size_kb"), "8192")
            _write(os.path.join(path, EVENT, "filter"), "protocol == 6")
            _write(os.path.join(path, EVENT, "enable"), "1")
            self.reader = Reader(path)
        except OSError as e:
            self.off = f"tracefs: {e.strerror or e}"
            self.close()
        except BaseException:
            self.close()
            raise
        self.offset = time.time() - time.monotonic()
        return self

    def drain(self) -> None:
        if self.reader is not None:
            self.got += self.reader.drain(limit=100_000)

    def changes(self) -> list[tuple[float, str, str, str, str]]:
        self.drain()
        return [(c.ts_ns / 1e9 + self.offset, c.local, c.remote, c.old, c.new) for c in self.got]

    def __exit__(self, *exc: object) -> None:
        self.drain()
        self.close()

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        if self.path is not None:
            _remove(self.path)
            self.path = None


class Reader:
    """A worker's non-blocking reader of its instance's ``trace_pipe``."""

    def __init__(self, instance: str) -> None:
        self.fd = os.open(os.path.join(instance, "trace_pipe"), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self._rest = b""

    def drain(self, limit: int = 1000) -> list[StateChange]:
        """State changes recorded since the last drain, in order (at most ``limit`` reads)."""
        data = self._rest
        for _ in range(limit):
            try:
                chunk = os.read(self.fd, 1 << 16)
            except (BlockingIOError, InterruptedError):
                break
            if not chunk:
                break
            data += chunk
        lines = data.split(b"\n")
        self._rest = lines.pop()
        out = []
        for raw in lines:
            change = parse_line(raw.decode(errors="replace"))
            if change is not None:
                out.append(change)
        return out

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
