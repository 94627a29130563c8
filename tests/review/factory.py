"""Cases for tests, made through the real intake path: a bank holding a benign photo from
../shared/data, the photo "uploaded" (sealed in the vault) and filed by `intake_upload`."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vangnet.banks.bank import create_bank, list_banks
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content
from vangnet.config import get_settings
from vangnet.evidence.sealing import seal_upload
from vangnet.match.results import Match
from vangnet.media.sniff import media_type
from vangnet.review import cases
from vangnet.signals.hashes import Hashes
from vangnet.signals.hashing import hash_bytes, signal_values
from vangnet.signals.registry import signal_types
from vangnet.store.db import writer
from vangnet.store.vault import Vault

PHOTOS = (
    Path("threatexchange/pdq/data/bridge-mods/aaa-orig.jpg"),
    Path("photos/public-domain/skimage_rocket.jpg"),
    Path("photos/public-domain/skimage_coffee.png"),
)


#: `hash_bytes(..., for_bank=True)` results by (SHA-256 of the bytes, name, settings in force
#: but the per-test home and database, signal types registered): the crops and local features
#: of a bank entry cost ~0.3 s CPU, and the suite files hundreds of cases of the same photos.
_HASHED: dict[tuple[str, str, str, tuple[tuple[str, int], ...]], Hashes] = {}


def _hash_for_bank(data: bytes, name: str) -> Hashes:
    """``hash_bytes(data, path=name, for_bank=True)`` with the settings in force, computed once
    per process for the same key (`_HASHED`); a deep copy each time, so that no test sees what
    another did to its result."""
    settings = get_settings()
    key = (
        hashlib.sha256(data).hexdigest(),
        name,
        settings.model_dump_json(exclude={"home", "database_url"}),
        tuple(sorted((n, id(t)) for n, t in signal_types().items())),
    )
    if key not in _HASHED:
        _HASHED[key] = hash_bytes(data, path=name, for_bank=True, settings=settings)
    return copy.deepcopy(_HASHED[key])


def ensure_bank(engine: Engine, name: str = "DEMO", profile: str = "vics") -> None:
    with Session(writer(engine)) as session:
        if name not in {b.name for b in list_banks(session)}:
            create_bank(session, name=name, category_profile=profile)
            session.commit()


def make_case(
    engine: Engine,
    shared_data: Path,
    *,
    photo: Path = PHOTOS[0],
    account: str | None = "user123",
    platform: str = "example-platform",
    bank: str = "DEMO",
    profile: str = "vics",
    category: str | None = "vics:1",
    group_by: str = "account",
) -> int:
    """Bank ``photo`` (category ``category``), then file an upload of it; returns the case id."""
    ensure_bank(engine, bank, profile)
    data = (shared_data / photo).read_bytes()
    hashed = _hash_for_bank(data, photo.name)
    with Session(writer(engine)) as session:
        content_id = add_content(
            session,
            bank=bank,
            signals=signal_values(hashed),
            category=Category.parse(category) if category else None,
            note=f"test item {photo.name}",
            series="test-series",
        )
        session.commit()
    matches = [
        Match(
            bank=bank,
            content_id=content_id,
            signal_type="pdq",
            distance=0,
            category=category,
            signal_id=0,
        )
    ]
    vault = Vault.from_settings(get_settings())
    entry = seal_upload(vault, data, hashed["sha256"])
    with Session(writer(engine)) as session:
        case = cases.intake_upload(
            session,
            entry=entry,
            media_type=media_type(data),
            filename=photo.name,
            hashes=hashed,
            matches=matches,
            subject={"account": account, "platform": platform, "ip": "192.0.2.10"},
            actor="test-uploader",
            group_by=group_by,
        )
        case_id = case.id
        session.commit()
    return case_id
