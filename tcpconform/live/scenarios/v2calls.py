"""Scenarios in version 2 of the trace format: options, readiness, descriptors, IPv6, AF_UNSPEC.

Each is recorded by :class:`tcpconform.live.recorder_v2.RecorderV2` (times on
every event) and pins the rules of the calls version 2 adds.
"""

from __future__ import annotations

from tcpconform.live.recorder_v2 import RecorderV2
from tcpconform.live.scenarios.helpers import ANY, connected, listener
from tcpconform.live.scenarios.registry import scenario

S, T = "SOL_SOCKET", "IPPROTO_TCP"
ALL_EVENTS = ["IN", "PRI", "OUT", "RDHUP", "ERR", "HUP"]


def _pair(rec: RecorderV2, cli: str, conn: str, lst: str) -> str:
    """:func:`connected`, returning the listener's address."""
    connected(rec, cli, conn, lst)
    return rec.local(lst)


@scenario("options-read-back", version=2,
          pins=("setsockopt.ok", "getsockopt.option", "setsockopt.range", "setsockopt.fastopen"))
def options_read_back(rec: RecorderV2) -> None:
    """Every option set and read back: defaults, doubled buffers, rounded timeouts, refused values, inheritance by accept."""
    rec.socket("o")
    for level, opt in ((S, "SO_REUSEADDR"), (S, "SO_KEEPALIVE"), (T, "TCP_NODELAY"), (S, "SO_TYPE"),
                       (S, "SO_RCVLOWAT"), (T, "TCP_KEEPIDLE"), (S, "SO_LINGER"), (S, "SO_RCVTIMEO"),
                       (T, "TCP_USER_TIMEOUT"), (S, "SO_ACCEPTCONN")):
        rec.getopt("o", level, opt)  # the defaults: 0 0 0 1 1 7200 {0,0} 0 0 0
    for level, opt, value in ((S, "SO_REUSEADDR", 7), (S, "SO_KEEPALIVE", 5), (S, "SO_RCVBUF", 1000),
                              (S, "SO_RCVBUF", 65536), (S, "SO_SNDBUF", 1000), (S, "SO_SNDBUF", 65536),
                              (T, "TCP_NODELAY", 5), (T, "TCP_CORK", 1), (S, "SO_LINGER", (1, 5)),
                              (S, "SO_RCVTIMEO", 1.5), (S, "SO_SNDTIMEO", 0.75), (T, "TCP_USER_TIMEOUT", 1.5),
                              (T, "TCP_KEEPIDLE", 30), (T, "TCP_KEEPINTVL", 10), (T, "TCP_KEEPCNT", 3),
                              (S, "SO_RCVLOWAT", 100), (S, "SO_RCVLOWAT", 0), (T, "TCP_DEFER_ACCEPT", 5),
                              (T, "TCP_FASTOPEN", 5), (S, "SO_REUSEPORT", 1)):
        rec.setopt("o", level, opt, value)  # ok
        rec.getopt("o", level, opt)  # 1 1 2304 131072 4608 131072 1 1 {1,5} 1.5 0.752 1.5 30 10 3 100 1 7 5 1
    rec.setopt("o", T, "TCP_KEEPCNT", 128)  # EINVAL
    rec.setopt("o", T, "TCP_KEEPIDLE", 0)  # EINVAL
    rec.getopt("o", T, "TCP_KEEPCNT")  # still 3
    rec.close("o")

    rec.socket("L")
    for level, opt, value in ((S, "SO_KEEPALIVE", 1), (T, "TCP_NODELAY", 1), (S, "SO_RCVBUF", 40000),
                              (T, "TCP_KEEPIDLE", 30)):
        rec.setopt("L", level, opt, value)
    rec.bind("L", ANY)
    rec.listen("L", 4)
    rec.getopt("L", S, "SO_ACCEPTCONN")  # 1
    rec.socket("c")
    rec.connect("c", rec.local("L"))
    rec.accept("L", "s")
    for level, opt in ((S, "SO_KEEPALIVE"), (T, "TCP_NODELAY"), (S, "SO_RCVBUF"), (T, "TCP_KEEPIDLE"),
                       (S, "SO_ACCEPTCONN")):
        rec.getopt("s", level, opt)  # inherited: 1 1 80000 30; 0
    rec.getopt("c", S, "SO_KEEPALIVE")  # 0: the client set nothing
    rec.setopt("s", T, "TCP_FASTOPEN", 5)  # EINVAL: connected
    rec.close("c")
    rec.settle("s", "CLOSE_WAIT")
    rec.close("s")
    rec.close("L")


