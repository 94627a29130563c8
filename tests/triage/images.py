"""Disk images and archives for the triage tests, built from ../shared/data at test time with
Debian's dosfstools, mtools, sfdisk and ewf-tools (nothing generated is committed)."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

PUBLIC = Path("photos/public-domain")
SBIN = ("/usr/sbin", "/sbin")


def tool(name: str) -> str:
    found = shutil.which(name) or next(
        (f"{d}/{name}" for d in SBIN if Path(f"{d}/{name}").exists()), None
    )
    if found is None:
        raise RuntimeError(f"{name} not found: run scripts/system-packages")
    return found


def run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def fat_image(shared: Path, out: Path, *, partitioned: bool = False) -> dict[str, str]:
    """A 16 MB FAT image: /pics/rocket.jpg, /pics/flower.jpg, /a.zip (holding coffee.png) and
    a deleted /gone.jpg (china.jpg). With ``partitioned`` the file system sits in partition 1
    of an MBR at 1 MiB. Returns what each path holds."""
    src = shared / PUBLIC
    run("truncate", "-s", "17M" if partitioned else "16M", str(out))
    target = str(out)
    if partitioned:
        subprocess.run(
            [tool("sfdisk"), "-q", str(out)],
            input=b"label: dos\nstart=2048, type=c\n",
            check=True,
            capture_output=True,
        )
        run(tool("mkfs.vfat"), "--offset", "2048", "-n", "PART", str(out), "32768")
        target = f"{out}@@1M"
    else:
        run(tool("mkfs.vfat"), "-n", "TEST", str(out))
    zipped = out.parent / f"{out.stem}-a.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(src / "skimage_coffee.png", "skimage_coffee.png")
    run(tool("mmd"), "-i", target, "::/pics")
    run(tool("mcopy"), "-i", target, str(zipped), "::/a.zip")
    run(tool("mcopy"), "-i", target, str(src / "skimage_rocket.jpg"), "::/pics/rocket.jpg")
    run(tool("mcopy"), "-i", target, str(src / "flower.jpg"), "::/pics/flower.jpg")
    run(tool("mcopy"), "-i", target, str(src / "china.jpg"), "::/gone.jpg")
    run(tool("mdel"), "-i", target, "::/gone.jpg")
    zipped.unlink()
    return {
        "/pics/rocket.jpg": "skimage_rocket.jpg",
        "/pics/flower.jpg": "flower.jpg",
        "skimage_coffee.png": "skimage_coffee.png",
        "deleted": "china.jpg",
    }


def e01_of(raw: Path, out_stem: Path) -> Path:
    """An EnCase (E01) image of ``raw``, made with ewfacquire."""
    run(tool("ewfacquire"), "-u", "-t", str(out_stem), "-f", "encase6", "-c", "none", str(raw))
    return out_stem.with_suffix(".E01")


def nested_archives(shared: Path, out: Path) -> dict[str, str]:
    """out/outer.zip holding inner.tar.gz (holding rocket.jpg) and a 7z (holding flower.jpg),
    plus camera.png at the top level. Returns member -> original file name."""
    import py7zr

    src = shared / PUBLIC
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz") as tar:
        tar.add(src / "skimage_rocket.jpg", arcname="deep/rocket.jpg")
    seven = io.BytesIO()
    with py7zr.SevenZipFile(seven, "w") as archive:
        archive.write(src / "flower.jpg", "flower.jpg")
    with zipfile.ZipFile(out / "outer.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inner.tar.gz", tar_bytes.getvalue())
        archive.writestr("sub/pics.7z", seven.getvalue())
        archive.write(src / "skimage_camera.png", "camera.png")
    return {
        "deep/rocket.jpg": "skimage_rocket.jpg",
        "flower.jpg": "flower.jpg",
        "camera.png": "skimage_camera.png",
    }
