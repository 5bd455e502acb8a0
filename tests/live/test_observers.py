"""The observers: packets on the run's own lo and the sock:inet_sock_set_state tracepoint.

On the real kernel (no mocks): scenarios recorded with both observers write
``x-packet`` and ``x-state`` events that the checker checks and that conform;
one-event mutants of those events are rejected at their line; traces with
them are still fine for a checker that does not read them; an interrupted
run leaves no tracefs instance or port slot behind.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tcpconform.live import netns, packets, tracepoint
from tcpconform.check import observed as xcheck
from tcpconform.check.observed import ObservedSearch
from tcpconform.check.search import check_trace, engine_for
from tcpconform.check.trace import read_trace

ROOT = Path(__file__).resolve().parents[2]

NETNS = sys.platform.startswith("linux") and os.geteuid() == 0 and netns.probe().mode == "netns"
TRACEFS = tracepoint.available()
# The live tests need both; the checks of stored and hand-made traces run everywhere.
live = pytest.mark.skipif(not NETNS or TRACEFS is not None,
                          reason=f"needs root, network namespaces and tracefs: {TRACEFS or 'no netns'}")

SCENARIOS = ["lifecycle-client-closes", "lifecycle-server-closes", "simultaneous-close", "self-connect",
             "listener-closed-with-queue", "refused-no-socket", "abortive-close", "simultaneous-open",
             "listener-calls", "closed-connection-calls", "accept-queue-full"]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tcpconform.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """The scenarios recorded once by ``conform run`` with both observers on (their lines)."""
    out = tmp_path_factory.mktemp("observed")
    r = _cli("run", *SCENARIOS, "--out", str(out), "--json", "--jobs", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["observers"]["packets"] == {"on": len(SCENARIOS), "of": len(SCENARIOS), "off_reason": None}
    assert report["observers"]["states"] == {"on": len(SCENARIOS), "of": len(SCENARIOS), "off_reason": None}
    return {n: (out / f"{n}.jsonl").read_text().splitlines() for n in SCENARIOS}


def _check(lines: list[str]):
    header, events = read_trace(io.BytesIO(("\n".join(lines) + "\n").encode()))
    checker, events = engine_for(header, events, memoised=False)
    for ev in events:
        bad = checker.feed(ev)
        if bad is not None:
            return bad, checker
    return None, checker


def _events(lines: list[str]) -> list[tuple[int, dict]]:
    return [(i + 1, json.loads(t)) for i, t in enumerate(lines) if i > 0]


# ---------------------------------------------------------------------------
# live runs
# ---------------------------------------------------------------------------

@live
@pytest.mark.parametrize("name", SCENARIOS)
def test_observed_scenario_conforms_with_its_x_events_checked(recorded: dict, name: str) -> None:
    lines = recorded[name]
    evs = _events(lines)
    assert evs[0][1] == {"ev": "x-observers", "packets": True, "states": True}
    kinds = {o["ev"] for _, o in evs}
    assert "x-state" in kinds
    if any(o.get("op") == "connect" and o["ret"] in ("ok", "EINPROGRESS", "ECONNREFUSED") for _, o in evs):
        assert any(o["ev"] == "x-packet" and o["flags"] == "SYN" for _, o in evs)
    bad, checker = _check(lines)
    assert bad is None, (bad.line, bad.reason, bad.allowed)
    assert isinstance(checker, ObservedSearch) and checker.x_checked >= 2  # x- events were really checked


@live
def test_each_segment_is_captured_once_in_the_run_s_own_namespace(recorded: dict) -> None:
    """Only outgoing copies: the handshake is SYN, SYN+ACK, ACK once each; only 127.0.0.1."""
    evs = [o for _, o in _events(recorded["lifecycle-client-closes"]) if o["ev"] == "x-packet"]
    flags = [o["flags"] for o in evs]
    assert flags[:3] == ["SYN", "SYN+ACK", "ACK"]
    assert flags.count("SYN") == 1 and flags.count("SYN+ACK") == 1
    assert {o["src"].rpartition(":")[0] for o in evs} == {"127.0.0.1"}
    fins = [o for o in evs if "FIN" in o["flags"]]
    assert len(fins) == 2 and fins[0]["src"] != fins[1]["src"]


@live
def test_tracepoint_shows_what_the_docs_say(recorded: dict) -> None:
    """TIME_WAIT never appears (the full socket goes to CLOSED); CLOSING does; a child is
    LISTEN -> SYN_RECEIVED -> ESTABLISHED with no name before accept."""
    every = [o for lines in recorded.values() for _, o in _events(lines) if o["ev"] == "x-state"]
    assert all("TIME_WAIT" not in (o["from"], o["to"]) for o in every)
    assert any(o["from"] == "FIN_WAIT_1" and o["to"] == "CLOSING" for o in every)
    assert any(o["from"] == "CLOSING" and o["to"] == "CLOSED" for o in every)
    children = [o for o in every if o["from"] == "LISTEN" and o["to"] == "SYN_RECEIVED"]
    assert children and all("sock" not in o for o in children)
    connecting = [o for o in every if o["to"] == "SYN_SENT"]
    assert connecting and all("sock" in o for o in connecting)
    assert any(o["local"].endswith(":0") for o in connecting)  # an unbound socket has no port yet


@live
def test_conform_run_reports_observers_off_and_why(tmp_path: Path) -> None:
    r = _cli("run", "refused-no-socket", "--observers", "off", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "observers: packets on lo (x-packet) off in 1 of 1: --observers off" in r.stdout
    first = json.loads((tmp_path / "refused-no-socket.jsonl").read_text().splitlines()[1])
    assert first["ev"] == "x-observers" and first["packets"] is False and first["states"] is False
    assert first["off"]["states"] == "--observers off"


@live
def test_observers_off_without_their_own_namespaces_or_tracefs(tmp_path: Path) -> None:
    r = _cli("run", "refused-no-socket", "--isolation", "none")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sock:inet_sock_set_state (x-state) off in 1 of 1: --isolation none" in r.stdout
    r = _cli("run", "--random", "5", "--seed", "1", "--observers", "off", "--out", str(tmp_path / "found"))
    assert r.returncode == 0 and "observers: x-state off: --observers off; x-packet off too" in r.stdout
    assert "tracefs is not mounted" in tracepoint.available(str(tmp_path))  # a directory that is no tracefs
    with tracepoint.Session(2, root=str(tmp_path)) as s:
        assert s.off is not None and s.for_worker(1) == {"instance": None, "ports": None, "off": s.off}


# ---------------------------------------------------------------------------
# mutants of x- events are rejected at their line
# ---------------------------------------------------------------------------

def _first(lines: list[str], pred) -> int:
    return next(i for i, o in _events(lines) if pred(o))


def _replace(lines: list[str], line: int, **fields) -> list[str]:
    obj = dict(json.loads(lines[line - 1]), **fields)
    return lines[:line - 1] + [json.dumps(obj)] + lines[line:]


@live
def test_wrong_flag_is_rejected_at_its_line(recorded: dict, tmp_path: Path) -> None:
    lines = recorded["lifecycle-client-closes"]
    at = _first(lines, lambda o: o["ev"] == "x-packet" and o["flags"] == "SYN+ACK")
    mutant = _replace(lines, at, flags="RST+ACK")
    original = tmp_path / "original.jsonl"
    original.write_text("\n".join(lines) + "\n")
    r = _cli("check", str(original))
    assert r.returncode == 0 and "x-packet/x-state observations checked" in r.stdout, r.stdout
    path = tmp_path / "mutant.jsonl"
    path.write_text("\n".join(mutant) + "\n")
    r = _cli("check", str(path), "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    verdict = json.loads(r.stdout)
    assert verdict["line"] == at and "x-packet" in verdict["reason"], verdict


@live
def test_missing_syn_ack_is_rejected_at_the_next_segment_that_way(recorded: dict) -> None:
    """Deleting the SYN+ACK: the server's next control segment (its FIN) is then not the
    oldest it sent, so the trace diverges there (docs/extensions.md: what is checked)."""
    lines = recorded["lifecycle-client-closes"]
    at = _first(lines, lambda o: o["ev"] == "x-packet" and o["flags"] == "SYN+ACK")
    server = json.loads(lines[at - 1])["src"]
    mutant = lines[:at - 1] + lines[at:]
    nxt = _first(mutant, lambda o: o["ev"] == "x-packet" and o["src"] == server and xcheck.wire_kind(o["flags"]))
    bad, _ = _check(mutant)
    assert bad is not None and bad.line == nxt, (bad and (bad.line, bad.reason), nxt)


@live
def test_wrong_state_transition_is_rejected_at_its_line(recorded: dict) -> None:
    lines = recorded["lifecycle-client-closes"]
    at = _first(lines, lambda o: o["ev"] == "x-state" and o.get("sock") == "c" and o["to"] == "FIN_WAIT_1")
    bad, _ = _check(_replace(lines, at, to="CLOSE_WAIT"))
    assert bad is not None and bad.line == at and "x-state" in bad.reason
    bad, _ = _check(_replace(lines, at, sock="s"))  # the other end did not do that
    assert bad is not None and bad.line == at


@live
def test_every_one_event_mutant_of_a_checked_x_event_is_rejected_at_its_line(recorded: dict) -> None:
    """Over all recorded scenarios: each checked x-packet with another control flag, each
    named x-state with another target state."""
    swap = {"SYN": "RST", "SYN+ACK": "RST+ACK", "FIN+ACK": "RST+ACK", "FIN+PSH+ACK": "RST+ACK",
            "RST+ACK": "FIN+ACK", "RST": "FIN"}
    tried = 0
    for name, lines in recorded.items():
        for at, o in _events(lines):
            if o["ev"] == "x-packet" and xcheck.wire_kind(o["flags"]) and o["flags"] in swap:
                mutant = _replace(lines, at, flags=swap[o["flags"]])
            elif o["ev"] == "x-state" and o.get("sock") and o["from"] != o["to"]:
                other = next(s for s in ("CLOSE_WAIT", "LISTEN", "SYN_SENT") if s not in (o["from"], o["to"]))
                mutant = _replace(lines, at, to=other)
            else:
                continue
            tried += 1
            bad, _ = _check(mutant)
            assert bad is not None and bad.line == at, (name, at, lines[at - 1], bad and bad.line)
    assert tried > 50


@live
def test_after_a_capture_drop_packets_are_no_longer_checked(recorded: dict) -> None:
    lines = recorded["lifecycle-client-closes"]
    at = _first(lines, lambda o: o["ev"] == "x-packet" and o["flags"] == "SYN+ACK")
    mutant = _replace(lines, at, flags="RST+ACK")
    assert _check(mutant)[0] is not None
    told = mutant[:at - 1] + ['{"ev": "x-packet-drops", "n": 1}'] + mutant[at - 1:]
    bad, checker = _check(told)
    assert bad is None and isinstance(checker, ObservedSearch)  # x-state events are still checked


@live
def test_retransmissions_are_checked_once(recorded: dict) -> None:
    lines = recorded["lifecycle-client-closes"]
    at = _first(lines, lambda o: o["ev"] == "x-packet" and o["flags"] == "SYN")
    again = lines[:at] + [lines[at - 1]] + lines[at:]
    assert _check(again)[0] is None
    other_seq = lines[:at] + [_replace(lines, at, seq=(json.loads(lines[at - 1])["seq"] + 7))[at - 1]] + lines[at:]
    bad, _ = _check(other_seq)  # a second SYN the model never sent
    assert bad is not None and bad.line == at + 1


def test_a_held_back_segment_may_be_lost() -> None:
    """simultaneous-open, recorded: b's dropped SYN was never sent again (b answered a's SYN
    with a SYN+ACK), so a went SYN_SENT -> ESTABLISHED; only losing b's SYN explains that."""
    lines = (ROOT / "tests" / "traces" / "simultaneous-open-syn-lost.jsonl").read_text().splitlines()
    assert any(json.loads(t).get("to") == "ESTABLISHED" and json.loads(t).get("from") == "SYN_SENT"
               for t in lines[1:] if '"x-state"' in t)
    bad, checker = _check(lines)
    assert bad is None and checker.x_checked > 10
    without = [t for t in lines if '"x-netfilter"' not in t]  # no rule dropped anything: no loss
    bad, _ = _check(without)
    assert bad is not None and '"x-state"' in without[bad.line - 1]