@scenario("nonblocking-connect-through-poll", version=2,
          pins=("getsockopt.error", "poll.ready", "setnb.ok", "getnb.ok", "connect.completed"))
def nonblocking_connect_through_poll(rec: RecorderV2) -> None:
    """A non-blocking connect waited for with poll and read with SO_ERROR: refused, then completed; O_NONBLOCK by fcntl and FIONBIO."""
    rec.socket("dead")
    rec.bind("dead", ANY)
    nobody = rec.local("dead")
    rec.close("dead")
    rec.socket("r")
    rec.get_nonblock("r")  # false
    rec.set_nonblock("r", True)
    rec.get_nonblock("r")  # true
    rec.connect("r", nobody)  # EINPROGRESS
    rec.poll([("r", ["OUT"])], timeout=2)  # OUT|ERR|HUP: refused
    rec.getopt("r", S, "SO_ERROR")  # ECONNREFUSED
    rec.getopt("r", S, "SO_ERROR")  # 0: read once
    rec.poll([("r", ALL_EVENTS)], timeout=0)  # IN|OUT|RDHUP|HUP, no ERR now
    rec.close("r")

    addr = listener(rec, "L")
    rec.socket("c")
    rec.set_nonblock("c", True, via="ioctl")
    rec.connect("c", addr)  # EINPROGRESS
    rec.poll([("c", ["OUT"])], timeout=2)  # OUT: the handshake is over
    rec.getopt("c", S, "SO_ERROR")  # 0
    rec.connect("c", addr)  # ok: the connection completed
    rec.poll([("L", ["IN"]), ("c", ["IN"])], timeout=0)  # L: IN (queued); c: nothing
    rec.accept("L", "s", nonblock=True)  # accept4(SOCK_NONBLOCK)
    rec.get_nonblock("s")  # true
    rec.recv("s", 10)  # EAGAIN
    rec.set_nonblock("c", False)
    rec.get_nonblock("c")  # false
    rec.close("c")
    rec.settle("s", "CLOSE_WAIT")
    rec.close("s")
    rec.close("L")


@scenario("readiness-of-each-state", version=2, pins=("poll.ready",))
def readiness_of_each_state(rec: RecorderV2) -> None:
    """poll() in each state: fresh, listening, queued, connected, data unread, half-closed both ways, TIME_WAIT, reset."""
    rec.socket("f")
    rec.poll([("f", ALL_EVENTS)])  # OUT|HUP
    addr = listener(rec, "L")
    rec.poll([("L", ALL_EVENTS)])  # nothing
    rec.socket("c")
    rec.connect("c", addr)
    rec.wait_acceptq("L", 1)
    rec.poll([("L", ALL_EVENTS), ("c", ALL_EVENTS)])  # L: IN; c: OUT
    rec.accept("L", "s")
    rec.send("c", 5)
    rec.wait_inq("s", 5)
    rec.poll([("s", ALL_EVENTS)])  # IN|OUT
    rec.shutdown("c", "wr")
    rec.settle("s", "CLOSE_WAIT")
    rec.settle("c", "FIN_WAIT_2")
    rec.poll([("s", ALL_EVENTS), ("c", ALL_EVENTS)])  # s: IN|OUT|RDHUP; c: OUT
    rec.recv("s", 10)  # 5
    rec.recv("s", 10)  # 0
    rec.close("s")
    rec.settle("c", "CLOSED")  # its connection is in TIME_WAIT; the descriptor reads CLOSED
    rec.poll([("c", ALL_EVENTS)])  # IN|OUT|RDHUP|HUP
    rec.close("c")

    rec.socket("c2")
    rec.connect("c2", addr)
    rec.accept("L", "s2")
    rec.shutdown("c2", "rd")
    rec.poll([("c2", ALL_EVENTS)])  # IN|OUT|RDHUP
    rec.close("s2", linger0=True)
    rec.settle("c2", "CLOSED")
    rec.poll([("c2", ALL_EVENTS)])  # IN|OUT|ERR|HUP|RDHUP
    rec.recv("c2", 10)  # ECONNRESET
    rec.poll([("c2", ALL_EVENTS)])  # IN|OUT|HUP|RDHUP
    rec.close("c2")
    rec.shutdown("L", "rd")
    rec.poll([("L", ALL_EVENTS)])  # OUT|HUP: an ex-listener reads as a fresh socket
    rec.close("L")
    rec.close("f")


