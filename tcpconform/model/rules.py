"""THE RULES OF TCP ENDPOINTS, AS SEEN THROUGH THE SOCKETS API — written once.

Everything that decides a transition of one endpoint lives in this file, as
data: :data:`CASES`.  The executable semantics, the z3 encoding, the
diagrams and the documentation tables are all derived from it; nothing else
in the project may restate a rule.

How to read a case
------------------
``case(id, trigger, guard, *outcomes, source=..., note=...)``

* ``trigger`` is ``call:<op>`` (a sockets call on the endpoint's
  descriptor), ``seg`` (a segment arrives; the guard names which with
  ``seg=``) or ``timer:<name>``.
* Cases of one trigger are tried **in order; the first whose guard holds
  decides** — the order is the order of the kernel's own checks, cited in
  ``source``.
* Each outcome gives a return value (``ok``, an errno, ``WAIT`` for a
  blocking call that sleeps, ``$err`` for the pending error), field updates,
  segments sent, and composition actions (``tags``, see tcpconform.model.table).
  Several outcomes = nondeterminism the model cannot resolve from a trace.
* ``profiles``: ``linux`` is what Linux 6.x does (the live stack is the
  judge); ``posix`` is the set POSIX allows; ``rfc`` marks RFC 9293 arcs
  that no sockets API exposes (drawn in the diagrams, never executed).
* ``note`` starting with ``INTERP:`` marks an interpretation: a reading of
  the sources that the model had to choose.  ``grep INTERP model/`` lists them.
* ``fig5``: the arcs of RFC 9293 Figure 5 the case encodes; ``departs``:
  ``transition`` or ``behaviour`` where Linux departs from RFC 9293 or
  POSIX (the note says how); ``in_order=False``: no run on an in-order
  channel reaches the case.  The diagrams and docs read these, not the prose.

Sources are cited as in ../shared/reference/linux-tcp-semantics.md:
``R9293 §x`` (RFC 9293), a Linux function, or ``[E]`` (observed on Linux 6.18).
"""

from __future__ import annotations

from tcpconform.model import vocab
from typing import NamedTuple

from tcpconform.model.table import RELEASE, Case, case, guard, out
from tcpconform.model.vocab import RET_ERR, STATES, WAIT

ALL = set(STATES)
EST, CW, FW1, FW2 = "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1", "FIN_WAIT_2"
# tcp_need_reset(): the states in which an abort sends a RST (tcp.c).
NEED_RESET = {EST, CW, FW1, FW2, "SYN_RECEIVED"}
# An open descriptor whose connection reached TIME_WAIT reads CLOSED: the
# kernel moved the connection to an inet_timewait_sock and its tcp_sock is
# TCP_CLOSE (tcp_time_wait → tcp_done) [E].  Calls therefore treat TIME_WAIT
# exactly as CLOSED; the connection itself lives on (it holds its port).  What
# follows for the system (a state event, the connection left behind when the
# descriptor starts afresh) is in tcpconform.model.composition.
CLOSEDISH = {"CLOSED", "TIME_WAIT"}
LINUX = vocab.LINUX_PROFILES
LINUX_NOW = ("linux",)          # Linux as measured on 6.18, not 6.1
POSIX = ("posix",)
CLAIM = "$claim"  # bound: no -> auto (the kernel picks a port), else unchanged
IFCONN_DISC = "$connecting->DISCONNECTING"
IFCONN_CONN = "$connecting->CONNECTED"

# Effects shared by several rules, each named after the kernel function.
def tcp_reset(err: str) -> dict:
    """tcp_input.c tcp_reset → tcp_done: CLOSE, the error stored, both
    directions shut, an autobound port released."""
    return dict(st="CLOSED", err=err, rdsh=True, wrsh=True, bound=RELEASE)


TCP_DONE = dict(st="CLOSED", rdsh=True, wrsh=True, bound=RELEASE)
TIME_WAIT_ENTRY = dict(st="TIME_WAIT", done=True, rdsh=True, wrsh=True, bound=RELEASE)
# tcp.c tcp_disconnect: → CLOSE, sk_shutdown = 0, SOCK_DONE cleared, queues purged.
DISCONNECT = dict(st="CLOSED", ss="UNCONNECTED", rdsh=False, wrsh=False, done=False, bound=RELEASE)
# tcp_disconnect on a socket already in TCP_CLOSE (a connect() reporting its
# failure): no state change, so no port is released (tcp_set_state does that) [E].
AFTER_FAILED = {k: v for k, v in DISCONNECT.items() if k not in ("st", "bound")}


def _badf(op: str) -> Case:
    return case(f"{op}.badf", f"call:{op}", dict(fd={"closed", "none"}), out("EBADF"),
                source="net/socket.c sockfd_lookup_light [E]",
                note="a call on a name whose descriptor was closed")


def _wait(ret_nb: str = "EAGAIN", **kw) -> tuple:
    """A call that would sleep: EAGAIN (or EALREADY) when non-blocking, else
    it blocks and returns later as if called again — or a signal interrupts
    its sleep: EINTR, with what the call did before sleeping kept (a
    connect's SYN is out: the handshake goes on) (net/sock.h sock_intr_errno;
    signal(7): socket calls are interrupted without SA_RESTART, or with a
    timeout set) — or, with SO_RCVTIMEO/SO_SNDTIMEO set, its sleep runs out:
    what a non-blocking call returns, with the same effects (sock.c
    sock_rcvtimeo/sock_sndtimeo; a blocking connect() whose SO_SNDTIMEO runs
    out returns EINPROGRESS and stays SYN_SENT [E] evidence/kernel-repro/v2 J)."""
    return (out(ret_nb, when=dict(nb=True), **kw), out(WAIT, when=dict(nb=False), **kw),
            out("EINTR", when=dict(nb=False, intr=True), **kw), out(ret_nb, when=dict(nb=False, timeo=True), **kw))


