"""Uploads streamed straight into the run's private folder, with a size limit, never into the system's temp.

The form must send its CSRF token before any file (the token field comes first in the page), so a request
without it is refused before a byte of a file is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.requests import Request


class UploadError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class UploadedFile:
    field: str
    filename: str  # the name the browser gave (shown masked, never used as a path)
    path: Path
    size: int


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)  # the last value of each field
    multi: dict[str, list[str]] = field(default_factory=dict)  # every value (checkboxes)
    files: list[UploadedFile] = field(default_factory=list)


MAX_FIELD_BYTES = 4096
MAX_FILES = 4


async def receive_upload(
    request: Request,
    directory: Path,
    max_bytes: int,
    name_for: Callable[[str, str, int], str],
    csrf_ok: Callable[[str], bool],
) -> Upload:
    """Parse a multipart form, writing each file part to ``directory / name_for(field, filename, n)`` (0600).

    Raises :class:`UploadError` (413 over ``max_bytes``, 403 without a valid CSRF token before the first file,
    400 for a malformed form)."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise UploadError(400, "skjemaet må sendes som multipart/form-data")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise UploadError(413, f"filen er for stor (høyst {max_bytes // (1024 * 1024)} MB)")

    result = Upload()
    state: dict = {
        "headers": {},
        "hname": b"",
        "hval": b"",
        "name": "",
        "filename": None,
        "buf": bytearray(),
        "fh": None,
        "size": 0,
        "error": None,
    }

    def on_part_begin() -> None:
        state.update(headers={}, name="", filename=None, buf=bytearray(), fh=None, size=0)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["hname"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["hval"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["hname"].decode("latin-1").lower()] = state["hval"]
        state["hname"], state["hval"] = b"", b""

    def on_headers_finished() -> None:
        _, disp = parse_options_header(state["headers"].get("content-disposition", b""))
        state["name"] = disp.get(b"name", b"").decode("utf-8", "replace")
        fn = disp.get(b"filename")
        if fn is None:
            return
        state["filename"] = fn.decode("utf-8", "replace")
        if not state["filename"]:
            return  # an empty file input
        if not csrf_ok(result.fields.get("csrf", "")):
            raise UploadError(403, "skjemaet er utløpt eller kom ikke fra denne siden; last siden på nytt")
        if len(result.files) >= MAX_FILES:
            raise UploadError(400, "for mange filer")
        name = name_for(state["name"], state["filename"], len(result.files))
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        state["fh"] = os.fdopen(fd, "wb")
        result.files.append(UploadedFile(state["name"], state["filename"], path, 0))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if state["fh"] is not None:
            state["fh"].write(chunk)
            result.files[-1].size += len(chunk)
        elif state["filename"] is None:
            state["buf"] += chunk
            if len(state["buf"]) > MAX_FIELD_BYTES:
                raise UploadError(400, "et felt i skjemaet er for langt")

    def on_part_end() -> None:
        if state["fh"] is not None:
            state["fh"].close()
            state["fh"] = None
        elif state["filename"] is None and state["name"]:
            value = state["buf"].decode("utf-8", "replace")
            result.fields[state["name"]] = value
            result.multi.setdefault(state["name"], []).append(value)

    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
        max_header_count=16,
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise UploadError(413, f"filen er for stor (høyst {max_bytes // (1024 * 1024)} MB)")
            parser.write(chunk)
        parser.finalize()
    except UploadError:
        raise
    except Exception as exc:  # noqa: BLE001 - python-multipart's own errors: a malformed form
        raise UploadError(400, "skjemaet kunne ikke leses") from exc
    finally:
        if state["fh"] is not None:
            state["fh"].close()
    return result
