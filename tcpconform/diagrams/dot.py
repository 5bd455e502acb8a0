"""DOT text, and the ``dot`` program that turns it into SVG and PNG.

The diagrams write their DOT text with these few helpers (no Graphviz
binding is needed); :func:`render` writes a ``.dot`` file and, when the
``dot`` program is on ``PATH`` (:func:`find_dot`), each picture format.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

FONT = "Helvetica"
INSTALL_HINT = ("install Graphviz to render SVG and PNG: apt-get install graphviz "
                "(Debian/Ubuntu), dnf install graphviz (Fedora), brew install graphviz (macOS)")
FORMATS = ("svg", "png")

# Colours (ColorBrewer Dark2, legible on white and for most colour-blind readers).
C_MAIN = "black"
C_ARC = "#333333"
C_EXTRA = "#1f78b4"      # not in RFC 9293 Fig. 5: sockets API and Linux behaviour (shutdown, ...)
C_DEPART = "#d95f02"     # Linux departs from RFC 9293
C_RFC = "#7570b3"        # RFC 9293 only: no sockets API exposes it
C_ABORT = "#888888"      # resets, errors, abortive close
C_OK = "#1b9e77"
C_RED = "#d62728"


def q(text: object) -> str:
    """A DOT double-quoted string."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


class HTML(str):
    """An HTML-like label: written between < and >."""

    def __new__(cls, body: str) -> "HTML":
        return super().__new__(cls, f"<{body}>")


def attrs(**kw: object) -> str:
    items = [f"{k}={v if isinstance(v, HTML) else q(v)}" for k, v in kw.items() if v is not None]
    return f" [{', '.join(items)}]" if items else ""


def h(text: object) -> str:
    return html.escape(str(text), quote=True)


def legend_html(entries: Sequence[tuple[str, str, str]], styles: dict | None = None) -> HTML:
    """A legend table.  entries: (colour, or a key of ``styles`` whose
    ``color`` is taken, sample line, meaning); without a sample the meaning
    spans the row in that colour."""
    rows = []
    for colour, sample, text in entries:
        colour = styles[colour]["color"] if styles and colour in styles else colour
        if not sample:
            rows.append(f'<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT COLOR="{h(colour)}">{h(text)}</FONT></TD></TR>')
            continue
        rows.append(f'<TR><TD ALIGN="CENTER"><FONT COLOR="{h(colour)}" POINT-SIZE="14">{h(sample)}</FONT></TD>'
                    f'<TD ALIGN="LEFT">{h(text)}</TD></TR>')
    return HTML('<TABLE BORDER="1" COLOR="#bbbbbb" CELLBORDER="0" CELLSPACING="1" CELLPADDING="2">'
                '<TR><TD COLSPAN="2"><B>Legend</B></TD></TR>' + "".join(rows) + "</TABLE>")


def table_graph(name: str, title: str, node: str, label: HTML) -> str:
    """A graph of one plaintext node holding an HTML table (the call and readiness tables)."""
    return "\n".join([
        f"digraph {name} {{",
        f"  graph{attrs(label=title, labelloc='t', fontname=FONT, fontsize='16', bgcolor='white', pad='0.3')};",
        f"  node{attrs(fontname=FONT, fontsize='11')};",
        f"  {node}{attrs(shape='plaintext', label=label)};",
        "}",
    ]) + "\n"


class RenderError(Exception):
    pass


def find_dot() -> str | None:
    return shutil.which("dot")


def render(dot_text: str, out_dir: Path | str, stem: str, formats: Sequence[str] = FORMATS,
           dot: str | None = None) -> list[Path]:
    """Write ``stem.dot`` and, with the ``dot`` program ``dot``, each format."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = out / f"{stem}.dot"
    src.write_text(dot_text, encoding="utf-8")
    written = [src]
    if dot is None:
        return written
    for fmt in formats:
        target = out / f"{stem}.{fmt}"
        proc = subprocess.run([dot, f"-T{fmt}", "-o", str(target), str(src)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RenderError(f"{dot} failed on {src} (-T{fmt}, exit {proc.returncode}): "
                              f"{proc.stderr.strip() or 'no message'}")
        written.append(target)
    return written
