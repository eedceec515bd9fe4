"""A phone's rendered files: what it would get now, secrets masked unless the key is an admin's."""

from __future__ import annotations

import base64
import hashlib

from pydantic import BaseModel, ConfigDict, Field

from provisioner.api._call import Call, Reply
from provisioner.api._fleet import MAC_PARAMS, VIEWER
from provisioner.api._models import ListQuery
from provisioner.api._phones import phone_tenant
from provisioner.api._routing import Route
from provisioner.apikeys import Role
from provisioner.errors import NotFoundError
from provisioner.phone_files import phone_files
from provisioner.render import RenderedFile

__all__ = ["ROUTES"]


class PhoneFileInfo(BaseModel):
    """One file the phone fetches."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the path the phone requests")
    content_type: str
    bytes: int
    sha256: str = Field(description="of the content as answered (masked if masked)")
    masked: bool = Field(description="whether secrets were replaced by ********")


class PhoneFile(PhoneFileInfo):
    """A file's content: ``text`` when it is UTF-8, else ``base64``."""

    text: str | None = None
    base64: str | None = None


class PhoneFilePage(BaseModel):
    """The phone's files, and why any could not be rendered."""

    model_config = ConfigDict(extra="forbid")
    items: list[PhoneFileInfo]
    total: int
    limit: int
    offset: int
    render_errors: list[str]


def _info(f: RenderedFile, masked: bool) -> dict[str, object]:
    return {
        "name": f.path,
        "content_type": f.content_type,
        "bytes": len(f.data),
        "sha256": hashlib.sha256(f.data).hexdigest(),
        "masked": masked,
    }


async def _files(call: Call) -> tuple[list[RenderedFile], list[str], bool]:
    mac, _ = await phone_tenant(call)
    reveal = call.key.role is Role.ADMIN
    store, catalog = call.services.store, call.services.catalog
    files, errors = await call.run(
        lambda: phone_files(catalog, store.tenants.snapshot([mac]), mac, reveal=reveal)
    )
    return files, [str(e) for e in errors], not reveal


async def list_phone_files(call: Call) -> Reply:
    """The files the phone would get now (a disabled phone gets none)."""
    files, errors, masked = await _files(call)
    q: ListQuery = call.query
    items = [PhoneFileInfo.model_validate(_info(f, masked)) for f in files]
    return Reply(
        PhoneFilePage(
            items=items[q.offset : q.offset + q.limit],
            total=len(items),
            limit=q.limit,
            offset=q.offset,
            render_errors=errors,
        )
    )


async def get_phone_file(call: Call) -> Reply:
    """One file as the phone would get it now (secrets masked unless the key is an admin's)."""
    files, _, masked = await _files(call)
    name = call.params["name"]
    found = next((f for f in files if f.path == name), None)
    if found is None:
        raise NotFoundError(f"the phone gets no file {name!r} (see its file list)")
    content: dict[str, str] = {}
    try:
        content["text"] = found.data.decode("utf-8")
    except UnicodeDecodeError:
        content["base64"] = base64.b64encode(found.data).decode("ascii")
    return Reply(PhoneFile.model_validate({**_info(found, masked), **content}))


ROUTES = [
    Route("GET", "/phones/{mac}/files", list_phone_files, "A phone's rendered files", "phones",
          VIEWER, query=ListQuery, answer=PhoneFilePage, params=MAC_PARAMS),
    Route("GET", "/phones/{mac}/files/{name}", get_phone_file, "One rendered file of a phone",
          "phones", VIEWER, answer=PhoneFile,
          params={**MAC_PARAMS, "name": "the file's path (a slash URL-encoded as %2F)"}),
]  # fmt: skip
