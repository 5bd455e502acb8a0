"""One self-contained HTML page to step through a checked trace.

:func:`report_html` reads a trace and the verdict its check gave, and writes
a page with no external file and no network use (inline CSS, JavaScript and
SVG from Graphviz) that shows, for the step selected:

* the event, and at the divergent step why the trace diverges and what the
  model allowed there (its step in the list carries the same explanation);
* the netstat table of the model next to the kernel's, as ``conform run
  --explain`` computes it (:func:`tcpconform.check.explain.explain_text`),
  and the last state the trace itself showed for each socket;
* the trace's sequence chart (:func:`render.sequence_from_trace`) with the
  step's row marked, and the state diagram with the state of each socket lit.

One step per call and per state event (and the divergent line, whatever it
is), each an ``<li class="step" data-step="N" data-line="L" id="step-N">``
(N from 1); the divergent one also has class ``divergent``. Steps: ←/→ or
j/k, Home/End, ``d`` for the divergent step, a click, or ``#step=N`` (or
``#line=L``) in the address. Once its script ran, ``<body>`` has
``data-ready="true"`` and ``data-selected="N"``. Without Graphviz's ``dot``
the page has the tables alone, and says so.

:func:`write_report` writes the page to a new file; it never overwrites one.
"""

from __future__ import annotations

import html
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from tcpconform.check import explain
from tcpconform.check.search import check_trace
from tcpconform.check.trace import TraceError, read_trace
from tcpconform.check.verdict import Verdict
from tcpconform.diagrams import cache, render

__all__ = ["write_report", "report_html", "ReportExists", "AFTER"]

AFTER = 20
"""Lines shown after a divergence (the check never read them), as ``conform check --diagram`` draws."""
AUTO = "auto"


class ReportExists(FileExistsError):
    """The report's file exists already; nothing was written."""


def write_report(trace_path: str | Path, verdict: Verdict | None, out_file: str | Path,
                 dot: str | None = AUTO) -> Path:
    """Write the report of the trace at ``trace_path`` into the new file ``out_file``
    (see :func:`report_html`); the path written. Raises :class:`ReportExists`
    (an ``OSError``) when ``out_file`` exists, and ``OSError`` when the trace
    cannot be read or the file written."""
    out = Path(out_file)
    if out.exists():
        raise ReportExists(f"{out} exists; nothing is overwritten")
    page = report_html(trace_path, verdict, dot=dot)
    try:
        with open(out, "x", encoding="utf-8") as f:
            f.write(page)
    except FileExistsError:
        raise ReportExists(f"{out} exists; nothing is overwritten") from None
    return out


def report_html(trace_path: str | Path, verdict: Verdict | None = None, dot: str | None = AUTO) -> str:
    """The report page of the trace at ``trace_path``. ``verdict``: what its
    check gave (checked here when None). ``dot``: the Graphviz program, found
    on ``PATH`` by default; None draws nothing."""
    path = Path(trace_path)
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    header, events, error = _read(text)
    if verdict is None:
        verdict = error if error is not None else check_trace(header, iter(events))
    stop = verdict.line if verdict.verdict in ("diverges", "undecided", "invalid") else None
    shown = [e for e in events if stop is None or e.line <= stop + AFTER]
    steps = _steps(lines, shown, verdict, stop)
    dot = render.find_dot() if dot == AUTO else dot
    figures, note = _figures(path.name, header, shown, verdict, dot)
    return _page(path.name, header, verdict, steps, figures, note, len(events) - len(shown))


def _read(text: str) -> tuple[Any, list, Verdict | None]:
    """The header, the events up to the first unusable line, and the invalid verdict if there is one."""
    events: list = []
    try:
        header, stream = read_trace(io.BytesIO(text.encode()))
    except TraceError as e:
        return None, events, Verdict("invalid", e.line, e.message)
    try:
        events.extend(stream)
    except TraceError as e:
        return header, events, Verdict("invalid", e.line, e.message)
    return header, events, None


# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------

