"""Shared fixtures of the rule-table adequacy tests."""

import pytest

from tcpconform.properties import adequacy as A


@pytest.fixture(scope="module")
def mutants():
    """Every single-point mutant of the rule table, by id."""
    return {m.id: m for m in A.generate()}
