"""The state graph kept on disk (tcpconform.diagrams.cache): what is read back
is what the model derives; a broken or unwritable cache only costs the time to
derive it again; the key changes with the model's source."""

from __future__ import annotations

import pytest

from tcpconform.diagrams import cache
from tcpconform.model import graph as mgraph


@pytest.fixture()
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(cache, "_MEMORY", {})
    return tmp_path / "tcp-conform"


def test_the_graph_read_back_is_the_one_derived(fresh, monkeypatch):
    want, where = mgraph.state_graph("linux"), mgraph.case_states("linux")
    assert cache.state_graph("linux") == want and cache.case_states("linux") == where
    [entry] = fresh.glob("state-graph-linux-*.json")
    assert cache.digest() in entry.name
    monkeypatch.setattr(cache, "_MEMORY", {})

    def derive(*_a, **_k):
        raise AssertionError("derived again although kept")
    monkeypatch.setattr(mgraph, "state_graph", derive)
    assert cache.state_graph("linux") == want and cache.case_states("linux") == where


def test_a_broken_entry_is_derived_again_and_replaced(fresh, monkeypatch):
    want = mgraph.state_graph("linux")
    cache.state_graph("linux")
    [entry] = fresh.glob("state-graph-linux-*.json")
    entry.write_text('{"profile": "linux", "nodes": [')
    monkeypatch.setattr(cache, "_MEMORY", {})
    assert cache.state_graph("linux") == want
    assert entry.read_text().endswith("}")


def test_an_unwritable_cache_costs_only_time(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(cache, "_MEMORY", {})
    assert cache.state_graph("linux") == mgraph.state_graph("linux")
    assert blocker.read_text() == "not a folder"


def test_the_key_follows_the_model_source(tmp_path, monkeypatch):
    for name in ("rules.py", "table.py"):
        (tmp_path / name).write_text(f"# {name}\n")
    monkeypatch.setattr(cache, "_MODEL", tmp_path)
    before = cache.digest()
    (tmp_path / "rules.py").write_text("# rules.py, one case changed\n")
    assert cache.digest() != before
