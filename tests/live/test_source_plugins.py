"""Stream sources are plug-ins (entry-point group ``vangnet.sources``, by URL scheme): the
built-ins pass the conformance kit, a plug-in source is found by its scheme, and the egress
policy polices every network source a plug-in adds -- the registry refuses a network source
that could skip it, and the check runs before the plug-in's code connects anywhere.

LOOPBACK ONLY: the plug-in's destination is a listener this test starts on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from api.conftest import poll
from security._egress import Listener
from vangnet import plugins
from vangnet.cli import app as cli_app
from vangnet.egress.policy import GENERIC_REASON, CheckedUrl, EgressPolicy
from vangnet.plugins import PluginError
from vangnet.sources import streams as sources
from vangnet.sources.stream_conformance import LOOPBACK, SourceCases, check_stream_source
from vangnet.sources.streams import (
    FileSource,
    HttpSource,
    NetworkSource,
    PolicedSource,
    RelaySource,
    Source,
    SourceFrame,
    StreamUnavailable,
    register_source,
    source_for,
    stream_sources,
    unregister_source,
)

VIDEO = Path("threatexchange/video/sample-videos/chair-19-sd-bar.mp4")
KW = {
    "connect_timeout": 2.0,
    "stall_timeout": 2.0,
    "max_pixels": 1920 * 1080,
    "rtsp_transport": "auto",
}


class CamPluginSource(PolicedSource):
    """A test plug-in: connects to its checked destination and reads nothing useful."""

    schemes = ("testcam",)
    connects: ClassVar[list[CheckedUrl]] = []

    def connected_frames(self, checked: CheckedUrl) -> Iterator[SourceFrame]:
        type(self).connects.append(checked)
        try:
            with socket.create_connection(
                (str(checked.addresses[0]), checked.port), timeout=self.connect_timeout
            ):
                pass
        except OSError as error:  # the kit checks that connection errors are StreamUnavailable
            raise StreamUnavailable(f"cannot connect: {error.strerror}") from None
        raise StreamUnavailable("the test camera sends no video")
        yield  # a generator


class UnpolicedSource(Source):
    """Would connect wherever it likes: refused by the registry."""

    schemes = ("testraw",)

    def frames(self) -> Iterator[SourceFrame]:
        yield from ()


class SkippingSource(CamPluginSource):
    """Overrides the egress check: refused by the registry."""

    schemes = ("testskip",)

    def frames(self) -> Iterator[SourceFrame]:  # type: ignore[misc]
        yield from ()


@pytest.fixture
def testcam() -> Iterator[type[CamPluginSource]]:
    CamPluginSource.connects = []
    register_source(CamPluginSource)
    yield CamPluginSource
    unregister_source("testcam")


# -- the built-ins through the kit -------------------------------------------------------------


@pytest.mark.parametrize("cls", [NetworkSource, HttpSource])
def test_network_built_ins_conform(cls: type[Source]) -> None:
    check_stream_source(cls)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="SRT needs the ffmpeg program")
def test_srt_built_in_conforms() -> None:
    check_stream_source(RelaySource)


def test_file_built_in_conforms(shared_data: Path) -> None:
    check_stream_source(
        FileSource,
        SourceCases(playable=str(shared_data / VIDEO), rejected=[str(shared_data / "missing.mp4")]),
    )


def test_built_ins_register_through_entry_points() -> None:
    names = {ep.name: ep.value for ep in entry_points(group=sources.GROUP)}
    assert names == {
        "network": "vangnet.sources.streams:NetworkSource",
        "http": "vangnet.sources.streams:HttpSource",
        "srt": "vangnet.sources.streams:RelaySource",
        "file": "vangnet.sources.streams:FileSource",
    }
    found = stream_sources()
    assert found["rtmp"] is NetworkSource and found["https"] is HttpSource
    assert found["srt"] is RelaySource and found[""] is FileSource


# -- a plug-in source ------------------------------------------------------------------------


def test_a_plug_in_source_conforms_and_is_found_by_scheme(testcam: type[CamPluginSource]) -> None:
    check_stream_source(testcam)
    assert isinstance(source_for("testcam://127.0.0.1:9/x", egress=EgressPolicy(), **KW), testcam)


def test_the_policy_runs_before_the_plug_in_connects(testcam: type[CamPluginSource]) -> None:
    with Listener() as listener:
        url = f"testcam://127.0.0.1:{listener.port}/cam"
        refused = source_for(url, egress=EgressPolicy(), **KW)  # default: loopback denied
        with pytest.raises(StreamUnavailable) as error:
            next(iter(refused.frames()))
        assert error.value.message == GENERIC_REASON
        assert testcam.connects == []  # the plug-in's code never ran
        assert not poll(lambda: listener.connections > 0, timeout=0.5)

        allowed = source_for(url, egress=LOOPBACK, **KW)
        with pytest.raises(StreamUnavailable):
            next(iter(allowed.frames()))
        assert [c.port for c in testcam.connects] == [listener.port]
        assert poll(lambda: listener.connections == 1, timeout=2.0)


@pytest.mark.parametrize(
    ("cls", "why"),
    [
        (UnpolicedSource, "not a PolicedSource"),
        (SkippingSource, "overrides PolicedSource.frames"),
        (PolicedSource, "not a concrete Source"),
    ],
)
def test_a_source_that_could_skip_the_policy_is_refused(cls: type[Source], why: str) -> None:
    with pytest.raises(PluginError, match=why):
        register_source(cls)
    with pytest.raises(AssertionError, match="the registry refuses it"):
        check_stream_source(cls)


def test_a_plug_in_cannot_take_a_built_in_scheme() -> None:
    class Impostor(CamPluginSource):
        schemes = ("rtmp",)

    with pytest.raises(PluginError, match="two stream sources are named 'rtmp'"):
        register_source(Impostor)
    assert stream_sources()["rtmp"] is NetworkSource


def test_a_refused_entry_point_is_listed_and_the_others_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = [
        EntryPoint(name="testraw", value=f"{__name__}:UnpolicedSource", group=sources.GROUP),
        EntryPoint(name="testgone", value="vangnet_no_such_plugin:Source", group=sources.GROUP),
    ]

    def with_extra(*, group: str) -> list[EntryPoint]:
        found = list(entry_points(group=group))
        return [*found, *extra] if group == sources.GROUP else found

    monkeypatch.setattr(plugins, "entry_points", with_extra)
    sources.REGISTRY.reset()
    try:
        assert "testraw" not in stream_sources() and stream_sources()["rtmp"] is NetworkSource
        failed = sources.failed_stream_sources()
        assert "not a PolicedSource" in failed["testraw"]
        assert "ModuleNotFoundError" in failed["testgone"]
        result = CliRunner().invoke(cli_app, ["plugins", "--json"])
        assert result.exit_code == 0, result.output
        rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
        assert rows[("failed", "stream_source:testraw")]["state"] == "failed"
        assert rows[("stream_source", "rtmp")]["state"] == "loaded"
    finally:
        monkeypatch.undo()
        sources.REGISTRY.reset()
