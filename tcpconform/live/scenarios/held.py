"""Scenarios that hold back segments or shorten a timer in the run's own namespace: what plain loopback hides."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from tcpconform.live.netfilter import FIN, PURE_ACK, SYN_ONLY, dropping
from tcpconform.live.recorder import Recorder
from tcpconform.live.scenarios.registry import scenario
from tcpconform.live.scenarios.helpers import ANY, connected, listener, syn_sent_behind_full_queue, unused_port
from tcpconform.live.sysctl import setting

# ---------------------------------------------------------------------------
# what plain loopback hides: segments held back in the run's own namespace
# ---------------------------------------------------------------------------

@scenario("simultaneous-open")
def simultaneous_open(rec: Recorder) -> None:
    """Two bound sockets connect to each other while SYNs are held back: both SYN_SENT, then both ESTABLISHED."""
    rec.socket("a", nonblock=True)
    rec.bind("a", ANY)
    rec.socket("b", nonblock=True)
    rec.bind("b", ANY)
    with dropping(rec, "SYN", SYN_ONLY):
        rec.connect("a", rec.local("b"))  # EINPROGRESS: its SYN is dropped
        rec.connect("b", rec.local("a"))  # EINPROGRESS
        rec.observe_all()                 # both SYN_SENT
    # the retransmitted SYNs cross (about 1 s): SYN_SENT → SYN_RECEIVED → ESTABLISHED
    rec.settle("a", "ESTABLISHED", timeout=3.0)
    rec.settle("b", "ESTABLISHED", timeout=3.0)
    rec.connect("a", rec.local("b"))      # 0: the handshake completed
    rec.send("a", 4)
    rec.recv("b", 10)
    rec.close("a")
    rec.close("b")


@scenario("simultaneous-close")
def simultaneous_close(rec: Recorder) -> None:
    """Both ends shut down for writing while FINs are held back: both FIN_WAIT_1, then (through CLOSING) TIME_WAIT."""
    connected(rec)
    with dropping(rec, "FIN", FIN):
        rec.shutdown("c", "wr")
        rec.shutdown("s", "wr")
        rec.observe_all()                 # both FIN_WAIT_1
    rec.settle("c", "CLOSED", timeout=3.0)  # the fd of a TIME_WAIT connection reads CLOSED
    rec.settle("s", "CLOSED", timeout=3.0)
    rec.recv("c", 10)                     # 0: the peer's FIN arrived
    rec.close("c")
    rec.close("s")
    rec.settle("c", "TIME_WAIT")


@scenario("simultaneous-close-one-fin-held", pins=("fw1.fin", "fw1.ackfin", "fw2.fin", "closing.ackfin"))
def simultaneous_close_one_fin_held(rec: Recorder) -> None:
    """Both ends shut down for writing, only the server's FIN held back: the server goes through CLOSING, the client through FIN_WAIT_2."""
    connected(rec)
    server_port = rec.local("s").rsplit(":", 1)[1]
    with dropping(rec, "FIN", f"tcp sport {server_port} {FIN}"):
        rec.shutdown("s", "wr")           # its FIN is dropped: FIN_WAIT_1
        rec.shutdown("c", "wr")           # FIN reaches s: s FIN_WAIT_1 -> CLOSING; its ACK takes c to FIN_WAIT_2
        rec.settle("c", "FIN_WAIT_2")
        rec.observe_all()
    rec.settle("c", "CLOSED", timeout=3.0)  # s's FIN retransmitted: c TIME_WAIT (its fd reads CLOSED)
    rec.settle("s", "CLOSED", timeout=3.0)  # c's ACK: s CLOSING -> TIME_WAIT
    rec.recv("c", 10)                     # 0
    rec.close("c")
    rec.close("s")
    rec.close("L")


@contextmanager
def active_syn_received(rec: Recorder) -> Iterator[None]:
    """Non-blocking bound sockets ``a`` and ``b`` open simultaneously while
    everything ``b`` sends (its SYN, then its SYN+ACK) is held back: inside the
    block ``b`` is in SYN_RECEIVED (an active opener) and ``a`` in SYN_SENT."""
    rec.socket("a", nonblock=True)
    rec.bind("a", ANY)
    rec.socket("b", nonblock=True)
    rec.bind("b", ANY)
    b_port = rec.local("b").rsplit(":", 1)[1]
    with dropping(rec, "SYN", f"tcp sport {b_port}"):
        rec.connect("b", rec.local("a"))  # EINPROGRESS: SYN_SENT, its SYN dropped
        rec.connect("a", rec.local("b"))  # EINPROGRESS: a's SYN takes b to SYN_RECEIVED
        rec.settle("b", "SYN_RECEIVED")
        yield


