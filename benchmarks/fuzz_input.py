"""Fuzz ``conform check`` with malformed traces: bad input must never escape.

Generates ``--inputs`` (default 10,000) mutations of valid traces, seeded
(``--seed``), and runs each through ``conform check --json`` in-process
(:func:`tcpconform.cli.main`), catching everything.  The traces mutated are
the shared examples (``$TCP_SHARED/trace-examples``), ``tests/traces`` (one of
which holds every ``x-`` event kind the recorder writes) and the traces in
any ``--traces DIR`` (say, the ``--out`` of ``conform run``).

A mutation is one to three of: a field deleted, renamed or given twice; a
field's value swapped for one of another JSON type (integers of every size,
fractions, booleans, null, arrays, objects, empty and 100,000-character
strings), for a value nested up to 100,000 deep, for a number JSON has no
literal for (``NaN``, ``Infinity``, ``1e999``), or for another word of the
format's vocabulary (an op, a state, an errno, an ``x-`` kind); a line
deleted, duplicated, swapped, blanked or cut short; the file cut short; a
byte flipped; bytes that are not UTF-8, a byte order mark, a CR or a NUL
inserted; line ends turned into CRLF; an ``x-`` event of a kind the reader
validates inserted with random fields.

Prints how many inputs gave: exit 2 with a line number; exit 2 without one;
exit 0 or 1 (the mutation happened to leave a usable trace); anything else
(an exception escaping ``main``, another exit code, output that is not the
verdict's JSON, a line number outside the file, a reason longer than
``MAX_REASON`` characters, or more than ``--timeout`` seconds): each of those
is printed with its input and traceback, and the script exits 1.  The goal
is none.  Counts per mutation kind follow, then the time taken.

Run: ``python benchmarks/fuzz_input.py [--inputs N] [--seed S] [--traces DIR ...] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tcpconform.check.trace import ERRNOS, OPS, STATES  # noqa: E402
from tcpconform.cli import main  # noqa: E402

MAX_REASON = 1000
"""Longest reason accepted: a message quotes a piece of the input, never all of it."""

# x- events the reader validates, with the fields they take (inserted with random values).
X_VALIDATED = {
    "x-observers": ("packets", "states", "off"),
    "x-packet": ("src", "dst", "flags", "seq", "ack", "len"),
    "x-state": ("sock", "local", "remote", "from", "to"),
    "x-netfilter": ("drop", "on"),
}
WORDS = (list(OPS) + list(STATES) + ["ok", "EPIPE", "EAGAIN", "EINPROGRESS", "EWOULDBLOCK", "rd", "wr", "rdwr",
         "call", "state", "SYN", "SYN+ACK", "FIN", "RST", "NONE", "pure ACK", "linux", "posix", "open", "closed",
         "127.0.0.1:0", "127.0.0.1:5000", "[::1]:5000", "0.0.0.0:0", "a", "b", "L", "c", "s", "srv", "cli"]
         + sorted(X_VALIDATED) + ["x-sockopt", "x-netstat", "x-packet-drops"])
FIELDS = ["ev", "sock", "op", "ret", "addr", "local", "peer", "new", "backlog", "len", "n", "how", "nonblock",
          "linger0", "state", "trace", "profile", "world", "meta", "src", "dst", "flags", "seq", "ack",
          "remote", "from", "to", "packets", "states", "off", "drop", "on", "rows", "x-note", "bogus"]
NON_FINITE = ["NaN", "-NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", "inf", "nan"]
NOT_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]
MARK = "\x00mark\x00"


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------

def base_traces(extra: list[str]) -> list[tuple[str, bytes]]:
    """(name, bytes) of every trace to mutate."""
    shared = Path(os.environ.get("TCP_SHARED", ROOT.parent / "shared")) / "trace-examples"
    paths = sorted(shared.glob("*.jsonl")) + sorted((ROOT / "tests" / "traces").glob("*.jsonl"))
    for d in extra:
        paths += sorted(Path(d).glob("*.jsonl"))
    bases = [(p.name, p.read_bytes()) for p in paths]
    if not bases:
        sys.exit("no traces to mutate (set TCP_SHARED or give --traces DIR)")
    return bases


def odd_value(rng: random.Random) -> str:
    """A JSON value (as text) of a random type and size."""
    return rng.choice([
        lambda: str(rng.choice([0, -1, 1, 2, 65535, 65536, 2**31, 2**32, 2**63 - 1, 2**64 - 1, 2**64, -2**63 - 1])),
        lambda: "1" + "0" * rng.choice([20, 300, 400, 5000]),
        lambda: rng.choice(["1.5", "-0.0", "0.0", "1e308", "1e-999", "4.0", "1E2"]),
        lambda: rng.choice(["true", "false", "null"]),
        lambda: rng.choice(["[]", "{}", '["ok"]', '{"a": 1}', '[null]', '[[["CLOSED"]]]', '{"": 1}']),
        lambda: json.dumps(rng.choice(["", " ", "x" * rng.choice([100, 100_000]), "\u0000", "\ufeff", "é",
                                       "a\nb"])),
        lambda: '"\\ud800"',  # an escaped lone surrogate: JSON, but no Unicode text
        lambda: json.dumps(rng.choice(WORDS)),
        lambda: nested(rng.choice([2, 50, 254, 255, 1000, 1023, 1024, 1025, 5000, 100_000]), rng.choice("[{")),
        lambda: rng.choice(NON_FINITE),
    ])()


def nested(depth: int, opener: str) -> str:
    """A value nested ``depth`` deep, built as text (no recursion)."""
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a": ' * depth + "1" + "}" * depth


def with_raw(obj: dict, key: str, raw: str) -> bytes:
    """``obj`` as a line, field ``key`` set to the text ``raw`` (written as it is)."""
    o = dict(obj)
    o[key] = MARK
    return json.dumps(o).replace(json.dumps(MARK), raw).encode()


def mutate_line(rng: random.Random, lines: list[bytes]) -> str:
    """Mutate one line of ``lines`` (JSON text, no line ends) in place; the kind of mutation."""
    i = rng.randrange(len(lines))
    try:
        obj = json.loads(lines[i])
    except (ValueError, RecursionError):  # not JSON (any more), or nested too deep for this module
        obj = None
    kind = rng.choice(["delete-field", "rename-field", "duplicate-key", "type-swap", "type-swap", "nesting",
                       "non-finite", "vocabulary", "vocabulary", "add-field", "byte-flip", "not-utf8",
                       "bom", "cr-or-nul", "cut-line"])
    if obj is None or not isinstance(obj, dict) or not obj:
        kind = rng.choice(["byte-flip", "not-utf8", "cut-line"])
    line = lines[i]
    if kind in ("byte-flip", "not-utf8", "bom", "cr-or-nul", "cut-line"):
        p = rng.randrange(len(line) + 1)
        if kind == "byte-flip" and line:
            p = min(p, len(line) - 1)
            lines[i] = line[:p] + bytes([line[p] ^ rng.randrange(1, 256)]) + line[p + 1:]
        elif kind == "not-utf8":
            lines[i] = line[:p] + rng.choice(NOT_UTF8) + line[p:]
        elif kind == "bom":
            lines[i] = b"\xef\xbb\xbf" + line if rng.random() < 0.7 else line[:p] + b"\xef\xbb\xbf" + line[p:]
        elif kind == "cr-or-nul":
            lines[i] = line[:p] + rng.choice([b"\r", b"\x00", b"\t", b"\x0b", b"\\"]) + line[p:]
        else:
            lines[i] = line[:p]
        return kind
    key = rng.choice(list(obj))
    if kind == "delete-field":
        del obj[key]
        lines[i] = json.dumps(obj).encode()
    elif kind == "rename-field":
        obj[rng.choice([key.upper(), key + "_", "x-" + key, rng.choice(FIELDS)])] = obj.pop(key)
        lines[i] = json.dumps(obj).encode()
    elif kind == "duplicate-key":
        first = odd_value(rng) if rng.random() < 0.5 else json.dumps(obj[key])
        text = json.dumps(obj)
        lines[i] = (text[:-1] + f", {json.dumps(key)}: {first}" + "}").encode() if rng.random() < 0.5 else \
            ("{" + f"{json.dumps(key)}: {first}, " + text[1:]).encode()
    elif kind in ("type-swap", "nesting", "non-finite"):
        raw = {"type-swap": lambda: odd_value(rng),
               "nesting": lambda: nested(rng.choice([10, 254, 255, 999, 1000, 1024, 3000, 100_000]),
                                         rng.choice("[{")),
               "non-finite": lambda: rng.choice(NON_FINITE)}[kind]()
        lines[i] = with_raw(obj, key, raw)
    elif kind == "vocabulary":
        lines[i] = with_raw(obj, key, json.dumps(rng.choice(WORDS)))
    else:  # add-field
        lines[i] = with_raw(obj, rng.choice(FIELDS), odd_value(rng) if rng.random() < 0.5
                            else json.dumps(rng.choice(WORDS)))
    return kind


def mutate_file(rng: random.Random, lines: list[bytes]) -> str:
    """A mutation of the trace as a whole (lines without their ends), in place; its kind."""
    kind = rng.choice(["delete-line", "duplicate-line", "swap-lines", "blank-line", "insert-x-event"])
    i = rng.randrange(len(lines))
    if kind == "delete-line" and len(lines) > 1:
        del lines[i]
    elif kind == "duplicate-line":
        lines.insert(i, lines[i])
    elif kind == "swap-lines":
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "blank-line":
        lines.insert(i, rng.choice([b"", b" ", b"\t", b"\r"]))
    else:
        ev = rng.choice(sorted(X_VALIDATED))
        obj = {"ev": ev}
        for key in X_VALIDATED[ev]:
            if rng.random() < 0.85:
                obj[key] = MARK
        text = json.dumps(obj)
        for _ in X_VALIDATED[ev]:
            text = text.replace(json.dumps(MARK), json.dumps(rng.choice(WORDS)) if rng.random() < 0.6
                                else odd_value(rng), 1)
        lines.insert(max(i, 1), text.encode())
    return kind


def mutation(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """One to three mutations of the trace ``data``; the bytes and what was done."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    kinds = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if not lines:
            lines = [b""]
        kinds.append(mutate_line(rng, lines) if rng.random() < 0.75 else mutate_file(rng, lines))
    ending = rng.choice([b"\n"] * 8 + [b"\r\n", b""])
    out = b"\n".join(lines) + b"\n" if ending == b"\n" else ending.join(lines) + (ending or b"")
    if rng.random() < 0.03:
        out = out[: rng.randrange(len(out) + 1)]
        kinds.append("cut-file")
    return out, "+".join(kinds)


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def run_one(path: Path, data: bytes, timeout: float) -> tuple[str, str | None]:
    """Check ``data`` with ``conform check --json``; its outcome and, if bad, why."""
    path.write_bytes(data)
    out = io.StringIO()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(["check", str(path), "--json"])
    except Timeout:
        return "other", f"no verdict within {timeout} s"
    except BaseException:  # noqa: BLE001 - everything is what is looked for
        return "other", traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        verdict = json.loads(out.getvalue())
    except ValueError:
        return "other", f"exit {code}, output is not JSON: {out.getvalue()[:500]!r}"
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    line, reason = verdict.get("line"), verdict.get("reason") or ""
    expected = {"conforms": 0, "diverges": 1, "invalid": 2}.get(verdict.get("verdict"))
    if code != expected:
        return "other", f"exit {code} with verdict {verdict!r}"
    if line is not None and not 1 <= line <= lines + 1:
        return "other", f"line {line} outside a file of {lines} lines: {verdict!r}"
    if len(reason) > MAX_REASON:
        return "other", f"a reason of {len(reason)} characters: {reason[:200]!r}..."
    if code == 2:
        return ("exit 2, line" if line is not None else "exit 2, no line"), None
    return f"exit {code}", None


