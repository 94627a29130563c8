"""Review finding (h-review): since migration 0015 a triage item keeps the hash of every
registered signal type (`TriageSignal` rows), but an item sealed as evidence at its first
reveal (`vangnet.evidence.reveal._hold`) copies the MD5/SHA-1/PDQ columns only: the plug-in's
value is not an `EvidenceSignal` row of the evidence item, so the case document's evidence
item (``signals``, `vangnet.evidence.hashes.item_signals`) and what is built from it lack it,
while evidence from every other intake keeps all its signal types."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vangnet.evidence.hashes import item_signals
from vangnet.evidence.reveal import reveal_triage_item
from vangnet.store.models import Case, EvidenceItem, TriageItem, TriageSignal
from vangnet.store.vault import Vault

PLUGIN = "review_plugin_hash"


def test_a_revealed_triage_item_keeps_its_plugin_hash_as_evidence(
    db_engine: Engine, tmp_path: Path
) -> None:
    data = secrets.token_bytes(256)
    vault = Vault(tmp_path / "vault", secrets.token_bytes(32))
    with Session(db_engine) as s:
        case = Case(key="investigation:review", kind="investigation", title="seized")
        s.add(case)
        s.flush()
        item = TriageItem(
            case_id=case.id,
            key="k",
            source="/seized",
            chain=["/seized", "/seized/a.jpg"],
            name="a.jpg",
            size=len(data),
            kind="photo",
            status="ok",
            md5=hashlib.md5(data).hexdigest(),
            sha1=hashlib.sha1(data).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(),
            pdq="f" * 64,
        )
        s.add(item)
        s.flush()
        s.add(TriageSignal(item_id=item.id, signal_type=PLUGIN, value="0123456789abcdef"))
        s.commit()
        revealed = reveal_triage_item(
            s, vault, item.id, data, media_type="image/jpeg", actor="analyst"
        )
        s.commit()
        held = s.get_one(EvidenceItem, revealed.evidence_id)
        signals = item_signals(held)
    assert signals.get("pdq") == "f" * 64  # the columns are carried over
    assert signals.get(PLUGIN) == "0123456789abcdef", signals  # the typed rows are not
