"""Tenant phonebooks over the API: the service of ``provisioner phonebook`` (docs/phonebooks.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from provisioner import phonebooks
from provisioner.api._call import Call, Reply
from provisioner.api._fleet import OPERATOR, VIEWER, page
from provisioner.api._models import ListQuery, page_of
from provisioner.api._routing import Route
from provisioner.domain import Phonebook as Book

__all__ = ["ROUTES"]

PARAMS = {"tenant": "tenant name", "name": "phonebook name"}


class PhonebookInfo(BaseModel):
    """A phonebook's name, description and number of entries."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str
    entries: int


PhonebookPage = page_of(PhonebookInfo, "PhonebookPage")


class PhonebookEntry(BaseModel):
    """One contact; ``numbers`` by kind (work, mobile, home, other)."""

    model_config = ConfigDict(extra="forbid")
    first_name: str
    last_name: str
    organisation: str
    numbers: dict[str, str]


class Phonebook(BaseModel):
    """A phonebook with its entries, in their order."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str
    entries: list[PhonebookEntry]


class PhonebookIn(BaseModel):
    """A CSV or vCard 3.0/4.0 file to make the phonebook of (or to add to it)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    format: Literal["csv", "vcard"]
    content: str = Field(description="the file's text")
    description: str | None = Field(None, description="default: kept (empty when new)")
    append: bool = Field(False, description="add to the entries instead of replacing them")


class ExportQuery(BaseModel):
    """The export's format: csv, vcard (4.0) or vcard3 (3.0)."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["csv", "vcard", "vcard3"] = "csv"


class PhonebookExport(BaseModel):
    """A phonebook as a file's text."""

    model_config = ConfigDict(extra="forbid")
    format: str
    content: str


def _info(book: Book) -> PhonebookInfo:
    return PhonebookInfo(name=book.name, description=book.description, entries=len(book.entries))


async def list_phonebooks(call: Call) -> Reply:
    """A tenant's phonebooks, by name."""
    tenant = call.params["tenant"]
    call.own(tenant, f"no tenant {tenant!r}")
    repo = call.services.store.phonebooks
    found = await call.run(lambda: phonebooks.list_phonebooks(repo, tenant))
    q: ListQuery = call.query
    items = [
        PhonebookInfo(name=b.name, description=b.description, entries=b.entries)
        for b in found[q.offset : q.offset + q.limit]
    ]
    return page(items, len(found), q, PhonebookPage)


async def get_phonebook(call: Call) -> Reply:
    """One phonebook with its entries."""
    tenant, name = call.params["tenant"], call.params["name"]
    call.own(tenant, f"no tenant {tenant!r}")
    repo = call.services.store.phonebooks
    book = await call.run(lambda: phonebooks.show_phonebook(repo, tenant, name))
    entries = [
        PhonebookEntry(
            first_name=e.first_name,
            last_name=e.last_name,
            organisation=e.organisation,
            numbers=dict(e.numbers),
        )
        for e in book.entries
    ]
    return Reply(Phonebook(name=book.name, description=book.description, entries=entries))


async def put_phonebook(call: Call) -> Reply:
    """Create a phonebook from a file, or replace (``append``: extend) its entries."""
    tenant, name = call.params["tenant"], call.params["name"]
    call.own(tenant, f"no tenant {tenant!r}")
    body: PhonebookIn = call.body
    repo = call.services.store.phonebooks
    created, _ = await call.run(
        lambda: phonebooks.import_phonebook(
            repo,
            call.actor,
            tenant,
            name,
            body.content.encode(),
            phonebooks.Format(body.format),
            description=body.description,
            append=body.append,
        )
    )
    book = await call.run(lambda: phonebooks.show_phonebook(repo, tenant, name))
    return Reply(_info(book), 201 if created else 200)


async def export_phonebook(call: Call) -> Reply:
    """A phonebook as CSV or vCard text, as ``provisioner phonebook export`` writes it."""
    tenant, name = call.params["tenant"], call.params["name"]
    call.own(tenant, f"no tenant {tenant!r}")
    q: ExportQuery = call.query
    repo = call.services.store.phonebooks
    text = await call.run(
        lambda: phonebooks.export_phonebook(repo, tenant, name, phonebooks.Format(q.format))
    )
    return Reply(PhonebookExport(format=q.format, content=text))


async def delete_phonebook(call: Call) -> Reply:
    """Delete a phonebook no ``phonebooks`` setting of the tenant names."""
    tenant, name = call.params["tenant"], call.params["name"]
    call.own(tenant, f"no tenant {tenant!r}")
    repo = call.services.store.phonebooks
    await call.run(lambda: phonebooks.remove_phonebook(repo, call.actor, tenant, name))
    return Reply()


ROUTES = [
    Route("GET", "/tenants/{tenant}/phonebooks", list_phonebooks, "List a tenant's phonebooks",
          "phonebooks", VIEWER, query=ListQuery, answer=PhonebookPage,
          params={"tenant": PARAMS["tenant"]}),
    Route("GET", "/tenants/{tenant}/phonebooks/{name}", get_phonebook, "Read a phonebook",
          "phonebooks", VIEWER, answer=Phonebook, params=PARAMS),
    Route("PUT", "/tenants/{tenant}/phonebooks/{name}", put_phonebook,
          "Import a phonebook from CSV or vCard", "phonebooks", OPERATOR, body=PhonebookIn,
          answer=PhonebookInfo, params=PARAMS,
          description="As `provisioner phonebook import`: the whole file is checked first; "
          "201 when the phonebook is new."),
    Route("GET", "/tenants/{tenant}/phonebooks/{name}/export", export_phonebook,
          "Export a phonebook", "phonebooks", VIEWER, query=ExportQuery, answer=PhonebookExport,
          params=PARAMS),
    Route("DELETE", "/tenants/{tenant}/phonebooks/{name}", delete_phonebook,
          "Delete a phonebook", "phonebooks", OPERATOR, params=PARAMS,
          description="Refused (409) while a phonebooks setting of the tenant names it."),
]  # fmt: skip
