"""Socket options, as data: what each one changes in the model, and what getsockopt reads back.

Options come in two kinds.  Those that change what calls and segments do
are read by the composition (:mod:`tcpconform.model.system`): SO_REUSEADDR
and SO_REUSEPORT decide which holders of a port conflict with a ``bind`` or
a ``listen`` (:data:`SHARING`); IPV6_V6ONLY decides whether an IPv6 wildcard
address covers IPv4 too; SO_LINGER with a zero timeout makes ``close``
abort with a RST.  The others change only timing or segmentation (Nagle,
keepalive, buffer sizes): the model keeps what was set, so that
``getsockopt`` reads back what the kernel would, including its doubling of
buffer sizes.  An accepted socket starts with its listener's options
(``sk_clone_lock`` copies the socket), never with its O_NONBLOCK (a flag
of the file, not of the socket).

Each :class:`Option` says how the kernel stores the value (``readback``,
one of :data:`READBACKS`), what a fresh socket reads (``default``; None
when the model cannot know, e.g. a buffer size TCP autotunes), whether an
accepted socket inherits it, what it changes (``effect``) and its source.
An option the table does not list is kept as set and read back as anything.
"""

from __future__ import annotations

from typing import Any, NamedTuple

# How getsockopt reads a value back:
READBACKS = (
    "bool",    # any nonzero value reads back as 1 (sock.c: sock_valbool_flag, valbool = val ? 1 : 0)
    "same",    # the value as set
    "rcvbuf",  # 2 × min(value, rmem_max), at least SOCK_MIN_RCVBUF (sock.c __sock_set_rcvbuf)
    "sndbuf",  # 2 × min(value, wmem_max), at least SOCK_MIN_SNDBUF (sock.c sk_setsockopt SO_SNDBUF)
    "timeout", # seconds, rounded up to the kernel's clock tick (at most TIMEOUT_SLACK more)
    "lowat",   # at least 1, at most the value (tcp_set_rcvlowat caps it at tcp_rmem[2] / 2)
    "linger",  # (onoff as 0 or 1, seconds)
    "any",     # the model does not know what the kernel reads back
)
EFFECTS = ("", "reuseaddr", "reuseport", "v6only", "linger")

# The buffer caps (sysctl net.core.rmem_max, wmem_max) differ between
# machines (Debian's default 212992; 4194304 on the one measured): a value
# up to half the smallest cap reads back exactly doubled, a larger one as
# anything from twice that cap to twice the value.
MIN_BUF_MAX = 212992
SOCK_MIN_RCVBUF = 2304   # 2048 + sizeof(struct sk_buff) rounded (x86_64) [E]
SOCK_MIN_SNDBUF = 4608   # 2 × SOCK_MIN_RCVBUF [E]
TIMEOUT_SLACK = 0.01     # one tick at HZ = 100 (4 ms measured at HZ = 250) [E]
# Values setsockopt refuses with EINVAL: option -> (lowest, highest) accepted.
RANGES = {"TCP_KEEPIDLE": (1, 32767), "TCP_KEEPINTVL": (1, 32767), "TCP_KEEPCNT": (1, 127),
          "TCP_USER_TIMEOUT": (0, None), "TCP_MAXSEG": (88, 32767)}


class Option(NamedTuple):
    level: str
    name: str
    readback: str
    default: Any          # what a fresh socket reads; None: unknown (any)
    inherited: bool       # an accepted socket starts with its listener's value
    effect: str           # what the model does with it (EFFECTS); "" = only kept
    source: str


def _o(level, name, readback, default, inherited=True, effect="", *, source) -> Option:
    return Option(level, name, readback, default, inherited, effect, source)


