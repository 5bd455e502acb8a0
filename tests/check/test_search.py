"""conform check on hand-written traces: profiles, worlds, blocking calls, search limits."""

import dataclasses
import io
import json

import pytest

from tcpconform.check.memo import MemoSearch
from tcpconform.check.observed import ObservedSearch
from tcpconform.check.plain import PlainSearch
from tcpconform.check.search import check_trace, engine_for
from tcpconform.check.trace import read_trace
from tcpconform.model import system


def verdict(lines, **header):
    text = "\n".join(json.dumps(x) for x in [{"trace": 1, **header}] + lines) + "\n"
    h, evs = read_trace(io.BytesIO(text.encode()))
    return check_trace(h, evs)


def call(sock, op, ret="ok", **kw):
    return {"ev": "call", "sock": sock, "op": op, "ret": ret, **kw}


def state(sock, st):
    return {"ev": "state", "sock": sock, "state": st}


FRESH_SEND = [call("s", "socket"), call("s", "send", "ENOTCONN", len=5)]


def test_posix_profile_allows_enotconn_where_linux_says_epipe():
    assert verdict(FRESH_SEND, profile="posix").verdict == "conforms"
    v = verdict(FRESH_SEND, profile="linux")
    assert (v.verdict, v.line) == ("diverges", 3)
    assert any("EPIPE" in a for a in v.allowed)


def test_linux_epipe_is_not_posix():
    v = verdict([call("s", "socket"), call("s", "send", "EPIPE", len=5)], profile="posix")
    assert (v.verdict, v.line) == ("diverges", 3)


SERVER = [call("L", "socket"), call("L", "bind", addr="127.0.0.1:0", local="127.0.0.1:5000"),
          call("L", "listen", backlog=0)]


def client(name, port, ret="EINPROGRESS"):
    return [call(name, "socket", nonblock=True),
            call(name, "connect", ret, addr="127.0.0.1:5000", local=f"127.0.0.1:{port}")]


def test_accept_queue_holds_backlog_plus_one():
    # backlog 0 holds one connection (sk_acceptq_is_full uses `>`); the
    # second client may stay in SYN_SENT (its SYN waits) until accept makes room
    from tcpconform.model import rules
    assert [rules.accept_queue_capacity(b) for b in (0, 1, 2)] == [1, 2, 3]
    lines = SERVER + client("a", 40001) + client("b", 40002) + [
        state("a", "ESTABLISHED"), state("b", "SYN_SENT"),
        call("L", "accept", new="s1", local="127.0.0.1:5000", peer="127.0.0.1:40001"),
        call("L", "accept", new="s2", local="127.0.0.1:5000", peer="127.0.0.1:40002"),
        state("b", "ESTABLISHED")]
    assert verdict(lines).verdict == "conforms"
    # a third connection was never made: accept cannot return it
    lines[-2] = call("L", "accept", new="s2", local="127.0.0.1:5000", peer="127.0.0.1:40003")
    v = verdict(lines)
    assert (v.verdict, v.line) == ("diverges", len(lines))


def test_nonblocking_connect_then_zero_then_eisconn():
    lines = SERVER + client("c", 40003) + [
        state("c", "ESTABLISHED"),
        call("c", "connect", addr="127.0.0.1:5000", local="127.0.0.1:40003"),
        call("c", "connect", "EISCONN", addr="127.0.0.1:5000")]
    assert verdict(lines).verdict == "conforms"
    lines[-2] = call("c", "connect", "EISCONN", addr="127.0.0.1:5000")
    v = verdict(lines)
    assert (v.verdict, v.line) == ("diverges", len(lines))


def test_time_wait_holds_its_port_and_the_open_fd_reads_closed():
    lines = SERVER + [
        call("c", "socket"), call("c", "bind", addr="127.0.0.1:0", local="127.0.0.1:41000"),
        call("c", "connect", addr="127.0.0.1:5000", local="127.0.0.1:41000"),
        call("L", "accept", new="s", local="127.0.0.1:5000", peer="127.0.0.1:41000"),
        call("c", "shutdown", how="wr"), call("s", "recv", len=1, n=0),
        call("s", "shutdown", how="wr"), call("c", "recv", len=1, n=0),
        state("c", "CLOSED"),                       # the fd reads CLOSED ...
        call("c", "close"), state("c", "TIME_WAIT"),  # ... its connection is in TIME_WAIT
        call("d", "socket"), call("d", "bind", "EADDRINUSE", addr="127.0.0.1:41000")]
    assert verdict(lines).verdict == "conforms"
    # once the connection is seen gone, the port is free again
    lines.insert(len(lines) - 1, state("c", "CLOSED"))
    v = verdict(lines)
    assert (v.verdict, v.line) == ("diverges", len(lines) + 1)
    lines[-1] = call("d", "bind", addr="127.0.0.1:41000", local="127.0.0.1:41000")
    assert verdict(lines).verdict == "conforms"