def _steps(lines: list[str], events: list, verdict: Verdict, stop: int | None) -> list[dict]:
    """One dict per step: its number ``n``, ``line``, ``raw`` line and ``text``,
    ``status`` (ok, divergent, undecided, invalid, unchecked), ``table`` (the
    explanation's :class:`~tcpconform.check.explain.Step` covering it, None
    when not checked) and ``seen`` (socket -> the last state the trace showed)."""
    checked = "\n".join(lines[:stop] if stop is not None and verdict.verdict == "diverges"
                        else lines[:stop - 1] if stop is not None else lines)
    tables = {s.line: s for s in explain.explain_text(checked) if s.verdict != "invalid"}
    seen: dict[str, str] = {}        # socket -> the last state the trace showed
    table = None
    steps: list[dict] = []
    for e in events:
        is_state = hasattr(e, "state") and not hasattr(e, "op")
        if not (hasattr(e, "op") or is_state or e.line == stop):
            continue
        table = tables.get(e.line, table)
        if is_state:
            seen[e.sock] = e.state
        status = "ok" if stop is None or e.line < stop else \
            ("divergent" if verdict.verdict == "diverges" else verdict.verdict) if e.line == stop else "unchecked"
        steps.append({"n": len(steps) + 1, "line": e.line, "raw": lines[e.line - 1],
                      "text": _event_text(lines[e.line - 1]),
                      "status": status,
                      "table": table if status != "unchecked" else None, "seen": dict(seen)})
    return steps


def _event_text(raw: str) -> str:
    """An event's line as a short text: ``c connect(127.0.0.1:5000) → ok, local 127.0.0.1:40000``."""
    try:
        ev = json.loads(raw)
    except ValueError:
        return raw
    if ev.get("ev") == "state":
        return f"{ev.get('sock')} is {ev.get('state')}"
    if ev.get("ev") != "call":
        return raw
    given = ("addr", "backlog", "len", "how", "cmd", "opt", "value", "flags")
    after = ("local", "peer", "new", "n")
    args = ", ".join(f"{ev[k]}" if k == "addr" else f"{k} {ev[k]}" for k in given if k in ev)
    got = "".join(f", {k} {ev[k]}" for k in after if k in ev)
    return f"{ev.get('sock')} {ev.get('op')}({args}) → {ev.get('ret')}{got}"


def _rows(step: dict) -> list[tuple[str, str, dict | None, dict | None]]:
    """(mark, socket, model row, kernel row) of a step's table, named sockets
    first; the mark as in ``conform run --explain``: ``~`` a kernel state the
    model allows here but does not show, ``*`` one it does not allow."""
    t = step["table"]
    model = {r["key"]: r for r in t.model}
    kernel = {r["key"]: r for r in t.kernel or ()}
    keys = sorted([*model, *(k for k in kernel if k not in model)], key=lambda k: k.startswith("("))
    out = []
    for k in keys:
        m, kr = model.get(k), kernel.get(k)
        out.append((explain.kernel_mark(t, k, m, kr), k, m, kr))
    return out


def _lit(step: dict) -> dict[str, list[str]]:
    """Socket -> the states the model has it in at this step (named sockets that are not gone)."""
    if step["table"] is None:
        return {}
    return {r["sock"]: r["state"].split("|") for r in step["table"].model if r.get("sock") and not r.get("gone")}


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------

def _figures(name: str, header: Any, events: list, verdict: Verdict,
             dot: str | None) -> tuple[dict[str, str], str | None]:
    """The SVG of the sequence chart (``seq``) and the state diagram (``states``),
    and a note when they could not be drawn."""
    if dot is None or header is None:
        why = "Graphviz's dot program was not found" if dot is None else "the trace has no usable header"
        return {}, f"{why}, so this page has the tables alone; {render.INSTALL_HINT}."
    at = verdict.line if verdict.verdict == "diverges" else None
    title = f"{name}: {verdict.verdict}" + (f" at line {verdict.line}" if verdict.line else "")
    seq = _mark_rows(render.sequence_from_trace(events, at, title=title))
    graph = cache.state_graph(header.profile)
    states = render.state_dot(graph, node_style=lambda s: {"class": f"st st_{s}"},
                              title=f"TCP states ({header.profile} profile): each socket's state lit")
    try:
        return {"seq": _svg(seq, dot, "seq-"), "states": _svg(states, dot, "st-")}, None
    except (OSError, subprocess.SubprocessError, render.RenderError) as e:
        return {}, f"Graphviz could not draw the figures ({e}), so this page has the tables alone."


