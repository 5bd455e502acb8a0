"""Scenarios: every call in each state, bind conflicts, the accept queue."""

from __future__ import annotations

from tcpconform.live.recorder import Recorder
from tcpconform.live.scenarios.registry import scenario
from tcpconform.live.scenarios.helpers import ANY, connected, listener, syn_sent_behind_full_queue, unused_port

# ---------------------------------------------------------------------------
# calls in each state
# ---------------------------------------------------------------------------

@scenario("fresh-socket-calls")
def fresh_socket_calls(rec: Recorder) -> None:
    """Every call on fresh, unconnected sockets: send EPIPE, recv ENOTCONN, accept EINVAL, shutdown ENOTCONN."""
    rec.socket("f")
    rec.send("f", 5)  # EPIPE (POSIX: ENOTCONN)
    rec.recv("f", 5)  # ENOTCONN
    rec.accept("f", "never")  # EINVAL
    rec.shutdown("f", "rd")  # ENOTCONN
    rec.shutdown("f", "wr")  # ENOTCONN
    rec.shutdown("f", "rdwr")  # ENOTCONN
    rec.close("f")

    rec.socket("nb", nonblock=True)
    rec.send("nb", 5)  # EPIPE
    rec.recv("nb", 5)  # ENOTCONN
    rec.accept("nb", "never2")  # EINVAL
    rec.close("nb")

    rec.socket("b")
    rec.bind("b", ANY)  # ok
    rec.send("b", 5)  # EPIPE
    rec.recv("b", 5)  # ENOTCONN
    rec.accept("b", "never3")  # EINVAL
    rec.bind("b", ANY)  # EINVAL: bound already
    rec.close("b")

    rec.socket("l")
    rec.listen("l", 4)  # ok: unbound listen picks a port
    rec.close("l")

    rec.socket("x")
    rec.close("x")


@scenario("listener-calls")
def listener_calls(rec: Recorder) -> None:
    """Every call on a listening socket: send EPIPE, recv ENOTCONN, connect EISCONN, bind EINVAL, shutdown."""
    addr = listener(rec, backlog=4)
    rec.send("L", 5)  # EPIPE
    rec.recv("L", 5)  # ENOTCONN
    rec.connect("L", addr)  # EISCONN (RFC: passive -> active)
    rec.bind("L", ANY)  # EINVAL
    rec.listen("L", 8)  # ok: backlog changed
    rec.shutdown("L", "wr")  # ok, still listening
    rec.shutdown("L", "rd")  # ok: the listener is disconnected -> CLOSED
    rec.accept("L", "never")  # EINVAL: not listening any more
    rec.listen("L", 4)  # ok: listens again
    rec.close("L")

    listener(rec, "N", backlog=4, nonblock=True)
    rec.accept("N", "never2")  # EAGAIN: empty queue
    rec.close("N")


@scenario("closed-connection-calls")
def closed_connection_calls(rec: Recorder) -> None:
    """Every call on descriptors whose connection ended (TIME_WAIT via SHUT_WR both sides; LAST_ACK acked)."""
    connected(rec)
    rec.shutdown("c", "wr")  # FIN_WAIT_1
    rec.recv("s", 10)  # 0: CLOSE_WAIT
    rec.shutdown("s", "wr")  # LAST_ACK
    rec.recv("c", 10)  # 0: TIME_WAIT, the descriptor reads CLOSED
    rec.settle("c", "CLOSED")
    rec.settle("s", "CLOSED")
    for name in ("c", "s"):
        rec.send(name, 5)  # EPIPE
        rec.recv(name, 5)  # 0
        rec.connect(name, rec.local("L"))  # EISCONN
        rec.listen(name, 4)  # EINVAL
        rec.accept(name, f"never-{name}")  # EINVAL
        rec.shutdown(name, "rd")  # ENOTCONN
        rec.shutdown(name, "wr")  # ENOTCONN
        rec.shutdown(name, "rdwr")  # ENOTCONN
    # The port went with the connection (inet_put_port), so bind works again.
    rec.bind("c", ANY)  # ok
    rec.bind("c", ANY)  # EINVAL
    rec.listen("c", 4)  # EINVAL: still SS_CONNECTED
    rec.connect("c", rec.local("L"))  # EISCONN
    rec.close("c")
    rec.close("s")
    rec.close("L")


@scenario("closed-descriptor-calls", pins=("bind.badf", "listen.badf", "connect.badf", "accept.badf", "send.badf",
                                           "recv.badf", "shutdown.badf", "close.badf"))