OPEN = [call("c", "socket"),
        call("c", "connect", addr="127.0.0.1:80", local="127.0.0.1:40000"),
        call("c", "recv", len=4096, n=4096), call("c", "recv", len=4096, n=0),
        state("c", "CLOSE_WAIT")]


def test_open_world_explains_a_peer_the_trace_does_not_show():
    assert verdict(OPEN, world="open").verdict == "conforms"
    v = verdict(OPEN, world="closed")
    assert (v.verdict, v.line) == ("diverges", 3)


def test_open_world_still_rejects_what_no_peer_can_cause():
    v = verdict(SERVER + [call("L", "recv", len=3, n=3)], world="open")
    assert (v.verdict, v.line) == ("diverges", 5)


def test_open_world_outside_client_is_accepted():
    lines = SERVER + [call("L", "accept", new="a", local="127.0.0.1:5000", peer="127.0.0.1:33333"),
                      call("a", "recv", "ECONNRESET", len=10)]
    assert verdict(lines, world="open").verdict == "conforms"
    assert verdict(lines, world="closed").verdict == "diverges"


def test_blocking_connect_refused_when_nothing_listens():
    lines = [call("c", "socket"), call("c", "connect", "ECONNREFUSED", addr="127.0.0.1:9")]
    assert verdict(lines).verdict == "conforms"
    lines[-1] = call("c", "connect", "ETIMEDOUT", addr="127.0.0.1:9")
    # a SYN that nothing answers could time out only if it were never delivered;
    # on loopback the RST is immediate, but the model does not know time: allowed
    assert verdict(lines).verdict == "conforms"
    lines[-1] = call("c", "connect", "EISCONN", addr="127.0.0.1:9")
    assert verdict(lines).verdict == "diverges"


def test_loss_is_a_step_only_when_asked():
    cfg = system.EMPTY
    h, evs = read_trace(io.BytesIO(("\n".join(json.dumps(x) for x in [{"trace": 1}] + client("c", 40009))
                                    + "\n").encode()))
    ch = PlainSearch()
    for ev in evs:
        assert ch.feed(ev) is None
    (cfg,) = ch.frontier
    labels = [lab for lab, _ in system.internal_steps(cfg, "linux", loss=True)]
    assert any(lab.startswith("lose SYN") for lab in labels)
    assert not any(lab.startswith("lose") for lab, _ in system.internal_steps(cfg, "linux"))


def test_many_sequential_connections_stay_fast():
    lines = list(SERVER)
    lines[2] = call("L", "listen", backlog=8)
    for i in range(300):
        c, s, port = f"c{i}", f"s{i}", 20000 + i
        lines += [call(c, "socket"), call(c, "connect", addr="127.0.0.1:5000", local=f"127.0.0.1:{port}"),
                  call("L", "accept", new=s, local="127.0.0.1:5000", peer=f"127.0.0.1:{port}"),
                  call(c, "send", len=10, n=10), call(s, "recv", len=10, n=10),
                  call(c, "close"), call(s, "recv", len=10, n=0), call(s, "close")]
    ch = PlainSearch()
    h, evs = read_trace(io.BytesIO(("\n".join(json.dumps(x) for x in [{"trace": 1}] + lines) + "\n").encode()))
    for ev in evs:
        assert ch.feed(ev) is None
        assert len(ch.frontier) <= 8  # no growth with the number of past connections


def test_check_diagram_draws_the_trace_and_its_coverage(shared, tmp_path, capsys):
    from tcpconform import cli
    rc = cli.main(["check", "--diagram", str(tmp_path),
                   str(shared / "trace-examples" / "listener-carries-data.jsonl")])
    assert rc == 1
    seq = (tmp_path / "listener-carries-data-sequence.dot").read_text()
    assert "line 6" in seq and "diverges" in seq
    cov = (tmp_path / "listener-carries-data-coverage.dot").read_text()
    assert "listen()" in cov
    assert "diverged at rule recv.listen" in cov   # the rule the model applied where it diverged, in red


