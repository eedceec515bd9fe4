"""Safe ingestion of uploaded firmware and device files (security goal 14).

Theory of operation
-------------------
An upload is either an archive (``.zip``, ``.tar.gz``/``.tgz``, ``.tar``) or
one image file (``.ld``, ``.rom``, ``.loads``, …). Its original file name
decides which; only that name's final segment is used, and it is validated
like any other name. :func:`ingest` turns the upload into a *set*: a
directory of regular files, each with its SHA-256, that appears at its
destination whole or not at all.

Every archive entry passes two gates:

1. **Its header**, before a byte of it is written. The name must be a plain
   relative path that means the same thing to every reader: no ``..``, no
   absolute path, no backslash, no drive letter or ``:``, no control
   character, no empty or ``.`` segment, nothing too long, and no duplicate,
   not even one that differs only in case or Unicode form (phones and TFTP
   servers may fold both). Only regular files and directories are accepted:
   no symbolic or hard links, devices, fifos, sparse files, encrypted zip
   entries or zip compression methods other than stored and deflate. The
   sizes it declares are checked against the :class:`Limits`. For a zip, every
   header is checked before anything is written.
2. **Its bytes**, in chunks of 1 MiB as they are decompressed. The limits are
   enforced on the bytes actually produced, never on what a header declared
   (a zip bomb lies), and the SHA-256 is computed on the same chunks, so
   memory stays bounded whatever the size of the upload.

Truncated or damaged uploads are refused rather than half-read: tar headers
must be intact up to the end-of-archive marker, the gzip stream is read to
its end so its CRC and length are checked, and zip entries are checked
against their CRC.

Nothing is extracted by :mod:`zipfile` or :mod:`tarfile` themselves: each
file is created here, under a path built from the validated name, inside a
fresh staging directory beside the destination. Only when every entry has
passed and every file and directory is synced does one ``rename`` make the
set appear. Any refusal removes the staging directory, so a refused upload
leaves nothing behind.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import struct
import tarfile
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import BinaryIO, Final, Literal, Protocol, Self

from provisioner.catalog import builtin_firmware_suffixes
from provisioner.errors import ProvisionerError

__all__ = [
    "ARCHIVE_SUFFIXES",
    "IngestError",
    "Ingested",
    "IngestedFile",
    "Limits",
    "ingest",
]

ARCHIVE_SUFFIXES: Final = (".zip", ".tar.gz", ".tgz", ".tar")
_CHUNK = 1 << 20
_FILE_MODE = 0o640  # group-readable for the serving daemon, never world-readable
_DIR_MODE = 0o750
# tarfile reads pax and GNU long-name headers whole into memory; a real one
# holds a path and a few attributes.
_MAX_TAR_HEADER_BYTES = 1 << 20
# zipfile reads the whole central directory into memory and builds one
# object per entry before any entry can be checked; this bounds it per
# allowed entry (a real entry takes 46 bytes plus its name and a few extras).
_ZIP_DIRECTORY_BYTES_PER_ENTRY = 1024
_ZIP_ENCRYPTED = 0x1  # general purpose flag bit 0 (APPNOTE 4.4.4)
_ZIP_METHODS: Final = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_DRIVE = re.compile(r"[A-Za-z]:")

# End-of-central-directory records (APPNOTE 4.3.14-4.3.16), read the way
# zipfile reads them so both agree on the directory's size.
_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"

_TAR_TYPES: Final = {
    tarfile.SYMTYPE: "symbolic link",
    tarfile.LNKTYPE: "hard link",
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "fifo",
    tarfile.CONTTYPE: "contiguous file",
    tarfile.GNUTYPE_SPARSE: "sparse file",
}
_TAR_HEADER_TYPES: Final = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)

# What reading a damaged upload raises; the writer turns its own OSErrors
# into IngestError first, so an OSError here comes from reading.
_READ_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    EOFError,
    OSError,
    struct.error,
    UnicodeDecodeError,
    NotImplementedError,
)

_Kind = Literal["zip", "tar", "tar.gz", "image"]


class IngestError(ProvisionerError):
    """The upload was refused; the message names the entry and the rule it broke."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one upload may expand to.

    Sizes are counted on the bytes actually written. The ratio is
    uncompressed / compressed, per zip entry and for the whole upload (a
    tar.gz is one compressed stream, so only the whole counts); a file or
    upload may always expand to ``ratio_floor_bytes``, because tiny files
    compress absurdly well and cannot hurt. ``max_files`` counts every entry,
    directory entries included: each one costs a header to parse and memory
    to track.
    """

    max_total_bytes: int = 1 << 30  # sum of the files' sizes
    max_files: int = 10_000
    max_file_bytes: int = 512 << 20
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 1 << 20
    max_name_bytes: int = 255  # per path segment, in UTF-8
    max_path_bytes: int = 1024
    # What a single-file upload may be called: the vendors' file name endings
    # (each family's [firmware] file_suffixes); ``None``: the built-in catalog's.
    image_suffixes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for limit in fields(self):
            value = getattr(self, limit.name)
            if isinstance(value, int | float) and value <= 0:
                raise ValueError(f"Limits.{limit.name} must be positive")


@dataclass(frozen=True, slots=True)
class IngestedFile:
    """One file of an ingested set."""

    path: str  # normalised relative POSIX path inside the set, e.g. "Config/site.cfg"
    size: int
    sha256: str  # hex


@dataclass(frozen=True, slots=True)
class Ingested:
    """What :func:`ingest` put at the destination."""

    files: tuple[IngestedFile, ...]  # sorted by path
    total_bytes: int
    # The upload as received, to compare with the checksum a vendor publishes.
    upload_sha256: str


@dataclass(frozen=True, slots=True)
class _Entry:
    raw: str  # the name as the archive spells it, for messages
    name: str  # the same without a directory's trailing slash; not yet validated
    is_dir: bool
    size: int  # declared by the header: checked, never trusted
    compressed: int | None  # the entry's compressed size where the format has one (zip)


class _Reader(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def ingest(source: Path, name: str, destination: Path, limits: Limits = Limits()) -> Ingested:
    """Turn the upload at ``source`` into a verified file set at ``destination``.

    ``name`` is the upload's original file name: its extension decides
    between an archive (:data:`ARCHIVE_SUFFIXES`) and a single image
    (``limits.image_suffixes``); any path part is ignored. ``destination`` must
    not exist; its parent must, on the filesystem where the set is staged.
    The set appears with one rename once everything is written and synced.

    Raises :class:`IngestError` for a refused upload (and for a failed write,
    such as a full disk), with nothing left at ``destination`` or beside it.
    ``OSError`` means the server's side is broken: ``source`` or the parent
    cannot be opened, or, after the set appeared, the parent cannot be synced.
    """
    upload = _upload_name(name, limits)
    suffixes = limits.image_suffixes
    kind = _kind(upload, suffixes if suffixes is not None else builtin_firmware_suffixes())
    if os.path.lexists(destination):
        raise IngestError(f"{destination.name!r} already exists; a set is never replaced")
    with open(source, "rb") as handle:
        upload_size = os.fstat(handle.fileno()).st_size
        upload_sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
        handle.seek(0)
        # Beside the destination, so the final rename stays on one filesystem;
        # hidden, and named so a sweep after a crash can find it.
        staging = Path(tempfile.mkdtemp(prefix=".ingest-", dir=destination.parent))
        try:
            os.chmod(staging, _DIR_MODE)
            writer = _SetWriter(staging, limits, upload, upload_size)
            try:
                _READERS[kind](handle, writer)
            except _READ_ERRORS as exc:
                raise writer.corrupt(exc) from exc
            files = writer.finish()
            _publish(staging, destination)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    _fsync_dir(destination.parent)  # make the rename itself durable
    return Ingested(files, sum(f.size for f in files), upload_sha256)


def _name_problem(name: str, limits: Limits) -> str | None:
    """Why ``name`` is not a safe relative POSIX path, or ``None``."""
    if not name:
        return "empty name"
    if "\x00" in name:
        return "NUL character in name"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):
        return "control character in name"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:  # tarfile keeps undecodable bytes as surrogates
        return "name is not valid UTF-8"
    if "\\" in name:
        return "backslash in name (a Windows path separator)"
    if name.startswith("/"):
        return "absolute path"
    if _DRIVE.match(name):
        return "drive letter"
    if ":" in name:
        return "':' in name (a drive or stream separator elsewhere)"
    segments = name.split("/")
    if ".." in segments:
        return "parent directory reference '..'"
    if "" in segments:
        return "empty path segment"
    if "." in segments:
        return "'.' path segment"
    if any(len(s.encode("utf-8")) > limits.max_name_bytes for s in segments):
        return f"path segment longer than {limits.max_name_bytes} bytes"
    if len(encoded) > limits.max_path_bytes:
        return f"path longer than {limits.max_path_bytes} bytes"
    return None


def _upload_name(name: str, limits: Limits) -> str:
    # The client's path is meaningless here and may be hostile; keep the name.
    base = re.split(r"[/\\]", name)[-1]
    problem = _name_problem(base, limits)
    if problem is not None:
        raise IngestError(f"upload name {name!r}: {problem}")
    return base


def _kind(upload: str, image_suffixes: tuple[str, ...]) -> _Kind:
    lower = upload.lower()
    if lower.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if lower.endswith(".tar"):
        return "tar"
    if lower.endswith(".zip"):
        return "zip"
    if os.path.splitext(lower)[1] in image_suffixes:
        return "image"
    accepted = ", ".join(ARCHIVE_SUFFIXES + image_suffixes)
    raise IngestError(f"upload {upload!r}: unknown file type; accepted: {accepted}")


def _allowance(limits: Limits, compressed: int) -> float:
    """How many bytes ``compressed`` bytes may expand to."""
    return max(float(limits.ratio_floor_bytes), limits.max_ratio * compressed)


def _fold(path: str) -> str:
    """The key under which two paths name the same file for a lenient reader."""
    return unicodedata.normalize("NFC", path).casefold()


def _differs(path: str, other: str) -> str:
    how = "case" if path.casefold() == other.casefold() else "case or Unicode form"
    return f"{path!r} differs only in {how} from {other!r}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(staging: Path, destination: Path) -> None:
    try:
        os.rename(staging, destination)
    except OSError as exc:
        # The label was claimed since the check. rename() refuses to replace
        # a non-empty directory (any set) and replaces only an empty one,
        # which holds nothing to lose.
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            raise IngestError(
                f"{destination.name!r} already exists; a set is never replaced"
            ) from exc
        raise IngestError(f"cannot move the set into place: {exc.strerror}") from exc


class _Counted(io.BufferedIOBase):
    """A read-only stream that reports every byte read through it."""

    def __init__(self, inner: _Reader, count: Callable[[int], None]) -> None:
        super().__init__()
        self._inner = inner
        self._count = count

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        data = self._inner.read(-1 if size is None else size)
        self._count(len(data))
        return data


class _SetWriter:
    """Checks entries against the rules and limits and writes them under ``root``."""

    def __init__(self, root: Path, limits: Limits, upload: str, upload_size: int) -> None:
        self.root = root
        self.limits = limits
        self.upload = upload
        self.upload_size = upload_size
        self.current: str | None = None  # the entry being written, for read errors
        self._entries = 0
        self._declared = 0  # sum of the sizes headers declared
        self._written = 0  # sum of the bytes actually written
        self._expanded = 0  # bytes read out of the upload's compression
        self._files: dict[str, str] = {}  # folded path → path
        self._dirs: dict[str, str] = {}  # folded path → first spelling
        self._made: dict[Path, None] = {root: None}  # directories created, to sync
        self._results: list[IngestedFile] = []

    def refuse(self, raw: str | None, why: str) -> IngestError:
        """An error naming the entry (or, without one, the upload)."""
        where = f"entry {raw!r}" if raw is not None else f"upload {self.upload!r}"
        return IngestError(f"{where}: {why}")

    def corrupt(self, exc: BaseException) -> IngestError:
        """The error for an upload that could not be read to its end."""
        return self.refuse(self.current, f"corrupt or truncated archive ({exc})")

    def admit(self, entry: _Entry) -> str:
        """Check one entry's header before its bytes; returns its normalised path."""
        self._entries += 1
        if self._entries > self.limits.max_files:
            raise self.refuse(entry.raw, f"more than {self.limits.max_files} entries")
        if entry.is_dir and entry.name == ".":
            return "."  # the set's root, as ``tar -C dir .`` lists it
        # ``tar -C dir .`` also starts every name with "./": harmless, so
        # dropped once; a "." anywhere else is refused.
        path = entry.name.removeprefix("./")
        problem = _name_problem(path, self.limits)
        if problem is not None:
            raise self.refuse(entry.raw, problem)
        self._claim_parents(path, entry.raw)
        if entry.is_dir:
            if entry.size:
                raise self.refuse(entry.raw, "directory entry with data")
            self._claim_dir(path, entry.raw)
            return path
        key = _fold(path)
        if key in self._dirs:
            raise self.refuse(entry.raw, f"{path!r} is also a directory")
        other = self._files.get(key)
        if other is not None:
            how = "duplicate path" if other == path else _differs(path, other)
            raise self.refuse(entry.raw, how)
        self._files[key] = path
        self._declared += entry.size
        self._check(entry, entry.size, self._declared, streamed=False)
        if self._declared > _allowance(self.limits, self.upload_size):
            raise self.refuse(entry.raw, self._ratio_problem("the upload's", self.upload_size))
        return path

    def expand(self, count: int) -> None:
        """Count bytes read out of the upload's compression, against the overall ratio."""
        self._expanded += count
        if self._expanded > _allowance(self.limits, self.upload_size):
            raise self.refuse(self.current, self._ratio_problem("the upload's", self.upload_size))

    def write(self, path: str, entry: _Entry, stream: _Reader) -> None:
        """Stream one admitted file into place, counting and hashing as it goes."""
        self.current = entry.raw
        fd = self._create(path, entry.raw)
        digest = hashlib.sha256()
        size = 0
        try:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                self._written += len(chunk)
                self._check(entry, size, self._written, streamed=True)
                digest.update(chunk)
                self._output(fd, chunk, path, entry.raw)
            self._output(fd, b"", path, entry.raw, sync=True)
        finally:
            os.close(fd)
        self._results.append(IngestedFile(path, size, digest.hexdigest()))
        self.current = None

    def finish(self) -> tuple[IngestedFile, ...]:
        """Sync every directory; returns the files sorted by path."""
        if not self._results:
            raise self.refuse(None, "no files in the upload")
        try:
            for directory in reversed(self._made):
                _fsync_dir(directory)
        except OSError as exc:
            raise self.refuse(None, f"cannot sync the set: {exc.strerror}") from exc
        return tuple(sorted(self._results, key=lambda f: f.path))

    def _check(self, entry: _Entry, size: int, total: int, *, streamed: bool) -> None:
        limits = self.limits
        amount = f"yields {size} bytes so far" if streamed else f"declares {size} bytes"
        if size > limits.max_file_bytes:
            raise self.refuse(
                entry.raw, f"{amount}, over the limit of {limits.max_file_bytes} per file"
            )
        if total > limits.max_total_bytes:
            raise self.refuse(
                entry.raw,
                f"{amount}, taking the set to {total}, over the limit of "
                f"{limits.max_total_bytes} in all",
            )
        if entry.compressed is not None and size > _allowance(limits, entry.compressed):
            raise self.refuse(entry.raw, self._ratio_problem("its", entry.compressed))

    def _ratio_problem(self, whose: str, compressed: int) -> str:
        return (
            f"expands past {self.limits.max_ratio:g} times {whose} {compressed} compressed "
            f"bytes (compression ratio limit; a zip bomb?)"
        )

    def _claim_parents(self, path: str, raw: str) -> None:
        parts = path.split("/")
        for end in range(1, len(parts)):
            self._claim_dir("/".join(parts[:end]), raw)

    def _claim_dir(self, path: str, raw: str) -> None:
        key = _fold(path)
        if key in self._files:
            raise self.refuse(raw, f"{self._files[key]!r} is both a file and a directory")
        known = self._dirs.setdefault(key, path)
        if known != path:
            raise self.refuse(raw, f"directory {_differs(path, known)}")

    def _create(self, path: str, raw: str) -> int:
        parts = path.split("/")
        try:
            for end in range(1, len(parts)):
                directory = self.root.joinpath(*parts[:end])
                if directory not in self._made:
                    os.mkdir(directory, _DIR_MODE)
                    os.chmod(directory, _DIR_MODE)  # mkdir's mode is filtered by the umask
                    self._made[directory] = None
            # O_EXCL and O_NOFOLLOW: a second line of defence behind the
            # duplicate check; nothing in a fresh staging directory may be
            # overwritten or followed.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(self.root.joinpath(*parts), flags, _FILE_MODE)
            os.fchmod(fd, _FILE_MODE)
        except OSError as exc:
            raise self.refuse(raw, f"cannot create {path!r}: {exc.strerror}") from exc
        return fd

    def _output(self, fd: int, chunk: bytes, path: str, raw: str, *, sync: bool = False) -> None:
        try:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        except OSError as exc:
            raise self.refuse(raw, f"cannot write {path!r}: {exc.strerror}") from exc