S, T, V6 = "SOL_SOCKET", "IPPROTO_TCP", "IPPROTO_IPV6"
OPTIONS: tuple[Option, ...] = (
    _o(S, "SO_REUSEADDR", "bool", 0, effect="reuseaddr",
       source="sock.c sk_setsockopt SO_REUSEADDR: sk_reuse = valbool; inet_connection_sock.c inet_bind_conflict [E]"),
    _o(S, "SO_REUSEPORT", "bool", 0, effect="reuseport",
       source="sock.c SO_REUSEPORT: sk_reuseport = valbool; inet_bind_conflict, inet_reuseport_add_sock [E]"),
    _o(S, "SO_LINGER", "linger", (0, 0), effect="linger",
       source="sock.c SO_LINGER: SOCK_LINGER, sk_lingertime; tcp.c __tcp_close: linger 0 → tcp_disconnect, RST [E]"),
    _o(S, "SO_KEEPALIVE", "bool", 0, source="sock.c SO_KEEPALIVE → tcp_set_keepalive [E]"),
    _o(S, "SO_RCVBUF", "rcvbuf", None, source="sock.c __sock_set_rcvbuf: doubled, SOCK_RCVBUF_LOCK [E]"),
    _o(S, "SO_SNDBUF", "sndbuf", None, source="sock.c SO_SNDBUF: doubled, SOCK_SNDBUF_LOCK [E]"),
    _o(S, "SO_RCVTIMEO", "timeout", 0, source="sock.c sock_set_timeout: sk_rcvtimeo [E]"),
    _o(S, "SO_SNDTIMEO", "timeout", 0, source="sock.c sock_set_timeout: sk_sndtimeo [E]"),
    _o(S, "SO_RCVLOWAT", "lowat", 1, source="sock.c SO_RCVLOWAT → tcp_set_rcvlowat: 0 → 1, capped [E]"),
    _o(S, "SO_TYPE", "same", 1, source="sock.c sk_getsockopt SO_TYPE: sk_type (SOCK_STREAM = 1) [E]"),
    _o(T, "TCP_NODELAY", "bool", 0, source="tcp.c do_tcp_setsockopt TCP_NODELAY → __tcp_sock_set_nodelay [E]"),
    _o(T, "TCP_CORK", "bool", 0, source="tcp.c TCP_CORK → __tcp_sock_set_cork [E]"),
    _o(T, "TCP_USER_TIMEOUT", "timeout", 0, source="tcp.c TCP_USER_TIMEOUT: icsk_user_timeout (ms) [E]"),
    _o(T, "TCP_KEEPIDLE", "same", 7200, source="tcp.c TCP_KEEPIDLE: keepalive_time (tcp_keepalive_time 7200) [E]"),
    _o(T, "TCP_KEEPINTVL", "same", 75, source="tcp.c TCP_KEEPINTVL (tcp_keepalive_intvl 75) [E]"),
    _o(T, "TCP_KEEPCNT", "same", 9, source="tcp.c TCP_KEEPCNT (tcp_keepalive_probes 9) [E]"),
    _o(T, "TCP_DEFER_ACCEPT", "any", 0, source="tcp.c TCP_DEFER_ACCEPT: seconds rounded to SYN-ACK retransmits [E]"),
    _o(T, "TCP_FASTOPEN", "same", 0, source="tcp.c TCP_FASTOPEN: fastopenq.max_qlen [E]"),
    _o(T, "TCP_QUICKACK", "any", None, source="tcp.c TCP_QUICKACK: read back from the ack state [E]"),
    _o(V6, "IPV6_V6ONLY", "bool", 0, effect="v6only",
       source="ipv6_sockglue.c IPV6_V6ONLY: sk_ipv6only (default net.ipv6.bindv6only = 0) [E]"),
)
BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}
_UNKNOWN = Option("", "", "any", None, True, "", "not in the table: kept, read back as anything")

# Which holders of a port a bind() or listen() shares it with: both sockets
# set the option, and (for SO_REUSEADDR) the other is not listening.  What a
# connection left in TIME_WAIT holds is shared as its socket's options say
# (tw_reuse, tw_reuseport).  One user runs a trace, so SO_REUSEPORT's
# same-owner test always holds.
SHARING = (
    ("reuseaddr", ("LISTEN",),
     "inet_connection_sock.c inet_bind_conflict: sk_reuse && sk2_reuse && sk2 not TCP_LISTEN → no conflict [E]"),
    ("reuseport", (),
     "inet_connection_sock.c inet_bind_conflict: both sk_reuseport (same owner, or sk2 in TIME_WAIT) → no conflict [E]"),
)