def test_coverage_counts_the_rules_an_explaining_run_used(shared):
    h, evs = read_trace(open(shared / "trace-examples" / "handshake-and-close.jsonl", "rb"))
    v = check_trace(h, evs, coverage=True)
    used = {case for case, _ in v.coverage}
    # calls, segments and the accept queue all appear; nothing the trace never did
    assert {"listen.ok", "listen.syn", "synsent.synack", "accept.ok", "req.ack", "est.fin", "fw2.fin",
            "close.closewait"} <= used
    assert not used & {"closewait.rst", "synsent.rst", "close.unread"}


def test_unnamed_keys_sort_before_names_and_show_their_address_pair():
    # a configuration's endpoints are keyed by trace names and by address pairs (request
    # socks, queued children): one sorted order for the mix, the pairs by port number
    u1 = system.Unnamed(("127.0.0.1", 5000), ("127.0.0.1", 40001))
    u2 = system.Unnamed(("127.0.0.1", 5000), ("127.0.0.1", 9))
    keys = ["c", u1, "L", u2]
    assert sorted(keys) == [u2, u1, "L", "c"]
    assert sorted(keys, reverse=True) == ["c", "L", u1, u2]
    assert sorted([("c", 1), (u1, 2)]) == [(u1, 2), ("c", 1)]
    assert [system.is_named(k) for k in keys] == [True, False, True, False]
    assert system.display(u1) == "(127.0.0.1:5000>127.0.0.1:40001)"


def test_a_request_sock_is_keyed_by_its_address_pair():
    lines = SERVER + client("c", 40001)
    h, evs = read_trace(io.BytesIO(("\n".join(json.dumps(x) for x in [{"trace": 1}] + lines) + "\n").encode()))
    ch = PlainSearch()
    for ev in evs:
        assert ch.feed(ev) is None
    keys = {k for c in ch.frontier for cfg in system.closure(c, "linux", False) for k, _e in cfg.eps}
    assert system.Unnamed(("127.0.0.1", 5000), ("127.0.0.1", 40001)) in keys
    assert all(system.is_named(k) or isinstance(k, system.Unnamed) for k in keys)


def test_the_models_call_api_names_each_question():
    from dataclasses import replace

    from tcpconform.model.events import Call
    h, evs = read_trace(io.BytesIO(("\n".join(json.dumps(x) for x in [{"trace": 1}] + SERVER + [call("c", "socket")])
                                    + "\n").encode()))
    ch = PlainSearch()
    for ev in evs:
        assert ch.feed(ev) is None
    (cfg,) = ch.frontier
    conn = Call(9, "c", "connect", "ok", addr=("127.0.0.1", 5000), local=("127.0.0.1", 40001))
    # what the call may return here, whatever the trace says: a blocking connect sleeps
    assert "WAIT" in {r.ret for r in system.possible_results(cfg, conn, "linux")}
    # its first half: the SYN sent
    asleep = system.sleeping(cfg, conn, "linux")
    assert asleep and all(dict(a.config.eps)["c"].core.st == "SYN_SENT" for a in asleep)
    # it has not slept yet, so it cannot return now; after sleeping it returns established
    assert system.resume_call(cfg, conn, "linux") == []
    done = system.apply_call(cfg, conn, "linux")
    assert done and all(dict(o.config.eps)["c"].core.st == "ESTABLISHED" for o in done)
    # a return the trace reports that no rule gives: no outcome
    assert system.apply_call(cfg, replace(conn, ret="EISCONN"), "linux") == []
    # without timers the handshake still completes (deliveries only)
    assert system.apply_call(cfg, conn, "linux", timers=False)


OBSERVERS = {"ev": "x-observers", "packets": True, "states": False}


@pytest.mark.parametrize("lines, header, options, engine", [
    ([OBSERVERS] + SERVER, {}, {}, ObservedSearch),
    ([{"ev": "x-other"}, OBSERVERS] + SERVER, {}, {}, ObservedSearch),
    (SERVER[:1] + [OBSERVERS] + SERVER[1:], {}, {}, MemoSearch),     # declared after a call: not read
    ([dict(OBSERVERS, packets=False)] + SERVER, {}, {}, MemoSearch),  # both observers off
    ([OBSERVERS] + SERVER, {"world": "open"}, {}, MemoSearch),
    ([OBSERVERS] + SERVER, {}, {"coverage": True}, PlainSearch),
    (SERVER, {}, {"memoised": False}, PlainSearch),
])
def test_the_engine_is_chosen_once_from_the_header_and_the_events_before_the_first_call(
        lines, header, options, engine):
    text = "\n".join(json.dumps(x) for x in [{"trace": 1, **header}] + lines) + "\n"
    h, evs = read_trace(io.BytesIO(text.encode()))
    chosen, events = engine_for(h, evs, **options)
    assert type(chosen) is engine
    events = list(events)
    assert [e.line for e in events] == list(range(2, len(lines) + 2))  # every event is still fed
    assert all(chosen.feed(e) is None for e in events)
    assert chosen.events == len(SERVER)
    assert chosen.frontier and all(isinstance(c, system.Config) for c in chosen.frontier)


