"""Random campaigns, isolation, --explain, --where, and interrupting a run.

Live tests: they drive this machine's TCP stack over loopback. The namespace
tests need the right to make network namespaces (root, or unprivileged user
namespaces); they are skipped otherwise. About 30 s in all on 2 cores.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tcpconform import cli
from tcpconform.check.plain import PlainSearch
from tcpconform.check.search import check_trace
from tcpconform.check.trace import Call, parse_addr, read_trace
from tcpconform.live import campaign, netns, pool
from tcpconform.live.recorder import Recorder, diag_dump
from tcpconform.live.run import run_scenarios

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the recorder drives Linux TCP sockets over loopback")

NETNS = netns.probe().mode == "netns"
needs_netns = pytest.mark.skipif(not NETNS, reason="no network namespaces here: " + netns.probe().reason)


def conform_run(*argv: str) -> int:
    """``conform run ARGV`` in this process (no run: usage errors and --where only)."""
    return cli.main(["run", *argv])


def checked(path: str) -> Any:
    with open(path, "rb") as f:
        header, events = read_trace(f)
        return check_trace(header, events)


# ---------------------------------------------------------------------------
# lockstep checking and the never-hang rule, in this process
# ---------------------------------------------------------------------------

def test_lockstep_stops_at_the_first_divergent_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault injected into the recording is caught at its own line, and the run stops there."""
    def fault(ev: dict) -> dict:
        if ev.get("ev") == "state" and ev["state"] == "LISTEN":
            return dict(ev, state="SYN_SENT")
        return ev
    monkeypatch.setattr(campaign, "FAULT", fault)
    program = [[1, 0, 0], [2, 0, 0], [4, 0, 0]]  # serve, dial, send: stops long before the send
    r = campaign.run_program(program)
    assert r.verdict == "diverges"
    lines = r.trace_text.splitlines()
    assert len(lines) == r.line  # the trace ends at the divergent event
    last = json.loads(lines[-1])
    assert last.pop("t") >= 0  # a version-2 recording: every event has its time
    assert last == {"ev": "state", "sock": "L", "state": "SYN_SENT"}
    assert [c[0] for c in r.calls] == ["socket", "bind", "listen"]
    verdict = check_trace(*read_trace(io.BytesIO(r.trace_text.encode())))
    assert (verdict.verdict, verdict.line) == ("diverges", r.line)


def _feed(rec: Recorder) -> PlainSearch:
    checker = PlainSearch()
    feed = campaign.LiveFeed(rec.header(), checker)
    assert feed.push(rec.events) is None
    return checker


def test_may_block_follows_the_model() -> None:
    """Calls on blocking sockets are made only where the model says they return."""
    with Recorder("t") as rec:
        rec.socket("L")
        rec.bind("L", "127.0.0.1:0")
        rec.listen("L", 0)  # room for one connection (backlog + 1)
        addr = rec.local("L")
        accept = Call(0, "L", "accept", "ok", new="x")
        assert campaign.may_block(_feed(rec), accept)  # nobody connects: would sleep for ever
        rec.socket("c")
        connect = Call(0, "c", "connect", "ok", addr=parse_addr(addr))
        assert not campaign.may_block(_feed(rec), connect)  # a listener with room: handshake completes
        rec.connect("c", addr)
        assert not campaign.may_block(_feed(rec), accept)
        rec.socket("d", nonblock=True)
        rec.connect("d", addr)  # the queue is now full: d's handshake waits
        rec.socket("e")
        assert campaign.may_block(_feed(rec), Call(0, "e", "connect", "ok", addr=parse_addr(addr)))
        rec.accept("L", "s")
        recv = Call(0, "s", "recv", "ok", length=10)
        assert campaign.may_block(_feed(rec), recv)  # no data, no FIN: would sleep for ever
        rec.send("c", 3)
        assert not campaign.may_block(_feed(rec), recv)
        rec.recv("s", 10)
        rec.close("c")
        assert not campaign.may_block(_feed(rec), recv)  # end of stream: returns 0


def test_interpreter_uses_only_what_the_trace_shows() -> None:
    """Every action stands for at most a few calls, on names and addresses the trace introduced."""
    program = [[o, x, y] for o in range(len(campaign.OP_TABLE)) for x, y in ((0, 0), (3, 5), (7, 7))]
    r = campaign.run_program(program, keep_text=True)
    assert r.verdict in ("conforms", "diverges"), r.reason
    header, events = read_trace(io.BytesIO(r.trace_text.encode()))
    shown = set()
    for ev in events:
        if getattr(ev, "op", None) in ("bind", "connect") and ev.addr is not None and ev.addr[1] != 0:
            assert ev.addr[1] in shown, f"line {ev.line} uses a port the trace never showed"
        for a in (getattr(ev, "local", None), getattr(ev, "peer", None)):
            if a is not None:
                shown.add(a[1])


# ---------------------------------------------------------------------------
# conform run --random
# ---------------------------------------------------------------------------

