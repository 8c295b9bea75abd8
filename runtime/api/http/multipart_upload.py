"""An upload's multipart/form-data body, read as it streams in.

The file field ``bundle`` comes out piece by piece as it arrives (the caller spools it where it
likes, next to the store); the few text fields (namespace, version, sha256, skip_load, format)
are kept. Nothing is held whole in memory and nothing lands in the system's temp folder, which
is often RAM (tmpfs). A body that breaks the rules is refused with a BadRequestError saying
which rule.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from runtime.errors import BadRequestError

FILE_FIELD = "bundle"
MAX_PARTS = 16
MAX_FIELD_BYTES = 4096


@dataclass
class UploadForm:
    """What a multipart upload carried beside the bundle's bytes: its text fields and the
    bundle's file name."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None  # None: no bundle part came


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    text: bytearray = field(default_factory=bytearray)


class _Collector:
    """The parser's callbacks: sorts each part into a text field or file bytes to write."""

    def __init__(self, form: UploadForm) -> None:
        self.form = form
        self.to_write: list[bytes] = []
        self.problem: str | None = None
        self._part = _Part()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._parts = 0
        self.ended = False  # the closing boundary came

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._header_name.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
            "on_end": self._finished,
        }

    def _refuse(self, problem: str) -> None:
        self.problem = self.problem or problem

    def _begin(self) -> None:
        self._part = _Part()
        self._parts += 1
        if self._parts > MAX_PARTS:
            self._refuse(f"a multipart upload has at most {MAX_PARTS} parts")

    def _header_end(self) -> None:
        if bytes(self._header_name).strip().lower() == b"content-disposition":
            _, options = parse_options_header(bytes(self._header_value))
            self._part.name = options.get(b"name", b"").decode("utf-8", "replace")
            if b"filename" in options:
                self._part.filename = options[b"filename"].decode("utf-8", "replace")
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        part = self._part
        if part.filename is None:
            return
        if part.name != FILE_FIELD:
            self._refuse(f"a multipart upload sends one file, as the field {FILE_FIELD!r}, "
                         f"not {part.name!r}")  # fmt: skip
        elif self.form.filename is not None:
            self._refuse(f"a multipart upload sends one file; {FILE_FIELD!r} came twice")
        else:
            self.form.filename = part.filename

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.problem is not None:
            return
        part = self._part
        if part.filename is not None:
            self.to_write.append(data[start:end])
        elif len(part.text) + end - start > MAX_FIELD_BYTES:
            self._refuse(f"field {part.name!r} is over {MAX_FIELD_BYTES} bytes")
        else:
            part.text.extend(data[start:end])

    def _end(self) -> None:
        part = self._part
        if part.filename is None and self.problem is None:
            try:
                self.form.fields[part.name] = part.text.decode()
            except UnicodeDecodeError:
                self._refuse(f"field {part.name!r} is not UTF-8 text")

    def _finished(self) -> None:
        self.ended = True


def _boundary(content_type: str) -> bytes:
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary", b"")
    if not boundary:
        raise BadRequestError("the multipart upload's content-type names no boundary")
    return boundary


async def bundle_pieces(
    content_type: str, chunks: AsyncIterator[bytes], form: UploadForm
) -> AsyncIterator[bytes]:
    """Yield the bytes of the multipart upload's bundle part as ``chunks`` bring them; ``form``
    gets the text fields and the file name. Raises BadRequestError for a body that breaks the
    rules, at the latest once the body has ended."""
    collector = _Collector(form)
    parser = MultipartParser(_boundary(content_type), collector.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in chunks:
            parser.write(chunk)
            if collector.problem is not None:
                raise BadRequestError(collector.problem)
            for piece in collector.to_write:
                yield piece
            collector.to_write.clear()
        parser.finalize()
    except FormParserError as exc:
        raise BadRequestError(f"the multipart upload is malformed: {exc}") from None
    if collector.problem is not None:
        raise BadRequestError(collector.problem)
    if not collector.ended:
        raise BadRequestError("the multipart upload ended before its closing boundary")
    if form.filename is None:
        raise BadRequestError(
            f"a multipart upload sends the bundle as the file field {FILE_FIELD!r}"
        )
