"""Holding back chosen segments, inside a run's own network namespace only.

Plain loopback delivers every segment at once, which hides simultaneous
open and simultaneous close.  Dropping chosen segments for a moment (the
kernel retransmits them) reaches those states; a dropped-then-retransmitted
segment is, for the model, a delayed one.  The rules live in an nftables
table of the run's private network namespace and vanish with it; this
module refuses to touch a namespace it did not make (the host's).
"""

from __future__ import annotations

import shutil
import subprocess
from contextlib import contextmanager
from typing import Iterator

from tcpconform.live.netns import in_own_namespace
from tcpconform.live.recorder import ScenarioError

TABLE = "conform"


class ScenarioSkipped(ScenarioError):
    """The scenario cannot run here (no private namespace, or no nft); not a failure."""


def private_netns() -> bool:
    """Whether this process runs in a network namespace the run made itself."""
    return in_own_namespace()


def _nft(*args: str) -> None:
    proc = subprocess.run(["nft", *args], capture_output=True, text=True, timeout=5)
    if proc.returncode != 0:
        raise ScenarioError(f"nft {' '.join(args)}: {proc.stderr.strip()}")


def available() -> str | None:
    """None when segments can be held back here, else why not."""
    if not private_netns():
        return "needs a network namespace of its own (run as root, isolation netns)"
    if shutil.which("nft") is None:
        return "needs nft (Debian: apt-get install nftables)"
    return None


@contextmanager
def dropping(rec, what: str, expr: str) -> Iterator[None]:
    """Drop outgoing TCP segments matching the nft expression ``expr`` (in
    this private namespace) while the block runs; record it as ``x-netfilter``."""
    why = available()
    if why:
        raise ScenarioSkipped(why)
    _nft("add", "table", "inet", TABLE)
    _nft("add", "chain", "inet", TABLE, "out", "{ type filter hook output priority 0 ; }")
    _nft("add", "rule", "inet", TABLE, "out", *expr.split(), "drop")
    rec.events.append({"ev": "x-netfilter", "drop": what, "on": True})
    try:
        yield
    finally:
        _nft("delete", "table", "inet", TABLE)
        rec.events.append({"ev": "x-netfilter", "drop": what, "on": False})


SYN_ONLY = "tcp flags & (syn|ack) == syn"
FIN = "tcp flags & fin == fin"
# an ACK that carries nothing else (no SYN, FIN, RST or PSH): the handshake's last segment
PURE_ACK = "tcp flags & (syn|ack|fin|rst|psh) == ack"
