"""Helpers the scenarios share: a listener, a connected pair, a client stuck behind a full queue, an unused port, draining a socket."""

from __future__ import annotations

from tcpconform.live.recorder import Recorder

ANY = "127.0.0.1:0"
BIG = 1 << 20

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def listener(rec: Recorder, name: str = "L", backlog: int = 8, nonblock: bool = False) -> str:
    """socket, bind to a kernel-chosen loopback port, listen; returns the address."""
    rec.socket(name, nonblock=nonblock)
    rec.bind(name, ANY)
    rec.listen(name, backlog)
    return rec.local(name)


def connected(rec: Recorder, cli: str = "c", conn: str = "s", lst: str = "L") -> None:
    """A listener ``lst``, a client ``cli`` connected to it (blocking), and ``conn`` accepted."""
    addr = listener(rec, lst)
    rec.socket(cli)
    rec.connect(cli, addr)
    rec.accept(lst, conn)


def syn_sent_behind_full_queue(rec: Recorder) -> str:
    """A listener ``L`` with backlog 0 whose queue ``c1`` fills, and ``c2`` stuck in
    SYN_SENT (the listener drops its SYN); returns the listener's address."""
    addr = listener(rec, backlog=0, nonblock=True)
    rec.socket("c1", nonblock=True)
    rec.connect("c1", addr)  # EINPROGRESS, queued: the queue is full
    rec.settle("c1", "ESTABLISHED", timeout=0.1)
    rec.wait_acceptq("L", 1)  # the client is ESTABLISHED at the SYN+ACK; the server queues it at the ACK
    rec.socket("c2", nonblock=True)
    rec.connect("c2", addr)  # EINPROGRESS, SYN dropped: SYN_SENT
    rec.settle("c2", "ESTABLISHED", timeout=0.1)
    return addr


def unused_port(rec: Recorder, name: str) -> str:
    """An address on which no socket of the trace exists: bind ``name`` to port 0, close it."""
    rec.socket(name)
    rec.bind(name, ANY)
    addr = rec.local(name)
    rec.close(name)
    return addr


def drain(rec: Recorder, name: str, total: int, chunk: int = 65536, limit: int = 10000) -> int:
    """Blocking recv on ``name`` until ``total`` bytes came (or 0 = end of stream)."""
    got = 0
    for _ in range(limit):
        if got >= total:
            break
        ev = rec.recv(name, chunk)
        if ev["ret"] != "ok" or ev["n"] == 0:
            break
        got += ev["n"]
    return got
