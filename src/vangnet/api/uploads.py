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
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ValidationError("expected a multipart/form-data upload")
    parts: list[Part] = []
    header_field = bytearray()
    header_value = bytearray()
    headers: dict[str, str] = {}
    total = 0

    def on_part_begin() -> None:
        headers.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[header_field.decode("latin-1").lower()] = header_value.decode("latin-1")
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        if len(parts) >= max_parts:
            raise ValidationError(f"too many parts in the upload (at most {max_parts})")
        _, opts = parse_options_header(headers.get("content-disposition", ""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        filename = opts.get(b"filename")
        parts.append(
            Part(
                name=name,
                filename=filename.decode("utf-8", "replace") if filename is not None else None,
                content_type=headers.get("content-type"),
            )
        )

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal total
        total += end - start
        if total > limit:
            raise MediaTooLargeError(f"upload is larger than the limit of {limit} bytes")
        parts[-1].data.extend(data[start:end])

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise MediaTooLargeError(f"upload is larger than the limit of {limit} bytes")
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except (MediaTooLargeError, ValidationError):
        raise
    except Exception as error:  # python-multipart raises its own errors on malformed bodies
        raise ValidationError(f"malformed multipart body: {error}") from None
    return parts
