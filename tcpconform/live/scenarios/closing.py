"""Scenarios: closing (half, abortive, with unread data), and flow control."""

from __future__ import annotations

from tcpconform.live.recorder import Recorder
from tcpconform.live.scenarios.registry import scenario
from tcpconform.live.scenarios.helpers import ANY, BIG, connected, drain, listener, syn_sent_behind_full_queue, unused_port

# ---------------------------------------------------------------------------
# closing: half, abortive, with unread data
# ---------------------------------------------------------------------------

@scenario("half-close-wr")
def half_close_wr(rec: Recorder) -> None:
    """Client shutdown(wr): server reads 0 but can still send, client still receives, client send EPIPE."""
    connected(rec)
    rec.send("c", 4)
    rec.shutdown("c", "wr")  # FIN_WAIT_1
    rec.recv("s", 100)  # 4
    rec.recv("s", 100)  # 0: CLOSE_WAIT
    rec.settle("c", "FIN_WAIT_2")
    rec.send("s", 6)  # ok in CLOSE_WAIT
    rec.recv("c", 100)  # 6
    rec.send("c", 1)  # EPIPE
    rec.shutdown("c", "wr")  # ok: no-op
    rec.shutdown("s", "wr")  # LAST_ACK
    rec.recv("c", 100)  # 0: TIME_WAIT (descriptor reads CLOSED)
    rec.settle("c", "CLOSED")
    rec.settle("s", "CLOSED")
    rec.close("c")
    rec.close("s")
    rec.close("L")


@scenario("half-close-rd")
def half_close_rd(rec: Recorder) -> None:
    """Client shutdown(rd): recv gives 0, yet data that arrives later is still returned (Linux); sending works."""
    connected(rec)
    rec.shutdown("c", "rd")  # ok, nothing sent
    rec.recv("c", 10)  # 0
    rec.send("s", 5)
    rec.wait_inq("c", 5)
    rec.recv("c", 10)  # 5 (FreeBSD: 0)
    rec.send("c", 3)  # ok
    rec.recv("s", 10)  # 3
    rec.shutdown("s", "wr")  # FIN
    rec.recv("c", 10)  # 0
    rec.settle("c", "CLOSE_WAIT")
    rec.close("c")  # LAST_ACK
    rec.settle("c", "CLOSED")
    rec.settle("s", "CLOSED")
    rec.close("s")
    rec.close("L")


@scenario("abortive-close")
def abortive_close(rec: Recorder) -> None:
    """Client closes with SO_LINGER {1,0}: RST; the peer's recv gives ECONNRESET, then 0; send EPIPE."""
    connected(rec)
    rec.send("c", 3)
    rec.recv("s", 10)  # 3
    rec.close("c", linger0=True)  # RST
    rec.settle("s", "CLOSED")
    rec.recv("s", 10)  # ECONNRESET
    rec.recv("s", 10)  # 0
    rec.send("s", 1)  # EPIPE
    rec.shutdown("s", "wr")  # ENOTCONN
    rec.connect("s", rec.local("L"))  # EISCONN
    rec.close("s")
    rec.close("L")


@scenario("close-unread-data")
def close_unread_data(rec: Recorder) -> None:
    """Closing with unread received data sends RST, not FIN: the peer's recv gives ECONNRESET."""
    connected(rec)
    rec.send("c", 10)
    rec.wait_inq("s", 10)
    rec.close("s")  # 10 bytes unread: RST
    rec.settle("c", "CLOSED")
    rec.recv("c", 10)  # ECONNRESET
    rec.recv("c", 10)  # 0
    rec.send("c", 1)  # EPIPE
    rec.close("c")
    rec.close("L")


@scenario("rst-in-close-wait", pins=("closewait.rst", "send.error"))
def rst_in_close_wait(rec: Recorder) -> None:
    """A RST reaching a CLOSE_WAIT socket leaves EPIPE, not ECONNRESET: send EPIPE, recv 0."""
    connected(rec)
    rec.shutdown("s", "wr")  # FIN
    rec.recv("c", 10)  # 0: CLOSE_WAIT
    rec.settle("s", "FIN_WAIT_2")
    rec.close("s", linger0=True)  # RST
    rec.settle("c", "CLOSED")
    rec.send("c", 1)  # EPIPE
    rec.recv("c", 10)  # 0
    rec.send("c", 1)  # EPIPE
    rec.close("c")
    rec.close("L")


@scenario("rst-in-close-wait-recv-first", pins=("closewait.rst", "recv.eof", "send.error"))
def rst_in_close_wait_recv_first(rec: Recorder) -> None:
    """After a RST in CLOSE_WAIT, recv() still reports end of stream (0) and leaves the error to send (EPIPE)."""
    connected(rec)
    rec.shutdown("s", "wr")  # FIN
    rec.recv("c", 10)  # 0: CLOSE_WAIT
    rec.settle("s", "FIN_WAIT_2")
    rec.close("s", linger0=True)  # RST
    rec.settle("c", "CLOSED")
    rec.recv("c", 10)  # 0: SOCK_DONE comes before the pending error in tcp_recvmsg
    rec.recv("c", 10)  # 0
    rec.send("c", 1)  # EPIPE: the error, reported once
    rec.send("c", 1)  # EPIPE: the socket is shut
    rec.close("c")
    rec.close("L")


