"""Benchmark ``conform check`` against merely parsing the same JSON lines.

Generates a valid trace, writes it to a temporary file, and times, best of
``--repeat`` runs each:

* parsing every line with ``json.loads`` and with ``orjson.loads`` (the floor);
* ``read_trace`` alone (validation, no model);
* ``read_trace`` + ``check_trace`` in-process (what ``conform check`` does);
* with ``--plain``, the same without memoisation (``check_trace(fast=False)``).

Each check starts with the checker's tables empty (as in a fresh process).
Times are CPU seconds of this process (wall seconds beside them): the
machine may be shared, and the ratios are taken of CPU time.

Two traces (``--shape``, both by default): ``lifecycles``, many sequential
connection lifecycles on one listener, each client on a port never used
before in the file; ``mixed``, up to four connections open at once with
their steps interleaved at random (seeded), data of random sizes read in
one to three pieces, either side closing first, shutdown, abortive close,
blocking and non-blocking connects.

``--trace-version 2`` writes the same traces in version 2 of the format
(``--times``: with a time on every event, which the plain search checks);
``--compare-versions`` checks each shape in all three and prints the ratios
of the check's time per event to version 1's.

Run: ``bin/dev python benchmarks/bench_check.py [--events N] [--shape S] [--keep PATH]
[--trace-version 2 [--times]]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from typing import Callable, Iterator

import orjson

from tcpconform.check.trace import read_trace

LISTEN_PORT = 5000
FIRST_CLIENT_PORT = 20000
LAST_CLIENT_PORT = 65535
HOST = "127.0.0.1"


def _call(sock: str, op: str, ret: str = "ok", **fields) -> dict:
    return {"ev": "call", "sock": sock, "op": op, "ret": ret, **fields}


def _state(sock: str, state: str) -> dict:
    return {"ev": "state", "sock": sock, "state": state}


def lifecycle(k: int, port: int, sparse: bool = False) -> list[dict]:
    """One client connection to the listener ``L``: handshake, data both ways, close.

    Even ``k``: the client closes first and ends in TIME_WAIT; odd ``k``: the
    accepted socket closes first and ends in TIME_WAIT. Unless ``sparse``,
    the passive closer is then seen gone (``CLOSED``: the last ACK arrived)
    and the TIME_WAIT connection seen to expire (``CLOSED``: an unobserved
    timer step, always allowed). Without these observations a checker must
    keep open, per past connection, whether that last ACK has arrived yet.
    """
    c, s = f"c{k}", f"s{k}"
    server = f"{HOST}:{LISTEN_PORT}"
    client = f"{HOST}:{port}"
    events = [
        _call(c, "socket"),
        _call(c, "connect", addr=server, local=client),
        _state(c, "ESTABLISHED"),
        _call("L", "accept", new=s, local=server, peer=client),
        _call(c, "send", len=10, n=10),
        _call(s, "recv", len=10, n=10),
        _call(s, "send", len=10, n=10),
        _call(c, "recv", len=10, n=10),
    ]
    first, second = (c, s) if k % 2 == 0 else (s, c)
    events += [
        _call(first, "close"),
        _call(second, "recv", len=10, n=0),
        _call(second, "close"),
        _state(first, "TIME_WAIT"),
    ]
    if not sparse:
        events += [_state(second, "CLOSED"), _state(first, "CLOSED")]
    return events


def preamble(generator: str) -> list[bytes]:
    """The header and the listener ``L``'s first four events."""
    objs = [{"trace": 1, "profile": "linux", "world": "closed", "meta": {"generator": generator}},
            _call("L", "socket"),
            _call("L", "bind", addr=f"{HOST}:{LISTEN_PORT}", local=f"{HOST}:{LISTEN_PORT}"),
            _call("L", "listen", backlog=16),
            _state("L", "LISTEN")]
    return [orjson.dumps(obj) + b"\n" for obj in objs]


