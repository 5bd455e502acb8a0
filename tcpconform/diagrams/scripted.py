"""Scripted runs of the model, drawn as sequence charts as they go: the
handshake, the accept queue, partial reads, the close (``docs/diagrams/seq-*``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Mapping, Sequence

from tcpconform.check.trace import format_addr
from tcpconform.diagrams.sequence import Arrow, Box, SeqChart, legend_rows, returned, seg_text
from tcpconform.model import composition, system, vocab
from tcpconform.model.events import Call

IP = "127.0.0.1"


class ModelRun:
    """A scripted run of :mod:`tcpconform.model.system`, drawn as it goes.

    ``sockets`` maps each socket name to (its lane, its application's lane);
    ``ports`` maps each port to the lane of the sockets on it, so that a
    segment is drawn from the lane that sent it to the lane it reaches.
    Every step is the model's: calls go through
    :func:`tcpconform.model.system.apply_call` (a blocking one through
    :func:`~tcpconform.model.system.sleeping` and
    :func:`~tcpconform.model.system.resume_call`), segments and timers are the
    unobserved steps of :func:`tcpconform.model.system.internal_steps`.
    """

    def __init__(self, chart: SeqChart, sockets: Mapping[str, tuple[int, int]],
                 ports: Mapping[int, int], queue_lane: int | None = None,
                 profile: str = "linux", names: Sequence[str] = ()):
        self.chart = chart
        self.sockets = dict(sockets)
        self.ports = dict(ports)
        self.queue_lane = queue_lane
        self.profile = profile
        self.cfg = system.EMPTY
        self.line = 1
        self.drawing = True
        self.inflight: dict[tuple, list[tuple[int, int]]] = {}   # chan -> [(lane, row)] per segment
        self.unnamed: dict[str, str] = {}
        self.spare_names = list(names)
        self.cases: dict[str, int] = {}
        self.show_rcvq = False

    # -- names and lanes
    def name(self, key: str) -> str:
        if system.is_named(key):
            return key
        if key not in self.unnamed:
            self.unnamed[key] = self.spare_names.pop(0) if self.spare_names else f"conn {len(self.unnamed) + 1}"
        return self.unnamed[key]

    def lane_of(self, key: str, ep) -> int:
        if key in self.sockets:
            return self.sockets[key][0]
        return self.ports[ep.local[1]]

    # -- calls
    def event(self, sock: str, op: str, ret: str = vocab.OK, **kw):
        self.line += 1
        return Call(line=self.line, sock=sock, op=op, ret=ret, **kw)

    def call(self, sock: str, op: str, ret: str = vocab.OK, *, text: str | None = None, **kw) -> None:
        """A call that returns at once."""
        ev = self.event(sock, op, ret, **kw)
        o, row = self._taken(system.apply_call(self.cfg, ev, self.profile),
                             f"the model does not allow {op} on {sock} returning {ret}")
        target = self._call_target(sock, op)
        if row is not None:
            self.chart.arrows.append(Arrow((self.sockets[sock][1], row), (target, row),
                                           f"{text or self._call_text(ev)} → {returned(ev)}", "call"))
        self._advance(o.config, row, op=op)

    def start(self, sock: str, op: str, ret: str = vocab.OK, *, text: str | None = None, **kw):
        """A blocking call that goes to sleep; :meth:`finish` is its return
        (``ret`` and ``kw`` describe that return, as a trace's event would)."""
        ev = self.event(sock, op, ret, **kw)
        r, after = _sleep(self.cfg, ev, self.profile)
        self._count(r.case)
        row = self._row()
        if row is not None:
            self.chart.arrows.append(Arrow((self.sockets[sock][1], row), (self._call_target(sock, op), row),
                                           text or self._call_text(ev), "call"))
        self._advance(after, row, op=op)
        return (ev, row)

    def finish(self, started, *, text: str | None = None) -> None:
        ev0, row0 = started
        self.line += 1
        ev = dataclasses.replace(ev0, line=self.line)
        o, row = self._taken(system.resume_call(self.cfg, ev, self.profile),
                             f"the model does not let {ev.op} on {ev.sock} return {ev.ret} now")
        if row is not None:
            app = self.sockets[ev.sock][1]
            self.chart.arrows.append(Arrow((self._call_target(ev.sock, ev.op), row), (app, row),
                                           text or f"{ev.op} returns {returned(ev)}", "return"))
            if row0 is not None:
                self.chart.blocked.append((app, row0, row))
        self._advance(o.config, row, op=ev.op)

    def _taken(self, outs, refused: str):
        """The first of the model's answers to a call (refused: none), counted, and the row it is drawn on."""
        if not outs:
            raise system.ModelError(refused)
        self._count(outs[0].result.case)
        return outs[0], self._row()

    def _call_target(self, sock: str, op: str) -> int:
        if op == "accept" and self.queue_lane is not None:
            return self.queue_lane
        return self.sockets[sock][0]

    @staticmethod
    def _call_text(ev) -> str:
        arg = {"bind": lambda: format_addr(ev.addr), "connect": lambda: format_addr(ev.addr),
               "listen": lambda: str(ev.backlog), "send": lambda: str(ev.length),
               "recv": lambda: str(ev.length), "shutdown": lambda: ev.how or ""}.get(ev.op, lambda: "")()
        if ev.op == "socket":
            return "socket()"
        return f"{ev.op}({', '.join(x for x in (ev.sock, arg) if x)})"

    # -- unobserved steps
    def settle(self, limit: int = 50) -> None:
        """Deliver every segment that can be delivered, oldest first."""
        for _ in range(limit):
            steps = [(lbl, c) for lbl, c in system.internal_steps(self.cfg, self.profile)
                     if lbl.startswith("deliver")]
            if not steps:
                return
            lbl, c = min(steps, key=lambda s: self._sent_at(s[0]))
            self._deliver(lbl, c)
        raise system.ModelError("segments keep flowing; the chart would not end")

    def timer(self, name: str, text: str) -> None:
        for lbl, c in system.internal_steps(self.cfg, self.profile):
            if lbl.startswith(f"timer {name} "):
                row = self._row()
                if row is not None:
                    key = lbl.split(" at ", 1)[1]
                    ep = dict(self.cfg.eps)[key]
                    self.chart.boxes.append(Box(self.lane_of(key, ep), row, text, "note"))
                self._count(name)
                self._advance(c, row)
                return
        raise system.ModelError(f"timer {name} cannot fire now")

    _DELIVER = re.compile(r"deliver (\w+)(?:\((\d+)\))? (\S+):(-?\d+|\?)>(\S+):(-?\d+|\?)")

    def _chan_of(self, label: str) -> tuple:
        m = self._DELIVER.match(label)
        if m is None:
            raise system.ModelError(f"cannot read the step {label!r}")
        return ((m.group(3), int(m.group(4))), (m.group(5), int(m.group(6))))

    def _sent_at(self, label: str) -> tuple:
        chan = self._chan_of(label)
        sent = self.inflight.get(chan) or [(0, -1)]
        return (-1 if sent[0][1] is None else sent[0][1], label)

    def _deliver(self, label: str, cfg) -> None:
        chan = self._chan_of(label)
        segs = dict(self.cfg.net)[chan]
        kind, n = segs[0]
        sent = self.inflight.get(chan, [])
        src = sent.pop(0) if sent else None
        row = self._row()
        if row is not None and src is not None and src[1] is not None:
            dst_lane = self.ports[chan[1][1]]
            self.chart.arrows.append(Arrow(src, (dst_lane, row), seg_text(kind, n), "seg"))
        self._advance(cfg, row, popped=chan)

    # -- bookkeeping after each step
    def _row(self) -> int | None:
        return self.chart.new_row() if self.drawing else None

    def _count(self, case: str) -> None:
        self.cases[case] = self.cases.get(case, 0) + 1

    def _advance(self, cfg, row: int | None, popped: tuple | None = None, op: str | None = None) -> None:
        before, after = dict(self.cfg.eps), dict(cfg.eps)
        # segments sent by this step: what the channels gained at their tails
        old_net, new_net = dict(self.cfg.net), dict(cfg.net)
        for chan, segs in new_net.items():
            kept = len(old_net.get(chan, ())) - (1 if chan == popped else 0)
            for _seg in segs[kept:]:
                lane = self.ports[chan[0][1]]
                self.inflight.setdefault(chan, []).append((lane, row))
        self.cfg = cfg
        if row is None:
            return
        # states that changed
        accepted = {(e.local, e.remote) for k, e in after.items() if k not in before}
        for key, e in after.items():
            old = before.get(key)
            if old is None or old.core.st != e.core.st:
                self._state_box(key, e, row, e.core.st + self._unread(e))
            elif self.show_rcvq and old.core.rcvq != e.core.rcvq:
                self._state_box(key, e, row, e.core.st + self._unread(e))
        for key, e in before.items():
            if key in after:
                continue
            if not system.is_named(key) and (e.local, e.remote) in accepted:
                continue       # accept() gave it a name
            text = "dropped" if not system.is_named(key) and composition.is_request_sock(e.core) else "CLOSED"
            self._state_box(key, e, row, text)
        # the accept queue
        if self.queue_lane is not None:
            for key, e in after.items():
                if e.core.st != "LISTEN":
                    continue
                old = before.get(key)
                if old is not None and old.queue == e.queue:
                    continue
                items = ", ".join(self.name(k) for k in e.queue) or "empty"
                full = " (full)" if e.queue and len(e.queue) >= e.cap else ""
                self.chart.boxes.append(Box(self.queue_lane, row, f"{items}{full}", "queue"))
                if old is not None and len(e.queue) > len(old.queue) and op != "accept":
                    self.chart.arrows.append(Arrow((self.lane_of(key, e), row), (self.queue_lane, row),
                                                   "joins queue", "queue"))

    def _unread(self, e) -> str:
        return f", {e.core.rcvq} bytes unread" if self.show_rcvq and e.core.rcvq else ""

    def _state_box(self, key: str, e, row: int, text: str) -> None:
        lane = self.lane_of(key, e)
        label = f"{self.name(key)}: {text}"
        for b in self.chart.boxes:
            if b.lane == lane and b.row == row and b.kind == "state":
                b.text += "\n" + label
                return
        self.chart.boxes.append(Box(lane, row, label, "state"))

    def show_states(self) -> None:
        """A row with the state of every socket (after a setup not drawn)."""
        row = self.chart.new_row()
        for key, e in dict(self.cfg.eps).items():
            if e.core.st == "LISTEN" and self.queue_lane is None:
                continue
            self._state_box(key, e, row, e.core.st)


def _sleep(cfg, ev, profile: str):
    """The rule's result and the configuration a blocking call leaves as it
    goes to sleep (the first of :func:`tcpconform.model.system.sleeping`)."""
    asleep = system.sleeping(cfg, ev, profile)
    if not asleep:
        raise system.ModelError(f"{ev.op} on {ev.sock} does not block here")
    return asleep[0]


SEQ_LEGEND = legend_rows([
    ("call", "───", "a call (and what it returns)"),
    ("return", "╌╌╌", "a blocking call returns"),
    ("blocked", "███", "the application waits in the call"),
    ("seg", "───", "a segment, from the step that sent it to the step that delivers it"),
    ("queue", "───", "the kernel's accept queue"),
    ("state", "▢", "a socket's state after the step"),
    ("note", "abc", "an unobserved step: a timer"),
], prefer="arrow")
SERVER_IP_PORT = (IP, 5000)


def _new_run(title: str, lanes: list[str], widths: list[float], sockets, ports, queue_lane=None,
             names=()) -> ModelRun:
    chart = SeqChart(title, lanes, widths, legend=SEQ_LEGEND)
    return ModelRun(chart, sockets, ports, queue_lane=queue_lane, names=names)


def _listener(run: ModelRun, name: str = "L", backlog: int = 8, nonblock: bool = False) -> None:
    run.call(name, "socket", nonblock=nonblock)
    run.call(name, "bind", addr=SERVER_IP_PORT, local=SERVER_IP_PORT)
    run.call(name, "listen", backlog=backlog)


def _connected(run: ModelRun, cport: int = 40000) -> None:
    """L listening, c connected (blocking), s accepted."""
    _listener(run)
    run.call("c", "socket")
    started = run.start("c", "connect", addr=SERVER_IP_PORT, local=(IP, cport))
    run.settle()
    run.finish(started)
    run.call("L", "accept", new="s", local=SERVER_IP_PORT, peer=(IP, cport))


def seq_handshake() -> SeqChart:
    """The three-way handshake: blocking connect(), the listener's request
    sock, the accept queue, accept()."""
    run = _new_run("Three-way handshake (model run, linux profile)",
                   ["client app", "client socket c", "server sockets (port 5000)", "accept queue of L", "server app"],
                   [2.6, 3.4, 2.2, 2.2],
                   {"c": (1, 0), "L": (2, 4), "s": (2, 4)},
                   {40000: 1, 5000: 2, system.symbolic_port("c"): 1}, queue_lane=3,
                   names=["request sock"])
    _connected(run)
    return run.chart


def seq_accept_queue() -> SeqChart:
    """listen(backlog 0): one connection fits the accept queue; the next
    client's SYN waits until accept() makes room."""
    run = _new_run("Accept queue: listen(L, 0) holds one connection (model run, linux profile)",
                   ["client app", "client c1", "client c2", "server sockets (port 5000)", "accept queue of L", "server app"],
                   [2.5, 1.7, 3.2, 2.2, 2.2],
                   {"c1": (1, 0), "c2": (2, 0), "L": (3, 5), "s1": (3, 5), "s2": (3, 5)},
                   {40001: 1, 40002: 2, 5000: 3}, queue_lane=4,
                   names=["conn 1", "conn 2"])
    _listener(run, backlog=0)
    run.call("c1", "socket", nonblock=True)
    run.call("c1", "connect", "EINPROGRESS", addr=SERVER_IP_PORT, local=(IP, 40001))
    run.settle()
    run.call("c2", "socket", nonblock=True)
    run.call("c2", "connect", "EINPROGRESS", addr=SERVER_IP_PORT, local=(IP, 40002))
    row = run.chart.rows - 1
    run.settle()       # c2's SYN cannot be taken: the queue is full
    run.chart.gutter[row] = ("c2's SYN waits: the queue\nis full (Linux drops it,\nc2 sends it again)", "#8a6d00")
    run.call("L", "accept", new="s1", local=SERVER_IP_PORT, peer=(IP, 40001))
    run.settle()
    run.call("L", "accept", new="s2", local=SERVER_IP_PORT, peer=(IP, 40002))
    run.call("c2", "connect", addr=SERVER_IP_PORT, local=(IP, 40002))
    return run.chart


def _client_server_run(title: str) -> ModelRun:
    """A client c connected to a server socket s, set up without drawing."""
    run = _new_run(title,
                   ["client app", "client socket c", "server socket s", "server app"],
                   [2.4, 3.4, 2.4],
                   {"c": (1, 0), "L": (2, 3), "s": (2, 3)},
                   {40000: 1, 5000: 2, system.symbolic_port("c"): 1})
    run.drawing = False
    _connected(run)
    run.settle()
    run.drawing = True
    return run


def seq_data_partial_reads() -> SeqChart:
    """One send read by two recvs; a recv that waits for data."""
    run = _client_server_run("Data: one send, two partial reads, a read that waits (model run, linux profile)")
    run.show_rcvq = True
    run.show_states()
    run.call("c", "send", length=12, n=12)
    run.settle()
    run.call("s", "recv", length=8, n=8)
    run.call("s", "recv", length=8, n=4)
    started = run.start("s", "recv", length=8, n=3)
    run.call("c", "send", length=3, n=3)
    run.settle()
    run.finish(started)
    run.call("s", "send", length=2, n=2)
    run.settle()
    run.call("c", "recv", length=100, n=2)
    return run.chart


def seq_close() -> SeqChart:
    """The client closes first: FIN_WAIT_1/2 and TIME_WAIT on its side,
    CLOSE_WAIT and LAST_ACK on the server's."""
    run = _client_server_run("Closing: the client closes first (model run, linux profile)")
    run.show_states()
    run.call("c", "close")
    run.settle()
    run.call("s", "recv", length=100, n=0)
    run.call("s", "close")
    run.settle()
    run.timer("timewait_expiry", "timeout (60 s)")
    return run.chart


SEQUENCES: dict[str, Callable[[], SeqChart]] = {
    "seq-handshake": seq_handshake,
    "seq-accept-queue": seq_accept_queue,
    "seq-data-partial-reads": seq_data_partial_reads,
    "seq-close": seq_close,
}