CALL_CASES: list[Case] = [
    # ---- socket ---------------------------------------------------------
    case("socket.ok", "call:socket", None, out(tags=("introduce",)),
         source="af_inet.c inet_create: TCP_CLOSE, SS_UNCONNECTED [E]; R9293 §3.10.1 (create TCB) (S4)"),

    # ---- bind -----------------------------------------------------------
    _badf("bind"),
    case("bind.family", "call:bind", dict(fammatch=False), out("EAFNOSUPPORT"),
         source="af_inet.c __inet_bind: sin_family != AF_INET → -EAFNOSUPPORT [E] evidence/kernel-repro/v2 H"),
    case("bind.bound", "call:bind", dict(bound={"auto", "explicit"}), out("EINVAL"),
         source="af_inet.c __inet_bind: inet_num != 0 → -EINVAL [E] (bind twice)"),
    case("bind.state", "call:bind", dict(st=ALL - CLOSEDISH), out("EINVAL"),
         source="af_inet.c __inet_bind: sk_state != TCP_CLOSE → -EINVAL [E]"),
    case("bind.inuse", "call:bind", dict(conflict=True), out("EADDRINUSE"),
         source="inet_connection_sock.c inet_csk_get_port/inet_csk_bind_conflict (-EADDRINUSE since v6.1) [E] (S6)",
         note="INTERP: no socket of a trace sets SO_REUSEADDR, so any holder of the port conflicts, TIME_WAIT included"),
    case("bind.ok", "call:bind", None,
         out(when=dict(port0=False), set=dict(bound="explicit"), tags=("set_local",)),
         out(when=dict(port0=True), set=dict(bound="auto"), tags=("set_local",)),
         source="af_inet.c __inet_bind: SOCK_BINDPORT_LOCK only for a nonzero port, so a port picked for "
                "bind(port 0) is released when the socket reaches CLOSE like an autobound one [E] (S6)"),

    # ---- listen ---------------------------------------------------------
    _badf("listen"),
    case("listen.connected", "call:listen", dict(ss={"CONNECTING", "CONNECTED", "DISCONNECTING"}), out("EINVAL"),
         source="af_inet.c inet_listen: sock->state != SS_UNCONNECTED → -EINVAL [E]"),
    case("listen.again", "call:listen", dict(st="LISTEN"), out(tags=("set_backlog",)),
         note="Linux: listen() on a listener returns 0 and only changes the backlog",
         source="af_inet.c __inet_listen_sk: already listening, only the backlog changes [E]",
         departs="behaviour"),
    case("listen.state", "call:listen", dict(st=ALL - CLOSEDISH), out("EINVAL"),
         source="af_inet.c __inet_listen_sk: sk_state not in CLOSE|LISTEN → -EINVAL [C]"),
    case("listen.inuse", "call:listen", dict(bound="explicit", conflict=True), out("EADDRINUSE"),
         source="inet_connection_sock.c inet_csk_listen_start: get_port() again, now as a listener, "
                "finds the port held by the socket's own former connection in TIME_WAIT, or by one it "
                "left behind when it started afresh [E] (random campaigns; scenario self-connect-shut-wr)",
         note="Linux: EADDRINUSE can come at listen() as well as at bind()",
         departs="behaviour"),
    case("listen.history", "call:listen", dict(role="active", st=CLOSEDISH),
         out("EINVAL", set=dict(bound=CLAIM), via=("LISTEN",), tags=("autobind",)),
         source="Linux 6.18: a socket whose connect() sent a SYN (refused, reset in SYN_RECEIVED, aborted by "
                "shutdown) cannot listen; the call fails after picking a port (getsockname changes), and the "
                "state tracepoint shows CLOSE -> LISTEN -> CLOSE [E] evidence/kernel-facts.md items 1, 11, 13; "
                "scenario refused-then-listen; on a descriptor whose connection is in TIME_WAIT the socket "
                "starts afresh (a new port) and the connection stays behind (scenario self-connect-shut-wr)",
         note="Linux 6.18 departs from RFC 9293, which lets a CLOSED socket open either way: once connected, it cannot listen; "
              "Linux 6.1 lets it listen (linux-6.1 profile); the port the failing call picks stays bound (a later bind() "
              "gets EINVAL, connect() goes out from it, its failure releases it: random campaign, seed 1)",
         profiles=LINUX_NOW, departs="behaviour"),
    case("listen.ok", "call:listen", None,
         out(set=dict(st="LISTEN", bound=CLAIM, role="passive"), tags=("autobind", "set_backlog")),
         source="inet_connection_sock.c inet_csk_listen_start; R9293 §3.10.1 passive OPEN; Fig. 5 CLOSED→LISTEN (S1, S10)",
         fig5=(("CLOSED", "LISTEN"),)),

    # ---- connect --------------------------------------------------------
    _badf("connect"),
    case("connect.family", "call:connect", dict(fammatch=False), out("EAFNOSUPPORT"),
         source="tcp_ipv4.c tcp_v4_connect: sin_family != AF_INET → -EAFNOSUPPORT [E] evidence/kernel-repro/v2 H"),
    case("connect.disconnecting", "call:connect", dict(ss="DISCONNECTING"), out("EINVAL"),
         source="af_inet.c __inet_stream_connect: switch (sock->state) default → -EINVAL [C]"),
    case("connect.connected", "call:connect", dict(ss="CONNECTED"),
         out("EISCONN"),
         source="af_inet.c __inet_stream_connect case SS_CONNECTED [E] (also after RST, FIN or TIME_WAIT)"),
    case("connect.inprogress", "call:connect", dict(ss="CONNECTING", st={"SYN_SENT", "SYN_RECEIVED"}),
         *_wait("EALREADY"),
         source="af_inet.c __inet_stream_connect case SS_CONNECTING → -EALREADY; blocking: inet_wait_for_connect [E]"),
    case("connect.failed", "call:connect", dict(ss="CONNECTING", st="CLOSED"),
         out(RET_ERR, when=dict(err={"ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"}),
             set=dict(AFTER_FAILED, err="NONE"), rcvq="zero"),
         out("ECONNABORTED", when=dict(err="NONE"), set=dict(AFTER_FAILED, err="NONE"), rcvq="zero"),
         source="af_inet.c __inet_stream_connect sock_error: sock_error(sk) ?: -ECONNABORTED; SS_UNCONNECTED; disconnect() [E]"),
    case("connect.failed.timewait", "call:connect", dict(ss="CONNECTING", st="TIME_WAIT"),
         out(RET_ERR, when=dict(err={"ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"}),
             set=dict(AFTER_FAILED, err="NONE"), rcvq="zero"),
         out("ECONNABORTED", when=dict(err="NONE"), set=dict(AFTER_FAILED, err="NONE"), rcvq="zero"),
         source="af_inet.c __inet_stream_connect sock_error (the descriptor's sk is TCP_CLOSE) [E]",
         note="INTERP: the descriptor is disconnected while its former connection lives on in TIME_WAIT "
              "and keeps its port (a later bind to it: EADDRINUSE [E])"),
    case("connect.completed", "call:connect", dict(ss="CONNECTING"),
         out(set=dict(ss="CONNECTED")),
         out("EISCONN", set=dict(ss="CONNECTED"), profiles=POSIX),
         source="af_inet.c __inet_stream_connect: handshake done → 0, SS_CONNECTED [E] 'nb connect again → OK'",
         note="Linux returns 0 to the connect() after a non-blocking handshake completed; BSD stacks say EISCONN",
         departs="behaviour"),
    case("connect.listening", "call:connect", dict(st=ALL - CLOSEDISH),
         out("EISCONN", profiles=LINUX),
         out("EISCONN", profiles=POSIX), out("EOPNOTSUPP", profiles=POSIX), out("EINVAL", profiles=POSIX),
         source="af_inet.c __inet_stream_connect: SS_UNCONNECTED and sk_state != CLOSE → -EISCONN [E]",
         note="Linux departs from R9293 §3.10.1 (LISTEN + active OPEN → SYN-SENT)",
         departs="transition"),
    case("connect.history", "call:connect", dict(role="passive", st=CLOSEDISH), out("EINVAL", set=dict(bound=RELEASE), via=("SYN_SENT",)),
         source="Linux 6.18: a former listener (shutdown SHUT_RD or SHUT_RDWR) cannot connect: EINVAL from "
                "inside sk_prot->connect, the socket stays CLOSE [E] evidence/kernel-facts.md "
                "items 3, 13; the state tracepoint shows CLOSE -> SYN_SENT -> CLOSE and no SYN is sent "
                "(scenario former-listener-connects); that CLOSE releases a port picked by the kernel, "
                "an explicit one stays (random campaign, seed 7)",
         note="Linux 6.18 departs from RFC 9293, which lets a CLOSED socket open either way: a former listener cannot connect; "
              "Linux 6.1 connects from the old listening port (linux-6.1 profile)",
         profiles=LINUX_NOW, departs="behaviour"),
    case("connect.start", "call:connect", None,
         *_wait("EINPROGRESS", set=dict(st="SYN_SENT", ss="CONNECTING", bound=CLAIM, err="NONE", done=False,
                                        role="active"),
                emit=("SYN",), tags=("autobind", "set_remote")),
         source="tcp_ipv4.c tcp_v4_connect; tcp_output.c tcp_connect_init (sk_err = 0, SOCK_DONE cleared) [E]; "
                "R9293 §3.10.1 active OPEN; Fig. 5 CLOSED→SYN-SENT (S2, S7)",
         fig5=(("CLOSED", "SYN_SENT"),)),

    # ---- accept ---------------------------------------------------------
    _badf("accept"),
    case("accept.notlisten", "call:accept", dict(st=ALL - {"LISTEN"}), out("EINVAL"),
         source="inet_connection_sock.c inet_csk_accept: sk_state != TCP_LISTEN → -EINVAL [E]"),
    case("accept.ok", "call:accept", dict(q_nonempty=True), out(tags=("dequeue",)),
         source="inet_connection_sock.c inet_csk_accept: reqsk_queue_remove; the listener stays LISTEN (S11)",
         note="accept() only dequeues a connection the kernel already completed (the seed's S12 says otherwise)",
         departs="behaviour"),
    case("accept.empty", "call:accept", None, *_wait("EAGAIN"),
         source="inet_connection_sock.c inet_csk_wait_for_connect [E]"),

    # ---- send -----------------------------------------------------------
    _badf("send"),
    case("send.error", "call:send", dict(st=ALL - {EST, CW}, err={"ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"}),
         out(RET_ERR, set=dict(err="NONE")),
         source="stream.c sk_stream_wait_connect: sock_error() first [E] (RST: first ECONNRESET, then EPIPE)"),
    case("send.never", "call:send", dict(ss="UNCONNECTED", st={"CLOSED", "LISTEN"}),
         out("EPIPE", profiles=LINUX), out("ENOTCONN", profiles=POSIX),
         source="stream.c sk_stream_wait_connect: state not SYN_SENT|SYN_RECV → -EPIPE [E]; [P: zerocopy/closed.pkt]",
         note="Linux says EPIPE on a never-connected or listening socket; POSIX specifies ENOTCONN",
         departs="behaviour"),
    case("send.notconn", "call:send", dict(st=ALL - {EST, CW, "SYN_SENT", "SYN_RECEIVED"}), out("EPIPE"),
         source="stream.c sk_stream_wait_connect → -EPIPE (after shutdown(SHUT_WR), after the connection ended) [E]"),
    case("send.handshake", "call:send", dict(st={"SYN_SENT", "SYN_RECEIVED"}), *_wait("EAGAIN"),
         source="stream.c sk_stream_wait_connect: waits, or -EAGAIN when non-blocking [E]; R9293 §3.10.2 queue until ESTABLISHED"),
    case("send.error2", "call:send", dict(err={"ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"}),
         out(RET_ERR, set=dict(err="NONE")),
         source="tcp.c tcp_sendmsg_locked: sk_err → do_error; stream.c sk_stream_error replaces EPIPE by sock_error()"),
    case("send.shut", "call:send", dict(wrsh=True), out("EPIPE"),
         source="tcp.c tcp_sendmsg_locked: sk_shutdown & SEND_SHUTDOWN → -EPIPE"),
    case("send.ok", "call:send", None,
         out(n="len", emit=("DATA",)),
         out(n="partial", when=dict(nb=True), emit=("DATA",)),
         out("EAGAIN", when=dict(nb=True, outstanding=True)),
         source="tcp.c tcp_sendmsg_locked; R9293 §3.10.2 (S8: ok means copied to the send buffer)",
         note="INTERP: the model does not know the buffer sizes, so a non-blocking send may take fewer bytes than offered at any time, and EAGAIN is allowed only while bytes sent are still unread by the peer"),

    # ---- recv -----------------------------------------------------------
    _badf("recv"),
    case("recv.listen", "call:recv", dict(st="LISTEN"),
         out("ENOTCONN", profiles=LINUX), out("ENOTCONN", profiles=POSIX), out("EINVAL", profiles=POSIX),
         source="tcp.c tcp_recvmsg_locked: TCP_LISTEN → -ENOTCONN [E] (S10)"),
    case("recv.peek", "call:recv", dict(rcvq="pos", peek=True), out(n="upto_rcvq"),
         source="tcp.c tcp_recvmsg_locked: MSG_PEEK copies without moving copied_seq (the bytes stay) [E]"),
    case("recv.data", "call:recv", dict(rcvq="pos"), out(n="upto_rcvq", rcvq="minus_n"),
         source="tcp.c tcp_recvmsg_locked: copy from sk_receive_queue (S9: one send may take several recvs)",
         note="INTERP: n may be less than what arrived, since arrivals between calls are not observed"),
    case("recv.eof", "call:recv", dict(done=True), out(n="zero"),
         source="tcp.c tcp_recvmsg_locked: SOCK_DONE → 0 [E]; R9293 §3.10.3 in CLOSE-WAIT"),
    case("recv.error", "call:recv", dict(err={"ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"}),
         out(RET_ERR, set=dict(err="NONE")),
         source="tcp.c tcp_recvmsg_locked: sk_err → sock_error() [E] (ECONNRESET once, then 0)"),
    case("recv.shut", "call:recv", dict(rdsh=True), out(n="zero"),
         source="tcp.c tcp_recvmsg_locked: RCV_SHUTDOWN → 0 [E]"),
    case("recv.closed", "call:recv", dict(st=CLOSEDISH), out("ENOTCONN"),
         source="tcp.c tcp_recvmsg_locked: TCP_CLOSE → -ENOTCONN ('never connected') [E]"),
    case("recv.empty", "call:recv", None, *_wait("EAGAIN"),
         source="tcp.c tcp_recvmsg_locked: timeo == 0 → -EAGAIN, else sk_wait_data"),
]

