"""The ``conform`` command line: the only module that reads arguments.

``conform check TRACE [--json]`` decides whether a recorded trace is explained
by the model (exit 0 conforms, 1 diverges, 2 unusable input).  ``run``,
``diagram`` and ``prove`` call the functions that implement them with typed
arguments (:func:`tcpconform.live.run.run_scenarios`,
:func:`tcpconform.live.campaign.run_campaign`,
:func:`tcpconform.diagrams.render.write_diagrams`,
:func:`tcpconform.properties.prove.prove`) and print the reports they return.
Input problems are reported as verdicts, never as tracebacks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
from pathlib import Path

from tcpconform import envelope
from tcpconform.check.search import check_trace
from tcpconform.check.trace import TraceError, read_trace
from tcpconform.live.tracer import STRACE_FLAGS as _STRACE_FLAGS
from tcpconform.model.vocab import PROFILES

EXIT = {"conforms": 0, "diverges": 1, "invalid": 2, "undecided": 3}


class UsageError(Exception):
    """A command line argparse refused (its message, and the subcommand's usage)."""

    def __init__(self, message: str, usage: str, prog: str) -> None:
        super().__init__(message)
        self.message, self.usage, self.prog = message, usage, prog


class _Parser(argparse.ArgumentParser):
    """argparse, with its refusals raised (so that ``--json`` can give them as JSON)."""

    def error(self, message: str):
        raise UsageError(message, self.format_usage(), self.prog)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="conform",
        description="A formal model of TCP through the sockets API, held against real traces.",
    )
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print the version and the rule table's fingerprint, and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="check recorded traces against the model")
    check.add_argument("trace", metavar="TRACE", nargs="+",
                       help="trace file (JSON Lines, see trace-format.md); - reads one from standard input")
    check.add_argument("--json", action="store_true", help="print each verdict as one JSON object (a line each)")
    check.add_argument("--diagram", metavar="DIR",
                       help="also draw the trace as a sequence chart (the divergent step in red) "
                            "and the rules it exercised on the state diagram, into DIR")
    check.add_argument("--html", metavar="FILE",
                       help="also write a page to step through the trace (sequence chart, netstat tables, "
                            "state diagram, the divergence in place) into FILE, a new file (one TRACE only)")
    _add_bounds(check)
    check.set_defaults(func=_check_command)

    run = sub.add_parser("run", help="run scenarios on this machine's TCP stack and check them")
    run.add_argument("scenario", nargs="*", help="scenarios to run (default: all)")
    run.add_argument("--out", metavar="DIR", help="directory to write the traces to")
    run.add_argument("--json", action="store_true", help="print results as JSON")
    run.add_argument("--explain", action="store_true",
                     help="after every call, print the model's netstat table next to the kernel's")
    run.add_argument("--random", type=int, metavar="N",
                     help="run N random call sequences (after the named scenarios, if any)")
    run.add_argument("--seed", type=int, metavar="S", help="seed for --random (default: a random one, printed)")
    run.add_argument("--jobs", type=int, metavar="J",
                     help="worker processes, each in its own network namespace (default: one per core)")
    run.add_argument("--steps", type=int, metavar="K", help="most actions in a random sequence (default 20)")
    run.add_argument("--isolation", choices=("auto", "netns", "none"), default="auto",
                     help="netns: a fresh network namespace per scenario (refuse to run without); "
                          "none: this host's loopback; auto (default): netns when possible")
    run.add_argument("--observers", choices=("on", "off"), default="on",
                     help="also capture packets on lo and the kernel's state-change tracepoint (as root, in "
                          "the run's own namespaces), written as x- events checked against the model (default on)")
    run.add_argument("--html", metavar="DIR",
                     help="also write a page to step through each scenario's trace (and each divergence a random "
                          "campaign found) into DIR, a new folder: DIR/NAME.html")
    run.add_argument("--list", action="store_true", help="list the scenarios, each with what it shows, and exit")
    run.add_argument("--where", action="store_true",
                     help="say where the run sends packets (loopback, own namespaces) and exit")
    run.set_defaults(func=_run_command)

    trace = sub.add_parser(
        "trace", help="run a program under strace and check what its TCP sockets do",
        description="Run COMMAND (and everything it starts) under strace, turn its TCP socket calls into a "
                    "version-2 trace and check it against the model. Exit codes as for `conform check`.",
        usage="conform trace [options] -- COMMAND [ARGS...]\n"
              "       conform trace [options] --pid PID\n"
              "       conform trace [options] --from-strace LOG [LOG...]")
    trace.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    trace.add_argument("--pid", type=int, metavar="PID",
                       help="attach to a running process until it exits (or --seconds, or Ctrl-C)")
    trace.add_argument("--from-strace", nargs="+", metavar="LOG",
                       help="convert a log recorded elsewhere with `strace " + " ".join(_STRACE_FLAGS).replace("%", "%%") +
                            " -o LOG ...`; several logs are merged by time (both ends of a connection)")
    trace.add_argument("--merge", nargs="+", metavar="LOG", help="the same as --from-strace with several logs")
    trace.add_argument("--out", metavar="TRACE", help="write the trace there (a new file)")
    trace.add_argument("--log", metavar="LOG", help="keep strace's log there (a new file)")
    trace.add_argument("--netns", action="store_true",
                       help="run COMMAND in a fresh network namespace of its own, with only lo (as root)")
    trace.add_argument("--seconds", type=float, metavar="S",
                       help="stop tracing after S seconds (the command's processes are then killed)")
    trace.add_argument("--profile", choices=PROFILES, help="the profile to check against (default: this kernel's "
                                                           "for a traced program, linux for a log)")
    _add_bounds(trace)
    trace.add_argument("--json", action="store_true", help="print the verdict and summary as one JSON object")
    trace.add_argument("--explain", action="store_true",
                       help="after every call, print the netstat table of the program's TCP sockets as the model "
                            "has them, next to the states the kernel gave them (its state-change tracepoint, as root)")
    trace.add_argument("--diagram", metavar="DIR", help="also draw the run as a sequence chart into DIR")
    trace.add_argument("--html", metavar="FILE", help="also write a page to step through the trace into FILE "
                                                      "(a new file)")
    trace.set_defaults(func=_trace_command)

    diagram = sub.add_parser("diagram", help="draw the model's state diagrams")
    diagram.add_argument("--out", metavar="DIR", help="directory to write the diagrams to (default docs/diagrams)")
    diagram.add_argument("--json", action="store_true", help="print the files written as JSON")
    diagram.set_defaults(func=_diagram_command)

    prove = sub.add_parser("prove", help="prove the model's properties with z3 and reach its witnesses")
    prove.add_argument("names", nargs="*", help="properties and witnesses (default: all)")
    prove.add_argument("--json", action="store_true", help="print results as JSON")
    prove.add_argument("--mutant", action="store_true",
                       help="check each property against its named broken rule table instead: "
                            "prints the shortest counterexample (exit 0 when every one is refuted)")
    prove.add_argument("--diagram", metavar="DIR", help="draw every counterexample as a sequence chart into DIR")
    prove.add_argument("--out", metavar="DIR",
                       help="write every witness run (with --mutant: every counterexample) as a trace for "
                            "`conform check` (NAME.jsonl) and as a netstat step table (NAME.txt) into DIR")
    prove.set_defaults(func=_prove_command)

    mutants = sub.add_parser("mutants", help="judge every single-point mutant of the rule table by the evidence")
    mutants.add_argument("--kind", action="append", metavar="KIND",
                         help="only mutants of this kind (errno, state, swap, guard, emit, delete; repeatable)")
    mutants.add_argument("--rule", action="append", metavar="RULE", help="only mutants of this rule (repeatable)")
    mutants.add_argument("--traces", metavar="DIR",
                         help="the recorded scenario traces (default: the newest evidence/traces/linux-*)")
    mutants.add_argument("--must-reject", metavar="DIR", help="the must-reject traces (default: evidence/must-reject)")
    mutants.add_argument("--jobs", type=int, metavar="J", help="worker processes (default: up to 2)")
    mutants.add_argument("--json", action="store_true", help="print the report as one JSON object")
    mutants.add_argument("--record", action="store_true",
                         help="first record every scenario on this kernel (root) into "
                              "evidence/traces/linux-<version>/, replacing the traces there")
    mutants.add_argument("--mine", type=int, metavar="N",
                         help="then run N random call sequences on this kernel (root) and keep, in the "
                              "traces' random/ folder, those that kill a surviving mutant")
    mutants.add_argument("--seed", type=int, metavar="S", help="seed for --mine (default: a random one, printed)")
    mutants.add_argument("--steps", type=int, metavar="K", help="most actions in a --mine sequence (default 20)")
    mutants.add_argument("--near-misses", metavar="DIR",
                         help="then write into DIR (a new folder) candidate must-reject traces for the survivors: "
                              "a recorded trace cut after one changed result that the mutant accepts and the model "
                              "rejects; each needs its reason written before it goes into the must-reject folder")
    mutants.set_defaults(func=_mutants_command)
    return parser


