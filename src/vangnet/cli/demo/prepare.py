"""The demo: a bank of pictures drawn here (no data files needed), a key, and how to query.

The pictures are abstract compositions drawn with Pillow from a fixed seed, so every machine
builds the same bank. One of them, re-sized and re-encoded as JPEG, is written next to the
database as a query picture to try the upload routes with.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy.orm import Session

from vangnet.audit.chain import cli_actor
from vangnet.auth import users
from vangnet.auth.keys import Role, create_key, list_keys, revoke_key
from vangnet.banks.bank import create_bank, get_bank
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content
from vangnet.config import Settings
from vangnet.errors import NotFoundError
from vangnet.signals.hashing import hash_bytes
from vangnet.store.db import make_engine
from vangnet.store.migrate import ensure_schema

DEMO_BANK = "DEMO_KNOWN"
DEMO_KEY_NAME = "demo"
PICTURES = 24


def draw_picture(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """An abstract picture: a gradient sky, hills, circles and bars, all from ``seed``."""
    rng = random.Random(seed)
    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    top = tuple(rng.randrange(256) for _ in range(3))
    bottom = tuple(rng.randrange(256) for _ in range(3))
    for y in range(h):
        t = y / (h - 1)
        draw.line(
            [(0, y), (w, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    for _ in range(rng.randint(2, 4)):
        base = rng.randint(h // 3, h)
        points = (
            [(0, h)] + [(x, base - rng.randint(0, h // 3)) for x in range(0, w + 80, 80)] + [(w, h)]
        )
        draw.polygon(points, fill=tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(rng.randint(3, 8)):
        r = rng.randint(15, 90)
        x, y = rng.randrange(w), rng.randrange(h)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(rng.randint(1, 4)):
        x = rng.randrange(w)
        draw.rectangle(
            [x, rng.randrange(h // 2), x + rng.randint(10, 60), h],
            fill=tuple(rng.randrange(256) for _ in range(3)),
        )
    return img.filter(ImageFilter.SMOOTH)


def encode(img: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


@dataclass
class DemoInfo:
    key: str
    query_path: Path
    query_pdq: str
    instructions: str


def _demo_users(session: Session) -> dict[str, str]:
    """Demo accounts (a reviewer and an admin) with fresh random passwords. The server
    refuses to start on a non-loopback address while they are enabled."""
    import secrets

    out = {}
    for name, role in (("demo-reviewer", Role.REVIEWER), ("demo-admin", Role.ADMIN)):
        password = secrets.token_urlsafe(9)
        try:
            users.get_user(session, name)
        except NotFoundError:
            users.create_user(
                session, username=name, password=password, role=role, actor=cli_actor()
            )
        else:
            users.set_password(session, name, password=password, actor=cli_actor())
            users.set_disabled(session, name, disabled=False, actor=cli_actor())
        out[name] = password
    return out


def prepare_demo(settings: Settings) -> DemoInfo:
    """Create (idempotently) the demo bank, a fresh demo key, and a query picture."""
    from vangnet.audit.chain import attach_anchor

    engine = attach_anchor(
        make_engine(settings.effective_database_url, home=settings.home), settings
    )
    try:
        ensure_schema(engine)
        with Session(engine) as session:
            try:
                get_bank(session, DEMO_BANK)
            except NotFoundError:
                create_bank(
                    session,
                    name=DEMO_BANK,
                    category_profile="vics",
                    note="Pictures drawn by `vangnet demo`; benign.",
                    settings=settings,
                )
            for seed in range(PICTURES):
                hashed = hash_bytes(
                    encode(draw_picture(seed)), settings=settings, path=f"demo-{seed}.png"
                )
                add_content(
                    session,
                    bank=DEMO_BANK,
                    signals=hashed.signal_values(),
                    category=Category.parse("vics:1"),
                    source="vangnet demo",
                    series="demo-drawings",
                    note=f"drawn picture #{seed}",
                )
            for old in list_keys(session):
                if old.name == DEMO_KEY_NAME and old.revoked_at is None:
                    revoke_key(session, old.id)
            _view, secret = create_key(session, name=DEMO_KEY_NAME, role=Role.ADMIN)
            passwords = _demo_users(session)
            session.commit()
    finally:
        engine.dispose()

    # A re-sized, re-encoded copy of banked picture #7: a near-duplicate, not the same file.
    query = draw_picture(7).resize((600, 450))
    data = encode(query, "JPEG", quality=75)
    folder = settings.home / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    query_path = folder / "query.jpg"
    query_path.write_bytes(data)
    pdq = hash_bytes(data, settings=settings, path=str(query_path)).values["pdq"]
    base = f"http://{settings.host}:{settings.port}"
    text = f"""
Vangnet demo: bank {DEMO_BANK} holds {PICTURES} drawn pictures.
Database: {settings.effective_database_url}
API key (admin, shown once):  {secret}

Try, in another terminal:
  export KEY={secret}
  curl -s -H "X-API-Key: $KEY" \\
       "{base}/m/raw_lookup?signal_type=pdq&signal={pdq}&include_distance=true"
  curl -s -H "X-API-Key: $KEY" -F photo=@{query_path} {base}/m/lookup
  curl -s -H "X-API-Key: $KEY" --data-binary @{query_path} {base}/v1/match
  curl -s -H "X-API-Key: $KEY" -H 'content-type: application/json' \\
       -d '{{"signal_type": "pdq", "value": "{pdq}"}}' {base}/v1/lookup
  .venv/bin/vangnet match {query_path}
OpenAPI: {base}/openapi.json  (interactive docs: {base}/docs)

Review web UI: {base}/ui/  (passwords are new at every `vangnet demo`)
  demo-reviewer / {passwords["demo-reviewer"]}     demo-admin / {passwords["demo-admin"]}
  demo-admin also needs a second factor: at the first sign-in the page shows a key for any
  authenticator app (TOTP); lost it? `vangnet user totp-reset demo-admin`.
The live demo's alert lands in the review queue; the upload above (/v1/match) too.
"""
    return DemoInfo(key=secret, query_path=query_path, query_pdq=pdq, instructions=text)