@scenario("dup-and-close-one", version=2, pins=("dup.ok", "close.shared"))
def dup_and_close_one(rec: RecorderV2) -> None:
    """Two descriptors of one socket: closing one changes nothing, the other still sends; the connection ends with the last."""
    addr = listener(rec, "L")
    rec.socket("c")
    rec.connect("c", addr)
    rec.accept("L", "s")
    rec.dup("s", "s2")
    rec.close("s")  # not the last descriptor: nothing happens
    rec.call_closed("s", "send", length=5)  # EBADF: this descriptor is closed
    rec.send("s2", 5)  # the socket is alive
    rec.wait_inq("c", 5)
    rec.recv("c", 10)  # 5
    rec.dup("s2", "s3")
    rec.close("s2")
    rec.close("s3")  # the last: FIN
    rec.settle("c", "CLOSE_WAIT")
    rec.recv("c", 10)  # 0
    rec.close("c")
    rec.close("L")


@scenario("peek-then-recv", version=2, pins=("recv.peek", "ioctl.inq", "ioctl.listen"))
def peek_then_recv(rec: RecorderV2) -> None:
    """MSG_PEEK leaves the bytes; FIONREAD counts them; MSG_DONTWAIT on a blocking socket; queue sizes of a listener refused."""
    _pair(rec, "c", "s", "L")
    rec.ioctl("L", "FIONREAD")  # EINVAL
    rec.ioctl("s", "FIONREAD")  # 0
    rec.recv("s", 10, flags=["DONTWAIT"])  # EAGAIN
    rec.send("c", 5, flags=["NOSIGNAL"])
    rec.wait_inq("s", 5)
    rec.ioctl("s", "FIONREAD")  # 5
    rec.recv("s", 10, flags=["PEEK"])  # 5
    rec.ioctl("s", "FIONREAD")  # 5: still there
    rec.recv("s", 10)  # 5
    rec.ioctl("s", "FIONREAD")  # 0
    rec.ioctl("c", "SIOCOUTQ")  # 0 here (loopback acknowledges at once)
    rec.close("c")
    rec.settle("s", "CLOSE_WAIT")
    rec.recv("s", 10, flags=["PEEK"])  # 0: end of stream
    rec.close("s")
    rec.close("L")


@scenario("names-of-each-end", version=2, pins=("getsockname.ok", "getpeername.notconn", "getpeername.ok"))
def names_of_each_end(rec: RecorderV2) -> None:
    """getsockname and getpeername: fresh, listening, connected, reset (the port shown stays, released)."""
    rec.socket("f")
    rec.getsockname("f")  # 0.0.0.0:0
    rec.getpeername("f")  # ENOTCONN
    addr = listener(rec, "L")
    rec.getsockname("L")
    rec.getpeername("L")  # ENOTCONN
    rec.socket("c")
    rec.connect("c", addr)
    rec.accept("L", "s")
    rec.getsockname("c")
    rec.getpeername("c")
    rec.getsockname("s")
    rec.getpeername("s")
    rec.close("s", linger0=True)
    rec.settle("c", "CLOSED")
    rec.getsockname("c")  # the old port, though the socket no longer holds it
    rec.getpeername("c")  # ENOTCONN
    rec.close("c")
    rec.close("L")
    rec.close("f")


