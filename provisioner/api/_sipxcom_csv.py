"""sipXcom's CSV file over the API: ``POST /import/csv`` and ``GET /export/csv``.

The service is :mod:`provisioner.sipxcom_csv`, as ``provisioner import-csv``
and ``export-csv`` call it. The import is ``multipart/form-data`` with one
``file`` part, read in chunks and refused once past :data:`MAX_CSV` bytes;
``?dry_run=true`` answers the preview (the same document as every other
write's preview, with the import's counts). The export is the file itself
(``text/csv``); its secret columns are filled for admin keys only.
"""

from __future__ import annotations

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, Field

from provisioner.api._bodies import problem
from provisioner.api._call import Call, Reply
from provisioner.api._fleet import OPERATOR, VIEWER
from provisioner.api._preview import Preview, _preview
from provisioner.api._routing import PREFIX, Route
from provisioner.apikeys import Role
from provisioner.preview import Outcome
from provisioner.problems import (
    BODY_TOO_LARGE,
    MALFORMED_BODY,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION_FAILED,
)
from provisioner.sipxcom_csv import export_csv, import_csv
from provisioner.store import Changes

__all__ = ["MAX_CSV", "ROUTES"]

MAX_CSV = 64 << 20  # bytes of the file part: 100,000 rows with every column filled fit
_CHUNK = 256 * 1024


class CsvImportQuery(BaseModel):
    """The tenant to import into, and whether to preview only."""

    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(max_length=64, description="the tenant the phones and users go to")
    dry_run: bool = Field(False, description="answer what would change; store nothing")


class CsvImportForm(BaseModel):
    """The parts of an import (``multipart/form-data``)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    file: bytes = Field(
        description="sipXcom's CSV file: its 20.04 header line, UTF-8 (a BOM is allowed), "
        "CRLF or LF line ends"
    )


class CsvImported(Preview):
    """What the import did (or, with dry_run, would do: then with the phones' diffs)."""

    rows: int = Field(description="data rows read")
    groups_created: list[str]
    kept: list[str] = Field(
        description="columns provisioner keeps with the users without using them"
    )


class CsvExportQuery(BaseModel):
    """The tenant to export."""

    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(max_length=64)


async def import_csv_file(call: Call) -> Reply:
    """Import phones and users from sipXcom's CSV file, all or nothing (or preview it)."""
    q: CsvImportQuery = call.query
    call.own(q.tenant, f"no tenant named {q.tenant!r}")
    assert call.request is not None  # the route streams its body
    data = await _read_file(call.request)
    store = call.services.store
    report = await call.run(
        lambda: import_csv(
            store,
            call.edits,
            q.tenant,
            data,
            dry_run=q.dry_run,
            reveal_secrets=call.reveals_secrets(),
        )
    )
    outcome = Outcome(
        changes=Changes(report.changes), problems=report.problems, phones=report.phones
    )
    document = _preview(outcome, call, PREFIX + "/import/csv")
    document["dry_run"] = q.dry_run
    return Reply(
        CsvImported(
            **document, rows=report.rows, groups_created=report.groups_created, kept=report.kept
        )
    )


import_csv_file.__name__ = "import_csv"


async def _read_file(request: web.BaseRequest) -> bytes:
    """The ``file`` part's bytes, read in chunks up to :data:`MAX_CSV`."""
    if request.content_type != "multipart/form-data":
        raise problem(
            UNSUPPORTED_MEDIA_TYPE,
            f"an import must be multipart/form-data, not {request.content_type or 'none'}",
        )
    data: bytearray | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise problem(MALFORMED_BODY, "nested multipart bodies are refused")
            if part.name != "file":
                raise problem(
                    VALIDATION_FAILED, f"unknown part {part.name!r}: only 'file' is read", "body"
                )
            if data is not None:
                raise problem(MALFORMED_BODY, "part 'file' is given twice", "body.file")
            data = bytearray()
            while chunk := await part.read_chunk(_CHUNK):
                data += chunk
                if len(data) > MAX_CSV:
                    raise problem(
                        BODY_TOO_LARGE,
                        f"the file is over the limit of {MAX_CSV} bytes",
                        "body.file",
                        close=True,
                    )
    except (ValueError, HttpProcessingError) as exc:  # aiohttp's complaint: a malformed body
        raise problem(MALFORMED_BODY, f"the multipart body is malformed: {exc}") from None
    if data is None:
        raise problem(VALIDATION_FAILED, "body.file: the file part is missing", "body.file")
    return bytes(data)


async def export_csv_file(call: Call) -> Reply:
    """A tenant's phones and users as sipXcom's CSV file (secrets for admin keys only)."""
    q: CsvExportQuery = call.query
    call.own(q.tenant, f"no tenant named {q.tenant!r}")
    store = call.services.store
    secrets = call.at_least(Role.ADMIN)
    text = await call.run(lambda: export_csv(store, q.tenant, reveal_secrets=secrets))
    return Reply(raw=text.encode("utf-8"), filename=f"{q.tenant}.csv")


export_csv_file.__name__ = "export_csv"

ROUTES = [
    Route("POST", "/import/csv", import_csv_file, "Import sipXcom's CSV file", "sipxcom",
          OPERATOR, query=CsvImportQuery, form=CsvImportForm, answer=CsvImported,
          description="As `provisioner import-csv` (docs/sipxcom.md): the whole file is "
          "checked first, every problem named `row N, column \"X\"`; then all of it is "
          "applied in one transaction, or nothing. `multipart/form-data` with one part, "
          f"`file`, of at most {MAX_CSV} bytes. With dry_run=true nothing is stored and the "
          "answer holds each affected phone's diffs (secrets masked unless the key is an "
          "admin's); a refused file is then in `problems`."),
    Route("GET", "/export/csv", export_csv_file, "Export sipXcom's CSV file", "sipxcom",
          VIEWER, query=CsvExportQuery, media="text/csv",
          description="As `provisioner export-csv`: one row per line, then phones without "
          "lines, then users without lines. The SIP password and PIN columns hold the "
          "values for admin keys, `********` for others (an import keeps the stored value "
          "for `********`)."),
]  # fmt: skip
