"""Cryptographic digests of a file's raw bytes: exact matching and forensic exchange."""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar

from vangnet.errors import InvalidHashError
from vangnet.signals.base import BytesHasher, SignalType


class _DigestSignal(SignalType, BytesHasher):
    index = "exact"
    default_threshold = 0
    algorithm: ClassVar[str]
    hex_length: ClassVar[int]

    @classmethod
    def validate(cls, value: str) -> str:
        text = value.strip().lower() if isinstance(value, str) else ""
        if len(text) != cls.hex_length or not re.fullmatch(r"[0-9a-f]+", text):
            raise InvalidHashError(
                f"not a {cls.name} value: expected {cls.hex_length} hexadecimal characters"
            )
        return text

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return 0 if a == b else 1

    @classmethod
    def hash_bytes(cls, data: bytes) -> str:
        return hashlib.new(cls.algorithm, data).hexdigest()


class Md5Signal(_DigestSignal):
    name = "md5"
    algorithm = "md5"
    hex_length = 32
    description = "MD5 of the file's bytes (exact match)."


class Sha1Signal(_DigestSignal):
    name = "sha1"
    algorithm = "sha1"
    hex_length = 40
    description = "SHA-1 of the file's bytes (exact match)."


class Sha256Signal(_DigestSignal):
    name = "sha256"
    algorithm = "sha256"
    hex_length = 64
    description = "SHA-256 of the file's bytes (exact match)."