# ---- shutdown: one outcome per `how` -------------------------------------
def _bits(how: str) -> dict:
    return dict(**({"rdsh": True} if how in ("rd", "rdwr") else {}),
                **({"wrsh": True} if how in ("wr", "rdwr") else {}))


def _per_how(hows: tuple, make) -> tuple:
    """One outcome per value of shutdown's `how`, each from make(how)."""
    outs = []
    for h in hows:
        spec = dict(make(h))
        outs.append(out(spec.pop("ret", "ok"), when=dict(how=h), **spec))
    return tuple(outs)


HOW = ("rd", "wr", "rdwr")
CALL_CASES += [
    _badf("shutdown"),
    case("shutdown.closed", "call:shutdown", dict(st=CLOSEDISH),
         *_per_how(HOW, lambda h: dict(ret="ENOTCONN", set=dict(_bits(h), ss=IFCONN_DISC))),
         source="af_inet.c inet_shutdown: TCP_CLOSE → -ENOTCONN, yet sk_shutdown |= how [E]"),
    case("shutdown.listen.rd", "call:shutdown", dict(st="LISTEN", how={"rd", "rdwr"}),
         out(set=dict(DISCONNECT), rcvq="zero", tags=("reset_queue",)),
         note="Linux-only: shutdown(SHUT_RD) stops a listener (RFC 9293 has no shutdown)",
         source="af_inet.c inet_shutdown: TCP_LISTEN with RCV_SHUTDOWN → tcp_disconnect [E]",
         departs="transition"),
    case("shutdown.listen.wr", "call:shutdown", dict(st="LISTEN"), out(),
         source="af_inet.c inet_shutdown: TCP_LISTEN without RCV_SHUTDOWN → no-op [C]"),
    case("shutdown.synsent", "call:shutdown", dict(st="SYN_SENT"),
         out(set=dict(DISCONNECT, err="ECONNRESET"), rcvq="zero"),
         note="Linux: shutdown() in SYN_SENT aborts without a RST and leaves ECONNRESET pending",
         source="af_inet.c inet_shutdown: TCP_SYN_SENT → tcp_disconnect, no RST, sk_err = ECONNRESET, SS_UNCONNECTED [E]",
         departs="behaviour"),
    case("shutdown.defer.synrcvd", "call:shutdown", dict(st="SYN_RECEIVED", how={"wr", "rdwr"}),
         *_per_how(("wr", "rdwr"), lambda h: dict(set=dict(_bits(h), ss=IFCONN_DISC))),
         source="tcp.c tcp_shutdown: SYN_RECV is not among the states that send a FIN at once (upstream "
                "'tcp: defer shutdown(SEND_SHUTDOWN) for TCP_SYN_RECV sockets', v6.9, also in stable 6.1); the "
                "FIN goes out when the handshake completes (tcp_rcv_state_process) [E] evidence/kernel-facts.md "
                "item 14 (6.18.44 and 6.1.176); scenario calls-in-active-syn-received: the state stays "
                "SYN_RECEIVED, then the tracepoint shows SYN_RECEIVED -> ESTABLISHED -> FIN_WAIT_1",
         note="Linux departs from RFC 9293 (SYN-RECEIVED + CLOSE → FIN-WAIT-1): the socket stays in "
              "SYN_RECEIVED, shut for writing, until its handshake completes",
         profiles=LINUX, departs="transition"),
    case("shutdown.fin.synrcvd", "call:shutdown", dict(st="SYN_RECEIVED", how={"wr", "rdwr"}),
         *_per_how(("wr", "rdwr"), lambda h: dict(set=dict(_bits(h), st=FW1, ss=IFCONN_DISC), emit=("FIN",))),
         source="R9293 §3.10.4 CLOSE in SYN-RECEIVED → FIN-WAIT-1; Fig. 5 (Linux did so before v6.9: tcp.c "
                "tcp_shutdown → tcp_close_state, new_state[SYN_RECV] = FIN_WAIT1 | ACTION_FIN)",
         fig5=(("SYN_RECEIVED", FW1),), profiles=POSIX),
    case("shutdown.fin", "call:shutdown", dict(st=EST, how={"wr", "rdwr"}),
         *_per_how(("wr", "rdwr"), lambda h: dict(set=dict(_bits(h), st=FW1, ss=IFCONN_CONN), emit=("FIN",))),
         source="tcp.c tcp_shutdown → tcp_close_state, tcp_send_fin [E]; [P: shutdown/shutdown-wr-close.pkt]"),
    case("shutdown.fin.closewait", "call:shutdown", dict(st=CW, how={"wr", "rdwr"}),
         *_per_how(("wr", "rdwr"), lambda h: dict(set=dict(_bits(h), st="LAST_ACK", ss=IFCONN_CONN), emit=("FINACK",))),
         source="tcp.c tcp_shutdown → tcp_close_state (new_state[CLOSE_WAIT] = LAST_ACK | ACTION_FIN) [C]"),
    case("shutdown.bits.synrcvd", "call:shutdown", dict(st="SYN_RECEIVED"),
         *_per_how(("rd",), lambda h: dict(set=dict(_bits(h), ss=IFCONN_DISC))),
         source="af_inet.c inet_shutdown: sk_shutdown |= RCV_SHUTDOWN, no segment"),
    case("shutdown.bits", "call:shutdown", None,
         *_per_how(HOW, lambda h: dict(set=dict(_bits(h), ss=IFCONN_CONN))),
         source="af_inet.c inet_shutdown; tcp.c tcp_shutdown: SHUT_RD sends nothing; a FIN already sent is not sent again [E] (second SHUT_WR → 0)",
         note="Linux keeps accepting data after SHUT_RD (B.7); FreeBSD drops it",
         departs="behaviour"),
]