_NODE = re.compile(r'^(\s*"(b|g)(\d+)" \[)(.*)(\];)$')


def _mark_rows(dot_text: str) -> str:
    """The sequence chart's DOT with each row's boxes and line note in class
    ``seqrow ln_L ...``: L, every line of the trace the row stands for (its
    note's ``covers``: the lines it draws and the unchanged ones it leaves out
    up to the next row), else the line its note names."""
    line_of = {}
    for m in re.finditer(r'^\s*"g(\d+)" \[label="line (\d+)[^\n]*', dot_text, re.M):
        covers = re.search(r'\bcovers="([\d ]+)"', m.group(0))
        line_of[m.group(1)] = covers.group(1).split() if covers else [m.group(2)]
    out = []
    for text in dot_text.split("\n"):
        m = _NODE.match(text)
        if m:
            box = re.search(r'\brow="(\d+)"', m.group(4))
            row = m.group(3) if m.group(2) == "g" else box.group(1) if box else None
            if row in line_of:
                lines = " ".join(f"ln_{n}" for n in line_of[row])
                text = f'{m.group(1)}{m.group(4)}, class="seqrow {lines}"{m.group(5)}'
        out.append(text)
    return "\n".join(out)


def _svg(dot_text: str, dot: str, prefix: str) -> str:
    """SVG text for inlining: no XML prolog, doctype or comments, every id prefixed."""
    proc = subprocess.run([dot, "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise render.RenderError(f"{dot} -Tsvg exited {proc.returncode}: {proc.stderr.strip() or 'no message'}")
    svg = proc.stdout[proc.stdout.find("<svg"):]
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)
    return re.sub(r'\bid="', f'id="{prefix}', svg)


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------

def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _summary(verdict: Verdict) -> str:
    if verdict.verdict == "conforms":
        return f"conforms: {verdict.events} events explained by the model"
    at = f" at line {verdict.line}" if verdict.line is not None else ""
    return f"{verdict.verdict}{at}: {verdict.reason}"


def _why(verdict: Verdict, raw: str) -> str:
    """The divergence (or where the check stopped), explained: reason, event, what the model allowed."""
    allowed = ", ".join(verdict.allowed) if verdict.allowed else "nothing"
    what = "diverges" if verdict.verdict == "diverges" else verdict.verdict
    parts = [f'<p class="reason"><b>✗ {what} at line {verdict.line}</b>: {_e(verdict.reason)}</p>',
             f"<pre>{_e(raw)}</pre>"]
    if verdict.verdict == "diverges":
        parts.append(f'<p class="allowed">model allowed here: {_e(allowed)}</p>')
    return f'<div class="why">{"".join(parts)}</div>'


COLUMNS = ("Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State")


def _table(step: dict) -> str:
    t = step["table"]
    if t is None:
        return '<p class="muted">not checked: the check stopped before this line.</p>'
    configs = f"{t.configurations} configuration{'s' if t.configurations != 1 else ''}"
    groups = [f"model ({configs}; one shown)"] + (["kernel"] if t.kernel is not None else [])
    head = ('<tr><th rowspan="2">sock</th>' + "".join(f'<th colspan="5">{_e(g)}</th>' for g in groups)
            + '<th rowspan="2">trace saw</th></tr><tr>'
            + "".join(f"<th>{c}</th>" for c in COLUMNS * len(groups)) + "</tr>")
    body = []
    for mark, key, m, kr in _rows(step):
        cells = explain.netstat_cells(m)[1:] + (explain.netstat_cells(kr)[1:] if t.kernel is not None else [])
        cls = {"~": "allowed", "*": "differs"}.get(mark, "")
        body.append(f'<tr class="{cls}"><td>{_e(mark + " " if mark else "")}{_e(key)}</td>'
                    + "".join(f"<td>{_e(c)}</td>" for c in cells)
                    + f"<td>{_e(step['seen'].get(key, ''))}</td></tr>")
    caption = "" if t.kernel is not None else \
        '<caption>the kernel\'s netstat was not recorded in this trace (conform run --explain records it)</caption>'
    return f'<table class="netstat">{caption}<thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def _page(name: str, header: Any, verdict: Verdict, steps: list[dict], figures: dict[str, str],
          note: str | None, hidden: int) -> str:
    lines_of = {s["line"]: s for s in steps}
    items, details = [], []
    for s in steps:
        cls = " ".join(c for c in ("step", s["status"] if s["status"] != "ok" else "") if c)
        why = _why(verdict, s["raw"]) if s["status"] in ("divergent", "undecided", "invalid") else ""
        items.append(f'<li class="{cls}" id="step-{s["n"]}" data-step="{s["n"]}" data-line="{s["line"]}" '
                     f'data-states="{_e(json.dumps(_lit(s)))}"><a href="#step={s["n"]}" title="{_e(s["raw"])}">'
                     f'<span class="ln">{s["line"]}</span> {_e(s["text"])}</a>{why}</li>')
        details.append(f'<section class="detail {s["status"]}" data-detail="{s["n"]}">'
                       f'<h2>step {s["n"]} of {len(steps)} · line {s["line"]}: {_e(s["text"])}</h2>'
                       f"{why}{_table(s)}</section>")
    if hidden:
        items.append(f'<li class="more">… {hidden} later lines not shown: the check never read them.</li>')
    if verdict.verdict == "invalid" and verdict.line not in lines_of:
        details.insert(0, f'<div class="why">{_e(_summary(verdict))}</div>')
    figs = "".join(f'<figure id="{k}-fig"><figcaption>{cap}</figcaption><div class="scroll">{figures[k]}</div></figure>'
                   for k, cap in (("seq", "the trace as a sequence chart (the selected step marked)"),
                                  ("states", "the state diagram (each socket's state lit)")) if k in figures)
    notice = f'<p class="notice" id="no-figures">{_e(note)}</p>' if note else ""
    profile = f"profile {header.profile}, world {header.world}" if header is not None else ""
    return PAGE.format(
        title=_e(f"{name}: {verdict.verdict}"), name=_e(name), verdict=_e(verdict.verdict),
        summary=_e(_summary(verdict)), profile=_e(profile), count=len(steps), css=CSS, js=JS,
        divergent=next((s["n"] for s in steps if s["status"] == "divergent"), ""),
        items="\n".join(items), details="\n".join(details), figures=figs, notice=notice)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style></head>
