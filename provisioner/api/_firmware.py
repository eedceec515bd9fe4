"""Firmware and device-file sets: streamed upload, list with SHA-256, (de)activate, remove.

An upload is ``multipart/form-data``. Its file part is streamed to a spool
file in the data directory, never held in memory, and refused once it
passes the ingest limit (:class:`provisioner.firmware.Limits`
``max_total_bytes``); then it goes through the same checks as ``provisioner
firmware upload`` (:meth:`provisioner.firmware.FirmwareLibrary.upload`).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Literal

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, Field

from provisioner.api._bodies import problem, validated
from provisioner.api._call import Call, Reply
from provisioner.api._fleet import ADMIN, VIEWER, page, sort_key
from provisioner.api._models import ListQuery, page_of
from provisioner.api._routing import PREFIX, Route
from provisioner.chars import check_text
from provisioner.domain import FirmwareSet
from provisioner.errors import NotFoundError
from provisioner.firmware import FirmwareLibrary, Limits, served_path
from provisioner.problems import (
    BODY_TOO_LARGE,
    MALFORMED_BODY,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION_FAILED,
)

__all__ = ["MAX_UPLOAD", "ROUTES"]

MAX_UPLOAD = Limits().max_total_bytes  # bytes of the file part, as the ingest limit
_MAX_FIELD = 1024  # bytes of a text part
_CHUNK = 256 * 1024


class FirmwareUpload(BaseModel):
    """The parts of an upload (``multipart/form-data``)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    vendor: str = Field(max_length=64, description="a vendor of the catalog")
    label: str = Field(max_length=64, description="the set's name, e.g. 6.4.6")
    file: bytes = Field(description=".zip, .tar.gz, .tgz, .tar, or one image; its file name counts")
    description: str | None = Field(None, max_length=255)
    version: str | None = Field(
        None, max_length=64, description="what phones report running it (default: read from it)"
    )
    kind: Literal["firmware", "unmanaged"] = "firmware"


class FirmwareFileOut(BaseModel):
    """One file of a set."""

    model_config = ConfigDict(extra="forbid")
    path: str
    served_at: str
    size: int
    sha256: str


class FirmwareSetOut(BaseModel):
    """A firmware (or unmanaged) set with its files and their SHA-256."""

    model_config = ConfigDict(extra="forbid")
    vendor: str
    label: str
    kind: str
    description: str
    version: str
    active: bool
    upload_name: str
    upload_sha256: str = Field(description="the upload as received")
    total_bytes: int
    created_at: float
    files: list[FirmwareFileOut]
    selected_by: list[str] | None = Field(None, description="scopes whose settings name it")


class FirmwareQuery(ListQuery):
    """Paging and filters of the set list."""

    vendor: str | None = Field(None, max_length=64)
    kind: Literal["firmware", "unmanaged"] | None = None
    active: bool | None = None


class Removed(BaseModel):
    """What removing a set left behind."""

    model_config = ConfigDict(extra="forbid")
    vendor: str
    label: str
    still_named_at: list[str] = Field(description="scopes whose settings still name the label")


FirmwarePage = page_of(FirmwareSetOut, "FirmwareSetPage")


def _out(s: FirmwareSet, selected_by: list[str] | None = None) -> FirmwareSetOut:
    return FirmwareSetOut(
        vendor=s.vendor,
        label=s.label,
        kind=s.kind,
        description=s.description,
        version=s.version,
        active=s.active,
        upload_name=s.upload_name,
        upload_sha256=s.upload_sha256,
        total_bytes=s.total_bytes,
        created_at=s.created_at,
        files=[
            FirmwareFileOut(
                path=f.path,
                served_at=served_path(s.vendor, s.label, f.path),
                size=f.size,
                sha256=f.sha256,
            )
            for f in s.files
        ],
        selected_by=selected_by,
    )