# ---- close ----------------------------------------------------------------
CLOSE_ALL = dict(fd="closed", rdsh=True, wrsh=True)
CALL_CASES += [
    _badf("close"),
    case("close.shared", "call:close", dict(last=False), out(),
         source="fs/file_table.c fput: a socket is released (sock_close → inet_release → tcp_close) only when "
                "the last reference to its file goes; dup() and fork() share the file [E]",
         note="closing one of several descriptors of a socket changes nothing else"),
    case("close.listen", "call:close", dict(st="LISTEN"),
         out(set=dict(CLOSE_ALL, st="CLOSED", bound=RELEASE), tags=("reset_queue",)),
         source="tcp.c __tcp_close → inet_csk_listen_stop: every child not yet accepted is reset; R9293 Fig. 5 LISTEN→CLOSED [P: listener-closed-trigger-rst.pkt]",
         fig5=(("LISTEN", "CLOSED"),)),
    case("close.closed", "call:close", dict(st=CLOSEDISH), out(set=dict(CLOSE_ALL)),
         source="tcp.c __tcp_close: TCP_CLOSE → adjudge_to_death; a TIME_WAIT connection lives on without the descriptor"),
    case("close.unread", "call:close", dict(rcvq="pos"),
         out(set=dict(CLOSE_ALL, st="CLOSED", bound=RELEASE), rcvq="zero", emit=("RST",)),
         source="tcp.c __tcp_close: data_was_unread → tcp_send_active_reset [E]; R9293 §3.6.1 SHLD-3"),
    case("close.linger0.rst", "call:close", dict(linger0=True, st=NEED_RESET),
         out(set=dict(CLOSE_ALL, st="CLOSED", bound=RELEASE), emit=("RST",)),
         source="tcp.c __tcp_close: SO_LINGER 0 → tcp_disconnect, RST when tcp_need_reset [E]; R9293 §3.10.5 ABORT"),
    case("close.linger0", "call:close", dict(linger0=True),
         out(set=dict(CLOSE_ALL, st="CLOSED", bound=RELEASE)),
         source="tcp.c tcp_disconnect: no RST in SYN_SENT, CLOSING, LAST_ACK; R9293 §3.10.5"),
    case("close.synsent", "call:close", dict(st="SYN_SENT"),
         out(set=dict(CLOSE_ALL, st="CLOSED", bound=RELEASE)),
         source="tcp.c tcp_close_state (new_state[SYN_SENT] = CLOSE), no RST [P: close/close-on-syn-sent.pkt]; R9293 Fig. 5",
         fig5=(("SYN_SENT", "CLOSED"),)),
    case("close.fin", "call:close", dict(st={EST, "SYN_RECEIVED"}),
         out(set=dict(CLOSE_ALL, st=FW1), emit=("FIN",)),
         source="tcp.c tcp_close_state, tcp_send_fin [E]; R9293 Fig. 5 ESTAB→FIN-WAIT-1, SYN-RCVD→FIN-WAIT-1 (S14)",
         fig5=((EST, FW1), ("SYN_RECEIVED", FW1))),
    case("close.closewait", "call:close", dict(st=CW),
         out(set=dict(CLOSE_ALL, st="LAST_ACK"), emit=("FINACK",)),
         source="tcp.c tcp_close_state (CLOSE_WAIT → LAST_ACK) [P: close/close-remote-fin-then-close.pkt]; R9293 Fig. 5 (S14)",
         fig5=((CW, "LAST_ACK"),)),
    case("close.closing", "call:close", None, out(set=dict(CLOSE_ALL)),
         source="tcp.c new_state[]: FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK keep their state; no second FIN; close() returns 0"),
]

# ---- segments ---------------------------------------------------------------
REQ = dict(st="SYN_RECEIVED", fd="none")
ANY_ACKISH = {"ACK", "ACKFIN"}
FINS = {"FIN", "FINACK"}

# ---- version 2: the calls real programs make besides the nine ---------------
def _v2_badf(op: str) -> Case:
    return case(f"{op}.badf", f"call:{op}", dict(fd={"closed", "none"}), out("EBADF"),
                source="net/socket.c sockfd_lookup_light; fs/fcntl.c, fs/ioctl.c fdget → -EBADF [E]",
                note="a call on a name whose descriptor was closed")


