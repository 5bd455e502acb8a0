"""docs/claims.md: every seed claim with its verdict on the model and on this kernel."""

import dataclasses

from conformance import claims


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


def test_claims_doc_is_fresh():
    assert _model_part(claims.DOC_PATH.read_text()) == _model_part(claims.render(live=False)), \
        "stale: run bin/dev python -m conformance.claims --write"


def test_live_verdicts_in_the_doc_hold_on_this_kernel():
    doc = claims.DOC_PATH.read_text()
    for c in claims.CLAIMS:
        verdict = claims.live_verdict(c)
        assert verdict in doc, f"{c.id}: the kernel now says {verdict!r}"
