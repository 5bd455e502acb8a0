"""A headless browser for the report's tests, and a tiny PNG reader.

* :func:`chromium` runs Debian's ``chromium --headless`` (as root it needs
  ``--no-sandbox``) with a profile folder of its own, removed afterwards, and
  a bounded time: past it, the browser and every process it started are
  killed.  :func:`screenshot` and :func:`dump_dom` are its two uses.
* :func:`read_png` decodes an 8-bit RGB or RGBA PNG with zlib alone (what
  Chromium writes), so that a test can tell a drawn page from a blank one.
* :func:`divergent_trace` writes the divergent trace the tests and the
  screenshot use: ``docs/examples/handshake-and-close.jsonl`` with one
  recv returning more than was left to read.

``bin/dev python -m tests.diagrams.browser`` writes
``docs/diagrams/report-divergent.png``, the screenshot of that trace's report.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "handshake-and-close.jsonl"
DIVERGENT_LINE = 13        # conn's second recv: 4 bytes were left, the trace says 6
SIZE = (1200, 900)
MISSING = "chromium not found: apt-get install chromium"


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def divergent_trace(path: Path) -> Path:
    lines = EXAMPLE.read_text().splitlines()
    assert '"n": 4' in lines[DIVERGENT_LINE - 1]
    lines[DIVERGENT_LINE - 1] = lines[DIVERGENT_LINE - 1].replace('"n": 4', '"n": 6')
    path.write_text("\n".join(lines) + "\n")
    return path


def chromium(args: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run the headless browser with ``args``; its output.  A run past ``timeout``
    seconds is killed, with every process it started, and raises TimeoutExpired."""
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError(MISSING)
    profile = tempfile.mkdtemp(prefix="conform-chromium-")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return subprocess.CompletedProcess(cmd, proc.returncode, out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


def screenshot(page: Path, png: Path, fragment: str = "") -> Path:
    """A screenshot of the page (a file), :data:`SIZE` pixels."""
    proc = chromium([f"--screenshot={png}", f"--window-size={SIZE[0]},{SIZE[1]}", page.resolve().as_uri() + fragment])
    if proc.returncode != 0 or not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return png


def dump_dom(page: Path, fragment: str = "") -> str:
    """The page's DOM after its scripts ran, as HTML."""
    proc = chromium([f"--window-size={SIZE[0]},{SIZE[1]}", "--dump-dom", page.resolve().as_uri() + fragment])
    if proc.returncode != 0 or "<body" not in proc.stdout:
        raise RuntimeError(f"chromium dumped no DOM (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def read_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows of pixel bytes) of an 8-bit RGB or RGBA PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, head = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = head
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                row[i] = (row[i] + row[i - bpp]) & 255
        elif kind == 2:
            row = bytearray((a + b) & 255 for a, b in zip(row, prev))
        elif kind == 3:
            for i in range(stride):
                row[i] = (row[i] + ((row[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                a, b, c = (row[i - bpp] if i >= bpp else 0), prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(row))
        prev = row
    return width, height, bpp, rows


def colours(rows: list[bytes], bpp: int, step: int = 3) -> dict[tuple, int]:
    """How many pixels (of every ``step``-th row and column) have each colour."""
    seen: dict[tuple, int] = {}
    for row in rows[::step]:
        for i in range(0, len(row), bpp * step):
            px = tuple(row[i:i + 3])
            seen[px] = seen.get(px, 0) + 1
    return seen


def main() -> int:
    """Write docs/diagrams/report-divergent.png: the report of :func:`divergent_trace`, in the browser."""
    from tcpconform.diagrams.report import write_report
    with tempfile.TemporaryDirectory(prefix="conform-report-") as tmp:
        trace = divergent_trace(Path(tmp) / "recv-more-than-sent.jsonl")
        page = write_report(trace, None, Path(tmp) / "report.html")
        out = ROOT / "docs" / "diagrams" / "report-divergent.png"
        screenshot(page, Path(tmp) / "shot.png")
        shutil.copyfile(Path(tmp) / "shot.png", out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
