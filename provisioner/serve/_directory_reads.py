"""What a served phone reads of its tenant directory, as a compact digest.

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
"""

from __future__ import annotations

import hashlib

from provisioner.domain import DirectoryEntry
from provisioner.keylayout import phone_layout
from provisioner.resolve import DIRECTORY_SETTING, POLICY_SETTING, PhoneView

__all__ = ["DirectoryReads", "reads_directory"]

_DIGEST_SIZE = 16


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

    __slots__ = ("_directories", "_last")

    def __init__(self) -> None:
        # id → (the directory, kept alive so the id is not reused; its digest)
        self._directories: dict[int, tuple[tuple[DirectoryEntry, ...], bytes]] = {}
        # The last view digested: the cache asks once to decide and once to keep it.
        self._last: tuple[PhoneView, bytes] | None = None

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
