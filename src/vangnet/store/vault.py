"""Encrypted evidence vault: suspect media is never written to disk in plaintext.

Each entry is one file ``<32 hex>.vnv`` in ``$VANGNET_HOME/vault`` (mode 0700); the name is
random, never derived from the content. File layout::

    b"VNV1" (4-byte magic) | nonce (12 random bytes) | AES-256-GCM ciphertext + 16-byte tag

The caller's ``context`` (e.g. ``"evidence:17"``) is the GCM associated data, so a file copied
or swapped to another record fails to decrypt. Files are written to a temporary file in the
vault directory (mode 0600, ``O_EXCL``), fsynced and renamed into place: a crash leaves either
the whole ciphertext or nothing, and plaintext never touches the disk.

Threat model: a stolen disk or backup, and accidental plaintext copies. It does not protect
against an attacker who can read the key. The key comes from ``vault_key`` (base64 of 32
bytes), else ``vault_key_file``, else ``$VANGNET_HOME/vault.key``, created on first use. That
last default sits beside the data and is a convenience only: in production pass the key
through the environment or a file on a separate mount.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vangnet.config import Settings
from vangnet.errors import ExitCode, VangnetError
from vangnet.store.private import private_dir, private_file

MAGIC = b"VNV1"
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = len(MAGIC) + NONCE_BYTES
KEY_BYTES = 32
SUFFIX = ".vnv"
_NAME = re.compile(r"[0-9a-f]{32}\.vnv")
_BINARY = getattr(os, "O_BINARY", 0)


class VaultError(VangnetError):
    """The vault cannot store or return an entry (bad key, missing or tampered file)."""

    code = "vault_error"
    exit_code = ExitCode.ERROR
    status = 500


@dataclass(frozen=True)
class VaultEntry:
    name: str  # file name inside the vault directory
    sha256: str  # hex SHA-256 of the plaintext
    size: int  # plaintext size in bytes


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (must not exist) with mode 0600, write ``data`` and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    if os.name == "posix":  # make a rename durable; Windows cannot open a directory for this
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _decode_key(text: str | bytes, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text (message never includes the key)
        raise VaultError(f"vault key from {source} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise VaultError(f"vault key from {source} must be {KEY_BYTES} bytes, not {len(key)}")
    return key


def _load_key(settings: Settings) -> bytes:
    """``vault_key``, else ``vault_key_file``, else ``home/vault.key`` (created on first use)."""
    if settings.vault_key is not None:
        return _decode_key(settings.vault_key.get_secret_value(), "VANGNET_VAULT_KEY")
    path = settings.vault_key_file or settings.home / "vault.key"
    source = f"key file {path}"
    if settings.vault_key_file is None and not path.exists():
        tmp = settings.home / f".vault.key.{secrets.token_hex(8)}.tmp"
        try:
            settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_new(tmp, base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n")
            # link() fails if the name exists, like O_EXCL, but publishes a complete file: a
            # process that loses the race reads the winner's key, never a half-written one.
            os.link(tmp, path)
            _fsync_dir(settings.home)
        except FileExistsError:
            pass
        except OSError as error:
            raise VaultError(f"cannot create {source}: {error}") from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    try:
        text = path.read_bytes()
    except OSError as error:
        raise VaultError(f"cannot read vault key from {source}: {error}") from None
    if settings.vault_key_file is None:
        private_file(path)  # a key file created before files were kept private
    return _decode_key(text, source)


class Vault:
    """AES-256-GCM encrypted files in ``root``, one per entry, addressed by random names."""

    def __init__(self, root: Path, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise VaultError(f"vault key must be {KEY_BYTES} bytes")
        self.root = Path(root)
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        """The vault in ``settings.vault_dir`` with the configured key (see the module doc)."""
        if settings.vault_dir.exists():  # made before files were kept private
            private_dir(settings.home)
            private_dir(settings.vault_dir)
        return cls(settings.vault_dir, _load_key(settings))

    def _path(self, name: str) -> Path:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise VaultError(f"invalid vault entry name {name!r}")
        return self.root / name

    def put(self, data: bytes, *, context: str) -> VaultEntry:
        """Encrypt ``data`` bound to ``context`` and store it under a new random name."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        blob = MAGIC + nonce + self._aead.encrypt(nonce, data, context.encode())
        name = secrets.token_hex(16) + SUFFIX
        tmp = self.root / f".{name}.tmp"
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_new(tmp, blob)
            os.replace(tmp, self.root / name)
            _fsync_dir(self.root)
        except OSError as error:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise VaultError(f"cannot write vault entry {name}: {error}") from None
        return VaultEntry(name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))

    def get(self, name: str, *, context: str) -> bytes:
        """Decrypt entry ``name``; VaultError if missing, damaged, or key/context do not match."""
        path = self._path(name)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise VaultError(f"vault entry {name} does not exist") from None
        except OSError as error:
            raise VaultError(f"cannot read vault entry {name}: {error}") from None
        if len(blob) < _HEADER + TAG_BYTES:
            raise VaultError(f"vault entry {name} is truncated")
        if blob[: len(MAGIC)] != MAGIC:
            raise VaultError(f"vault entry {name} is not a vault file (bad magic)")
        try:
            return self._aead.decrypt(blob[len(MAGIC) : _HEADER], blob[_HEADER:], context.encode())
        except InvalidTag:
            raise VaultError(
                f"vault entry {name} failed authentication: wrong key, wrong context "
                f"{context!r}, or the file was altered"
            ) from None

    def delete(self, name: str) -> None:
        """Remove entry ``name``; a missing entry is not an error."""
        try:
            self._path(name).unlink(missing_ok=True)
        except OSError as error:
            raise VaultError(f"cannot delete vault entry {name}: {error}") from None

    def exists(self, name: str) -> bool:
        """Whether entry ``name`` is stored; a name the vault never issues is never stored."""
        return bool(_NAME.fullmatch(name)) and (self.root / name).is_file()


def derived_key(settings: Settings, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` (e.g. ``"totp-secrets"``), derived with HKDF-SHA256 from
    the vault key: one key kept outside the database, an independent key for each use."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    info = b"vangnet:" + purpose.encode("utf-8")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info)
    return hkdf.derive(_load_key(settings))