@scenario("shutdown-syn-sent-send", pins=("send.error",))
def shutdown_syn_sent_send(rec: Recorder) -> None:
    """shutdown(SHUT_WR) in SYN_SENT aborts the attempt: send() reports the pending ECONNRESET once, then EPIPE."""
    syn_sent_behind_full_queue(rec)
    rec.shutdown("c2", "wr")  # ok: -> CLOSED, ECONNRESET pending
    rec.send("c2", 1)  # ECONNRESET
    rec.send("c2", 1)  # EPIPE
    rec.recv("c2", 1)  # ENOTCONN
    rec.close("c2")
    rec.accept("L", "s1")
    rec.close("c1")
    rec.close("s1")
    rec.close("L")


@scenario("shutdown-rdwr-recv", pins=("recv.shut",))
def shutdown_rdwr_recv(rec: Recorder) -> None:
    """After shutdown(SHUT_RDWR) a non-blocking recv() returns 0 at once (not EAGAIN), though no FIN came."""
    addr = listener(rec)
    rec.socket("c", nonblock=True)
    rec.connect("c", addr)  # EINPROGRESS
    rec.settle("c", "ESTABLISHED")
    rec.accept("L", "s")
    rec.recv("c", 10)  # EAGAIN: nothing to read yet
    rec.shutdown("c", "rdwr")  # FIN
    rec.settle("c", "FIN_WAIT_2")
    rec.recv("c", 10)  # 0: RCV_SHUTDOWN
    rec.close("s")
    rec.settle("c", "CLOSED")
    rec.close("c")
    rec.close("L")


@scenario("listener-shutdown", pins=("shutdown.listen.rd", "accept.notlisten"))
def listener_shutdown(rec: Recorder) -> None:
    """shutdown(SHUT_RDWR) on a listener with a queued connection: the child is reset, accept gives EINVAL, a new client is refused."""
    addr = listener(rec)
    rec.socket("c1")
    rec.connect("c1", addr)  # ok: queued, not accepted
    rec.shutdown("L", "rdwr")  # ok: the listener closes, its queued child gets a RST
    rec.settle("c1", "CLOSED")
    rec.recv("c1", 10)  # ECONNRESET
    rec.accept("L", "never")  # EINVAL: not listening
    rec.socket("c2")
    rec.connect("c2", addr)  # ECONNREFUSED
    rec.shutdown("L", "wr")  # ENOTCONN: CLOSED
    rec.close("c1")
    rec.close("c2")
    rec.close("L")


@scenario("client-rebinds-into-server-time-wait", pins=("timewait.syn",))
def client_rebinds_into_server_time_wait(rec: Recorder) -> None:
    """The server closes first (TIME_WAIT on its side); a new client socket bound to the old client port connects again: the TIME_WAIT accepts the new SYN."""
    addr = listener(rec)
    port = unused_port(rec, "gone")
    rec.socket("c1")
    rec.bind("c1", port)
    rec.connect("c1", addr)  # ok
    rec.accept("L", "s1")
    rec.close("s1")  # the server closes first: FIN_WAIT_2, then TIME_WAIT
    rec.recv("c1", 10)  # 0
    rec.close("c1")  # LAST_ACK, then CLOSED: the client port is free again
    rec.settle("c1", "CLOSED")
    rec.socket("c2")
    rec.bind("c2", port)  # ok
    rec.connect("c2", addr)  # ok: the server's TIME_WAIT takes the new SYN (tcp_timewait_state_process)
    rec.accept("L", "s2")
    rec.send("c2", 3)
    rec.recv("s2", 10)  # 3
    rec.close("c2")
    rec.close("s2")
    rec.close("L")


# ---------------------------------------------------------------------------
# flow control
# ---------------------------------------------------------------------------

@scenario("partial-send")
def partial_send(rec: Recorder) -> None:
    """Non-blocking send into full buffers: a partial send (n < len), then EAGAIN; the peer drains it all."""
    rec.socket("L")
    rec.setsockopt("L", "SO_RCVBUF", 4096)  # inherited by the accepted socket
    rec.bind("L", ANY)
    rec.listen("L", 4)
    rec.socket("c", nonblock=True)
    rec.setsockopt("c", "SO_SNDBUF", 4096)
    rec.connect("c", rec.local("L"))  # EINPROGRESS
    rec.settle("c", "ESTABLISHED")
    rec.accept("L", "s")
    sent = 0
    for _ in range(64):
        ev = rec.send("c", BIG)
        if ev["ret"] != "ok":
            break  # EAGAIN
        sent += ev["n"]
    drain(rec, "s", sent)
    rec.send("c", 10)  # ok: room again
    rec.wait_inq("s", 10)
    rec.recv("s", 100)  # 10
    rec.close("c")
    rec.recv("s", 100)  # 0
    rec.close("s")
    rec.close("L")
