"""`read_chain` reads one member again, through nested containers, by the locations triage
recorded or (rows from before they were recorded) by name, and refuses what it must."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from triage.images import PUBLIC, nested_archives
from vangnet.config import get_settings
from vangnet.errors import MediaTooLargeError, NotFoundError
from vangnet.sources.archives import walk
from vangnet.triage import locate


def _tar_with_photos(shared: Path, out: Path) -> None:
    with tarfile.open(out, "w") as tar:
        for index, photo in enumerate(sorted((shared / PUBLIC).glob("*.jpg"))[:3]):
            tar.add(photo, arcname=f"dup/{photo.name}")
            tar.add(photo, arcname=f"same-{index}.jpg")


def _zip_in_zip(shared: Path, out: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        for photo in sorted((shared / PUBLIC).glob("*.png"))[:3]:
            archive.write(photo, f"in/{photo.name}")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes.txt", "x" * 3000)
        archive.writestr("inner.zip", inner.getvalue())


@pytest.mark.parametrize("nested_in_memory", [64 * 1024 * 1024, 100])
def test_every_member_read_again_by_location_and_by_name(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nested_in_memory: int
) -> None:
    """With nested archives held in memory, and (100 bytes) read through seeking streams."""
    nested_archives(shared_data, tmp_path)
    _tar_with_photos(shared_data, tmp_path / "plain.tar")
    _zip_in_zip(shared_data, tmp_path / "zipped.zip")
    monkeypatch.setattr(locate, "_CACHE_ITEM_BYTES", 0)  # read from the source every time
    monkeypatch.setattr(locate, "NESTED_IN_MEMORY_BYTES", nested_in_memory)
    found = {}
    for entry in walk([tmp_path]):
        if entry.error is None and entry.container is None:
            found[entry.chain] = (entry.location_list(), entry.read())
    assert len(found) >= 9
    nested = [c for c in found if len(c) == 4]
    assert nested, "a member three containers deep (zip > tar.gz > tar > file)"
    for chain, (locations, data) in found.items():
        assert locate.read_chain(chain, locations=locations) == data, chain
        assert locate.read_chain(chain) == data, chain  # no locations: by name
    zipped = next(c for c in found if c[0].endswith("outer.zip") and c[-1] == "camera.png")
    assert isinstance(found[zipped][0][-1], int)
    tarred = [c for c in found if c[0].endswith("plain.tar")]
    assert all(isinstance(found[c][0][-1], int) for c in tarred)


def test_stale_locations_and_limits(shared_data: Path, tmp_path: Path) -> None:
    photo = (shared_data / PUBLIC / "flower.jpg").read_bytes()
    source = tmp_path / "a.zip"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("pad.bin", b"x" * 5000)
        archive.writestr("flower.jpg", photo)
    chain = (str(source), "flower.jpg")
    with pytest.raises(NotFoundError):  # a location that no longer holds the member
        locate.read_chain(chain, locations=[None, 1])
    with pytest.raises(MediaTooLargeError):
        locate.read_chain(chain, locations=[None, None], max_bytes=1000)
    assert locate.read_chain(chain, max_bytes=len(photo)) == photo
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * (40 * 1024 * 1024))
    (tmp_path / "bomb.zip").write_bytes(buffer.getvalue())
    with pytest.raises(Exception, match="zip bomb"):
        locate.read_chain((str(tmp_path / "bomb.zip"), "zeros.bin"))


def test_archives_inside_read_once_archives_are_expanded(
    db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    """A zip inside a tar.gz and inside a 7z (members read once, in order, and held):
    triage records the archive and every member of it, and a preview reads them again."""
    import py7zr

    from vangnet.store.models import TriageItem
    from vangnet.triage.run import Triage
    from vangnet.triage.tuning import Options

    folder = tmp_path / "seized"
    folder.mkdir()
    inner = io.BytesIO()
    photos = sorted((shared_data / PUBLIC).glob("*.jpg"))[:2]
    with zipfile.ZipFile(inner, "w") as archive:
        for photo in photos:
            archive.write(photo, photo.name)
    with tarfile.open(folder / "a.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("backup/inner.zip")
        info.size = len(inner.getvalue())
        tar.addfile(info, io.BytesIO(inner.getvalue()))
    with py7zr.SevenZipFile(folder / "b.7z", "w") as archive:
        archive.writestr(inner.getvalue(), "inner.zip")
    summary = Triage(
        db_engine,
        case=f"NESTED-{tmp_path.name}",
        sources=[str(folder)],
        actor="test",
        options=Options(ocr=False, workers=1),
        settings=get_settings(),
    ).run()
    assert not summary.failures, summary.failures
    with Session(db_engine) as session:
        items = list(
            session.scalars(select(TriageItem).where(TriageItem.case_id == summary.case_id))
        )
    found = [i for i in items if i.kind == "photo"]
    assert len(found) == 4  # two photos in each zip
    for item in found:
        data = locate.read_chain(item.chain, sha256=item.sha256, locations=item.locations)
        assert len(data) == item.size


def test_a_source_changed_after_a_read_is_reported_not_served_from_memory(
    shared_data: Path, tmp_path: Path
) -> None:
    """Read files are kept in memory for repeated previews, but a source rewritten since is
    read and checked again; bytes that did not match are not kept."""
    import hashlib

    from vangnet.triage.locate import SourceChanged

    photo = (shared_data / PUBLIC / "china.jpg").read_bytes()
    digest = hashlib.sha256(photo).hexdigest()
    source = tmp_path / "china.jpg"
    source.write_bytes(photo)
    assert locate.read_chain((str(source),), sha256=digest) == photo  # now in memory
    source.write_bytes(b"\xff\xd8 changed since triage")
    with pytest.raises(SourceChanged):
        locate.read_chain((str(source),), sha256=digest)
    with pytest.raises(SourceChanged):  # the changed bytes were not kept either
        locate.read_chain((str(source),), sha256=digest)
    source.write_bytes(photo)  # as triage read it again: shown again
    assert locate.read_chain((str(source),), sha256=digest) == photo
