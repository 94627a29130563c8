"""Stable refs for records whose source gives them no id (a WhatsApp export's messages).

The ref is a hash of what the record says, plus how many identical records came before it in
the same file, so two "ok" at the same minute from the same sender are two messages, and
importing the same file again gives the same refs (an idempotent import).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime


def content_ref(
    prefix: str, conversation: str, at: datetime, sender: str, text: str, seen: Counter[bytes]
) -> str:
    """``prefix:`` and 32 hex digits of SHA-256 over the fields and the occurrence index;
    ``seen`` counts the occurrences of each content in this file, by digest (updated here)."""
    content = hashlib.sha256(
        "\x1f".join((conversation, at.isoformat(), sender, text)).encode()
    ).digest()
    index = seen[content]
    seen[content] += 1
    digest = hashlib.sha256(content + b"\x1e" + str(index).encode()).hexdigest()[:32]
    return f"{prefix}:{digest}"
