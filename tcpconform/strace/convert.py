"""From an strace log to a version-2 trace: which descriptors are TCP
sockets, what each call on them did, in which order, and what could not be
said.

**Order.**  strace prints a call when it returns (or, when calls of other
processes come between, its entry and its return on two lines).  A call that
*acts* (send, close, connect, ...) has done its work by the time any call
entered after it sees the result, and a call that *observes* (recv, accept,
poll, ...) reports what held just before it returned.  So each call is placed
at its entry if it acts and at its return if it observes
(:data:`tcpconform.strace.calls.OBSERVING`); one thread's calls keep their
order, because each is entered after the one before returned.  A send that
overlaps the recv receiving its bytes thus comes first, as it happened.

**Names.**  A descriptor is named after the process that holds it and its
number, ``python3/4166/fd6``; when the number is used again the name gets
``#2``, ``#3``, ...  A child process inherits each TCP descriptor as a
``dup``; threads (``CLONE_FILES``) share their process's descriptors.
Descriptors released without ``close`` (the process exited, ``execve``
closed them, ``dup2`` replaced them, ``close_range``) are written as ``close``
with that ``via``.

**What is left out.**  Calls on descriptors that are not TCP sockets are
counted by kind (file, pipe, unix, udp, ...).  A call on a TCP descriptor
that the trace format cannot say (``sendfile`` with an unknown count, a flag
the model does not know, a descriptor opened before tracing began) is
listed as unmapped with its count, and the trace is *partial*.

Pure: text in, events and a summary out.
"""

from __future__ import annotations

import errno as errno_names
import json
import re
from collections import Counter
from dataclasses import dataclass, field

from tcpconform.strace import calls as C
from tcpconform.strace.syntax import (ELLIPSIS, Fd, Flags, Form, Line, Named, Str, Struct,
                                      ValueError_, read_args, read_line, read_value)


