"""Scenarios: short, fixed programs of socket calls that :mod:`tcpconform.live.run` records.

Each scenario is a function taking a :class:`~tcpconform.live.recorder.Recorder`
and making its calls on loopback; its docstring's first line says what it
shows. ``SCENARIOS`` maps each scenario's name to its function, in the order
in which ``conform run`` runs them.

Rules every scenario keeps:

* calls are fixed, or follow from what the kernel returned, never from time;
* a blocking call is made only where it cannot block for long (on loopback,
  data and segments sent are processed at the peer before ``send`` returns,
  give or take a softirq); the recorder's watchdog turns a hang into
  :class:`~tcpconform.live.recorder.ScenarioTimeout`;
* ports are chosen by the kernel (bind to ``127.0.0.1:0``);
* states are observed after every call (the recorder's ``auto_observe``),
  and :meth:`Recorder.settle` waits, bounded, where a peer's segment or a
  delayed ACK (about 40 ms on loopback) decides the next state.

Expected outcomes on Linux are written next to the calls as comments; they
are not asserted here (the checker judges the trace against the model).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from tcpconform.live.netfilter import FIN, PURE_ACK, SYN_ONLY, dropping
from tcpconform.live.recorder import Recorder
from tcpconform.live.sysctl import setting

__all__ = ["SCENARIOS", "PINS", "ANY", "record"]

ANY = "127.0.0.1:0"
BIG = 1 << 20

Scenario = Callable[[Recorder], None]
SCENARIOS: dict[str, Scenario] = {}
# scenario name -> the rule ids (case ids of tcpconform.model.rules) it pins: the
# run that explains its trace must use each of them (tests/live/test_scenarios.py),
# so a wrong rule there makes the recorded trace diverge.
PINS: dict[str, tuple[str, ...]] = {}


def scenario(name: str, pins: tuple[str, ...] = ()) -> Callable[[Scenario], Scenario]:
    """Register a scenario; ``pins``: the rules its trace is evidence for."""
    def register(fn: Scenario) -> Scenario:
        if name in SCENARIOS:
            raise ValueError(f"scenario {name!r} registered twice")
        if not (fn.__doc__ or "").strip():
            raise ValueError(f"scenario {name!r} needs a docstring")
        SCENARIOS[name] = fn
        PINS[name] = tuple(pins)
        return fn
    return register


def describe(name: str) -> str:
    """The first line of a scenario's docstring."""
    return (SCENARIOS[name].__doc__ or "").strip().splitlines()[0]


def record(name: str, **options: Any) -> Recorder:
    """Run scenario ``name`` in a fresh recorder (``options`` go to :class:`Recorder`, e.g.
    ``netstat=True``); every descriptor is closed afterwards."""
    fn = SCENARIOS[name]
    with Recorder(scenario=name, **options) as rec:
        fn(rec)
    return rec


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


# ---------------------------------------------------------------------------
# refused connections
# ---------------------------------------------------------------------------

@scenario("refused-no-socket")
def refused_no_socket(rec: Recorder) -> None:
    """Blocking connect to a port with no socket: ECONNREFUSED, and again on retry."""
    addr = unused_port(rec, "gone")
    rec.socket("c")
    rec.connect("c", addr)  # ECONNREFUSED
    rec.connect("c", addr)  # ECONNREFUSED again: a failed connect may be retried
    rec.send("c", 1)  # EPIPE
    rec.recv("c", 1)  # ENOTCONN
    rec.close("c")


@scenario("refused-bound-not-listening")
def refused_bound_not_listening(rec: Recorder) -> None:
    """Connect to a port bound but not listening is refused; once the port listens, the same socket connects."""
    rec.socket("b")
    rec.bind("b", ANY)
    rec.socket("c")
    rec.connect("c", rec.local("b"))  # ECONNREFUSED: bound is not listening
    rec.listen("b", 4)
    rec.connect("c", rec.local("b"))  # ok
    rec.accept("b", "s")
    rec.close("c")
    rec.recv("s", 10)  # 0
    rec.close("s")
    rec.close("b")
    rec.settle("c", "TIME_WAIT")


