"""Fresh network namespaces for ``conform run``: isolation of every live run.

A process that calls :func:`enter_fresh` leaves the network namespace it was
in for a new, empty one (``unshare(CLONE_NEWNET)``) whose only interface is
``lo``, which is brought up.  Nothing the process then does on the network
can reach, or be reached from, anything outside it: ports never clash with
other processes or other runs, and every socket, connection and TIME_WAIT
entry made in it disappears with the namespace when its last socket and
process are gone.  Nothing is named, mounted or written to disk (``ip netns
list`` never shows these namespaces), so nothing is left to clean up.

``unshare`` affects only the calling thread; it is meant for a single-threaded
worker process forked for the purpose (see :mod:`tcpconform.live.campaign`),
which may call it again to move into a fresh namespace for every scenario.

Without ``CAP_SYS_ADMIN`` (not root), an unprivileged user namespace is
tried (``CLONE_NEWUSER | CLONE_NEWNET``), which gives the same isolation
where the kernel allows it; when neither works the run falls back to the
host's loopback and :class:`Isolation` says why.

Python 3.11 has no ``os.unshare``; libc's ``unshare(2)`` is called through
:mod:`ctypes`.  ``lo`` is brought up with the ``SIOCGIFFLAGS`` /
``SIOCSIFFLAGS`` ioctls (no ``ip`` binary, no netlink library needed).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import signal
import socket
import struct
from dataclasses import dataclass

__all__ = ["Isolation", "enter_fresh", "die_with_parent", "netns_id", "probe", "libc", "unshare", "WHERE"]

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_SET_PDEATHSIG = 1
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1

WHERE = ("conform run only ever binds and connects to 127.0.0.1 (the recorder refuses any "
         "other address) and only on ports the kernel picks")


@dataclass(frozen=True)
class Isolation:
    """How a worker is isolated: ``mode`` is ``"netns"`` or ``"none"``; ``reason`` says how or why not."""

    mode: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"isolation": self.mode, "isolation_reason": self.reason}


_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    """The C library, through :mod:`ctypes` (errno kept), loaded once."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return _libc


def unshare(flags: int) -> int:
    """``unshare(flags)`` (e.g. :data:`CLONE_NEWNET`) for the calling thread; 0 or the errno."""
    if libc().unshare(ctypes.c_int(flags)) == 0:
        return 0
    return ctypes.get_errno() or errno.EPERM


def lo_up() -> None:
    """Bring ``lo`` up in the current namespace (a fresh namespace has it down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack_from("16sH", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, req))[1]
        if not flags & _IFF_UP:
            fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | _IFF_UP, b""))


_in_userns = False
_HOW = "unshare(CLONE_NEWNET), as root"
_USERNS_HOW = "unshare(CLONE_NEWUSER | CLONE_NEWNET): an unprivileged user namespace, not root"


def enter_fresh() -> Isolation:
    """Move the calling process (thread) into a new network namespace with ``lo`` up.

    Returns ``Isolation("netns", how)`` on success, ``Isolation("none", why)``
    when no namespace could be made (the process stays where it was).
    """
    global _in_userns
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return Isolation("none", "network namespaces need Linux")
    code = unshare(CLONE_NEWNET)
    if code == 0:
        how = _USERNS_HOW if _in_userns else _HOW
    elif code in (errno.EPERM, errno.EACCES) and not _in_userns:
        code2 = unshare(CLONE_NEWUSER | CLONE_NEWNET)
        if code2 != 0:
            who = "not root" if os.geteuid() != 0 else "root without CAP_SYS_ADMIN here"
            return Isolation("none", f"unshare(CLONE_NEWNET) failed: {os.strerror(code)} ({who}), "
                                     f"and an unprivileged user namespace was refused too "
                                     f"({os.strerror(code2)}); using the host's loopback")
        _in_userns = True
        how = _USERNS_HOW
    else:
        return Isolation("none", f"unshare(CLONE_NEWNET) failed: {os.strerror(code)}; using the host's loopback")
    try:
        lo_up()
    except OSError as e:
        return Isolation("none", f"a namespace was made but lo could not be brought up: {e.strerror or e}")
    global _made
    _made = os.readlink("/proc/thread-self/ns/net")
    return Isolation("netns", how)


_made: str | None = None  # the namespace enter_fresh() last made for this process


def in_own_namespace() -> bool:
    """Whether the caller is in the network namespace enter_fresh() made (never the host's)."""
    try:
        return _made is not None and os.readlink("/proc/thread-self/ns/net") == _made
    except OSError:
        return False


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """``prctl(PR_SET_PDEATHSIG, sig)``: the kernel kills this process if its parent dies."""
    try:
        libc().prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(sig), ctypes.c_ulong(0),
                   ctypes.c_ulong(0), ctypes.c_ulong(0))
    except (AttributeError, OSError):
        pass


def netns_id(pid: int | str = "self") -> str | None:
    """The network namespace of a process, as ``/proc/PID/ns/net`` names it (``net:[4026531840]``)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def probe() -> Isolation:
    """What :func:`enter_fresh` would give, found in a short-lived child (this process stays put)."""
    if not hasattr(os, "fork"):
        return Isolation("none", "no fork() on this platform")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(r)
            iso = enter_fresh()
            os.write(w, f"{iso.mode}\n{iso.reason}".encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read().decode()
    os.waitpid(pid, 0)
    mode, _, reason = data.partition("\n")
    if mode not in ("netns", "none"):
        return Isolation("none", "the namespace probe failed")
    return Isolation(mode, reason)
