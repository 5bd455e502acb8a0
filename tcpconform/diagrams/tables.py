"""The call table and the readiness table: per TCP state, what each call
returns and what poll() reports, read from the rule table.

Each cell of the call table says what the call can return on the state's
usual socket (:func:`tcpconform.model.graph.representatives`), under every
value of what the call's rules test, as the rules say it: a byte count by
the rule that bounds it (``0 (end of stream)``), and for a call that blocks,
what it returns when it wakes: the same call asked again, with the same
arguments, of every endpoint segments and timers take the sleeping one to
(``blocks, then ok / ECONNREFUSED / ...``).  A cell is green when the call
can only succeed, red when it can only fail, yellow when both; the legend
shows those three colours, taken from the same table.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Mapping, Sequence

from tcpconform.diagrams.dot import HTML, h, table_graph
from tcpconform.model import graph as mgraph
from tcpconform.model import rules, space, vocab
from tcpconform.model.semantics import Endpoint

CALL_OPS = tuple(op for op in vocab.ALL_CALLS if op not in ("socket", "poll"))

# What a cell's colour says, and the colour (one table: the cells and the legend read it).
CELL_COLOURS = {
    "succeeds": ("#d9f0d3", "only succeeds (or blocks, then succeeds)"),
    "fails": ("#f6d5d9", "only fails"),
    "both": ("#fdf1c7", "succeeds or fails, depending on the case"),
}
# The byte count of a successful send or recv, by the rule that bounds it (tcpconform.model.table N_RULES).
COUNT_TEXT = {"len": "n = len", "partial": "1 ≤ n < len", "upto_rcvq": "1 ≤ n ≤ unread", "zero": "0 (end of stream)"}
# Parameters under which a sleeping call stops sleeping otherwise than by being woken:
# a signal (EINTR) and a timeout (SO_RCVTIMEO/SO_SNDTIMEO); their results are listed apart.
INTERRUPTS = ("intr", "timeo")


def result_text(ret: str, n_rule: str | None) -> str:
    if ret == vocab.OK and n_rule in COUNT_TEXT:
        return COUNT_TEXT[n_rule] if n_rule == "zero" else f"ok, {COUNT_TEXT[n_rule]}"
    return "blocks" if ret == vocab.WAIT else ret


@dataclass
class Cell:
    """What one call returns in one state: ``(ret, n_rule)`` at once, and
    when it blocks, what it returns on waking."""
    now: list[tuple[str, str | None]]
    woken: list[tuple[str, str | None]]

    @property
    def meaning(self) -> str:
        final = [r for r, _ in self.now if r != vocab.WAIT] + [r for r, _ in self.woken]
        ok = [r for r in final if r == vocab.OK]
        return "succeeds" if final and len(ok) == len(final) else "fails" if not ok else "both"

    def lines(self) -> list[str]:
        out = []
        for ret, n_rule in self.now:
            if ret != vocab.WAIT:
                out.append(result_text(ret, n_rule))
            elif self.woken:
                out += _then(result_text(r, n) for r, n in self.woken)
            else:
                out.append("blocks")
        return out


def _then(outcomes, width: int = 24) -> list[str]:
    """``blocks, then a / b / c``, wrapped."""
    lines, cur = [], "blocks, then"
    for i, text in enumerate(outcomes):
        word = text if i == 0 else f"/ {text}"
        if len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}"
    return lines + [cur]


def _order(result: tuple[str, str | None]) -> tuple:
    ret, n_rule = result
    return (*mgraph.ret_order(ret), n_rule == "zero", n_rule or "")


class _Calls:
    """The questions a cell asks of the space: what a call returns, and
    where segments and timers take an endpoint."""

    def __init__(self, profile: str, cases: Sequence):
        self.profile, self.cases = profile, cases
        self.space = space.explore(profile, cases)
        self.moves: dict[Endpoint, set[Endpoint]] = {}
        for t in self.space.transitions:
            if not t.trigger.startswith("call:") and t.dst is not None and not t.held:
                self.moves.setdefault(t.src, set()).add(t.dst)

    def results(self, ep: Endpoint, op: str, inputs: Mapping, params: Mapping):
        return space.transitions(ep, "call:" + op, self.profile, inputs, params, self.cases)

    def woken(self, asleep: Endpoint, op: str, params: Mapping) -> set[tuple[str, str | None]]:
        """What ``op`` with ``params`` returns when it wakes, asked again of
        every endpoint segments and timers take ``asleep`` to while it still
        sleeps (the system's inputs, such as a queued connection, may have
        changed by then; a signal or a timeout is not a waking)."""
        plans = [i for i, p in space.plans("call:" + op, self.profile, self.cases)
                 if p == params and not any(p.get(k) for k in INTERRUPTS)]
        found: set[tuple[str, str | None]] = set()
        seen, todo = {asleep}, deque([asleep])
        while todo:
            ep = todo.popleft()
            sleeps = False
            for inputs in plans:
                for t in self.results(ep, op, inputs, params):
                    if t.ret == vocab.WAIT:
                        sleeps = True
                    else:
                        found.add((t.ret, t.outcome.n))
            for nxt in self.moves.get(ep, ()) if sleeps else ():
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return found

    def cell(self, rep: Endpoint, op: str) -> Cell:
        """The state's usual endpoint, blocking and not, with and without
        unread bytes where the space has them, under every plan of the call."""
        now: set[tuple[str, str | None]] = set()
        woken: set[tuple[str, str | None]] = set()
        for nb in (False, True):
            for rcvq in (0, 1):
                ep = rep._replace(nb=nb, rcvq=rcvq)
                if ep not in self.space.reach:
                    continue
                for inputs, params in space.plans("call:" + op, self.profile, self.cases):
                    for t in self.results(ep, op, inputs, params):
                        now.add((t.ret, t.outcome.n))
                        if t.ret == vocab.WAIT:
                            woken |= self.woken(t.dst, op, params)
        return Cell(sorted(now, key=_order), sorted(woken, key=_order))


def call_cells(profile: str = "linux", cases: Sequence = rules.CASES) -> dict[str, dict[str, Cell]]:
    """For each state an open descriptor reaches, each call's :class:`Cell`."""
    calls = _Calls(profile, cases)
    return {st: {op: calls.cell(rep, op) for op in CALL_OPS}
            for st, rep in mgraph.representatives(profile, cases).items()}


