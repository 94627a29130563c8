"""A plug-in stream source cannot get past the egress policy through the API either: a
stream to a denied destination is refused when it is created (422), and the plug-in's code
never connects. LOOPBACK ONLY (the destination is a listener on 127.0.0.1)."""

from __future__ import annotations

import pytest

from api.conftest import AppFactory, poll
from live.test_source_plugins import CamPluginSource, testcam  # noqa: F401
from security._egress import Listener


@pytest.mark.usefixtures("testcam")
def test_a_plug_in_stream_to_a_denied_address_is_refused_by_the_api(
    make_client: AppFactory, admin_key: str
) -> None:
    client = make_client(egress_allow=[], live_reconnect_attempts=0)
    client.headers["X-API-Key"] = admin_key
    with Listener() as listener:
        r = client.post("/v1/streams", json={"url": f"testcam://127.0.0.1:{listener.port}/x"})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "destination_refused"
        assert not poll(lambda: listener.connections > 0, timeout=0.5)
    assert CamPluginSource.connects == []
