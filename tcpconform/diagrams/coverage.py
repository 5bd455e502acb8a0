"""Coverage: the rules a check used, on the state diagram, and the rule at
which a trace diverged in red."""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

from tcpconform.diagrams.dot import C_OK, C_RED, attrs, q
from tcpconform.diagrams.states import DotEdge, dot_edges, state_dot
from tcpconform.model import graph as mgraph
from tcpconform.model import rules, vocab

LOOKS = {
    "red": dict(color=C_RED, fontcolor=C_RED, penwidth="3.2", style="solid"),
    "redmaybe": dict(color=C_RED, fontcolor=C_RED, penwidth="2", style="dashed"),
    "sure": dict(color=C_OK, fontcolor="#116149", penwidth="3", style="solid"),
    "maybe": dict(color=C_OK, fontcolor="#116149", penwidth="1.4", style="dashed"),
    "none": dict(color="#c8c8c8", fontcolor="#9a9a9a", penwidth="1"),   # in the style of its kind of arc
}
LOOK_LEGEND = [
    ("sure", "━━━━", "arc exercised (×: how many times)"),
    ("maybe", "╸ ╸ ╸ ╸", "its rule was exercised, here or on another of its arcs"),
    ("none", "────", "arc not exercised"),
    ("red", "━━━━", "where the trace diverged (the rule the model applied there)"),
    ("redmaybe", "╸ ╸ ╸ ╸", "where the trace diverged: here or on another arc of the same rule"),
]
_RULE = re.compile(r"\[([^\[\]]+)\]$")


def divergent_rules(verdict) -> list[str] | None:
    """The rules the model applied where a trace diverged: those its
    ``allowed`` results name (``"ENOTCONN [recv.listen]"``, ``"connect
    blocks, then ECONNREFUSED [connect.start, connect.failed]"``), for
    :func:`coverage_overlay`'s ``divergent_case``; None when the verdict is
    not a divergence or names no rule (a state the socket cannot be in)."""
    if getattr(verdict, "verdict", None) != "diverges":
        return None
    found = [rule for m in (_RULE.search(a) for a in verdict.allowed) if m
             for rule in re.split(r"[,\s]+", m.group(1).strip()) if rule]
    return list(dict.fromkeys(found)) or None


def _divergent(divergent_case) -> tuple[set[str], set[tuple[str, str]]]:
    """``divergent_case``: a case id, a (case id, from-state) pair, or several
    of either.  The bare ids and the pairs."""
    one_pair = isinstance(divergent_case, tuple) and len(divergent_case) == 2 and divergent_case[1] in vocab.STATES
    items = [] if divergent_case is None else \
        [divergent_case] if isinstance(divergent_case, str) or one_pair else list(divergent_case)
    return {x for x in items if isinstance(x, str)}, {tuple(x) for x in items if not isinstance(x, str)}