# ---------------------------------------------------------------------------
# checkers that do not read x- events
# ---------------------------------------------------------------------------

@live
def test_x_events_are_fine_for_a_checker_that_does_not_know_them(recorded: dict) -> None:
    for name, lines in recorded.items():
        # without the x-observers declaration the checker does not read them: plain check
        plain = [lines[0]] + lines[2:]
        bad, checker = _check(plain)
        assert bad is None and not isinstance(checker, ObservedSearch), name
        # nor when the declaration comes after a call (the capture may have missed something)
        late = [lines[0], lines[2], lines[1]] + lines[3:]
        assert json.loads(lines[2])["ev"] == "call"
        bad, checker = _check(late)
        assert bad is None and not isinstance(checker, ObservedSearch), name
        # an x- event it does not know is passed over, before the declaration or after it
        odd = [lines[0], '{"ev": "x-something-else", "n": 1}', lines[1], '{"ev": "x-other", "a": []}'] + lines[2:]
        bad, checker = _check(odd)
        assert bad is None and isinstance(checker, ObservedSearch) and checker.x_checked >= 2, name
        header, events = read_trace(io.BytesIO(("\n".join(lines) + "\n").encode()))
        assert check_trace(header, events).verdict == "conforms"


@pytest.mark.parametrize("event", [
    '{"ev": "x-state", "sock": "nobody", "local": "127.0.0.1:1", "remote": "127.0.0.1:2", '
    '"from": "CLOSED", "to": "LISTEN"}',
    '{"ev": "x-netfilter", "on": true, "drop": ["SYN"]}',
    '{"ev": "x-netfilter", "on": "true", "drop": "SYN"}',
    '{"ev": "x-netfilter", "on": true, "drop": "RST"}',
    '{"ev": "x-packet", "src": "127.0.0.1:1", "dst": "127.0.0.1:2", "flags": "SYN+BOGUS"}',
    '{"ev": "x-packet", "src": "localhost:1", "dst": "127.0.0.1:2", "flags": "SYN"}',
], ids=["unintroduced", "drop-list", "on-string", "drop-unknown", "flags", "address"])
def test_malformed_x_events_are_unusable_input(tmp_path: Path, event: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"trace": 1}\n{"ev": "x-observers", "packets": true, "states": true}\n'
                    f'{event}\n')
    r = _cli("check", str(path))
    assert r.returncode == 2 and "line 3" in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_an_address_is_the_same_however_it_is_spelled() -> None:
    """x-packet addresses are read as the model reads the calls' (normalised):
    [0::1] is [::1]; a wrong port still diverges."""
    v4 = (ROOT / "tests" / "traces" / "simultaneous-open-syn-lost.jsonl").read_text()
    v6 = v4.replace("127.0.0.1:", "[::1]:").splitlines()
    bad, checker = _check(v6)
    assert bad is None and checker.x_checked > 10
    spelled = [t.replace("[::1]:", "[0::1]:") if '"x-packet"' in t else t for t in v6]
    bad, checker = _check(spelled)
    assert bad is None and checker.x_checked > 10
    k = _first(spelled, lambda e: e.get("ev") == "x-packet" and e.get("flags") == "SYN")
    moved = json.loads(spelled[k - 1])
    host, _, port = moved["dst"].rpartition(":")
    moved["dst"] = f"{host}:{int(port) + 1}"
    bad, _ = _check(spelled[:k - 1] + [json.dumps(moved)] + spelled[k:])
    assert bad is not None and bad.line == k


