"""The example traces of ../shared/trace-examples get the verdicts its README lists."""

import json
import re

import pytest

from tcpconform import cli


def _expectations(shared):
    """Parse the README's table: | file | verdict | exit |."""
    rows = {}
    for line in (shared / "trace-examples" / "README.md").read_text().splitlines():
        m = re.match(r"\|\s*(\S+\.jsonl)\s*\|\s*([^|]+?)\s*\|\s*(\d)\s*\|", line)
        if m:
            verdict = m.group(2)
            at = re.search(r"line (\d+)", verdict)
            rows[m.group(1)] = (verdict.split()[0], int(at.group(1)) if at else None, int(m.group(3)))
    return rows


def test_readme_lists_four_examples(shared):
    assert len(_expectations(shared)) == 4


@pytest.mark.parametrize("name", ["handshake-and-close.jsonl", "send-before-established.jsonl",
                                  "listener-carries-data.jsonl", "unusable.jsonl"])
def test_example_verdict(shared, name, capsys):
    word, line, code = _expectations(shared)[name]
    rc = cli.main(["check", "--json", str(shared / "trace-examples" / name)])
    got = json.loads(capsys.readouterr().out)
    assert rc == code
    assert got["verdict"] == {"conforms": "conforms", "diverges": "diverges", "invalid": "invalid"}[word]
    assert got["line"] == line