def _library(call: Call) -> FirmwareLibrary:
    library = call.services.firmware
    if library is None:  # an API served without firmware storage (tests of the handler alone)
        raise NotFoundError("firmware is not managed by this server")
    return library


async def list_firmware(call: Call) -> Reply:
    """Sets with their files and checksums, by vendor then label."""
    q: FirmwareQuery = call.query
    if q.vendor is not None:
        check_text(q.vendor, "vendor")
    sets = await call.run(
        lambda: call.services.store.firmware.sets(vendor=q.vendor, active=q.active)
    )
    rows = [_out(s) for s in sets if q.kind is None or s.kind == q.kind]
    field, descending = sort_key(q, ("vendor", "label", "created_at", "total_bytes"))
    rows.sort(key=lambda r: (getattr(r, field), r.vendor, r.label), reverse=descending)
    return page(rows[q.offset : q.offset + q.limit], len(rows), q, FirmwarePage)


async def _one(call: Call) -> FirmwareSetOut:
    vendor, label = call.params["vendor"], call.params["label"]
    _library(call).check_names(vendor, label)
    store = call.services.store
    found = await call.run(lambda: store.firmware.sets(vendor=vendor, label=label))
    if not found:
        raise NotFoundError(f"no {vendor} firmware set labelled {label!r}")
    return _out(found[0], await call.run(lambda: store.firmware.references(label)))


async def get_firmware(call: Call) -> Reply:
    """One set: files, checksums, and the scopes whose settings select it."""
    return Reply(await _one(call))


async def upload_firmware(call: Call) -> Reply:
    """Upload a set (inactive until activated), checked as ``provisioner firmware upload``."""
    request = call.request
    assert request is not None  # the route streams its body
    library = _library(call)
    data_dir = call.services.data_dir or Path(tempfile.gettempdir())
    spool = await asyncio.to_thread(_spool_file, data_dir / "uploads")
    try:
        fields, filename = await _read_form(request, spool)
        form = validated(FirmwareUpload, {**fields, "file": b""})
        assert isinstance(form, FirmwareUpload)
        description, version = form.description or "", form.version or ""
        await call.run(
            lambda: library.check_upload(
                form.vendor, form.label, kind=form.kind, description=description, version=version
            )
        )
        # The ingest (hashing, archive checks, publishing) takes as long as the
        # upload is big: on a thread of its own, so that other requests' database
        # work goes on meanwhile. Only the record is written on the database thread.
        staged = await asyncio.to_thread(
            lambda: library.stage(
                Path(spool.name),
                filename,
                vendor=form.vendor,
                label=form.label,
                description=description,
                kind=form.kind,
                version=version,
            )
        )
        uploaded = await call.run(lambda: library.record(staged, call.actor))
    finally:
        await asyncio.to_thread(_discard, spool)
    location = f"{PREFIX}/firmware/{uploaded.vendor}/{uploaded.label}"
    return Reply(_out(uploaded), 201, location=location)


def _spool_file(directory: Path) -> IO[bytes]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return tempfile.NamedTemporaryFile(prefix=".upload-", dir=directory, delete=False)


def _discard(spool: IO[bytes]) -> None:
    spool.close()
    Path(spool.name).unlink(missing_ok=True)


async def _read_form(request: web.BaseRequest, spool: IO[bytes]) -> tuple[dict[str, str], str]:
    """The text parts and the file part's name; the file part's bytes go to ``spool``."""
    if request.content_type != "multipart/form-data":
        raise problem(
            UNSUPPORTED_MEDIA_TYPE,
            f"an upload must be multipart/form-data, not {request.content_type or 'none'}",
        )
    fields: dict[str, str] = {}
    filename: str | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise problem(MALFORMED_BODY, "nested multipart bodies are refused")
            name = part.name or ""
            if name in fields or (name == "file" and filename is not None):
                raise problem(MALFORMED_BODY, f"part {name!r} is given twice", name)
            if name == "file":
                filename = part.filename or ""
                await _stream(part, spool)
            else:
                fields[name] = await _text(part, name)
    except (ValueError, HttpProcessingError) as exc:  # aiohttp's complaint: a malformed body
        raise problem(MALFORMED_BODY, f"the multipart body is malformed: {exc}") from None
    if filename is None:
        raise problem(VALIDATION_FAILED, "body.file: the file part is missing", "body.file")
    return fields, filename


