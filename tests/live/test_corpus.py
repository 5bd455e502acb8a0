"""The recorded scenario traces kept in evidence/traces/ (what `conform mutants`
reads without root): the folder for this machine's kernel holds one trace per
scenario, recorded on that kernel, and each conforms to the model.  A scenario
added without refreshing the folder (`conform mutants --record`) fails here."""

from __future__ import annotations

import platform
import sys

import pytest

from tcpconform.check.search import check_trace
from tcpconform.check.trace import read_trace
from tcpconform.live import corpus
from tcpconform.live.scenarios import SCENARIOS

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the traces are of a Linux kernel")
FOLDER = corpus.kernel_folder()


def test_the_kernel_folder_is_named_for_major_and_minor():
    assert corpus.kernel_folder("6.18.44-fc-v1045").name == "linux-6.18"
    assert corpus.kernel_folder("6.1.176").name == "linux-6.1"


def test_the_stored_traces_cover_every_scenario():
    if not FOLDER.is_dir():
        pytest.fail(f"no recorded traces for this kernel in {FOLDER}: run `conform mutants --record`")
    stored = {p.stem for p in FOLDER.glob("*.jsonl")}
    missing = sorted(set(SCENARIOS) - stored)
    assert not missing, f"scenarios without a stored trace (run `conform mutants --record`): {missing}"
    assert not stored - set(SCENARIOS), f"stored traces of no scenario: {sorted(stored - set(SCENARIOS))}"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_stored_trace_is_of_this_kernel_and_conforms(name):
    path = FOLDER / f"{name}.jsonl"
    if not path.exists():
        pytest.skip("missing (the coverage test says so)")
    with open(path, "rb") as f:
        header, events = read_trace(f)
        verdict = check_trace(header, events)
    assert header.meta.get("scenario") == name
    assert corpus.kernel_folder(header.meta["kernel"]) == corpus.kernel_folder(platform.release())
    assert verdict.verdict == "conforms", (verdict.line, verdict.reason)


def test_mining_keeps_the_random_sequences_that_kill_a_survivor(tmp_path, capsys):
    """``conform mutants --mine`` on a corpus of one scenario: random sequences run
    live, those kept kill a mutant that survived, and the real model accepts them."""
    from tcpconform.cli import main
    from tcpconform.live import netns
    from tcpconform.properties import adequacy as A
    if netns.probe().mode != "netns":
        pytest.skip("no network namespaces here: " + netns.probe().reason)
    one = tmp_path / "traces"
    one.mkdir()
    (one / "listener-calls.jsonl").write_bytes((FOLDER / "listener-calls.jsonl").read_bytes())
    empty = tmp_path / "none"
    empty.mkdir()
    args = ["mutants", "--rule", "accept.ok", "--rule", "connect.start", "--rule", "connect.connected", "--traces", str(one),
            "--must-reject", str(empty), "--json"]
    assert main(args) == 1
    before = {s["id"] for s in __import__("json").loads(capsys.readouterr().out)["results"]
              if s["evidence"] == "survivor"}
    assert main(args + ["--mine", "40", "--seed", "5"]) in (0, 1)
    report = __import__("json").loads(capsys.readouterr().out)
    after = {s["id"] for s in report["results"] if s["evidence"] == "survivor"}
    by_mined = {k["id"]: k["by"] for k in report["results"]
                if k["evidence"] == "scenario" and k["by"].startswith("random/")}
    assert by_mined and after == before - set(by_mined)
    kept = sorted((one / "random").glob("*.jsonl"))
    assert kept and {p.stem for p in kept} == {b.split()[0].split("/", 1)[1] for b in by_mined.values()}
    mutants = {m.id: m for m in A.generate()}
    for mid, by in by_mined.items():
        ev = A.read(one / "random" / (by.split()[0].split("/", 1)[1] + ".jsonl"))
        assert A.accepts(ev, "linux") and not A.accepts(ev, "linux", mutants[mid].cases), mid
    # the same seed again, where the user's own files hold its traces' names: nothing is
    # overwritten or copied, and the exit is 2
    mine = (FOLDER / "listener-calls.jsonl").read_bytes()
    for p in kept:
        p.write_bytes(mine)
    assert main(args + ["--mine", "40", "--seed", "5"]) == 2
    error = __import__("json").loads(capsys.readouterr().out)["error"]   # under --json, an error is JSON
    assert "exists; mine with another seed" in error["message"]
    assert sorted((one / "random").glob("*.jsonl")) == kept and all(p.read_bytes() == mine for p in kept)
