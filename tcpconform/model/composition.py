"""What composing endpoints adds to the one-endpoint rule table, written once.

The rule table (:mod:`tcpconform.model.rules`) says what one endpoint does.
Some facts are about more than one endpoint, or about an endpoint and the
descriptor naming it, and no case can say them: the request sock a SYN
makes, the child ``accept()`` hands over, the TIME_WAIT connection a
descriptor leaves behind, what a ``state`` event reads through a
descriptor.  Each is written here once, with its source as the rules cite
theirs (a Linux function, an RFC 9293 section, ``[E]`` for observed on
Linux 6.18), and read by the checker's model (:mod:`tcpconform.model.system`),
the endpoint exploration (:mod:`tcpconform.model.space`), the diagrams and
the proofs (:mod:`tcpconform.properties.compose`, :mod:`tcpconform.properties.pair`,
which read the field values below as z3 literals).

:data:`FACTS` lists them for a reader and for the test that each cites a source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from tcpconform.model import rules, vocab
from tcpconform.model.semantics import Endpoint


@dataclass(frozen=True)
class Fact:
    """One fact of composition: its name here, what it says, where it comes from."""
    name: str
    says: str
    source: str


# ---------------------------------------------------------------------------
# The request sock
REQUEST_SOCK_FIELDS: dict = {**rules.INITIAL, **rules.REQ, "role": "active"}
"""A request sock's fields, except those it takes from its listener: passive
SYN_RECEIVED with no descriptor (``rules.REQ``, what the table's request-sock
cases test), otherwise as ``socket()`` makes an endpoint — but for its role
history: the socket accept() hands over counts as once connected, as a
client's does (Linux 6.18: after connect(AF_UNSPEC) it may connect again but
not listen [E] evidence/kernel-repro/v2/REPORT.md K)."""

FROM_LISTENER: tuple[str, ...] = ("bound", "rdsh", "wrsh")
"""The fields a request sock takes from its listener: it is bound as the
listener is, and has the listener's shutdown bits."""


def request_sock(listener: Endpoint) -> Endpoint:
    """The endpoint ``spawn_req`` makes when a SYN reaches ``listener``."""
    return Endpoint(**{**REQUEST_SOCK_FIELDS, **{f: getattr(listener, f) for f in FROM_LISTENER}})


def is_request_sock(ep: Endpoint) -> bool:
    """A request sock: passive SYN_RECEIVED, no descriptor (a half-open connection)."""
    return ep.fd == rules.REQ["fd"] and ep.st == rules.REQ["st"]


def waits_in_queue(ep: Endpoint) -> bool:
    """A completed connection in an accept queue: no descriptor yet, past SYN_RECEIVED."""
    return ep.fd == rules.REQ["fd"] and ep.st != rules.REQ["st"]


# ---------------------------------------------------------------------------
# The accepted child
ACCEPTED: dict = dict(fd="open", ss="CONNECTED", nb=False)
"""What ``accept()`` changes in the child it dequeues (``dequeue``)."""


def accepted(child: Endpoint) -> Endpoint:
    """The child at the head of an accept queue as ``accept()`` hands it over."""
    return child._replace(**ACCEPTED)


# ---------------------------------------------------------------------------
# A listener that stops
RESET_WHEN_LISTENER_STOPS: frozenset = frozenset(rules.NEED_RESET)
"""The states in which a queued child sends a RST when its listener stops
(``reset_queue``): those in which an abort sends one; request socks are
dropped without one."""


def reset_when_listener_stops(child: Endpoint) -> bool:
    """Whether a queued child sends a RST when its listener stops."""
    return child.st in RESET_WHEN_LISTENER_STOPS


# ---------------------------------------------------------------------------
# TIME_WAIT and the descriptor
STARTS_AFRESH: frozenset = frozenset({"set_local", "autobind", "set_remote"})
"""The composition actions with which a descriptor starts a new connection
(bind, listen, connect)."""


def left_behind(before: Endpoint, tags: Iterable[str]) -> Endpoint | None:
    """The connection a call leaves behind, or None: when a descriptor whose
    connection is in TIME_WAIT starts afresh, the connection stays, with no
    descriptor and no name, holding its port until it expires."""
    if before.st == "TIME_WAIT" and before.fd == "open" and STARTS_AFRESH & set(tags):
        return before._replace(fd="closed")
    return None


def without_connection(after: Endpoint) -> Endpoint:
    """The descriptor's own socket once its TIME_WAIT connection was left behind: CLOSED."""
    return after._replace(st="CLOSED") if after.st == "TIME_WAIT" else after


# ---------------------------------------------------------------------------
# Endpoints the composed system makes itself
def gone() -> Endpoint:
    """A name whose descriptor was closed and whose connection is gone: what a
    call on it is asked of (CLOSED, no descriptor)."""
    from tcpconform.model.semantics import INITIAL
    return INITIAL._replace(st="CLOSED", fd="closed")


