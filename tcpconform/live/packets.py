"""Packets on the run's own ``lo``: an AF_PACKET capture written as ``x-packet`` events.

:class:`Capture` opens a ``SOCK_RAW`` packet socket bound to ``lo`` of the
network namespace the calling thread is in (so, inside a run's own
namespace, nothing else's traffic is ever seen).  On ``lo`` every frame is
seen twice, once leaving (``PACKET_OUTGOING``) and once arriving
(``PACKET_HOST``); only the outgoing copy is kept, so each segment the
kernel put on the wire is reported exactly once, in the order the kernel
sent them.  :meth:`Capture.drain` reads what arrived since the last drain
without blocking.

:func:`parse_frame` is pure: an Ethernet frame (``lo`` uses a zeroed
Ethernet header) carrying IPv4 or IPv6 and TCP becomes a :class:`Segment`
(addresses, flags, seq/ack, payload length); anything else is None.

The event (documented in ``docs/extensions.md``)::

    {"ev": "x-packet", "src": "127.0.0.1:40000", "dst": "127.0.0.1:5000",
     "flags": "SYN", "seq": 1234, "ack": 0, "len": 0}

``flags`` lists the TCP flags set, joined by ``+`` in the fixed order
``SYN FIN RST PSH ACK URG`` (``"SYN+ACK"``, ``"FIN+ACK"``, ``"ACK"``...).
"""

from __future__ import annotations

import queue
import signal
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any

from tcpconform.check.trace import format_addr

__all__ = ["Capture", "Segment", "parse_frame", "FLAG_ORDER", "available"]

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
PACKET_OUTGOING = 4
_SOL_PACKET = 263
_PACKET_STATISTICS = 6
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_TCP = 6

# (flag bit, name) in the order the ``flags`` field lists them
FLAG_ORDER = ((0x02, "SYN"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"), (0x20, "URG"))


@dataclass(frozen=True)
class Segment:
    src: str
    dst: str
    flags: str
    seq: int
    ack: int
    length: int

    def event(self) -> dict[str, Any]:
        return {"ev": "x-packet", "src": self.src, "dst": self.dst, "flags": self.flags,
                "seq": self.seq, "ack": self.ack, "len": self.length}


def flag_text(bits: int) -> str:
    return "+".join(name for bit, name in FLAG_ORDER if bits & bit) or "NONE"


def parse_frame(frame: bytes) -> Segment | None:
    """An Ethernet frame -> the TCP segment it carries, or None (not IPv4/IPv6 TCP, or cut short)."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    ip = frame[14:]
    if ethertype == ETH_P_IP:
        if len(ip) < 20 or ip[0] >> 4 != 4:
            return None
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        if ip[9] != _TCP or ihl < 20 or len(ip) < ihl + 20:
            return None
        src_ip, dst_ip = socket.inet_ntop(socket.AF_INET, ip[12:16]), socket.inet_ntop(socket.AF_INET, ip[16:20])
        tcp, payload_end = ip[ihl:], total - ihl
    elif ethertype == ETH_P_IPV6:
        if len(ip) < 60 or ip[6] != _TCP:  # extension headers are not followed
            return None
        src_ip, dst_ip = socket.inet_ntop(socket.AF_INET6, ip[8:24]), socket.inet_ntop(socket.AF_INET6, ip[24:40])
        tcp, payload_end = ip[40:], struct.unpack_from("!H", ip, 4)[0]
    else:
        return None
    sport, dport, seq, ack, off_flags = struct.unpack_from("!HHIIH", tcp, 0)
    doff = (off_flags >> 12) * 4
    return Segment(format_addr((src_ip, sport)), format_addr((dst_ip, dport)), flag_text(off_flags & 0x3F),
                   seq, ack, max(0, payload_end - doff))


def available() -> str | None:
    """None when a capture can be opened here, else why not."""
    try:
        Capture().close()
    except OSError as e:
        return f"AF_PACKET on lo: {e.strerror or e} (needs CAP_NET_RAW)"
    return None


class Capture:
    """An AF_PACKET capture of ``lo`` in the current network namespace (outgoing copies only)."""

    def __init__(self, ifname: str = "lo") -> None:
        # protocol 0: no hook until bind() (a hook made at socket() would be torn down by bind(),
        # waiting for an RCU grace period, synchronize_net(), some 15 ms)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            try:  # as root past net.core.rmem_max: a burst of 64 KiB frames must not overflow it
                self.sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 1 << 23)
            except OSError:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 23)
            self.sock.bind((ifname, ETH_P_ALL))
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise

    def drain(self, limit: int = 100_000) -> list[Segment]:
        """The TCP segments sent on lo since the last drain, in order (bounded by ``limit``)."""
        out: list[Segment] = []
        for _ in range(limit):
            try:
                frame, addr = self.sock.recvfrom(128)  # headers suffice: lengths come from the IP header
            except (BlockingIOError, InterruptedError):
                break
            if addr[2] != PACKET_OUTGOING:
                continue
            seg = parse_frame(frame)
            if seg is not None:
                out.append(seg)
        return out

    def dropped(self) -> int:
        """Frames the kernel dropped for want of room since the last call (PACKET_STATISTICS,
        which the read resets)."""
        _packets, drops = struct.unpack("II", self.sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, 8))
        return drops

    def close(self) -> None:
        """Close the socket, in the background: closing a packet socket waits for an RCU
        grace period (``synchronize_net()`` in ``packet_release()``, about 24 ms here),
        which would double the time a scenario takes."""
        sock, self.sock = self.sock, None
        if sock is not None:
            _closer().put(sock)

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_queue: queue.SimpleQueue | None = None


def _closer() -> queue.SimpleQueue:
    """The queue of a daemon thread that closes packet sockets (started on first use; it
    blocks the signals the recorder and ``conform run`` handle, so they reach the main thread)."""
    global _queue
    if _queue is None:
        q: queue.SimpleQueue = queue.SimpleQueue()

        def run() -> None:
            while True:
                q.get().close()

        # the thread inherits the signal mask: block the signals while starting it
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGINT, signal.SIGTERM})
        try:
            threading.Thread(target=run, name="packet-socket-closer", daemon=True).start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        _queue = q
    return _queue
