"""The rule table as a document (docs/rules.md), derived, never written by hand.

``python -m tcpconform.model.doc`` prints it; ``python -m tcpconform.model.doc --write`` writes
docs/rules.md; a test fails when the committed file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tcpconform.model import options, rules, vocab
from tcpconform.model.table import Case, Outcome

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "rules.md"

TRIGGER_TITLES = {
    "call": "Calls",
    "seg": "Arriving segments",
    "timer": "Timers",
}


def _values(v) -> str:
    vals = sorted(map(str, v))
    return vals[0] if len(vals) == 1 else "{" + ", ".join(vals) + "}"


def _guard(g) -> str:
    return ", ".join(f"{k}={_values(v)}" for k, v in g.items()) or "otherwise"


def _outcome(o: Outcome) -> str:
    parts = []
    ret = {"$err": "the pending error", "WAIT": "blocks"}.get(o.ret, o.ret)
    if o.when:
        parts.append(f"if {_guard(o.when)}:")
    parts.append(ret)
    if o.n:
        parts.append({"len": "n=len", "partial": "1≤n<len", "upto_rcvq": "1≤n≤min(len, Recv-Q)",
                      "zero": "n=0"}[o.n])
    sets = [f"{k}→{v}" for k, v in o.set.items()]
    if o.rcvq:
        sets.append({"minus_n": "Recv-Q−n", "plus_seg": "Recv-Q+bytes", "zero": "Recv-Q→0"}[o.rcvq])
    if sets:
        parts.append("; " + ", ".join(sets))
    if o.emit:
        parts.append("; sends " + ",".join(o.emit))
    if o.via:
        parts.append("; passes through " + ",".join(o.via))
    if o.tags:
        parts.append("; " + ", ".join(o.tags))
    if o.value:
        parts.append(f"; returns {o.value}")
    if set(o.profiles) != set(vocab.PROFILES):
        parts.append(f"[{'/'.join(sorted(o.profiles))}]")
    return " ".join(parts).replace(" ;", ";")


def rule_anchor(case_id: str) -> str:
    """The anchor of a rule's row in the document (``docs/rules.md#rule-<id>``)."""
    return f"rule-{case_id}"


def _esc(text: str) -> str:
    return text.replace("|", "\\|")


def departures(cases=rules.CASES) -> list[Case]:
    """Cases where Linux departs from RFC 9293 or POSIX (``Case.departs``; the note says how)."""
    return [c for c in cases if c.departs]


def render(cases=rules.CASES) -> str:
    out = [
        "# The rule table",
        "",
        "Generated from `tcpconform/model/rules.py` by `python -m tcpconform.model.doc --write`; do not edit.",
        "Cases of one trigger are tried in order; the first whose guard holds decides;",
        "each of its outcomes is allowed (under every profile, "
        + ", ".join(f"`{p}`" for p in vocab.PROFILES) + ", unless marked).",
        "`INTERP` marks an interpretation the model had to choose.",
        "",
        "## Where Linux departs from RFC 9293 or POSIX",
        "",
        "| rule | what | source |",
        "|---|---|---|",
    ]
    for c in departures(cases):
        out.append(f"| `{c.id}` | {_esc(c.note)} | {_esc(c.source)} |")
    for kind, title in TRIGGER_TITLES.items():
        out += ["", f"## {title}", "", "| rule | trigger | when | outcomes | source | note |",
                "|---|---|---|---|---|---|"]
        for c in cases:
            if c.kind != kind or "rfc" in c.profiles:
                continue
            outs = "<br>".join(_esc(_outcome(o)) for o in c.outcomes)
            only = f" [{'/'.join(sorted(c.profiles))}]" if set(c.profiles) != set(vocab.PROFILES) else ""
            out.append(f"| <a id=\"{rule_anchor(c.id)}\"></a>`{c.id}`{only} | {c.what if kind != 'seg' else 'segment'} | {_esc(_guard(c.when))} "
                       f"| {outs} | {_esc(c.source)} | {_esc(c.note)} |")
    out += ["", "## Readiness: what poll() reports", "",
            "A level-triggered poll reports exactly the events that must hold, of those asked for "
            "(ERR, HUP and NVAL always), and may report those that may; an edge-triggered epoll reports "
            "only events that may hold. A closed descriptor reports NVAL alone (`poll.nval`).", "",
            "| event | must, when any of | may also, when any of | source |", "|---|---|---|---|"]
    for r in rules.POLL_RULES:
        must = "<br>".join(_esc(_guard(g)) for g in r.must) or "never"
        may = "<br>".join(_esc(_guard(g)) for g in r.may) or "—"
        out.append(f"| {r.event} | {must} | {may} | {_esc(r.source)} |")
    out += ["", "## Socket options", "",
            "What getsockopt reads back after setsockopt, what a fresh socket reads, whether an accepted "
            "socket inherits it, and what the model does with it (tcpconform/model/options.py).", "",
            "| option | level | read back | default | inherited | changes | source |",
            "|---|---|---|---|---|---|---|"]
    for o in options.OPTIONS:
        default = "unknown (any)" if o.default is None else str(o.default)
        out.append(f"| `{o.name}` | {o.level} | {o.readback} | {_esc(default)} | "
                   f"{'yes' if o.inherited else 'no'} | {o.effect or 'timing only'} | {_esc(o.source)} |")
    out += ["", "Ports shared despite a holder (bind and listen):", ""]
    for effect, unless, src in options.SHARING:
        extra = f", unless the holder is in {', '.join(unless)}" if unless else ""
        out.append(f"* both sockets set {effect}{extra} — {src}")
    out += ["", "## How long timers run (traces with times)", "",
            "| timer | length | setting | default | source |", "|---|---|---|---|---|"]
    for timer, (how, name, default, src) in rules.TIMER_LENGTHS.items():
        length = "the setting, in seconds" if how == "seconds" else "at least r + 1 s for r retries"
        out.append(f"| {timer} | {length} | {name or 'fixed'} | {default} | {_esc(src)} |")
    out += ["", "## RFC 9293 arcs no sockets API takes (drawn in the diagrams only)", "",
            "| rule | when | RFC | Linux |", "|---|---|---|---|"]
    for c in cases:
        if "rfc" in c.profiles:
            out.append(f"| `{c.id}` | {_esc(_guard(c.when))} | {_esc(c.source)} | {_esc(c.note)} |")
    return "\n".join(out) + "\n"


def emit(text: str, path: Path, argv=None) -> None:
    """Print a generated document, or with ``--write`` write it to ``path``."""
    argv = sys.argv[1:] if argv is None else argv
    if "--write" in argv:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    else:
        sys.stdout.write(text)


def main(argv=None) -> int:
    emit(render(), DOC_PATH, argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