CALL_CASES_V2: list[Case] = [
    # descriptors
    _v2_badf("dup"),
    case("dup.ok", "call:dup", None, out(),
         source="fs/file.c dup/dup2/dup3, fcntl F_DUPFD; fork copies the descriptor table: the new "
                "descriptor names the same file, so the same socket [E]"),
    _v2_badf("setnb"),
    case("setnb.ok", "call:setnb", None,
         out(when=dict(nonblock=True), set=dict(nb=True)), out(when=dict(nonblock=False), set=dict(nb=False)),
         source="fs/fcntl.c setfl (O_NONBLOCK in f_flags); net/socket.c sock_ioctl FIONBIO; sock_sendmsg/"
                "sock_recvmsg read the flag of the file [E]",
         note="the flag belongs to the open file: every descriptor of it (dup, fork) sees the change"),
    _v2_badf("getnb"),
    case("getnb.ok", "call:getnb", None, out(value="nb"), source="fs/fcntl.c F_GETFL: f_flags & O_NONBLOCK [E]"),
    # options
    _v2_badf("setsockopt"),
    case("setsockopt.level", "call:setsockopt", dict(fammatch=False), out("ENOPROTOOPT"),
         source="ip_sockglue.c ip_setsockopt: an IPv4 socket's level other than SOL_IP → -ENOPROTOOPT [E] "
                "(IPPROTO_IPV6 options on an AF_INET socket; scenario ipv6-dual-stack)"),
    case("setsockopt.range", "call:setsockopt", dict(badval=True), out("EINVAL"),
         source="tcp.c do_tcp_setsockopt: TCP_KEEPIDLE, TCP_KEEPINTVL outside 1..32767, TCP_KEEPCNT outside 1..127, "
                "TCP_USER_TIMEOUT < 0 → -EINVAL [E] evidence/kernel-repro/v2 G"),
    case("setsockopt.fastopen", "call:setsockopt", dict(opt="TCP_FASTOPEN", st=ALL - {"CLOSED", "LISTEN"}),
         out("EINVAL"),
         source="tcp.c do_tcp_setsockopt TCP_FASTOPEN: only in TCPF_CLOSE | TCPF_LISTEN, else -EINVAL [E] "
                "evidence/kernel-repro/v2 G"),
    case("setsockopt.v6only.bound", "call:setsockopt", dict(opt="IPV6_V6ONLY", bound={"auto", "explicit"}),
         out("EINVAL"),
         source="ipv6_sockglue.c do_ipv6_setsockopt IPV6_V6ONLY: the socket has a port (inet_num) → -EINVAL [E] "
                "evidence/kernel-repro/v2 G"),
    case("setsockopt.ok", "call:setsockopt", None, out(tags=("set_option",)),
         source="net/core/sock.c sk_setsockopt; tcp.c do_tcp_setsockopt; ipv6_sockglue.c (IPV6_V6ONLY) [E]",
         note="what each option changes, and what getsockopt reads back, is in tcpconform.model.options"),
    _v2_badf("getsockopt"),
    case("getsockopt.level", "call:getsockopt", dict(fammatch=False), out("ENOTSUP"),
         source="ip_sockglue.c do_ip_getsockopt: an IPv4 socket's level other than SOL_IP → -EOPNOTSUPP [E] "
                "(scenario ipv6-dual-stack)"),
    case("getsockopt.error", "call:getsockopt", dict(opt="SO_ERROR"), out(value="err", set=dict(err="NONE")),
         source="net/core/sock.c sk_getsockopt SO_ERROR: -sock_error(sk), which takes sk_err and clears it [E]",
         note="a pending error is reported once: by SO_ERROR or by the call that meets it first"),
    case("getsockopt.acceptconn", "call:getsockopt", dict(opt="SO_ACCEPTCONN"), out(value="listening"),
         source="net/core/sock.c sk_getsockopt SO_ACCEPTCONN: sk_state == TCP_LISTEN [E]"),
    case("getsockopt.option", "call:getsockopt", None, out(value="option"),
         source="net/core/sock.c sk_getsockopt; tcp.c do_tcp_getsockopt [E] (tcpconform.model.options)"),
    # queue sizes
    _v2_badf("ioctl"),
    case("ioctl.listen", "call:ioctl", dict(st="LISTEN"), out("EINVAL"),
         source="tcp.c tcp_ioctl: SIOCINQ, SIOCOUTQ, SIOCOUTQNSD on TCP_LISTEN → -EINVAL [E]"),
    case("ioctl.inq", "call:ioctl", dict(req="FIONREAD"), out(value="rcvq"),
         source="tcp.c tcp_ioctl SIOCINQ → tcp_inq: rcv_nxt - copied_seq, less the FIN; 0 in SYN_SENT and "
                "SYN_RECV [E]"),
    case("ioctl.outq.handshake", "call:ioctl", dict(st={"SYN_SENT", "SYN_RECEIVED"}), out(value="zero"),
         source="tcp.c tcp_ioctl SIOCOUTQ, SIOCOUTQNSD: 0 in TCP_SYN_SENT and TCP_SYN_RECV [E]"),
    case("ioctl.outq", "call:ioctl", None, out(value="count"),
         source="tcp.c tcp_ioctl SIOCOUTQ: write_seq - snd_una; SIOCOUTQNSD: write_seq - snd_nxt [E]",
         note="INTERP: acknowledgements of data (delayed up to 40 ms on loopback) are not modelled, so any count"),
    # addresses
    _v2_badf("getsockname"),
    case("getsockname.ok", "call:getsockname", None, out(value="sockname"),
         source="af_inet.c inet_getname (peer 0): the bound address and port, 0.0.0.0:0 before any [E]"),
    _v2_badf("getpeername"),
    case("getpeername.notconn", "call:getpeername", dict(st=CLOSEDISH | {"SYN_SENT", "LISTEN"}), out("ENOTCONN"),
         source="af_inet.c inet_getname (peer 1): no inet_dport, or TCP_CLOSE / TCP_SYN_SENT → -ENOTCONN [E]"),
    case("getpeername.ok", "call:getpeername", None, out(value="peername"),
         source="af_inet.c inet_getname (peer 1): inet_daddr, inet_dport [E]"),
    # connect(AF_UNSPEC)
    _v2_badf("disconnect"),
    case("disconnect.listen", "call:disconnect", dict(st="LISTEN"),
         out(set=dict(DISCONNECT), rcvq="zero", tags=("reset_queue",)),
         source="af_inet.c __inet_stream_connect AF_UNSPEC → tcp_disconnect: TCP_LISTEN → inet_csk_listen_stop; "
                "SS_UNCONNECTED [E]"),
    case("disconnect.reset", "call:disconnect", dict(st=NEED_RESET),
         out(set=dict(DISCONNECT, err="ECONNRESET"), rcvq="zero", emit=("RST",)),
         source="tcp.c tcp_disconnect: tcp_need_reset → tcp_send_active_reset, sk_err = ECONNRESET; "
                "R9293 §3.10.5 ABORT [E]"),
    case("disconnect.synsent", "call:disconnect", dict(st="SYN_SENT"),
         out(set=dict(DISCONNECT, err="ECONNRESET"), rcvq="zero"),
         source="tcp.c tcp_disconnect: TCP_SYN_SENT → sk_err = ECONNRESET, no RST [E]"),
    case("disconnect.closed", "call:disconnect", dict(st=CLOSEDISH), out(set=dict(AFTER_FAILED), rcvq="zero"),
         source="tcp.c tcp_disconnect on TCP_CLOSE: no state change (a port kept), sk_shutdown = 0, SOCK_DONE "
                "cleared [E]",
         note="INTERP: a descriptor whose connection is in TIME_WAIT is disconnected; the connection lives on"),
    case("disconnect.other", "call:disconnect", None, out(set=dict(DISCONNECT), rcvq="zero"),
         source="tcp.c tcp_disconnect: CLOSING, LAST_ACK → CLOSE without a RST (nothing unsent) [C]"),
    # readiness
    case("poll.nval", "call:poll", dict(fd={"closed", "none"}), out(value="nval"),
         source="fs/select.c do_pollfd: a descriptor not open → POLLNVAL [E]"),
    case("poll.ready", "call:poll", None, out(value="poll"), out("EINTR", when=dict(waits=True, intr=True)),
         source="fs/select.c do_poll; tcp.c tcp_poll (POLL_RULES); a poll that sleeps may be interrupted [E]"),
]

