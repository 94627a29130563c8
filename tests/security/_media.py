"""Hostile media for the attack suite, made on the fly (nothing stored), and the means to
measure a process's memory: a real `vangnet serve` on a loopback port, its peak resident set
(``VmHWM``) and bytes read (``rchar``), and the peak of a CLI run.

- `png_bomb`: a few hundred KB PNG claiming ``width`` x ``height`` grey pixels.
- `gzip_bomb`: a gzip stream expanding to ``expanded`` bytes of zeros (valid CRC and size),
  built from one compressed block repeated (deflate blocks after a full flush are
  independent), so a 1 GB bomb takes well under a second to make.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

VENV_BIN = Path(sys.executable).parent
VANGNET = str(VENV_BIN / "vangnet")
MB = 1024 * 1024
#: The memory ceiling every hostile input must keep a process under (issue 10, point 3).
CEILING = 600 * MB

_BLOCK = 16 * MB  # zeros per repeated deflate block


def png_bomb(width: int, height: int) -> bytes:
    """A valid 8-bit greyscale PNG of zeros: tiny on disk, ``width * height`` bytes decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = b"\0" * (width + 1)  # filter byte + pixels
    packer = zlib.compressobj(9)
    parts = [packer.compress(row) for _ in range(height)]
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def _raw_deflate(data: bytes, *, final: bool) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = packer.compress(data)
    return body + packer.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


def gzip_bomb(expanded: int, *, prefix: bytes = b"", suffix: bytes = b"") -> bytes:
    """gzip of ``prefix`` + ``expanded`` zero bytes + ``suffix`` (a multiple of 16 MB)."""
    assert expanded % _BLOCK == 0
    zeros = b"\0" * _BLOCK
    block = _raw_deflate(zeros, final=False)
    crc = zlib.crc32(prefix)
    for _ in range(expanded // _BLOCK):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(suffix, crc)
    size = len(prefix) + expanded + len(suffix)
    body = (
        (_raw_deflate(prefix, final=False) if prefix else b"")
        + block * (expanded // _BLOCK)
        + _raw_deflate(suffix, final=True)
    )
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + body + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


def tar_header(name: str, size: int) -> bytes:
    """A ustar header block for a regular file of ``size`` bytes."""
    import tarfile

    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 1_700_000_000
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status_field(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for process {pid}")


def peak_rss(pid: int) -> int:
    """The process's peak resident set so far (bytes)."""
    return _status_field(pid, "VmHWM")


def bytes_read(pid: int) -> int:
    """Bytes the process has read through system calls so far (files and sockets)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no rchar for process {pid}")


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [VANGNET, *args], env=env, input=stdin, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"vangnet {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def cli_peak(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``vangnet args`` and return the run and the peak resident set of its largest
    process (the CLI or one of its workers), measured by a fresh parent's getrusage."""
    probe = (
        "import json, resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
        "print(json.dumps({'rc': done.returncode, 'out': done.stdout, 'err': done.stderr,"
        " 'peak': peak}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, VANGNET, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    run = subprocess.CompletedProcess(args, found["rc"], found["out"], found["err"])
    return run, int(found["peak"])


def environment(home: Path, db_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env["VANGNET_EGRESS_ALLOW"] = '["loopback"]'  # the tests' servers are on loopback
    env.update(
        {"VANGNET_HOME": str(home), "VANGNET_DATABASE_URL": db_url, "VANGNET_LOG_LEVEL": "warning"}
    )
    env.update({f"VANGNET_{k.upper()}": v for k, v in settings.items()})
    return env


@dataclass
class Server:
    url: str
    pid: int


@contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[Server]:
    """`vangnet serve` on a free loopback port, stopped at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [VANGNET, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:  # bounded wait for start-up
            try:
                if httpx.get(f"{url}/status", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield Server(url=url, pid=process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