def _describe_endpoint(ep) -> str:
    parts = [f"ss={ep.ss}", f"port {ep.bound}" if ep.bound != "no" else "no port"]
    if ep.wrsh and ep.rdsh:
        parts.append("shut rd+wr")
    elif ep.wrsh:
        parts.append("shut wr")
    elif ep.rdsh:
        parts.append("shut rd")
    if ep.done:
        parts.append("FIN received")
    return ", ".join(parts)


def calls_dot(profile: str = "linux", cases: Sequence = rules.CASES) -> str:
    """Per state, what each call returns: an HTML-like table node, one cell
    a call (``PORT`` state_op), coloured by :data:`CELL_COLOURS`; the legend's
    swatches (``PORT`` key_meaning) are the same colours."""
    cells = call_cells(profile, cases)
    reps = mgraph.representatives(profile, cases)
    width = len(CALL_OPS) + 2
    head = "".join(f'<TD BGCOLOR="#dddddd"><B>{h(op)}()</B></TD>' for op in CALL_OPS)
    rows = [f'<TR><TD BGCOLOR="#dddddd"><B>state</B></TD>{head}'
            f'<TD BGCOLOR="#dddddd"><B>the socket drawn</B></TD></TR>']
    for st in vocab.STATES:
        if st not in cells:
            rows.append(f'<TR><TD ALIGN="LEFT"><B>{h(st)}</B></TD>'
                        f'<TD COLSPAN="{width - 1}">no open descriptor reaches it</TD></TR>')
            continue
        tds = []
        for op in CALL_OPS:
            c = cells[st][op]
            text = "<BR/>".join(h(x) for x in c.lines()) or "—"
            tds.append(f'<TD BGCOLOR="{CELL_COLOURS[c.meaning][0]}" PORT="{h(st)}_{h(op)}">{text}</TD>')
        rows.append(f'<TR><TD ALIGN="LEFT"><B>{h(st)}</B></TD>{"".join(tds)}'
                    f'<TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="#555555">{h(_describe_endpoint(reps[st]))}</FONT></TD></TR>')
    swatches = "".join(f'<TD BGCOLOR="{colour}" PORT="key_{meaning}"><FONT POINT-SIZE="10">{h(text)}</FONT></TD>'
                       for meaning, (colour, text) in CELL_COLOURS.items())
    legend = (f'<TR><TD COLSPAN="{width}"><TABLE BORDER="0" CELLBORDER="1" CELLSPACING="4" CELLPADDING="3" '
              f'COLOR="#999999"><TR><TD BORDER="0"><FONT POINT-SIZE="10">a cell\'s colour:</FONT></TD>{swatches}</TR></TABLE></TD></TR>')
    key = (f'<TR><TD COLSPAN="{width}" ALIGN="LEFT" BALIGN="LEFT"><FONT POINT-SIZE="10">'
           'Each row: a socket with an open descriptor in that state, as the model\'s table sees it '
           '(the most usual one the rules reach; tried blocking and non-blocking, with and without '
           'unread bytes,<BR/>under every value of what the call\'s rules test: a full or empty accept queue, '
           'a port conflict, shutdown\'s how, ...).  '
           'n: the byte count a send or recv returns (len: the bytes offered; unread: the bytes received and not yet read).<BR/>'
           'blocks, then ...: a blocking call sleeps, and returns what it would return, called again, '
           'once segments or timers have changed the socket.<BR/>'
           'A descriptor whose connection reached TIME_WAIT reads CLOSED on Linux; the row shows what calls on it return.'
           '</FONT></TD></TR>')
    label = HTML('<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="5" COLOR="#999999">'
                 + "".join(rows) + legend + key + "</TABLE>")
    return table_graph("socket_calls", f"What each call returns, per TCP state — {profile} profile, "
                       "derived from tcpconform/model/rules.py", "calls", label)


