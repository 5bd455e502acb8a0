"""Any trace, as a sequence chart (``conform check --diagram``, ``conform
run --out``), and the builder the charts of proofs' runs share
(:mod:`tcpconform.diagrams.proof_runs`).

One lane per socket, one row per thing drawn, each row numbered in the
gutter with the trace's own line numbers: a call (and what it returned,
a send's or recv's byte count included), a state the trace observed — only
when it changed: a state repeated unchanged is not drawn again, and states
of several sockets observed one after the other share a row — and a
segment, as an arrow from the lane that sent it to the lane it reached: an
``x-packet`` event of a recorded trace (docs/extensions.md), or a segment a
model run sent.  An accept() is an arrow to the socket it made.  A line
marked (a divergence) is drawn in red, and what follows it in grey.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from tcpconform.check.fields import parse_addr
from tcpconform.check.trace import format_addr
from tcpconform.diagrams.dot import C_RED
from tcpconform.diagrams.sequence import Arrow, Box, SeqChart, legend_rows, returned, seq_dot
from tcpconform.model import vocab

MAX_TRACE_ROWS = 300
TRACE_ROW_H = 0.52   # inches between rows: a row holds one thing (a call, a moment's states, a segment)
GREY = "#aaaaaa"

TRACE_LEGEND = legend_rows([
    ("call", "▭", "a call and what it returned"),
    ("state", "▢", "a state the trace observed (drawn when it changed)"),
    ("seg", "───", "a segment seen on the wire (x-packet): its flags, its payload bytes"),
    ("queue", "───", "accept() made a new socket"),
    ("dup", "───", "dup() or a child process: a second descriptor of the same socket"),
    ("error", "✗", "where the model cannot follow the trace (later events in grey)"),
])


def call_text(ev) -> str:
    """A call as a chart shows it: its arguments and what it returned."""
    args = []
    if ev.op == "socket" and getattr(ev, "nonblock", False):
        args.append("nonblocking")
    if getattr(ev, "addr", None) is not None:
        args.append(format_addr(ev.addr))
    if getattr(ev, "backlog", None) is not None:
        args.append(str(ev.backlog))
    if getattr(ev, "length", None) is not None:
        args.append(str(ev.length))
    if getattr(ev, "how", None):
        args.append(ev.how)
    if getattr(ev, "linger0", False):
        args.append("SO_LINGER 0")
    extra = []
    if getattr(ev, "local", None) is not None and ev.op in ("bind", "connect"):
        extra.append(f"local {format_addr(ev.local)}")
    if getattr(ev, "peer", None) is not None:
        extra.append(f"peer {format_addr(ev.peer)}")
    text = f"{ev.op}({', '.join(args)}) → {returned(ev)}"
    return text + ("\n" + ", ".join(extra) if extra else "")


@dataclass
class Row:
    lines: list[int]
    kind: str                      # call | state | seg | step
    note: str = ""                 # a step's row without a line of its own: what to say instead
    lanes: set[str] = field(default_factory=set)
    marked: bool = False

    def gutter(self, mark: str) -> str:
        if not self.lines:
            text = self.note
        elif len(self.lines) == 1:
            text = f"line {self.lines[0]}"
        elif self.lines == list(range(self.lines[0], self.lines[-1] + 1)):
            text = f"lines {self.lines[0]}–{self.lines[-1]}"
        else:
            text = "lines " + ", ".join(map(str, self.lines))
        return text + (f" {mark}" if self.marked else "")


class TraceDrawing:
    """A sequence chart built in trace order.  Lanes are keys (socket names,
    or addresses no socket of the trace holds), made as they are first
    drawn; each method draws one thing and returns its row (None: nothing
    drawn).  ``mark``: the line drawn in red, with the words its gutter
    says (``"✗ diverges"``)."""

    def __init__(self, mark: tuple[int, str] | None = None, every_line: bool = False):
        self.mark_line, self.mark_text = mark if mark else (None, "")
        self.every_line = every_line       # a row for every state event, changed or not
        self.lanes: list[str] = []
        self.labels: dict[str, str] = {}
        self.rows: list[Row] = []
        self.boxes: list[tuple[str, int, str, str, str | None, int | None]] = []  # lane, row, text, kind, colour, line
        self.arrows: list[tuple[str, int, str, int, str, str, str | None]] = []  # from, row, to, row, text, kind, colour
        self.known: dict[str, str] = {}    # socket -> the state last drawn
        self.after = False                 # past the marked line: grey
        self.open_state_row: int | None = None
        self.last_line = 0                 # the last line of the trace seen

    # -- lanes and rows
    def lane(self, key: str, label: str | None = None) -> str:
        if key not in self.lanes:
            self.lanes.append(key)
            self.labels[key] = label or f"socket {key}"
        return key

    def _row(self, kind: str, line: int | None, note: str = "") -> int:
        self.open_state_row = None
        self.rows.append(Row([line] if line is not None else [], kind, note))
        return len(self.rows) - 1

    def _colour(self, line: int | None) -> tuple[bool, str | None]:
        bad = line is not None and line == self.mark_line
        return bad, C_RED if bad else GREY if self.after else None

    def _box(self, lane: str, row: int, text: str, kind: str, line: int | None) -> None:
        bad, colour = self._colour(line)
        self.boxes.append((self.lane(lane), row, ("✗ " if bad else "") + text, "error" if bad else kind,
                           None if bad else colour, line))
        self.rows[row].lanes.add(lane)
        if bad:
            self.rows[row].marked = True
            self.after = True

    def break_rows(self) -> None:
        """The next state starts a row of its own (a new step of a run)."""
        self.open_state_row = None

    # -- what is drawn
    def call(self, ev) -> int:
        if ev.op == "socket" and ev.ret == vocab.OK and not self.every_line:
            self.known[ev.sock] = "CLOSED"   # as socket() makes it: a state event saying so changes nothing
        row = self._row("call", ev.line)
        bad, colour = self._colour(ev.line)
        self._box(ev.sock, row, call_text(ev), "call", ev.line)
        new = getattr(ev, "new", None)
        if ev.op in ("accept", "dup") and ev.ret == vocab.OK and new:
            self.lane(new)
            label = f"new socket {new}" if ev.op == "accept" else f"the same socket, descriptor {new}"
            self.arrows.append((ev.sock, row, new, row, label, "queue" if ev.op == "accept" else "dup", colour))
        return row

    def state(self, ev) -> int | None:
        """A state event: drawn when the socket's state changed (or the line is
        marked); several sockets' changes in a row share one."""
        bad = ev.line == self.mark_line
        if self.known.get(ev.sock) == ev.state and not bad and not self.every_line:
            return None
        self.known[ev.sock] = ev.state
        row = self.open_state_row
        if row is None or bad or self.every_line or ev.sock in self.rows[row].lanes or self.rows[row].marked:
            row = self._row("state", ev.line)
        else:
            self.rows[row].lines.append(ev.line)
        self._box(ev.sock, row, ev.state, "state", ev.line)
        self.open_state_row = None if bad else row
        return row

    def step(self, line: int | None, note: str) -> int:
        """A row for a step that the trace shows no event of (a segment's
        arrival): its own line (``x-netstat``), or ``note``."""
        row = self._row("step", line, note)
        if line is not None and line == self.mark_line:
            self.rows[row].marked = True
            self.after = True
        return row

    def packet(self, line: int, src: str, dst: str, text: str) -> int:
        row = self._row("seg", line)
        self.segment(src, row, dst, row, text, line)
        return row

    def segment(self, src: str, src_row: int, dst: str, dst_row: int, text: str, line: int | None = None) -> None:
        bad, colour = self._colour(line)
        self.arrows.append((self.lane(src), src_row, self.lane(dst), dst_row, text, "seg", colour))

    def event(self, ev, book: "AddressBook | None" = None) -> int | None:
        """Draw one event of a trace (call, state, x-packet); others are not drawn."""
        self.last_line = max(self.last_line, getattr(ev, "line", 0) or 0)
        if book is not None:
            book.note(ev)
        if hasattr(ev, "op"):
            return self.call(ev)
        if hasattr(ev, "state") and hasattr(ev, "sock"):
            return self.state(ev)
        if getattr(ev, "ev", None) == "x-packet" and book is not None:
            return self.packet(ev.line, *book.lanes_of(self, ev.data), packet_text(ev.data))
        return None

    # -- the chart
    def chart(self, title: str, legend: list, window: int = MAX_TRACE_ROWS) -> SeqChart:
        lo, hi = 0, len(self.rows)
        if hi > window:
            at = next((i for i, r in enumerate(self.rows) if r.marked), hi - 1)
            lo = max(0, min(at - window + 20, hi - window))
            hi = lo + window
            shown = [x for r in self.rows[lo:hi] for x in r.lines]
            if shown:
                title += f" (lines {shown[0]}–{shown[-1]} of the trace shown)"
        inside = lambda r: lo <= r < hi  # noqa: E731
        boxes = [b for b in self.boxes if inside(b[1])]
        arrows = [a for a in self.arrows if inside(a[1]) and inside(a[3])]
        lanes = [k for k in self.lanes if any(b[0] == k for b in boxes) or any(k in (a[0], a[2]) for a in arrows)]
        index = {k: i for i, k in enumerate(lanes)}
        texts = {k: len(self.labels[k]) + 4 for k in lanes}
        for lane, _row, text, _kind, _c, _line in boxes:
            texts[lane] = max(texts[lane], max(len(x) for x in text.split("\n")))
        width = [max(1.6, 0.075 * texts[k] + 0.4) for k in lanes]
        gaps = [(a + b) / 2 + 0.3 for a, b in zip(width, width[1:])] + [0.0]
        for a in arrows:   # room for a segment's words between neighbouring lanes
            i, j = sorted((index[a[0]], index[a[2]]))
            if j == i + 1:
                gaps[i] = max(gaps[i], 0.075 * len(a[4]) + 0.6)
        chart = SeqChart(title, [self.labels[k] for k in lanes], gaps or [2.0], legend=[], drop=0.0, row_h=TRACE_ROW_H)
        chart.rows = hi - lo
        for lane, row, text, kind, colour, line in boxes:
            chart.boxes.append(Box(index[lane], row - lo, text, kind, colour, line))
        for src, r0, dst, r1, text, kind, colour in arrows:
            at = 0.5 if kind == "seg" else 1 - 0.9 / max(abs(chart.x(index[dst]) - chart.x(index[src])), 1.8)
            chart.arrows.append(Arrow((index[src], r0 - lo), (index[dst], r1 - lo), text, kind, colour, label_at=at))
        for i, r in enumerate(self.rows[lo:hi]):
            chart.gutter[i] = (r.gutter(self.mark_text), C_RED if r.marked else None)
            if r.lines:
                nxt = next((x.lines[0] for x in self.rows[lo + i + 1:] if x.lines), self.last_line + 1)
                covers = sorted(set(r.lines) | set(range(r.lines[0], nxt)))
                chart.row_meta[i] = {"lines": " ".join(map(str, r.lines)), "covers": " ".join(map(str, covers))}
        used = {b.kind for b in chart.boxes} | {a.kind for a in chart.arrows}
        chart.legend = [row for row in legend if row[0] in used or not row[0]]
        longest = max((len(x) for text, _c in chart.gutter.values() for x in text.split("\n")), default=0)
        chart.gutter_x = -((width[0] / 2 if width else 0) + 0.3 + 0.033 * longest)
        return chart


