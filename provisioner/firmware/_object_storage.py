"""Firmware sets in S3-compatible object storage, with a verified local copy per node.

Several nodes share one database and one bucket. Ingestion is local first
(every check of :func:`provisioner.firmware.ingest`, into this node's cache
directory), then each file is uploaded as ``<prefix><key>/<path>`` with its
SHA-256, which the object store verifies. The set's database record is
written only after the last upload (by :class:`FirmwareLibrary`), so other
nodes never see a set whose objects are incomplete; a failed upload deletes
what it put, and a crash leaves unrecorded objects that :meth:`sweep`
removes.

Nodes serve from their cache (sendfile, mmap: the serving path is the same
as with local storage). :meth:`mirror` downloads the files of the given sets
that are missing locally, checks each against its recorded SHA-256 and
moves it into place atomically; a file that is not there yet is simply not
served (:meth:`local_path` answers ``None``), so a phone never receives part
of an image.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from provisioner.domain import FirmwareFile, FirmwareSet
from provisioner.errors import InputError
from provisioner.firmware._ingest import Ingested, Limits
from provisioner.firmware._s3 import Credentials, S3Client, S3Error
from provisioner.firmware._storage import LocalStorage, is_key, valid_key

__all__ = ["MirrorResult", "ObjectStorage", "storage_from_env"]

log = logging.getLogger("provisioner.firmware")


class MirrorResult(NamedTuple):
    """What one :meth:`ObjectStorage.mirror` pass did."""

    fetched: int
    failed: int


class ObjectStorage:
    """Sets as objects under ``prefix`` in a bucket, cached under ``cache``."""

    def __init__(self, client: S3Client, prefix: str, cache: Path) -> None:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.client = client
        self.prefix = prefix
        self.cache = LocalStorage(cache)

    def __repr__(self) -> str:
        return f"ObjectStorage({self.client!r}, prefix={self.prefix!r})"

    def _object(self, key: str, path: str) -> str:
        return f"{self.prefix}{valid_key(key)}/{path}"

    def ingest(self, source: Path, name: str, key: str, limits: Limits) -> Ingested:
        """Check the upload into the local cache, then upload every file (all or none)."""
        ingested = self.cache.ingest(source, name, key, limits)
        put: list[str] = []
        try:
            for f in ingested.files:
                stored = self._object(key, f.path)
                self.client.put_file(stored, self.cache.target(key, f.path), f.sha256)
                put.append(stored)
        except BaseException:
            self._delete(put)
            self.cache.remove(key)
            raise
        return ingested

    def local_path(self, key: str, path: str) -> Path | None:
        """This node's copy of a file, or ``None`` while it is not mirrored yet."""
        return self.cache.local_path(key, path)

    def read(self, key: str, path: str, limit: int) -> bytes:
        """The first ``limit`` bytes of a file (from the cache; ingestion just put it there)."""
        return self.cache.read(key, path, limit)

    def remove(self, key: str) -> None:
        """Delete a set's objects and this node's copy."""
        try:
            names = [o.key for o in self.client.list(f"{self.prefix}{valid_key(key)}/")]
        except S3Error as exc:  # unrecorded objects are deleted by a later sweep
            log.warning("event=firmware_delete_failed %s", exc)
            names = []
        self._delete(names)
        self.cache.remove(key)

    def _delete(self, names: list[str]) -> None:
        for name in names:
            try:
                self.client.delete(name)
            except S3Error as exc:  # the sweep retries what is left
                log.warning("event=firmware_delete_failed %s", exc)

    def sweep(self, keep: set[str], older_than: float) -> list[str]:
        """Delete unrecorded sets older than ``older_than`` seconds, in the bucket and here.

        The cache also loses sets that are no longer recorded (removed on
        another node).
        """
        removed = set(self.cache.sweep(keep, older_than))
        cutoff = time.time() - older_than
        stale: dict[str, list[str]] = {}
        young: set[str] = set()
        try:
            for item in self.client.list(self.prefix):
                key = item.key[len(self.prefix) :].split("/", 1)[0]
                if not is_key(key) or key in keep:
                    continue
                if item.modified < cutoff:
                    stale.setdefault(key, []).append(item.key)
                else:
                    young.add(key)
        except S3Error as exc:  # the bucket is unreachable now; the next sweep tries again
            log.warning("event=firmware_sweep_failed %s", exc)
            return sorted(removed)
        for key, names in stale.items():
            if key not in young:  # an upload still adding files is left alone
                self._delete(names)
                removed.add(key)
        return sorted(removed)

    def mirror(self, sets: Iterable[FirmwareSet], forget_after: float = 3600.0) -> MirrorResult:
        """Download the files of ``sets`` (every recorded set) missing from this node's cache.

        Blocking: run it in a thread. A file whose download fails or whose
        SHA-256 differs from the record is not put in place (and logged); the
        next pass tries again. Cached sets that are no longer recorded
        (removed on another node) and older than ``forget_after`` seconds
        are deleted here; the age spares an upload this node is ingesting.
        """
        sets = list(sets)
        self.cache.sweep({s.storage_key for s in sets}, forget_after)
        fetched = failed = 0
        for found in sets:
            for f in found.files:
                if self.cache.local_path(found.storage_key, f.path) is not None:
                    continue
                try:
                    self._fetch(found, f)
                    fetched += 1
                except S3Error as exc:
                    failed += 1
                    log.error("event=firmware_mirror_failed %s", exc)
        return MirrorResult(fetched, failed)

    def _fetch(self, found: FirmwareSet, f: FirmwareFile) -> None:
        """One file into the cache: temp file, SHA-256 checked, then renamed into place."""
        target = self.cache.target(found.storage_key, f.path)
        target.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=".fetch-")
        os.close(handle)
        temp = Path(name)
        try:
            digest = self.client.get_file(self._object(found.storage_key, f.path), temp)
            if digest != f.sha256:
                raise S3Error(
                    f"{found.vendor} set {found.label}: {f.path} has SHA-256 {digest} "
                    f"in the bucket, recorded {f.sha256}"
                )
            temp.chmod(0o640)
            temp.replace(target)
        finally:
            temp.unlink(missing_ok=True)


def storage_from_env(url: str, cache: Path, environ: Mapping[str, str]) -> ObjectStorage:
    """Object storage for ``s3://bucket[/prefix]``; endpoint and keys from the environment.

    ``PROVISIONER_S3_ENDPOINT`` (default AWS in the region),
    ``PROVISIONER_S3_REGION`` or ``AWS_REGION`` (default ``us-east-1``), and
    the usual ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and optional
    ``AWS_SESSION_TOKEN``. Keys are read from the environment only, so they
    appear in no command line, URL or log.
    """
    if not url.startswith("s3://"):
        raise InputError(f"invalid firmware store {url!r}: local (default) or s3://bucket/prefix")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise InputError(f"invalid firmware store {url!r}: no bucket")
    region = environ.get("PROVISIONER_S3_REGION") or environ.get("AWS_REGION") or "us-east-1"
    endpoint = environ.get("PROVISIONER_S3_ENDPOINT") or f"https://s3.{region}.amazonaws.com"
    access = environ.get("AWS_ACCESS_KEY_ID", "")
    secret = environ.get("AWS_SECRET_ACCESS_KEY", "")
    if not access or not secret:
        raise InputError(
            "an s3:// firmware store needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    credentials = Credentials(access, secret, environ.get("AWS_SESSION_TOKEN", ""))
    client = S3Client(endpoint, bucket, credentials, region)
    return ObjectStorage(client, prefix, cache)
