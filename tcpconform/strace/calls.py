"""What each system call means for TCP, as data: which calls read, write,
wait for readiness, make or release descriptors, and how strace's names
(flags, options, levels, events) map to the trace format's.

The converter (:mod:`tcpconform.strace.convert`) reads these tables; a call
not named here is, on a TCP descriptor, *unmapped*: listed with its count,
and the trace is marked partial.
"""

from __future__ import annotations

# call -> (argument index of the descriptor, argument index of the length or
# "iov" (a list of iovecs) or "msg" (a msghdr), argument index of the flags or None)
SENDS = {
    "write": (0, 2, None), "writev": (0, "iov", None), "send": (0, 2, 3),
    "sendto": (0, 2, 3), "sendmsg": (0, "msg", 2), "pwritev2": (0, "iov", None),
}
RECVS = {
    "read": (0, 2, None), "readv": (0, "iov", None), "recv": (0, 2, 3),
    "recvfrom": (0, 2, 3), "recvmsg": (0, "msg", 2),
}
SEND_FLAGS = {"MSG_DONTWAIT": "DONTWAIT", "MSG_NOSIGNAL": "NOSIGNAL", "MSG_MORE": "MORE",
              "MSG_OOB": "OOB", "MSG_EOR": "EOR"}
RECV_FLAGS = {"MSG_PEEK": "PEEK", "MSG_DONTWAIT": "DONTWAIT", "MSG_WAITALL": "WAITALL",
              "MSG_TRUNC": "TRUNC", "MSG_OOB": "OOB"}
# flags that change nothing the model speaks of
HARMLESS_FLAGS = {"MSG_NOSIGNAL", "MSG_CMSG_CLOEXEC", "0"}

# calls whose effect is taken at their return (they observe); every other call
# takes effect when it is entered (it acts), unless its result came of what
# happened while it slept (a connect that failed, a send that failed or took
# part of its bytes: tcpconform.strace.convert.Record.at_return).  A blocking
# connect that succeeds counts as acting: the handshake it starts is what its
# peer's accept returns.
OBSERVING = frozenset({
    "read", "readv", "recv", "recvfrom", "recvmsg", "accept", "accept4",
    "poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2",
    "getsockopt", "getsockname", "getpeername", "ioctl",
})

# calls that make a descriptor: placed at their return, once the number was free
# (another thread's close of that number came before)
MAKING = frozenset({"socket", "dup", "dup2", "dup3", "epoll_create", "epoll_create1"})

POLLS = {"poll", "ppoll"}
SELECTS = {"select", "pselect6", "_newselect"}
EPOLL_WAITS = {"epoll_wait", "epoll_pwait", "epoll_pwait2"}
CLONES = {"clone", "clone3", "fork", "vfork"}
DUPS = {"dup", "dup2", "dup3"}

# poll(2)/epoll(7) event names -> the trace's
POLL_NAMES = {
    "POLLIN": "IN", "POLLPRI": "PRI", "POLLOUT": "OUT", "POLLRDHUP": "RDHUP",
    "POLLERR": "ERR", "POLLHUP": "HUP", "POLLNVAL": "NVAL",
    "POLLRDNORM": "IN", "POLLWRNORM": "OUT",
    "EPOLLIN": "IN", "EPOLLPRI": "PRI", "EPOLLOUT": "OUT", "EPOLLRDHUP": "RDHUP",
    "EPOLLERR": "ERR", "EPOLLHUP": "HUP", "EPOLLRDNORM": "IN", "EPOLLWRNORM": "OUT",
}
# epoll flags that are not events
EPOLL_MODES = {"EPOLLET", "EPOLLONESHOT", "EPOLLEXCLUSIVE", "EPOLLWAKEUP"}
# select's three sets, as the poll events they wait for
SELECT_SETS = (("in", "IN"), ("out", "OUT"), ("ex", "PRI"))

# strace's level names -> the trace's
LEVELS = {"SOL_SOCKET": "SOL_SOCKET", "SOL_TCP": "IPPROTO_TCP", "IPPROTO_TCP": "IPPROTO_TCP",
          "SOL_IP": "IPPROTO_IP", "IPPROTO_IP": "IPPROTO_IP",
          "SOL_IPV6": "IPPROTO_IPV6", "IPPROTO_IPV6": "IPPROTO_IPV6"}
# strace's option names that the trace spells otherwise
OPTION_NAMES = {"SO_RCVTIMEO_OLD": "SO_RCVTIMEO", "SO_RCVTIMEO_NEW": "SO_RCVTIMEO",
                "SO_SNDTIMEO_OLD": "SO_SNDTIMEO", "SO_SNDTIMEO_NEW": "SO_SNDTIMEO"}
# options whose value is in milliseconds (the trace has seconds)
MILLISECONDS = {"TCP_USER_TIMEOUT"}

IOCTLS = {"FIONREAD": "FIONREAD", "SIOCINQ": "FIONREAD", "TIOCOUTQ": "SIOCOUTQ",
          "SIOCOUTQ": "SIOCOUTQ", "SIOCOUTQNSD": "SIOCOUTQNSD", "FIONBIO": "FIONBIO"}
CLOEXEC_IOCTLS = {"FIOCLEX": True, "FIONCLEX": False}

SHUT = {"SHUT_RD": "rd", "SHUT_WR": "wr", "SHUT_RDWR": "rdwr", 0: "rd", 1: "wr", 2: "rdwr"}

# the kernel's "restart" errors: the program saw EINTR or the call ran again
RESTARTS = {"ERESTARTSYS", "ERESTARTNOINTR", "ERESTARTNOHAND", "ERESTART_RESTARTBLOCK"}

# calls on a TCP descriptor that change nothing the model speaks of
BOOKKEEPING = {"fstat", "newfstatat", "statx", "fstatfs", "lseek", "epoll_ctl",
               "fcntl:F_GETFD", "fcntl:F_SETFD"}


def descriptor_kind(what: str) -> str:
    """What ``-yy`` says a descriptor is, as a summary's category."""
    if what.startswith(("TCP:", "TCPv6:")):
        return "tcp"
    if what.startswith("/"):
        return "file"
    for prefix, kind in (("pipe:", "pipe"), ("UNIX", "unix"), ("UDP", "udp"),
                         ("anon_inode:[eventpoll]", "epoll"), ("NETLINK", "netlink"),
                         ("MPTCP", "mptcp"), ("socket:", "socket")):
        if what.startswith(prefix):
            return kind
    return "other"
