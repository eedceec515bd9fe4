"""What a served phone's files are made of, as compact digests: of the directory, of it all.

A change to the tenant directory (a line's display name or user, a line
added or removed, a phone joining a group a ``keys.policy.scope`` names) is
recorded in the change feed as one ``directory`` reach, without naming the
phones it affects: the writer cannot know them without resolving every
phone's key layout. The cache finds them instead. Every other input of a
phone that a write changes is named in the feed (its own MAC or a group of
it), so for a phone the feed does not name, what may have moved is only what
it reads of the directory:

- the directory itself, when the phone shows it (``directory.tenant_lines``:
  its entries' names and users, the template contract of ``directory``, and
  the ``contacts`` derived from them);
- the keys a ``keys.policy`` layout places on it: only the placed ones
  (slot, module, number, target, label), so a line renamed beyond the last
  free key of a phone, or not in the policy's scope, leaves the phone alone.

:class:`DirectoryReads` digests exactly that (BLAKE2b, 16 bytes per phone
that reads the directory, nothing for the others), and the cache re-renders
a phone for a directory reach only when its digest moved
(docs/serving.md, "Work proportional to the change").

A change the feed cannot narrow (a tenant setting, a phonebook, a gap in the
feed) is met the same way one level up: :meth:`DirectoryReads.inputs`
digests everything of the resolved phone that its files and its cache entry
are made of — the phone, its tenant's fields, groups, every resolved value
(server settings too: access and pacing come from them), lines, firmware
choice, phonebooks, the directory it reads and its placed policy keys — and
a phone whose digest did not move keeps its entry. Left out on purpose: the
tenant's revision and change time (they move with every write), where each
value came from (provenance is for ``explain``, never rendered), the
policy's keys beyond those placed, and the tenant's own server settings
(``server`` and ``tenant_only``: pacing, the URL token, FTP login, unknown
devices), which no template sees and the cache reads from the tenant, not
the phone (its policy is installed with every render). Templates and the catalog are not in it:
a template change renders everything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

from provisioner.catalog import Catalog
from provisioner.domain import DirectoryEntry, Phonebook
from provisioner.keylayout import phone_layout
from provisioner.resolve import DIRECTORY_SETTING, POLICY_SETTING, PhoneView

__all__ = ["DirectoryReads", "reads_directory", "tenant_owned"]

_DIGEST_SIZE = 16


def tenant_owned(catalog: Catalog) -> frozenset[str]:
    """The tenant's own server settings: no phone's files or cache entry read them."""
    return frozenset(n for n, s in catalog.common.items() if s.server and s.tenant_only)


def reads_directory(view: PhoneView) -> bool:
    """Whether the phone's files depend on the tenant directory (shown, or a key policy)."""
    s = view.settings
    shows = DIRECTORY_SETTING in s and bool(s[DIRECTORY_SETTING].value)
    return shows or (POLICY_SETTING in s and s[POLICY_SETTING].value != "none")


class DirectoryReads:
    """Digests of what phones read of the directory, for one render (one snapshot).

    The directory's own digest is computed once per directory object: a
    snapshot hands every phone of a tenant the same tuple, so a directory of
    ten thousand lines is hashed once, not once per phone.
    """

    __slots__ = ("_books", "_directories", "_last", "_last_inputs", "_tenant_owned")

    def __init__(self, tenant_owned: Collection[str] = ()) -> None:
        """``tenant_owned``: the names :meth:`inputs` leaves out (:func:`tenant_owned`)."""
        self._tenant_owned = frozenset(tenant_owned)
        # id → (the directory, kept alive so the id is not reused; its digest)
        self._directories: dict[int, tuple[tuple[DirectoryEntry, ...], bytes]] = {}
        # The same for the phonebooks a snapshot shares between phones.
        self._books: dict[int, tuple[Phonebook, bytes]] = {}
        # The last view digested: the cache asks once to decide and once to keep it.
        self._last: tuple[PhoneView, bytes] | None = None
        self._last_inputs: tuple[PhoneView, bytes] | None = None

    def inputs(self, view: PhoneView) -> bytes:
        """The digest of everything the phone's files and cache entry are made of (module doc)."""
        if self._last_inputs is not None and self._last_inputs[0] is view:
            return self._last_inputs[1]
        tenant, phone = view.tenant, view.phone
        items: list[object] = [
            self.of(view),  # the directory it shows, the policy keys placed on it
            (phone.mac, phone.model, phone.description, phone.enabled, phone.group_ids),
            (tenant.name, tenant.sip_domain, tenant.platform, tenant.description),
            (view.model.id, view.family.key),
            tuple((g.id, g.name, g.weight, g.description) for g in view.groups),
            tuple(
                (name, r.value)
                for name, r in view.settings.items()
                if name not in self._tenant_owned
            ),
            tuple(
                (lv.line, tuple((name, r.value) for name, r in lv.settings.items()))
                for lv in view.lines
            ),
            tuple(sorted(view.gated)),
            tuple(sorted(view.hidden)),
            view.firmware,
            view.unmanaged,
            tuple(self._book(book) for book in view.phonebooks),
            view.missing_phonebooks,
        ]
        found = hashlib.blake2b(repr(items).encode(), digest_size=_DIGEST_SIZE).digest()
        self._last_inputs = (view, found)
        return found

    def _book(self, book: Phonebook) -> bytes:
        found = self._books.get(id(book))
        if found is None:
            text = repr((book.name, book.description, book.entries)).encode()
            found = self._books[id(book)] = (book, hashlib.blake2b(text, digest_size=16).digest())
        return found[1]

    def of(self, view: PhoneView) -> bytes:
        """The digest of what ``view`` reads of the directory; ``b""`` when it reads none."""
        if self._last is not None and self._last[0] is view:
            return self._last[1]
        found = self._digest(view)
        self._last = (view, found)
        return found

    def _digest(self, view: PhoneView) -> bytes:
        if not reads_directory(view):
            return b""
        digest = hashlib.blake2b(digest_size=_DIGEST_SIZE)
        digest.update(self._directory(view.directory))
        if view.policy_keys:
            layout, _ = phone_layout(view)
            placed = [p for keys in (layout.phone, *layout.modules) for p in keys if p.policy]
            for p in placed:
                key = p.key
                item = (p.module, p.slot, p.number, p.line, str(key.type), key.value, key.label)
                digest.update(repr(item).encode())
        return digest.digest()

    def _directory(self, directory: tuple[DirectoryEntry, ...]) -> bytes:
        if not directory:
            return b"\0"  # shows an empty directory (or none): the same files either way
        found = self._directories.get(id(directory))
        if found is None:
            digest = hashlib.blake2b(digest_size=_DIGEST_SIZE)
            for entry in directory:
                digest.update(repr((entry.name, entry.user)).encode())
            found = self._directories[id(directory)] = (directory, digest.digest())
        return found[1]
