"""Near misses (tcpconform.properties.nearmiss): for a mutant that accepts
more than Linux, a recorded trace cut after one changed result that the
mutant accepts and the real model rejects; none for a mutant no change of one
result can tell apart; the candidate says where it comes from, what it kills,
and has no reason yet, so the must-reject folder would refuse it."""

from __future__ import annotations

import io
import json

import pytest

from tcpconform.check import trace
from tcpconform.properties import adequacy as A
from tcpconform.properties import nearmiss

CORPUS = A.corpus_dir()


@pytest.fixture(scope="module")
def base():
    return A.baseline([A.read(CORPUS / "half-close-rd.jsonl")], [])


def _verdict(text, cases=None):
    header, events = trace.read_trace(io.BytesIO(text.encode()))
    return A.verdict_of(A.Evidence("t", header, list(events)), "linux", cases)


def test_a_permissive_mutant_gets_a_trace_it_accepts_and_the_model_rejects(mutants, base):
    m = mutants["guard:shutdown.bits:2:-how"]  # SHUT_RD would set SEND_SHUTDOWN too
    assert A.reaching(m, base, "linux")
    [miss] = nearmiss.near_misses([m], base, CORPUS)
    assert miss.source == "half-close-rd" and miss.change.startswith("send ok")
    assert _verdict(miss.text, m.cases) == "conforms" and _verdict(miss.text) == "diverges"
    original = (CORPUS / "half-close-rd.jsonl").read_text().splitlines()
    cut = [line for line in original[1:miss.line - 1] if '"ev": "x-' not in line]
    assert miss.text.splitlines()[1:-1] == cut  # what this kernel did, up to the changed event
    header = json.loads(nearmiss.candidate_text(miss).splitlines()[0])
    assert header["meta"]["reason"] == "" and header["meta"]["kills"] == [m.id]
    assert "half-close-rd line" in header["meta"]["derived_from"]


def test_no_near_miss_where_one_changed_result_cannot_tell(mutants, base):
    m = mutants["swap:shutdown.fin:shutdown.fin.closewait"]  # proven equivalent: the same steps everywhere
    assert nearmiss.near_misses([m], base, CORPUS) == []