def outside_child(listener: Endpoint) -> Endpoint:
    """In an open world, the connection an outside peer completed with
    ``listener`` that waits in its accept queue (seen first at ``accept()``)."""
    from tcpconform.model.semantics import INITIAL
    return INITIAL._replace(st="ESTABLISHED", fd="none", bound=listener.bound, role=REQUEST_SOCK_FIELDS["role"])


def made_from(ep: Endpoint) -> list[Endpoint]:
    """The endpoints the composed system (``tcpconform.model.system``) makes
    from ``ep`` other than by a rule's step: the connection a socket that
    starts afresh leaves behind and the socket without it (any TIME_WAIT with
    a descriptor may), an outside peer's queued connection at a listener, and
    a receive queue an outside peer's data left empty."""
    found = []
    if ep.st == "TIME_WAIT" and ep.fd == "open":
        found += [ep._replace(fd="closed"), without_connection(ep)]
    if ep.st == "LISTEN":
        found.append(outside_child(ep))
    if ep.rcvq:
        found.append(ep._replace(rcvq=0))
    return found


def own_connection_holds_port(ep: Endpoint) -> bool:
    """Whether a socket's own connection may hold the port a bind() on its
    descriptor asks for: one in TIME_WAIT lives on apart from the descriptor."""
    return ep.st == "TIME_WAIT"


def observed(st: str, fd: str, profile: str) -> frozenset:
    """The states a ``state`` event may report for a socket whose connection
    is in ``st``: through an open descriptor TIME_WAIT reads CLOSED on Linux
    (posix allows either); otherwise the connection's state."""
    if fd == "open" and st == "TIME_WAIT":
        return frozenset({"CLOSED"}) if profile in vocab.LINUX_PROFILES else frozenset({"CLOSED", "TIME_WAIT"})
    return frozenset({st})


GONE = frozenset({"CLOSED"})
"""What a ``state`` event may report for a name whose endpoint is gone."""


def full_socket_state(st: str, fd: str) -> str:
    """The state of the kernel's full socket (``struct tcp_sock``, what the
    state-change tracepoint follows) for a connection in ``st``: CLOSED where
    Linux has handed the connection to a timewait sock — TIME_WAIT, and
    FIN_WAIT_2 once the descriptor is closed (an orphan becomes a timewait sock
    with tw_substate FIN_WAIT2 when tcp_fin_timeout is not above
    TCP_TIMEWAIT_LEN, the default 60 s)."""
    if st == "TIME_WAIT" or (st == "FIN_WAIT_2" and fd != "open"):
        return "CLOSED"
    return st


FACTS: tuple[Fact, ...] = (
    Fact("request_sock",
         "a SYN reaching a listener makes a request sock: SYN_RECEIVED, no descriptor, bound as the "
         "listener is and with its shutdown bits; it answers SYN+ACK",
         "tcp_input.c tcp_conn_request (inet_reqsk_alloc, NEW_SYN_RECV); the child is made by "
         "sk_clone_lock, which copies sk_shutdown [E] (req.ack.shut)"),
    Fact("waits_in_queue",
         "a request sock that completes joins its listener's accept queue, still with no descriptor",
         "tcp_minisocks.c tcp_check_req → inet_csk_complete_hashdance → inet_csk_reqsk_queue_add"),
    Fact("accepted",
         "accept() hands over the child at the head of the queue with an open descriptor, SS_CONNECTED "
         "and blocking",
         "af_inet.c inet_accept: newsock->state = SS_CONNECTED; socket.c do_accept: no O_NONBLOCK "
         "without SOCK_NONBLOCK [E]"),
    Fact("reset_when_listener_stops",
         "a listener that stops resets each child not yet accepted (RST from the states in which an "
         "abort sends one) and drops each request sock",
         "inet_connection_sock.c inet_csk_listen_stop → inet_child_forget, tcp_disconnect; "
         "tcp.c tcp_need_reset"),
    Fact("left_behind",
         "a descriptor whose connection reached TIME_WAIT starts afresh on bind, listen or connect; the "
         "connection stays behind, nameless, holding its port until it expires",
         "tcp_minisocks.c tcp_time_wait: an inet_timewait_sock takes over the connection and its "
         "port (inet_twsk_hashdance), tcp_done leaves the descriptor's sock TCP_CLOSE [E] "
         "(a bind to the port: EADDRINUSE)"),
    Fact("observed",
         "an open descriptor whose connection reached TIME_WAIT reads CLOSED (the table's calls treat "
         "it as CLOSED: rules.CLOSEDISH); a name whose endpoint is gone reads CLOSED",
         "tcp_minisocks.c tcp_time_wait → tcp_done: the descriptor's tcp_sock is TCP_CLOSE, which "
         "TCP_INFO reports [E]"),
    Fact("full_socket_state",
         "the state-change tracepoint follows the full socket, which goes to CLOSE where a timewait "
         "sock takes over: in TIME_WAIT, and in FIN_WAIT_2 once the descriptor is closed",
         "tcp_minisocks.c tcp_time_wait; tcp_input.c tcp_rcv_state_process; tcp.c tcp_close "
         "(tcp_fin_timeout ≤ TCP_TIMEWAIT_LEN) [E]"),
)
