"""Benchmark ``conform trace``: what tracing adds to a program's run, and what
checking its trace costs next to parsing it.

For every stored strace log of a real program (``tests/strace/logs``), best of
``--repeat`` runs, CPU seconds of this process:

* ``json.loads`` of every line of the converted trace (the floor);
* converting the log into the trace (``tcpconform.strace.convert.trace_text``);
* checking the trace (``read_trace`` + ``check_trace``, as ``conform check``).

With ``--live`` (root, the programs installed), every program of the live
tests is also run ``--repeat`` times plain and under strace (with the flags
``conform trace`` uses), each in a fresh network namespace, and the ratio of
the wall times is printed: strace's overhead on that program's whole run
(its fixed sleeps included, so the ratio is a lower bound on the overhead of
its busy parts; ``redis-benchmark-2000`` is the redis run with 2,000 requests
of each kind, where the requests dominate).

Run: ``bin/dev python benchmarks/bench_trace.py [--repeat N] [--live]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tcpconform.check.search import check_trace  # noqa: E402
from tcpconform.check.trace import read_trace  # noqa: E402
from tcpconform.live import tracer  # noqa: E402
from tcpconform.strace.convert import trace_text  # noqa: E402

LOGS = ROOT / "tests" / "strace" / "logs"


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def offline(repeat: int) -> None:
    print(f"{'log':28} {'log lines':>9} {'events':>7} {'parse s':>9} {'convert s':>10} {'check s':>9} "
          f"{'check/parse':>11}")
    for path in sorted(LOGS.glob("*.log.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
        text, _ = trace_text(lines, {})
        rows = text.splitlines()
        parse = best(lambda: [json.loads(r) for r in rows], repeat)
        convert = best(lambda: trace_text(lines, {}), repeat)

        def checked():
            header, events = read_trace(text.encode().splitlines(keepends=True))
            return check_trace(header, events)
        check = best(checked, repeat)
        assert checked().verdict == "conforms"
        name = path.name[:-len(".log.gz")]
        print(f"{name:28} {len(lines):9} {len(rows) - 1:7} {parse:9.4f} {convert:10.4f} {check:9.4f} "
              f"{check / parse:10.0f}x")


def live(repeat: int) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.strace.test_programs import NGINX_CONF, PROGRAMS, command_of
    print(f"\n{'program':28} {'plain s':>8} {'strace s':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as d:
        Path(d, "nginx.conf").write_text(NGINX_CONF.format(d=d))
        Path(d, "index.html").write_text("hello\n")
        busy = {"redis-benchmark-2000": PROGRAMS["redis-benchmark"][0].replace("-n 40", "-n 2000")}
        for name in sorted(PROGRAMS) + sorted(busy):
            command = busy[name] if name in busy else command_of(name, d)
            ns = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
            plain = ns + ["sh", "-c", command]
            traced = ns + [tracer.strace_path(), *tracer.STRACE_FLAGS, "-o", os.path.join(d, "log"),
                           "sh", "-c", command]
            t = {}
            for label, cmd in (("plain", plain), ("strace", traced)):
                runs = []
                for _ in range(repeat):
                    start = time.monotonic()
                    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    runs.append(time.monotonic() - start)
                t[label] = min(runs)
            print(f"{name:28} {t['plain']:8.3f} {t['strace']:9.3f} {t['strace'] / t['plain']:5.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--live", action="store_true", help="also time the programs with and without strace (root)")
    args = ap.parse_args()
    offline(args.repeat)
    if args.live:
        live(args.repeat)


if __name__ == "__main__":
    main()