def _add_bounds(parser: argparse.ArgumentParser) -> None:
    """The search's bounds, for every command that checks a trace."""
    parser.add_argument("--max-frontier", type=int, metavar="N",
                        help="most model configurations that may explain the trace at once (default 20000); "
                             "past it the verdict is undecided (exit 3)")
    parser.add_argument("--max-seconds", type=float, metavar="S",
                        help="most wall-clock seconds a check may take (default: no bound); then undecided")
    parser.add_argument("--max-memory", type=int, metavar="MIB",
                        help="most resident memory of the checking process, in MiB (default: 4096 or half the "
                             "machine's memory, whichever is smaller); then undecided")


def _bounds(args: argparse.Namespace, command: str, *others: tuple[str, float | None]):
    """The Bounds the bound options ask for (``others``: more options that must
    be positive), or None after saying which one is not a positive number."""
    from tcpconform.check.bounds import Bounds
    for flag, value in (*others, ("--max-frontier", args.max_frontier), ("--max-seconds", args.max_seconds),
                        ("--max-memory", args.max_memory)):
        if value is not None and not value > 0:
            _fail(args, command, f"{flag} needs a positive number, got {value:g}", option=flag)
            return None
    return Bounds(frontier=args.max_frontier or Bounds.frontier, seconds=args.max_seconds, memory=args.max_memory)