@scenario("disconnect-with-af-unspec", version=2,
          pins=("disconnect.reset", "disconnect.listen", "disconnect.closed", "disconnect.synsent"))
def disconnect_with_af_unspec(rec: RecorderV2) -> None:
    """connect(AF_UNSPEC): a connection aborted with a RST, the socket connects again; a listener stops; the role stays."""
    addr = _pair(rec, "c", "s", "L")
    rec.disconnect("c")  # ok: RST to s
    rec.settle("s", "CLOSED")
    rec.recv("s", 10)  # ECONNRESET
    rec.getopt("c", S, "SO_ERROR")
    rec.getpeername("c")  # ENOTCONN
    rec.connect("c", addr)  # ok again
    rec.accept("L", "s2")
    rec.listen("c", 1)  # EINVAL: once connected, never a listener (Linux 6.18)
    rec.disconnect("c")
    rec.settle("s2", "CLOSED")
    rec.disconnect("c")  # ok: nothing to undo
    rec.disconnect("L")  # the listener stops
    rec.connect("L", addr)  # EINVAL: a former listener
    rec.listen("L", 1)  # ok
    rec.close("c")
    rec.close("s")
    rec.close("s2")
    rec.close("L")

    # in SYN_SENT (its SYN dropped by a full accept queue): no RST, ECONNRESET left pending
    full = listener(rec, "Q", backlog=0, nonblock=True)
    rec.socket("q1", nonblock=True)
    rec.connect("q1", full)  # EINPROGRESS, queued: the queue is full
    rec.settle("q1", "ESTABLISHED", timeout=0.1)
    rec.wait_acceptq("Q", 1)
    rec.socket("q2", nonblock=True)
    rec.connect("q2", full)  # EINPROGRESS, its SYN dropped: SYN_SENT
    rec.disconnect("q2")  # ok
    rec.getopt("q2", S, "SO_ERROR")  # ECONNRESET
    rec.connect("q2", full)  # EINPROGRESS: it may connect again
    rec.close("q2")
    rec.close("q1")
    rec.close("Q")


@scenario("reuseaddr-over-time-wait", version=2, pins=("bind.inuse",))
def reuseaddr_over_time_wait(rec: RecorderV2) -> None:
    """SO_REUSEADDR binds over TIME_WAIT only when the connection's own socket had it too; server and client side."""
    rec.socket("L")
    rec.setopt("L", S, "SO_REUSEADDR", 1)
    rec.bind("L", ANY)
    rec.listen("L", 4)
    addr = rec.local("L")
    rec.socket("c")
    rec.setopt("c", S, "SO_REUSEADDR", 1)
    rec.bind("c", ANY)
    rec.connect("c", addr)
    rec.accept("L", "s")
    rec.close("s")  # the server closes first: its side goes to TIME_WAIT on the listener's port
    rec.settle("c", "CLOSE_WAIT")
    rec.close("c")
    rec.settle("s", "TIME_WAIT")
    rec.close("L")
    rec.socket("n1")
    rec.bind("n1", addr)  # EADDRINUSE: no SO_REUSEADDR here
    rec.socket("n2")
    rec.setopt("n2", S, "SO_REUSEADDR", 1)
    rec.bind("n2", addr)  # ok: the TIME_WAIT came from a socket with it
    rec.listen("n2", 4)  # ok
    rec.close("n1")

    rec.socket("c2")
    rec.setopt("c2", S, "SO_REUSEADDR", 1)
    rec.bind("c2", ANY)
    cport = rec.local("c2")
    rec.connect("c2", rec.local("n2"))
    rec.accept("n2", "s2")
    rec.close("c2")  # the client closes first: TIME_WAIT on its port
    rec.settle("s2", "CLOSE_WAIT")
    rec.close("s2")
    rec.settle("c2", "TIME_WAIT")
    rec.socket("c3")
    rec.bind("c3", cport)  # EADDRINUSE
    rec.setopt("c3", S, "SO_REUSEADDR", 1)
    rec.bind("c3", cport)  # ok
    rec.connect("c3", rec.local("n2"))  # ok: takes the TIME_WAIT's place
    rec.accept("n2", "s3")
    rec.close("c3", linger0=True)
    rec.close("s3")
    rec.close("n2")


