"""A reader for the DOT this project writes, for the diagram tests: statements
one per line, ``ID [attrs];`` and ``ID -> ID [attrs];``, values "quoted" or <HTML>."""

from __future__ import annotations

from tcpconform.model import graph


def _read_id(s: str, i: int) -> tuple[str, int]:
    if s[i] == '"':
        return _read_quoted(s, i)
    j = i
    while j < len(s) and (s[j].isalnum() or s[j] == "_"):
        j += 1
    return s[i:j], j


def _read_quoted(s: str, i: int) -> tuple[str, int]:
    assert s[i] == '"'
    out, j = [], i + 1
    while s[j] != '"':
        if s[j] == "\\":
            nxt = s[j + 1]
            out.append("\n" if nxt == "n" else nxt)
            j += 2
        else:
            out.append(s[j])
            j += 1
    return "".join(out), j + 1


def _read_html(s: str, i: int) -> tuple[str, int]:
    depth, j = 0, i
    while True:
        if s[j] == "<":
            depth += 1
        elif s[j] == ">":
            depth -= 1
            if depth == 0:
                return s[i:j + 1], j + 1
        j += 1


def _read_attrs(s: str, i: int) -> dict:
    attrs: dict[str, str] = {}
    assert s[i] == "["
    i += 1
    while s[i] != "]":
        if s[i] in ", ":
            i += 1
            continue
        key, i = _read_id(s, i)
        assert s[i] == "=", s[i:i + 20]
        i += 1
        if s[i] == '"':
            value, i = _read_quoted(s, i)
        elif s[i] == "<":
            value, i = _read_html(s, i)
        else:
            value, i = _read_id(s, i)
        attrs[key] = value
    return attrs


def parse_dot(text: str) -> tuple[dict[str, dict], list[tuple[str, str, dict]]]:
    nodes: dict[str, dict] = {}
    edges: list[tuple[str, str, dict]] = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(("digraph", "}", "{", "graph[", "node[", "edge[", "subgraph")):
            continue
        a, i = _read_id(s, 0)
        if not a:
            continue
        if s[i:i + 4] == " -> ":
            b, j = _read_id(s, i + 4)
            j += s[j:].startswith(" ")
            edges.append((a, b, _read_attrs(s, j) if s[j:j + 1] == "[" else {}))
        else:
            i += s[i:].startswith(" ")
            if s[i:i + 1] == "[":
                nodes[a] = _read_attrs(s, i)
    return nodes, edges


def drawn_edges(text: str) -> set[tuple[str, str, str, str]]:
    """(from-state, to-state, label, case) for every graph edge the DOT draws,
    checked against the states of the boxes the arrow joins."""
    nodes, edges = parse_dot(text)
    found: set[tuple[str, str, str, str]] = set()
    for tail, head, a in edges:
        if "cases" not in a:
            continue   # layout guides, legend
        if a.get("dir") == "back":
            tail, head = head, tail
        assert nodes[tail]["state"] == a["src_state"], (tail, a)
        assert nodes[head]["state"] == a["dst_state"], (head, a)
        cases = a["cases"].split()
        events = a["events"].split("\n")
        assert len(cases) == len(events), a
        for case_id, label in zip(cases, events):
            found.add((a["src_state"], a["dst_state"], label, case_id))
    return found


def graph_edges(g: graph.Graph) -> set[tuple[str, str, str, str]]:
    return {(e.src, e.dst, e.label, c) for e in g.edges for c in e.cases}
