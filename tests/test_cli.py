"""The command line's conventions: --version, listing the scenarios, checking
several traces or one from a pipe, and a reader that goes away."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tcpconform import cli
from tests.helpers import Trace, call, run_command

ROOT = Path(__file__).resolve().parents[1]


def test_version_names_the_package_and_the_rule_table(capsys):
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("conform ") and "rule table" in out and "rules)" in out


def test_run_lists_every_scenario_with_what_it_shows(capsys):
    from tcpconform.live.scenarios import SCENARIOS
    assert cli.main(["run", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(SCENARIOS)
    assert all(len(line.split(None, 1)) == 2 for line in lines)   # a description beside each
    assert cli.main(["run", "--list", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert {s["name"] for s in got["results"]} == set(SCENARIOS)


def _good(tmp_path: Path) -> Path:
    path = tmp_path / "good.jsonl"
    t = Trace().add(call("c", "socket")).add(call("c", "close"))
    path.write_text(t.text())
    return path


def _bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"trace": 1}\n{"ev": "call", "sock": "c", "op": "send", "len": 1, "ret": "ok", "n": 1}\n')
    return path


def test_several_traces_each_get_a_verdict_and_the_worst_exit(tmp_path, capsys):
    good, bad = _good(tmp_path), _bad(tmp_path)
    assert cli.main(["check", str(good), str(good)]) == 0
    assert cli.main(["check", str(good), str(bad)]) == 2        # unusable input wins
    capsys.readouterr()
    assert cli.main(["check", "--json", str(good), str(bad)]) == 2
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["trace"], r["verdict"]) for r in rows] == [(str(good), "conforms"), (str(bad), "invalid")]


def test_a_trace_from_standard_input(tmp_path):
    good = _good(tmp_path).read_text()
    run = subprocess.run([sys.executable, "-m", "tcpconform", "check", "-"], input=good, text=True,
                         capture_output=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("conforms")
    run = subprocess.run([sys.executable, "-m", "tcpconform", "check", "-", "-"], input=good, text=True,
                         capture_output=True, cwd=ROOT, timeout=120)
    assert run.returncode == 2 and "once" in run.stderr


def test_a_reader_that_goes_away_is_not_a_divergence():
    """The reader of ``conform run --list`` closes the pipe before a line is
    written: the exit status says so (141, as for SIGPIPE), not 1 (diverges)."""
    proc = subprocess.Popen([sys.executable, "-m", "tcpconform", "run", "--list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141, err


def test_the_trace_format_and_its_examples_are_in_the_repository():
    """docs/trace-format.md and docs/examples are the contract's own text and
    examples (the same bytes as the shared copy when it is beside the checkout),
    so the README's examples run on a clone; each example gets the verdict its
    README table says."""
    from tests.conftest import shared_dir
    docs = ROOT / "docs"
    shared = shared_dir()
    if shared is not None:
        assert (docs / "trace-format.md").read_bytes() == (shared / "trace-format.md").read_bytes()
        for ex in sorted((shared / "trace-examples").glob("*.jsonl")):
            assert (docs / "examples" / ex.name).read_bytes() == ex.read_bytes()
    table = (docs / "examples" / "README.md").read_text()
    expected = {"conforms": 0, "diverges": 1, "invalid": 2}
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) == 3 and cells[0].endswith(".jsonl"):
            assert cli.main(["check", str(docs / "examples" / cells[0])]) == expected[cells[1].split()[0]]


def test_an_unknown_property_is_an_error_on_stderr(capsys):
    assert cli.main(["prove", "no_such_property"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "no_such_property" in err
    assert cli.main(["prove", "--json", "no_such_property"]) == 2
    assert "no_such_property" in json.loads(capsys.readouterr().out)["error"]["message"]


def test_check_html_writes_one_new_page(tmp_path, capsys, monkeypatch):
    """``check TRACE --html FILE``: the page of that trace (its divergent step
    marked), said on stderr; never over a file that exists; one TRACE only;
    standard input too."""
    trace = ROOT / "docs" / "examples" / "listener-carries-data.jsonl"
    page = tmp_path / "page.html"
    assert cli.main(["check", str(trace), "--html", str(page)]) == 1
    out, err = capsys.readouterr()
    assert f"wrote {page}" in err and "diverges at line 6" in out
    text = page.read_text()
    assert re.findall(r'class="step divergent"[^>]*data-line="(\d+)"', text) == ["6"]
    page.write_text("mine")
    assert cli.main(["check", str(trace), "--html", str(page)]) == 2
    assert page.read_text() == "mine" and "exists" in capsys.readouterr().err
    assert cli.main(["check", str(trace), str(trace), "--html", str(tmp_path / "two.html")]) == 2
    assert not (tmp_path / "two.html").exists()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(trace.read_bytes())))
    assert cli.main(["check", "-", "--html", str(tmp_path / "stdin.html")]) == 1
    assert re.findall(r'class="step divergent"[^>]*data-line="(\d+)"', (tmp_path / "stdin.html").read_text()) == ["6"]


@pytest.mark.live
def test_run_html_writes_a_page_per_scenario(tmp_path, capsys):
    from tcpconform.live import netns
    if netns.probe().mode != "netns":
        pytest.skip("no network namespaces here: " + netns.probe().reason)
    pages = tmp_path / "pages"
    assert cli.main(["run", "refused-no-socket", "--html", str(pages)]) == 0
    page = (pages / "refused-no-socket.html").read_text()
    assert 'data-verdict="conforms"' in page and f"wrote {pages / 'refused-no-socket.html'}" in capsys.readouterr().err
    assert cli.main(["run", "refused-no-socket", "--html", str(pages)]) == 2   # a new folder only
    assert "exists" in capsys.readouterr().err


@pytest.mark.live
def test_run_shows_its_progress_on_a_terminal_only():
    from tcpconform.live import netns
    if netns.probe().mode != "netns":
        pytest.skip("no network namespaces here: " + netns.probe().reason)
    cmd = [sys.executable, "-m", "tcpconform.cli", "run", "refused-no-socket", "listen-twice"]
    rc, out, err = run_command(cmd, ROOT, stderr_tty=True)
    assert rc == 0, out + err
    assert "conform run: [" in err and "/2 " in err and "\r" in err and "2 scenarios" in out
    rc, out, err = run_command(cmd, ROOT, stderr_tty=False)
    assert rc == 0 and "/2 " not in err and "\r" not in err


def test_a_divergence_says_what_the_model_expected_and_why(capsys):
    """``conform check`` on a connect that returns ok to a port nobody listens on:
    the outcome the model expected and why, what it allowed, and the rules with
    their place in docs/rules.md."""
    path = ROOT / "tests" / "traces" / "divergences" / "connect-nobody-listens.jsonl"
    assert cli.main(["check", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("diverges at line 3: no run of the model explains connect on 'c' returning ok; "
                      "connect would block, then return ECONNREFUSED (nothing listens on 127.0.0.1:45099)")
    assert out[2] == "model allowed here: connect blocks, then ECONNREFUSED [connect.start, connect.failed]"
    assert out[3:] == [
        "because:",
        "  connect blocks, then ECONNREFUSED [connect.start, connect.failed]: nothing listens on 127.0.0.1:45099",
        "rules: connect.start (docs/rules.md#rule-connect.start), synsent.rst (docs/rules.md#rule-synsent.rst), "
        "connect.failed (docs/rules.md#rule-connect.failed)"]


def test_a_divergence_names_the_bound_on_n_and_the_peer_accept_would_return(capsys):
    traces = ROOT / "tests" / "traces" / "divergences"
    assert cli.main(["check", str(traces / "recv-more-than-sent.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "recv would return at most 4 bytes (12 sent by cli, 8 read)" in out
    assert "model allowed here: ok 1<=n<=4 [recv.data]" in out
    assert cli.main(["check", str(traces / "accept-wrong-peer.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "accept would return peer 127.0.0.1:51000 (first in srv's accept queue)" in out


@pytest.mark.parametrize("command", [None, *cli._COMMANDS])
def test_every_help_prints(command, capsys):
    assert cli.main([command, "--help"] if command else ["--help"]) == 0
    assert "usage: conform" in capsys.readouterr().out


@pytest.mark.live
def test_run_explain_names_the_trace_its_lines_number(tmp_path, capsys):
    from tcpconform.live import netns
    if netns.probe().mode != "netns":
        pytest.skip("no network namespaces here: " + netns.probe().reason)
    assert cli.main(["run", "--explain", "refused-no-socket"]) == 0
    assert "lines of the trace as recorded (not kept: add --out DIR to keep it)" in capsys.readouterr().out
    assert cli.main(["run", "--explain", "--out", str(tmp_path), "refused-no-socket"]) == 0
    out = capsys.readouterr().out
    kept = tmp_path / "refused-no-socket.jsonl"
    assert f"lines of {kept}" in out
    first = re.search(r"^line (\d+): (\S+) socket\(\)", out, re.M)   # the first step is that line of the file
    assert first and json.loads(kept.read_text().splitlines()[int(first.group(1)) - 1])["op"] == "socket"
    assert cli.main(["run", "refused-no-socket"]) == 0
    assert "lines of" not in capsys.readouterr().out