def generate(events: int, sparse: bool = False) -> Iterator[bytes]:
    """Lines of a valid trace with at least ``events`` events (header not counted)."""
    yield from preamble("benchmarks/bench_check.py")
    count = 4
    k = 0
    while count < events:
        port = FIRST_CLIENT_PORT + k
        if port > LAST_CLIENT_PORT:
            raise SystemExit(f"bench_check: --events {events} needs more client ports than exist")
        for obj in lifecycle(k, port, sparse):
            count += 1
            yield orjson.dumps(obj) + b"\n"
        k += 1
    yield orjson.dumps(_call("L", "close")) + b"\n"


def mixed_connection(rng: random.Random, k: int, port: int) -> Iterator[list[dict]]:
    """The steps of one connection to ``L``, each a list of events that must
    stay together; between two steps any other connection may act."""
    c, s = f"c{k}", f"s{k}"
    server, client = f"{HOST}:{LISTEN_PORT}", f"{HOST}:{port}"
    if rng.random() < 0.5:
        yield [_call(c, "socket"), _call(c, "connect", addr=server, local=client),
               _call("L", "accept", new=s, local=server, peer=client)]
    else:
        yield [_call(c, "socket", nonblock=True), _call(c, "connect", "EINPROGRESS", addr=server, local=client),
               _state(c, "ESTABLISHED"), _call("L", "accept", new=s, local=server, peer=client)]
    for _ in range(rng.randint(0, 3)):
        a, b = rng.choice([(c, s), (s, c)])
        size = rng.randint(1, 4000)
        yield [_call(a, "send", len=size, n=size)]
        left = size
        while left:
            n = left if rng.random() < 0.5 else rng.randint(1, left)
            yield [_call(b, "recv", len=rng.randint(n, n + 100) if n == left else n, n=n)]
            left -= n
    first, second = rng.choice([(c, s), (s, c)])
    ending = rng.random()
    if ending < 0.1:
        yield [_call(first, "close", linger0=True)]
        yield [_call(second, "recv", "ECONNRESET", len=10)]
        yield [_call(second, "close")]
        return
    if ending < 0.3:
        yield [_call(first, "shutdown", how="wr")]
        yield [_call(second, "recv", len=10, n=0)]
        yield [_call(second, "send", len=7, n=7)]
        yield [_call(first, "recv", len=10, n=7)]
        yield [_call(first, "close")]
    else:
        yield [_call(first, "close")]
        yield [_call(second, "recv", len=10, n=0)]
    yield [_call(second, "close")]
    yield [_state(first, "TIME_WAIT")]
    yield [_state(second, "CLOSED")]
    yield [_state(first, "CLOSED")]


def generate_mixed(events: int, seed: int = 1, width: int = 4) -> Iterator[bytes]:
    """Lines of a valid trace with at least ``events`` events: up to ``width``
    connections at once, their steps interleaved at random."""
    rng = random.Random(seed)
    yield from preamble("benchmarks/bench_check.py --shape mixed")
    count = 4
    live: list[Iterator[list[dict]]] = []
    k = 0
    while live or count < events:
        if count < events and len(live) < width and (not live or rng.random() < 0.3):
            port = FIRST_CLIENT_PORT + k
            if port > LAST_CLIENT_PORT:
                raise SystemExit(f"bench_check: --events {events} needs more client ports than exist")
            live.append(mixed_connection(rng, k, port))
            k += 1
        conn = rng.choice(live)
        step = next(conn, None)
        if step is None:
            live.remove(conn)
            continue
        for obj in step:
            count += 1
            yield orjson.dumps(obj) + b"\n"
    yield orjson.dumps(_call("L", "close")) + b"\n"


SHAPES = {"lifecycles": lambda n, sparse: generate(n, sparse), "mixed": lambda n, sparse: generate_mixed(n)}


