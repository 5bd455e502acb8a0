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
