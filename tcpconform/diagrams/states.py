"""The state diagram: the rule table's states and transitions, laid out in
the manner of RFC 9293's Figure 5.

Every arrow is an edge of :func:`tcpconform.model.graph.state_graph`.  An
arrow is drawn in the RFC's style (solid: black on the main client and
server paths, dark grey otherwise) only when it is one of Figure 5's arcs
(:mod:`tcpconform.diagrams.figure5`) and its rule says it encodes that arc;
an arc of the figure that Linux takes otherwise is solid orange, one no
sockets API call takes dotted.  Every arc that is not in Figure 5 is dashed:
blue for a sockets API call or a step of Linux's, orange where Linux departs
from RFC 9293.  Resets, errors and abortive closes end in grey boxes that
list their events.  The legend lists exactly the kinds of arrow drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from tcpconform.diagrams import figure5
from tcpconform.diagrams.dot import (C_ABORT, C_ARC, C_DEPART, C_EXTRA, C_MAIN, C_RFC, FONT, HTML, attrs, h,
                                     legend_html, q)
from tcpconform.model import graph as mgraph
from tcpconform.model import rules
from tcpconform.model.graph import Edge, Graph

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


def place(node: str) -> tuple[float, float] | None:
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


def dst_node(e: Edge) -> str:
    if e.dst != "CLOSED":
        return e.dst
    if e.abort:
        return STUB + e.src
    return "CLOSED" if e.src in UPPER else END


FIGURE5_CLASSES = ("main", "arc", "fig5depart", "rfc")   # arcs of Figure 5, in the RFC's style
OTHER_CLASSES = ("extra", "depart", "abort")              # not in Figure 5


def in_figure5(e: Edge, declared: Mapping[str, tuple]) -> bool:
    """``declared``: case id -> the Figure 5 arcs it encodes (``Case.fig5``)."""
    return any(figure5.is_arc(e.src, e.dst, declared.get(c, ())) for c in e.cases)


def edge_class(e: Edge, declared: Mapping[str, tuple]) -> str:
    if e.abort:
        return "abort"
    if in_figure5(e, declared):
        if e.rfc_only:
            return "rfc"
        if e.linux_departure:
            return "fig5depart"
        return "main" if e.main_path else "arc"
    return "depart" if e.linux_departure else "extra"


STYLE = {
    "main": dict(color=C_MAIN, fontcolor=C_MAIN, penwidth="2.6"),
    "arc": dict(color=C_ARC, fontcolor=C_ARC, penwidth="1.2"),
    "fig5depart": dict(color=C_DEPART, fontcolor=C_DEPART, penwidth="1.8"),
    "rfc": dict(color=C_RFC, fontcolor=C_RFC, penwidth="1.4", style="dotted"),
    "extra": dict(color=C_EXTRA, fontcolor=C_EXTRA, penwidth="1.2", style="dashed"),
    "depart": dict(color=C_DEPART, fontcolor=C_DEPART, penwidth="1.4", style="dashed"),
    "abort": dict(color=C_ABORT, fontcolor="#555555", penwidth="1.0"),
}
SAMPLE = {"main": "━━━━", "arc": "────", "fig5depart": "────", "rfc": "┈┈┈┈",
          "extra": "╌╌╌╌", "depart": "╌╌╌╌", "abort": "────"}
LEGEND = [
    ("main", "main client and server paths of RFC 9293 Figure 5"),
    ("arc", "other arc of RFC 9293 Figure 5"),
    ("fig5depart", "arc of RFC 9293 Figure 5 that Linux takes otherwise (the label says how)"),
    ("rfc", "arc of RFC 9293 Figure 5 that no sockets API call takes"),
    ("extra", "not in RFC 9293 Figure 5 (Linux): a sockets API call or a step of Linux's"),
    ("depart", "not in RFC 9293 Figure 5 (Linux), where Linux departs from RFC 9293"),
    ("abort", "reset, error or abortive close (grey box: the events); not in Figure 5 (its note 3)"),
]


def merge_labels(edges: Sequence[Edge]) -> list[str]:
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
            out.append(wrap(f"{ev} / {action}" if action else ev))
    return out


def wrap(line: str, width: int = 26) -> str:
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

    @property
    def src(self) -> str:
        return self.edges[0].src


def declared_arcs(cases: Sequence) -> dict[str, tuple]:
    return {c.id: c.fig5 for c in cases}


def dot_edges(g: Graph, cases: Sequence = rules.CASES) -> list[DotEdge]:
    """Graph edges grouped into drawn edges: one per (from box, to box, class)."""
    declared = declared_arcs(cases)
    groups: dict[tuple[str, str, str], DotEdge] = {}
    for e in g.edges:
        key = (e.src, dst_node(e), edge_class(e, declared))
        groups.setdefault(key, DotEdge(*key, [])).edges.append(e)
    return list(groups.values())


def edge_labels(drawn: Sequence[DotEdge]) -> dict[int, str]:
    """The label of each drawn edge (by index; an abort's events go in its grey
    box instead).  Two arrows into the same box with the same words are told
    apart by the state each leaves (``disconnect()`` from CLOSING and from
    LAST_ACK)."""
    text = {i: "\n".join(merge_labels(d.edges)) for i, d in enumerate(drawn) if d.cls != "abort"}
    by_head: dict[tuple[str, str], list[int]] = {}
    for i, t in text.items():
        by_head.setdefault((drawn[i].head, t), []).append(i)
    for same in by_head.values():
        if len(same) > 1:
            for i in same:
                text[i] += f"\n(from {drawn[i].src})"
    return text


def state_dot(g: Graph, *, title: str | None = None,
              edge_style: Callable[[DotEdge, str], dict] | None = None,
              node_style: Callable[[str], dict] | None = None,
              legend: Sequence[tuple[str, str, str]] | None = None,
              extra: Iterable[str] = (), cases: Sequence = rules.CASES) -> str:
    """DOT text of a state graph.  Every box has ``state=`` (the model state
    it draws; CLOSED is drawn more than once), every arrow ``src_state=``,
    ``dst_state=``, ``cases=`` and ``events=`` (the graph edges it draws, one
    label per line), ``arc_class=`` (its kind, a key of :data:`STYLE`) and
    ``figure5=`` (``yes`` when it draws an arc of RFC 9293 Figure 5).
    ``cases``: the table the graph was derived from (its ``fig5`` say which
    arcs are Figure 5's).  ``edge_style(drawn edge, label)``: attributes
    that replace the class's (``label`` too)."""
    title = title or (f"TCP states through the sockets API — {g.profile} profile, "
                      "derived from tcpconform/model/rules.py")
    drawn = dot_edges(g, cases)
    labels = edge_labels(drawn)
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
            stubs.setdefault(d.head, []).extend(merge_labels(d.edges))
    for n, text in stubs.items():
        rows = "".join(f'<TR><TD ALIGN="LEFT" BALIGN="LEFT"><FONT POINT-SIZE="9" COLOR="#555555">'
                       f'{h(t).replace(chr(10), "<BR/>")}</FONT></TD></TR>' for t in text)
        label = HTML(f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
                     f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="11" COLOR="#444444"><B>CLOSED</B></FONT></TD></TR>'
                     f'{rows}</TABLE>')
        out.append(f"  {q(n)}{attrs(state='CLOSED', label=label, shape='box', style='rounded,dashed', color=C_ABORT, fillcolor='white', margin='0.06,0.04', width='0', height='0')};")
    if legend is None:
        used = {d.cls for d in drawn}
        legend = [(c, SAMPLE[c], t) for c, t in LEGEND if c in used]
    out.append(f"  legend{attrs(shape='plaintext', style='', label=legend_html(legend, STYLE))};")
    # ranks and order within a rank, as in Fig. 5
    nodes = list(g.nodes) + ([END] if END in heads else []) + list(stubs) + ["legend"]
    ranks: dict[float, list[str]] = {}
    for n in nodes:
        p = place(n)
        if p is not None:
            ranks.setdefault(p[0], []).append(n)
    for r in sorted(ranks):
        row = sorted(ranks[r], key=lambda n: place(n)[1])
        out.append("  { rank=same; " + " ".join(q(n) for n in row) + " }")
        for a, b in zip(row, row[1:]):
            out.append(f"  {q(a)} -> {q(b)}{attrs(style='invis')};")
    for i, d in enumerate(drawn):
        st = dict(STYLE[d.cls])
        st["weight"] = "8" if d.cls == "main" else "0" if d.cls == "abort" else "1"
        main = any(e.main_path for e in d.edges)
        if main and d.cls != "main":
            st.update(penwidth=STYLE["main"]["penwidth"], weight="8")
        if d.cls == "depart" and not main:
            st["constraint"] = "false"   # a side arc: the layout follows the RFC's arcs
        label = labels.get(i)
        if edge_style:
            st.update(edge_style(d, label or ""))
        label = st.pop("label", label)
        meta = dict(src_state=d.src, dst_state=d.edges[0].dst, cases=" ".join(d.cases),
                    events="\n".join(e.label for e in d.edges), arc_class=d.cls,
                    figure5="yes" if d.cls in FIGURE5_CLASSES else "no")
        tail, head = d.tail, d.head
        pt, ph = place(tail), place(head)
        if pt and ph and pt[0] == ph[0] and pt[1] > ph[1]:
            # a flat arrow pointing left: drawn reversed, so that it does not
            # fight the left-to-right order of its rank
            tail, head, st["dir"] = head, tail, "back"
        out.append(f"  {q(tail)} -> {q(head)}{attrs(label=label or None, **st, **meta)};")
    out.extend(extra)
    out.append("}")
    return "\n".join(out) + "\n"


def states_diagram(profile: str = "linux", cases: Sequence = rules.CASES) -> str:
    return state_dot(mgraph.state_graph(profile, cases), cases=cases)