class LogError(Exception):
    """The log is not strace output; ``line`` is where that became clear."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass
class Record:
    """One system call, its entry and return put together."""
    pid: int
    comm: str | None
    name: str
    args: str
    ret: str | None          # None: it never returned
    entry: int               # line numbers
    exit: int
    t_entry: float | None
    t_exit: float | None

    @property
    def key(self) -> int:
        return self.exit if self.at_return else self.entry

    @property
    def at_return(self) -> bool:
        """Whether the call is placed where it returned (see the module's docstring)."""
        if self.ret is None:
            return False
        if self.name in C.OBSERVING or self.name in C.MAKING:
            return True
        if self.name in C.SENDS or self.name == "connect":
            # an acting call whose result came of what happened while it slept:
            # a connect that failed, a send that failed or took part of its bytes
            num, err, _, _ = _ret(self.ret)
            if err == "unfinished":
                return False   # killed in the call: it may have done anything from its entry on
            if self.name == "connect":
                return err not in (None, "EINPROGRESS", "EALREADY", "EISCONN", "EAGAIN", "EBADF")
            if err is not None:
                return err not in ("EAGAIN", "EBADF")
            length = _length(read_args_or(self.args), C.SENDS[self.name][1])
            return length is not None and num is not None and num < length
        return False

    @property
    def t(self) -> float | None:
        return self.t_exit if self.at_return else self.t_entry


@dataclass
class Gone:
    """A process (or thread) exited or was killed.  Its descriptors were closed
    before strace could say so: at its ``exit_group`` (handled as that call is),
    or, killed by a signal, when the signal came (``at``: that line)."""
    pid: int
    line: int
    time: float | None
    at: int | None = None

    @property
    def key(self) -> int:
        return self.at if self.at is not None else self.line

    def as_call(self) -> "Record":
        """Where the exit's implicit closes are placed: a call of no duration at :attr:`key`."""
        return Record(self.pid, None, "exit", "", "0", self.key, self.key, self.time, self.time)


@dataclass
class Summary:
    """What the conversion saw: calls on TCP descriptors (seen, mapped,
    unmapped by reason), calls on other descriptors by kind, processes."""
    seen: Counter = field(default_factory=Counter)
    mapped: Counter = field(default_factory=Counter)
    unmapped: Counter = field(default_factory=Counter)
    other: Counter = field(default_factory=Counter)
    processes: set = field(default_factory=set)
    lines: int = 0
    reordered: int = 0   # overlapping calls put in another order than strace printed them

    @property
    def partial(self) -> bool:
        return bool(self.unmapped)

    def as_dict(self) -> dict:
        return {"calls_seen": sum(self.seen.values()), "calls_mapped": sum(self.mapped.values()),
                "unmapped": dict(sorted(self.unmapped.items())),
                "other_descriptors": dict(sorted(self.other.items())),
                "processes": len(self.processes), "reordered": self.reordered, "partial": self.partial}


# ---------------------------------------------------------------------------
# Pass 1: lines into records
# ---------------------------------------------------------------------------

def records(lines) -> list:
    """The log's calls (entry and return joined) and exits, in line order of entry."""
    out = []
    open_calls: dict[int, Record] = {}
    last_line: dict[int, int] = {}     # pid -> line of its last call
    signalled: dict[int, int] = {}     # pid -> line of the last signal delivered to it
    understood = 0
    last_time = None
    day = 0.0
    read = [read_line(text, number) for number, text in enumerate(lines, 1) if text.strip()]
    first = _first_process(read)
    for line in read:
        number = line.number
        if line.pid is None and first is not None:
            line.pid = first
        if line.time is not None:      # -tt wraps at midnight
            if last_time is not None and line.time + day < last_time - 43200:
                day += 86400
            line.time += day
            last_time = line.time
        pid = line.pid if line.pid is not None else 0
        if line.kind == "other":
            if understood == 0 and number >= 20:
                raise LogError(number, "no line so far reads as strace output "
                               "(expected e.g. '123 12:00:00.000001 socket(AF_INET, ...) = 3')")
            continue
        understood += 1
        if line.kind in ("call", "entry", "exit"):
            last_line[pid] = number
        if line.kind == "signal":
            signalled[pid] = number
        if line.kind == "call":
            out.append(_record(pid, line, line, line.ret))
        elif line.kind == "entry":
            rec = _record(pid, line, line, None)
            open_calls[pid] = rec
            out.append(rec)
        elif line.kind == "exit":
            rec = open_calls.pop(pid, None)
            if rec is None or rec.name != line.name:
                continue   # the call began before tracing did
            rec.args += line.args
            rec.ret = line.ret
            rec.exit = number
            rec.t_exit = line.time
            if line.comm:
                rec.comm = line.comm
        elif line.kind == "gone":
            killed_at = signalled.get(pid) if line.name != "exit" else None
            if killed_at is not None and killed_at < last_line.get(pid, 0):
                killed_at = None
            out.append(Gone(pid, number, line.time, killed_at))
    if understood == 0 and out == []:
        raise LogError(1, "no line reads as strace output")
    return out


_CHILD = re.compile(r"\s*(\d+)")


def _first_process(lines: list[Line]) -> int | None:
    """The pid of the traced command in a log whose lines carry pids only once
    it has children (``strace -f`` writing to stderr, ``[pid N]``): the one pid
    that no clone, fork or vfork returned."""
    if not any(line.pid is None and line.kind != "other" for line in lines):
        return None
    children = {int(m.group(1)) for line in lines if line.name in ("clone", "clone3", "fork", "vfork")
                and line.ret and (m := _CHILD.match(line.ret))}
    others = {line.pid for line in lines if line.pid is not None} - children
    return others.pop() if len(others) == 1 else None


def _record(pid: int, first: Line, last: Line, ret: str | None) -> Record:
    t_exit = first.time + first.dur if first.time is not None and first.dur is not None and ret is not None \
        else first.time
    return Record(pid, first.comm, first.name, first.args, ret, first.number, last.number, first.time, t_exit)


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------

_RET = re.compile(r"(?P<num>-?(?:0x[0-9a-fA-F]+|\d+))(?P<deco><.*>)?(?:\s+(?P<errno>E[A-Z0-9_]+))?"
                  r"(?:\s+\((?P<extra>.*)\))?\s*\Z")


def _ret(text: str):
    """``(number, errno name or None, decoration, text in parentheses)``.  strace's
    ``?`` (the process died in the call) gives errno ``"unfinished"``; the
    kernel's restart errors give EINTR (the program saw EINTR, or the call
    ran again, which strace shows as a call of its own)."""
    if text.startswith("?"):
        return None, "EINTR" if any(r in text for r in C.RESTARTS) else "unfinished", "", ""
    m = _RET.match(text)
    if not m:
        return None, None, "", ""
    num = int(m["num"], 16) if "x" in m["num"] else int(m["num"])
    deco = m["deco"][1:-1] if m["deco"] else ""
    if m["errno"] and m["errno"] in C.RESTARTS:
        return num, "EINTR", deco, ""
    return num, m["errno"], deco, m["extra"] or ""


def _fd(value):
    """(number, what) of a descriptor argument, or (None, "")."""
    if isinstance(value, Fd):
        return value.num, value.what
    if isinstance(value, int):
        return value, ""
    return None, ""


def _names(value) -> set[str]:
    if isinstance(value, Flags):
        return set(value.names)
    if isinstance(value, str):
        return {value}
    if isinstance(value, int):
        return {str(value)}
    return set()


def _unquote(s) -> str | None:
    return s.text[1:-1] if isinstance(s, Str) else None


def address(value) -> str | None:
    """"A.B.C.D:P", "[A]:P" or "AF_UNSPEC" from a sockaddr structure."""
    if not isinstance(value, Struct):
        return None
    fam = value.get("sa_family")
    if fam == "AF_UNSPEC":
        return "AF_UNSPEC"
    if fam == "AF_INET":
        port = value.get("sin_port")
        host = value.get("sin_addr")
        if isinstance(port, Form) and isinstance(host, Form) and host.args and _unquote(host.args[0]) \
                and port.args and isinstance(port.args[0], int):
            return f"{_unquote(host.args[0])}:{port.args[0]}"
    if fam == "AF_INET6":
        port = value.get("sin6_port")
        host = next((i for i in value.items if isinstance(i, Form) and i.name == "inet_pton"), None)
        if isinstance(port, Form) and host is not None and len(host.args) > 1 and _unquote(host.args[1]):
            return f"[{_unquote(host.args[1])}]:{port.args[0]}"
    return None


_DECO = re.compile(r"TCP(?:v6)?:\[(?P<local>[^\]>]*?\]?:\d+|[^\[\]>-]+:\d+)(?:->(?P<remote>.*:\d+))?\]\Z")


def decoration(what: str) -> tuple[str | None, str | None]:
    """(local, remote) addresses that ``-yy`` shows for a TCP socket, if any."""
    m = _DECO.match(what)
    if not m:
        return None, None
    return _addr_text(m["local"]), _addr_text(m["remote"]) if m["remote"] else None


def _addr_text(text: str) -> str:
    if text.startswith("["):
        return text
    host, _, port = text.rpartition(":")
    return f"[{host}]:{port}" if ":" in host else text


def _length(args: list, where) -> int | None:
    """Bytes offered or asked for: an argument, or the sum of an iovec list."""
    if isinstance(where, int):
        return args[where] if len(args) > where and isinstance(args[where], int) else None
    vec = args[1] if len(args) > 1 else None
    if where == "msg":
        vec = vec.get("msg_iov") if isinstance(vec, Struct) else None
    if not isinstance(vec, list) or ELLIPSIS in vec:
        return None
    total = 0
    for iov in vec:
        if not isinstance(iov, Struct) or not isinstance(iov.get("iov_len"), int):
            return None
        total += iov.get("iov_len")
    return total


def _timeout(value) -> float:
    """A wait's timeout in seconds, -1 for none: milliseconds (poll, epoll_wait),
    a timespec (ppoll, epoll_pwait2) or NULL (ValueError for anything else)."""
    if value == "NULL":
        return -1
    if isinstance(value, int):
        return -1 if value < 0 else value / 1000.0
    seconds = _seconds(value)
    if seconds is None:
        raise ValueError(f"a timeout not understood: {value!r}")
    return seconds


def _seconds(value) -> float | None:
    """A timeval or timespec in seconds, or None."""
    if isinstance(value, Struct):
        sec = value.get("tv_sec")
        frac = value.get("tv_nsec"), 1e9
        if frac[0] is None:
            frac = value.get("tv_usec"), 1e6
        if isinstance(sec, int) and isinstance(frac[0], int):
            return sec + frac[0] / frac[1]
    return None


# ---------------------------------------------------------------------------
# Pass 2: records into events
# ---------------------------------------------------------------------------

@dataclass
class Sock:
    """A TCP socket (what every ``dup`` of a descriptor shares)."""
    family: str
    names: set = field(default_factory=set)     # its open descriptors' names
    waiting: list = field(default_factory=list)  # events still to learn a local address
    refused: bool = False                        # its connect was refused (nobody listened there)
    first: str = ""                              # the name it was introduced by
    accepted_on: str | None = None               # the listener's address it was accepted on
    local: str | None = None                     # its addresses as last seen
    remote: str | None = None


@dataclass
class Desc:
    name: str
    sock: Sock
    cloexec: bool = False


@dataclass
class Epoll:
    """An epoll instance: its interest list, by the data it returns."""
    interest: dict = field(default_factory=dict)   # data -> [Sock, name, events, edge, oneshot, armed]
    others: bool = False                            # descriptors that are not TCP sockets registered too


@dataclass
class Table:
    """A descriptor table (one per process, shared by its threads)."""
    owner: int
    fds: dict = field(default_factory=dict)        # number -> Desc | Epoll
    users: set = field(default_factory=set)        # tids using it


class Converter:
    def __init__(self):
        self.events: list[dict] = []
        self.summary = Summary()
        self.tables: dict[int, Table] = {}
        self.comm: dict[int, str] = {}
        self.tgid: dict[int, int] = {}
        self.used: set[str] = set()
        self.t_first: float | None = None
        self.t_last = 0.0
        self.peers: list[tuple[str, Sock]] = []   # addresses connected to or accepted from
        self.locals: set[str] = set()
        self.connected_to: set[str] = set()   # addresses the trace's own sockets connected to
        self.kernel: dict | None = None   # (local, remote) -> [(time, state)], when the kernel's were watched
        self.socks: list[Sock] = []

    # -- the process side --------------------------------------------------
    def table(self, tid: int) -> Table:
        if tid not in self.tables:
            table = Table(tid, users={tid})
            self.tables[tid] = table
            self.tgid.setdefault(tid, tid)
        return self.tables[tid]

    def new_name(self, pid: int, fd: int) -> str:
        base = f"{self.comm.get(pid) or 'pid'}/{pid}/fd{fd}"
        name, n = base, 1
        while name in self.used:
            n += 1
            name = f"{base}#{n}"
        self.used.add(name)
        return name

    def emit(self, rec, t: float | None, ev: dict) -> dict:
        if t is not None:
            if self.t_first is None:
                self.t_first = t
            rel = max(round(t - self.t_first, 6), self.t_last)
            self.t_last = rel
            ev["t"] = rel
        ev["pid"] = self.tgid.get(rec.pid, rec.pid)
        if ev["pid"] != rec.pid:
            ev["tid"] = rec.pid
        # for reordering (overlapping_moves), not written: where the call ran in the log, and
        # the latest time it may be given (when it returned)
        ev["_span"] = (rec.entry, rec.exit, rec.pid)
        if rec.t_exit is not None and self.t_first is not None:
            ev["_latest"] = round(rec.t_exit - self.t_first, 6)
        self.events.append(ev)
        return ev

    def call(self, rec, sock: str, op: str, ret: str, **fields) -> dict:
        ev = {"ev": "call", "sock": sock, "op": op, **fields, "ret": ret}
        out = self.emit(rec, rec.t, ev)
        if self.kernel is not None:   # its rows are filled in at the end, when every address is known
            seen = [(sock, sock.local, sock.remote, bool(sock.names)) for sock in self.socks]
            self.events.append({"ev": "x-netstat", "rows": (rec.t_exit, seen), "_with": True})
        return out

    def sock(self, family: str, name: str) -> Sock:
        sock = Sock(family, names={name}, first=name)
        self.socks.append(sock)
        return sock

    def kernel_rows(self, t: float | None, seen: list) -> list[dict]:
        """The program's sockets as the kernel's state changes had them at ``t``:
        every socket with an open descriptor, and every closed one whose
        connection the kernel still held (Recv-Q and Send-Q are not known).
        A socket's state is looked up by the addresses it ended with; they are
        shown once it has left CLOSED, before that those it had then."""
        rows = []
        for sock, local, remote, open_ in seen:
            state = self.kernel_state(sock, t)
            if not open_ and state == "CLOSED":
                continue
            if state != "CLOSED":
                local, remote = sock.local, sock.remote
            row = {"sock": sock.first, "state": state, "recvq": None, "sendq": None,
                   "local": local or "0.0.0.0:*", "foreign": remote or "0.0.0.0:*"}
            if state == "TIME_WAIT":
                row["note"] = "a timewait sock; FIN_WAIT_2 if orphaned"
            rows.append(row)
        return rows

    def fill_kernel_rows(self) -> None:
        for ev in self.events:
            if ev["ev"] == "x-netstat":
                ev["rows"] = self.kernel_rows(*ev["rows"])

    def kernel_state(self, sock: Sock, t: float | None) -> str:
        if sock.local is None or t is None:
            return "CLOSED"
        remote = sock.remote or ("[::]:0" if sock.local.startswith("[") else "0.0.0.0:0")
        host = sock.local.rpartition(":")[0]
        best = (float("-inf"), "CLOSED")
        for key in ((sock.local, remote), (f"{host}:0", remote)):
            for when, state in self.kernel.get(key, ()):
                if when <= t and when >= best[0]:
                    best = (when, state)
        return best[1]

    def close_desc(self, rec, table: Table, fd: int, via: str | None):
        d = table.fds.pop(fd, None)
        if isinstance(d, Desc):
            d.sock.names.discard(d.name)
            fields = {"via": via} if via else {}
            self.call(rec, d.name, "close", "ok", **fields)

    def exit_all(self, rec, table: Table):
        """``exit_group``: every thread of the process ends; the descriptors close
        (as the call is entered) unless another process shares them (CLONE_FILES)."""
        group = self.tgid.get(rec.pid, rec.pid)
        for tid in [t for t in table.users if self.tgid.get(t, t) == group]:
            self.tables.pop(tid, None)
            table.users.discard(tid)
        if not table.users:
            for fd in sorted(table.fds):
                self.close_desc(rec, table, fd, "exit")

    def gone(self, g: Gone):
        table = self.tables.get(g.pid)
        if table is None:
            return
        table.users.discard(g.pid)
        del self.tables[g.pid]
        if not table.users:
            for fd in sorted(table.fds):
                self.close_desc(g.as_call(), table, fd, "exit")

    # -- one record ---------------------------------------------------------
    def record(self, rec: Record):
        """One call, into events (a call whose text does not read as strace
        writes it is counted as not understood, never raised)."""
        events, seen = len(self.events), sum(self.summary.seen.values())
        try:
            return self._record(rec)
        except (TypeError, ValueError, AttributeError, IndexError, KeyError):
            del self.events[events:]
            if sum(self.summary.seen.values()) > seen or "TCP" in rec.args:
                self.unmapped(rec, f"{rec.name}: arguments not understood")
            return None

    def _record(self, rec: Record):
        if rec.comm:
            self.comm[self.tgid.get(rec.pid, rec.pid)] = rec.comm
        table = self.table(rec.pid)
        try:
            args = read_args(rec.args)
        except ValueError_:
            args = None
        if rec.name in C.CLONES:
            return self.clone(rec, table, args)
        if rec.name == "exit_group":
            return self.exit_all(rec, table)
        if rec.name == "execve":
            if rec.ret is not None and _ret(rec.ret)[0] == 0:
                for fd in sorted(table.fds):
                    d = table.fds[fd]
                    if isinstance(d, Desc) and d.cloexec or isinstance(d, Epoll):
                        self.close_desc(rec, table, fd, "exec")
            return None
        if rec.name == "socket":
            return self.socket(rec, table, args)
        if args is None:
            if "TCP" in rec.args:
                self.unmapped(rec, f"{rec.name}: arguments not understood")
            return None
        first = _fd(args[0]) if args else (None, "")
        if rec.name == "close_range":
            return self.close_range(rec, table, args)
        if rec.name in C.DUPS or rec.name == "fcntl" and len(args) > 1 and args[1] in ("F_DUPFD", "F_DUPFD_CLOEXEC"):
            return self.dup(rec, table, args)
        if rec.name in ("epoll_create", "epoll_create1"):
            num, err, _, _ = _ret(rec.ret or "")
            if err is None and num is not None and num >= 0:
                table.fds[num] = Epoll()
            return None
        if rec.name == "epoll_ctl":
            return self.epoll_ctl(rec, table, args)
        if rec.name in C.EPOLL_WAITS:
            return self.epoll_wait(rec, table, args)
        if rec.name in C.POLLS:
            return self.poll(rec, table, args)
        if rec.name in C.SELECTS:
            return self.select(rec, table, args)
        if rec.name == "splice":
            target = next((a for a in (args[2:3] or []) if isinstance(table.fds.get(_fd(a)[0]), Desc)), None)
            if target is not None:
                return self.unmapped(rec, "splice into a socket")
            first = _fd(args[0])
        if rec.name == "sendfile":
            first = _fd(args[0])
        num, what = first
        if num is None:
            return None
        d = table.fds.get(num)
        if isinstance(d, Desc) and what and not what.startswith(("TCP:", "TCPv6:")):
            # strace shows something else behind the number: the socket went unseen
            # (closed by a call not traced); the number is no longer the socket's
            table.fds.pop(num)
            d.sock.names.discard(d.name)
            self.unmapped(rec, "a socket's descriptor released unseen")
            d = None
        if not isinstance(d, Desc):
            if what.startswith(("TCP:", "TCPv6:")):
                self.summary.seen[rec.name] += 1
                self.summary.unmapped["descriptor opened before tracing"] += 1
            elif what:
                self.summary.other[C.descriptor_kind(what)] += 1
            return None
        self.summary.seen[rec.name] += 1
        self.summary.processes.add(self.tgid.get(rec.pid, rec.pid))
        if what:
            self.learn(d.sock, what)
        if rec.ret is None or _ret(rec.ret)[1] == "unfinished":
            return self.unfinished(rec, d)
        handler = getattr(self, "op_" + rec.name, None)
        if rec.name in C.SENDS:
            handler = self.op_send
        elif rec.name in C.RECVS:
            handler = self.op_recv
        if handler is None:
            return self.unmapped(rec, rec.name)
        return handler(rec, table, d, args)

    def mapped(self, rec):
        self.summary.mapped[rec.name] += 1

    def unmapped(self, rec, reason: str):
        self.summary.unmapped[reason] += 1

    def unfinished(self, rec, d: Desc):
        op = {"accept4": "accept", "connect": "connect"}.get(rec.name)
        if rec.name in C.RECVS:
            op = "recv"
        if rec.name in C.SENDS:
            op = "send"
        if op is None:
            return self.unmapped(rec, f"{rec.name} that never returned")
        self.mapped(rec)
        fields = {}
        args = read_args_or(rec.args)
        if op in ("send", "recv"):
            fields["len"] = _length(args, (C.SENDS if op == "send" else C.RECVS)[rec.name][1]) or 1
        if op == "connect":
            addr = address(args[1]) if len(args) > 1 else None
            if addr is None:
                return self.unmapped(rec, "connect to an address not understood")
            fields["addr"] = addr
        return self.call(rec, d.name, op, "unfinished", **fields)

    # -- making and releasing descriptors ---------------------------------
    def socket(self, rec, table, args):
        if not args or len(args) < 2:
            return None
        family = args[0]
        kinds = _names(args[1])
        proto = args[2] if len(args) > 2 else 0
        num, err, deco, _ = _ret(rec.ret or "")
        tcp = family in ("AF_INET", "AF_INET6") and "SOCK_STREAM" in kinds \
            and proto in ("IPPROTO_TCP", "IPPROTO_IP", 0)
        if not tcp:
            return None
        self.summary.seen["socket"] += 1
        if err is not None or num is None or num < 0:
            return self.unmapped(rec, f"socket failing with {err or '?'}")
        self.mapped(rec)
        self.close_desc(rec, table, num, None) if num in table.fds else None
        name = self.new_name(table.owner, num)
        sock = self.sock("inet6" if family == "AF_INET6" else "inet", name)
        table.fds[num] = Desc(name, sock, "SOCK_CLOEXEC" in kinds)
        fields = {"nonblock": True} if "SOCK_NONBLOCK" in kinds else {}
        if sock.family == "inet6":
            fields["family"] = "inet6"
        return self.call(rec, name, "socket", "ok", **fields)

    def clone(self, rec, table, args):
        num, err, _, _ = _ret(rec.ret or "")
        if err is not None or num is None or num <= 0:
            return None
        flags = set()
        for a in args or []:
            if isinstance(a, Named) and a.name == "flags":
                flags = _names(a.value)
            if isinstance(a, Struct) and "flags" in a.fields:
                flags = _names(a.get("flags"))
        self.tgid[num] = self.tgid.get(rec.pid, rec.pid) if "CLONE_THREAD" in flags else num
        if "CLONE_FILES" in flags:
            table.users.add(num)
            self.tables[num] = table
            return None
        self.comm.setdefault(num, self.comm.get(self.tgid.get(rec.pid, rec.pid)))
        child = Table(num, users={num})
        self.tables[num] = child
        for fd, d in sorted(table.fds.items()):
            if isinstance(d, Desc):
                name = self.new_name(num, fd)
                d.sock.names.add(name)
                child.fds[fd] = Desc(name, d.sock, d.cloexec)
                self.call(rec, d.name, "dup", "ok", new=name)
            else:
                child.fds[fd] = d
        return None

    def dup(self, rec, table, args):
        old, _ = _fd(args[0])
        num, err, _, _ = _ret(rec.ret or "")
        d = table.fds.get(old)
        if rec.name in ("dup2", "dup3") and err is None and num is not None and num != old:
            if isinstance(table.fds.get(num), Desc):
                self.summary.seen[rec.name] += 1
            self.close_desc(rec, table, num, "dup2")
        if not isinstance(d, Desc):
            if isinstance(d, Epoll) and err is None and num is not None:
                table.fds[num] = d
            return None
        self.summary.seen[rec.name] += 1
        if err is not None or num is None or num < 0 or num == old:
            self.mapped(rec)
            return None   # a failed dup changes nothing
        self.mapped(rec)
        cloexec = rec.name == "fcntl" and args[1] == "F_DUPFD_CLOEXEC" or "O_CLOEXEC" in _names(args[-1] if len(args) > 2 else 0)
        name = self.new_name(table.owner, num)
        d.sock.names.add(name)
        table.fds[num] = Desc(name, d.sock, cloexec)
        return self.call(rec, d.name, "dup", "ok", new=name)

    def close_range(self, rec, table, args):
        first, last = _fd(args[0])[0], _fd(args[1])[0] if len(args) > 1 else None
        flags = _names(args[2]) if len(args) > 2 else set()
        if not isinstance(first, int) or not isinstance(last, int):
            return None
        for fd in sorted(table.fds):
            if first <= fd <= last and isinstance(table.fds[fd], Desc):
                self.summary.seen["close_range"] += 1
                self.mapped(rec)
                if "CLOSE_RANGE_CLOEXEC" in flags:
                    table.fds[fd].cloexec = True
                else:
                    self.close_desc(rec, table, fd, "close_range")
        return None

    def op_close(self, rec, table, d, args):
        self.mapped(rec)
        table.fds.pop(args[0].num if isinstance(args[0], Fd) else args[0], None)
        d.sock.names.discard(d.name)
        self._forget_polls(d)
        return self.call(rec, d.name, "close", "ok")

    def _forget_polls(self, d: Desc):
        if d.sock.names:
            return
        for table in {id(t): t for t in self.tables.values()}.values():
            for e in table.fds.values():
                if isinstance(e, Epoll):
                    for key in [k for k, v in e.interest.items() if v[0] is d.sock]:
                        del e.interest[key]

    # -- addresses ----------------------------------------------------------
    def learn(self, sock: Sock, what: str):
        """A decoration shows the socket's local address: fill in what waits for it."""
        local, remote = decoration(what)
        if local is None:
            return
        sock.local, sock.remote = local, remote
        if not local.endswith(":0"):
            self.locals.add(local)
        for ev in sock.waiting:
            ev["local"] = local
        sock.waiting.clear()

    def op_bind(self, rec, table, d, args):
        addr = address(args[1]) if len(args) > 1 else None
        if addr is None or addr == "AF_UNSPEC":
            return self.unmapped(rec, "bind to an address not understood")
        self.mapped(rec)
        num, err, _, _ = _ret(rec.ret)
        if err is not None:
            return self.call(rec, d.name, "bind", err, addr=addr)
        ev = self.call(rec, d.name, "bind", "ok", addr=addr)
        if not addr.endswith(":0"):
            d.sock.local = addr
            ev["local"] = addr
            self.locals.add(addr)
        else:
            d.sock.waiting.append(ev)
        return ev

    def op_listen(self, rec, table, d, args):
        backlog = args[1] if len(args) > 1 else None
        if not isinstance(backlog, int):
            return self.unmapped(rec, "listen with a backlog not understood")
        self.mapped(rec)
        _, err, _, _ = _ret(rec.ret)
        return self.call(rec, d.name, "listen", err or "ok", backlog=backlog)

    def op_connect(self, rec, table, d, args):
        addr = address(args[1]) if len(args) > 1 else None
        if addr is None:
            return self.unmapped(rec, "connect to an address not understood")
        self.mapped(rec)
        _, err, _, _ = _ret(rec.ret)
        ev = self.call(rec, d.name, "connect", err or "ok", addr=addr)
        if addr != "AF_UNSPEC":
            self.peers.append((addr, d.sock))
            self.connected_to.add(addr)
            d.sock.refused = err == "ECONNREFUSED"
            if err in (None, "EINPROGRESS"):
                d.sock.remote = addr
            if err in (None, "EINPROGRESS"):
                d.sock.waiting.append(ev)
        return ev

    def op_accept(self, rec, table, d, args):
        num, err, deco, _ = _ret(rec.ret)
        self.mapped(rec)
        flags = _names(args[3]) if len(args) > 3 else set()
        fields = {"nonblock": True} if "SOCK_NONBLOCK" in flags else {}
        if err is not None:
            return self.call(rec, d.name, "accept", err, **fields)
        local, remote = decoration(deco)
        if remote is None:
            remote = address(args[1]) if len(args) > 1 else None
        if local is None or remote is None:
            self.summary.mapped[rec.name] -= 1
            return self.unmapped(rec, "accept whose addresses strace did not show (use -yy)")
        name = self.new_name(table.owner, num)
        sock = self.sock(d.sock.family, name)
        sock.local, sock.remote = local, remote
        sock.accepted_on = local
        self.peers.append((remote, sock))
        self.locals.add(local)
        self.close_desc(rec, table, num, None) if num in table.fds else None
        table.fds[num] = Desc(name, sock, "SOCK_CLOEXEC" in flags)
        return self.call(rec, d.name, "accept", "ok", new=name, local=local, peer=remote, **fields)

    op_accept4 = op_accept

    def op_shutdown(self, rec, table, d, args):
        how = C.SHUT.get(args[1]) if len(args) > 1 else None
        if how is None:
            return self.unmapped(rec, "shutdown with an unknown how")
        self.mapped(rec)
        _, err, _, _ = _ret(rec.ret)
        return self.call(rec, d.name, "shutdown", err or "ok", how=how)

    def op_getsockname(self, rec, table, d, args):
        return self._name(rec, d, args, "getsockname")

    def op_getpeername(self, rec, table, d, args):
        return self._name(rec, d, args, "getpeername")

    def _name(self, rec, d, args, op):
        _, err, _, _ = _ret(rec.ret)
        if err is not None:
            self.mapped(rec)
            return self.call(rec, d.name, op, err)
        addr = address(args[1]) if len(args) > 1 else None
        if addr is None:
            return self.unmapped(rec, f"{op} of an address not understood")
        self.mapped(rec)
        if op == "getsockname":
            for ev in d.sock.waiting:
                ev["local"] = addr
            d.sock.waiting.clear()
        return self.call(rec, d.name, op, "ok", addr=addr)

    # -- data -------------------------------------------------------------
    def op_send(self, rec, table, d, args):
        return self._data(rec, d, args, "send", C.SENDS.get(rec.name), C.SEND_FLAGS)

    def op_recv(self, rec, table, d, args):
        return self._data(rec, d, args, "recv", C.RECVS[rec.name], C.RECV_FLAGS)

    def op_sendfile(self, rec, table, d, args):
        """sendfile: ``count`` bounds what the file holds, so the socket was offered what it took."""
        num, err, _, _ = _ret(rec.ret)
        if err is None and num == 0:
            self.mapped(rec)
            return None   # the file was at its end: the socket saw nothing
        if err is None and isinstance(num, int) and len(args) > 3:
            args = args[:3] + [num]
        return self._data(rec, d, args, "send", (0, 3, None), C.SEND_FLAGS)

    def _data(self, rec, d, args, op, shape, known):
        _, where, flag_at = shape
        length = _length(args, where)
        num, err, _, _ = _ret(rec.ret)
        flags = []
        if flag_at is not None and len(args) > flag_at:
            for f in sorted(_names(args[flag_at])):
                if f in known:
                    flags.append(known[f])
                elif f not in C.HARMLESS_FLAGS:
                    return self.unmapped(rec, f"{rec.name} with {f}")
        if length is None:
            if err is None and num:
                length = num
            else:
                return self.unmapped(rec, f"{rec.name} of a length strace did not show")
        if length <= 0:
            return self.unmapped(rec, f"{rec.name} of {length} bytes")
        self.mapped(rec)
        fields = {"len": length}
        if flags:
            fields["flags"] = flags
        fields["via"] = "send" if rec.name == "send" else rec.name
        if err is not None:
            return self.call(rec, d.name, op, err, **fields)
        return self.call(rec, d.name, op, "ok", n=num, **fields)

    # -- options and modes --------------------------------------------------
    def op_setsockopt(self, rec, table, d, args):
        return self._option(rec, d, args, "setsockopt")

    def op_getsockopt(self, rec, table, d, args):
        return self._option(rec, d, args, "getsockopt")

    def _option(self, rec, d, args, op):
        if len(args) < 4:
            return self.unmapped(rec, f"{op} not understood")
        level = C.LEVELS.get(args[1])
        opt = args[2] if isinstance(args[2], str) else None
        if level is None or opt is None:
            return self.unmapped(rec, f"{op} at level {args[1]}")
        opt = C.OPTION_NAMES.get(opt, opt)
        _, err, _, _ = _ret(rec.ret)
        fields = {"level": level, "opt": opt}
        value = _option_value(opt, args[3])
        if op == "setsockopt" or err is None:
            if value is None:
                return self.unmapped(rec, f"{op} {opt} of a value not understood")
            fields["value"] = value
        self.mapped(rec)
        if value == "ECONNREFUSED" and opt == "SO_ERROR":
            d.sock.refused = True
        return self.call(rec, d.name, op, err or "ok", **fields)

    def op_fcntl(self, rec, table, d, args):
        cmd = args[1] if len(args) > 1 else None
        num, err, _, extra = _ret(rec.ret)
        if cmd in ("F_GETFD", "F_SETFD"):
            if cmd == "F_SETFD" and err is None:
                d.cloexec = "FD_CLOEXEC" in _names(args[2]) if len(args) > 2 else False
            self.mapped(rec)
            return None
        if cmd == "F_SETFL":
            self.mapped(rec)
            nb = "O_NONBLOCK" in _names(args[2]) if len(args) > 2 else False
            return self.call(rec, d.name, "fcntl", err or "ok", cmd="F_SETFL", nonblock=nb)
        if cmd == "F_GETFL":
            self.mapped(rec)
            if err is not None:
                return self.call(rec, d.name, "fcntl", err, cmd="F_GETFL")
            return self.call(rec, d.name, "fcntl", "ok", cmd="F_GETFL", nonblock=bool(num & 0o4000))
        return self.unmapped(rec, f"fcntl {cmd}")

    def op_ioctl(self, rec, table, d, args):
        req = args[1] if len(args) > 1 else None
        _, err, _, _ = _ret(rec.ret)
        if req in C.CLOEXEC_IOCTLS:
            d.cloexec = C.CLOEXEC_IOCTLS[req] if err is None else d.cloexec
            self.mapped(rec)
            return None
        name = C.IOCTLS.get(req)
        if name is None:
            return self.unmapped(rec, f"ioctl {req}")
        value = args[2][0] if len(args) > 2 and isinstance(args[2], list) and args[2] \
            and isinstance(args[2][0], int) else None
        self.mapped(rec)
        if err is not None:
            fields = {"value": value} if name == "FIONBIO" and value is not None else {}
            return self.call(rec, d.name, "ioctl", err, req=name, **fields)
        if value is None:
            self.summary.mapped[rec.name] -= 1
            return self.unmapped(rec, f"ioctl {req} of a value not understood")
        return self.call(rec, d.name, "ioctl", "ok", req=name, value=value)

    # -- readiness --------------------------------------------------------
    def _poll_event(self, rec, table, socks, ready, timeout, edge=False, others=False, select=False):
        """One trace ``poll`` for the TCP descriptors among those waited on."""
        if not socks:
            return None
        self.summary.seen[rec.name] += 1
        num, err, _, _ = _ret(rec.ret) if rec.ret is not None else (None, "unfinished", "", "")
        if others and not ready:
            timeout = 0   # another descriptor (or a timeout) woke it: nothing to say of how long
        fields = {"socks": [{"sock": n, "events": sorted(ev)} for n, ev in socks], "timeout": timeout}
        if edge:
            fields["edge"] = True
        if select:
            fields["x-select"] = True
        self.mapped(rec)
        if rec.ret is None:
            return self.call(rec, socks[0][0], "poll", "unfinished", **fields)
        if err is not None:
            return self.call(rec, socks[0][0], "poll", err, **fields)
        fields["ready"] = [{"sock": n, "revents": sorted(ev)} for n, ev in ready]
        return self.call(rec, socks[0][0], "poll", "ok", **fields)

    def _events(self, names) -> tuple[set, bool]:
        """Trace event names and whether any name had no translation."""
        out, odd = set(), False
        for n in names:
            if n in C.POLL_NAMES:
                out.add(C.POLL_NAMES[n])
            elif n not in C.EPOLL_MODES and n != "0":
                odd = True
        return out, odd

    def poll(self, rec, table, args):
        if not args or not isinstance(args[0], list):
            return None
        wanted: dict[str, set] = {}   # a descriptor listed twice waits for both sets of events
        others = ELLIPSIS in args[0]   # strace showed only the first -s entries
        for entry in args[0]:
            if not isinstance(entry, Struct):
                continue
            d = table.fds.get(_fd(entry.get("fd"))[0])
            if isinstance(d, Desc):
                events, odd = self._events(_names(entry.get("events")))
                wanted.setdefault(d.name, set()).update(events)
            else:
                others = True
        socks = list(wanted.items())
        if not socks:
            return None
        timeout = _timeout(args[2]) if len(args) > 2 else -1
        ready = []
        if rec.ret is not None:
            _, err, _, extra = _ret(rec.ret)
            if err is None and extra and extra != "Timeout":
                try:
                    got = read_value(extra.split("], left")[0] + ("]" if "], left" in extra else ""))
                except ValueError_:
                    return self.unmapped(rec, f"{rec.name} result not understood")
                by_fd: dict[int, set] = {}
                for entry in got if isinstance(got, list) else []:
                    if isinstance(entry, Struct):
                        by_fd.setdefault(_fd(entry.get("fd"))[0], set()).update(_names(entry.get("revents")))
                for num, names in by_fd.items():
                    d = table.fds.get(num)
                    if isinstance(d, Desc) and d.name not in wanted:
                        return self.unmapped(rec, f"{rec.name} of more descriptors than strace showed (-s)")
                    if isinstance(d, Desc):
                        events, odd = self._events(names)
                        if odd:
                            return self.unmapped(rec, f"{rec.name} result not understood")
                        ready.append((d.name, events))
            elif err is None and extra == "" and _ret(rec.ret)[0] not in (0, None):
                return self.unmapped(rec, f"{rec.name} result not shown (strace -s too small)")
        return self._poll_event(rec, table, socks, ready, timeout, others=others)

    def select(self, rec, table, args):
        if len(args) < 5:
            return None
        wanted: dict[int, set] = {}
        others = False
        for (_, event), arg in zip(C.SELECT_SETS, args[1:4]):
            for item in arg if isinstance(arg, list) else []:
                num, _ = _fd(item)
                if isinstance(table.fds.get(num), Desc):
                    wanted.setdefault(num, set()).add(event)
                elif num is not None:
                    others = True
        if not wanted:
            return None
        timeout = _timeout(args[4])
        ready: dict[int, set] = {}
        if rec.ret is not None:
            _, err, _, extra = _ret(rec.ret)
            for key, event in C.SELECT_SETS:
                m = re.search(rf"\b{key} \[([\d ]*)\]", extra)
                for num in (m.group(1).split() if m else []):
                    if int(num) in wanted:
                        ready.setdefault(int(num), set()).add(event)
        socks = [(table.fds[n].name, ev) for n, ev in sorted(wanted.items())]
        got = [(table.fds[n].name, ev) for n, ev in sorted(ready.items())]
        return self._poll_event(rec, table, socks, got, timeout, others=others, select=True)

    def epoll_ctl(self, rec, table, args):
        ep = table.fds.get(_fd(args[0])[0]) if args else None
        d = table.fds.get(_fd(args[2])[0]) if len(args) > 2 else None
        if not isinstance(ep, Epoll):
            return None
        if not isinstance(d, Desc):
            ep.others = ep.others or args[1] == "EPOLL_CTL_ADD"
            return None
        self.summary.seen["epoll_ctl"] += 1
        _, err, _, _ = _ret(rec.ret or "-1 E")
        if err is not None:
            self.mapped(rec)
            return None
        op = args[1]
        for key in [k for k, v in ep.interest.items() if v[0] is d.sock]:
            del ep.interest[key]
        if op in ("EPOLL_CTL_ADD", "EPOLL_CTL_MOD") and isinstance(args[3], Struct):
            names = _names(args[3].get("events"))
            events, odd = self._events(names)
            if odd:
                return self.unmapped(rec, "epoll_ctl with events not understood")
            data = args[3].get("data")
            key = repr(data.fields.get("u64", data.fields)) if isinstance(data, Struct) else repr(data)
            ep.interest[key] = [d.sock, d.name, events, "EPOLLET" in names, "EPOLLONESHOT" in names, True]
        self.mapped(rec)
        return None

    def epoll_wait(self, rec, table, args):
        ep = table.fds.get(_fd(args[0])[0]) if args else None
        if not isinstance(ep, Epoll) or not ep.interest:
            return None
        socks, edge = [], False
        for key, (sock, name, events, et, oneshot, armed) in ep.interest.items():
            if armed:
                socks.append((self._name_of(sock, name), events))
                edge = edge or et
        socks = [(n, ev) for n, ev in socks if n is not None]
        if not socks:
            return None
        timeout = _timeout(args[3]) if len(args) > 3 else -1
        ready = []
        if rec.ret is not None:
            num, err, _, _ = _ret(rec.ret)
            if err is None and num:
                got = args[1] if len(args) > 1 else None
                if not isinstance(got, list) or ELLIPSIS in got:
                    return self.unmapped(rec, f"{rec.name} result not shown (strace -s too small)")
                for entry in got:
                    data = entry.get("data") if isinstance(entry, Struct) else None
                    key = repr(data.fields.get("u64", data.fields)) if isinstance(data, Struct) else repr(data)
                    item = ep.interest.get(key)
                    if item is None:
                        continue   # not a TCP socket (a pipe, an eventfd, ...)
                    events, odd = self._events(_names(entry.get("events")))
                    if odd:
                        return self.unmapped(rec, f"{rec.name} result not understood")
                    name = self._name_of(item[0], item[1])
                    ready.append((name, events))
                    if item[4]:
                        item[5] = False   # EPOLLONESHOT: disarmed until EPOLL_CTL_MOD
                if len(args) > 2 and num >= args[2]:
                    edge = True   # as many as it could return: the rest says nothing
        others = ep.others or len(socks) < len(ep.interest)
        return self._poll_event(rec, table, socks, ready, timeout, edge=edge, others=others)

    def _name_of(self, sock: Sock, name: str) -> str | None:
        """The descriptor by which a poll names a socket: the one registered, or any still open."""
        if name in sock.names:
            return name
        return min(sock.names) if sock.names else None

    # -- the end ------------------------------------------------------------
    def world(self) -> str:
        """Closed when every peer is one of the trace's own sockets, or a
        loopback address where nobody listened (the connect was refused)."""
        unknown_clients = {addr for addr, sock in self.peers if sock.local is None and addr in self.connected_to}

        def inside(addr: str, sock: Sock) -> bool:
            host, _, port = addr.rpartition(":")
            wild = {f"0.0.0.0:{port}", f"[::]:{port}"}
            if not _loopback(host):
                return False
            if sock.accepted_on is not None and sock.accepted_on in unknown_clients:
                return True   # a client of ours whose port strace never showed
            return addr in self.locals or bool(wild & self.locals) or sock.refused
        return "closed" if all(inside(a, s) for a, s in self.peers) else "open"


# The state-change tracepoint never shows TIME_WAIT: tcp_time_wait() hands the
# connection to a timewait sock and the full socket goes to CLOSED; an
# orphaned FIN_WAIT_2 is handed over the same way (docs/extensions.md, x-state).
_HANDED_OVER = {"FIN_WAIT_2": "TIME_WAIT", "CLOSING": "TIME_WAIT"}


def _kernel_state(old: str, new: str) -> str:
    if new == "CLOSED" and old in _HANDED_OVER:
        return _HANDED_OVER[old]
    return new


def _loopback(host: str) -> bool:
    host = host.strip("[]")
    return host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1") or host.startswith("::ffff:127.")


def read_args_or(text: str) -> list:
    try:
        return read_args(text)
    except ValueError_:
        return []


def _option_value(opt: str, value):
    """The trace's value for an option strace printed as ``[1]``, ``{l_onoff=1, l_linger=0}``, ..."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str) and value.startswith("E") and hasattr(errno_names, value):
        return value
    if opt == "SO_ERROR" and isinstance(value, int):
        return errno_names.errorcode.get(value, value) if value else 0
    if opt == "SO_LINGER" and isinstance(value, Struct):
        return {"onoff": value.get("l_onoff"), "linger": value.get("l_linger")}
    if isinstance(value, Struct):
        return _seconds(value)
    if isinstance(value, int):
        return value / 1000.0 if opt in C.MILLISECONDS else value
    return None


def convert(lines, kernel: list | None = None) -> tuple[list[dict], Summary, str]:
    """An strace log (its lines) into the trace's events, a summary, and the
    world.  ``kernel``: the kernel's TCP state changes during the run, as
    ``(seconds, local, remote, old, new)`` on strace's clock; then every call is
    followed by an ``x-netstat`` event of the program's sockets as they had them."""
    conv = Converter()
    if kernel is not None:
        conv.kernel = {}
        for when, local, remote, old, new in sorted(kernel):
            conv.kernel.setdefault((local, remote), []).append((when, _kernel_state(old, new)))
    recs = records(lines)
    conv.summary.lines = len(recs)
    for rec in sorted(recs, key=lambda r: r.key):
        if isinstance(rec, Gone):
            conv.gone(rec)
        else:
            conv.record(rec)
    if kernel is not None:
        conv.fill_kernel_rows()
    return conv.events, conv.summary, conv.world()


_TIME = re.compile(r"\s*(?:\d+(?:<[^>]*>)?\s+)?(\d\d:\d\d:\d\d\.\d+|\d{9,}\.\d+)")


def merge(logs: list[list[str]]) -> list[str]:
    """Several logs (recorded with times, on one machine) as one, in time order.
    Raises :class:`LogError` for a log whose lines carry no time."""
    keyed = []
    for which, lines in enumerate(logs):
        for number, text in enumerate(lines, 1):
            if not text.strip():
                continue
            m = _TIME.match(text)
            if m is None:
                if not keyed or keyed[-1][2] != which:
                    raise LogError(number, f"log {which + 1}: a line without a time; record with "
                                   "strace -tt or -ttt to merge logs")
                continue
            stamp = m.group(1)
            if ":" in stamp:
                h, mi, s = stamp.split(":")
                stamp = int(h) * 3600 + int(mi) * 60 + float(s)
            keyed.append((float(stamp), which, number, text))
    keyed.sort(key=lambda k: (k[0], k[1], k[2]))
    return [text for _, _, _, text in keyed]


def trace_parts(lines, header: dict, kernel: list | None = None) -> tuple[dict, list[dict], Summary]:
    """An strace log as a version-2 trace's header (``header`` with its
    ``world`` and ``meta.strace`` filled in) and events (:func:`render` writes
    them), and what was left out (``kernel``: as for :func:`convert`)."""
    events, summary, world = convert(lines, kernel)
    head = dict(header)
    head["trace"] = 2
    head["world"] = world
    meta = dict(head.get("meta", {}))
    meta["strace"] = summary.as_dict()
    head["meta"] = meta
    return head, events, summary


class Infeasible(Exception):
    """An order of the events that no times inside their calls' own intervals allow."""


def render(head: dict, events: list[dict], moved: bool = False) -> str:
    """The trace as JSON Lines.  Times are made non-decreasing; in an order
    other than strace's (``moved``), a call may not be given a time after it
    returned: :class:`Infeasible` (a timer check would otherwise let timers
    fire that could not have)."""
    out = [json.dumps(head)]
    last = 0.0
    for ev in events:
        row = {k: v for k, v in ev.items() if not k.startswith("_")}
        if "t" in row:
            t = max(row["t"], last)
            if moved and t > ev.get("_latest", t) + 1e-6:
                raise Infeasible(f"{row.get('op')} on {row.get('sock')} would come after it returned")
            row["t"] = last = t
        out.append(json.dumps(row))
    return "\n".join(out) + "\n"


def trace_text(lines, header: dict, kernel: list | None = None) -> tuple[str, Summary]:
    """An strace log as a version-2 trace (JSON Lines): :func:`trace_parts`, rendered."""
    head, events, summary = trace_parts(lines, header, kernel)
    return render(head, events), summary


# ---------------------------------------------------------------------------
# Calls whose order strace cannot tell
# ---------------------------------------------------------------------------

def _groups(events: list[dict]) -> list[list[dict]]:
    """Each call with the x-netstat event that follows it."""
    out: list[list[dict]] = []
    for ev in events:
        if ev.get("_with") and out:
            out[-1].append(ev)
        else:
            out.append([ev])
    return out


def overlapping_moves(events: list[dict], line: int, window: int = 12):
    """Other orders of ``events`` in which the event at trace line ``line`` and a
    call that ran at the same time (each entered before the other returned, in
    another thread) change places, nearest first, every call still after each
    call that returned before it was entered.  Two processes' calls that
    overlap took effect in some order strace cannot see: the one it printed
    first is tried first, then these."""
    groups = _groups(events)
    numbers, n = [], 2
    for g in groups:
        numbers.append(n)
        n += len(g)
    if line not in numbers:
        return
    i = numbers.index(line)
    span = [g[0]["_span"] for g in groups]
    d_in, d_out, d_tid = span[i]

    def overlaps(j: int) -> bool:
        e_in, e_out, tid = span[j]
        return tid != d_tid and e_in < d_out and d_in < e_out

    def others(ks, tid) -> bool:
        """None of the calls jumped over is the moving call's thread's (events of one
        call, such as the closes of one close_range, keep their order too)."""
        return all(span[k][2] != tid for k in ks)

    for dist in range(1, window + 1):
        j = i + dist   # a later call first: it may have taken effect before
        if j < len(groups) and overlaps(j) and all(span[k][1] > span[j][0] for k in range(i, j)) \
                and others(range(i, j), span[j][2]):
            yield [ev for g in groups[:i] + [groups[j]] + groups[i:j] + groups[j + 1:] for ev in g]
        if dist > 1 and j < len(groups) and overlaps(j) and all(span[k][0] < d_out for k in range(i + 1, j + 1)) \
                and others(range(i + 1, j + 1), d_tid):   # (at distance 1 the same swap as above)
            yield [ev for g in groups[:i] + groups[i + 1:j + 1] + [groups[i]] + groups[j + 1:] for ev in g]
        j = i - dist   # or this one before an earlier call
        if j >= 0 and overlaps(j) and all(span[k][1] > d_in for k in range(j, i)) and others(range(j, i), d_tid):
            yield [ev for g in groups[:j] + [groups[i]] + groups[j:i] + groups[i + 1:] for ev in g]
