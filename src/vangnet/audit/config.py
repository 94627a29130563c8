"""Configuration changes in the audit log: at every server start the settings in force
(secrets as "set"/"unset" only, URLs as scheme, host and port with a fingerprint: no
credentials, paths or query tokens) are compared with the last recorded ones; a difference is
recorded as ``config.change`` with before and after."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy import Engine, make_url, select
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.config import Settings
from vangnet.store.db import writer
from vangnet.store.models import AuditEntry

ACTION = "config.change"


def redact_url(url: str) -> str:
    """A URL as the audit log keeps it: scheme, host and port only, plus a fingerprint of the
    whole URL so a change still shows. User names, passwords, paths and query strings may
    hold tokens (e.g. ``https://hooks.example/T0/B0/secret`` or ``?token=...``)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    fingerprint = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    if parts is None or not parts.scheme or not parts.hostname:
        return f"(redacted, sha256:{fingerprint})"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    where = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    hidden = parts.username or parts.password or parts.path.strip("/") or parts.query
    return f"{where}/{'…' if hidden else ''} (sha256:{fingerprint})"


def snapshot(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sorted(Settings.model_fields):
        value = getattr(settings, name)
        if isinstance(value, SecretStr) or "password" in name or "secret" in name or "key" in name:
            out[name] = "set" if value else "unset"
        elif name == "database_url" and value:
            out[name] = make_url(value).render_as_string(hide_password=True)
        elif name.endswith("_url") and isinstance(value, str) and value:
            out[name] = redact_url(value)
        else:
            out[name] = json.loads(json.dumps(value, default=str))
    return out


def record_config(engine: Engine, settings: Settings) -> bool:
    """Record the settings if they differ from the last recorded; True if recorded."""
    now = snapshot(settings)
    with Session(writer(engine)) as session:
        last = session.scalars(
            select(AuditEntry.after)
            .where(AuditEntry.action == ACTION)
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).first()
        if last == now:
            return False
        before = last if isinstance(last, dict) else None
        changed = sorted(k for k in now if before is None or before.get(k) != now[k])
        chain.record(
            session,
            actor=chain.cli_actor().replace("cli:", "server:", 1),
            action=ACTION,
            target="settings",
            before={k: before.get(k) for k in changed} if before else None,
            after=now,
            details={"changed": changed},
        )
        session.commit()
    return True