def _read_image(handle: BinaryIO, writer: _SetWriter) -> None:
    entry = _Entry(writer.upload, writer.upload, False, writer.upload_size, None)
    writer.write(writer.admit(entry), entry, handle)


def _zip_directory_size(handle: BinaryIO, size: int) -> int | None:
    """The central directory's size as zipfile will read it, or ``None`` if there is none."""
    tail_start = max(size - _EOCD.size - 0xFFFF - 1, 0)
    handle.seek(tail_start)
    tail = handle.read()
    at = len(tail) - _EOCD.size
    if not (at >= 0 and tail.startswith(_EOCD_SIGNATURE, at) and tail.endswith(b"\0\0")):
        at = tail.rfind(_EOCD_SIGNATURE)  # a record followed by an archive comment
        if at < 0 or at + _EOCD.size > len(tail):
            return None
    directory_size: int = _EOCD.unpack_from(tail, at)[5]
    zip64_at = tail_start + at - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size
    if zip64_at >= 0:
        handle.seek(zip64_at)
        record = handle.read(_ZIP64_EOCD.size + _ZIP64_LOCATOR.size)
        locator = record[_ZIP64_EOCD.size : _ZIP64_EOCD.size + 4]
        if record.startswith(_ZIP64_EOCD_SIGNATURE) and locator == _ZIP64_LOCATOR_SIGNATURE:
            directory_size = _ZIP64_EOCD.unpack_from(record)[8]
    return directory_size