def coverage_overlay(case_counts: Mapping, divergent_case: str | tuple | Iterable | None = None,
                     profile: str = "linux", cases: Sequence = rules.CASES) -> str:
    """The state diagram with each arc a run exercised in green (bold, with
    how many times), the rest in grey, and the divergent rule in red; the
    rules exercised that move no arc are listed under the legend.  A
    divergent rule that moves no arc is marked on the states it applies in.

    ``case_counts``: case id -> times used (e.g. ``PlainSearch.rules_used``);
    a key may also be ``(case id, from-state)``, which places the count on
    one arc.  A bare id whose rule draws arcs from several states (close.fin:
    ESTABLISHED and SYN_RECEIVED) cannot say which was taken: those arcs are
    drawn thin green, "one of these".  ``divergent_case``: the rule (or
    rules: :func:`divergent_rules` of a verdict) at which the trace
    diverged, each a case id or a (case id, from-state) pair.  The title
    counts rules as ``conform --version`` does: of all the table's."""
    if cases is rules.CASES:  # the model's own diagram: kept on disk between runs
        from tcpconform.diagrams import cache
        g, where = cache.state_graph(profile), cache.case_states(profile)
    else:
        g, where = mgraph.state_graph(profile, cases), mgraph.case_states(profile, cases)
    bad_ids, bad_pairs = _divergent(divergent_case)

    def diverged(d: DotEdge) -> str | None:
        """"red": the trace diverged at this arc's rule here; "redmaybe": at a rule of
        it that also moves other arcs, from other states (which one, the rule does not say)."""
        if any((c, d.src) in bad_pairs or (c in bad_ids and len({e.src for e in g.edges_of_case(c)}) == 1)
               for c in d.cases):
            return "red"
        return "redmaybe" if any(c in bad_ids for c in d.cases) else None

    on_arcs = {c for e in g.edges for c in e.cases}
    bad_on_arcs = {c for c in bad_ids if g.edges_of_case(c)} | \
        {p for p in bad_pairs if any(e.src == p[1] for e in g.edges_of_case(p[0]))}
    bad_states: set[str] = set()
    for c in bad_ids - bad_on_arcs:
        bad_states |= where.get(c, frozenset())
    bad_states |= {s for c, s in bad_pairs - bad_on_arcs if s in where.get(c, frozenset())}
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

    def look(d: DotEdge) -> tuple[str, int]:
        """How the arrow is drawn: red, sure (green, with its count), maybe, or none."""
        n = sum(sure.get((c, d.src), 0) for c in d.cases)
        maybe = sum(unsure.get(c, 0) for c in d.cases)
        bad = diverged(d)
        return (bad, 0) if bad else ("sure", n) if n else ("maybe", maybe) if maybe else ("none", 0)

    def edge_style(d: DotEdge, text: str) -> dict:
        kind, n = look(d)
        note = {"red": "✗ diverged here", "redmaybe": "✗ diverged here or on another arc",
                "sure": f"×{n}", "maybe": f"×{n}, here or on another arc"}.get(kind)
        label = (text + "\n" if text else "") + note if note else text
        return dict(label=label, **LOOKS[kind])

    def node_style(state: str) -> dict:
        return dict(color=C_RED, penwidth="3") if state in bad_states else {}

    extra: list[str] = []
    if bad_states:
        states = sorted(bad_states, key=vocab.STATES.index)
        names = ", ".join(sorted(bad_ids - bad_on_arcs) + sorted({c for c, _ in bad_pairs - bad_on_arcs}))
        extra.append(f"  divergence{attrs(label=f'✗ diverged at rule {names}', shape='note', style='filled', fillcolor='#fde0e0', color=C_RED, fontcolor=C_RED, fontsize='11')};")
        extra.append(f"  {{ rank=same; divergence; {q(states[0])} }}")
        for s in states:
            extra.append(f"  divergence -> {q(s)}{attrs(color=C_RED, style='dashed', constraint='false', arrowhead='none')};")
    plain: dict[str, int] = {}
    for key, n in case_counts.items():
        c = key[0] if isinstance(key, tuple) else key
        if n and c not in on_arcs:
            plain[c] = plain.get(c, 0) + n
    counted = {c.id for c in rules.of_profile(profile, cases)}   # as `conform run` counts its coverage
    used = len({k[0] if isinstance(k, tuple) else k for k, n in case_counts.items() if n > 0} & counted)
    title = f"Rules exercised: {used} of {len(counted)} rules of the {profile} profile"
    drawn = {look(d)[0] for d in dot_edges(g, cases)}
    legend = [(LOOKS[k]["color"], sample, text) for k, sample, text in LOOK_LEGEND if k in drawn]
    if bad_states:
        legend.append((C_RED, "▢", "where the trace diverged: a rule that moves no arc, on the states it decides"))
    others = sorted(plain, key=lambda c: (-plain[c], c))
    if others:
        text = ", ".join(f"{c} ×{plain[c]}" for c in others)
        legend.append(("#116149", "", "rules exercised that move no arc:"))
        for chunk in _chunks(text, 62):
            legend.append(("#116149", "", chunk))
    return state_dot(g, title=title, edge_style=edge_style, node_style=node_style, legend=legend,
                     extra=extra, cases=cases)


def _chunks(text: str, width: int) -> list[str]:
    lines, cur = [], ""
    for word in text.split(" "):
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    return lines + ([cur] if cur else [])