<body data-report="tcp-conform" data-verdict="{verdict}" data-steps="{count}" data-divergent="{divergent}">
<header><h1>{name} <span class="verdict {verdict}">{verdict}</span></h1>
<p>{summary} <span class="muted">{profile}</span></p>
<p class="keys muted"><kbd>←</kbd>/<kbd>→</kbd> or <kbd>k</kbd>/<kbd>j</kbd> step · <kbd>Home</kbd>/<kbd>End</kbd>
first/last · <kbd>d</kbd> the divergence · <span id="position"></span></p>{notice}</header>
<main>
<nav id="steps-pane" aria-label="steps"><ol id="steps">
{items}
</ol></nav>
<div id="detail-pane">
{details}
</div>
<div id="figures">{figures}</div>
</main>
<script>{js}</script>
</body></html>
"""

CSS = """
* { box-sizing: border-box; }
body { margin: 0; height: 100vh; display: flex; flex-direction: column; color: #222; background: #fff;
       font: 13px/1.35 system-ui, Helvetica, Arial, sans-serif; }
header { padding: 6px 12px; border-bottom: 1px solid #ccc; background: #f7f7f7; }
header h1 { font-size: 17px; margin: 2px 0; }
header p { margin: 2px 0; }
.muted { color: #777; }
.verdict { font-size: 13px; padding: 1px 8px; border-radius: 9px; color: #fff; background: #1b9e77;
           vertical-align: middle; }
.verdict.diverges, .verdict.invalid { background: #d62728; }
.verdict.undecided { background: #b8860b; }
.notice { background: #fff4d6; border: 1px solid #c9a227; padding: 4px 8px; }
kbd { border: 1px solid #bbb; border-radius: 3px; padding: 0 4px; background: #fff; font-size: 11px; }
main { display: grid; grid-template-columns: 290px minmax(0, 1fr); grid-template-rows: auto 1fr; gap: 8px;
       padding: 8px; flex: 1 1 auto; min-height: 0; }
#steps-pane { grid-row: 1 / span 2; overflow: auto; border: 1px solid #ddd; }
#steps { list-style: none; margin: 0; padding: 0; font: 12px/1.3 ui-monospace, Menlo, Consolas, monospace; }
#steps li { border-bottom: 1px solid #eee; }
#steps li a { display: block; padding: 2px 6px; color: inherit; text-decoration: none; white-space: nowrap;
              overflow: hidden; text-overflow: ellipsis; }
#steps .ln { display: inline-block; min-width: 2.4em; color: #888; text-align: right; margin-right: 4px; }
#steps li.selected { background: #fff3b0; outline: 2px solid #e6a100; outline-offset: -2px; }
#steps li.divergent { background: #fde0e0; color: #b00; }
#steps li.divergent.selected { background: #fbc4c4; }
#steps li.unchecked { color: #aaa; }
#steps li.undecided, #steps li.invalid { background: #fff4d6; }
#detail-pane .undecided .why { border-color: #b8860b; background: #fff4d6; }
#steps li .why { padding: 2px 6px 4px 2.9em; font-family: system-ui, sans-serif; white-space: normal; }
#steps li.more { padding: 4px 6px; color: #888; }
.why pre { white-space: pre-wrap; word-break: break-all; margin: 2px 0; font-size: 11px; }
.why p { margin: 2px 0; }
#detail-pane .detail { display: block; }
.js #detail-pane .detail { display: none; }
.js #detail-pane .detail.shown { display: block; }
#detail-pane { overflow: auto; max-height: 42vh; }
table.netstat caption { caption-side: bottom; text-align: left; color: #777; font: 11px system-ui, sans-serif; }
#detail-pane h2 { font-size: 14px; margin: 0 0 4px; }
#detail-pane .why { border: 2px solid #d62728; background: #fde0e0; padding: 4px 8px; margin-bottom: 6px; }
table.netstat { border-collapse: collapse; font: 12px ui-monospace, Menlo, Consolas, monospace; }
table.netstat th, table.netstat td { border: 1px solid #ccc; padding: 1px 5px; text-align: left; white-space: nowrap; }
table.netstat th { background: #eee; font-family: system-ui, sans-serif; }
table.netstat td:nth-child(7) { border-left: 3px solid #999; }
table.netstat th[colspan]:nth-of-type(3), table.netstat tr + tr th:nth-child(6) { border-left: 3px solid #999; }
table.netstat tr.allowed td { background: #fff8dc; }
table.netstat tr.differs td { background: #fde0e0; }
#figures { display: flex; gap: 8px; min-height: 0; }
#figures figure { margin: 0; flex: 1 1 50%; min-width: 0; display: flex; flex-direction: column;
                  border: 1px solid #ddd; }
#figures figcaption { font-size: 11px; color: #666; padding: 2px 6px; background: #f7f7f7; }
#figures .scroll { overflow: auto; flex: 1 1 auto; min-height: 0; }
#figures svg { width: 100%; height: auto; display: block; }
#seq-fig .seqrow { cursor: pointer; }
#seq-fig g.current polygon { stroke: #e6a100; stroke-width: 3px; }
#seq-fig g.current.node polygon { fill: #fff3b0; }
#seq-fig g.current text { font-weight: bold; fill: #000; }
#states-fig g.lit polygon, #states-fig g.lit path { fill: #ffd54f; stroke: #e65100; stroke-width: 3px; }
#states-fig { flex-grow: 1.25; }
#states-fig text.who { font: bold 20px system-ui, sans-serif; fill: #e65100; }
"""

JS = r"""
(function () {
  "use strict";
  var body = document.body;
  var steps = Array.prototype.slice.call(document.querySelectorAll("#steps li.step"));
  var details = {};
  Array.prototype.forEach.call(document.querySelectorAll("#detail-pane .detail"), function (d) {
    details[d.getAttribute("data-detail")] = d;
  });
  var SVG = "http://www.w3.org/2000/svg";
  var current = -1;

  function each(root, selector, f) { Array.prototype.forEach.call(root.querySelectorAll(selector), f); }

  function lightStates(li) {
    var fig = document.getElementById("states-fig");
    if (!fig) { return; }
    each(fig, ".lit", function (e) { e.classList.remove("lit"); });
    each(fig, "text.who", function (e) { e.parentNode.removeChild(e); });
    var states = JSON.parse(li.getAttribute("data-states") || "{}"), at = {};
    Object.keys(states).forEach(function (sock) {
      states[sock].forEach(function (st) { (at[st] = at[st] || []).push(sock); });
    });
    Object.keys(at).forEach(function (st) {
      var node = fig.querySelector("g.node.st_" + st);
      if (!node) { return; }
      node.classList.add("lit");
      var box = node.getBBox(), t = document.createElementNS(SVG, "text");
      t.setAttribute("class", "who");
      t.setAttribute("x", box.x + box.width + 3);
      t.setAttribute("y", box.y + 2);
      t.textContent = at[st].join(", ");
      node.appendChild(t);
    });
  }

  function markRow(li) {
    var fig = document.getElementById("seq-fig");
    if (!fig) { return; }
    each(fig, ".current", function (e) { e.classList.remove("current"); });
    var row = fig.querySelectorAll(".ln_" + li.getAttribute("data-line"));
    Array.prototype.forEach.call(row, function (e) { e.classList.add("current"); });
    if (row.length) {
      var pane = fig.querySelector(".scroll"), r = row[0].getBoundingClientRect(), p = pane.getBoundingClientRect();
      pane.scrollTop += r.top - p.top - pane.clientHeight / 2;
    }
  }

  function select(i, fromHash) {
    if (!steps.length) { return; }
    i = Math.max(0, Math.min(steps.length - 1, i));
    if (current >= 0) {
      steps[current].classList.remove("selected");
      steps[current].removeAttribute("aria-current");
      details[steps[current].getAttribute("data-step")].classList.remove("shown");
    }
    current = i;
    var li = steps[i], n = li.getAttribute("data-step");
    li.classList.add("selected");
    li.setAttribute("aria-current", "step");
    details[n].classList.add("shown");
    body.setAttribute("data-selected", n);
    document.getElementById("position").textContent = "step " + n + " of " + steps.length;
    var pane = document.getElementById("steps-pane"), r = li.getBoundingClientRect(), p = pane.getBoundingClientRect();
    if (r.top < p.top || r.bottom > p.bottom) { pane.scrollTop += r.top - p.top - pane.clientHeight / 3; }
    lightStates(li);
    markRow(li);
    if (!fromHash) {
      try { history.replaceState(null, "", "#step=" + n); } catch (e) { /* a file: URL may refuse */ }
    }
  }

  function fromHash() {
    var m = /^#(step|line)=(\d+)$/.exec(location.hash);
    if (!m) { return false; }
    var attr = m[1] === "step" ? "data-step" : "data-line";
    for (var i = 0; i < steps.length; i++) {
      if (steps[i].getAttribute(attr) === m[2]) { select(i, true); return true; }
    }
    return false;
  }

  function divergent() {
    for (var i = 0; i < steps.length; i++) {
      if (steps[i].classList.contains("divergent")) { return i; }
    }
    return -1;
  }

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    var k = e.key;
    if (k === "ArrowRight" || k === "j") { select(current + 1); }
    else if (k === "ArrowLeft" || k === "k") { select(current - 1); }
    else if (k === "Home") { select(0); }
    else if (k === "End") { select(steps.length - 1); }
    else if (k === "d" && divergent() >= 0) { select(divergent()); }
    else { return; }
    e.preventDefault();
  });
  steps.forEach(function (li, i) {
    li.addEventListener("click", function (e) { e.preventDefault(); select(i); });
  });
  each(document, "#seq-fig .seqrow", function (g) {
    g.addEventListener("click", function () {
      var m = /\bln_(\d+)\b/.exec(g.getAttribute("class"));
      for (var i = 0; m && i < steps.length; i++) {
        if (steps[i].getAttribute("data-line") === m[1]) { select(i); return; }
      }
    });
  });
  window.addEventListener("hashchange", fromHash);
  body.classList.add("js");
  if (!fromHash()) { select(Math.max(divergent(), 0), true); }
  body.setAttribute("data-ready", "true");
})();
"""