class _Version(argparse.Action):
    """``--version``: computed only when asked (the fingerprint reads the rule table)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from tcpconform.diagrams.cache import digest
        from tcpconform.model.rules import CASES
        print(f"conform {envelope.version()} (rule table {digest()[:12]}, {len(CASES)} rules)")
        parser.exit(0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``conform``; returns the exit status (never raises on bad input)."""
    try:
        argv = sys.argv[1:] if argv is None else argv
        try:
            args = _parser().parse_args(argv)
        except SystemExit as e:  # --help, --version (0)
            return e.code if isinstance(e.code, int) else 2
        except UsageError as e:
            command = next((a for a in argv if not a.startswith("-")), None)
            if any(a.split("=", 1)[0] in ("--json", "--jso", "--js") for a in argv):   # argparse's abbreviations too
                return _fail_json(command if command in _COMMANDS else None, e.message)
            print(f"{e.usage}{e.prog}: error: {e.message}", file=sys.stderr)
            return 2
        code = args.func(args)
        sys.stdout.flush()   # here, where a reader that went away can still be told apart
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`conform ... | head`): not a verdict
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141   # as a shell reports a process ended by SIGPIPE


_COMMANDS = ("check", "trace", "run", "prove", "diagram", "mutants")


def _print_json(obj: dict) -> None:
    print(json.dumps(obj))


def _fail_json(command: str | None, message: str, **where) -> int:
    """Under ``--json``: an error as the envelope's ``error``, on stdout (the
    stream a reader of JSON reads); the exit status of an error."""
    _print_json(envelope.error(command or "conform", message, **where))
    return 2


def _fail(args: argparse.Namespace, command: str, message: str, **where) -> int:
    """An error: JSON on stdout under ``--json``, else ``conform COMMAND: message`` on stderr; 2."""
    if getattr(args, "json", False):
        return _fail_json(command, message, **where)
    print(f"conform {command}: {message}", file=sys.stderr, flush=True)
    return 2


# ---------------------------------------------------------------------------
# conform check
# ---------------------------------------------------------------------------

# which exit status wins when several traces are checked: invalid, then
# diverges, then undecided, then conforms
_WORST = {2: 3, 1: 2, 3: 1, 0: 0}


def _check_command(args: argparse.Namespace) -> int:
    limits = _bounds(args, "check")
    if limits is None:
        return 2
    if args.trace.count("-") > 1:
        return _fail(args, "check", "standard input (-) can be read once")
    if args.html and len(args.trace) > 1:
        return _fail(args, "check", "--html writes the page of one TRACE", option="--html")
    if args.html and os.path.exists(args.html):
        return _fail(args, "check", f"--html {args.html!r} exists; nothing is overwritten", option="--html")
    worst = 0
    for path in args.trace:
        args.current = path
        if len(args.trace) > 1 and not args.json:
            print(f"{path}:")
        if path == "-":
            import tempfile
            with tempfile.TemporaryDirectory(prefix="conform-check-") as tmp:
                stdin = os.path.join(tmp, "stdin.jsonl")
                with open(stdin, "wb") as f:
                    f.write(sys.stdin.buffer.read())
                code = _check_one(args, stdin, limits, shown="-")
        else:
            code = _check_one(args, path, limits)
        worst = max(worst, code, key=lambda c: _WORST.get(c, 3))
    return worst


def _check_one(args: argparse.Namespace, path: str, limits, shown: str | None = None) -> int:
    """Check the trace at ``path`` and print its verdict; its exit status."""
    try:
        with open(path, "rb") as stream:
            header, events = read_trace(stream)
            verdict = check_trace(header, events, coverage=bool(args.diagram), limits=limits)
    except TraceError as e:
        return _report(args, "invalid", e.line, e.message, [], None,
                       f"invalid at line {e.line}: {e.message}", path)
    except OSError as e:
        reason = f"cannot read {shown or path!r}: {e.strerror or e}"
        return _report(args, "invalid", None, reason, [], None, f"invalid: {reason}")

    if args.diagram and not _drew(args, path, verdict, "check"):
        return 2
    if args.html and not _wrote_page(args, path, verdict, "check"):
        return 2
    text = _verdict_text(path, header, verdict)
    return _report(args, verdict.verdict, verdict.line, verdict.reason, list(verdict.allowed), verdict.events, text,
                   path, verdict)


def _verdict_text(path: str, header, verdict) -> str:
    """What ``conform check`` prints for a verdict on the trace at ``path``."""
    from tcpconform.check.verdict import divergence_lines
    kind, line, reason = verdict.verdict, verdict.line, verdict.reason
    if kind == "conforms":
        text = f"conforms: {verdict.events} events, profile {header.profile}, world {header.world}"
        if verdict.x_checked:
            text += f"; {verdict.x_checked} x-packet/x-state observations checked (docs/extensions.md)"
    elif kind == "diverges":
        text = "\n".join(divergence_lines(verdict, _line_text(path, line)))
    elif kind == "undecided":
        text = f"undecided at line {line}: {reason}\n  {_line_text(path, line)}"
    else:
        text = f"invalid at line {line}: {reason}" if line is not None else f"invalid: {reason}"
    return text


# ---------------------------------------------------------------------------
# conform trace
# ---------------------------------------------------------------------------

