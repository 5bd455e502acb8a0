"""Diagrams drawn from the model: DOT text, rendered by Graphviz when present.

Everything drawn here is derived: the state diagram and the call table from
:mod:`tcpconform.model.graph` (the rule table read through the semantics), the sequence
charts from runs of :mod:`tcpconform.model.system`, the trace charts from the trace's
own events.  The DOT text is written by this module (no Graphviz binding is
needed); the ``dot`` program, when it is on ``PATH``, turns it into SVG and
PNG.  Without it the DOT files are still written and a message says what to
install.

``conform diagram [--out DIR]`` writes, into ``docs/diagrams/`` by default:

* ``tcp-states``   — the states and transitions, in the manner of RFC 9293 Fig. 5;
* ``socket-calls`` — per state, what each call returns (the nine of version 1
  and those version 2 adds);
* ``socket-readiness`` — per state, what poll() reports;
* ``seq-handshake``, ``seq-accept-queue``, ``seq-data-partial-reads``,
  ``seq-close`` — sequence charts of scripted model runs.

Each as ``.dot``, and ``.svg`` and ``.png`` when ``dot`` is found.
:func:`sequence_from_trace` and :func:`coverage_overlay` draw a trace and
the rules a check exercised.
"""

from __future__ import annotations

import dataclasses
import html
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from tcpconform.check.trace import format_addr
from tcpconform.model import composition
from tcpconform.model import graph as mgraph
from tcpconform.model import rules, system, vocab
from tcpconform.model.events import Call
from tcpconform.model.graph import Edge, Graph

FONT = "Helvetica"
INSTALL_HINT = ("install Graphviz to render SVG and PNG: apt-get install graphviz "
                "(Debian/Ubuntu), dnf install graphviz (Fedora), brew install graphviz (macOS)")

# Colours (ColorBrewer Dark2, legible on white and for most colour-blind readers).
C_MAIN = "black"
C_ARC = "#333333"
C_EXTRA = "#1f78b4"      # API and Linux behaviour Fig. 5 does not draw (shutdown, ...)
C_DEPART = "#d95f02"     # Linux departs from RFC 9293
C_RFC = "#7570b3"        # RFC 9293 only: no sockets API exposes it
C_ABORT = "#888888"      # resets, errors, abortive close
C_OK = "#1b9e77"
C_RED = "#d62728"