SEG_CASES: list[Case] = [
    # A request sock: passive SYN-RECEIVED, no full socket (Linux TCP_NEW_SYN_RECV).
    case("req.full", "seg", dict(REQ, seg={"ACK", "DATA", "FIN", "FINACK"}, q_full=True), out(tags=("hold",)),
         source="tcp_minisocks.c tcp_check_req: accept queue full → the ACK is dropped, the SYN+ACK retransmitted",
         note="INTERP: a dropped-then-retransmitted segment on loopback is the same as a delayed one, so it waits at the head of its channel"),
    case("req.ack.shut", "seg", dict(REQ, seg="ACK", wrsh=True),
         out(set=dict(st=FW1), emit=("FIN",), tags=("enqueue",)),
         source="tcp_input.c tcp_rcv_state_process TCP_SYN_RECV: ESTABLISHED, then "
                "`if (sk->sk_shutdown & SEND_SHUTDOWN) tcp_shutdown(sk, SEND_SHUTDOWN)` [E]",
         note="Linux: a child inherits its listener's shutdown bits (sk_clone_lock); one made by a listener "
              "shut for writing sends its FIN as soon as it is established",
         departs="behaviour"),
    case("req.ack", "seg", dict(REQ, seg="ACK"), out(set=dict(st=EST), tags=("enqueue",)),
         source="tcp_minisocks.c tcp_check_req → child ESTABLISHED in the accept queue; R9293 Fig. 5 SYN-RCVD→ESTAB (S2, S12)",
         fig5=(("SYN_RECEIVED", EST),)),
    case("req.data", "seg", dict(REQ, seg="DATA"), out(set=dict(st=EST), rcvq="plus_seg", tags=("enqueue",)),
         source="tcp_minisocks.c tcp_check_req (a data segment carries the completing ACK)",
         note="INTERP: unreachable on an in-order channel (the ACK comes first); kept so every segment has a rule",
         in_order=False),
    case("req.fin", "seg", dict(REQ, seg=FINS), out(set=dict(st=CW, done=True), emit=("ACKFIN",), tags=("enqueue",)),
         source="tcp_minisocks.c tcp_check_req; tcp_input.c tcp_fin",
         note="INTERP: unreachable on an in-order channel (the ACK comes first); kept so every segment has a rule",
         in_order=False),
    case("req.syn", "seg", dict(REQ, seg="SYN"), out(emit=("SYNACK",)),
         source="tcp_minisocks.c tcp_check_req: retransmitted SYN → SYN+ACK again"),
    case("req.rst", "seg", dict(REQ, seg="RST"), out(tags=("destroy",)),
         source="tcp_minisocks.c tcp_check_req embryonic_reset: the request is dropped, the listener is untouched; R9293 §3.10.7.4 (passive SYN-RECEIVED + RST → LISTEN)"),
    case("req.other", "seg", dict(REQ), out(),
         source="tcp_minisocks.c tcp_check_req: out-of-window segment dropped"),

    case("listen.syn.full", "seg", dict(st="LISTEN", seg="SYN", q_full=True), out(tags=("hold",)),
         source="tcp_input.c tcp_conn_request: sk_acceptq_is_full → drop (the client retransmits its SYN)",
         note="INTERP: drop + retransmission = delay (see req.full)"),
    case("listen.syn", "seg", dict(st="LISTEN", seg="SYN"), out(tags=("spawn_req",)),
         source="tcp_input.c tcp_conn_request: a request sock (NEW_SYN_RECV) answers SYN+ACK; the listener stays LISTEN; R9293 Fig. 5 LISTEN→SYN-RCVD",
         note="Linux departs from R9293: the listener does not change state, a new request sock is SYN-RECEIVED",
         fig5=(("LISTEN", "SYN_RECEIVED"),), departs="transition"),
    case("listen.rst", "seg", dict(st="LISTEN", seg="RST"), out(),
         source="R9293 §3.10.7.2 first step: ignore a RST; [ligurio listen-incoming-rst.pkt passes on Linux]"),
    case("listen.other", "seg", dict(st="LISTEN"), out(emit=("RST",)),
         source="R9293 §3.10.7.2 second step: any ACK → <SEQ=SEG.ACK><CTL=RST>; tcp_rcv_state_process"),

    case("synsent.synack", "seg", dict(st="SYN_SENT", seg="SYNACK"), out(set=dict(st=EST), emit=("ACK",)),
         source="tcp_input.c tcp_rcv_synsent_state_process → tcp_finish_connect; R9293 §3.10.7.3, Fig. 5 SYN-SENT→ESTAB (S2, S3)",
         fig5=(("SYN_SENT", EST),)),
    case("synsent.syn", "seg", dict(st="SYN_SENT", seg="SYN"), out(set=dict(st="SYN_RECEIVED"), emit=("SYNACK",)),
         source="tcp_input.c tcp_rcv_synsent_state_process (crossed SYN → TCP_SYN_RECV); R9293 Fig. 5 simultaneous open",
         fig5=(("SYN_SENT", "SYN_RECEIVED"),)),
    case("synsent.rst", "seg", dict(st="SYN_SENT", seg="RST"), out(set=tcp_reset("ECONNREFUSED")),
         source="tcp_input.c tcp_reset: SYN_SENT → ECONNREFUSED [E]; R9293 §3.10.7.3 second step"),
    case("synsent.other", "seg", dict(st="SYN_SENT"), out(emit=("RST",)),
         source="tcp_input.c tcp_rcv_synsent_state_process reset_and_undo: unacceptable ACK → RST; R9293 §3.10.7.3 first step"),

    case("synrcvd.ack.shut", "seg", dict(st="SYN_RECEIVED", seg={"SYNACK", "ACK"}, wrsh=True),
         out(set=dict(st=FW1), emit=("FIN",), via=("ESTABLISHED",)),
         source="tcp_input.c tcp_rcv_state_process TCP_SYN_RECV → ESTABLISHED, then tcp_shutdown(SEND_SHUTDOWN) [E] "
                "(a self-connect after shutdown(SHUT_WR) sends itself a FIN; the state tracepoint shows "
                "SYN_RECEIVED -> ESTABLISHED -> FIN_WAIT_1: scenario self-connect-shut-wr)",
         note="Linux: shutdown(SHUT_WR) before connect() returns ENOTCONN yet takes effect when a "
              "simultaneous open completes",
         departs="behaviour"),
    case("synrcvd.ack", "seg", dict(st="SYN_RECEIVED", seg={"SYNACK", "ACK"}), out(set=dict(st=EST)),
         source="tcp_input.c tcp_rcv_state_process TCP_SYN_RECV → ESTABLISHED; R9293 Fig. 5 SYN-RCVD→ESTAB",
         fig5=(("SYN_RECEIVED", EST),)),
    case("synrcvd.data", "seg", dict(st="SYN_RECEIVED", seg="DATA"), out(set=dict(st=EST), rcvq="plus_seg"),
         source="tcp_input.c tcp_rcv_state_process (the data segment's ACK completes the handshake)",
         note="INTERP: unreachable on an in-order channel; kept so every segment has a rule",
         in_order=False),
    case("synrcvd.fin", "seg", dict(st="SYN_RECEIVED", seg=FINS), out(set=dict(st=CW, done=True), emit=("ACKFIN",)),
         source="tcp_input.c tcp_fin: SYN_RECV + FIN → CLOSE_WAIT",
         note="INTERP: unreachable on an in-order channel; kept so every segment has a rule",
         in_order=False),
    case("synrcvd.rst", "seg", dict(st="SYN_RECEIVED", seg="RST"), out(set=tcp_reset("ECONNRESET")),
         note="Linux reports ECONNRESET where R9293 §3.10.7.4 says connection refused",
         source="tcp_input.c tcp_reset default branch → ECONNRESET (R9293 §3.10.7.4 says 'connection refused' for active SYN-RECEIVED)",
         departs="behaviour"),
    case("synrcvd.other", "seg", dict(st="SYN_RECEIVED"), out(),
         source="tcp_input.c tcp_validate_incoming: dropped"),

    case("est.data", "seg", dict(st=EST, seg="DATA"), out(rcvq="plus_seg"),
         source="tcp_input.c tcp_data_queue; R9293 §3.10.7.4 seventh step"),
    case("est.fin", "seg", dict(st=EST, seg=FINS), out(set=dict(st=CW, done=True), emit=("ACKFIN",)),
         source="tcp_input.c tcp_fin → CLOSE_WAIT [E]; R9293 Fig. 5 ESTAB→CLOSE-WAIT (S14)",
         fig5=((EST, CW),)),
    case("est.rst", "seg", dict(st=EST, seg="RST"), out(set=tcp_reset("ECONNRESET")),
         source="tcp_input.c tcp_reset → ECONNRESET [E]; R9293 §3.10.7.4 second step"),
    case("est.synack", "seg", dict(st=EST, seg={"SYNACK", "SYN"}), out(emit=("ACK",)),
         source="tcp_input.c tcp_validate_incoming: SYN in a synchronized state → challenge ACK (RFC 5961 §4.2)"),
    case("est.other", "seg", dict(st=EST), out(),
         source="tcp_input.c tcp_ack: nothing to do"),

    case("fw1.ackfin", "seg", dict(st=FW1, seg="ACKFIN"), out(set=dict(st=FW2)),
         source="tcp_input.c tcp_rcv_state_process TCP_FIN_WAIT1; R9293 Fig. 5 FIN-WAIT-1→FIN-WAIT-2",
         fig5=((FW1, FW2),)),
    case("fw1.fin", "seg", dict(st=FW1, seg="FIN"), out(set=dict(st="CLOSING", done=True), emit=("ACKFIN",)),
         source="tcp_input.c tcp_fin: FIN_WAIT1 → CLOSING; R9293 Fig. 5 (simultaneous close)",
         fig5=((FW1, "CLOSING"),)),
    case("fw1.finack", "seg", dict(st=FW1, seg="FINACK"),
         out(set=TIME_WAIT_ENTRY, emit=("ACKFIN",), via=("FIN_WAIT_2",), profiles=LINUX),
         out(set=TIME_WAIT_ENTRY, emit=("ACKFIN",), profiles=POSIX),
         source="tcp_input.c tcp_rcv_state_process: the ACK of our FIN first (FIN_WAIT2), then tcp_fin → "
                "tcp_time_wait [E] (scenario fin-acked-by-the-peers-fin: the state tracepoint shows "
                "FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT on one FIN+ACK); R9293 Fig. 5 note 2 FIN-WAIT-1→TIME-WAIT",
         fig5=((FW1, "TIME_WAIT"),)),
    case("fw.data.reset", "seg", dict(st={FW1, FW2}, seg="DATA", rdsh=True),
         out(set=tcp_reset("ECONNRESET"), emit=("RST",)),
         source="tcp_input.c tcp_rcv_state_process step 7: data after RCV_SHUTDOWN in FIN_WAIT1/2 → tcp_reset + RST [E]; R9293 §3.6.1 SHLD-3"),
    case("fw.data", "seg", dict(st={FW1, FW2}, seg="DATA"), out(rcvq="plus_seg"),
         source="tcp_input.c tcp_data_queue (half-close: the peer may still send) [P: shutdown/shutdown-wr-close.pkt]"),
    case("fw.rst", "seg", dict(st={FW1, FW2}, seg="RST"), out(set=tcp_reset("ECONNRESET")),
         source="tcp_input.c tcp_reset → ECONNRESET; R9293 §3.10.7.4"),
    case("fw2.fin", "seg", dict(st=FW2, seg=FINS), out(set=TIME_WAIT_ENTRY, emit=("ACKFIN",)),
         source="tcp_input.c tcp_fin → tcp_time_wait [E]; R9293 Fig. 5 FIN-WAIT-2→TIME-WAIT",
         fig5=((FW2, "TIME_WAIT"),)),
    case("fw.other", "seg", dict(st={FW1, FW2}), out(),
         source="tcp_input.c: nothing to do"),

    case("closewait.rst", "seg", dict(st=CW, seg="RST"), out(set=tcp_reset("EPIPE")),
         source="tcp_input.c tcp_reset: case TCP_CLOSE_WAIT: err = EPIPE [E]; [ligurio rst_sync_close_wait.pkt: Linux −1 EPIPE]",
         note="Linux reports EPIPE, not ECONNRESET, for a RST in CLOSE_WAIT",
         departs="behaviour"),
    case("closewait.fin", "seg", dict(st=CW, seg=FINS), out(emit=("ACKFIN",)),
         source="R9293 §3.10.7.4 eighth step: a retransmitted FIN is acknowledged"),
    case("closewait.other", "seg", dict(st=CW), out(),
         source="R9293 §3.10.7.4 seventh step: text after the FIN is ignored"),

    case("closing.ackfin", "seg", dict(st="CLOSING", seg="ACKFIN"), out(set=TIME_WAIT_ENTRY),
         source="tcp_input.c tcp_rcv_state_process TCP_CLOSING → tcp_time_wait; R9293 Fig. 5 CLOSING→TIME-WAIT",
         fig5=(("CLOSING", "TIME_WAIT"),)),
    case("closing.rst", "seg", dict(st="CLOSING", seg="RST"), out(set=tcp_reset("ECONNRESET")),
         source="tcp_input.c tcp_reset; R9293 §3.10.7.4"),
    case("closing.fin", "seg", dict(st="CLOSING", seg=FINS), out(emit=("ACKFIN",)),
         source="R9293 §3.10.7.4 eighth step"),
    case("closing.other", "seg", dict(st="CLOSING"), out(), source="nothing to do"),

    case("lastack.ackfin", "seg", dict(st="LAST_ACK", seg="ACKFIN"), out(set=TCP_DONE),
         source="tcp_input.c tcp_rcv_state_process TCP_LAST_ACK → tcp_done; R9293 Fig. 5 LAST-ACK→CLOSED",
         fig5=(("LAST_ACK", "CLOSED"),)),
    case("lastack.rst", "seg", dict(st="LAST_ACK", seg="RST"), out(set=tcp_reset("ECONNRESET")),
         source="tcp_input.c tcp_reset default → ECONNRESET"),
    case("lastack.fin", "seg", dict(st="LAST_ACK", seg=FINS), out(emit=("ACKFIN",)),
         source="R9293 §3.10.7.4 eighth step"),
    case("lastack.other", "seg", dict(st="LAST_ACK"), out(), source="nothing to do"),

    case("timewait.fin", "seg", dict(st="TIME_WAIT", seg=FINS), out(emit=("ACKFIN",)),
         source="tcp_minisocks.c tcp_timewait_state_process: retransmitted FIN → ACK; R9293 §3.10.7.4"),
    case("timewait.rst", "seg", dict(st="TIME_WAIT", seg="RST"), out(set=dict(st="CLOSED")),
         note="Linux: a RST ends TIME_WAIT (tcp_rfc1337 = 0), the hazard of RFC 1337",
         source="tcp_minisocks.c tcp_timewait_state_process: RST kills the timewait sock (tcp_rfc1337 = 0)",
         departs="behaviour"),
    case("timewait.syn", "seg", dict(st="TIME_WAIT", seg="SYN"), out(set=dict(st="CLOSED"), tags=("redeliver",)),
         source="tcp_minisocks.c tcp_timewait_state_process TCP_TW_SYN → a listener takes the new incarnation; R9293 §3.6.1 MAY-2",
         note="INTERP: the timewait sock gives way and the SYN goes to whatever matches (a listener, or no socket → RST); Linux ACKs instead when no listener exists"),
    case("timewait.other", "seg", dict(st="TIME_WAIT"), out(), source="tcp_minisocks.c: ACK, dropped"),

    case("closed.any", "seg", dict(st="CLOSED"), out(),
         source="a CLOSED endpoint is in no lookup table; segments for it go to the 'no socket' path (tcpconform.model.system)"),
]

