"""Scenarios: whole connection lifecycles, each side closing first, and a socket connecting to itself."""

from __future__ import annotations

from tcpconform.live.recorder import Recorder
from tcpconform.live.scenarios.registry import scenario
from tcpconform.live.scenarios.helpers import ANY, connected, unused_port

# ---------------------------------------------------------------------------
# connection lifecycles
# ---------------------------------------------------------------------------

@scenario("lifecycle-client-closes")
def lifecycle_client_closes(rec: Recorder) -> None:
    """Handshake, data both ways (one send read by two recvs), client closes first: client ends in TIME_WAIT."""
    connected(rec)
    rec.send("c", 12)
    rec.recv("s", 8)  # 8
    rec.recv("s", 8)  # 4
    rec.send("s", 2)
    rec.recv("c", 100)  # 2
    rec.close("c")  # FIN: FIN_WAIT_1, then FIN_WAIT_2 when acked
    rec.recv("s", 100)  # 0: CLOSE_WAIT
    rec.settle("c", "FIN_WAIT_2")
    rec.close("s")  # LAST_ACK, then CLOSED when acked
    rec.settle("c", "TIME_WAIT")
    rec.settle("s", "CLOSED")
    rec.close("L")


@scenario("lifecycle-server-closes")
def lifecycle_server_closes(rec: Recorder) -> None:
    """Server's connection closes first: client in CLOSE_WAIT then LAST_ACK, server's connection in TIME_WAIT."""
    connected(rec)
    rec.send("s", 5)
    rec.recv("c", 100)  # 5
    rec.close("s")
    rec.recv("c", 100)  # 0: CLOSE_WAIT
    rec.settle("s", "FIN_WAIT_2")
    rec.send("c", 0)  # a zero-length send in CLOSE_WAIT
    rec.close("c")  # LAST_ACK
    rec.settle("c", "CLOSED")
    rec.settle("s", "TIME_WAIT")
    rec.close("L")


@scenario("self-connect")
def self_connect(rec: Recorder) -> None:
    """A socket bound to 127.0.0.1:P connects to itself (simultaneous open) and becomes ESTABLISHED."""
    rec.socket("a")
    rec.bind("a", ANY)
    rec.connect("a", rec.local("a"))  # ok
    rec.send("a", 3)
    rec.recv("a", 10)  # 3: its own bytes
    rec.connect("a", rec.local("a"))  # EISCONN
    rec.close("a")  # its own FIN crosses its own FIN: TIME_WAIT
    rec.settle("a", ("TIME_WAIT", "CLOSED"))


@scenario("self-connect-shut-wr", pins=("listen.inuse", "listen.history", "synrcvd.ack.shut"))
def self_connect_shut_wr(rec: Recorder) -> None:
    """A fresh socket's SHUT_WR sticks: its self-connect sends a FIN at once, ends in TIME_WAIT (ECONNABORTED), and listen() then finds its own port taken."""
    port = unused_port(rec, "gone")
    rec.socket("a")
    rec.bind("a", port)  # an explicit port: it stays bound
    rec.shutdown("a", "wr")  # ENOTCONN, yet SEND_SHUTDOWN is set
    rec.connect("a", port)  # ECONNABORTED: SYN, SYN+ACK, then its own FIN at once: TIME_WAIT
    rec.listen("a", 4)  # EADDRINUSE: the port is held by the socket's own TIME_WAIT connection
    rec.close("a")
    rec.socket("b")
    rec.bind("b", ANY)  # port 0: released when the connection ends
    rec.shutdown("b", "wr")  # ENOTCONN
    rec.connect("b", rec.local("b"))  # ECONNABORTED
    rec.listen("b", 4)  # EINVAL on 6.18 (a SYN went out); 0 on 6.1
    rec.close("b")


@scenario("self-connect-left-behind", pins=("listen.inuse", "bind.inuse", "connect.connected"))
def self_connect_left_behind(rec: Recorder) -> None:
    """A socket's self-connection left in TIME_WAIT keeps holding its port after the socket moves on: listen() on the port gets EADDRINUSE, and so does another socket's bind (random campaign, seed 3)."""
    port = unused_port(rec, "gone")
    rec.socket("a")
    rec.bind("a", port)
    rec.shutdown("a", "wr")  # ENOTCONN, yet SEND_SHUTDOWN is set
    rec.connect("a", port)  # ECONNABORTED: its connection ends in TIME_WAIT at once
    rec.connect("a", unused_port(rec, "gone2"))  # ECONNREFUSED: it started afresh; the TIME_WAIT stays behind
    rec.listen("a", 1)  # EADDRINUSE: the port is held by the connection it left behind
    rec.close("a")
    rec.socket("c", nonblock=True)
    rec.bind("c", ANY)
    rec.connect("c", rec.local("c"))  # EINPROGRESS: the self-connect completes at once
    rec.shutdown("c", "wr")  # its own FIN: FIN_WAIT_1, CLOSING, TIME_WAIT
    rec.connect("c", rec.local("c"))  # EISCONN: still the same connection
    rec.close("c")  # the TIME_WAIT connection stays, holding the port
    rec.socket("d")
    rec.bind("d", rec.local("c"))  # EADDRINUSE