def readiness_dot(profile: str = "linux", cases: Sequence = rules.CASES) -> str:
    """Per state, what poll() reports (tcpconform.model.rules.POLL_RULES): the
    events that must be reported, and those that may, for the state's usual
    socket and, where the rules reach them, with bytes unread, a pending error
    or a connection queued."""
    table = mgraph.readiness_table(profile, cases)
    rows = ['<TR><TD BGCOLOR="#dddddd"><B>state</B></TD><TD BGCOLOR="#dddddd"><B>situation</B></TD>'
            '<TD BGCOLOR="#dddddd"><B>poll() reports</B></TD><TD BGCOLOR="#dddddd"><B>may also report</B></TD></TR>']
    for st in vocab.STATES:
        for i, (label, must, may) in enumerate(table.get(st, [])):
            name = f'<TD ALIGN="LEFT" ROWSPAN="{len(table[st])}"><B>{h(st)}</B></TD>' if i == 0 else ""
            rows.append(f'<TR>{name}<TD ALIGN="LEFT">{h(label or "usual")}</TD>'
                        f'<TD BGCOLOR="{"#d9f0d3" if must else "#eeeeee"}">{h(" ".join(must) or "nothing")}</TD>'
                        f'<TD BGCOLOR="{"#fdf1c7" if may else "#ffffff"}">{h(" ".join(may) or "—")}</TD></TR>')
    key = ('<TR><TD COLSPAN="4" ALIGN="LEFT" BALIGN="LEFT"><FONT POINT-SIZE="10">'
           'A level-triggered poll reports exactly these, of the events asked for (ERR and HUP always); '
           'an edge-triggered epoll only ever reports events of the two columns.<BR/>'
           'A descriptor that is not open reports NVAL.  OUT "may": the model does not know whether the '
           'send buffer has room while the peer has not read what was sent.</FONT></TD></TR>')
    label = HTML('<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="5" COLOR="#999999">'
                 + "".join(rows) + key + "</TABLE>")
    return table_graph("socket_readiness", f"What poll() reports, per TCP state — {profile} profile, "
                       "derived from tcpconform/model/rules.py", "readiness", label)