# ---- timers -----------------------------------------------------------------
TIMER_CASES: list[Case] = [
    case("syn_giveup", "timer:syn_giveup", dict(st="SYN_SENT", fd="open"), out(set=tcp_reset("ETIMEDOUT")),
         note="Linux: about 127 s of SYN retries, below the 3 minutes of MUST-23",
         source="tcp_timer.c tcp_write_err after tcp_syn_retries (6, ≈127 s) → ETIMEDOUT; R9293 §3.8.3 R2",
         departs="behaviour"),
    case("synack_giveup", "timer:synack_giveup", dict(REQ, q_full=True), out(tags=("destroy",)),
         source="inet_connection_sock.c reqsk_timer_handler: tcp_synack_retries (5) exhausted → the request is dropped",
         note="INTERP: on loopback a request sock's ACK is lost only to a full accept queue, so the timer runs out only then"),
    case("timewait_expiry", "timer:timewait_expiry", dict(st="TIME_WAIT"), out(set=dict(st="CLOSED")),
         note="Linux: TIME_WAIT lasts 60 s (TCP_TIMEWAIT_LEN), not 2 MSL",
         source="tcp_minisocks.c tcp_time_wait: TCP_TIMEWAIT_LEN = 60 s (R9293 §3.10.8 says 2 MSL); Fig. 5 TIME-WAIT→CLOSED",
         fig5=(("TIME_WAIT", "CLOSED"),), departs="behaviour"),
    case("fin_wait_2_timeout", "timer:fin_wait_2_timeout", dict(st=FW2, fd="closed"), out(set=dict(st="CLOSED")),
         source="tcp.c __tcp_close: orphan FIN_WAIT2 → timewait sock, tcp_fin_timeout 60 s (R9293 has no such timer)",
         note="Linux-only: an orphaned FIN_WAIT_2 ends by itself; one with an open descriptor never does",
         departs="transition"),
]

