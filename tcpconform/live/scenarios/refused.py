"""Scenarios: refused connections, and what a socket may do after one."""

from __future__ import annotations

from tcpconform.live.recorder import Recorder
from tcpconform.live.scenarios.registry import scenario
from tcpconform.live.scenarios.helpers import ANY, listener, unused_port

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
