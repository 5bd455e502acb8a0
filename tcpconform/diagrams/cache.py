"""The state graph kept on disk between runs.

Drawing a check's coverage (``conform check --diagram``) needs the state
diagram, which :func:`tcpconform.model.graph.state_graph` derives from the
whole one-endpoint exploration of the rule table (about a second).  The
diagram depends only on the model's code, so it is kept in the user's cache
folder (``$XDG_CACHE_HOME/tcp-conform``, else ``~/.cache/tcp-conform``),
under a digest of every source file of :mod:`tcpconform.model`: any change to
the model makes a new entry, and an entry is never read for another model.
When the folder cannot be written, or an entry cannot be read, the graph is
derived again; nothing else is touched.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from tcpconform.model import graph as mgraph
from tcpconform.model.graph import Edge, Graph
from tcpconform.properties import store

__all__ = ["state_graph", "case_states", "folder", "digest"]

_MODEL = Path(mgraph.__file__).resolve().parent
_MEMORY: dict = {}


def folder() -> Path:
    return store.cache_root()


def digest() -> str:
    """A digest of the model's source: what the state graph is a function of."""
    h = hashlib.sha256()
    for p in sorted(_MODEL.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def _entry(profile: str) -> dict:
    hit = _MEMORY.get(profile)
    if hit is not None:
        return hit
    path = folder() / f"state-graph-{profile}-{digest()}.json"
    try:
        data = json.loads(path.read_text())
        entry = {"graph": Graph(data["profile"], tuple(data["nodes"]),
                                tuple(Edge(**{**e, "cases": tuple(e["cases"])}) for e in data["edges"]),
                                data["initial"]),
                 "case_states": {k: frozenset(v) for k, v in data["case_states"].items()}}
    except (OSError, ValueError, KeyError, TypeError):
        g = mgraph.state_graph(profile)
        where = mgraph.case_states(profile)
        entry = {"graph": g, "case_states": where}
        text = json.dumps({"profile": g.profile, "nodes": list(g.nodes), "initial": g.initial,
                           "edges": [asdict(e) for e in g.edges],
                           "case_states": {k: sorted(v) for k, v in where.items()}})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(text)
            os.replace(tmp, path)
        except OSError:
            pass  # not kept: derived again next time
    _MEMORY[profile] = entry
    return entry


def state_graph(profile: str = "linux") -> Graph:
    """:func:`tcpconform.model.graph.state_graph` of the model's own table."""
    return _entry(profile)["graph"]


def case_states(profile: str = "linux") -> dict[str, frozenset]:
    """:func:`tcpconform.model.graph.case_states` of the model's own table."""
    return _entry(profile)["case_states"]