def as_version2(lines: Iterator[bytes], times: bool = False) -> Iterator[bytes]:
    """The same trace in version 2 of the format: ``{"trace": 2}``, each socket's
    family, and with ``times`` a time on every event (a millisecond apart, and
    61 s before every state event that sees a TIME_WAIT connection gone, which
    a trace with times can show only once 60 s have passed)."""
    t = 0.0
    for i, line in enumerate(lines):
        obj = orjson.loads(line)
        if i == 0:
            obj["trace"] = 2
        else:
            if obj.get("op") == "socket":
                obj["family"] = "inet"
            if times:
                t += 61.0 if obj.get("ev") == "state" and obj.get("state") == "CLOSED" else 0.001
                obj["t"] = round(t, 3)
        yield orjson.dumps(obj) + b"\n"


def best_of(repeat: int, fn: Callable[[], object], before: Callable[[], None] = lambda: None):
    """The shortest CPU time (of this process) and the shortest wall time of
    ``repeat`` runs of ``fn`` (each after ``before()``), and its last result.
    The machine may be shared: CPU time is what the ratios are taken of."""
    cpu, wall, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        before()
        c0, w0 = time.process_time(), time.perf_counter()
        result = fn()
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - w0)
    return (cpu, wall), result


def cold() -> None:
    """Empty every table the checker keeps between traces, so that each run
    is checked as ``conform check`` checks a trace in a fresh process."""
    from tcpconform.check import memo
    from tcpconform.model import semantics, system

    memo.clear_tables()
    for table in (system._CLOSURE_CACHE, semantics._STEP_CACHE, semantics._APPLY_CACHE):
        table.clear()


def parse_with(loads: Callable[[bytes], object], path: str) -> int:
    n = 0
    with open(path, "rb") as f:
        next(f)
        for line in f:
            loads(line)
            n += 1
    return n


def read_only(path: str) -> int:
    with open(path, "rb") as f:
        _, events = read_trace(f)
        return sum(1 for _ in events)


def check(path: str, fast: bool = True):
    from tcpconform.check.search import check_trace

    with open(path, "rb") as f:
        header, events = read_trace(f)
        return check_trace(header, events, fast=fast)


def compare_versions(shape: str, events: int, sparse: bool, repeat: int) -> int:
    """Check the same trace written in version 1, in version 2, and in version 2
    with times, in this one process; print each one's check time per event and
    its ratio to version 1's."""
    paths = {}
    try:
        for label, version, times in (("version 1", 1, False), ("version 2", 2, False),
                                      ("version 2 with times", 2, True)):
            fd, path = tempfile.mkstemp(prefix=f"bench-trace-{shape}-v{version}-", suffix=".jsonl")
            os.close(fd)
            paths[label] = path
            lines = SHAPES[shape](events, sparse)
            with open(path, "wb") as f:
                f.writelines(as_version2(lines, times) if version == 2 else lines)
        per_event = {}
        for label, path in paths.items():
            n = read_only(path)
            t, verdict = best_of(repeat, lambda path=path: check(path), cold)
            per_event[label] = t[0] / n
            print(f"  {label:<22} {n} events  check {t[0]:7.3f} s CPU  {per_event[label] * 1e6:8.1f} µs/event"
                  f"  ({verdict.verdict})")
            if verdict.verdict != "conforms":
                print(f"WARNING: {label}: {verdict.verdict} at line {verdict.line}: {verdict.reason}", file=sys.stderr)
                return 1
        base = per_event["version 1"]
        for label in list(paths)[1:]:
            print(f"  {label} / version 1, per event: {per_event[label] / base:.2f}x")
        return 0
    finally:
        for path in paths.values():
            os.unlink(path)