def test_parse_frame_reads_ipv4_and_ipv6() -> None:
    import struct
    tcp = struct.pack("!HHIIHHHH", 40000, 5000, 7, 0, (5 << 12) | 0x02, 65535, 0, 0)
    ip4 = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, bytes([127, 0, 0, 1]),
                      bytes([127, 0, 0, 1]))
    seg = packets.parse_frame(bytes(12) + b"\x08\x00" + ip4 + tcp)
    assert seg == packets.Segment("127.0.0.1:40000", "127.0.0.1:5000", "SYN", 7, 0, 0)
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(tcp) + 3, 6, 64, bytes(15) + b"\x01", bytes(15) + b"\x01")
    seg = packets.parse_frame(bytes(12) + b"\x86\xdd" + ip6 + tcp + b"abc")
    assert seg is not None and seg.src == "[::1]:40000" and seg.length == 3


# ---------------------------------------------------------------------------
# interrupted: nothing of ours is left in tracefs
# ---------------------------------------------------------------------------

def _enabled(instance: str) -> bool:
    try:
        with open(os.path.join(tracepoint.TRACEFS, "instances", instance, tracepoint.EVENT, "enable")) as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _ours(pid: int) -> list[str]:
    return [n for n in tracepoint.leftovers() if n.startswith(f"{tracepoint.PREFIX}{pid}-")]