def _trace_command(args: argparse.Namespace) -> int:
    import tempfile
    from tcpconform.live import traced
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    logs = (args.from_strace or []) + (args.merge or [])
    sources = sum(bool(x) for x in (command, args.pid is not None, logs))
    if sources != 1:
        return _fail(args, "trace", "give exactly one of -- COMMAND, --pid PID, --from-strace LOG")
    limits = _bounds(args, "trace", ("--seconds", args.seconds))
    if limits is None:
        return 2
    for flag, path in (("--out", args.out), ("--log", args.log), ("--html", args.html)):
        if path and os.path.exists(path):
            return _fail(args, "trace", f"{flag} {path!r} exists; nothing is overwritten", option=flag)
    import signal
    # a SIGTERM ends the run as Ctrl-C does: the program's processes are killed, temporary files go
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.explain and not logs:
        from tcpconform.live.tracepoint import mount_private
        mount_private()  # the kernel's side of the tables needs tracefs (privately mounted if the machine has none)
    try:
        if logs:
            found = traced.trace_log(traced.read_logs(logs), {"logs": logs}, coverage=bool(args.diagram),
                                     profile=args.profile, limits=limits)
        elif args.pid is not None:
            found = traced.trace_pid(args.pid, args.seconds, args.log, coverage=bool(args.diagram),
                                     profile=args.profile, limits=limits)
        else:
            with _stdout_to_stderr(args.json):   # under --json the program's own output is not ours to mix in
                found = traced.trace_command(command, args.seconds, args.log, coverage=bool(args.diagram),
                                             netns=args.netns, kernel=args.explain, profile=args.profile,
                                             limits=limits)
    except traced.TraceFailed as e:
        where = f" at line {e.line}" if e.line else ""
        if args.json:
            _print_json(envelope.verdict("trace", "invalid", e.line, e.message, [], None, None,
                                         trace=None, program=None, strace=None, partial=False, **_expected(None)))
            return 2
        print(f"invalid{where}: {e.message}")
        return 2
    with tempfile.TemporaryDirectory(prefix="conform-trace-") as tmp:
        stem = Path(command[0]).name if command else (Path(logs[0]).stem if logs else f"pid{args.pid}")
        path = args.out or os.path.join(tmp, f"{stem or 'trace'}.jsonl")
        try:
            with open(path, "x", encoding="utf-8") as f:
                f.write(found.text)
        except OSError as e:
            return _fail(args, "trace", f"cannot write {path!r}: {e.strerror or e}", option="--out")
        verdict = found.verdict
        lines = _trace_summary(found)
        if args.out:
            lines.append(f"wrote {args.out}")
        text = _verdict_text(path, found.header, verdict)
        if found.summary.partial:   # the verdict is of what could be mapped: it says so on its first line
            first, _, rest = text.partition("\n")
            n = sum(found.summary.unmapped.values())
            text = f"{first} (partial: {n} call{'s' if n != 1 else ''} not mapped)" + (f"\n{rest}" if rest else "")
        lines.append(text)
        if args.explain and not args.json:
            from tcpconform.check.explain import explain_text, format_steps
            lines.insert(-1, format_steps(explain_text(found.text),
                                          args.out or "the trace (not kept: add --out FILE to keep it)"))
        if args.diagram and not _drew(args, path, verdict, "trace"):
            return 2
        if args.html and not _wrote_page(args, path, verdict, "trace"):
            return 2
        event = envelope.event_object(_line_text(path, verdict.line))
    if args.json:
        _print_json(envelope.verdict("trace", verdict.verdict, verdict.line, verdict.reason, list(verdict.allowed),
                                     verdict.events, event, trace=args.out, program=found.program,
                                     strace=found.summary.as_dict(), partial=found.summary.partial,
                                     **_expected(verdict)))
        return EXIT.get(verdict.verdict, 2)
    print("\n".join(lines))
    return EXIT.get(verdict.verdict, 2)


@contextlib.contextmanager
def _stdout_to_stderr(on: bool):
    """While on: file descriptor 1 (what a started program inherits) is stderr's."""
    if not on:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _trace_summary(found) -> list[str]:
    """What was traced and what of it the trace holds."""
    s = found.summary
    prog = found.program
    out = []
    if "program" in prog:
        status = "timed out" if prog.get("timed_out") else f"exit {prog.get('status')}"
        out.append(f"traced: {' '.join(prog['program'])} ({status}, {prog.get('seconds')} s under strace)")
    elif "attached" in prog:
        out.append(f"traced: process {prog['attached']} ({prog.get('seconds')} s attached)")
    else:
        out.append(f"read: {', '.join(prog.get('logs', []))}")
    d = s.as_dict()
    out.append(f"TCP calls: {d['calls_seen']} seen, {d['calls_mapped']} mapped, in {d['processes']} "
               f"process{'es' if d['processes'] != 1 else ''}")
    if s.reordered:
        out.append(f"order: {s.reordered} pair{'s' if s.reordered != 1 else ''} of calls that ran at the same time "
                   "taken in the other order than strace printed them")
    if d["other_descriptors"]:
        out.append("left out (not TCP): " + ", ".join(f"{k} {v}" for k, v in d["other_descriptors"].items()))
    if s.partial:
        out.append("partial: not mapped: " + "; ".join(f"{k} ({v})" for k, v in d["unmapped"].items()))
    return out


