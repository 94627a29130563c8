"""Errors that reach users: one stable code each, a CLI exit code and an HTTP status.

Every failure a user can cause (bad input, missing bank, wrong key) is a `VangnetError`
subclass. The CLI prints ``code: message`` and exits with ``exit_code``; the HTTP API answers
with ``status`` and ``{"error": {"code": ..., "message": ...}}``. No traceback reaches a user.
"""

from __future__ import annotations

from typing import ClassVar


class ExitCode:
    """Documented process exit codes of the `vangnet` command."""

    OK = 0
    ERROR = 1  # an operation failed (e.g. import rejected, bank missing)
    USAGE = 2  # bad command line (Typer/Click's own code)
    UNREADABLE_INPUT = 3  # some inputs could not be read or hashed; the rest were processed
    NOT_FOUND = 4  # a named bank, key or item does not exist
    CONFLICT = 5  # it already exists / state forbids the change
    INVALID_DATA = 6  # an import file or hash value is malformed; nothing was written
    UNAVAILABLE = 7  # the database or a service could not be reached


class VangnetError(Exception):
    """Base of all user-facing errors."""

    code: ClassVar[str] = "error"
    exit_code: ClassVar[int] = ExitCode.ERROR
    status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class MediaError(VangnetError):
    """The bytes could not be decoded as a supported image or video."""

    code = "unreadable_media"
    exit_code = ExitCode.UNREADABLE_INPUT
    status = 422


class UnsupportedMediaError(MediaError):
    code = "unsupported_media_type"
    status = 415


class EmptyInputError(MediaError):
    code = "empty_input"


class MediaTooLargeError(MediaError):
    """Too many bytes, pixels (decompression bomb), frames or seconds."""

    code = "media_too_large"
    status = 413


class InvalidHashError(VangnetError):
    code = "invalid_hash"
    exit_code = ExitCode.INVALID_DATA
    status = 400


class ImportFormatError(VangnetError):
    """An import file is malformed. ``line`` is 1-based where known."""

    code = "invalid_import"
    exit_code = ExitCode.INVALID_DATA
    status = 400

    def __init__(self, message: str, *, line: int | None = None) -> None:
        if line is not None:
            message = f"line {line}: {message}"
        super().__init__(message)
        self.line = line


class NotFoundError(VangnetError):
    code = "not_found"
    exit_code = ExitCode.NOT_FOUND
    status = 404


class ConflictError(VangnetError):
    code = "conflict"
    exit_code = ExitCode.CONFLICT
    status = 409


class ValidationError(VangnetError):
    code = "invalid_value"
    exit_code = ExitCode.INVALID_DATA
    status = 400


class AuthError(VangnetError):
    code = "unauthorized"
    status = 401


class ForbiddenError(VangnetError):
    code = "forbidden"
    status = 403


class UnavailableError(VangnetError):
    code = "unavailable"
    exit_code = ExitCode.UNAVAILABLE
    status = 503
