"""`conform prove` tells its progress: the core through a callback, the
command line as a line redrawn on a terminal and never when piped."""

from __future__ import annotations

import sys
from pathlib import Path

from tcpconform.properties import prove
from tests.helpers import run_command

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["listener_carries_no_data", "S7_connect_autobinds"]


def test_prove_tells_each_name_before_it_is_taken_up_then_the_end() -> None:
    said: list[tuple[int, int, str]] = []
    report = prove.prove(NAMES, progress=lambda *a: said.append(a))
    assert said == [(0, 2, NAMES[0]), (1, 2, NAMES[1]), (2, 2, "")]
    assert [r["property"] for r in report.properties] == NAMES[:1]


def _prove(stderr_tty: bool) -> tuple[int, str, str]:
    return run_command([sys.executable, "-m", "tcpconform.cli", "prove", *NAMES], ROOT, stderr_tty=stderr_tty)


def test_a_terminal_sees_the_progress_line_and_a_pipe_does_not() -> None:
    rc, out, err = _prove(stderr_tty=True)
    assert rc == 0, out + err
    assert f"1/2 {NAMES[1]}" in err and "\r" in err
    assert "1/2" not in out
    rc, out, err = _prove(stderr_tty=False)
    assert rc == 0, out + err
    assert "1/2" not in err and "\r" not in err