def _zip_entry(info: zipfile.ZipInfo) -> _Entry:
    raw = info.orig_filename  # zipfile's ``filename`` is cut at the first NUL
    mode = info.external_attr >> 16  # Unix mode, when the creator stored one
    refused = None
    if stat.S_ISLNK(mode):
        refused = "symbolic link"
    elif stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        refused = "special file (device, fifo or socket)"
    elif info.flag_bits & _ZIP_ENCRYPTED:
        refused = "encrypted entry"
    elif info.compress_type not in _ZIP_METHODS:
        # bzip2 and LZMA members are decompressed by zipfile without an
        # output bound, so one read can expand to gigabytes.
        refused = f"compression method {info.compress_type} (only stored and deflate)"
    if refused is not None:
        raise IngestError(f"entry {raw!r}: {refused} refused")
    is_dir = raw.endswith("/")
    name = raw[:-1] if is_dir else raw
    return _Entry(raw, name, is_dir, info.file_size, info.compress_size)


def _read_zip(handle: BinaryIO, writer: _SetWriter) -> None:
    directory_size = _zip_directory_size(handle, writer.upload_size)
    limit = writer.limits.max_files * _ZIP_DIRECTORY_BYTES_PER_ENTRY
    if directory_size is not None and directory_size > limit:
        raise writer.refuse(
            None, f"zip directory of {directory_size} bytes is too large for the entry limit"
        )
    with zipfile.ZipFile(handle) as archive:
        # Every header is checked before the first byte is written.
        admitted = []
        for info in archive.infolist():
            entry = _zip_entry(info)
            admitted.append((writer.admit(entry), entry, info))
        for path, entry, info in admitted:
            if not entry.is_dir:
                with archive.open(info) as member:
                    writer.write(path, entry, _Counted(member, writer.expand))