def _drew(args: argparse.Namespace, path: str, verdict, command: str) -> bool:
    """Draw (:func:`_draw`) into ``--diagram DIR`` and say where (on stderr), or
    say why not (an error); whether it was drawn."""
    from tcpconform.diagrams.render import RenderError  # imported only when drawing
    try:
        print(_draw(path, verdict, args.diagram), file=sys.stderr)
        return True
    except (OSError, RenderError) as e:
        _fail(args, command, f"cannot draw into {args.diagram!r}: {e}", option="--diagram")
        return False


def _wrote_page(args: argparse.Namespace, path: str, verdict, command: str) -> bool:
    """Write the trace's page (``--html FILE``) and say where (on stderr), or
    say why not (an error); whether it was written."""
    from tcpconform.diagrams.report import write_report  # imported only when asked: it reads the whole model
    try:
        written = write_report(path, verdict, args.html)
    except OSError as e:
        _fail(args, command, f"cannot write {args.html!r}: {e.strerror or e}", option="--html")
        return False
    print(f"wrote {written}", file=sys.stderr)
    return True


def _draw(path: str, verdict, out_dir: str) -> str:
    """Write the trace's sequence chart and coverage overlay; say where."""
    from tcpconform.diagrams import render  # imported only when drawing (see _diagram_command)
    stem = Path(path).stem
    with open(path, "rb") as stream:
        _header, events = read_trace(stream)
        seq = render.sequence_from_trace(
            (e for e in _upto(events, verdict.line)), verdict.line if verdict.verdict == "diverges" else None,
            title=f"{Path(path).name}: {verdict.verdict}" + (f" at line {verdict.line}" if verdict.line else ""))
    cov = render.coverage_overlay(verdict.coverage, divergent_case=render.divergent_rules(verdict))
    dot = render.find_dot()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OSError(f"{out} exists and is not a directory")
    taken = [p for stem2 in (f"{stem}-sequence", f"{stem}-coverage") for p in out.glob(f"{stem2}.*")]
    if taken:
        raise OSError(f"{taken[0]} exists; nothing is overwritten (choose another directory)")
    written = []
    for text, name in ((seq, f"{stem}-sequence"), (cov, f"{stem}-coverage")):
        written += render.render(text, out_dir, name, formats=("svg",), dot=dot)
    msg = "wrote " + ", ".join(str(p) for p in written)
    if dot is None:
        msg += " (Graphviz 'dot' not found: DOT text only; install it, e.g. apt-get install graphviz)"
    return msg


def _upto(events, line):
    """The events up to a divergent line (what follows it was never checked)."""
    for e in events:
        yield e
        if line is not None and getattr(e, "line", 0) >= line + 20:
            return


def _report(args: argparse.Namespace, kind: str, line: int | None, reason: str,
            allowed: list[str], events: int | None, text: str, path: str | None = None, verdict=None) -> int:
    """Print a check's verdict (as text, or in the JSON envelope with ``--json``)
    and return its exit code; ``path``: the file checked, to read the line's event
    from; ``verdict``: the check's, for what the model expected there and its rules."""
    if args.json:
        event = envelope.event_object(_line_text(path, line)) if path else None
        _print_json(envelope.verdict("check", kind, line, reason, allowed, events, event, trace=args.current,
                                     **_expected(verdict)))
    else:
        print(text)
    return EXIT.get(kind, 2)


def _expected(verdict) -> dict:
    """A verdict's ``expected`` and ``rules`` (see :class:`tcpconform.check.verdict.Verdict`), empty without one."""
    return {"expected": list(getattr(verdict, "expected", [])), "rules": list(getattr(verdict, "rules", []))}


def _line_text(path: str, line: int | None) -> str:
    """The text of line ``line`` of the file, read again (the check streamed past it)."""
    if line is None:
        return ""
    from tcpconform.check.trace import MAX_LINE_BYTES
    try:
        with open(path, "rb") as stream:
            for number in range(1, line + 1):   # bounded reads: a line past the reader's limit is not copied
                raw = stream.readline(MAX_LINE_BYTES + 1)
                while len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    if number == line:
                        return f"(line {line} is longer than {MAX_LINE_BYTES} bytes)"
                    raw = stream.readline(MAX_LINE_BYTES + 1)   # the rest of a long line, skipped
                if not raw:
                    break
                if number == line:
                    return raw.decode("utf-8", "replace").rstrip("\r\n")
    except OSError:
        pass
    return "(line not available)"


# ---------------------------------------------------------------------------
# conform run
# ---------------------------------------------------------------------------