def test_random_campaign_reports_and_saves_what_it_finds(tmp_path: Path) -> None:
    said: list[str] = []
    camp = campaign.run_campaign(40, 11, jobs=2, out_dir=str(tmp_path), progress=lambda e: said.append(e.format()))
    assert camp.sequences == 40 and camp.jobs == 2 and camp.seed == 11
    assert camp.conforms + camp.diverged + camp.errors == 40
    assert camp.errors == 0, camp.errors_detail
    assert said[0].startswith("random campaign: 40 sequences, seed 11") and said[-1].startswith("40/40 sequences")
    assert pool.isolation_of(camp.ready).mode == ("netns" if NETNS else "none")
    assert camp.status == (1 if camp.divergences else 0)
    for d in camp.divergences:  # real model gaps, if any: each saved, each reproducible offline
        verdict = checked(d.trace)
        assert (verdict.verdict, verdict.line) == ("diverges", d.line)
        assert d.calls <= d.shrunk_from


def _fault_connect(ev: dict) -> dict:
    """A kernel that cannot connect: every EINPROGRESS reads ENETUNREACH."""
    if ev.get("op") == "connect" and ev["ret"] == "EINPROGRESS":
        ev = {k: v for k, v in ev.items() if k != "local"}
        ev["ret"] = "ENETUNREACH"
    return ev


def test_divergence_is_shrunk_saved_and_never_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaign, "FAULT", _fault_connect)  # inherited by the forked workers
    runs = []
    for _ in range(2):
        camp = campaign.run_campaign(30, 5, jobs=2, steps=12, out_dir=str(tmp_path))
        runs.append(camp)
        assert camp.status == 1
    found = [d for d in runs[0].divergences if d.signature.startswith("connect -> ENETUNREACH")]
    assert found, runs[0].divergences
    d = found[0]
    # the smallest program: a socket, then connect (to a port shown by a bind, or to a listener:
    # socket, bind, listen)
    assert d.calls <= 5 and d.calls <= d.shrunk_from, d
    assert json.loads(d.event)["ret"] == "ENETUNREACH"
    text = Path(d.trace).read_text()
    assert len(text.splitlines()) == d.line
    assert json.loads(text.splitlines()[0])["meta"]["seed"] == 5
    verdict = checked(d.trace)
    assert (verdict.verdict, verdict.line) == ("diverges", d.line)
    # the second run wrote new files next to the first run's, which are unchanged
    first = {d.trace for d in runs[0].divergences}
    second = {d.trace for d in runs[1].divergences}
    assert first and second and not first & second
    assert Path(d.trace).read_text() == text


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert conform_run("--random", "0") == 2
    assert conform_run("--seed", "3") == 2
    assert conform_run("--random", "3", "--jobs", "0") == 2
    assert "--seed only makes sense with --random" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# isolation
# ---------------------------------------------------------------------------

@needs_netns
def test_every_worker_has_its_own_namespace() -> None:
    fresh_ids: list[list] = []

    def target(job: None, worker: pool.Worker) -> None:
        ids = [netns.netns_id()]
        worker.fresh()
        ids.append(netns.netns_id())
        worker.send(ids)

    report = pool.run_workers([None, None], target, lambda index, ids: fresh_ids.append(ids))
    assert not report.problems
    assert [r.isolated.mode for r in report.ready] == ["netns", "netns"]
    spaces = [r.netns for r in report.ready] + [i for ids in fresh_ids for i in ids]
    assert netns.netns_id() not in spaces
    assert len(set(r.netns for r in report.ready)) == 2
    assert len(fresh_ids) == 2 and all(a != b for a, b in fresh_ids)  # fresh() moves into yet another one


def test_isolation_is_reported() -> None:
    report = run_scenarios(["self-connect"])
    iso = pool.isolation_of(report.ready)
    assert report.status == 0 and iso.mode == ("netns" if NETNS else "none") and iso.reason
    report = run_scenarios(["self-connect"], isolation="none")
    iso = pool.isolation_of(report.ready)
    assert report.status == 0 and (iso.mode, iso.reason) == ("none", "disabled by --isolation none")
    assert "isolation none" in pool.network_line(iso)


def test_without_root_isolation_says_why() -> None:
    """As an unprivileged user: a user namespace gives netns, or the reason says why not."""
    def unprivileged() -> str:
        if os.geteuid() == 0:
            os.setgid(65534)
            os.setuid(65534)
        iso = netns.enter_fresh()
        return json.dumps([iso.mode, iso.reason, os.geteuid()])

    mode, reason, uid = json.loads(_in_child(unprivileged))
    assert uid != 0
    assert mode in ("netns", "none") and reason
    assert ("user namespace" in reason) if mode == "netns" else ("not root" in reason)


def test_where_says_so_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    assert conform_run("--where") == 0
    text = capsys.readouterr().out
    assert "never sends anything to an address outside loopback" in text
    assert "127.0.0.1" in text
    assert ("isolation: netns" if NETNS else "isolation: none") in text


# ---------------------------------------------------------------------------
# --explain
# ---------------------------------------------------------------------------

