"""A multipart upload read as it streams: each file is counted while it is written, and refused past its limit.

Files go to a staging folder (removed on any refusal), so a refused request
leaves nothing behind. Names from the request never become paths: a file is
stored as `<n>-<sanitised name>`.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

from web.errors import ApiError

MAX_FIELDS, MAX_FIELD_BYTES = 64, 64 * 1024


@dataclass
class UploadLimits:
    max_files: dict[str, int]  # file field -> how many files it takes
    max_file_bytes: int
    max_request_bytes: int


@dataclass
class StagedFile:
    field: str
    filename: str  # as the client sent it, for display only
    path: Path
    size: int = 0


@dataclass
class ParsedUpload:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[StagedFile] = field(default_factory=list)

    def files_of(self, name: str) -> list[StagedFile]:
        return [f for f in self.files if f.field == name]


def stored_name(index: int, filename: str) -> str:
    """`03-my_photo.jpg`: only letters, digits, . _ -; never hidden, never a path."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename.replace("\\", "/")).name).strip("._")[-60:]
    return f"{index:02d}-{base or 'file'}"


class _Receiver:
    """python-multipart callbacks that write parts to `staging`, enforcing the limits as bytes arrive."""

    def __init__(self, staging: Path, limits: UploadLimits) -> None:
        self.staging, self.limits = staging, limits
        self.result = ParsedUpload()
        self._header_name = self._header_value = b""
        self._disposition = b""
        self._name: str | None = None
        self._file: StagedFile | None = None
        self._handle: BinaryIO | None = None
        self._value = bytearray()

    def callbacks(self) -> dict:
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field,
                "on_header_value": self.header_value, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
                "on_part_end": self.part_end}

    def part_begin(self) -> None:
        self._disposition, self._name, self._file, self._value = b"", None, None, bytearray()

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise ApiError(400, "a multipart part has no field name")
        self._name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            self._open_file(options[b"filename"].decode("utf-8", "replace"))
        elif len(self.result.fields) >= MAX_FIELDS:
            raise ApiError(400, f"too many form fields (at most {MAX_FIELDS})")

    def _open_file(self, filename: str) -> None:
        allowed = self.limits.max_files.get(self._name)
        if allowed is None:
            raise ApiError(422, f"field {self._name!r} takes no file; file fields: "
                                f"{', '.join(sorted(self.limits.max_files))}")
        if len(self.result.files_of(self._name)) >= allowed:
            raise ApiError(400 if self._name == "photos" else 422,
                           f"too many files in {self._name!r}: at most {allowed}")
        index = len(self.result.files)
        self._file = StagedFile(self._name, filename, self.staging / stored_name(index, filename))
        self._handle = open(self._file.path, "xb")
        self.result.files.append(self._file)

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is None:
            if len(self._value) + len(chunk) > MAX_FIELD_BYTES:
                raise ApiError(413, f"form field {self._name!r} is over {MAX_FIELD_BYTES} bytes")
            self._value.extend(chunk)
            return
        self._file.size += len(chunk)
        if self._file.size > self.limits.max_file_bytes:
            raise ApiError(413, f"file {self._file.filename!r} is over the limit of "
                                f"{self.limits.max_file_bytes} bytes")
        self._handle.write(chunk)

    def part_end(self) -> None:
        if self._file is not None:
            self.close()
            if self._file.size == 0:
                raise ApiError(422, f"file {self._file.filename!r} is empty")
        elif self._name is not None:
            self.result.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


async def receive_upload(headers, stream: AsyncIterator[bytes], staging: Path, limits: UploadLimits) -> ParsedUpload:
    """Parse the body into `staging` (created here; removed again if anything is refused)."""
    content_type, options = parse_options_header(headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError(415, "send the job as multipart/form-data (photos as files, options as fields)")
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_request_bytes:
        raise ApiError(413, f"request of {declared} bytes is over the limit of {limits.max_request_bytes}")
    staging.mkdir(parents=True)
    receiver = _Receiver(staging, limits)
    parser = MultipartParser(options[b"boundary"], receiver.callbacks())
    received = 0
    try:
        async for chunk in stream:
            received += len(chunk)
            if received > limits.max_request_bytes:
                raise ApiError(413, f"request is over the limit of {limits.max_request_bytes} bytes")
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        receiver.close()
        shutil.rmtree(staging, ignore_errors=True)
        await _drain(stream, limits.max_request_bytes - received)
        raise
    except Exception as exc:  # a malformed body
        receiver.close()
        shutil.rmtree(staging, ignore_errors=True)
        raise ApiError(400, f"malformed multipart body: {exc}") from None
    return receiver.result


async def _drain(stream: AsyncIterator[bytes], budget: int) -> None:
    """Read (and drop) the rest of a refused body, so the client reads our answer instead of a reset."""
    try:
        async for chunk in stream:
            budget -= len(chunk)
            if budget < 0:
                return
    except Exception:  # the client gave up; nothing to answer
        return