def _run_command(args: argparse.Namespace) -> int:
    """``conform run``: named scenarios, then a random campaign with ``--random``.

    Exit status: 0 every trace conforms; 1 some trace diverges; 2 usage or
    environment error (unknown scenario, output file exists, a scenario could not
    run, the recorder wrote a trace the reader refuses).  With named scenarios
    alone, 2 wins over 1; in a random campaign a divergence (1) wins over errors.
    Interrupted by SIGINT/SIGTERM: every worker is stopped (their namespaces and
    sockets go with them), a message says so, and the exit status is 130/143."""
    # imported here, not at the top: the live stack (and hypothesis) is no concern of the other commands
    from tcpconform.live import netns, pool
    from tcpconform.live.campaign import run_campaign
    from tcpconform.live.outdir import RunRefused
    from tcpconform.live.run import run_scenarios
    from tcpconform.live.scenarios import SCENARIOS
    from tcpconform.live.tracepoint import mount_private

    jobs = (os.cpu_count() or 1) if args.jobs is None else args.jobs
    steps = 20 if args.steps is None else args.steps
    if args.list:
        from tcpconform.live.scenarios.registry import PINS, describe
        names = sorted(SCENARIOS)
        if args.json:
            _print_json(envelope.envelope("run --list", results=[
                {"name": n, "what": describe(n), "pins": list(PINS.get(n, ()))} for n in names]))
        else:
            width = max(len(n) for n in names)
            print("\n".join(f"{n:{width}}  {describe(n)}" for n in names))
        return 0
    if args.where:
        iso = (netns.Isolation("none", "disabled by --isolation none") if args.isolation == "none"
               else netns.probe())
        if args.json:
            _print_json(envelope.envelope("run --where", results=[
                {"where": pool.where_text(iso), "addresses": "127.0.0.1", **iso.as_json()}]))
        else:
            print(pool.where_text(iso))
        return 0
    if args.random is not None and args.random < 1:
        return _fail(args, "run", "--random needs a positive number of sequences", option="--random")
    if args.seed is not None and args.random is None:
        return _fail(args, "run", "--seed only makes sense with --random N", option="--seed")
    if jobs < 1 or steps < 1:
        return _fail(args, "run", "--jobs and --steps need positive numbers")
    if args.html and os.path.exists(args.html):
        return _fail(args, "run", f"--html {args.html!r} exists; the pages go into a new folder", option="--html")
    if args.html and args.out and Path(args.html).resolve() == Path(args.out).resolve():
        return _fail(args, "run", "--html needs a folder of its own, not the --out folder", option="--html")
    names = list(args.scenario or ([] if args.random is not None else SCENARIOS))
    mount_private()  # before any thread: tracefs in a private mount namespace if the machine has none mounted
    options = dict(jobs=jobs, isolation=args.isolation, observers=args.observers != "off", explain=args.explain)
    report: dict = {}
    texts: list[str] = []
    ready: list[pool.Ready] = []
    status = 0
    try:
        if names:
            shown = sys.stderr.isatty() and not args.json   # a line redrawn on a terminal, never when piped
            scenarios = run_scenarios(names, args.out, progress=_progress_line("conform run") if shown else None,
                                      **options)
            for note in scenarios.notes:
                _run_error(note)
            ready += scenarios.ready
            report.update(scenarios.to_json())
            texts += scenarios.lines()
            status = scenarios.status
        if args.random is not None:
            seed = random.SystemRandom().randrange(1 << 32) if args.seed is None else args.seed
            campaign = run_campaign(args.random, seed, steps=steps, out_dir=args.out,
                                    progress=lambda event: _run_error(event.format()), **options)
            ready += campaign.ready
            report["random"] = campaign.to_json()
            texts += campaign.lines()
            status = campaign.status if not names else _combine(status, campaign.status)
    except RunRefused as e:
        if args.json:
            return _fail_json("run", e.message, detail=e.detail or None)
        _run_error(e.message)
        if e.detail:
            print(e.detail, file=sys.stderr)
        return 2
    except pool.Interrupted as e:
        _fail(args, "run", f"interrupted by {e}: stopped every worker process; their network namespaces, "
                           f"sockets and connections went with them." + (f" {e.progress}" if e.progress else ""))
        return 128 + e.signum
    if args.html and not _run_pages(args, scenarios.traces if names else {},
                                    campaign.divergences if args.random is not None else []):
        status = 2   # said; the report is printed all the same
    iso = pool.isolation_of(ready)
    if args.isolation == "netns" and iso.mode != "netns":
        return _fail(args, "run", f"--isolation netns: no network namespace could be made: {iso.reason}")
    if args.json:
        report.update(iso.as_json())
        report["where"] = pool.network_line(iso)
        _print_json(_run_envelope(report))
    else:
        texts.append(pool.network_line(iso))
        print("\n".join(texts))
    return status


def _run_pages(args: argparse.Namespace, traces: dict[str, str], divergences: list) -> bool:
    """``conform run --html DIR``: a page per scenario's trace (``traces``: name ->
    its text) and per divergence found whose shrunk trace was kept; whether all were written."""
    import tempfile
    from tcpconform.diagrams.report import write_report   # imported only when asked
    folder = Path(args.html)
    try:
        folder.mkdir(parents=True)
        with tempfile.TemporaryDirectory(prefix="conform-pages-") as tmp:
            for name, text in traces.items():
                trace = Path(tmp) / f"{name}.jsonl"
                trace.write_text(text, encoding="utf-8")
                print(f"wrote {write_report(trace, None, folder / f'{name}.html')}", file=sys.stderr)
        for k, d in enumerate(divergences, 1):
            if d.trace:
                print(f"wrote {write_report(d.trace, None, folder / f'divergence-{k}.html')}", file=sys.stderr)
    except OSError as e:
        # on stderr even under --json: the run's results still follow, as one envelope
        _run_error(f"cannot write the pages into {args.html!r}: {e.strerror or e}")
        return False
    return True


def _run_envelope(report: dict) -> dict:
    """``conform run``'s report in the JSON envelope: the scenarios as ``results``
    (a random campaign alone has none), every event as the object it holds."""
    results = report.pop("scenarios", [])
    for entry in results + report.get("random", {}).get("divergences", []):
        entry["event"] = envelope.event_object(entry.get("event"))
    report.setdefault("summary", {"scenarios": 0})
    return envelope.envelope("run", results=results, **report)