def option(name: str) -> Option:
    """The table's entry for ``name`` (an unknown option: kept, read back as anything)."""
    return BY_NAME.get(name, _UNKNOWN)


def valid(name: str, value: Any) -> bool:
    """Whether setsockopt accepts ``value`` for ``name`` (:data:`RANGES`)."""
    span = RANGES.get(name)
    if span is None or not isinstance(value, (int, float)):
        return True
    low, high = span
    return value >= low and (high is None or value <= high)


def stored(name: str, value: Any, old: Any = None) -> Any:
    """What the model keeps when ``name`` is set to ``value`` (what
    :func:`reads_back` compares with); ``old``: what it kept before."""
    how = option(name).readback
    if how == "bool":
        return 1 if value else 0
    if how == "linger":
        onoff, secs = value
        if not onoff:  # sock.c SO_LINGER: off leaves sk_lingertime as it was [E]
            return (0, old[1] if old is not None else 0)
        return (1, secs)
    if how in ("rcvbuf", "sndbuf") and value < 0:
        return 1 << 62  # min_t(u32, val, rmem_max): a negative size is taken as the cap
    if how == "timeout" and name != "TCP_USER_TIMEOUT" and value < 0:
        return 0  # sock_set_timeout: a negative timeout is none
    return value


def reads_back(name: str, kept: Any, value: Any) -> bool:
    """Whether getsockopt may return ``value`` for an option whose kept value
    (as :func:`stored` keeps it) is ``kept`` (None: never set, so the default)."""
    opt = option(name)
    if kept is None:
        kept = opt.default
    how = opt.readback
    if kept is None or how == "any":
        return True
    if how in ("rcvbuf", "sndbuf"):
        floor = SOCK_MIN_RCVBUF if how == "rcvbuf" else SOCK_MIN_SNDBUF
        if kept <= MIN_BUF_MAX:
            return value == max(2 * max(kept, 0), floor)
        return 2 * MIN_BUF_MAX <= value <= 2 * kept
    if how == "timeout":
        return isinstance(value, (int, float)) and kept - 1e-6 <= value <= kept + TIMEOUT_SLACK
    if how == "lowat":
        return value == max(kept, 1) if kept <= 1 << 20 else 1 <= value <= kept
    if how == "linger" and kept[1] < 0:
        return isinstance(value, tuple) and value[0] == kept[0]
    return value == kept


def has(opts: tuple, effect: str) -> bool:
    """Whether the options kept (``(name, value)`` pairs) turn on the effect."""
    for name, value in opts:
        opt = BY_NAME.get(name)
        if opt is not None and opt.effect == effect:
            return bool(value)
    return False


def lingers_zero(opts: tuple) -> bool:
    """SO_LINGER is on with a zero timeout: close() aborts with a RST."""
    for name, value in opts:
        if name == "SO_LINGER":
            return value == (1, 0)
    return False


def kept(opts: tuple, name: str) -> Any:
    for n, v in opts:
        if n == name:
            return v
    return None


def with_option(opts: tuple, name: str, value: Any) -> tuple:
    """``opts`` with ``name`` set to ``value`` (as the kernel keeps it)."""
    return tuple(sorted([(n, v) for n, v in opts if n != name] + [(name, stored(name, value, kept(opts, name)))]))


def inherited(opts: tuple) -> tuple:
    """The options an accepted socket starts with, from its listener's."""
    return tuple((n, v) for n, v in opts if option(n).inherited)


def shares(mine: tuple, theirs: tuple, their_state: str) -> bool:
    """Whether a socket with options ``mine`` may share a port with a holder
    with options ``theirs`` in TCP state ``their_state`` (:data:`SHARING`)."""
    for effect, unless, _src in SHARING:
        if has(mine, effect) and has(theirs, effect) and their_state not in unless:
            return True
    return False