def closed_descriptor_calls(rec: Recorder) -> None:
    """Every call on a closed descriptor gets EBADF, whatever its socket was: fresh, bound, listening, connected (its connection still closing), or with an error pending."""
    def every_call(name: str, addr: str) -> None:
        rec.call_closed(name, "bind", addr=ANY)  # EBADF
        rec.call_closed(name, "listen", backlog=4)  # EBADF
        rec.call_closed(name, "connect", addr=addr)  # EBADF
        rec.call_closed(name, "accept")  # EBADF
        rec.call_closed(name, "send", length=5)  # EBADF
        rec.call_closed(name, "recv", length=5)  # EBADF
        for how in ("rd", "wr", "rdwr"):
            rec.call_closed(name, "shutdown", how=how)  # EBADF
        rec.call_closed(name, "close")  # EBADF

    connected(rec)
    addr = rec.local("L")
    rec.socket("f")
    rec.close("f")
    every_call("f", addr)
    rec.socket("b")
    rec.bind("b", ANY)
    rec.close("b")
    every_call("b", addr)
    listener(rec, "M", backlog=4)
    rec.close("M")
    every_call("M", addr)
    rec.close("c")  # FIN_WAIT_1/FIN_WAIT_2: the connection outlives the descriptor
    every_call("c", addr)
    rec.socket("e", nonblock=True)
    rec.connect("e", unused_port(rec, "gone"))  # EINPROGRESS, then refused: the error is pending
    rec.settle("e", "CLOSED")
    rec.close("e")
    every_call("e", addr)
    rec.close("s")
    rec.close("L")


@scenario("listen-twice")
def listen_twice(rec: Recorder) -> None:
    """listen() twice on the same socket succeeds (the backlog is updated); the listener still accepts."""
    addr = listener(rec, backlog=1)
    rec.listen("L", 8)  # ok
    rec.socket("c")
    rec.connect("c", addr)
    rec.accept("L", "s")
    rec.close("c")
    rec.close("s")
    rec.close("L")


@scenario("listen-on-connected")
def listen_on_connected(rec: Recorder) -> None:
    """listen() on a connected socket (client side and accepted side) gives EINVAL."""
    connected(rec)
    rec.listen("c", 4)  # EINVAL
    rec.listen("s", 4)  # EINVAL
    rec.bind("c", ANY)  # EINVAL
    rec.close("c")
    rec.close("s")
    rec.close("L")


# ---------------------------------------------------------------------------
# bind conflicts
# ---------------------------------------------------------------------------

@scenario("bind-conflicts")
def bind_conflicts(rec: Recorder) -> None:
    """Two sockets bind one port: EADDRINUSE; bind twice: EINVAL; the port stays taken while listening."""
    rec.socket("a")
    rec.bind("a", ANY)
    port = rec.local("a")
    rec.socket("b")
    rec.bind("b", port)  # EADDRINUSE
    rec.bind("a", ANY)  # EINVAL: already bound
    rec.listen("a", 4)
    rec.bind("b", port)  # EADDRINUSE
    rec.bind("b", ANY)  # ok: another port
    rec.close("b")
    rec.close("a")


@scenario("bind-onto-an-autobound-listener", pins=("bind.inuse",))
def bind_onto_an_autobound_listener(rec: Recorder) -> None:
    """listen() on an unbound socket picks a port the trace does not show; a bind to that port gets EADDRINUSE, and succeeds once the listener is closed (random campaigns, seeds 7 and 2755127191)."""
    rec.socket("L")
    rec.listen("L", 4)                    # ok: autobound, the port is not reported
    port = "127.0.0.1:" + rec.local("L").rsplit(":", 1)[1]  # the recorder reads it; the trace does not say it
    rec.socket("c")
    rec.bind("c", port)                   # EADDRINUSE: the listener holds it
    rec.close("L")
    rec.bind("c", port)                   # ok: released
    rec.close("c")


@scenario("bind-time-wait-port")
def bind_time_wait_port(rec: Recorder) -> None:
    """Binding a port still held by a TIME_WAIT connection gives EADDRINUSE."""
    connected(rec)
    held = rec.local("c")
    rec.close("c")
    rec.recv("s", 10)  # 0
    rec.close("s")
    rec.settle("c", "TIME_WAIT")
    rec.socket("n")
    rec.bind("n", held)  # EADDRINUSE: the TIME_WAIT connection holds it
    rec.close("n")
    rec.close("L")


# ---------------------------------------------------------------------------
# the accept queue
# ---------------------------------------------------------------------------