@scenario("rst-in-active-syn-received", pins=("synrcvd.rst",))
def rst_in_active_syn_received(rec: Recorder) -> None:
    """A socket in SYN_RECEIVED after a simultaneous open gets a RST (its peer closed in SYN_SENT): ECONNRESET, not ECONNREFUSED."""
    with active_syn_received(rec):
        rec.close("a")                    # SYN_SENT: closed without a RST
    rec.settle("b", "CLOSED", timeout=3.0)  # b's SYN+ACK, retransmitted, meets no socket: RST
    rec.recv("b", 10)                     # ECONNRESET
    rec.recv("b", 10)                     # 0
    rec.close("b")


@scenario("calls-in-active-syn-received", pins=("send.handshake", "shutdown.bits.synrcvd", "shutdown.defer.synrcvd",
                                                "synrcvd.ack.shut"))
def calls_in_active_syn_received(rec: Recorder) -> None:
    """Calls on a socket in SYN_RECEIVED after a simultaneous open (its SYN+ACK held back): send and recv EAGAIN, connect EALREADY; SHUT_WR leaves it in SYN_RECEIVED (Linux 6.9 and later, stable 6.1 too), and its FIN goes out once the handshake completes."""
    with active_syn_received(rec):
        rec.send("b", 5)                  # EAGAIN: the handshake is not done
        rec.recv("b", 5)                  # EAGAIN
        rec.connect("b", rec.local("a"))  # EALREADY
        rec.shutdown("b", "rd")           # ok: still SYN_RECEIVED
        rec.shutdown("b", "wr")           # ok: still SYN_RECEIVED; the FIN waits for the handshake
        rec.observe_all()
    # b's SYN+ACK, retransmitted (about 1 s), completes a's handshake; a's ACK takes b through
    # ESTABLISHED to FIN_WAIT_1, its FIN goes out
    rec.settle("a", "CLOSE_WAIT", timeout=3.0)
    rec.settle("b", "FIN_WAIT_2", timeout=3.0)
    rec.recv("a", 10)                     # 0: b's FIN
    rec.close("a")                        # LAST_ACK, then b TIME_WAIT
    rec.settle("b", "CLOSED", timeout=3.0)
    rec.close("b")


@scenario("linger0-close-without-rst", pins=("close.linger0",))
def linger0_close_without_rst(rec: Recorder) -> None:
    """close() with SO_LINGER {1, 0} where there is no connection to abort (fresh, bound, SYN_SENT, TIME_WAIT): the socket closes at once and no RST is sent."""
    rec.socket("f")
    rec.close("f", linger0=True)          # CLOSED, nothing sent
    rec.socket("b")
    rec.bind("b", ANY)
    rec.close("b", linger0=True)          # CLOSED, the port released
    syn_sent_behind_full_queue(rec)
    rec.close("c2", linger0=True)         # SYN_SENT: CLOSED without a RST
    rec.accept("L", "s1")
    rec.shutdown("c1", "wr")              # FIN_WAIT_1 -> FIN_WAIT_2
    rec.recv("s1", 10)                    # 0: CLOSE_WAIT
    rec.shutdown("s1", "wr")              # LAST_ACK, then CLOSED; c1 TIME_WAIT
    rec.recv("c1", 10)                    # 0
    rec.settle("c1", "CLOSED")            # the descriptor of a TIME_WAIT connection reads CLOSED
    rec.close("c1", linger0=True)         # TIME_WAIT: no RST
    rec.close("s1")
    rec.close("L")


@scenario("fin-acked-by-the-peers-fin")
def fin_acked_by_the_peers_fin(rec: Recorder) -> None:
    """The server's bare ACK of the client's FIN is held back, so its own FIN carries that ACK: on that one segment the client goes FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT, as if the ACK had come first."""
    connected(rec)
    server_port = rec.local("s").rsplit(":", 1)[1]
    with dropping(rec, "pure ACK", f"tcp sport {server_port} {PURE_ACK}"):
        rec.shutdown("c", "wr")           # FIN_WAIT_1: the server's ACK of it is dropped
        rec.recv("s", 10)                 # 0: CLOSE_WAIT
        rec.shutdown("s", "wr")           # its FIN+ACK acknowledges c's FIN: c FIN_WAIT_2, then TIME_WAIT
        rec.settle("c", "CLOSED")         # the descriptor of a TIME_WAIT connection reads CLOSED
    rec.settle("s", "CLOSED")             # c's ACK: s LAST_ACK -> CLOSED
    rec.recv("c", 10)                     # 0
    rec.close("c")
    rec.close("s")
    rec.close("L")


