"""Request bodies read into memory with a size limit: uploads never touch the disk.

Starlette's own form parser spools large files to temporary files on disk; suspect media
must not be written to disk unencrypted, so uploads are parsed here, in memory, with
python-multipart's streaming parser, and refused as soon as they pass the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from vangnet.errors import EmptyInputError, MediaTooLargeError, ValidationError


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytearray = field(default_factory=bytearray)


async def read_body(request: Request, *, limit: int) -> bytes:
    """The whole raw body, refused with 413 as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise MediaTooLargeError(f"upload is larger than the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise MediaTooLargeError(f"upload is larger than the limit of {limit} bytes")
    if not body:
        raise EmptyInputError("the request body is empty")
    return bytes(body)


async def read_multipart(request: Request, *, limit: int, max_parts: int = 16) -> list[Part]:
    """All parts of a multipart/form-data body, in memory, ``limit`` bytes in all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise MediaTooLargeError(f"upload is larger than the limit of {limit} bytes")
    reader = MultipartReader(
        request.headers.get("content-type", ""), limit=limit, max_parts=max_parts
    )
    async for chunk in request.stream():  # a refusal by the request guard passes through
        reader.write(chunk)
    return reader.finish()


class MultipartReader:
    """A multipart/form-data body parsed in memory as it arrives (python-multipart's
    streaming parser): ``limit`` bytes of part data in all, at most ``max_parts`` parts."""

    def __init__(self, content_type: str, *, limit: int, max_parts: int = 16) -> None:
        ctype, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if ctype != b"multipart/form-data" or not boundary:
            raise ValidationError("expected a multipart/form-data upload")
        self.parts: list[Part] = []
        self._limit = limit
        self._max_parts = max_parts
        self._total = 0
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[str, str] = {}
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._headers.clear,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
            },
        )

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field.extend(data[start:end])

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value.extend(data[start:end])

    def _on_header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        if len(self.parts) >= self._max_parts:
            raise ValidationError(f"too many parts in the upload (at most {self._max_parts})")
        _, opts = parse_options_header(self._headers.get("content-disposition", ""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        filename = opts.get(b"filename")
        self.parts.append(
            Part(
                name=name,
                filename=filename.decode("utf-8", "replace") if filename is not None else None,
                content_type=self._headers.get("content-type"),
            )
        )

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._total += end - start
        if self._total > self._limit:
            raise MediaTooLargeError(f"upload is larger than the limit of {self._limit} bytes")
        self.parts[-1].data.extend(data[start:end])

    def write(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except (MediaTooLargeError, ValidationError):
            raise
        except Exception as error:  # python-multipart raises its own errors on malformed bodies
            raise ValidationError(f"malformed multipart body: {error}") from None

    def finish(self) -> list[Part]:
        try:
            self._parser.finalize()
        except Exception as error:
            raise ValidationError(f"malformed multipart body: {error}") from None
        return self.parts