# Linux 6.18 keeps which role a socket played (kernel-facts item 13); 6.1 does not.
REFUSED_THEN_LISTEN = [call("c", "socket"), call("c", "connect", "ECONNREFUSED", addr="127.0.0.1:9")]
FORMER_LISTENER = [call("L", "socket"), call("L", "bind", addr="127.0.0.1:5000", local="127.0.0.1:5000"),
                   call("L", "listen", backlog=1), call("L", "shutdown", how="rd")]


@pytest.mark.parametrize("lines, op, now, before", [
    (REFUSED_THEN_LISTEN, call("c", "listen", backlog=1), "EINVAL", "ok"),
    (FORMER_LISTENER, call("L", "connect", addr="127.0.0.1:9"), "EINVAL", "ECONNREFUSED"),
], ids=["listen-after-a-refused-connect", "connect-after-listening"])
def test_kernel_profiles_differ_on_a_socket_that_changes_role(lines, op, now, before):
    for profile, right, wrong in (("linux", now, before), ("linux-6.1", before, now)):
        assert verdict(lines + [{**op, "ret": right}], profile=profile).verdict == "conforms", (profile, right)
        v = verdict(lines + [{**op, "ret": wrong}], profile=profile)
        assert (v.verdict, v.line) == ("diverges", len(lines) + 2), (profile, wrong)


def test_a_former_listener_can_listen_again_on_linux():
    assert verdict(FORMER_LISTENER + [call("L", "listen", backlog=1)]).verdict == "conforms"


def test_a_refused_socket_can_connect_again_on_linux():
    lines = REFUSED_THEN_LISTEN + [call("c", "connect", "ECONNREFUSED", addr="127.0.0.1:9")]
    assert verdict(lines).verdict == "conforms"


def test_the_profile_follows_the_kernel_release():
    from tcpconform.model import vocab
    assert [vocab.profile_for_kernel(r) for r in ("6.18.44-1-cloud-amd64", "6.1.176", "6.12.118", "7.0")] == [
        "linux", "linux-6.1", "linux-6.1", "linux"]


def _first_divergence(text, cases=None):
    h, evs = read_trace(io.BytesIO(text.encode()))
    checker, evs = engine_for(h, evs, memoised=False, cases=cases)
    return next((b for b in (checker.feed(e) for e in evs) if b is not None), None)


def test_a_refused_ipv6_socket_connects_again_from_an_ipv6_address():
    """Recorded on Linux 6.18 over IPv4, respelled for IPv6: the second SYN
    comes from [::1], the loopback address of the socket's own family."""
    from pathlib import Path
    v4 = (Path(__file__).resolve().parents[1] / "traces" / "refused-twice.jsonl").read_text()
    v6 = v4.replace("127.0.0.1:", "[::1]:")
    assert _first_divergence(v4) is None and _first_divergence(v6) is None
    assert _first_divergence(v4.replace('"src": "127.0.0.1:11106"', '"src": "[::1]:11106"')) is not None


@pytest.mark.parametrize("trace, case, line, sock", [
    ("refused-then-listen", "listen.history", 20, "c"),   # the recorder left this change unnamed
    ("former-listener-connects", "connect.history", 23, "L"),
], ids=["listen", "connect"])
def test_a_call_refused_for_its_role_passes_through_a_state(trace, case, line, sock):
    """Recorded on Linux 6.18: the state tracepoint shows the refused call's
    socket pass through LISTEN (or SYN_SENT) and back; the rule says so (``via``),
    and without it the recorded trace diverges at that observation."""
    import dataclasses
    from pathlib import Path
    from tcpconform.model import rules
    text = (Path(__file__).resolve().parents[1] / "traces" / f"{trace}.jsonl").read_text()
    assert _first_divergence(text) is None
    lines = text.splitlines()
    named = json.loads(lines[line - 1])
    assert named["ev"] == "x-state" and named["from"] == "CLOSED"
    lines[line - 1] = json.dumps({**named, "sock": sock})
    named_text = "\n".join(lines) + "\n"
    assert _first_divergence(named_text) is None
    without = [dataclasses.replace(c, outcomes=tuple(dataclasses.replace(o, via=()) for o in c.outcomes))
               if c.id == case else c for c in rules.CASES]
    bad = _first_divergence(named_text, cases=without)
    assert bad is not None and bad.line == line