def main_(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=10_000, help="how many malformed inputs (default 10000)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the mutations (default 1)")
    ap.add_argument("--traces", nargs="*", default=[], metavar="DIR", help="more traces to mutate (*.jsonl)")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds one check may take (default 20)")
    ap.add_argument("--keep", metavar="DIR", help="write each input that escaped into DIR (made if absent)")
    args = ap.parse_args(argv)

    bases = base_traces(args.traces)
    rng = random.Random(args.seed)
    counts: Counter = Counter()
    by_kind: dict[str, Counter] = {}
    bad = 0
    signal.signal(signal.SIGALRM, _alarm)
    start_cpu, start = time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="conform-fuzz-") as tmp:
        path = Path(tmp) / "input.jsonl"
        for n in range(args.inputs):
            name, base = rng.choice(bases)
            data, what = mutation(rng, base)
            outcome, why = run_one(path, data, args.timeout)
            counts[outcome] += 1
            for kind in set(what.split("+")):
                by_kind.setdefault(kind, Counter())[outcome] += 1
            if why is not None:
                bad += 1
                print(f"--- input {n} ({name}: {what}) escaped:\n{data[:4000]!r}\n{why}", flush=True)
                if args.keep:
                    Path(args.keep).mkdir(parents=True, exist_ok=True)
                    (Path(args.keep) / f"escaped-{args.seed}-{n}.jsonl").write_bytes(data)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu

    outcomes = ["exit 2, line", "exit 2, no line", "exit 0", "exit 1", "other"]
    print(f"{args.inputs} malformed inputs, seed {args.seed}, mutations of {len(bases)} traces")
    for o in outcomes:
        print(f"  {o:<16} {counts[o]:>7}")
    print(f"{'mutation':<16} " + " ".join(f"{o:>15}" for o in outcomes))
    for kind in sorted(by_kind):
        print(f"{kind:<16} " + " ".join(f"{by_kind[kind][o]:>15}" for o in outcomes))
    print(f"time: {wall:.1f} s wall, {cpu:.1f} s CPU, {args.inputs / wall:.0f} inputs/s; "
          f"escaped: {bad} (goal 0)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main_())
