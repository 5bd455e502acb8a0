"""`conform prove` tells its progress: the core through a callback, the
command line as a line redrawn on a terminal and never when piped."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tcpconform.properties import prove

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["listener_carries_no_data", "S7_connect_autobinds"]


def test_prove_tells_each_name_before_it_is_taken_up_then_the_end() -> None:
    said: list[tuple[int, int, str]] = []
    report = prove.prove(NAMES, progress=lambda *a: said.append(a))
    assert said == [(0, 2, NAMES[0]), (1, 2, NAMES[1]), (2, 2, "")]
    assert [r["property"] for r in report.properties] == NAMES[:1]


def _prove(stderr_tty: bool) -> tuple[int, str, str]:
    cmd = [sys.executable, "-m", "tcpconform.cli", "prove", *NAMES]
    if not stderr_tty:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        return p.returncode, p.stdout, p.stderr
    main, sub = pty.openpty()
    try:
        p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=sub, text=True, timeout=300)
        os.close(sub)
        sub = -1
        err = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            err += chunk
        return p.returncode, p.stdout, err.decode()
    finally:
        os.close(main)
        if sub >= 0:
            os.close(sub)


def test_a_terminal_sees_the_progress_line_and_a_pipe_does_not() -> None:
    rc, out, err = _prove(stderr_tty=True)
    assert rc == 0, out + err
    assert f"1/2 {NAMES[1]}" in err and "\r" in err
    assert "1/2" not in out
    rc, out, err = _prove(stderr_tty=False)
    assert rc == 0, out + err
    assert "1/2" not in err and "\r" not in err
