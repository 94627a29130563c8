"""The audit log's anchor outside the database: a key and a file of signed checkpoints.

Every audit entry carries ``mac`` = HMAC-SHA256(audit key, entry hash); the key is never
stored in the database (``audit_key``, ``audit_key_file``, else ``$VANGNET_HOME/audit.key``,
created 0600 on first use). Whoever can write the database but not read the key cannot
recompute a valid chain.

Checkpoints are JSON lines appended to a file outside the database (``audit_checkpoint_file``,
default ``$VANGNET_HOME/audit-checkpoints.jsonl``): the number and hash of an entry that was
committed, the first keyed entry, and a MAC over them. They are written after the commit of
every ``audit_checkpoint_every``-th entry and at every verification and export, so removing
the last entries of the table (and moving ``audit_head`` back) is caught: a checkpoint names
a later entry than the table holds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vangnet.config import Settings
from vangnet.errors import ValidationError
from vangnet.store.private import private_dir, private_file

MIN_KEY_CHARS = 32
KEY_FILE = "audit.key"
CHECKPOINT_FILE = "audit-checkpoints.jsonl"
_lock = threading.Lock()


@dataclass(frozen=True)
class Checkpoint:
    """One line of the checkpoint file: entry ``seq`` had ``hash``; from ``keyed_from`` on,
    every entry carries a MAC."""

    seq: int
    hash: str
    keyed_from: int | None
    at: str
    line: int  # 1-based line number in the file


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str


@dataclass(frozen=True)
class Anchor:
    key: bytes
    key_source: str
    checkpoint_file: Path
    every: int

    def mac(self, entry_hash: str) -> str:
        return hmac.new(self.key, b"entry|" + entry_hash.encode(), hashlib.sha256).hexdigest()

    def mac_ok(self, entry_hash: str, mac: str) -> bool:
        return hmac.compare_digest(self.mac(entry_hash), mac)

    def _checkpoint_mac(self, seq: int, entry_hash: str, keyed_from: int | None, at: str) -> str:
        text = f"checkpoint|{seq}|{entry_hash}|{keyed_from if keyed_from is not None else ''}|{at}"
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def write_checkpoint(self, seq: int, entry_hash: str, keyed_from: int | None) -> None:
        """Append one signed checkpoint: one ``write`` of a whole line to a file opened for
        appending, so lines of several processes never interleave, then fsync the file (and
        its folder when the file is new, so the file itself survives a power loss). The
        caller has made the commit it names durable first (`chain.durable`): a checkpoint
        must not outlive the entries it names."""
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        doc = {
            "seq": seq,
            "hash": entry_hash,
            "keyed_from": keyed_from,
            "at": at,
            "mac": self._checkpoint_mac(seq, entry_hash, keyed_from, at),
        }
        line = (json.dumps(doc, sort_keys=True) + "\n").encode()
        if not self.checkpoint_file.parent.exists():
            private_dir(self.checkpoint_file.parent)
        flags = os.O_WRONLY | os.O_APPEND
        try:
            fd = os.open(self.checkpoint_file, flags | os.O_CREAT | os.O_EXCL, 0o600)
            created = True
        except FileExistsError:
            fd, created = os.open(self.checkpoint_file, flags), False
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.checkpoint_file.parent)
        private_file(self.checkpoint_file)

    def checkpoints(self) -> Iterator[Checkpoint | BadLine]:
        """The file's checkpoints in order; a line that is damaged or whose MAC does not
        match (forged, or written with another key) is a `BadLine`."""
        try:
            handle = self.checkpoint_file.open("rb")
        except FileNotFoundError:
            return
        with handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    doc = json.loads(raw)
                    seq, digest, at = int(doc["seq"]), str(doc["hash"]), str(doc["at"])
                    keyed = doc.get("keyed_from")
                    keyed_from = None if keyed is None else int(keyed)
                    mac = str(doc["mac"])
                except (ValueError, KeyError, TypeError):
                    yield BadLine(number, "is not a checkpoint (damaged line)")
                    continue
                if not hmac.compare_digest(self._checkpoint_mac(seq, digest, keyed_from, at), mac):
                    yield BadLine(number, "has a MAC that does not match (forged or another key)")
                    continue
                yield Checkpoint(seq, digest, keyed_from, at, number)


def fsync_dir(folder: Path) -> None:
    """Make a new directory entry in ``folder`` durable (POSIX: fsync the folder)."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_key(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ValidationError(f"cannot read the audit key from {path}: {error}") from None


def _create_key_file(path: Path) -> None:
    """Create the default key file (0600); a process that loses the race reads the winner's."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_urlsafe(48) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process created it first
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


_cache: dict[tuple[str, str, str, int], Anchor] = {}


def anchor_for(settings: Settings) -> Anchor:
    """The anchor of ``settings`` (the key is read, or created, once per process)."""
    secret = settings.audit_key.get_secret_value() if settings.audit_key is not None else ""
    key_path = settings.audit_key_file or settings.home / KEY_FILE
    checkpoints = settings.audit_checkpoint_file or settings.home / CHECKPOINT_FILE
    cache_key = (
        hashlib.sha256(secret.encode()).hexdigest(),
        str(key_path),
        str(checkpoints),
        settings.audit_checkpoint_every,
    )
    with _lock:
        found = _cache.get(cache_key)
        if found is not None:
            return found
        if secret:
            text, source = secret, "VANGNET_AUDIT_KEY"
        else:
            if settings.audit_key_file is None and not key_path.exists():
                _create_key_file(key_path)
            text, source = _read_key(key_path), f"key file {key_path}"
            private_file(key_path)
        if len(text) < MIN_KEY_CHARS:
            raise ValidationError(
                f"the audit key from {source} is too short: use at least {MIN_KEY_CHARS} characters"
            )
        made = Anchor(
            key=text.encode("utf-8"),
            key_source=source,
            checkpoint_file=checkpoints,
            every=settings.audit_checkpoint_every,
        )
        _cache[cache_key] = made
        return made
