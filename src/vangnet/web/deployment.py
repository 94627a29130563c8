"""Refuse to serve people on a network with demo settings.

On a loopback address anything goes (a reviewer's own machine, the demo, tests). Bound to any
other address, the server will not start while:

- API keys are off (``require_api_keys = false``);
- the session cookie may travel over plain HTTP (``cookie_secure = false``; put TLS in front);
- a demo account (made by ``vangnet demo``, with a password printed on the terminal) exists
  and is enabled;
- TLS certificates of outbound connections are not verified (``egress_tls_verify = false``).
"""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vangnet.config import Settings
from vangnet.errors import VangnetError
from vangnet.net import is_loopback
from vangnet.store.models import User

DEMO_PREFIX = "demo-"


class InsecureDeployment(VangnetError):
    code = "insecure_config"
    exit_code = 2
    status = 500


def insecure_reasons(settings: Settings, engine: Engine | None = None) -> list[str]:
    if is_loopback(settings.host):
        return []
    reasons = []
    if not settings.require_api_keys:
        reasons.append("API keys are off (VANGNET_REQUIRE_API_KEYS=false)")
    if not settings.cookie_secure:
        reasons.append(
            "session cookies would travel over plain HTTP: serve behind TLS and set "
            "VANGNET_COOKIE_SECURE=true"
        )
    if not settings.egress_tls_verify:
        reasons.append(
            "TLS certificates of streams, webhooks and NCMEC are not verified "
            "(VANGNET_EGRESS_TLS_VERIFY=false, for testing only)"
        )
    if engine is not None:
        with Session(engine) as session:
            demo = session.scalars(
                select(User.username).where(
                    User.username.startswith(DEMO_PREFIX), User.disabled.is_(False)
                )
            ).all()
        if demo:
            reasons.append(
                f"demo accounts are enabled ({', '.join(demo)}): `vangnet user disable` them"
            )
    return reasons


def check_deployment(settings: Settings, engine: Engine | None = None) -> None:
    reasons = insecure_reasons(settings, engine)
    if reasons:
        raise InsecureDeployment(
            f"refusing to serve on {settings.host} with demo settings: " + "; ".join(reasons)
        )
