"""Witnesses and concrete runs: every witness is reached by a run of the
current rules, and that run, written as a trace, is accepted by the real
checker; every mutant's counterexample, written as a trace, is rejected by
it; a stored run that no longer re-checks is not trusted."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tcpconform import cli
from tcpconform.properties import catalog, mutants, prove, runs, witnesses
from tcpconform.properties.compose import system
from tests.helpers import Trace, proved


@pytest.mark.parametrize("w", witnesses.WITNESSES, ids=lambda w: w.name)
def test_witness_run_is_a_trace_the_checker_accepts(w: witnesses.Witness, tmp_path) -> None:
    c = prove.system_of(w)
    r = prove.witness_one(w, c, store=False)
    if w.unreachable:
        # a declared gap of the composed system: the test fails (and the gap must be
        # lifted) as soon as a run reaches it
        assert r["verdict"] == "unreached", f"{w.name} is reached now: drop its `unreachable` note"
        return
    assert r["verdict"] == "witnessed", f"{w.name}: {r}"
    run = r["_run"]
    assert runs.recheck(c, run, w.target, realistic=w.system == "composed") is None
    path = tmp_path / f"{w.name}.jsonl"
    path.write_text(prove.trace_of(run, {"witness": w.name}))
    assert cli.main(["check", str(path)]) == 0, path.read_text()


@pytest.mark.parametrize("p", catalog.CATALOG, ids=lambda p: p.name)
def test_counterexample_trace_is_rejected_by_the_real_checker(p: catalog.Property, tmp_path, capsys) -> None:
    """The mutant's counterexample is a run of the mutant, not of the real
    rules, and the real model's checker rejects its trace at one of its
    events — unless the step the real rules reject looks, through the
    sockets API, like one they allow (a segment sent twice, a flag set on a
    connection not yet accepted): then z3 shows that, and the trace conforms."""
    r = prove.against_mutant(p, store=False)
    assert r["verdict"] == "refuted", r
    run = r["_run"]
    real = system()
    k = runs.first_deviation(real, run)
    assert k is not None, f"the counterexample of {p.name} is a run of the real rules"
    assert runs.recheck(real, run, lambda c, q: True) is not None
    path = tmp_path / f"{p.name}-counterexample.jsonl"
    path.write_text(runs.to_trace(run))
    capsys.readouterr()
    code = cli.main(["check", str(path), "--json"])
    v = SimpleNamespace(**json.loads(capsys.readouterr().out))
    assert code == {"diverges": 1, "conforms": 0}[v.verdict]
    if v.verdict == "diverges":
        lines = runs.step_lines(run)
        before = lines[k - 2] if k >= 2 else 1   # the last line of the steps the real rules allow
        assert before < v.line <= lines[-1], (p.name, k, v.line, lines)   # at the deviating step or after it
    else:
        assert v.verdict == "conforms" and runs.hidden(real, run, k), \
            f"{p.name}: the real checker accepts the counterexample of {p.mutant}, whose step {k} is visible"
    assert r["real_checker"]["verdict"] == v.verdict


def test_most_counterexamples_show_through_the_sockets_api() -> None:
    """The hidden case above is the exception: all but four of the mutants'
    counterexamples are rejected by the real checker (README says which)."""
    rejected = sum(prove.against_mutant(p, store=False)["real_checker"]["verdict"] == "diverges"
                   for p in catalog.CATALOG)
    assert rejected >= len(catalog.CATALOG) - 4


def _stored(tmp_path, monkeypatch, name: str) -> witnesses.Witness:
    """The witness's run stored in a fresh directory (a copy of the repository's,
    found again by BMC if that one is stale); the witness."""
    w = witnesses.BY_NAME[name]
    if runs.path_of(w.name).exists():
        (tmp_path / runs.path_of(w.name).name).write_text(runs.path_of(w.name).read_text())
    monkeypatch.setattr(runs, "DIR", tmp_path)
    f = runs.find(system(), w.name, w.target, w.depth, realistic=True)
    assert f.verdict == "witnessed"
    again = runs.find(system(), w.name, w.target, w.depth, realistic=True)
    assert again.method.startswith("stored run (re-checked")
    return w


def test_a_tampered_stored_run_is_not_trusted(tmp_path, monkeypatch) -> None:
    w = _stored(tmp_path, monkeypatch, "S3_send_before_server_established")
    path = runs.path_of(w.name)
    d = json.loads(path.read_text())
    last = d["steps"][-1]["vars"]
    assert last["out.ret"] == "Ret.ok"
    last["out.ret"] = "Ret.EAGAIN"   # the send now fails: no longer what the rules allow with the rest fixed
    path.write_text(json.dumps(d))
    run, _ = runs.load(w.name)
    assert runs.recheck(system(), run, w.target, realistic=True) is not None
    f = runs.find(system(), w.name, w.target, w.depth, realistic=True)
    assert f.method.startswith("bmc") and "not trusted" in f.detail
    assert json.loads(path.read_text())["steps"][-1]["vars"]["out.ret"] == "Ret.ok"  # rewritten


def test_a_run_of_other_rules_is_not_trusted(tmp_path, monkeypatch) -> None:
    """A stored run re-checked against a changed table (here: accept() moves
    the listener) fails at the step the change touches."""
    w = _stored(tmp_path, monkeypatch, "S8_sent_but_never_read")
    run, _ = runs.load(w.name)
    assert any(s.trigger == "call:accept" for s in runs.steps(run))
    changed = system(mutants.mutant("accept_moves_listener"))
    why = runs.recheck(changed, run, w.target, realistic=True)
    assert why is not None and why.startswith("step")


def test_a_run_missing_a_state_variable_is_not_trusted(tmp_path, monkeypatch) -> None:
    """The composed system gained a variable since the run was stored: re-check
    fails (it does not crash), BMC runs again."""
    w = _stored(tmp_path, monkeypatch, "S2_handshake")
    path = runs.path_of(w.name)
    d = json.loads(path.read_text())
    del d["init"]["L.st"]
    path.write_text(json.dumps(d))
    run, _ = runs.load(w.name)
    assert "variables changed" in runs.recheck(system(), run, w.target, realistic=True)
    assert runs.find(system(), w.name, w.target, w.depth, realistic=True).method.startswith("bmc")


def test_a_stored_run_must_still_reach_the_target(tmp_path, monkeypatch) -> None:
    w = _stored(tmp_path, monkeypatch, "S12_established_before_accept")
    run, _ = runs.load(w.name)
    other = witnesses.BY_NAME["S3_send_before_server_established"]
    assert runs.recheck(system(), run, other.target, realistic=True) == "the target fails"


def test_prove_lists_witnesses(capsys) -> None:
    name = "S3_send_before_server_established"
    code = cli.main(["prove", name, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and proved(out, "property") == []
    (w,) = proved(out, "witness")
    assert w["witness"] == name and w["verdict"] == "witnessed" and w["origin"].startswith("seed S3")
    assert w["method"] and isinstance(w["seconds"], float)
    last = w["run"][-1]
    assert last["trigger"] == "call:send" and last["ret"] == "ok"
    assert last["states"][last["act"]] == "ESTABLISHED" and "SYN_RECEIVED" in last["states"].values()


def test_prove_out_writes_checkable_traces(tmp_path, capsys) -> None:
    assert cli.main(["prove", "half_close", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "half_close.txt").read_text()
    assert "Recv-Q" in table and "Foreign Address" in table and "CLOSE_WAIT" in table
    assert cli.main(["check", str(tmp_path / "half_close.jsonl")]) == 0
    assert cli.main(["prove", "no_send_before_established", "--mutant", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Send-Q" in out  # the counterexample as a netstat step table
    assert cli.main(["check", str(tmp_path / "no_send_before_established-counterexample.jsonl")]) == 1


def test_simultaneous_open_is_shown_on_the_pair() -> None:
    """The composed system cannot cross two SYNs (a declared gap); the pair
    of sockets facing each other does, and its trace shows both sockets
    going SYN_SENT → SYN_RECEIVED → ESTABLISHED."""
    r = prove.witness_one(witnesses.BY_NAME["simultaneous_open_pair"], store=False)
    assert r["verdict"] == "witnessed"
    states = Trace.from_text(prove.trace_of(r["_run"])).objects[1:]
    for s in ("P", "Q"):
        seen = [e["state"] for e in states if e["ev"] == "state" and e["sock"] == s]
        assert seen[-3:] == ["SYN_SENT", "SYN_RECEIVED", "ESTABLISHED"], seen


def test_a_run_with_values_the_system_no_longer_has_is_not_trusted(tmp_path, monkeypatch) -> None:
    """A stored value outside its (changed) domain, or a file that is not a
    run at all: re-check says why, BMC runs again; nothing crashes."""
    w = _stored(tmp_path, monkeypatch, "S2_handshake")
    path = runs.path_of(w.name)
    d = json.loads(path.read_text())
    d["init"]["C1.st"] = "State.NO_SUCH_STATE"
    path.write_text(json.dumps(d))
    run, _ = runs.load(w.name)
    assert "no longer in its domain" in runs.recheck(system(), run, w.target, realistic=True)
    path.write_text("{not json")
    f = runs.find(system(), w.name, w.target, w.depth, realistic=True)
    assert f.verdict == "witnessed" and f.method.startswith("bmc")


def test_a_stale_certificate_falls_back_to_the_hand_written_invariant(monkeypatch) -> None:
    """With no usable certificate, a property that has a hand-written
    strengthening is proven by re-checking it (no Spacer run)."""
    from tcpconform.properties import certificates, engine
    c = system()
    hand = [p for p in catalog.CATALOG if getattr(catalog, "strengthened", lambda p, c: None)(p, c) is not None
            and engine.check_certificate(c, p.formula(c), catalog.strengthened(p, c)).verdict == "proven"]
    if not hand:
        pytest.skip("no property has a hand-written invariant that proves it")
    monkeypatch.setattr(certificates, "load", lambda name, c: None)
    monkeypatch.setattr(engine, "spacer", lambda *a, **k: pytest.fail("Spacer ran"))
    r = prove.prove_one(hand[0], c, store=False)
    assert r["verdict"] == "proven" and r["method"] == "hand-written invariant"
