"""QR codes of second-factor enrolment links (``otpauth://``), drawn with segno (pure
Python): inline SVG for the web UI and block characters for a terminal. Nothing is written
to disk; the picture holds only the link it is made of."""

from __future__ import annotations

import io

import segno


def _code(data: str) -> segno.QRCode:
    return segno.make(data, error="m", micro=False)


def svg(data: str, *, scale: int = 4) -> str:
    """An ``<svg>`` element (no XML declaration) to put inside a page."""
    text: str = _code(data).svg_inline(scale=scale, dark="#000", light="#fff")
    return text


def terminal(data: str) -> str:
    """The code in block characters, two rows per line, dark on light (scannable from a
    terminal whatever its colours)."""
    out = io.StringIO()
    _code(data).terminal(out=out, compact=True)
    return out.getvalue()
