"""``conform run --explain``: the model's netstat next to the kernel's, step by step.

For a trace recorded with ``x-netstat`` events (``Recorder(netstat=True)``),
:func:`explain_text` replays the trace through the checker's plain engine (or
the one with observers: :func:`~tcpconform.check.search.engine_for`) and,
after every call (where the
recorder took its ``x-netstat`` snapshot), sets two ``netstat -tan`` tables
side by side, one row per socket:

* **model**: one configuration the checker's frontier allows after the
  call's events (the frontier joined with the parked connections), and how
  many there are: when the trace carries the kernel's states (the
  ``x-netstat`` rows, else the ``x-state`` changes seen so far), the one
  whose sockets are in the kernel's states (then whose queues are the
  kernel's), else the first in a fixed order. ``Recv-Q`` is the
  endpoint's receive queue (a listener: its accept queue's length),
  ``Send-Q`` the bytes of DATA in flight from the endpoint (a listener: its
  backlog), the addresses are the model's (``?`` for a port the trace has
  not shown), the state is what a ``state`` event may say
  (:func:`tcpconform.model.system.observe`). Request socks and connections waiting in an
  accept queue, which have no name, are named by their address pair.
* **kernel**: the ``x-netstat`` rows: TCP_INFO and the SIOCINQ/SIOCOUTQ
  ioctls for open descriptors, sock_diag for the rest (see
  :meth:`tcpconform.live.recorder.Recorder.netstat`).

Rows are matched by socket name (or address pair). In the first column,
``~`` marks a row whose kernel state differs from the configuration shown
but is one the model allows at this point (segments the model still has in
flight were delivered), ``*`` one whose kernel state the model does not
allow here. Queue sizes
may differ legitimately (the kernel counts unacknowledged bytes, the model
undelivered ones). At a divergence the explanation stops with the verdict,
worded as ``conform check`` words it; at the end of a conforming trace it
says the check's own count of events (call and state events; the ``x-``
lines are not events of the model). Line numbers are those of the trace
explained (``format_steps`` names it when told where it is).

This module also holds the one netstat-table writer of the project: the
row of an ``x-netstat`` event (:func:`netstat_event`), an address as netstat
shows it (:func:`netstat_addr`), a row's cells (:func:`netstat_cells`) and a
table of them (:func:`netstat_table`, :func:`aligned`), used here, by the
recorder and by the proofs' step tables (:mod:`tcpconform.properties.runs`,
:mod:`tcpconform.properties.pair`).
Pure: no I/O besides the text it is given.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable

from tcpconform.check.observed import kernel_state
from tcpconform.check.search import Run, clock_for, engine_for
from tcpconform.check.trace import TraceError, format_addr, read_trace
from tcpconform.check.verdict import divergence_lines
from tcpconform.model import system
from tcpconform.model.system import Config

__all__ = ["Step", "Explainer", "explain_text", "explained", "format_steps", "model_rows", "kernel_match",
           "conforms_line", "COLUMNS", "NETSTAT_FIELDS", "netstat_addr", "netstat_event", "netstat_cells",
           "netstat_table", "aligned"]

COLUMNS = ("Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State")
NETSTAT_FIELDS = ("sock", "state", "recvq", "sendq", "local", "foreign")
"""The fields of a row of an ``x-netstat`` event, in the order they are written."""
UNBOUND = "0.0.0.0:*"
"""netstat's address of a socket that has none (not bound, no peer)."""
ANY_PEER = "*:*"
"""netstat's foreign address of a listener."""


# ---------------------------------------------------------------------------
# netstat rows and tables
# ---------------------------------------------------------------------------

def netstat_addr(addr: Any, listener: bool = False) -> str:
    """An address as netstat shows it: ``IP:PORT`` (``IP:?`` for a port the
    model does not know yet, a negative one); no address: ``*:*`` for a
    listener's foreign address, else ``0.0.0.0:*``."""
    if addr is None:
        return ANY_PEER if listener else UNBOUND
    ip, port = addr[0], addr[1]
    return format_addr((ip, "?" if isinstance(port, int) and port < 0 else port))


