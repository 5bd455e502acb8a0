"""Sequence charts: lanes (lifelines) across, steps down.

A :class:`SeqChart` holds boxes (a state, a call, a note) and arrows (a
segment, a call, a return) at (lane, row) places; :func:`seq_dot` draws it
with pinned positions (layout=neato, every node at pos="x,y!"), so that rows
and lanes stay exactly where they are put and no label lands on another.
Every sequence chart of the project is drawn by it: the scripted model runs
(:mod:`tcpconform.diagrams.scripted`), recorded traces and the runs of
proofs (:mod:`tcpconform.diagrams.traces`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcpconform.diagrams.dot import C_RED, FONT, attrs, legend_html, q

ROW_H = 0.62      # inches between steps
C_WAIT = "#9ecae1"  # a lifeline where the application waits in a call
BOX_DROP = 0.22   # a state box sits this far below its step's arrows
LABEL_RISE = 0.13  # an arrow's label sits this far above its middle


@dataclass
class Box:
    lane: int
    row: int
    text: str
    kind: str = "state"        # state | call | note | queue | error
    color: str | None = None
    line: int | None = None    # the trace line it draws, when it draws one


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
    row_meta: dict[int, dict[str, str]] = field(default_factory=dict)  # row -> attributes of its note (lines=, ...)
    rows: int = 0
    legend: list[tuple[str, str, str, str]] = field(default_factory=list)  # (mark kind, colour, sample, text)
    drop: float = BOX_DROP     # how far below its step's arrows a state box sits
    gutter_x: float = -1.25    # where the row notes go
    row_h: float = ROW_H       # inches between rows

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


def legend_rows(rows: list[tuple[str, str, str]], prefer: str = "box") -> list[tuple[str, str, str, str]]:
    """A chart's legend: (kind of mark, sample, meaning) rows, each in the
    colour that kind is drawn in (a box's or, ``prefer="arrow"``, an
    arrow's first, for a kind that is both: a call)."""
    styles = (BOX_STYLE, ARROW_STYLE) if prefer == "box" else (ARROW_STYLE, BOX_STYLE)
    out = []
    for kind, sample, text in rows:
        st = next((s[kind] for s in styles if kind in s), {"color": C_WAIT})   # blocked: the waiting lifeline
        out.append((kind, st.get("color") or st["fontcolor"], sample, text))
    return out


def seq_dot(chart: SeqChart, name: str = "sequence") -> str:
    def y(row: int) -> float:
        return -(row + 1) * chart.row_h

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
        line = str(b.line) if b.line is not None else None
        out.append(f"  {q(nid)}{attrs(label=b.text, pos=pos(chart.x(b.lane), yy), row=str(b.row), lane=str(b.lane), kind=b.kind, line=line, **st)};")
    for k, a in enumerate(chart.arrows):
        # a segment leaves from the state its sender moved to; calls end on call boxes
        p = box_id(chart, a.src, ("call",) if a.kind != "seg" else ("call", "state")) or point(*a.src)
        r = box_id(chart, a.dst, ("call",)) or point(*a.dst)
        st = dict(ARROW_STYLE[a.kind])
        if a.color:
            st.update(color=a.color, fontcolor=a.color, penwidth="2")
        line_style = {k2: v for k2, v in st.items() if k2 != 'fontcolor'}
        out.append(f"  {q(p)} -> {q(r)}{attrs(**line_style, arrow=str(k), kind=a.kind, from_lane=str(a.src[0]), to_lane=str(a.dst[0]), from_row=str(a.src[1]), to_row=str(a.dst[1]))};")
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
        out.append(f"  {q(f'g{row}')}{attrs(label=text, shape='plaintext', fontsize='9', fontcolor=colour or '#888888', pos=pos(chart.gutter_x, y(row) - chart.drop / 2), **chart.row_meta.get(row, {}))};")
    # lifelines: dashed, between consecutive things on a lane; solid and wide where an app waits
    for lane, pts in anchors.items():
        ys = sorted(pts, reverse=True)
        for a, b in zip(ys, ys[1:]):
            wait = any(l == lane and a <= y(r0) + 1e-9 and b >= y(r1) - 1e-9
                       for l, r0, r1 in chart.blocked)
            st = dict(style="solid", color=C_WAIT, penwidth="6") if wait else \
                dict(style="dashed", color="#aaaaaa", penwidth="1")
            out.append(f"  {q(pts[a])} -> {q(pts[b])}{attrs(arrowhead='none', lifeline=str(lane), **st)};")
    legend = used_legend(chart)
    if legend:
        yy = y(last) - 0.6
        out.append(f"  legend{attrs(shape='plaintext', label=legend_html(legend), pos=pos(chart.x(0) + 1.6, yy - 0.5))};")
    out.append("}")
    return "\n".join(out) + "\n"


def used_legend(chart: SeqChart) -> list[tuple[str, str, str]]:
    """The legend entries whose kind of mark the chart uses (tagged by the
    entry's first field: call, return, blocked, seg, queue, state; an entry
    of no kind is always shown)."""
    used = {a.kind for a in chart.arrows} | {b.kind for b in chart.boxes}
    if chart.blocked:
        used.add("blocked")
    return [(c, s, t) for kind, c, s, t in chart.legend if kind in used or not kind]


def box_id(chart: SeqChart, at: tuple[int, int], kinds: tuple[str, ...]) -> str | None:
    for k, b in enumerate(chart.boxes):
        if b.lane == at[0] and b.row == at[1] and b.kind in kinds:
            return f"b{k}"
    return None



# Segments as a chart names them.  Every segment after the first SYN carries
# an ACK; the chart names what matters (the model's kinds, tcpconform.model.vocab SEGMENTS).
SEG_TEXT = {"SYN": "SYN", "SYNACK": "SYN,ACK", "ACK": "ACK", "ACKFIN": "ACK",
            "FIN": "FIN", "FINACK": "FIN", "RST": "RST"}


def seg_text(kind: str, n: int | None) -> str:
    return f"data ({n} bytes)" if kind == "DATA" else SEG_TEXT.get(kind, kind)


def returned(ev) -> str:
    """What a call returned, as a chart says it: the errno; a send's or a
    recv's byte count (``0 (end of stream)`` for a recv that read the end),
    or ``ok`` when the event gives none; the new descriptor of an accept
    or a dup; 0 otherwise."""
    if ev.ret != "ok":
        return ev.ret
    n = getattr(ev, "n", None)
    if ev.op in ("send", "recv"):
        return "ok" if n is None else "0 (end of stream)" if ev.op == "recv" and n == 0 else str(n)
    if ev.op in ("accept", "dup") and getattr(ev, "new", None):
        return ev.new
    if ev.op == "socket":
        return ev.sock
    return str(n) if n is not None else "0"