def _run_error(text: str) -> int:
    """Say what stops or troubles ``conform run`` (on stderr); the exit status of a usage error."""
    print(f"conform run: {text}", file=sys.stderr, flush=True)
    return 2


def _combine(a: int, b: int) -> int:
    """Named scenarios' status and a campaign's: a divergence wins, then errors."""
    if 1 in (a, b):
        return 1
    return max(a, b)


# ---------------------------------------------------------------------------
# conform diagram, conform prove
# ---------------------------------------------------------------------------

def _diagram_command(args: argparse.Namespace) -> int:
    # imported by the commands that draw only: the renderers read the whole model
    from tcpconform.diagrams.render import RenderError, write_diagrams
    out_dir = Path(args.out or "docs/diagrams")
    try:
        files, note = write_diagrams(out_dir)
    except RenderError as e:
        return _fail(args, "diagram", str(e))
    except OSError as e:
        return _fail(args, "diagram", f"cannot write to {out_dir}: {e.strerror or e}", option="--out")
    if note:
        print(f"conform diagram: {note}", file=sys.stderr)
    if args.json:
        _print_json(envelope.envelope("diagram", results=[{"file": str(f)} for f in files], note=note or None))
        return 0
    for f in files:
        print(f)
    return 0


def _progress_line(command: str):
    """A progress line redrawn in place on a terminal's stderr (never when piped:
    the caller asks only when stderr is a terminal), erased when the work is done."""
    def show(done: int, total: int, name: str) -> None:
        width = 24
        filled = width * done // max(total, 1)
        line = f"{command}: [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name}"[:100] if name else ""
        sys.stderr.write("\r\033[K" + line)
        sys.stderr.flush()
    return show


def _prove_command(args: argparse.Namespace) -> int:
    from tcpconform.properties import prove  # z3 is slow to import, and only proofs need it
    try:
        report = prove.prove(args.names, mutant=args.mutant, out_dir=args.out,
                             progress=_progress_line("conform prove") if sys.stderr.isatty() else None)
    except prove.UnknownNames as e:   # an error, not a result
        return _fail(args, "prove", str(e), unknown=e.unknown, known=e.known)
    except OSError as e:
        return _fail(args, "prove", f"cannot write into {args.out!r}: {e.strerror or e}", option="--out")
    drawn = []
    if args.diagram:
        from tcpconform.diagrams import render
        try:
            drawn = render.draw_runs(report.properties + report.witnesses, args.diagram)
        except OSError as e:
            return _fail(args, "prove", f"cannot draw into {args.diagram!r}: {e.strerror or e}", option="--diagram")
    for path in drawn + report.written:
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        _print_json(envelope.envelope("prove", mutant=args.mutant, **report.to_json()))
    else:
        print("\n".join(report.lines()))
    return report.status


def _mutants_command(args: argparse.Namespace) -> int:
    """``conform mutants``: exit 0 no survivor, 1 survivors, 2 bad usage or unreadable evidence."""
    from tcpconform.properties import adequacy  # z3 is slow to import
    kinds = args.kind or list(adequacy.KINDS)
    bad = [k for k in kinds if k not in adequacy.KINDS]
    if bad:
        return _fail(args, "mutants", f"unknown kind {', '.join(bad)} (kinds: {', '.join(adequacy.KINDS)})")
    if args.jobs is not None and args.jobs < 1:
        return _fail(args, "mutants", "--jobs needs a positive number")
    if args.mine is not None and args.mine < 1:
        return _fail(args, "mutants", "--mine needs a positive number of sequences")
    if (args.seed is not None or args.steps is not None) and args.mine is None:
        return _fail(args, "mutants", "--seed and --steps only make sense with --mine N")
    if args.steps is not None and args.steps < 1:
        return _fail(args, "mutants", "--steps needs a positive number")
    if args.near_misses and Path(args.near_misses).exists():
        return _fail(args, "mutants", f"{args.near_misses} exists; --near-misses writes a new folder")
    if args.seed is not None and not 0 <= args.seed < 1 << 32:
        return _fail(args, "mutants", "--seed needs a number from 0 to 4294967295")
    if args.rule:
        known = {m.rule for m in adequacy.generate()}
        unknown = [r for r in args.rule if r not in known]
        if unknown:
            return _fail(args, "mutants", f"no mutant of rule {', '.join(unknown)}")
    traces = Path(args.traces) if args.traces else None
    if args.record or args.mine is not None:
        from tcpconform.live.tracepoint import mount_private
        why = mount_private()  # before any thread or pool: the recorded x-state observations need tracefs
        if why:
            print(f"conform mutants: no tracefs ({why}): traces are recorded without x-state observations",
                  file=sys.stderr)
    if args.record:
        from tcpconform.live import corpus
        traces, recorded = corpus.refresh(traces)
        print("\n".join(recorded.lines()), file=sys.stderr)
        if recorded.status == 2:
            return _fail(args, "mutants", "some scenario could not be recorded; the stored traces are unchanged")
        print(f"conform mutants: recorded {len(recorded.outcomes)} scenarios into {traces}", file=sys.stderr)
    try:
        traces = traces or adequacy.corpus_dir()
        if not traces.is_dir():
            return _fail(args, "mutants", f"no such folder: {traces}")
        must = Path(args.must_reject) if args.must_reject else adequacy.MUST_REJECT
        report = adequacy.run(traces, must, kinds=kinds, rules_=args.rule,
                              jobs=args.jobs or adequacy.default_jobs(), progress=not args.json)
        if args.mine is not None and not report.survivors:
            print("conform mutants: no survivor to mine for", file=sys.stderr)
        elif args.mine is not None:
            report = _mine(args, report, traces)
        if args.near_misses:
            _near_misses(Path(args.near_misses), report, traces)
    except (FileNotFoundError, FileExistsError) as e:
        return _fail(args, "mutants", str(e))
    except adequacy.UnreadableEvidence as e:
        return _fail(args, "mutants", f"unreadable evidence: {e}")
    except Exception as e:  # the live campaign's refusals and interruptions, when mining
        live = _live_stop(args, e)
        if live is None:
            raise
        return live
    if args.json:
        _print_json(envelope.envelope("mutants", **report.as_json()))
    else:
        print(report.text())
    return 1 if report.survivors else 0


