"""The HTML report of a checked trace (tcpconform.diagrams.report).

Read as HTML: one step element per call and state event, exactly one marked
divergent, at the divergent line, with its reason and what the model
allowed; the netstat tables model vs kernel; the figures inline, their rows
and states addressable; nothing loaded from anywhere; never an existing file
overwritten; without Graphviz, the tables alone and a note saying so.
Then in a real browser (Debian's headless chromium): the page's script runs,
selects the step a ``#step=N`` fragment names (else the divergent one), lights
its states, follows the keyboard, and the screenshot is a drawn page.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tcpconform.check.search import check_trace
from tcpconform.check.trace import read_trace
from tcpconform.diagrams import render
from tcpconform.diagrams.report import ReportExists, report_html, write_report
from tests.diagrams import browser
from tests.helpers import addr, client_and_server

CONFORMING = browser.EXAMPLE
HAS_DOT = render.find_dot() is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot not found: apt-get install graphviz")


class Elements(HTMLParser):
    """Every element of a page: (tag, attributes, its text), in document order."""
    VOID = {"meta", "br", "hr", "img", "input", "link"}

    def __init__(self, text: str) -> None:
        super().__init__()
        self.all: list[tuple[str, dict, list[str]]] = []
        self.open: list[list[str]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        item = (tag, dict(attrs), [])
        self.all.append(item)
        if tag not in self.VOID:
            self.open.append(item[2])

    def handle_startendtag(self, tag, attrs):
        self.all.append((tag, dict(attrs), []))

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.open:
            self.open.pop()

    def handle_data(self, data):
        for text in self.open:
            text.append(data)

    def select(self, tag: str, cls: str | None = None) -> list[tuple[dict, str]]:
        return [(a, " ".join(t)) for g, a, t in self.all
                if g == tag and (cls is None or cls in (a.get("class") or "").split())]


def events_of(path: Path) -> list:
    """The call and state events of a trace."""
    with open(path, "rb") as f:
        _h, events = read_trace(f)
        return [e for e in events if hasattr(e, "sock")]


def verdict_of(path: Path):
    with open(path, "rb") as f:
        header, events = read_trace(f)
        return check_trace(header, events)


@pytest.fixture
def divergent(tmp_path) -> Path:
    return browser.divergent_trace(tmp_path / "recv-more-than-sent.jsonl")


def assert_self_contained(page: str) -> None:
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I), "loads something"
    assert not re.search(r"<link\b|@import|url\(\s*['\"]?(?:https?:)?//|<script[^>]+src", page, re.I)
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "an id used twice"


# ---------------------------------------------------------------------------
# The page, read as HTML
# ---------------------------------------------------------------------------

def test_a_conforming_trace_has_a_step_per_event_and_none_divergent(tmp_path):
    out = write_report(CONFORMING, verdict_of(CONFORMING), tmp_path / "report.html")
    page = out.read_text()
    doc = Elements(page)
    steps = doc.select("li", "step")
    events = events_of(CONFORMING)
    assert [int(a["data-line"]) for a, _ in steps] == [e.line for e in events]
    assert [a["data-step"] for a, _ in steps] == [str(n) for n in range(1, len(events) + 1)]
    assert [a["id"] for a, _ in steps] == [f"step-{n}" for n in range(1, len(events) + 1)]
    assert not doc.select("li", "divergent") and not doc.select("li", "unchecked")
    body = doc.select("body")[0][0]
    assert body["data-verdict"] == "conforms" and body["data-steps"] == str(len(events))
    assert len(doc.select("section", "detail")) == len(events)
    assert len(doc.select("table", "netstat")) == len(events)
    assert_self_contained(page)


def test_a_divergent_trace_marks_one_step_at_its_line_with_the_reason(divergent, tmp_path):
    verdict = verdict_of(divergent)
    assert (verdict.verdict, verdict.line) == ("diverges", browser.DIVERGENT_LINE)
    page = write_report(divergent, verdict, tmp_path / "report.html").read_text()
    doc = Elements(page)
    steps = doc.select("li", "step")
    assert len(steps) == len(events_of(divergent))
    bad = doc.select("li", "divergent")
    assert len(bad) == 1
    attrs, text = bad[0]
    assert attrs["data-line"] == str(browser.DIVERGENT_LINE)
    assert doc.select("body")[0][0]["data-divergent"] == attrs["data-step"]
    assert verdict.reason in text and "model allowed here: " + ", ".join(verdict.allowed) in text
    later = [a for a, _ in steps if int(a["data-line"]) > browser.DIVERGENT_LINE]
    assert later and all("unchecked" in a["class"].split() for a in later)
    assert all(a["class"] == "step" for a, _ in steps if int(a["data-line"]) < browser.DIVERGENT_LINE)
    detail = [t for a, t in doc.select("section", "detail") if a["data-detail"] == attrs["data-step"]][0]
    assert verdict.reason in detail and "conn" in detail   # the explanation and the model's table, in place
    assert_self_contained(page)


def test_the_verdict_is_found_when_not_given(divergent):
    assert report_html(divergent, dot=None) == report_html(divergent, verdict_of(divergent), dot=None)


@needs_dot
def test_the_figures_are_inline_with_rows_and_states_addressable(divergent):
    page = report_html(divergent, verdict_of(divergent))
    assert page.count("<svg") == 2 and "<?xml" not in page and "<!DOCTYPE svg" not in page
    for e in events_of(divergent):        # every line of the trace finds the one row that stands for it
        rows = set(re.findall(rf'class="node seqrow ([\w ]*\bln_{e.line}\b[\w ]*)"', page))
        assert len(rows) == 1, (e.line, rows)   # (its note and its boxes carry the same class)
    for state in ("LISTEN", "ESTABLISHED", "CLOSE_WAIT", "TIME_WAIT"):
        assert f'class="node st st_{state}"' in page
    lit = {a["data-line"]: json.loads(a["data-states"]) for a, _ in Elements(page).select("li", "step")}
    assert lit["13"] == {"srv": ["LISTEN"], "cli": ["ESTABLISHED"], "conn": ["ESTABLISHED"]}
    assert lit["14"] == {}                # not checked: nothing lit
    assert_self_contained(page)


def test_without_dot_the_page_has_the_tables_and_says_why(divergent):
    page = report_html(divergent, verdict_of(divergent), dot=None)
    doc = Elements(page)
    assert "<svg" not in page
    note = doc.select("p", "notice")
    assert len(note) == 1 and "dot program was not found" in note[0][1] and "apt-get install graphviz" in note[0][1]
    assert len(doc.select("table", "netstat")) == browser.DIVERGENT_LINE - 2 + 1   # events up to the divergence
    assert len(doc.select("li", "divergent")) == 1


def test_the_kernels_rows_are_set_beside_the_models(tmp_path):
    t = client_and_server().call("c", "send", len=5, n=5)
    t.add({"ev": "x-netstat", "rows": [
        {"sock": "L", "state": "LISTEN", "recvq": 0, "sendq": 1, "local": addr(5000), "foreign": "*:*"},
        {"sock": "c", "state": "ESTABLISHED", "recvq": 0, "sendq": 5, "local": addr(40000), "foreign": addr(5000)},
        {"sock": "s", "state": "FIN_WAIT_1", "recvq": 5, "sendq": 0, "local": addr(5000), "foreign": addr(40000)}]})
    path = t.write(tmp_path / "netstat.jsonl")
    doc = Elements(report_html(path, dot=None))
    heads = [t for _, t in doc.select("th")]
    assert any(h.startswith("model (") for h in heads) and "kernel" in heads
    differs = [text.split() for _, text in doc.select("tr", "differs")]
    assert len(differs) == 1 and differs[0][:2] == ["*", "s"] and "FIN_WAIT_1" in differs[0]


def test_an_existing_file_is_never_overwritten(tmp_path):
    out = tmp_path / "report.html"
    out.write_text("mine")
    with pytest.raises(ReportExists, match="exists; nothing is overwritten") as caught:
        write_report(CONFORMING, None, out)
    assert isinstance(caught.value, OSError) and out.read_text() == "mine"


# ---------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(browser.find_chromium() is None, reason=browser.MISSING)
KEYS = ["j", "j", "k", "End", "Home", "ArrowRight", "ArrowLeft", "d"]
PRESS = """<script>
(function () {
  var seen = [];
  %s.forEach(function (k) {
    document.dispatchEvent(new KeyboardEvent("keydown", {key: k, bubbles: true}));
    seen.push(document.body.getAttribute("data-selected"));
  });
  document.body.setAttribute("data-keys", seen.join(" "));
  document.body.setAttribute("data-hash", location.hash);
})();
</script></body>"""


@pytest.fixture
def divergent_page(divergent, tmp_path) -> Path:
    return write_report(divergent, verdict_of(divergent), tmp_path / "report.html")


def body_of(dom: str) -> dict:
    return Elements(dom).select("body")[0][0]


@pytest.mark.slow
@needs_chromium
def test_in_the_browser_a_fragment_selects_a_step_and_the_keys_move(divergent_page, tmp_path):
    dom = browser.dump_dom(divergent_page, "#step=5")
    doc = Elements(dom)
    body = body_of(dom)
    assert body["data-ready"] == "true" and body["data-selected"] == "5" and "js" in body["class"].split()
    selected = doc.select("li", "selected")
    assert [a["id"] for a, _ in selected] == ["step-5"] and selected[0][0]["aria-current"] == "step"
    assert [a["data-detail"] for a, _ in doc.select("section", "shown")] == ["5"]
    divergent = body["data-divergent"]
    if HAS_DOT:   # step 5 is line 6: srv listens, cli was just made
        assert {a["class"] for a, _ in doc.select("g", "lit")} == {"node st st_LISTEN lit", "node st st_CLOSED lit"}
        assert sorted(t.strip() for _, t in doc.select("text", "who")) == ["cli", "srv"]
        (current,) = {a["class"] for a, _ in doc.select("g", "current")}   # the row that stands for line 6
        assert "ln_6" in current.split() and current.startswith("node seqrow")
    # no fragment: the divergent step; then the keyboard
    page = tmp_path / "keys.html"
    page.write_text(divergent_page.read_text().replace("</body>", PRESS % json.dumps(KEYS), 1))
    body = body_of(browser.dump_dom(page))
    n, last = int(divergent), int(body["data-steps"])
    expect = [n + 1, n + 2, n + 1, last, 1, 2, 1, n]
    assert body["data-keys"].split() == [str(x) for x in expect]
    assert body["data-hash"] == f"#step={n}"


@pytest.mark.slow
@needs_chromium
def test_in_the_browser_the_screenshot_shows_the_divergence(divergent_page, tmp_path):
    png = browser.screenshot(divergent_page, tmp_path / "shot.png")
    width, height, bpp, rows = browser.read_png(png.read_bytes())
    assert (width, height) == browser.SIZE
    seen = browser.colours(rows, bpp)
    total = sum(seen.values())
    assert len(seen) > 50 and max(seen.values()) < 0.9 * total, "a blank page"
    assert seen.get((251, 196, 196), 0) > 0.01 * total    # the divergent step, selected, in its red
    assert seen.get((253, 224, 224), 0) > 0.01 * total    # its explanation in place
    if HAS_DOT:
        assert seen.get((255, 213, 79), 0) > 0             # a state lit on the diagram


def test_the_browser_runs_are_bounded_and_leave_nothing(monkeypatch, tmp_path):
    """A browser that hangs is killed at the timeout; its profile folder is removed either way."""
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\nsleep 30 &\nwait\n")
    fake.chmod(0o755)
    monkeypatch.setattr(browser, "find_chromium", lambda: str(fake))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(subprocess.TimeoutExpired):
        browser.chromium(["--version"], timeout=0.5)
    assert not list(tmp_path.glob("conform-chromium-*"))