@scenario("accept-queue-full")
def accept_queue_full(rec: Recorder) -> None:
    """listen(backlog=1) then 3 non-blocking clients: backlog+1 reach ESTABLISHED, the rest stay SYN_SENT."""
    addr = listener(rec, backlog=1, nonblock=True)
    clients = [f"c{i}" for i in range(1, 4)]
    for c in clients:
        rec.socket(c, nonblock=True)
        rec.connect(c, addr)  # EINPROGRESS
        rec.settle(c, "ESTABLISHED", timeout=0.1)
    rec.observe_acceptq("L")  # len = backlog + 1 (sk_acceptq_is_full uses >)
    stuck = [c for c in clients if rec.state_of(c) == "SYN_SENT"]
    if stuck:
        c = stuck[0]  # SYN dropped by the listener: nothing in `ss` on the server side
        rec.connect(c, addr)  # EALREADY
        rec.send(c, 1)  # EAGAIN
        rec.recv(c, 1)  # EAGAIN
        rec.listen(c, 4)  # EINVAL: connecting
    accepted = []
    for i in range(len(clients) + 1):
        ev = rec.accept("L", f"s{i + 1}")
        if ev["ret"] != "ok":
            break  # EAGAIN: the queue is empty
        accepted.append(f"s{i + 1}")
    rec.observe_all()
    for c in clients:
        rec.close(c)  # SYN_SENT: closed without a RST
    for s in accepted:
        rec.close(s)
    rec.close("L")


# No pin on shutdown.synsent: the calls and states alone also let the model take
# c2's SYN through before shutdown() (it cannot see that the listener's queue is
# full), so the explaining run need not use it; the x- observations rule that out.
@scenario("shutdown-syn-sent")
def shutdown_syn_sent(rec: Recorder) -> None:
    """shutdown() in SYN_SENT (queue full) disconnects without RST; connect() may then start over."""
    addr = syn_sent_behind_full_queue(rec)
    rec.shutdown("c2", "rdwr")  # ok: -> CLOSED, no RST
    rec.connect("c2", addr)  # EINPROGRESS: a new attempt (tcp_connect_init clears sk_err)
    rec.settle("c2", "ESTABLISHED", timeout=0.1)
    rec.recv("c2", 1)  # EAGAIN: still SYN_SENT
    rec.shutdown("c2", "wr")  # ok: -> CLOSED, leaves ECONNRESET pending
    rec.recv("c2", 1)  # ECONNRESET
    rec.close("c2")
    rec.accept("L", "s1")
    rec.close("c1")
    rec.close("s1")
    rec.close("L")


@scenario("abort-before-accept")
def abort_before_accept(rec: Recorder) -> None:
    """Client aborts (SO_LINGER 0) before accept: accept still succeeds, the new socket is CLOSED, recv ECONNRESET."""
    addr = listener(rec)
    rec.socket("c")
    rec.connect("c", addr)
    rec.close("c", linger0=True)  # RST to the queued child
    rec.accept("L", "s")  # ok
    rec.recv("s", 10)  # ECONNRESET
    rec.recv("s", 10)  # 0
    rec.send("s", 1)  # EPIPE
    rec.close("s")
    rec.close("L")


@scenario("peer-closed-before-accept")
def peer_closed_before_accept(rec: Recorder) -> None:
    """Client closes before accept: the accepted socket is CLOSE_WAIT; sending to the orphan draws a RST."""
    addr = listener(rec)
    rec.socket("c")
    rec.connect("c", addr)
    rec.close("c")
    rec.settle("c", "FIN_WAIT_2")
    rec.accept("L", "s")  # ok, CLOSE_WAIT
    rec.recv("s", 10)  # 0
    rec.send("s", 1)  # ok: queued, the orphan answers with RST
    rec.settle("s", "CLOSED")
    rec.send("s", 1)  # EPIPE (RST in CLOSE_WAIT)
    rec.recv("s", 10)  # 0
    rec.close("s")
    rec.close("L")


@scenario("listener-closed-with-queue")
def listener_closed_with_queue(rec: Recorder) -> None:
    """Closing a listener with unaccepted connections resets them: recv ECONNRESET, send ECONNRESET then EPIPE."""
    addr = listener(rec, backlog=4)
    for c in ("c1", "c2", "c3"):
        rec.socket(c)
        rec.connect(c, addr)
    rec.send("c3", 3)
    rec.close("L")  # RST to each queued child
    for c in ("c1", "c2", "c3"):
        rec.settle(c, "CLOSED")
    rec.recv("c1", 10)  # ECONNRESET
    rec.recv("c1", 10)  # 0
    rec.send("c1", 1)  # EPIPE
    rec.send("c2", 1)  # ECONNRESET
    rec.send("c2", 1)  # EPIPE
    rec.recv("c2", 10)  # 0
    rec.recv("c3", 10)  # ECONNRESET
    rec.connect("c3", addr)  # EISCONN
    rec.shutdown("c3", "rdwr")  # ENOTCONN
    for c in ("c1", "c2", "c3"):
        rec.close(c)