class _StrictTarInfo(tarfile.TarInfo):
    """Header parsing that refuses what :meth:`tarfile.TarFile.next` would let pass.

    ``next()`` takes a damaged or truncated header after the first one, and
    an end of file without the end-of-archive marker, for the end of the
    archive: half a set would be ingested. Only the marker (a zero block) may
    end an archive here.
    """

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        try:
            info = super().frombuf(buf, encoding, errors)
        except tarfile.HeaderError as exc:
            if len(buf) == tarfile.BLOCKSIZE and not any(buf):
                raise  # the end-of-archive marker: next() ends the archive
            # Not a HeaderError any more, so next() passes it on.
            raise tarfile.ReadError(f"bad tar header: {exc}") from exc
        if info.type in _TAR_HEADER_TYPES and info.size > _MAX_TAR_HEADER_BYTES:
            raise tarfile.ReadError(f"extended tar header of {info.size} bytes")
        return info


def _tar_entry(info: tarfile.TarInfo) -> _Entry:
    raw = info.name
    if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE) and info.sparse is None:
        return _Entry(raw, raw, False, info.size, None)
    if info.type == tarfile.DIRTYPE:
        return _Entry(raw + "/", raw, True, info.size, None)
    what = "sparse file" if info.sparse is not None else _TAR_TYPES.get(info.type)
    what = what or f"entry type {info.type!r}"
    raise IngestError(f"entry {raw!r}: {what} refused (only regular files and directories)")