@scenario("rst-in-last-ack", pins=("lastack.rst",))
def rst_in_last_ack(rec: Recorder) -> None:
    """The server closes after the client's FIN, its own FIN held back; the client then aborts (SO_LINGER 0): the RST ends the server's LAST_ACK."""
    connected(rec)
    server_port = rec.local("s").rsplit(":", 1)[1]
    rec.shutdown("c", "wr")               # FIN_WAIT_1 -> FIN_WAIT_2
    rec.recv("s", 10)                     # 0: CLOSE_WAIT
    with dropping(rec, "FIN", f"tcp sport {server_port} {FIN}"):
        rec.shutdown("s", "wr")           # LAST_ACK, its FIN dropped
        rec.close("c", linger0=True)      # FIN_WAIT_2: abort, RST
        rec.settle("s", "CLOSED")         # LAST_ACK + RST -> CLOSED
    rec.recv("s", 10)
    rec.send("s", 5)
    rec.close("s")
    rec.close("L")


@scenario("syn-retries-run-out", pins=("syn_giveup",))
def syn_retries_run_out(rec: Recorder) -> None:
    """A SYN that is never answered (dropped) is retried tcp_syn_retries times, here 1 in the run's own namespace (about 3 s): the blocking connect fails with ETIMEDOUT."""
    addr = unused_port(rec, "gone")
    with setting(rec, "tcp_syn_retries", 1), dropping(rec, "SYN", SYN_ONLY):
        rec.socket("c")
        rec.connect("c", addr)            # ETIMEDOUT after the retry
    rec.send("c", 5)                      # EPIPE
    rec.connect("c", addr)                # ECONNREFUSED: no socket there, the SYN passes now
    rec.close("c")


@scenario("orphan-fin-wait-2-times-out", pins=("fin_wait_2_timeout", "closewait.rst"))
def orphan_fin_wait_2_times_out(rec: Recorder) -> None:
    """A client shut down for writing closes in FIN_WAIT_2; with tcp_fin_timeout 1 s in the run's own namespace the orphan goes away, and the server's late data draws a RST in CLOSE_WAIT."""
    with setting(rec, "tcp_fin_timeout", 1):
        connected(rec)
        rec.shutdown("c", "wr")           # FIN_WAIT_1 -> FIN_WAIT_2
        rec.settle("c", "FIN_WAIT_2")
        rec.recv("s", 10)                 # 0: CLOSE_WAIT
        rec.close("c")                    # an orphan in FIN_WAIT_2
        rec.settle("c", "CLOSED", timeout=3.0)  # gone after about a second
        rec.send("s", 5)                  # ok: its segment meets no socket, a RST comes back
        rec.settle("s", "CLOSED")
        rec.send("s", 5)                  # EPIPE (the RST in CLOSE_WAIT left EPIPE pending)
        rec.recv("s", 10)                 # 0
        rec.close("s")
        rec.close("L")


@scenario("send-before-server-established")
def send_before_server_established(rec: Recorder) -> None:
    """The handshake's last ACK is held back: the client is ESTABLISHED and sends while the server side is still SYN_RECEIVED (S3)."""
    lst = listener(rec, backlog=4)
    rec.socket("c", nonblock=True)
    with dropping(rec, "pure ACK", PURE_ACK):
        rec.connect("c", lst)              # EINPROGRESS; SYN and SYN+ACK pass, the final ACK is dropped
        rec.settle("c", "ESTABLISHED")
        rec.events.append({"ev": "x-netstat", "rows": rec.netstat()})  # the server side: SYN_RECV
        rec.send("c", 5)                   # ok while the server has no established socket yet
    rec.settle("c", "ESTABLISHED")
    rec.accept("L", "s")                   # the data segment carried the ACK: the connection completed
    rec.recv("s", 10)
    rec.close("c")
    rec.close("s")