def packet_text(data: dict) -> str:
    n = data.get("len") or 0
    return str(data.get("flags", "?")) + (f", {n} bytes" if n else "")


def _addr_text(value) -> str | None:
    if value is None:
        return None
    try:
        return format_addr(parse_addr(value) if isinstance(value, str) else value)
    except ValueError:
        return str(value)


def _wild(addr: str) -> str:
    return ":" + addr.rpartition(":")[2]


class AddressBook:
    """Which socket of the trace holds an address, as its calls said
    (bind's and connect's local address, connect's peer, accept's new
    socket) and its ``x-state`` events: to draw a captured segment between
    the lanes of the sockets that sent and received it.  A segment from or
    to an address no socket holds (the RST of a port nobody listens on) gets
    a lane of its own, named after the address."""

    def __init__(self):
        self.local: dict[str, str] = {}    # socket -> its local address
        self.peer: dict[str, str] = {}     # socket -> its peer's address

    def note(self, ev) -> None:
        op, ok = getattr(ev, "op", None), getattr(ev, "ret", None) in (vocab.OK, "EINPROGRESS")
        if op in ("bind", "connect") and ok and ev.local is not None:
            self._set(ev.sock, self.local, ev.local)
        if op == "connect" and ok and ev.addr is not None:
            self._set(ev.sock, self.peer, ev.addr)
        if op == "accept" and ok and ev.new:
            self._set(ev.new, self.local, ev.local)
            self._set(ev.new, self.peer, ev.peer)
        if getattr(ev, "ev", None) == "x-state" and ev.data.get("sock"):
            for key, book in (("local", self.local), ("remote", self.peer)):
                value = _addr_text(ev.data.get(key))
                if value and not value.endswith(":0"):
                    self._set(ev.data["sock"], book, value)

    @staticmethod
    def _set(sock: str, book: dict, value) -> None:
        value = _addr_text(value)
        if value is not None:
            book.pop(sock, None)   # the latest holder of an address comes first when looked up
            book[sock] = value

    def holder(self, addr: str, other: str) -> str | None:
        """The socket at ``addr`` speaking to ``other``: the connected one, else
        a listener there (before accept() a connection is its listener's),
        else any; a wildcard local address holds every address of its port."""
        here = [s for s, a in reversed(self.local.items()) if a == addr or
                (a.rpartition(":")[0] in ("0.0.0.0", "[::]") and _wild(a) == _wild(addr))]
        for test in (lambda s: self.peer.get(s) == other, lambda s: s not in self.peer, lambda s: True):
            found = [s for s in here if test(s)]
            if found:
                return found[0]
        return None

    def lanes_of(self, drawing: TraceDrawing, data: dict) -> tuple[str, str]:
        src, dst = _addr_text(data.get("src")) or "?", _addr_text(data.get("dst")) or "?"
        ends = []
        for me, other in ((src, dst), (dst, src)):
            sock = self.holder(me, other)
            ends.append(sock if sock is not None else drawing.lane(me, f"{me}\n(no socket of the trace)"))
        return ends[0], ends[1]


def sequence_from_trace(events: Iterable, divergence_line: int | None = None,
                        title: str | None = None, *, every_line: bool = False) -> str:
    """DOT text of a trace as a sequence chart: one lane per socket, one row
    per call, per change of state, per captured segment (line numbers on
    the left); an accept() drawn as an arrow to the socket it made.  The
    event at ``divergence_line`` is drawn in red, and what follows it in grey.
    ``every_line``: a row for every call and state event, a state repeated
    unchanged too (a page that steps through the trace line by line).
    Each box has ``line=`` (the event it draws), each row's note ``lines=``
    (the lines its row draws) and ``covers=`` (those and the lines up to the
    next row, drawn nowhere: a state repeated, an event not drawn)."""
    drawing = TraceDrawing((divergence_line, "✗ diverges") if divergence_line is not None else None, every_line)
    book = AddressBook()
    for ev in events:
        drawing.event(ev, book)
    head = title or "Trace" + (f" — diverges at line {divergence_line}" if divergence_line is not None else "")
    return seq_dot(drawing.chart(head, TRACE_LEGEND), "trace")
