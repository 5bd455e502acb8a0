"""docs/claims.md: every seed claim with its verdict on the model and on this kernel."""

import dataclasses

import pytest

from tcpconform import claims


def test_every_claim_has_a_standing_model_verdict():
    assert [c.id for c in claims.CLAIMS] == [f"S{i}" for i in range(1, 15)]
    for c in claims.CLAIMS:
        ok, why = claims.model_verdict(c)
        assert ok, f"{c.id}: {why}"


def test_a_claim_whose_evidence_breaks_is_reported():
    s10 = next(c for c in claims.CLAIMS if c.id == "S10")
    broken = dataclasses.replace(s10, against=claims.c("L", "recv", "ENOTCONN", len=1))
    ok, why = claims.model_verdict(broken)
    assert not ok and "no longer rejected" in why


def _model_part(text):
    """The document without its last column (the live verdicts, checked below)."""
    return [line.rsplit(" | ", 1)[0] for line in text.splitlines()]


@pytest.fixture(scope="module")
def z3_results():
    """conform prove's checks for every claim z3 covers (run once here)."""
    return claims.z3_results()


def test_claims_doc_is_fresh(z3_results):
    assert _model_part(claims.DOC_PATH.read_text()) == _model_part(claims.render(live=False, results=z3_results)), \
        "stale: run bin/dev python -m tcpconform.claims --write"


def test_z3_verdicts_of_the_claims(z3_results):
    """Every claim a property or witness covers gets its verdict from z3;
    S12 is refuted (a proven property, a run, and the seed's reading broken)."""
    verdicts = {c.id: claims.z3_verdict(c.id, z3_results) for c in claims.CLAIMS}
    assert all(ok for ok, _ in verdicts.values()), verdicts
    for cid in ("S1", "S10", "S11"):
        assert verdicts[cid][1].startswith("proven"), cid
    for cid in ("S2", "S3", "S7", "S8", "S9", "S14"):
        assert verdicts[cid][1].startswith("witnessed"), cid
    s12 = verdicts["S12"][1]
    assert s12.startswith("refuted") and "accept_returns_completed_connection" in s12
    assert "S12_established_before_accept` reached by a run" in s12 and "a counterexample (" in s12


def test_a_z3_verdict_that_no_longer_holds_is_reported(z3_results):
    """A witness no longer reached (or a property no longer proven) turns
    the claim's z3 verdict into BROKEN, and the document says so."""
    broken = dict(z3_results)
    broken["S3_send_before_server_established"] = dict(broken["S3_send_before_server_established"],
                                                       verdict="unreached")
    ok, text = claims.z3_verdict("S3", broken)
    assert not ok and "NOT REACHED" in text
    p = claims.z3_cover("S1")[0][0]
    broken[p] = dict(broken[p], verdict="unknown")
    ok, text = claims.z3_verdict("S1", broken)
    assert not ok and text.startswith("BROKEN")


@pytest.mark.live   # records the scenarios on this machine's kernel
def test_live_verdicts_in_the_doc_hold_on_this_kernel():
    doc = claims.DOC_PATH.read_text()
    for c in claims.CLAIMS:
        verdict = claims.live_verdict(c)
        assert verdict in doc, f"{c.id}: the kernel now says {verdict!r}"