# --------------------------------------------------------------------------
# DOT text
def q(text: object) -> str:
    """A DOT double-quoted string."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def attrs(**kw: object) -> str:
    items = [f"{k}={v if isinstance(v, HTML) else q(v)}" for k, v in kw.items() if v is not None]
    return f" [{', '.join(items)}]" if items else ""


class HTML(str):
    """An HTML-like label: written between < and >."""

    def __new__(cls, body: str) -> "HTML":
        return super().__new__(cls, f"<{body}>")


def h(text: object) -> str:
    return html.escape(str(text), quote=True)


# --------------------------------------------------------------------------
# The state diagram
# Where each state sits, in the manner of RFC 9293 Fig. 5: the server path
# runs down the left then crosses to the right, the client path the other
# way; they meet at ESTABLISHED.  (rank, column); a state missing here is
# placed by Graphviz.
PLACE = {
    "CLOSED": (0, 1), "LISTEN": (1, 1),
    "SYN_RECEIVED": (2, 0), "SYN_SENT": (2, 2),
    "ESTABLISHED": (3, 1),
    "FIN_WAIT_1": (4, 0), "CLOSE_WAIT": (4, 2),
    "FIN_WAIT_2": (5, 0), "CLOSING": (5, 1), "LAST_ACK": (5, 2),
    "TIME_WAIT": (6, 1),
}
END = "CLOSED_end"                      # the second CLOSED box, at the bottom (as in Fig. 5)
END_PLACE = (7, 2)
UPPER = {"LISTEN", "SYN_SENT", "SYN_RECEIVED"}  # their ordinary arcs to CLOSED go back up
STUB = "CLOSED_abort_"                  # + state: where that state's aborts end
STUB_LEFT = {"SYN_RECEIVED", "FIN_WAIT_1", "FIN_WAIT_2"}  # their grey box goes on the left, the others' on the right


def _place(node: str) -> tuple[float, float] | None:
    if node == END:
        return END_PLACE
    if node.startswith(STUB):
        p = PLACE.get(node[len(STUB):])
        if p is None:
            return None
        return (p[0], p[1] - 0.5 if node[len(STUB):] in STUB_LEFT else p[1] + 0.5)
    if node == "legend":
        return (END_PLACE[0], -1)
    return PLACE.get(node)


def _dst_node(e: Edge) -> str:
    if e.dst != "CLOSED":
        return e.dst
    if e.abort:
        return STUB + e.src
    return "CLOSED" if e.src in UPPER else END


def _edge_class(e: Edge) -> str:
    if e.rfc_only:
        return "rfc"
    if e.linux_departure:
        return "depart"
    if e.abort:
        return "abort"
    if e.main_path:
        return "main"
    if e.rfc_arc:
        return "arc"
    return "extra"


STYLE = {
    "main": dict(color=C_MAIN, fontcolor=C_MAIN, penwidth="2.6"),
    "arc": dict(color=C_ARC, fontcolor=C_ARC, penwidth="1.2"),
    "extra": dict(color=C_EXTRA, fontcolor=C_EXTRA, penwidth="1.2"),
    "depart": dict(color=C_DEPART, fontcolor=C_DEPART, penwidth="1.8", style="dashed"),
    "rfc": dict(color=C_RFC, fontcolor=C_RFC, penwidth="1.4", style="dotted"),
    "abort": dict(color=C_ABORT, fontcolor="#555555", penwidth="1.0"),
}
SAMPLE = {"main": "━━━━", "arc": "────", "extra": "────", "depart": "╸ ╸ ╸ ╸",
          "rfc": "┈┈┈┈", "abort": "────"}
LEGEND = [
    ("main", "main client and server paths of RFC 9293 Fig. 5"),
    ("arc", "other arc of RFC 9293 Fig. 5"),
    ("extra", "sockets API or Linux; not drawn in Fig. 5"),
    ("depart", "Linux departs from RFC 9293"),
    ("rfc", "RFC 9293 only: no sockets API call takes it"),
    ("abort", "reset, error or abortive close (grey box: the events)"),
]


def _merge_labels(edges: Sequence[Edge]) -> list[str]:
    """The label lines of one DOT edge: ``close() [a] / x`` and ``close() [b] / x``
    share a line as ``close() [a | b] / x``; one event with and without an
    action shows the action."""
    lines: dict[str, dict[str, list[str]]] = {}
    for e in edges:
        base, _, cond = e.event.partition(" [")
        by_action = lines.setdefault(base, {})
        conds = by_action.setdefault(e.action, [])
        if cond:
            conds.append(cond.rstrip("]"))
    out = []
    for base, by_action in lines.items():
        if "" in by_action and len(by_action) > 1 and not by_action[""]:
            del by_action[""]
        for action, conds in by_action.items():
            ev = base + (f" [{' | '.join(conds)}]" if conds else "")
            out.append(_wrap(f"{ev} / {action}" if action else ev))
    return out


def _wrap(line: str, width: int = 30) -> str:
    if len(line) <= width or " / " not in line:
        return line
    ev, action = line.split(" / ", 1)
    return f"{ev} /\n{action}"


@dataclass
class DotEdge:
    tail: str
    head: str
    cls: str
    edges: list[Edge]

    @property
    def cases(self) -> list[str]:
        return [c for e in self.edges for c in e.cases]


def dot_edges(g: Graph) -> list[DotEdge]:
    """Graph edges grouped into drawn edges: one per (from box, to box, class)."""
    groups: dict[tuple[str, str, str], DotEdge] = {}
    for e in g.edges:
        key = (e.src, _dst_node(e), _edge_class(e))
        groups.setdefault(key, DotEdge(*key, [])).edges.append(e)
    return list(groups.values())


def state_dot(g: Graph, *, title: str | None = None,
              edge_style: Callable[[DotEdge], dict] | None = None,
              node_style: Callable[[str], dict] | None = None,
              legend: Sequence[tuple[str, str, str]] | None = None,
              extra: Iterable[str] = ()) -> str:
    """DOT text of a state graph.  Every box has ``state=`` (the model state
    it draws; CLOSED is drawn more than once), every arrow ``src_state=``,
    ``dst_state=``, ``cases=`` and ``events=`` (the graph edges it draws, one
    label per line)."""
    title = title or (f"TCP states through the sockets API — {g.profile} profile, "
                      "derived from tcpconform/model/rules.py")
    drawn = dot_edges(g)
    out = [
        "digraph tcp_states {",
        f"  graph{attrs(label=title, labelloc='t', fontname=FONT, fontsize='18', rankdir='TB', newrank='true', nodesep='0.45', ranksep='0.7', bgcolor='white', pad='0.3')};",
        f"  node{attrs(shape='box', style='rounded,filled', fillcolor='#f2f2f2', fontname=FONT, fontsize='13', height='0.5', width='1.7')};",
        f"  edge{attrs(fontname=FONT, fontsize='10', arrowsize='0.8')};",
    ]
    for s in g.nodes:
        st = dict(state=s, label=s)
        if s == g.initial:
            st.update(penwidth="2")
        if node_style:
            st.update(node_style(s))
        out.append(f"  {q(s)}{attrs(**st)};")
    heads = {d.head for d in drawn}
    if END in heads:
        st = dict(state="CLOSED", label="CLOSED", penwidth="2")
        if node_style:
            st.update(node_style("CLOSED"))
        out.append(f"  {q(END)}{attrs(**st)};")
    stubs: dict[str, list[str]] = {}
    for d in drawn:
        if d.head.startswith(STUB):
            stubs.setdefault(d.head, []).extend(_merge_labels(d.edges))
    for n, text in stubs.items():
        rows = "".join(f'<TR><TD ALIGN="LEFT" BALIGN="LEFT"><FONT POINT-SIZE="9" COLOR="#555555">'
                       f'{h(t).replace(chr(10), "<BR/>")}</FONT></TD></TR>' for t in text)
        label = HTML(f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
                     f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="11" COLOR="#444444"><B>CLOSED</B></FONT></TD></TR>'
                     f'{rows}</TABLE>')
        out.append(f"  {q(n)}{attrs(state='CLOSED', label=label, shape='box', style='rounded,dashed', color=C_ABORT, fillcolor='white', margin='0.06,0.04', width='0', height='0')};")
    legend = legend if legend is not None else [(c, SAMPLE[c], t) for c, t in LEGEND]
    out.append(f"  legend{attrs(shape='plaintext', style='', label=_legend_html(legend))};")
    # ranks and order within a rank, as in Fig. 5
    nodes = list(g.nodes) + ([END] if END in heads else []) + list(stubs) + ["legend"]
    ranks: dict[float, list[str]] = {}
    for n in nodes:
        p = _place(n)
        if p is not None:
            ranks.setdefault(p[0], []).append(n)
    for r in sorted(ranks):
        row = sorted(ranks[r], key=lambda n: _place(n)[1])
        out.append("  { rank=same; " + " ".join(q(n) for n in row) + " }")
        for a, b in zip(row, row[1:]):
            out.append(f"  {q(a)} -> {q(b)}{attrs(style='invis')};")
    for d in drawn:
        st = dict(STYLE[d.cls])
        st["weight"] = "8" if d.cls == "main" else "0" if d.cls == "abort" else "1"
        main = any(e.main_path for e in d.edges)
        if main and d.cls != "main":
            st.update(penwidth=STYLE["main"]["penwidth"], weight="8")
        if d.cls == "depart" and not main:
            st["constraint"] = "false"   # a side arc: the layout follows the RFC's arcs
        if edge_style:
            st.update(edge_style(d))
        label = st.pop("label", "\n".join(_merge_labels(d.edges)) if d.cls != "abort" else None)
        meta = dict(src_state=d.edges[0].src, dst_state=d.edges[0].dst, cases=" ".join(d.cases),
                    events="\n".join(e.label for e in d.edges))
        tail, head = d.tail, d.head
        pt, ph = _place(tail), _place(head)
        if pt and ph and pt[0] == ph[0] and pt[1] > ph[1]:
            # a flat arrow pointing left: drawn reversed, so that it does not
            # fight the left-to-right order of its rank
            tail, head, st["dir"] = head, tail, "back"
        out.append(f"  {q(tail)} -> {q(head)}{attrs(label=label, **st, **meta)};")
    out.extend(extra)
    out.append("}")
    return "\n".join(out) + "\n"


def _legend_html(entries: Sequence[tuple[str, str, str]]) -> HTML:
    """entries: (colour or class, sample line, meaning)."""
    rows = []
    for colour, sample, text in entries:
        colour = STYLE[colour]["color"] if colour in STYLE else colour
        if not sample:
            rows.append(f'<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT COLOR="{h(colour)}">{h(text)}</FONT></TD></TR>')
            continue
        rows.append(f'<TR><TD ALIGN="CENTER"><FONT COLOR="{h(colour)}" POINT-SIZE="14">{h(sample)}</FONT></TD>'
                    f'<TD ALIGN="LEFT">{h(text)}</TD></TR>')
    return HTML('<TABLE BORDER="1" COLOR="#bbbbbb" CELLBORDER="0" CELLSPACING="1" CELLPADDING="2">'
                '<TR><TD COLSPAN="2"><B>Legend</B></TD></TR>' + "".join(rows) + "</TABLE>")


def states_diagram(profile: str = "linux", cases: Sequence = rules.CASES) -> str:
    return state_dot(mgraph.state_graph(profile, cases))


# --------------------------------------------------------------------------
# The call table
CALL_OPS = tuple(op for op in vocab.ALL_CALLS if op not in ("socket", "poll"))


def _ret_text(ret: str) -> str:
    return "blocks" if ret == vocab.WAIT else ret


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
    """Per state, what each call returns: an HTML-like table node.  Each
    cell: ``ok``, the errnos, ``blocks``; green when the call can only
    succeed, red when it can only fail, yellow when both."""
    table = mgraph.call_table(profile, cases)
    reps = mgraph.representatives(profile, cases)
    head = "".join(f'<TD BGCOLOR="#dddddd"><B>{h(op)}()</B></TD>' for op in CALL_OPS)
    rows = [f'<TR><TD BGCOLOR="#dddddd"><B>state</B></TD>{head}'
            f'<TD BGCOLOR="#dddddd"><B>the socket drawn</B></TD></TR>']
    for st in vocab.STATES:
        if st not in table:
            rows.append(f'<TR><TD ALIGN="LEFT"><B>{h(st)}</B></TD>'
                        f'<TD COLSPAN="{len(CALL_OPS) + 1}">no open descriptor reaches it</TD></TR>')
            continue
        cells = []
        for op in CALL_OPS:
            rets = table[st].get(op, [])
            good = [r for r in rets if r in (vocab.OK, vocab.WAIT)]
            colour = "#d9f0d3" if rets and len(good) == len(rets) else \
                "#f6d5d9" if not good else "#fdf1c7"
            text = "<BR/>".join(h(_ret_text(r)) for r in rets) or "—"
            cells.append(f'<TD BGCOLOR="{colour}" PORT="{h(st)}_{h(op)}">{text}</TD>')
        rows.append(f'<TR><TD ALIGN="LEFT"><B>{h(st)}</B></TD>{"".join(cells)}'
                    f'<TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="#555555">{h(_describe_endpoint(reps[st]))}</FONT></TD></TR>')
    key = ('<TR><TD COLSPAN="{n}" ALIGN="LEFT" BALIGN="LEFT"><FONT POINT-SIZE="10">'
           'Each row: a socket with an open descriptor in that state, as the model\'s table sees it '
           '(the most usual one the rules reach; tried blocking and non-blocking, with and without '
           'unread bytes,<BR/>under every value of what the call\'s rules test: a full or empty accept queue, '
           'a port conflict, shutdown\'s how, ...).  '
           'blocks = a blocking call sleeps and returns later, as if called again.<BR/>'
           'A descriptor whose connection reached TIME_WAIT reads CLOSED on Linux; the row shows what calls on it return.'
           '</FONT></TD></TR>').format(n=len(CALL_OPS) + 2)
    legend = (f'<TR><TD COLSPAN="{len(CALL_OPS) + 2}" ALIGN="LEFT"><FONT POINT-SIZE="10">'
              f'<FONT COLOR="#1b7837">■</FONT> only succeeds (or blocks)   '
              f'<FONT COLOR="#c51b7d">■</FONT> only fails   '
              f'<FONT COLOR="#b8860b">■</FONT> succeeds or fails, depending on the case</FONT></TD></TR>')
    label = HTML('<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="5" COLOR="#999999">'
                 + "".join(rows) + legend + key + "</TABLE>")
    return "\n".join([
        "digraph socket_calls {",
        f"  graph{attrs(label=f'What each call returns, per TCP state — {profile} profile, derived from tcpconform/model/rules.py', labelloc='t', fontname=FONT, fontsize='16', bgcolor='white', pad='0.3')};",
        f"  node{attrs(fontname=FONT, fontsize='11')};",
        f"  calls{attrs(shape='plaintext', label=label)};",
        "}",
    ]) + "\n"


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
    return "\n".join([
        "digraph socket_readiness {",
        f"  graph{attrs(label=f'What poll() reports, per TCP state — {profile} profile, derived from tcpconform/model/rules.py', labelloc='t', fontname=FONT, fontsize='16', bgcolor='white', pad='0.3')};",
        f"  node{attrs(fontname=FONT, fontsize='11')};",
        f"  readiness{attrs(shape='plaintext', label=label)};",
        "}",
    ]) + "\n"


# --------------------------------------------------------------------------
# Sequence charts: lanes (lifelines) across, steps down.  Drawn with pinned
# positions (layout=neato, every node at pos="x,y!"), so that rows and lanes
# stay exactly where they are put and no label lands on another.
ROW_H = 0.62      # inches between steps
BOX_DROP = 0.22   # a state box sits this far below its step's arrows
LABEL_RISE = 0.13  # an arrow's label sits this far above its middle


@dataclass
class Box:
    lane: int
    row: int
    text: str
    kind: str = "state"        # state | call | note | queue | error
    color: str | None = None


@dataclass
class Arrow:
    src: tuple[int, int]       # (lane, row)
    dst: tuple[int, int]
    label: str
    kind: str = "seg"          # seg | call | return | queue | dup
    color: str | None = None
    label_at: float = 0.5      # where along the arrow its label sits


@dataclass
class SeqChart:
    title: str
    lanes: list[str]
    widths: list[float] | None = None   # gap to the next lane, inches
    boxes: list[Box] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    blocked: list[tuple[int, int, int]] = field(default_factory=list)  # (lane, from row, to row)
    gutter: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # row -> (text, colour)
    rows: int = 0
    legend: list[tuple[str, str, str, str]] = field(default_factory=list)  # (mark kind, colour, sample, text)
    drop: float = BOX_DROP     # how far below its step's arrows a state box sits
    gutter_x: float = -1.25    # where the row notes go

    def new_row(self) -> int:
        self.rows += 1
        return self.rows - 1

    def x(self, lane: int) -> float:
        gaps = self.widths or [2.4] * len(self.lanes)
        return sum(gaps[:lane])


BOX_STYLE = {
    "state": dict(shape="box", style="rounded,filled", fillcolor="#e8f1fa", color="#6a8caf", fontsize="10"),
    "call": dict(shape="box", style="filled", fillcolor="#fafafa", color="#999999", fontsize="10"),
    "note": dict(shape="plaintext", fontsize="10", fontcolor="#555555"),
    "queue": dict(shape="box", style="filled", fillcolor="#fff4d6", color="#c9a227", fontsize="10"),
    "error": dict(shape="box", style="filled,bold", fillcolor="#fde0e0", color=C_RED, fontcolor=C_RED,
                  fontsize="10", penwidth="2"),
}
ARROW_STYLE = {
    "seg": dict(color="#1f4e79", fontcolor="#1f4e79", penwidth="1.4"),
    "call": dict(color="#333333", fontcolor="#333333", penwidth="1.0"),
    "return": dict(color="#333333", fontcolor="#333333", penwidth="1.0", style="dashed"),
    "queue": dict(color="#b8860b", fontcolor="#8a6d00", penwidth="1.2"),
    "dup": dict(color="#7b68ee", fontcolor="#5a4bc7", penwidth="1.2", style="dashed"),
}


def seq_dot(chart: SeqChart, name: str = "sequence") -> str:
    def y(row: int) -> float:
        return -(row + 1) * ROW_H

    out = [f"digraph {name} {{",
           f"  graph{attrs(layout='neato', splines='false', outputorder='edgesfirst', label=chart.title, labelloc='t', fontname=FONT, fontsize='16', bgcolor='white', pad='0.3')};",
           f"  node{attrs(fontname=FONT, fontsize='10', margin='0.06,0.03', height='0.26', width='0')};",
           f"  edge{attrs(fontname=FONT, fontsize='10', arrowsize='0.7')};"]
    anchors: dict[int, dict[float, str]] = {i: {} for i in range(len(chart.lanes))}

    def pos(x: float, yy: float) -> str:
        return f"{x:.3f},{yy:.3f}!"

    def point(lane: int, row: int) -> str:
        yy = y(row)
        nid = anchors[lane].get(yy)
        if nid is None:
            nid = f"p{lane}_{row}"
            anchors[lane][yy] = nid
            out.append(f"  {q(nid)}{attrs(shape='point', width='0.03', color='#999999', pos=pos(chart.x(lane), yy))};")
        return nid

    last = chart.rows
    for i, lane in enumerate(chart.lanes):
        nid = f"lane{i}"
        anchors[i][0.0] = nid
        out.append(f"  {q(nid)}{attrs(label=lane, shape='box', style='filled,bold', fillcolor='#dddddd', color='#666666', fontsize='11', pos=pos(chart.x(i), 0.0), lane=str(i))};")
        foot = f"lane{i}_end"
        anchors[i][y(last) ] = foot
        out.append(f"  {q(foot)}{attrs(shape='point', width='0.01', color='#999999', pos=pos(chart.x(i), y(last)))};")
    for k, b in enumerate(chart.boxes):
        nid = f"b{k}"
        yy = y(b.row) - (chart.drop if b.kind in ("state", "queue", "error") else 0)
        st = dict(BOX_STYLE[b.kind])
        if b.color:
            st.update(color=b.color, fontcolor=b.color)
        anchors[b.lane][yy] = nid
        out.append(f"  {q(nid)}{attrs(label=b.text, pos=pos(chart.x(b.lane), yy), row=str(b.row), lane=str(b.lane), kind=b.kind, **st)};")
    for k, a in enumerate(chart.arrows):
        # a segment leaves from the state its sender moved to; calls end on call boxes
        p = _box_id(chart, a.src, ("call",) if a.kind != "seg" else ("call", "state")) or point(*a.src)
        r = _box_id(chart, a.dst, ("call",)) or point(*a.dst)
        st = dict(ARROW_STYLE[a.kind])
        if a.color:
            st.update(color=a.color, fontcolor=a.color, penwidth="2")
        out.append(f"  {q(p)} -> {q(r)}{attrs(**{k2: v for k2, v in st.items() if k2 != 'fontcolor'})};")
        x1, y1 = chart.x(a.src[0]), y(a.src[1])
        x2, y2 = chart.x(a.dst[0]), y(a.dst[1])
        t = a.label_at
        # above the arrow, and higher as the arrow slants, so that it clears the line
        slope = abs(y2 - y1) / max(abs(x2 - x1), 0.1)
        half = 0.036 * max(len(line) for line in a.label.split("\n"))
        lx, ly = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t + LABEL_RISE + slope * half
        # on a white ground, so that a lifeline under the label does not cross its text
        out.append(f"  {q(f'l{k}')}{attrs(label=a.label, shape='box', style='filled', fillcolor='white', color='white', penwidth='0', fontcolor=st.get('fontcolor'), pos=pos(lx, ly), height='0.16', margin='0.03,0', arrow=str(k))};")
    for row, (text, colour) in sorted(chart.gutter.items()):
        out.append(f"  {q(f'g{row}')}{attrs(label=text, shape='plaintext', fontsize='9', fontcolor=colour or '#888888', pos=pos(chart.gutter_x, y(row) - chart.drop / 2))};")
    # lifelines: dashed, between consecutive things on a lane; solid and wide where an app waits
    for lane, pts in anchors.items():
        ys = sorted(pts, reverse=True)
        for a, b in zip(ys, ys[1:]):
            wait = any(l == lane and a <= y(r0) + 1e-9 and b >= y(r1) - 1e-9
                       for l, r0, r1 in chart.blocked)
            st = dict(style="solid", color="#9ecae1", penwidth="6") if wait else \
                dict(style="dashed", color="#aaaaaa", penwidth="1")
            out.append(f"  {q(pts[a])} -> {q(pts[b])}{attrs(arrowhead='none', lifeline=str(lane), **st)};")
    legend = _used_legend(chart)
    if legend:
        yy = y(last) - 0.6
        out.append(f"  legend{attrs(shape='plaintext', label=_legend_html(legend), pos=pos(chart.x(0) + 1.6, yy - 0.5))};")
    out.append("}")
    return "\n".join(out) + "\n"


def _used_legend(chart: SeqChart) -> list[tuple[str, str, str]]:
    """The legend entries whose kind of mark the chart uses (tagged by the
    entry's fourth word: call, return, blocked, seg, queue, state)."""
    used = {a.kind for a in chart.arrows} | {b.kind for b in chart.boxes}
    if chart.blocked:
        used.add("blocked")
    return [(c, s, t) for kind, c, s, t in chart.legend if kind in used]


def _box_id(chart: SeqChart, at: tuple[int, int], kinds: tuple[str, ...]) -> str | None:
    for k, b in enumerate(chart.boxes):
        if b.lane == at[0] and b.row == at[1] and b.kind in kinds:
            return f"b{k}"
    return None


# --------------------------------------------------------------------------
# Scripted runs of the model, drawn as sequence charts
# Every segment after the first SYN carries an ACK; the chart names what matters.
SEG_TEXT = {"SYN": "SYN", "SYNACK": "SYN,ACK", "ACK": "ACK", "ACKFIN": "ACK",
            "FIN": "FIN", "FINACK": "FIN", "RST": "RST"}
IP = "127.0.0.1"


def _seg_text(kind: str, n: int) -> str:
    return f"data ({n} bytes)" if kind == "DATA" else SEG_TEXT.get(kind, kind)


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
        outs = system.apply_call(self.cfg, ev, self.profile)
        if not outs:
            raise system.ModelError(f"the model does not allow {op} on {sock} returning {ret}")
        o = outs[0]
        self._count(o.result.case)
        row = self._row()
        target = self._call_target(sock, op)
        if row is not None:
            self.chart.arrows.append(Arrow((self.sockets[sock][1], row), (target, row),
                                           f"{text or self._call_text(ev)} → {self._ret_text(ev)}", "call"))
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
        outs = system.resume_call(self.cfg, ev, self.profile)
        if not outs:
            raise system.ModelError(f"the model does not let {ev.op} on {ev.sock} return {ev.ret} now")
        o = outs[0]
        self._count(o.result.case)
        row = self._row()
        if row is not None:
            app = self.sockets[ev.sock][1]
            self.chart.arrows.append(Arrow((self._call_target(ev.sock, ev.op), row), (app, row),
                                           text or f"{ev.op} returns {self._ret_text(ev)}", "return"))
            if row0 is not None:
                self.chart.blocked.append((app, row0, row))
        self._advance(o.config, row, op=ev.op)

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

    @staticmethod
    def _ret_text(ev) -> str:
        if ev.ret != vocab.OK:
            return ev.ret
        if ev.op in ("send", "recv"):
            return str(ev.n if ev.n is not None else 0)
        if ev.op == "accept":
            return ev.new
        if ev.op == "socket":
            return ev.sock
        if ev.op == "bind":
            return "0"
        return "0"

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
            self.chart.arrows.append(Arrow(src, (dst_lane, row), _seg_text(kind, n), "seg"))
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


SEQ_LEGEND = [
    ("call", "#333333", "───", "a call (and what it returns)"),
    ("return", "#333333", "╌╌╌", "a blocking call returns"),
    ("blocked", "#9ecae1", "███", "the application waits in the call"),
    ("seg", "#1f4e79", "───", "a segment, from the step that sent it to the step that delivers it"),
    ("queue", "#b8860b", "───", "the kernel's accept queue"),
    ("state", "#6a8caf", "▢", "a socket's state after the step"),
    ("note", "#555555", "abc", "an unobserved step: a timer"),
]
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


# --------------------------------------------------------------------------
# Any trace, as a sequence chart (for `conform check --diagram`)
MAX_TRACE_ROWS = 300


def _trace_call_text(ev) -> str:
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
    ret = ev.ret
    if ret == vocab.OK:
        ret = str(ev.n) if getattr(ev, "n", None) is not None else \
            ev.new if ev.op in ("accept", "dup") and ev.new else ev.sock if ev.op == "socket" else "0"
    extra = []
    if getattr(ev, "local", None) is not None and ev.op in ("bind", "connect"):
        extra.append(f"local {format_addr(ev.local)}")
    if getattr(ev, "peer", None) is not None:
        extra.append(f"peer {format_addr(ev.peer)}")
    text = f"{ev.op}({', '.join(args)}) → {ret}"
    return text + ("\n" + ", ".join(extra) if extra else "")


def sequence_from_trace(events: Iterable, divergence_line: int | None = None,
                        title: str | None = None) -> str:
    """DOT text of a trace as a sequence chart: one lane per socket, one row
    per call or state event (line numbers on the left), an accept() drawn
    as an arrow to the socket it made.  The event at ``divergence_line`` is
    drawn in red, and what follows it in grey."""
    evs = [e for e in events if hasattr(e, "sock")]
    total = len(evs)
    shown = evs
    if total > MAX_TRACE_ROWS:
        at = next((i for i, e in enumerate(evs) if e.line == divergence_line), total - 1)
        lo = max(0, min(at - MAX_TRACE_ROWS + 20, total - MAX_TRACE_ROWS))
        shown = evs[lo:lo + MAX_TRACE_ROWS]
    lanes: list[str] = []
    for e in shown:
        for name in (e.sock, getattr(e, "new", None) if getattr(e, "ret", None) == vocab.OK else None):
            if name and name not in lanes:
                lanes.append(name)
    texts: dict[str, int] = {name: len(name) + 4 for name in lanes}
    for e in shown:
        t = _trace_call_text(e) if hasattr(e, "op") else e.state
        texts[e.sock] = max(texts[e.sock], max(len(x) for x in t.split("\n")))
    width = [max(1.6, 0.075 * texts[n] + 0.4) for n in lanes]
    gaps = [(a + b) / 2 + 0.3 for a, b in zip(width, width[1:])] + [0.0]
    head = title or "Trace" + (f" — diverges at line {divergence_line}" if divergence_line is not None else "")
    if len(shown) < total:
        head += f" (lines {shown[0].line}–{shown[-1].line} of the trace shown)"
    chart = SeqChart(head, [f"socket {n}" for n in lanes], gaps or [2.0], legend=[], drop=0.0,
                     gutter_x=-(width[0] / 2 + 0.55) if width else -1.0)
    after = False
    for e in shown:
        row = chart.new_row()
        lane = lanes.index(e.sock)
        bad = divergence_line is not None and e.line == divergence_line
        grey = "#aaaaaa" if after else None
        if hasattr(e, "op"):
            chart.boxes.append(Box(lane, row, ("✗ " if bad else "") + _trace_call_text(e),
                                   "error" if bad else "call", grey))
            new = getattr(e, "new", None)
            if e.op in ("accept", "dup") and e.ret == vocab.OK and new in lanes:
                to = lanes.index(new)
                near = 1 - 0.9 / max(abs(chart.x(to) - chart.x(lane)), 1.8)
                label = f"new socket {new}" if e.op == "accept" else f"the same socket, descriptor {new}"
                chart.arrows.append(Arrow((lane, row), (to, row), label,
                                          "queue" if e.op == "accept" else "dup", C_RED if bad else grey,
                                          label_at=near))
        else:
            chart.boxes.append(Box(lane, row, ("✗ " if bad else "") + e.state,
                                   "error" if bad else "state", grey))
        chart.gutter[row] = (f"line {e.line}" + (" ✗ diverges" if bad else ""), C_RED if bad else None)
        after = after or bad
    chart.legend = [
        ("call", "#999999", "▭", "a call and what it returned"),
        ("state", "#6a8caf", "▢", "a state the trace observed"),
        ("queue", "#b8860b", "───", "accept() made a new socket"),
        ("dup", "#7b68ee", "───", "dup() or a child process: a second descriptor of the same socket"),
        ("error", C_RED, "✗", "where the model cannot follow the trace (later events in grey)"),
    ]
    if not any(a.kind == "dup" for a in chart.arrows):
        chart.legend = [row for row in chart.legend if row[0] != "dup"]
    return seq_dot(chart, "trace")


# --------------------------------------------------------------------------
# Coverage: the rules a check used, on the state diagram
def coverage_overlay(case_counts: Mapping, divergent_case: str | None = None,
                     profile: str = "linux", cases: Sequence = rules.CASES) -> str:
    """The state diagram with each arc a run exercised in green (bold, with
    how many times), the rest in grey, and the divergent rule in red; the
    rules exercised that move no arc are listed under the legend.  A
    divergent rule that moves no arc is marked on the states it applies in.

    ``case_counts``: case id -> times used (e.g. ``PlainSearch.rules_used``);
    a key may also be ``(case id, from-state)``, which places the count on
    one arc.  A bare id whose rule draws arcs from several states (close.fin:
    ESTABLISHED and SYN_RECEIVED) cannot say which was taken: those arcs are
    drawn thin green, "one of these"."""
    if cases is rules.CASES:  # the model's own diagram: kept on disk between runs
        from tcpconform.diagrams import cache
        g, where = cache.state_graph(profile), cache.case_states(profile)
    else:
        g, where = mgraph.state_graph(profile, cases), mgraph.case_states(profile, cases)
    on_arcs = {c for e in g.edges for c in e.cases}
    bad_arcs = bool(divergent_case and g.edges_of_case(divergent_case))
    bad_states = where.get(divergent_case, frozenset()) if divergent_case and not bad_arcs else frozenset()
    sure: dict[tuple[str, str], int] = {}     # (case, from-state) -> count
    unsure: dict[str, int] = {}               # case -> count, arc unknown
    for key, n in case_counts.items():
        if not n:
            continue
        if isinstance(key, tuple):
            sure[key] = sure.get(key, 0) + n
            continue
        srcs = {e.src for e in g.edges_of_case(key)}
        if len(srcs) == 1:
            k = (key, next(iter(srcs)))
            sure[k] = sure.get(k, 0) + n
        else:
            unsure[key] = unsure.get(key, 0) + n

    def edge_style(d: DotEdge) -> dict:
        src = d.edges[0].src
        n = sum(sure.get((c, src), 0) for c in d.cases)
        maybe = sum(unsure.get(c, 0) for c in d.cases)
        text = "\n".join(_merge_labels(d.edges)) if d.cls != "abort" else ""
        if divergent_case is not None and divergent_case in d.cases:
            return dict(color=C_RED, fontcolor=C_RED, penwidth="3.2", style="solid",
                        label=(text + "\n" if text else "") + "✗ diverged here")
        if n > 0:
            return dict(color=C_OK, fontcolor="#116149", penwidth="3", style="solid",
                        label=(text + "\n" if text else "") + f"×{n}")
        if maybe > 0:
            return dict(color=C_OK, fontcolor="#116149", penwidth="1.4", style="dashed",
                        label=(text + "\n" if text else "") + f"×{maybe}, here or on another arc")
        return dict(color="#c8c8c8", fontcolor="#9a9a9a", penwidth="1")

    def node_style(state: str) -> dict:
        return dict(color=C_RED, penwidth="3") if state in bad_states else {}

    extra: list[str] = []
    if bad_states:
        states = sorted(bad_states, key=vocab.STATES.index)
        extra.append(f"  divergence{attrs(label=f'✗ diverged at rule {divergent_case}', shape='note', style='filled', fillcolor='#fde0e0', color=C_RED, fontcolor=C_RED, fontsize='11')};")
        extra.append(f"  {{ rank=same; divergence; {q(states[0])} }}")
        for s in states:
            extra.append(f"  divergence -> {q(s)}{attrs(color=C_RED, style='dashed', constraint='false', arrowhead='none')};")
    legend = [
        (C_OK, "━━━━", "arc exercised (×: how many times)"),
        (C_OK, "╸ ╸ ╸ ╸", "its rule was exercised, here or on another of its arcs"),
        ("#c8c8c8", "────", "arc not exercised"),
        (C_RED, "━━━━", "where the trace diverged"),
    ]
    plain: dict[str, int] = {}
    for key, n in case_counts.items():
        c = key[0] if isinstance(key, tuple) else key
        if n and c not in on_arcs:
            plain[c] = plain.get(c, 0) + n
    others = sorted(plain, key=lambda c: (-plain[c], c))
    if others:
        text = ", ".join(f"{c} ×{plain[c]}" for c in others)
        legend.append(("#116149", "", "rules exercised that move no arc:"))
        for chunk in _chunks(text, 62):
            legend.append(("#116149", "", chunk))
    used = len({k[0] if isinstance(k, tuple) else k for k, n in case_counts.items() if n > 0})
    title = f"Rules exercised: {used} of {len(cases)} cases — {profile} profile"
    return state_dot(g, title=title, edge_style=edge_style, node_style=node_style, legend=legend, extra=extra)


def _chunks(text: str, width: int) -> list[str]:
    lines, cur = [], ""
    for word in text.split(" "):
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    return lines + ([cur] if cur else [])


# --------------------------------------------------------------------------
# Files
DIAGRAMS: dict[str, Callable[[], str]] = {
    "tcp-states": states_diagram,
    "socket-calls": calls_dot,
    "socket-readiness": readiness_dot,
    **{name: (lambda f=f, name=name: seq_dot(f(), name.replace("-", "_"))) for name, f in SEQUENCES.items()},
}
FORMATS = ("svg", "png")


class RenderError(Exception):
    pass


def find_dot() -> str | None:
    return shutil.which("dot")


def render(dot_text: str, out_dir: Path | str, stem: str, formats: Sequence[str] = FORMATS,
           dot: str | None = None) -> list[Path]:
    """Write ``stem.dot`` and, with the ``dot`` program ``dot``, each format."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = out / f"{stem}.dot"
    src.write_text(dot_text, encoding="utf-8")
    written = [src]
    if dot is None:
        return written
    for fmt in formats:
        target = out / f"{stem}.{fmt}"
        proc = subprocess.run([dot, f"-T{fmt}", "-o", str(target), str(src)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RenderError(f"{dot} failed on {src} (-T{fmt}, exit {proc.returncode}): "
                              f"{proc.stderr.strip() or 'no message'}")
        written.append(target)
    return written


def write_diagrams(out_dir: Path | str = "docs/diagrams", names: Iterable[str] | None = None,
                   formats: Sequence[str] = FORMATS) -> tuple[list[Path], str | None]:
    """Write every diagram (DOT always, rendered when ``dot`` is found).
    Returns the files written and, when ``dot`` is missing, the message to show."""
    dot = find_dot()
    files: list[Path] = []
    for name in names or DIAGRAMS:
        files += render(DIAGRAMS[name](), out_dir, name, formats, dot)
    note = None
    if dot is None:
        note = (f"Graphviz's 'dot' program was not found on PATH, so only the DOT files were written "
                f"({len(files)} in {out_dir}); {INSTALL_HINT}")
    return files, note


def draw_runs(results: list[dict], out: str) -> list[str]:
    """Draw every run a proof found (a counterexample, a witness's run) as a
    sequence chart in ``out``; the paths written."""
    from tcpconform.properties import prove  # z3 is slow to import; only proofs' runs need it
    written = []
    for r in results:
        rows = r.get("counterexample") or r.get("run")
        if not rows:
            continue
        name = r.get("property") or r.get("witness")
        kind = "counterexample" if r.get("counterexample") else "witness"
        events = prove.counterexample_events(rows)
        title = f"{name}: {kind}" + (f" under mutant {r['mutant']}" if r.get("mutant") else "")
        dot = sequence_from_trace(events, events[-1].line if events and kind == "counterexample" else None,
                                         title=title)
        written += [str(p) for p in render(dot, out, f"{name}-{kind}", formats=("svg",),
                                                  dot=find_dot())]
    return written
