"""Every subcommand's ``--json`` is the one documented envelope.

Each command is run as a user runs it (in-process, through ``cli.main``) and
what it prints is validated against ``tcpconform/envelope.schema.json`` with
jsonschema: results, verdicts and errors alike, with no placeholder strings
("-") where a value is unknown.  The schema itself is checked to refuse what
it must (a verdict and results together, an event as a string, an error
without a message), so a schema that accepted anything would fail here.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from tcpconform import cli, envelope
from tcpconform.live import netns

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
VALIDATOR = jsonschema.Draft202012Validator(envelope.schema())


def _placeholders(obj, where="") -> list[str]:
    """Where a "-" stands for an unknown value (the argument ``trace: "-"``,
    standard input, is what the user typed, not a placeholder)."""
    if isinstance(obj, dict):
        return [p for k, v in obj.items() if not (k == "trace" and v == "-") for p in _placeholders(v, f"{where}.{k}")]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _placeholders(v, f"{where}[{i}]")]
    return [where] if obj == "-" else []


def run_json(capsys, *argv: str, code: int | None = None) -> list[dict]:
    """Run ``conform ARGV`` and return the JSON objects it printed (one per
    line), each checked against the envelope's schema."""
    got = cli.main(list(argv))
    out = capsys.readouterr().out
    if code is not None:
        assert got == code, out
    objs = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert objs, f"conform {' '.join(argv)} printed no JSON"
    for obj in objs:
        errors = sorted(VALIDATOR.iter_errors(obj), key=str)
        assert not errors, f"conform {' '.join(argv)}: {errors[0].message} at {list(errors[0].absolute_path)}"
        assert not _placeholders(obj), _placeholders(obj)
    return objs


def test_the_schema_refuses_what_it_must():
    good = envelope.verdict("check", "diverges", 3, "why", ["EPIPE"], 2, {"ev": "call"}, trace="t.jsonl",
                            expected=[], rules=[{"id": "send.never", "doc": "docs/rules.md#rule-send.never"}])
    assert VALIDATOR.is_valid(good)
    for bad in ({**good, "results": []},                      # a verdict and results at once
                {**good, "event": '{"ev": "call"}'},          # an event as a JSON string
                {k: v for k, v in good.items() if k != "trace"},
                {**good, "verdict": "ok"},
                {**good, "rules": [{"id": "send.never", "doc": "elsewhere"}]},   # a rule's place is docs/rules.md
                envelope.error("check", ""),                  # an error says what
                {"command": "check", "verdict": "conforms"},  # no version, no line...
                envelope.envelope("prove", results=[{"kind": "property", "name": "p"}], seconds=1.0)):
        assert not VALIDATOR.is_valid(bad), bad


def test_check_verdicts_one_line_each(capsys, tmp_path):
    names = ["handshake-and-close", "send-before-established", "unusable"]
    objs = run_json(capsys, "check", "--json", *(str(EXAMPLES / f"{n}.jsonl") for n in names), code=2)
    assert [o["verdict"] for o in objs] == ["conforms", "diverges", "invalid"]
    assert [Path(o["trace"]).stem for o in objs] == names
    bad = objs[1]
    lines = (EXAMPLES / "send-before-established.jsonl").read_text().splitlines()
    assert bad["event"] == json.loads(lines[bad["line"] - 1])   # the divergent line, as an object
    assert [x["allowed"] for x in bad["expected"]] == bad["allowed"] and bad["rules"]
    assert objs[0]["event"] is None and objs[0]["line"] is None


def test_check_from_standard_input(capsys, monkeypatch):
    data = (EXAMPLES / "handshake-and-close.jsonl").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    (obj,) = run_json(capsys, "check", "--json", "-", code=0)
    assert obj["trace"] == "-" and obj["verdict"] == "conforms"