def test_listen_finds_its_port_held_by_the_connection_the_socket_left_behind():
    """Recorded on Linux 6.18 (a random campaign): a socket bound to a port
    self-connects, its connection ends in TIME_WAIT, it connects elsewhere
    (refused: it started afresh, the TIME_WAIT connection stays behind, parked
    by the checker), then listen() asks for the port again and gets
    EADDRINUSE.  Every engine, with the wire and tracepoint observations or
    without, joins the parked connection back for the listen; without the
    rule's conflict guard the model says EINVAL."""
    import dataclasses
    from pathlib import Path
    from tcpconform.model import rules
    text = (Path(__file__).resolve().parents[1] / "traces" / "self-connect-left-behind-then-listen.jsonl").read_text()
    calls_only = "".join(line + "\n" for line in text.splitlines() if '"ev": "x-' not in line)
    listen = next(i for i, line in enumerate(text.splitlines(), 1) if '"EADDRINUSE"' in line)
    for t in (text, calls_only):
        for memoised in (False, True):
            h, evs = read_trace(io.BytesIO(t.encode()))
            assert check_trace(h, evs, fast=memoised).verdict == "conforms"
    assert _first_divergence(text) is None
    without = [dataclasses.replace(c, when={k: v for k, v in c.when.items() if k != "conflict"}, profiles=())
               if c.id == "listen.inuse" else c for c in rules.CASES]
    bad = _first_divergence(text, cases=without)
    assert bad is not None and bad.line == listen


def test_listen_joins_parked_connection_even_when_its_transition_is_stored():
    """A listen asks for the socket's own port again, and a connection the
    socket left behind (parked) may hold it: the memoised engine joins it back
    even when the same frontier's listen was stored by a trace with nothing
    parked, and ends where it ends when nothing was stored."""
    from pathlib import Path
    from tcpconform.check import memo as memo_module
    text = (Path(__file__).resolve().parents[1] / "traces" / "self-connect-left-behind-then-listen.jsonl").read_text()
    lines = [line for line in text.splitlines() if '"ev": "x-' not in line]
    h, evs = read_trace(io.BytesIO(("\n".join(lines) + "\n").encode()))
    evs = list(evs)
    last = len(evs) - 1
    assert evs[last].op == "listen" and evs[last].ret == "EADDRINUSE"

    def up_to_listen():
        m = MemoSearch(h.profile, h.world)
        for ev in evs[:last]:
            assert m.feed(ev) is None
        return m
    memo_module._CACHES.clear()
    cold = up_to_listen()
    assert cold.parked, "the self-connection is parked before the listen"
    assert cold.feed(evs[last]) is None
    memo_module._CACHES.clear()
    warm = up_to_listen()
    # the same frontier with nothing parked stores the listen's transition
    bare = up_to_listen()
    bare._parked.clear(), bare._parked_as.clear()
    bare._index = type(bare._index)()
    listen = dataclasses.replace(evs[last], ret="EINVAL")
    assert bare.feed(listen) is None
    assert warm.feed(listen) is None  # EINVAL is allowed either way
    memo_module._CACHES.clear()
    cold_einval = up_to_listen()
    assert cold_einval.feed(listen) is None
    assert warm.frontier == cold_einval.frontier and warm.parked == cold_einval.parked


def test_a_bind_may_find_its_port_held_by_a_listener_whose_port_was_never_shown():
    """listen() on an unbound socket picks a port the trace does not show, and
    here it is the port a closed listener had; a later bind to that port gets
    EADDRINUSE (random campaign, seed 7, shrunk): both engines explain it, with
    the calls alone too."""
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "traces" / "listen-autobound-port-reused-then-bind.jsonl").read_text()
    calls_only = "".join(line + "\n" for line in text.splitlines() if '"ev": "x-' not in line)
    assert '"EADDRINUSE"' in text
    for t in (text, calls_only):
        for memoised in (False, True):
            h, evs = read_trace(io.BytesIO(t.encode()))
            assert check_trace(h, evs, fast=memoised).verdict == "conforms"
