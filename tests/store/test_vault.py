"""Encrypted evidence vault: round trip, nothing in plaintext on disk, tamper and key handling."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
import threading
from pathlib import Path

import pytest

from vangnet.config import get_settings, reset_settings
from vangnet.errors import VangnetError
from vangnet.store.vault import MAGIC, Vault, VaultEntry, VaultError

MARKER = b"VANGNET-PLAINTEXT-MARKER-"
PLAINTEXT = (MARKER * (10_240 // len(MARKER) + 1))[:10_240]
CONTEXT = "evidence:17"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def vault(tmp_path: Path, key: bytes) -> Vault:
    return Vault(tmp_path / "vault", key)


@pytest.fixture
def stored(vault: Vault) -> VaultEntry:
    return vault.put(PLAINTEXT, context=CONTEXT)


@pytest.mark.parametrize("data", [PLAINTEXT, b"", bytes(range(256)) * 3])
def test_round_trip(vault: Vault, data: bytes) -> None:
    entry = vault.put(data, context=CONTEXT)
    assert vault.exists(entry.name)
    assert vault.get(entry.name, context=CONTEXT) == data


def test_entry_describes_plaintext(stored: VaultEntry) -> None:
    assert stored.sha256 == hashlib.sha256(PLAINTEXT).hexdigest()
    assert stored.size == len(PLAINTEXT)
    assert stored.name.endswith(".vnv")
    with pytest.raises(AttributeError):
        stored.size = 1  # type: ignore[misc]


def test_disk_holds_only_ciphertext(vault: Vault, stored: VaultEntry) -> None:
    blob = (vault.root / stored.name).read_bytes()
    assert blob.startswith(MAGIC)
    assert len(blob) == len(MAGIC) + 12 + len(PLAINTEXT) + 16
    assert MARKER not in blob
    assert stored.sha256 not in stored.name  # name is random, not derived from content
    assert sorted(p.name for p in vault.root.iterdir()) == [stored.name]  # no temp files left


def test_same_data_twice_gives_distinct_files(vault: Vault, stored: VaultEntry) -> None:
    again = vault.put(PLAINTEXT, context=CONTEXT)
    assert again.name != stored.name
    assert again.sha256 == stored.sha256
    first, second = ((vault.root / e.name).read_bytes() for e in (stored, again))
    assert first[4:16] != second[4:16]  # fresh nonce
    assert first != second


@posix_only
def test_file_and_directory_modes(vault: Vault, stored: VaultEntry) -> None:
    assert mode(vault.root / stored.name) == 0o600
    assert mode(vault.root) == 0o700


def test_wrong_context(vault: Vault, stored: VaultEntry) -> None:
    with pytest.raises(VaultError, match="failed authentication"):
        vault.get(stored.name, context="evidence:18")


def test_wrong_key(vault: Vault, stored: VaultEntry) -> None:
    other = Vault(vault.root, secrets.token_bytes(32))
    with pytest.raises(VaultError, match="failed authentication"):
        other.get(stored.name, context=CONTEXT)


@pytest.mark.parametrize(
    "offset", [4, 15, 16, 5000, -1], ids=["nonce", "nonce-end", "ct", "mid", "tag"]
)
def test_flipped_byte(vault: Vault, stored: VaultEntry, offset: int) -> None:
    path = vault.root / stored.name
    blob = bytearray(path.read_bytes())
    blob[offset] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(VaultError, match="failed authentication"):
        vault.get(stored.name, context=CONTEXT)


@pytest.mark.parametrize("keep", [0, 3, 4, 16, 31, 100, -1])
def test_truncated_file(vault: Vault, stored: VaultEntry, keep: int) -> None:
    path = vault.root / stored.name
    path.write_bytes(path.read_bytes()[:keep])
    expected = "truncated" if 0 <= keep < 32 else "failed authentication"  # 32 = magic+nonce+tag
    with pytest.raises(VaultError, match=expected):
        vault.get(stored.name, context=CONTEXT)


def test_bad_magic(vault: Vault, stored: VaultEntry) -> None:
    path = vault.root / stored.name
    path.write_bytes(b"VNV2" + path.read_bytes()[4:])
    with pytest.raises(VaultError, match="bad magic"):
        vault.get(stored.name, context=CONTEXT)


def test_missing_file(vault: Vault) -> None:
    with pytest.raises(VaultError, match="does not exist"):
        vault.get("0" * 32 + ".vnv", context=CONTEXT)


def test_error_is_a_user_facing_error(vault: Vault) -> None:
    with pytest.raises(VangnetError) as info:
        vault.get("0" * 32 + ".vnv", context=CONTEXT)
    assert info.value.code == "vault_error"
    assert info.value.to_dict()["code"] == "vault_error"


HOSTILE = ["../x", "/etc/passwd", "a/b.vnv", "", "x.vnv\0", "..", ".", "0" * 32 + ".vnv\n"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_rejected(
    tmp_path: Path, vault: Vault, stored: VaultEntry, name: str
) -> None:
    # A real vault file just outside the root: a name escaping the root would decrypt it.
    (tmp_path / "x").write_bytes((vault.root / stored.name).read_bytes())
    with pytest.raises(VaultError, match="invalid vault entry name"):
        vault.get(name, context=CONTEXT)
    with pytest.raises(VaultError, match="invalid vault entry name"):
        vault.delete(name)
    assert not vault.exists(name)
    assert (tmp_path / "x").exists()


def test_delete(vault: Vault, stored: VaultEntry) -> None:
    vault.delete(stored.name)
    assert not vault.exists(stored.name)
    vault.delete(stored.name)  # missing is fine
    vault.delete("f" * 32 + ".vnv")


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_constructor_rejects_bad_key_length(tmp_path: Path, size: int) -> None:
    with pytest.raises(VaultError, match="32 bytes"):
        Vault(tmp_path, b"k" * size)


# -- keys from settings ----------------------------------------------------------------------


def test_key_from_env(monkeypatch: pytest.MonkeyPatch, key: bytes) -> None:
    monkeypatch.setenv("VANGNET_VAULT_KEY", base64.b64encode(key).decode())
    reset_settings()
    vault = Vault.from_settings(get_settings())
    assert vault.root == get_settings().vault_dir
    entry = Vault(vault.root, key).put(PLAINTEXT, context=CONTEXT)
    assert vault.get(entry.name, context=CONTEXT) == PLAINTEXT
    assert not (get_settings().home / "vault.key").exists()


def test_key_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: bytes) -> None:
    key_file = tmp_path / "secret" / "vault.key"
    key_file.parent.mkdir()
    key_file.write_text(f"  {base64.b64encode(key).decode()}\n\n")
    monkeypatch.setenv("VANGNET_VAULT_KEY_FILE", str(key_file))
    reset_settings()
    vault = Vault.from_settings(get_settings())
    entry = Vault(vault.root, key).put(PLAINTEXT, context=CONTEXT)
    assert vault.get(entry.name, context=CONTEXT) == PLAINTEXT
    assert not (get_settings().home / "vault.key").exists()


def test_missing_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANGNET_VAULT_KEY_FILE", str(tmp_path / "nope.key"))
    reset_settings()
    with pytest.raises(VaultError, match="cannot read vault key"):
        Vault.from_settings(get_settings())


def test_default_key_file_created_and_reused() -> None:
    first = Vault.from_settings(get_settings())
    key_file = get_settings().home / "vault.key"
    assert key_file.is_file()
    if os.name == "posix":
        assert mode(key_file) == 0o600
    assert len(base64.b64decode(key_file.read_text().strip(), validate=True)) == 32
    assert [p.name for p in key_file.parent.iterdir()] == ["vault.key"]  # no temp files left
    entry = first.put(PLAINTEXT, context=CONTEXT)
    reset_settings()
    second = Vault.from_settings(get_settings())
    assert second.get(entry.name, context=CONTEXT) == PLAINTEXT


def test_default_key_race_gives_one_key() -> None:
    settings = get_settings()
    barrier = threading.Barrier(8)
    vaults: list[Vault] = []

    def open_vault() -> None:
        barrier.wait()
        vaults.append(Vault.from_settings(settings))

    threads = [threading.Thread(target=open_vault) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(vaults) == 8
    entry = vaults[0].put(PLAINTEXT, context=CONTEXT)
    for vault in vaults[1:]:
        assert vault.get(entry.name, context=CONTEXT) == PLAINTEXT


BAD_KEYS = {
    "not-base64": "this is not base64 at all!!",
    "short": base64.b64encode(b"sixteen-byte-key").decode(),
    "non-ascii": "sécrét-kéy-välue",
}


@pytest.mark.parametrize("text", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_bad_key_in_env(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("VANGNET_VAULT_KEY", text)
    reset_settings()
    with pytest.raises(VaultError, match="VANGNET_VAULT_KEY") as info:
        Vault.from_settings(get_settings())
    assert text not in str(info.value)
    assert info.value.__cause__ is None


@pytest.mark.parametrize("text", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_bad_key_in_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    key_file = tmp_path / "bad.key"
    key_file.write_text(text + "\n", encoding="utf-8")
    monkeypatch.setenv("VANGNET_VAULT_KEY_FILE", str(key_file))
    reset_settings()
    with pytest.raises(VaultError, match="key file") as info:
        Vault.from_settings(get_settings())
    assert text not in str(info.value)
    assert str(key_file) in str(info.value)