def netstat_event(rows: Iterable[dict], **fields: Any) -> dict:
    """An ``x-netstat`` event: ``fields`` (e.g. ``step``), then ``rows``, each
    cut to :data:`NETSTAT_FIELDS` (a checker ignores the event)."""
    return {"ev": "x-netstat", **fields, "rows": [{k: r[k] for k in NETSTAT_FIELDS} for r in rows]}


def netstat_cells(row: dict | None) -> list[str]:
    """The six :data:`COLUMNS` of a row (empty cells for no row; a queue not
    known is ``?``; a row's ``note``, if any, follows its state in brackets;
    a socket that is gone shows dashes)."""
    if row is None:
        return ["", "", "", "", "", ""]
    if row.get("gone"):
        return ["tcp", "-", "-", "-", "-", "CLOSED (gone)"]
    q = lambda v: "?" if v is None else str(v)  # noqa: E731
    state = row["state"] + (f" ({row['note']})" if row.get("note") else "")
    return ["tcp", q(row["recvq"]), q(row["sendq"]), row["local"], row["foreign"], state]


def aligned(table: list[list[str]], right: Collection[int] = ()) -> list[str]:
    """Rows of cells as text lines: each column as wide as its widest cell,
    the columns numbered in ``right`` set to the right, two spaces between
    columns and before the first, no trailing blanks."""
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return ["  " + "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in table]


def netstat_table(rows: Iterable[tuple[str, dict | None]], queues_right: bool = True) -> list[str]:
    """A netstat table as text lines: a heading (``sock`` and :data:`COLUMNS`),
    then one line per ``(name, row)``; the queue columns set to the right
    unless ``queues_right`` is false."""
    table = [["sock", *COLUMNS], *([name, *netstat_cells(row)] for name, row in rows)]
    return aligned(table, (2, 3) if queues_right else ())


@dataclass
class Step:
    line: int                 # line of the call explained
    call: str                 # the call's JSON text
    model: list[dict]         # rows
    kernel: list[dict] | None  # rows; None when the trace has no x-netstat here
    configurations: int = 1
    possible: dict = field(default_factory=dict)  # key -> states the model allows now
    verdict: str | None = None  # set on the last step when the trace diverges there
    detail: list[str] = field(default_factory=list)
    matched: bool = False     # the configuration shown is in the kernel's states (of those known)


def _addr(a: Any) -> str:
    return netstat_addr(a, listener=True)


def _join(frontier: set, parked: dict, prefer: Any = None) -> tuple[Any, int]:
    """One configuration and how many there are: of the frontier and of each
    parked connection, the part ``prefer`` scores highest (the first by a
    fixed order among equals; without ``prefer``, the first)."""
    def first(configs: Any) -> Any:
        if prefer is None:
            return min(configs, key=repr)
        return min(configs, key=lambda c: (tuple(-x for x in prefer(c)), repr(c)))

    count = len(frontier)
    base = first(frontier)
    eps, net = list(base.eps), list(base.net)
    for unit in sorted(parked, key=repr):
        parts = parked[unit]
        count *= len(parts)
        part = first(parts)
        eps += part.eps
        net += part.net
    return Config(tuple(sorted(eps, key=repr)), tuple(sorted(net, key=repr))), count


def _row_key(key: Any, e: Any) -> str:
    """How a row names an endpoint: the socket's name, else its address pair."""
    return key if system.is_named(key) else _pair(e.local, e.remote)


def _inflight(cfg: Config) -> dict[tuple, int]:
    """Bytes of DATA in flight on each channel."""
    out: dict[tuple, int] = {}
    for (src, dst), segs in cfg.net:
        out[(src, dst)] = sum(n for kind, n in segs if kind == "DATA")
    return out


def _queues(cfg: Config, e: Any, inflight: dict[tuple, int]) -> tuple[int, int]:
    """(Recv-Q, Send-Q) as the model's row shows them."""
    if e.core.st == "LISTEN":
        return len(e.queue), max(e.cap - 1, 0)
    return e.core.rcvq, inflight.get((e.local, e.remote), 0) if e.local and e.remote else 0


def kernel_match(kernel: dict[str, dict] | None, seen: dict[str, str], profile: str):
    """How well a configuration (or a part of one) agrees with the kernel, as a score
    (higher is better), or None when nothing of the kernel is known: with ``kernel``
    (an ``x-netstat`` snapshot's rows by key), its sockets whose state a state event
    may read as the kernel's, then those whose queues are the kernel's; else with
    ``seen`` (each name's last ``x-state`` change), its sockets whose full socket is
    in the state the kernel went to."""
    if kernel is not None:
        def score(cfg: Config) -> tuple[int, int]:
            inflight = _inflight(cfg)
            states = queues = 0
            for key, e in cfg.eps:
                row = kernel.get(_row_key(key, e))
                if row is None:
                    continue
                seen_as = system.observe(cfg, key, profile) if system.is_named(key) else {e.core.st}
                states += row["state"] in seen_as
                queues += (row.get("recvq"), row.get("sendq")) == _queues(cfg, e, inflight)
            return states, queues
        return score
    if seen:
        return lambda cfg: (sum(kernel_state(cfg, name) == st for name, st in seen.items()
                                if any(k == name for k, _ in cfg.eps)),)
    return None


def model_rows(checker: Any, names: list[str], prefer: Any = None) -> tuple[list[dict], int]:
    """Netstat rows of one configuration the checker allows now (the one ``prefer``
    scores highest, :func:`kernel_match`), and how many it allows."""
    cfg, count = _join(checker.frontier, checker.parked, prefer)
    inflight = _inflight(cfg)
    rows: list[dict] = []
    present: set[str] = set()
    for key, e in cfg.eps:
        core = e.core
        named = system.is_named(key)
        recvq, sendq = _queues(cfg, e, inflight)
        state = "|".join(sorted(system.observe(cfg, key, checker.profile))) if named else core.st
        if named:
            present.add(key)
        rows.append({"sock": key if named else None, "key": _row_key(key, e),
                     "state": state, "recvq": recvq, "sendq": sendq,
                     "local": netstat_addr(e.local or None),
                     "foreign": netstat_addr(e.remote or None, listener=core.st == "LISTEN")})
    for name in names:
        if name not in present:
            rows.append({"sock": name, "key": name, "state": "CLOSED", "recvq": None, "sendq": None,
                         "local": "-", "foreign": "-", "gone": True})
    return rows, count


def possible_states(checker: Any, names: list[str]) -> dict[str, set[str]]:
    """Every state each socket may be in now: over every configuration the checker allows and
    every delivery that may already have happened (keys as in :func:`model_rows`)."""
    out: dict[str, set[str]] = {}
    sources = list(checker.frontier) + [c for parts in checker.parked.values() for c in parts]
    for c in sources:
        for c2 in system.closure(c, checker.profile, False):
            for key, e in c2.eps:
                if system.is_named(key):
                    out.setdefault(key, set()).update(system.observe(c2, key, checker.profile))
                else:
                    out.setdefault(_pair(e.local, e.remote), set()).add(e.core.st)
    for name in names:
        if not any(name == k for c in sources for k, _ in c.eps):
            out.setdefault(name, set()).add("CLOSED")
    return out


def _pair(local: Any, remote: Any) -> str:
    return f"({_addr(local)}>{_addr(remote)})"


class Explainer:
    """The steps of an explanation, read off an engine that something else
    feeds: call :meth:`before` with each event before the engine is fed it,
    then :meth:`diverged`, :meth:`invalid` or :meth:`end`; :attr:`steps`
    holds one :class:`Step` per call.  :func:`explain_text` drives one; so
    does ``conform run``, in the same pass that checks a recorded trace."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.names: list[str] = []  # every socket the trace introduced so far
        self.steps: list[Step] = []
        self.pending: Step | None = None  # the last call, until its x-netstat snapshot
        self.seen: dict[str, str] = {}  # each name's state after its last x-state change (the kernel's)

    def before(self, engine: Any, ev: Any) -> bool:
        """Note ``ev``; whether the engine is to be fed it (an ``x-netstat``
        snapshot is read here, no engine reads it)."""
        kind = getattr(ev, "ev", None)
        if kind == "x-netstat":
            self._flush(engine, [dict(r, key=r.get("sock") or f"({r['local']}>{r['foreign']})")
                                 for r in ev.data.get("rows", [])])
            return False
        if kind == "x-state" and isinstance(ev.data.get("sock"), str) and isinstance(ev.data.get("to"), str):
            self.seen[ev.data["sock"]] = ev.data["to"]
        if hasattr(ev, "op"):
            self._flush(engine, None)
            self.pending = Step(ev.line, self.lines[ev.line - 1], [], None)
            for name in (ev.sock if ev.op == "socket" and ev.ret == "ok" else None, ev.new):
                if name and name not in self.names:
                    self.names.append(name)
        return True

    def _flush(self, engine: Any, kernel: list[dict] | None) -> None:
        step, self.pending = self.pending, None
        if step is not None:
            self._model(step, engine, kernel)
            step.possible = {k: sorted(v) for k, v in possible_states(engine, self.names).items()}
            step.kernel = kernel
            self.steps.append(step)

    def _model(self, step: Step, engine: Any, kernel: list[dict] | None) -> None:
        """The step's model rows: the configuration that agrees best with what is known of the kernel."""
        rows = {r["key"]: r for r in kernel} if kernel is not None else None
        prefer = kernel_match(rows, self.seen, engine.profile)
        step.model, step.configurations = model_rows(engine, self.names, prefer)
        if rows is not None:
            shown = [(m, rows[m["key"]]) for m in step.model if m["key"] in rows and not m.get("gone")]
            step.matched = all(k["state"] in m["state"].split("|") for m, k in shown)

    def diverged(self, engine: Any, ev: Any, bad: Any) -> None:
        """The engine found ``ev`` diverging (``bad``, a verdict): the last step says so,
        as ``conform check`` does (:func:`tcpconform.check.verdict.divergence_lines`)."""
        step, self.pending = self.pending or Step(ev.line, self.lines[ev.line - 1], [], None), None
        self._model(step, engine, None)
        step.verdict = bad.verdict
        if bad.verdict == "undecided":  # the search stopped at one of its bounds: no divergence
            step.detail = [f"undecided at line {bad.line}: {bad.reason}", f"  {self.lines[bad.line - 1]}"]
        else:
            step.detail = divergence_lines(bad, self.lines[bad.line - 1])
        self.steps.append(step)

    def invalid(self, line: int, message: str) -> None:
        self.steps.append(Step(line, "", [], None, verdict="invalid", detail=[f"invalid at line {line}: {message}"]))

    def end(self, engine: Any) -> None:
        """The trace ended, explained: the last step says so, with the check's own
        count of events (the engine's, as its verdict has it)."""
        self._flush(engine, None)
        if self.steps:
            self.steps[-1].detail.append(conforms_line(engine.events, engine.x_checked, len(self.lines) - 1))


def explain_text(text: str) -> list[Step]:
    """Replay a trace through the checker; one :class:`Step` per call (see the module docstring)."""
    explainer = Explainer(text.splitlines())
    try:
        header, events = read_trace(io.BytesIO(text.encode()))
        engine, events = engine_for(header, events, memoised=False)
        run = Run(engine, clock=clock_for(header))
        for ev in events:
            if explainer.before(engine, ev) and run.feed(ev) is not None:
                explainer.diverged(engine, ev, run.verdict)
                return explainer.steps
    except TraceError as e:
        explainer.invalid(e.line, e.message)
        return explainer.steps
    explainer.end(engine)
    return explainer.steps


def conforms_line(events: int, x_checked: int = 0, lines: int | None = None) -> str:
    """How an explained trace ends: the check's count of events (call and state
    events, as its verdict says), the observations it checked, and (given) how
    many lines the trace has after its header, its ``x-`` lines included."""
    text = f"conforms: {events} events explained (call and state events)"
    if x_checked:
        text += f"; {x_checked} x-packet/x-state observations checked"
    if lines is not None and lines != events:
        text += f"; the trace has {lines} lines after its header, x- lines included"
    return text


def kernel_mark(step: Step, key: str, model_row: dict | None, kernel_row: dict | None) -> str:
    """How the kernel's state of ``key`` at ``step`` stands to the model's: ``""``
    shown (or no kernel side), ``~`` allowed here but not the configuration shown,
    ``*`` not allowed."""
    if step.kernel is None:
        return ""
    shown = {"CLOSED"} if model_row is None or model_row.get("gone") else set(model_row["state"].split("|"))
    state = "CLOSED" if kernel_row is None else kernel_row["state"]  # not listed: gone
    if state in shown:
        return ""
    return "~" if state in set(step.possible.get(key, ())) | shown else "*"


def format_steps(steps: list[Step], source: str | None = None) -> str:
    """The steps as text: per call, the two tables side by side (``source``: the
    file whose lines the steps number, named first)."""
    out: list[str] = [f"lines of {source}", ""] if source and steps else []
    for step in steps:
        out.append(f"line {step.line}: {_call_text(step.call)}")
        kernel = {r["key"]: r for r in step.kernel} if step.kernel is not None else {}
        model = {r["key"]: r for r in step.model}
        keys = list(model) + [k for k in kernel if k not in model]
        keys.sort(key=lambda k: k.startswith("("))  # named sockets first, in the model's order
        shown = "the one in the kernel's states shown" if step.matched and step.configurations > 1 else "one shown"
        head_model = f"model ({step.configurations} configuration{'s' if step.configurations != 1 else ''}; {shown})"
        head_kernel = "kernel" if step.kernel is not None else "kernel (not recorded)"
        table = [["", "sock", *COLUMNS, "|", *COLUMNS]]
        for k in keys:
            m, kr = model.get(k), kernel.get(k)
            mark = kernel_mark(step, k, m, kr)
            name = k if len(k) <= 40 else k[:37] + "..."
            table.append([mark, name, *netstat_cells(m), "|", *netstat_cells(kr)])
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        left = sum(widths[:8]) + 2 * 8
        out.append("  " + " " * (widths[0] + widths[1] + 4) + head_model.ljust(left - widths[0] - widths[1] - 4)
                   + head_kernel)
        out.extend(aligned(table, (3, 4, 10, 11)))
        out.extend("  " + d for d in step.detail)
        out.append("")
    return "\n".join(out)


def _call_text(text: str) -> str:
    """``{"ev":"call","sock":"c","op":"connect",...}`` -> ``c connect addr=... -> EINPROGRESS local=...``."""
    try:
        ev = json.loads(text)
    except ValueError:
        return text
    if ev.get("ev") != "call":
        return text
    args = " ".join(f"{k}={v}" for k, v in ev.items() if k in ("addr", "backlog", "len", "how", "nonblock", "linger0"))
    res = " ".join(f"{k}={v}" for k, v in ev.items() if k in ("local", "peer", "new", "n"))
    return f"{ev['sock']} {ev['op']}({args}) -> {ev['ret']}{' ' + res if res else ''}"


def explained(text: str, source: str | None = None) -> dict:
    """A trace explained (:func:`explain_text`), as ``conform run --explain``
    reports it: ``explain`` (:func:`explain_json`) and ``explain_text``
    (:func:`format_steps`; ``source``: the file whose lines it numbers)."""
    steps = explain_text(text)
    return {"explain": explain_json(steps), "explain_text": format_steps(steps, source)}


def explain_json(steps: list[Step]) -> list[dict]:
    """The steps as JSON: an address a gone socket no longer has is null (the text shows ``-``)."""
    def rows(table):
        return None if table is None else [{k: (None if k in ("local", "foreign") and v == "-" else v)
                                            for k, v in r.items()} for r in table]
    return [{"line": s.line, "call": json.loads(s.call) if s.call else None, "configurations": s.configurations,
             "possible": s.possible,
             "model": rows(s.model), "kernel": rows(s.kernel), "verdict": s.verdict, "detail": s.detail}
            for s in steps]