@live
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_leaves_no_tracefs_instance(sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tcpconform.cli", "run", "--jobs", "2",
                             "simultaneous-open", "simultaneous-close", "simultaneous-open", "simultaneous-close"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while len(_ours(proc.pid)) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        made = _ours(proc.pid)
        assert len(made) == 2, made
        while not all(_enabled(n) for n in made) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(_enabled(n) for n in made)
        time.sleep(0.3)  # mid-scenario: the simultaneous ones take about a second
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert "Traceback" not in err
    assert _ours(proc.pid) == [], "a tracefs instance of the run is left"
    # (its port slots are flock()s: the kernel releases them with the process)


@live
def test_session_removes_its_instances_and_reaps_stale_ones() -> None:
    stale = os.path.join(tracepoint.TRACEFS, "instances", f"{tracepoint.PREFIX}999999999-0")
    os.mkdir(stale)  # as if left by a run that was killed
    try:
        with tracepoint.Session(2) as s:
            assert s.off is None
            assert not os.path.exists(stale)
            made = _ours(os.getpid())
            assert len(made) == 2
            ports = [s.for_worker(k)["ports"] for k in range(2)]
            assert ports[0] != ports[1]
        assert _ours(os.getpid()) == []
    finally:
        if os.path.exists(stale):
            os.rmdir(stale)


def test_a_change_during_connect_on_another_open_socket_s_connection_keeps_its_name() -> None:
    """The recorder names a tracepoint change after the socket whose connect() was
    running, unless its address pair is another open socket's connection (no two
    live sockets share one): then it is that socket's, e.g. b's delayed handshake
    completing during a's connect to the same listener."""
    from tcpconform.live.recorder import Entry as _Entry, Recorder
    from tcpconform.live.tracepoint import StateChange
    rec = Recorder(auto_observe=False)
    with socket.socket() as held:
        rec._names["b"] = _Entry("b", held, False, "127.0.0.1:10060", ("127.0.0.1:10060", "127.0.0.1:10003"))
        rec._names["a"] = _Entry("a", held, False)
        rec._born.update(a=5, b=1)
        rec._connects.append(("a", 10, 20, "127.0.0.1:10003"))
        b_change = StateChange(15, "127.0.0.1:10060", "127.0.0.1:10003", "SYN_SENT", "ESTABLISHED")
        a_change = StateChange(15, "127.0.0.1:10061", "127.0.0.1:10003", "SYN_SENT", "ESTABLISHED")
        a_unbound = StateChange(12, "127.0.0.1:0", "127.0.0.1:10003", "CLOSED", "SYN_SENT")
        assert rec._name_of(b_change) == "b"
        assert rec._name_of(a_change) == "a" and rec._name_of(a_unbound) == "a"
        rec._names["b"].sock = None   # b closed: its pair may be a's now (a TIME_WAIT reused)
        assert rec._name_of(b_change) == "a"
