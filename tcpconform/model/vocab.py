"""The words the model is written in: states, endpoint fields, segments, triggers.

Everything here is a finite, named vocabulary.  The rule table
(:mod:`tcpconform.model.rules`) is written in these words; the executable semantics
(:mod:`tcpconform.model.semantics`), the z3 encoding (:mod:`tcpconform.model.z3enc`) and the
diagrams read the same words, so adding a value here is the one place a new
concept enters the model.
"""

from __future__ import annotations

# The eleven states of RFC 9293 (section 3.3.2), spelled as the trace format
# spells them.  An endpoint's ``st`` is the state of the *connection* the
# endpoint denotes (see tcpconform.model.rules for how an open descriptor whose
# connection reached TIME_WAIT is read).
STATES = (
    "CLOSED",
    "LISTEN",
    "SYN_SENT",
    "SYN_RECEIVED",
    "ESTABLISHED",
    "FIN_WAIT_1",
    "FIN_WAIT_2",
    "CLOSE_WAIT",
    "CLOSING",
    "LAST_ACK",
    "TIME_WAIT",
)

# Socket-layer state (struct socket::state in Linux, af_inet.c).  Segments and
# timers never change it; only calls do.
SOCK_STATES = ("UNCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING")

# Who holds the endpoint: an open descriptor, a descriptor that was closed
# (orphan: the kernel finishes the connection alone), or nobody yet (a
# request sock or a child waiting in a listener's accept queue).
FD_STATES = ("open", "closed", "none")

# Whether the endpoint's socket holds a local port: not at all, picked by the
# kernel (connect/listen autobind, released when the socket reaches CLOSED),
# or asked for by bind() (kept, SOCK_BINDPORT_LOCK).
BOUND = ("no", "auto", "explicit")

# Which role the socket has taken: none yet, active (a SYN went out: connect()
# reached the wire) or passive (it listened).  Linux 6.18 keeps this history:
# a socket that took one role cannot take the other (listen() after a failed
# connect(), connect() after a listener's shutdown(SHUT_RD): EINVAL) [E].
ROLES = ("none", "active", "passive")

# A pending error (sk->sk_err), reported once by the next call that reads it.
ERRS = ("NONE", "ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT")

# The finite fields of an endpoint and their domains.  ``rcvq`` (bytes in the
# receive queue, not yet read) is the one integer field.
FINITE_FIELDS: dict[str, tuple] = {
    "st": STATES,
    "ss": SOCK_STATES,
    "fd": FD_STATES,
    "bound": BOUND,
    "nb": (False, True),
    "err": ERRS,
    "done": (False, True),   # SOCK_DONE: the peer's FIN arrived
    "rdsh": (False, True),   # RCV_SHUTDOWN bit of sk_shutdown
    "wrsh": (False, True),   # SEND_SHUTDOWN bit of sk_shutdown
    "role": ROLES,
}
INT_FIELDS = ("rcvq",)
FIELDS = tuple(FINITE_FIELDS) + INT_FIELDS

# Facts about the rest of the system that a rule may test; the composition
# (tcpconform.model.system) computes them, the z3 encoding takes them as free inputs.
INPUTS: dict[str, tuple] = {
    "q_nonempty": (False, True),   # listener: a child waits in the accept queue
    "q_full": (False, True),       # listener: the accept queue is full
    "outstanding": (False, True),  # bytes this endpoint sent are not yet read by the peer
    "conflict": (False, True),     # bind: the address asked for is held by another socket;
                                   # listen: the socket's explicitly bound port is (its own
                                   # TIME_WAIT included)
}

# Segments.  Acknowledgements are kept only where they change a state: ACK
# acknowledges a SYN (handshake), ACKFIN acknowledges a FIN; FINACK is a FIN
# that also acknowledges the peer's FIN (RFC 9293 Fig. 5 note 2).  DATA
# carries a byte count.  Every segment of a real stack after the SYN carries
# an ACK; only the acknowledgements that move a state are modelled.
SEGMENTS = ("SYN", "SYNACK", "ACK", "ACKFIN", "FIN", "FINACK", "DATA", "RST")

# The nine calls of the sockets API of version 1 of the trace format.
CALLS = ("socket", "bind", "listen", "connect", "accept", "send", "recv", "shutdown", "close")
# The calls version 2 adds, as the model names them: fcntl(F_SETFL) and
# ioctl(FIONBIO) are "setnb", fcntl(F_GETFL) "getnb", connect(AF_UNSPEC)
# "disconnect"; a poll() is one "poll" per descriptor it names
# (tcpconform.check.descriptors turns a trace's calls into these).
CALLS_V2 = ("setsockopt", "getsockopt", "setnb", "getnb", "ioctl", "getsockname", "getpeername",
            "dup", "disconnect", "poll")
ALL_CALLS = CALLS + CALLS_V2
# Readiness events poll() reports (POLLIN, POLLPRI, ...), as the trace format names them.
POLL_EVENTS = ("IN", "PRI", "OUT", "RDHUP", "ERR", "HUP", "NVAL")
# The events poll() reports whether asked for or not (poll(2)).
POLL_ALWAYS = ("ERR", "HUP", "NVAL")
# select(2)'s three sets, as the poll events that put a socket in each:
# Linux fs/select.c POLLIN_SET, POLLOUT_SET, POLLEX_SET (so a failed
# non-blocking connect, ERR without OUT, is "writable").
SELECT_SETS = {"IN": ("IN", "HUP", "ERR"), "OUT": ("OUT", "ERR"), "PRI": ("PRI",)}

# Timers: unobserved steps that a real clock would trigger.
TIMERS = ("syn_giveup", "synack_giveup", "timewait_expiry", "fin_wait_2_timeout")

# Return values that are not an errno: "ok", and "WAIT" (a blocking call
# that sleeps; it returns later, after unobserved steps, as if called again).
OK = "ok"
WAIT = "WAIT"
RET_ERR = "$err"  # return the pending error (and clear it)

# Profiles: which stack a rule speaks for.  "linux" is the kernel the model
# was measured on (6.18); "linux-6.1" is Linux before the role history above
# (measured on 6.1.176 under user-mode Linux); "posix" is what POSIX allows.
# A case or outcome names the profiles it holds under (default: all).
PROFILES = ("linux", "linux-6.1", "posix")
LINUX_PROFILES = ("linux", "linux-6.1")
# Which profile a Linux kernel release speaks: the first entry whose release
# is at least the given one.  The role history was measured on 6.18.44 and is
# absent from the 6.12.118 source, so 6.13 is where "linux" starts; releases
# between 6.13 and 6.18 are unmeasured.
KERNEL_PROFILES = (((6, 13), "linux"), ((0, 0), "linux-6.1"))


def profile_for_kernel(release: str) -> str:
    """The profile a Linux release (``os.uname().release``, e.g. "6.1.176-1") speaks."""
    nums = []
    for part in release.split("-")[0].split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        nums.append(int(digits) if digits else 0)
    version = tuple(nums + [0] * (2 - len(nums)))
    return next(name for since, name in KERNEL_PROFILES if version >= since)
# RFC 9293 transitions that no sockets API exposes are kept under this
# pseudo-profile so the diagrams show the whole RFC figure; no checker runs it.
RFC_ONLY = "rfc"

SHUT_HOW = ("rd", "wr", "rdwr")
