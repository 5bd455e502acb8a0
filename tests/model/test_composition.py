"""The facts of composition (tcpconform.model.composition): each cites a
source, and each says what the system, the exploration and the table need."""

import pytest

from tcpconform.model import composition, rules, semantics, space, vocab

INITIAL = semantics.INITIAL


def test_every_fact_cites_a_source_and_names_a_definition():
    for f in composition.FACTS:
        assert any(tag in f.source for tag in ("R9293", "[E]", ".c ")), f.name
        assert callable(getattr(composition, f.name)), f.name


def test_a_request_sock_is_what_the_request_sock_rules_test():
    listener = INITIAL._replace(st="LISTEN", bound="explicit", wrsh=True)
    req = composition.request_sock(listener)
    assert composition.is_request_sock(req) and not composition.waits_in_queue(req)
    assert (req.bound, req.rdsh, req.wrsh) == ("explicit", False, True)
    # the table's request-sock cases decide for it: the listener's SHUT_WR sends the FIN at once
    [r] = semantics.step(req, "seg", "linux", {"q_full": False}, {"seg": "ACK", "segn": 0})
    assert r.case == "req.ack.shut" and "enqueue" in r.tags
    done = semantics.apply(req, r)
    assert composition.waits_in_queue(done)


def test_the_accepted_child_has_an_open_blocking_descriptor():
    child = INITIAL._replace(st="ESTABLISHED", fd="none", nb=True, ss="UNCONNECTED")
    got = composition.accepted(child)
    assert (got.fd, got.ss, got.nb, got.st) == ("open", "CONNECTED", False, "ESTABLISHED")
    [r] = semantics.step(got, "call:recv", "linux", {}, {"len": 2, "n": None})
    assert r.ret == vocab.WAIT   # blocking, nothing unread: it sleeps
    rets = {r.ret for r in semantics.step(got, "call:recv", "linux", {}, {"len": 2, "n": None, "intr": True})}
    assert rets == {vocab.WAIT, "EINTR"}   # ... and a signal may interrupt the sleep


def test_a_listener_stopping_resets_exactly_where_an_abort_sends_a_rst():
    for st in vocab.STATES:
        assert composition.reset_when_listener_stops(INITIAL._replace(st=st, fd="none")) == (st in rules.NEED_RESET)


@pytest.mark.parametrize("tags, left", [(("set_local",), True), (("autobind", "set_backlog"), True),
                                         (("set_remote",), True), (("set_backlog",), False), ((), False)])
def test_time_wait_is_left_behind_only_when_the_descriptor_starts_afresh(tags, left):
    tw = INITIAL._replace(st="TIME_WAIT", done=True, rdsh=True, wrsh=True)
    behind = composition.left_behind(tw, tags)
    assert (behind is not None) == left
    if left:
        assert behind == tw._replace(fd="closed")
    assert composition.left_behind(tw._replace(fd="closed"), tags) is None
    assert composition.left_behind(tw._replace(st="CLOSED"), tags) is None
    assert composition.without_connection(tw).st == "CLOSED"
    assert composition.without_connection(tw._replace(st="LISTEN")).st == "LISTEN"


def test_an_open_descriptor_in_time_wait_reads_closed_as_the_calls_treat_it():
    assert composition.observed("TIME_WAIT", "open", "linux") == {"CLOSED"}
    assert composition.observed("TIME_WAIT", "open", "posix") == {"CLOSED", "TIME_WAIT"}
    assert composition.observed("TIME_WAIT", "closed", "linux") == {"TIME_WAIT"}
    assert composition.observed("ESTABLISHED", "open", "linux") == {"ESTABLISHED"}
    # what a descriptor reads CLOSED in, the table's calls treat as CLOSED
    assert {st for st in vocab.STATES if composition.observed(st, "open", "linux") == {"CLOSED"}} == rules.CLOSEDISH


def test_the_full_socket_is_closed_where_a_timewait_sock_took_over():
    assert composition.full_socket_state("TIME_WAIT", "open") == "CLOSED"
    assert composition.full_socket_state("FIN_WAIT_2", "closed") == "CLOSED"
    assert composition.full_socket_state("FIN_WAIT_2", "open") == "FIN_WAIT_2"
    assert composition.full_socket_state("LAST_ACK", "closed") == "LAST_ACK"


def test_the_exploration_reaches_request_socks_and_accepted_children():
    ex = space.explore("linux")
    reqs = [ep for ep in ex.reach if composition.is_request_sock(ep)]
    queued = [ep for ep in ex.reach if composition.waits_in_queue(ep)]
    assert reqs and queued
    for ep in queued:
        assert composition.accepted(ep) in ex.reach