@scenario("reuseport-listeners", version=2, pins=("listen.ok",))
def reuseport_listeners(rec: RecorderV2) -> None:
    """Two SO_REUSEPORT listeners share a port, a third socket without it cannot bind; a connection goes to one of the two."""
    rec.socket("A", nonblock=True)
    rec.setopt("A", S, "SO_REUSEPORT", 1)
    rec.bind("A", ANY)
    port = rec.local("A")
    rec.socket("B", nonblock=True)
    rec.setopt("B", S, "SO_REUSEPORT", 1)
    rec.bind("B", port)  # ok
    rec.listen("A", 4)
    rec.listen("B", 4)  # ok
    rec.socket("X")
    rec.bind("X", port)  # EADDRINUSE
    rec.close("X")
    rec.socket("c")
    rec.connect("c", port)
    rec.poll([("A", ["IN"]), ("B", ["IN"])], timeout=1)  # one of the two
    rec.accept("A", "sa")
    rec.accept("B", "sb")  # one of these two is EAGAIN
    rec.close("c", linger0=True)
    rec.close("A")
    rec.close("B")


@scenario("ipv6-dual-stack", version=2, pins=("setsockopt.level", "getsockopt.level"))
def ipv6_dual_stack(rec: RecorderV2) -> None:
    """An IPv6 listener on [::] takes IPv4 clients (their addresses IPv4-mapped) and IPv6 ones; IPV6_V6ONLY refuses
    IPv4; an IPv4 socket has no IPv6 options."""
    rec.socket("L", family="inet6")
    rec.getopt("L", "IPPROTO_IPV6", "IPV6_V6ONLY")  # 0
    rec.bind("L", "[::]:0")
    rec.listen("L", 4)
    port = rec.local("L").rsplit(":", 1)[1]
    rec.socket("c4")
    rec.connect("c4", f"127.0.0.1:{port}")  # ok
    rec.accept("L", "s4")  # peer [::ffff:127.0.0.1]
    rec.getsockname("s4")
    rec.getpeername("s4")
    rec.socket("c6", family="inet6")
    rec.connect("c6", f"[::1]:{port}")  # ok
    rec.accept("L", "s6")
    rec.getpeername("s6")
    rec.socket("L6", family="inet6")
    rec.setopt("L6", "IPPROTO_IPV6", "IPV6_V6ONLY", 1)
    rec.bind("L6", "[::]:0")
    rec.setopt("L6", "IPPROTO_IPV6", "IPV6_V6ONLY", 0)  # EINVAL: bound already
    rec.listen("L6", 4)
    port6 = rec.local("L6").rsplit(":", 1)[1]
    rec.socket("x4")
    rec.connect("x4", f"127.0.0.1:{port6}")  # ECONNREFUSED: an IPv6-only listener
    rec.socket("v4")
    rec.bind("v4", f"127.0.0.1:{port6}")  # ok: IPv6-only leaves IPv4 free
    rec.setopt("v4", "IPPROTO_IPV6", "IPV6_V6ONLY", 0)  # ENOPROTOOPT (what python's http.server tries)
    rec.getopt("v4", "IPPROTO_IPV6", "IPV6_V6ONLY")  # ENOPROTOOPT


@scenario("timeouts-run-out", version=2, pins=("recv.empty",))
def timeouts_run_out(rec: RecorderV2) -> None:
    """SO_RCVTIMEO: a blocking recv and accept give up with EAGAIN; the connection is untouched."""
    _pair(rec, "c", "s", "L")
    rec.setopt("s", S, "SO_RCVTIMEO", 0.05)
    rec.recv("s", 10)  # EAGAIN after 50 ms
    rec.setopt("L", S, "SO_RCVTIMEO", 0.05)
    rec.accept("L", "never")  # EAGAIN after 50 ms
    rec.send("c", 3)
    rec.wait_inq("s", 3)
    rec.recv("s", 10)  # 3
    rec.close("c")
    rec.settle("s", "CLOSE_WAIT")
    rec.close("s")
    rec.close("L")