def _read_tar(source: _Reader, writer: _SetWriter, *, to_end: bool) -> None:
    stream = _Counted(source, writer.expand)
    # Stream mode ("r|"): one forward pass, and an explicit compression so
    # tarfile never guesses one from the content.
    with tarfile.open(
        fileobj=stream, mode="r|", tarinfo=_StrictTarInfo, bufsize=_CHUNK, encoding="utf-8"
    ) as archive:
        for info in archive:
            entry = _tar_entry(info)
            path = writer.admit(entry)
            if not entry.is_dir:
                member = archive.extractfile(info)
                assert member is not None  # regular files always have data
                writer.write(path, entry, member)
    if to_end:
        # tarfile stops at the end-of-archive marker; reading on to the end of
        # a gzip stream makes gzip check its CRC and length. What follows the
        # marker still counts towards the ratio.
        while stream.read(_CHUNK):
            pass


def _read_tar_plain(handle: BinaryIO, writer: _SetWriter) -> None:
    _read_tar(handle, writer, to_end=False)


def _read_tar_gz(handle: BinaryIO, writer: _SetWriter) -> None:
    with gzip.GzipFile(fileobj=handle, mode="rb") as unzipped:
        _read_tar(unzipped, writer, to_end=True)


_READERS: Final[dict[_Kind, Callable[[BinaryIO, _SetWriter], None]]] = {
    "zip": _read_zip,
    "tar": _read_tar_plain,
    "tar.gz": _read_tar_gz,
    "image": _read_image,
}