def test_errors_are_json_under_json(capsys, tmp_path):
    (e,) = run_json(capsys, "check", "--json", "-", "-", code=2)
    assert e["command"] == "check" and "once" in e["error"]["message"]
    (e,) = run_json(capsys, "check", "--json", str(EXAMPLES / "unusable.jsonl"), "--max-frontier", "0", code=2)
    assert e["error"]["option"] == "--max-frontier"
    (e,) = run_json(capsys, "check", "--json", code=2)           # argparse's refusal
    assert e["command"] == "check" and "TRACE" in e["error"]["message"]
    (e,) = run_json(capsys, "check", "--js", code=2)             # as argparse abbreviates it
    assert e["command"] == "check"
    (e,) = run_json(capsys, "--json", "frobnicate", code=2)
    assert e["command"] == "conform"
    (e,) = run_json(capsys, "prove", "--json", "no_such_property", code=2)
    assert e["error"]["unknown"] == ["no_such_property"]
    (e,) = run_json(capsys, "run", "--json", "--seed", "3", code=2)
    assert e["error"]["option"] == "--seed"
    (e,) = run_json(capsys, "mutants", "--json", "--kind", "nonsense", code=2)
    assert "nonsense" in e["error"]["message"]
    # and without --json an error is text on stderr, nothing on stdout
    assert cli.main(["check", "-", "-"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "once" in err


def test_trace_from_a_log(capsys, tmp_path):
    log = tmp_path / "a.log"
    with gzip.open(ROOT / "tests" / "strace" / "logs" / "select-refused.log.gz", "rt") as f:
        log.write_text(f.read())
    (obj,) = run_json(capsys, "trace", "--json", "--from-strace", str(log), code=0)
    assert obj["command"] == "trace" and obj["strace"]["calls_seen"] > 0 and obj["trace"] is None
    log.write_text("this is not strace\n")
    (obj,) = run_json(capsys, "trace", "--json", "--from-strace", str(log))
    assert obj["verdict"] == "invalid" or "error" in obj


def test_run_list_and_where(capsys):
    (listed,) = run_json(capsys, "run", "--list", "--json", code=0)
    assert listed["command"] == "run --list" and len(listed["results"]) > 20
    (where,) = run_json(capsys, "run", "--where", "--json", "--isolation", "none", code=0)
    assert where["results"][0]["isolation"] == "none"


def test_prove_and_its_mutant(capsys):
    (out,) = run_json(capsys, "prove", "--json", "connect_no_second_handshake", "S9_one_send_two_recvs", code=0)
    assert [(r["kind"], r["name"]) for r in out["results"]] == [
        ("property", "connect_no_second_handshake"), ("witness", "S9_one_send_two_recvs")]
    (out,) = run_json(capsys, "prove", "--json", "--mutant", "connect_no_second_handshake", code=0)
    (r,) = out["results"]
    assert out["mutant"] is True and r["verdict"] == "refuted" and r["premise"] is None


def test_diagram_says_what_it_wrote(capsys, tmp_path):
    (out,) = run_json(capsys, "diagram", "--json", "--out", str(tmp_path / "d"), code=0)
    files = [Path(r["file"]) for r in out["results"]]
    assert files and all(f.exists() and f.parent == tmp_path / "d" for f in files)


def test_mutants_one_entry_per_mutant(capsys, tmp_path):
    from tcpconform.properties import adequacy
    one, empty = tmp_path / "traces", tmp_path / "none"
    one.mkdir()
    empty.mkdir()
    shutil.copy(adequacy.corpus_dir() / "listener-calls.jsonl", one)
    (out,) = run_json(capsys, "mutants", "--json", "--rule", "bind.bound", "--kind", "swap", "--traces", str(one),
                      "--must-reject", str(empty), "--jobs", "1", code=0)
    assert out["mutants"] == len(out["results"]) > 0
    assert {r["rule"] for r in out["results"]} == {"bind.bound"}


@pytest.mark.live
def test_run_scenarios_and_a_campaign(capsys, tmp_path):
    if netns.probe().mode != "netns":
        pytest.skip("no network namespaces here: " + netns.probe().reason)
    (out,) = run_json(capsys, "run", "--json", "--out", str(tmp_path / "t"), "lifecycle-client-closes",
                      "--random", "2", "--seed", "1", code=0)
    assert [r["name"] for r in out["results"]] == ["lifecycle-client-closes"]
    assert out["random"]["sequences"] == 2
    (e,) = run_json(capsys, "run", "--json", "no-such-scenario", code=2)
    assert "no-such-scenario" in e["error"]["message"]


def test_the_documented_example_is_what_check_prints(capsys):
    """docs/json.md's example verdict is valid, and is what `conform check --json` prints for its trace."""
    import re
    block = re.search(r"```json\n(.*?)```", (ROOT / "docs" / "json.md").read_text(), re.S).group(1)
    documented = json.loads(block)
    assert VALIDATOR.is_valid(documented)
    (printed,) = run_json(capsys, "check", "--json", str(ROOT / documented["trace"]))
    assert Path(printed["trace"]) == ROOT / documented["trace"]
    assert {k: v for k, v in printed.items() if k not in ("conform", "trace")} == \
        {k: v for k, v in documented.items() if k not in ("conform", "trace")}


def test_a_refused_line_is_never_copied_into_the_event(capsys, tmp_path):
    """What the reader refuses (NaN, a line past its length limit) gives ``event``
    null, and the output stays strict JSON (orjson reads it)."""
    import orjson
    from tcpconform.check.trace import MAX_LINE_BYTES
    nan = tmp_path / "nan.jsonl"
    nan.write_text('{"trace": 2}\n{"ev": "call", "sock": "s", "op": "socket", "ret": "ok", "t": NaN}\n')
    big = tmp_path / "big.jsonl"
    big.write_text('{"trace": 1}\n{"ev": "' + "x" * (MAX_LINE_BYTES + 10) + '"}\n')
    for path in (nan, big):
        assert cli.main(["check", "--json", str(path)]) == 2
        out = capsys.readouterr().out
        obj = orjson.loads(out)
        assert obj["verdict"] == "invalid" and obj["line"] == 2 and obj["event"] is None
        assert len(out) < 1000


def test_prove_into_a_place_it_cannot_write_is_an_error(capsys, tmp_path):
    taken = tmp_path / "a-file"
    taken.write_text("mine")
    (e,) = run_json(capsys, "prove", "--json", "S2_handshake", "--diagram", str(taken), code=2)
    assert e["error"]["option"] == "--diagram"


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not found: apt-get install strace")
def test_trace_json_keeps_the_programs_output_off_stdout(capfd):
    import sys
    assert cli.main(["trace", "--json", "--", sys.executable, "-c", "print('from the program')"]) == 0
    out, err = capfd.readouterr()
    assert "from the program\n" in err
    assert json.loads(out)["command"] == "trace"   # stdout holds the one JSON object, nothing else