def test_explain_sets_model_and_kernel_side_by_side() -> None:
    report = run_scenarios(["nonblocking-connect"], explain=True)
    assert report.status == 0
    text = "\n".join(report.lines())
    assert "model (" in text and "kernel" in text
    header = [line for line in text.splitlines() if "Recv-Q" in line][0]
    assert header.count("Recv-Q") == 2 and header.count("Foreign Address") == 2
    accept = text.split("L accept() -> ok new=s")[1].split("\n\n")[0]
    row = [line for line in accept.splitlines() if line.split()[:1] == ["s"]][0]
    assert row.count("ESTABLISHED") == 2 and not row.startswith("  *")

    entry = report.to_json()["scenarios"][0]
    steps = entry["explain"]
    assert steps and all(s["kernel"] is not None for s in steps)
    last = steps[-1]
    assert {r["sock"] for r in last["model"] if r["sock"]} >= {"L", "c", "s"}


# ---------------------------------------------------------------------------
# interrupting a run
# ---------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _netns_list() -> str:
    try:
        return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _in_child(fn) -> str:
    """What ``fn()`` returns, run in a forked child (which may change its uid
    or namespaces without touching the test process)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(r)
            os.write(w, fn().encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    os.waitpid(pid, 0)
    return data


def _open_descriptors_in(ns_fd: int) -> int:
    """TCP sockets in the namespace ``ns_fd`` that some descriptor still holds (sock_diag inode != 0)."""
    def count() -> str:
        if ctypes.CDLL(None, use_errno=True).setns(ns_fd, netns.CLONE_NEWNET) != 0:
            return "-1"
        return str(sum(1 for d in diag_dump() if d.inode != 0))

    return int(_in_child(count))


@needs_netns
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_leaves_nothing_behind(sig: signal.Signals, tmp_path: Path) -> None:
    before = _netns_list()
    proc = subprocess.Popen([sys.executable, "-m", "tcpconform.cli", "run", "--random", "1000", "--seed", "3",
                             "--jobs", "2", "--observers", "on", "--out", str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    err = ""
    workers: list[int] = []
    ns_fds: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while "/1000 sequences" not in err and time.monotonic() < deadline:  # a progress line: mid-run
            ready, _, _ = select.select([proc.stderr], [], [], 0.5)
            if ready:
                err += os.read(proc.stderr.fileno(), 4096).decode()
            assert proc.poll() is None, err
        assert "/1000 sequences" in err, err
        workers = _children(proc.pid)
        assert len(workers) == 2
        for w in workers:  # hold each worker's namespace, to look inside it afterwards
            ns_fds.append(os.open(f"/proc/{w}/ns/net", os.O_RDONLY))
        spaces = {netns.netns_id(w) for w in workers}
        assert netns.netns_id() not in spaces
        from tcpconform.live import tracepoint
        ours = [n for n in tracepoint.leftovers() if n.startswith(f"{tracepoint.PREFIX}{proc.pid}-")]
        assert len(ours) == (2 if tracepoint.available() is None else 0)  # a tracefs instance per worker
        proc.send_signal(sig)
        out, rest = proc.communicate(timeout=20)
        err += rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert f"interrupted by {sig.name}" in err and "stopped every worker process" in err
    assert "Traceback" not in err
    for w in workers:
        assert not os.path.exists(f"/proc/{w}"), f"worker {w} is still there"
    assert not _children(proc.pid)
    alive = {netns.netns_id(p) for p in os.listdir("/proc") if p.isdigit()}
    assert not (spaces & alive), "a process still lives in a worker's namespace"
    for fd in ns_fds:
        assert _open_descriptors_in(fd) == 0  # no socket held open in it
        os.close(fd)
    assert _netns_list() == before
    assert not [n for n in tracepoint.leftovers() if n.startswith(f"{tracepoint.PREFIX}{proc.pid}-")], \
        "a tracefs instance of the run (and its enabled tracepoint) is left"


def test_a_kind_of_divergence_has_no_ports_nor_byte_counts():
    """Two divergences that differ only in the values the model expected are one
    kind; another rule or result is another kind."""
    from tcpconform.live.campaign import SeqResult, signature
    event = '{"ev": "call", "sock": "a", "op": "accept", "ret": "ok"}'

    def kind(*allowed: str) -> str:
        return signature(SeqResult("diverges", allowed=list(allowed), event=event))
    one = kind("accept blocks, then ok peer=127.0.0.1:51000 local=127.0.0.1:45000 [accept.empty, accept.ok]",
               "ok 1<=n<=4 [recv.data]")
    assert one == kind("accept blocks, then ok peer=127.0.0.1:40007 local=127.0.0.1:45001 [accept.empty, accept.ok]",
                       "ok 1<=n<=12 [recv.data]")
    assert one == "accept -> ok; model allowed: accept blocks, then ok [accept.empty, accept.ok], ok [recv.data]"
    assert one != kind("accept blocks [accept.empty]", "ok 1<=n<=4 [recv.data]")
