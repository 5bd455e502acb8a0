"""Mining evidence from random sequences (tcpconform.properties.mining): a
survivor is killed by the first trace, among those given, that the real model
accepts and the mutant rejects, and only by such a trace; a mutant that no
trace drives to where it differs is not killed; the traces kept in the
corpus's random/ folder are recorded traces of this kernel that conform, each
with the program and seed that made it."""

from __future__ import annotations

import pytest

from tcpconform.properties import adequacy as A
from tcpconform.properties import mining

CORPUS = A.corpus_dir()


@pytest.fixture(scope="module")
def scenario_traces():
    return {e.name: e for e in A.read_dir(CORPUS)}


def test_a_survivor_is_killed_by_a_trace_that_shows_its_rule(mutants, scenario_traces):
    shows = scenario_traces["listener-calls"]  # recv on a listener: ENOTCONN
    others = [scenario_traces[n] for n in ("connect-twice-blocking", "bind-conflicts")]
    m = mutants["errno:recv.listen:0:ENOTCONN->EINVAL"]
    never = mutants["delete:fin_wait_2_timeout:"]  # no trace here waits for a timer
    kills = mining.mine([m, never], others + [shows])
    assert [(k.mutant.id, k.trace.name, k.profile) for k in kills] == [(m.id, "listener-calls", "linux")]
    assert A.accepts(shows, "linux") and not A.accepts(shows, "linux", m.cases)
    assert mining.mine([m], others) == []  # the others never recv on a listener


def test_mined_traces_conform_and_say_how_they_were_made():
    folder = CORPUS / A.MINED
    if not folder.is_dir():
        pytest.skip(f"no mined traces in {folder}")
    found = A.read_dir(folder, A.MINED + "/")
    assert found
    for ev in found:
        meta = ev.header.meta
        assert meta.get("scenario") == "random" and meta.get("program") and "seed" in meta, ev.name
        assert meta["kernel"].split(".")[:2] == CORPUS.name.removeprefix("linux-").split("."), ev.name
        assert A.accepts(ev, "linux"), f"{ev.name}: the model rejects a mined trace"