def measure(path: str, repeat: int, plain: bool) -> int:
    """Time parsing, reading and checking the trace at ``path``; print the ratios."""
    events = read_only(path)
    size = os.path.getsize(path)
    print(f"  {events} events, {size / 1e6:.1f} MB")

    def rate(t: tuple[float, float]) -> str:
        return f"{t[0]:7.3f} s CPU ({t[1]:7.3f} s wall)  {events / t[0]:12,.0f} events/s"

    def ratio(a: tuple[float, float], b: tuple[float, float]) -> str:
        return f"{a[0] / b[0]:.2f}x (wall: {a[1] / b[1]:.2f}x)"

    t_json, _ = best_of(repeat, lambda: parse_with(json.loads, path))
    t_orjson, _ = best_of(repeat, lambda: parse_with(orjson.loads, path))
    t_read, _ = best_of(repeat, lambda: read_only(path))
    print(f"  parse json.loads    {rate(t_json)}")
    print(f"  parse orjson.loads  {rate(t_orjson)}")
    print(f"  read_trace          {rate(t_read)}")
    t_check, verdict = best_of(repeat, lambda: check(path), cold)
    print(f"  check               {rate(t_check)}")
    print(f"  read_trace / parse(json): {ratio(t_read, t_json)}, / parse(orjson): {ratio(t_read, t_orjson)}")
    print(f"  check / parse(json):      {ratio(t_check, t_json)}   (goal: at most 3x)")
    print(f"  check / parse(orjson):    {ratio(t_check, t_orjson)}")
    if plain:
        t_plain, pverdict = best_of(1, lambda: check(path, fast=False), cold)
        print(f"  check, plain search {rate(t_plain)}")
        print(f"  plain / parse(json):      {ratio(t_plain, t_json)}; plain / check: {ratio(t_plain, t_check)}"
              f"  (verdict {pverdict.verdict})")
    if verdict.verdict != "conforms" or verdict.events != events:
        print(f"WARNING: the generated trace should conform, got {verdict.verdict} at line "
              f"{verdict.line}: {verdict.reason} (events {verdict.events})", file=sys.stderr)
        return 1
    print("  verdict: conforms")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000, help="events in the trace (default 300000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (default 3)")
    parser.add_argument("--shape", choices=[*SHAPES, "all"], default="all",
                        help="which trace (default: all, one after the other)")
    parser.add_argument("--keep", metavar="PATH", help="write the trace here and keep it (one --shape)")
    parser.add_argument("--sparse", action="store_true",
                        help="lifecycles: omit the CLOSED observations that end each connection")
    parser.add_argument("--plain", action="store_true", help="also time the search without memoisation (slow)")
    parser.add_argument("--trace-version", type=int, choices=(1, 2), default=1,
                        help="write the trace in version 1 (default) or 2 of the format")
    parser.add_argument("--times", action="store_true", help="version 2: a time on every event")
    parser.add_argument("--compare-versions", action="store_true",
                        help="check each shape in version 1, version 2 and version 2 with times; print the ratios")
    args = parser.parse_args(argv)
    if args.times and args.trace_version != 2:
        parser.error("--times needs --trace-version 2")
    shapes = list(SHAPES) if args.shape == "all" else [args.shape]
    if args.keep and len(shapes) > 1:
        parser.error("--keep needs one --shape")
    status = 0
    if args.compare_versions:
        for shape in shapes:
            print(f"trace {shape}, three versions:")
            status |= compare_versions(shape, args.events, args.sparse, args.repeat)
        return status
    for shape in shapes:
        if args.keep:
            path = args.keep
        else:
            fd, path = tempfile.mkstemp(prefix=f"bench-trace-{shape}-", suffix=".jsonl")
            os.close(fd)
        try:
            with open(path, "wb") as f:
                lines = SHAPES[shape](args.events, args.sparse)
                f.writelines(as_version2(lines, args.times) if args.trace_version == 2 else lines)
            print(f"trace {shape}: {path if args.keep else 'temporary file'}")
            status |= measure(path, args.repeat, args.plain)
        finally:
            if not args.keep:
                os.unlink(path)
    return status


if __name__ == "__main__":
    sys.exit(main())