@scenario("refused-then-listen", pins=("listen.history",))
def refused_then_listen(rec: Recorder) -> None:
    """A socket whose connect() was refused cannot listen on Linux 6.18 (EINVAL; 6.1: ok), but may connect again."""
    rec.socket("b")
    rec.bind("b", ANY)  # bound, not listening: refuses, and no port the kernel picks for c is its
    addr = rec.local("b")
    rec.socket("c")
    rec.connect("c", addr)  # ECONNREFUSED: a SYN went out, the socket played the active role
    rec.listen("c", 4)  # EINVAL on 6.18 (0 on 6.1), after picking a port that stays bound
    rec.bind("c", ANY)  # EINVAL on 6.18: that port is still bound (random campaign, seed 1)
    rec.connect("c", addr)  # ECONNREFUSED: connecting again is allowed, from that port
    rec.close("c")
    rec.socket("n", nonblock=True)
    rec.connect("n", addr)  # EINPROGRESS
    rec.settle("n", "CLOSED")
    rec.connect("n", addr)  # ECONNREFUSED (the pending error)
    rec.listen("n", 4)  # EINVAL on 6.18
    rec.connect("n", addr)  # EINPROGRESS, from the port the failing listen() picked (random campaign, seed 1)
    rec.settle("n", "CLOSED")
    rec.close("n")
    rec.close("b")


@scenario("former-listener-connects", pins=("connect.history",))
def former_listener_connects(rec: Recorder) -> None:
    """A listener shut down for reading cannot connect on Linux 6.18 (EINVAL; 6.1: refused), but may listen again."""
    addr = unused_port(rec, "gone")
    listener(rec)
    rec.shutdown("L", "rd")  # ok: the listener closes; its port (picked by bind to port 0) is released
    rec.bind("L", ANY)  # ok: a new port
    rec.connect("L", addr)  # EINVAL on 6.18 (ECONNREFUSED on 6.1), and the port is released again
    rec.bind("L", ANY)  # ok (random campaign, seed 7)
    rec.listen("L", 4)  # ok: listening again is allowed
    rec.socket("c")
    rec.connect("c", rec.local("L"))  # ok
    rec.accept("L", "s")
    rec.close("c")
    rec.close("s")
    rec.close("L")


@scenario("nonblocking-connect")
def nonblocking_connect(rec: Recorder) -> None:
    """Non-blocking connect: EINPROGRESS, then (handshake done) connect again gives 0, then EISCONN."""
    addr = listener(rec)
    rec.socket("c", nonblock=True)
    rec.connect("c", addr)  # EINPROGRESS
    rec.settle("c", "ESTABLISHED")
    rec.connect("c", addr)  # ok (Linux), not EISCONN
    rec.connect("c", addr)  # EISCONN
    rec.accept("L", "s")
    rec.send("c", 3)
    rec.recv("s", 10)  # 3
    rec.close("c")
    rec.close("s")
    rec.close("L")


@scenario("nonblocking-connect-refused")
def nonblocking_connect_refused(rec: Recorder) -> None:
    """Non-blocking connect to a bound, non-listening port: EINPROGRESS, ECONNREFUSED, then starts over."""
    rec.socket("b")
    rec.bind("b", ANY)
    addr = rec.local("b")
    rec.socket("c", nonblock=True)
    rec.connect("c", addr)  # EINPROGRESS
    rec.settle("c", "CLOSED")
    rec.connect("c", addr)  # ECONNREFUSED (the pending error)
    rec.connect("c", addr)  # EINPROGRESS: a new attempt
    rec.settle("c", "CLOSED")
    rec.send("c", 1)  # ECONNREFUSED: the second attempt's error, reported to send
    rec.connect("c", addr)  # ECONNABORTED: the attempt failed and its error was consumed
    rec.connect("c", addr)  # EINPROGRESS: starts over
    rec.settle("c", "CLOSED")
    rec.close("c")
    rec.close("b")


@scenario("connect-twice-blocking")
def connect_twice_blocking(rec: Recorder) -> None:
    """Blocking connect succeeds; a second connect (same or other address) gives EISCONN."""
    addr = listener(rec)
    rec.socket("c")
    rec.connect("c", addr)  # ok
    rec.connect("c", addr)  # EISCONN
    rec.connect("c", rec.local("c"))  # EISCONN
    rec.accept("L", "s")
    rec.close("s")
    rec.close("c")
    rec.close("L")


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