def _mine(args: argparse.Namespace, report, traces: Path):
    """``conform mutants --mine N``: a random campaign's conforming sequences,
    those that kill a survivor kept in ``traces/random/``; the report with
    their kills."""
    import dataclasses
    import shutil
    import tempfile

    from tcpconform.live.campaign import run_campaign
    from tcpconform.properties import adequacy, mining
    seed = random.SystemRandom().randrange(1 << 32) if args.seed is None else args.seed
    jobs = args.jobs or adequacy.default_jobs()
    quiet = args.json

    def say(text: str) -> None:
        if not quiet:
            print(f"conform mutants: {text}", file=sys.stderr)

    keep = traces / adequacy.MINED
    with tempfile.TemporaryDirectory(prefix="conform-mine-") as tmp:
        say(f"mining: {args.mine} random sequences, seed {seed}")
        diverged = tempfile.mkdtemp(prefix="conform-mine-divergences-")
        campaign = run_campaign(args.mine, seed, steps=args.steps or 20, keep_dir=tmp, out_dir=diverged)
        says = campaign.to_json()
        say(f"{says.get('conforms', '?')} of {args.mine} sequences conform; {says.get('diverged', 0)} diverge")
        if says.get("diverged"):  # said also with --json: the folder stays, and is the user's
            print(f"conform mutants: the diverging sequences' traces, shrunk: {diverged}", file=sys.stderr)
        else:
            shutil.rmtree(diverged, ignore_errors=True)
        mined = adequacy.read_dir(Path(tmp), f"{adequacy.MINED}/seed{seed}-")
        kills = mining.mine([j.mutant for j in report.survivors], mined, jobs=jobs, progress=say)
        stems = sorted({k.trace.name.split("/", 1)[1] for k in kills})
        targets = {stem: keep / f"{stem}.jsonl" for stem in stems}
        there = [str(t) for t in targets.values() if t.exists()]
        if there:  # nothing is copied unless everything can be
            raise FileExistsError(f"{there[0]} exists; mine with another seed")
        keep.mkdir(parents=True, exist_ok=True)
        for stem, target in targets.items():
            shutil.copyfile(Path(tmp) / (stem.split("-", 1)[1] + ".jsonl"), target)
    for target in targets.values():
        say(f"kept {target}")
    by = {k.mutant.id: k for k in kills}

    def named(k) -> str:
        return k.trace.name + ("" if k.profile == "linux" else f" (as {k.profile})") + k.note
    judged = [dataclasses.replace(j, evidence="scenario", by=named(by[j.mutant.id]), reached=0)
              if j.mutant.id in by else j for j in report.judgements]
    return dataclasses.replace(report, judgements=judged)


def _near_misses(folder: Path, report, traces: Path) -> None:
    """``conform mutants --near-misses DIR``: the survivors' candidate must-reject traces."""
    from tcpconform.properties import nearmiss
    if folder.exists():
        raise FileExistsError(f"{folder} exists; --near-misses writes a new folder")
    found = nearmiss.near_misses([j.mutant for j in report.survivors if j.reached], report.base, traces)
    folder.mkdir(parents=True)
    for miss in found:
        (folder / (miss.mutant.id.replace(":", "_").replace(">", "") + ".jsonl")).write_text(nearmiss.candidate_text(miss))
    print(f"conform mutants: {len(found)} candidate must-reject traces in {folder} (each needs meta.reason: why "
          f"Linux cannot produce it)", file=sys.stderr)


def _live_stop(args: argparse.Namespace, e: Exception) -> int | None:
    """The exit status for a live campaign's refusal or interruption (said on
    stderr), or None for any other exception."""
    if "tcpconform.live.pool" not in sys.modules:
        return None
    from tcpconform.live import pool
    from tcpconform.live.outdir import RunRefused
    if isinstance(e, RunRefused):
        return _fail(args, "mutants", e.message + (f"\n{e.detail}" if e.detail else ""))
    if isinstance(e, pool.Interrupted):
        _fail(args, "mutants", f"interrupted by {e}: stopped every worker process; their network namespaces, "
                               f"sockets and connections went with them; nothing was kept")
        return 128 + e.signum
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