async def _stream(part: BodyPartReader, spool: IO[bytes]) -> None:
    size = 0
    while chunk := await part.read_chunk(_CHUNK):
        size += len(chunk)
        if size > MAX_UPLOAD:
            raise problem(
                BODY_TOO_LARGE,
                f"the upload is over the limit of {MAX_UPLOAD} bytes",
                "body.file",
                close=True,
            )
        await asyncio.to_thread(spool.write, chunk)
    await asyncio.to_thread(_flush, spool)


def _flush(spool: IO[bytes]) -> None:
    spool.flush()
    os.fsync(spool.fileno())


async def _text(part: BodyPartReader, name: str) -> str:
    raw = b""
    while chunk := await part.read_chunk(_MAX_FIELD + 1):
        raw += chunk
        if len(raw) > _MAX_FIELD:
            raise problem(BODY_TOO_LARGE, f"part {name!r} is over {_MAX_FIELD} bytes", name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise problem(MALFORMED_BODY, f"part {name!r} is not UTF-8", name) from None


def _switch(active: bool) -> Callable[[Call], Awaitable[Reply]]:
    async def switch(call: Call) -> Reply:
        library = _library(call)
        vendor, label = call.params["vendor"], call.params["label"]
        if active:
            await call.run(lambda: library.activate(vendor, label, call.actor))
        else:
            await call.run(lambda: library.deactivate(vendor, label, call.actor))
        return Reply(await _one(call))

    switch.__name__ = "activate_firmware" if active else "deactivate_firmware"
    switch.__doc__ = (
        "Serve a set and let phones be pointed at it."
        if active
        else "Stop serving a set (phones pointed at it are no longer told to change)."
    )
    return switch


async def remove_firmware(call: Call) -> Reply:
    """Delete an inactive set and its files."""
    library = _library(call)
    vendor, label = call.params["vendor"], call.params["label"]
    await _one(call)
    named = await call.run(lambda: library.remove(vendor, label, call.actor))
    return Reply(Removed(vendor=vendor, label=label, still_named_at=named))


_SET = {"vendor": "vendor, e.g. polycom", "label": "the set's label"}
ROUTES = [
    Route("GET", "/firmware", list_firmware, "List firmware sets", "firmware", VIEWER,
          query=FirmwareQuery, answer=FirmwarePage),
    Route("POST", "/firmware", upload_firmware, "Upload a firmware set", "firmware", ADMIN,
          form=FirmwareUpload, answer=FirmwareSetOut, status=201,
          description="`multipart/form-data`, streamed to disk; the same checks as "
          f"`provisioner firmware upload`. The file part may hold up to {MAX_UPLOAD} bytes."),
    Route("GET", "/firmware/{vendor}/{label}", get_firmware, "Read a firmware set", "firmware",
          VIEWER, answer=FirmwareSetOut, params=_SET),
    Route("DELETE", "/firmware/{vendor}/{label}", remove_firmware, "Remove a firmware set",
          "firmware", ADMIN, answer=Removed, params=_SET),
    Route("POST", "/firmware/{vendor}/{label}/activate", _switch(True), "Activate a set",
          "firmware", ADMIN, answer=FirmwareSetOut, params=_SET),
    Route("POST", "/firmware/{vendor}/{label}/deactivate", _switch(False), "Deactivate a set",
          "firmware", ADMIN, answer=FirmwareSetOut, params=_SET),
]  # fmt: skip