# ---- RFC 9293 arcs no sockets API exposes (diagrams only) -------------------
RFC_CASES: list[Case] = [
    case("rfc.listen.send", "call:connect", dict(st="LISTEN"),
         out(set=dict(st="SYN_SENT"), emit=("SYN",), profiles=("rfc",)),
         source="R9293 §3.10.1/§3.10.2, Fig. 5 LISTEN→SYN-SENT (SEND with a remote socket)",
         note="Linux: connect() on a listener → EISCONN, send() → EPIPE", profiles=("rfc",),
         fig5=(("LISTEN", "SYN_SENT"),), departs="transition"),
    case("rfc.synrcvd.rst", "seg", dict(st="SYN_RECEIVED", seg="RST"),
         out(set=dict(st="LISTEN"), profiles=("rfc",)),
         source="R9293 Fig. 5 note 1: SYN-RCVD→LISTEN on RST (passive open)",
         note="Linux: the request sock is dropped; the listener never left LISTEN", profiles=("rfc",),
         fig5=(("SYN_RECEIVED", "LISTEN"),), departs="transition"),
]

CASES: tuple[Case, ...] = tuple(CALL_CASES + CALL_CASES_V2 + SEG_CASES + TIMER_CASES + RFC_CASES)


def of_profile(profile: str, cases: tuple[Case, ...] = CASES) -> tuple[Case, ...]:
    """The rules a profile speaks by: what rule coverage is counted against."""
    return tuple(c for c in cases if profile in c.profiles)

# The endpoint socket() creates: the model's one initial endpoint state.
INITIAL = dict(st="CLOSED", ss="UNCONNECTED", fd="open", bound="no", nb=False, err="NONE",
               done=False, rdsh=False, wrsh=False, role="none", rcvq=0)

# Accept-queue capacity: Linux's sk_acceptq_is_full() is `sk_ack_backlog >
# sk_max_ack_backlog`, so backlog + 1 connections fit; listen() caps the
# backlog at net.core.somaxconn (4096 by default).
SOMAXCONN = 4096


def accept_queue_capacity(backlog: int) -> int:
    """include/net/sock.h sk_acceptq_is_full; net/socket.c __sys_listen (cap at somaxconn)."""
    b = backlog if 0 <= backlog <= SOMAXCONN else SOMAXCONN
    return b + 1


# ---- readiness: what poll() reports for a descriptor -------------------------
# tcp.c tcp_poll (and inet_csk_listen_poll for a listener), read as data: for
# each event, the guards (over the endpoint's fields and the system inputs)
# under which the kernel *must* report it, and those under which it *may*
# (where the model does not know enough: whether the send buffer has room
# while bytes are unread by the peer).  A level-triggered poll reports
# exactly the events that must, of those asked for (and ERR, HUP, NVAL,
# always reported), give or take those that may; an edge-triggered epoll
# only ever reports events that may hold.  RCV_SHUTDOWN is the model's
# ``rdsh`` (shutdown(SHUT_RD), a reset) or ``done`` (the peer's FIN).
NOT_LISTEN = ALL - {"LISTEN"}
# Where tcp_poll looks at the queues: not SYN_SENT, not an active SYN_RECV (no Fast Open).
SYNCED = ALL - {"LISTEN", "SYN_SENT", "SYN_RECEIVED"}
ERRORS = set(vocab.ERRS) - {"NONE"}


class PollRule(NamedTuple):
    event: str
    must: tuple      # guards (as tcpconform.model.table.guard builds them), any of which makes the event certain
    may: tuple       # further guards under which the event may be reported
    source: str


def poll_rule(event: str, must: list, may: list = (), *, source: str) -> PollRule:
    return PollRule(event, tuple(guard(**g) for g in must), tuple(guard(**g) for g in may), source)


POLL_RULES: tuple[PollRule, ...] = (
    poll_rule("IN", [dict(st="LISTEN", q_nonempty=True),
                     dict(st=NOT_LISTEN, rdsh=True), dict(st=NOT_LISTEN, done=True),
                     dict(st=SYNCED, rcvq="pos")],
              source="inet_connection_sock.c inet_csk_listen_poll: the accept queue is not empty; tcp.c tcp_poll: "
                     "RCV_SHUTDOWN → EPOLLIN, tcp_stream_is_readable (bytes to read) [E]"),
    poll_rule("RDHUP", [dict(st=NOT_LISTEN, rdsh=True), dict(st=NOT_LISTEN, done=True)],
              source="tcp.c tcp_poll: RCV_SHUTDOWN → EPOLLIN | EPOLLRDHUP [E]"),
    poll_rule("HUP", [dict(st=CLOSEDISH), dict(st=NOT_LISTEN, rdsh=True, wrsh=True),
                      dict(st=NOT_LISTEN, done=True, wrsh=True)],
              source="tcp.c tcp_poll: sk_shutdown == SHUTDOWN_MASK or TCP_CLOSE → EPOLLHUP (a fresh socket too) [E]"),
    poll_rule("OUT", [dict(st=SYNCED, wrsh=True), dict(st=SYNCED, outstanding=False)],
              may=[dict(st=SYNCED)],
              source="tcp.c tcp_poll: not SYN_SENT or SYN_RECV, and SEND_SHUTDOWN or __sk_stream_is_writeable [E]",
              ),
    poll_rule("ERR", [dict(st=NOT_LISTEN, err=ERRORS)],
              source="tcp.c tcp_poll: sk_err → EPOLLERR (a listener returns before) [E]"),
    poll_rule("PRI", [],
              source="tcp.c tcp_poll: urgent data → EPOLLPRI (urgent data is not modelled: never)"),
)


# ---- how long each timer runs (a trace with times: tcpconform.model.timing) ---
# timer -> (how its length is given, the sysctl that sets it or None, its default, source).
# "seconds": the sysctl (or the fixed default) is the length; "retries": the
# sysctl counts retransmissions r, and the model takes the timer to run at
# least r + 1 seconds: each retransmission, and the wait after the last, lasts
# at least the initial RTO of 1 s — a lower bound whatever the backoff
# (exponential, capped at TCP_RTO_MAX = 120 s; linear for the first
# net.ipv4.tcp_syn_linear_timeouts SYN retransmissions, 4 on Linux 6.18;
# TCP_SYNCNT per socket), so a give-up the kernel timed is never refused.
TIMER_LENGTHS = {
    "timewait_expiry": ("seconds", None, 60,
                        "include/net/tcp.h TCP_TIMEWAIT_LEN (60 s, not a setting)"),
    "fin_wait_2_timeout": ("seconds", "net.ipv4.tcp_fin_timeout", 60,
                           "tcp.c __tcp_close → tcp_fin_time(): net.ipv4.tcp_fin_timeout"),
    "syn_giveup": ("retries", "net.ipv4.tcp_syn_retries", 6,
                   "tcp_timer.c tcp_write_timeout: tcp_syn_retries (or TCP_SYNCNT), RTO from TCP_TIMEOUT_INIT (1 s)"),
    "synack_giveup": ("retries", "net.ipv4.tcp_synack_retries", 5,
                      "inet_connection_sock.c reqsk_timer_handler: tcp_synack_retries, RTO from 1 s"),
}
