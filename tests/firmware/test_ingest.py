"""Firmware ingestion: accepted sets, every refusal, and what a refusal leaves behind.

Every archive is built here with zipfile/tarfile (and a few byte patches for
what those refuse to write). Each refusal is checked for a message naming
the entry and the rule, and for an empty parent directory afterwards: no
set, no staging leftovers.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import stat
import struct
import tarfile
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.firmware import Ingested, IngestError, Limits, ingest
from provisioner.firmware._ingest import _Entry, _SetWriter

Member = tuple[str | zipfile.ZipInfo, bytes]
TarMember = tuple[tarfile.TarInfo, bytes]
TarMode = Literal["w", "w:gz"]


@pytest.fixture
def parent(tmp_path: Path) -> Path:
    """The directory sets appear in; uploads live elsewhere."""
    path = tmp_path / "firmware"
    path.mkdir()
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(path: Path, members: Sequence[Member], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns on duplicate names
        with zipfile.ZipFile(path, "w", method) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return path


def file_info(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE) -> TarMember:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info, data


def make_tar(path: Path, members: list[TarMember], mode: TarMode = "w:gz") -> Path:
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def tar_bytes(members: list[TarMember]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def patch_central(data: bytes, name: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite one field of ``name``'s central directory header (APPNOTE 4.3.12)."""
    header = data.rindex(name) - 46  # the central directory follows the local headers
    assert data[header : header + 4] == b"PK\x01\x02"
    patched = bytearray(data)
    struct.pack_into(fmt, patched, header + offset, value)
    return bytes(patched)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative POSIX path."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def written() -> int:
    """Bytes this process has passed to write() so far (Linux /proc/self/io)."""
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        pytest.skip("/proc/self/io is not available")
    return next(int(line.split()[1]) for line in text.splitlines() if line.startswith("wchar:"))


def refuse(
    source: Path, name: str, parent: Path, *fragments: str, limits: Limits | None = None
) -> str:
    """Ingest, expect a refusal whose message holds every fragment, and nothing left behind."""
    with pytest.raises(IngestError) as caught:
        ingest(source, name, parent / "v1", limits or Limits())
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert list(parent.iterdir()) == [], "a refused upload left something behind"
    return message


def check_set(result: Ingested, destination: Path, expected: dict[str, bytes]) -> None:
    """The set is exactly ``expected``, with right hashes and modes."""
    assert tree(destination) == expected
    assert [f.path for f in result.files] == sorted(expected)
    for file in result.files:
        assert file.size == len(expected[file.path])
        assert file.sha256 == sha(expected[file.path])
        assert stat.S_IMODE(os.lstat(destination / file.path).st_mode) == 0o640
    assert result.total_bytes == sum(len(data) for data in expected.values())
    for directory in [destination, *(p for p in destination.rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(os.lstat(directory).st_mode) == 0o750
    assert not any(p.is_symlink() for p in destination.rglob("*"))


GOOD = {
    "2345-12600-001.sip.ld": os.urandom(300_000),
    "sip.ver": b"4.0.15.1009\n",
    "Config/site.cfg": b"<polycomConfig/>\n" * 50,
    "Config/sub/features.xml": b"<features/>",
    "T46S(T48S,T42S,T41S)-66.86.0.15.rom": os.urandom(5000),
    "inner.zip": b"PK\x05\x06" + bytes(18),  # a nested archive stays a plain file
    "empty.txt": b"",
}


# --- accepted uploads --------------------------------------------------------------


def test_zip_with_nested_directories(tmp_path: Path, parent: Path) -> None:
    members: list[Member] = [("Config/", b""), *GOOD.items()]
    source = make_zip(tmp_path / "upload", members)
    result = ingest(source, "polycom-4.0.15.zip", parent / "v1")
    check_set(result, parent / "v1", GOOD)
    assert result.upload_sha256 == sha(source.read_bytes())
    assert [p.name for p in parent.iterdir()] == ["v1"]  # no staging directory left


def test_tar_gz_with_directory_entries(tmp_path: Path, parent: Path) -> None:
    members = [file_info("Config", kind=tarfile.DIRTYPE), file_info("Config/sub/", kind=b"5")]
    members += [file_info(name, data) for name, data in GOOD.items()]
    source = make_tar(tmp_path / "upload", members)
    result = ingest(source, "fw.tgz", parent / "v1")
    check_set(result, parent / "v1", GOOD)
    assert [p.name for p in parent.iterdir()] == ["v1"]


def test_plain_tar(tmp_path: Path, parent: Path) -> None:
    source = make_tar(tmp_path / "upload", [file_info(n, d) for n, d in GOOD.items()], "w")
    check_set(ingest(source, "fw.TAR", parent / "v1"), parent / "v1", GOOD)


def test_single_image_keeps_only_the_final_name(tmp_path: Path, parent: Path) -> None:
    data = os.urandom(100_000)
    source = tmp_path / "upload"
    source.write_bytes(data)
    result = ingest(source, "C:\\Users\\admin\\Downloads\\3111-46162-001.sip.ld", parent / "v1")
    check_set(result, parent / "v1", {"3111-46162-001.sip.ld": data})
    assert result.upload_sha256 == sha(data)


def test_leading_dot_slash_of_tar_c_dir_dot(tmp_path: Path, parent: Path) -> None:
    # `tar -C dir -czf fw.tgz .` lists "./" and starts every name with "./".
    members = [file_info("./", kind=tarfile.DIRTYPE), file_info("./Config/", kind=b"5")]
    members += [file_info(f"./{name}", data) for name, data in GOOD.items()]
    source = make_tar(tmp_path / "upload", members)
    check_set(ingest(source, "fw.tgz", parent / "v1"), parent / "v1", GOOD)


def test_modes_do_not_depend_on_the_umask(tmp_path: Path, parent: Path) -> None:
    source = make_zip(tmp_path / "upload", list(GOOD.items()))
    previous = os.umask(0o077)
    try:
        result = ingest(source, "fw.zip", parent / "v1")
    finally:
        os.umask(previous)
    check_set(result, parent / "v1", GOOD)


def test_small_files_may_compress_beyond_the_ratio(tmp_path: Path, parent: Path) -> None:
    # 100 KB of padding deflates ~1000:1, but stays under ratio_floor_bytes.
    source = make_zip(tmp_path / "upload", [("pad.bin", bytes(100_000))])
    check_set(ingest(source, "fw.zip", parent / "v1"), parent / "v1", {"pad.bin": bytes(100_000)})


# --- names ---------------------------------------------------------------------

BAD_NAMES = [
    ("../x", "'..'"),
    ("a/../../x", "'..'"),
    ("/etc/x", "absolute path"),
    ("..\\x", "backslash"),
    ("C:/x", "drive letter"),
    ("c:x", "drive letter"),
    ("fw:stream", "':'"),
    ("a\x01b", "control character"),
    ("a/\x7fb", "control character"),
    ("a//b", "empty path segment"),
    ("a/./b", "'.' path segment"),
    ("././b", "'.' path segment"),
    ("./../b", "'..'"),
    ("x" * 256, "longer than 255 bytes"),
    ("/".join(["y" * 200] * 6), "path longer than 1024 bytes"),
]


@pytest.mark.parametrize(("name", "rule"), BAD_NAMES)
def test_zip_name_refused(tmp_path: Path, parent: Path, name: str, rule: str) -> None:
    source = make_zip(tmp_path / "upload", [("ok.ld", b"ok"), (name, b"payload")])
    refuse(source, "fw.zip", parent, repr(name), rule)


@pytest.mark.parametrize(("name", "rule"), BAD_NAMES)
def test_tar_name_refused(tmp_path: Path, parent: Path, name: str, rule: str) -> None:
    source = make_tar(tmp_path / "upload", [file_info("ok.ld", b"ok"), file_info(name, b"x")])
    refuse(source, "fw.tar.gz", parent, repr(name), rule)


def test_nul_in_zip_name(tmp_path: Path, parent: Path) -> None:
    # zipfile cuts names at a NUL (its ``filename``), so "evil.ld\0.txt" would
    # pass as "evil.ld"; the raw name must be checked.
    data = make_zip(tmp_path / "upload", [("evil.ldX.txt", b"x")]).read_bytes()
    (tmp_path / "upload").write_bytes(data.replace(b"evil.ldX.txt", b"evil.ld\0.txt"))
    refuse(tmp_path / "upload", "fw.zip", parent, repr("evil.ld\0.txt"), "NUL")


def test_nul_in_tar_name(tmp_path: Path, parent: Path) -> None:
    info, data = file_info("placeholder", b"x")
    info.pax_headers = {"path": "evil.ld\0.txt"}
    source = make_tar(tmp_path / "upload", [(info, data)])
    refuse(source, "fw.tgz", parent, repr("evil.ld\0.txt"), "NUL")


def test_undecodable_tar_name(tmp_path: Path, parent: Path) -> None:
    # A Latin-1 name: tarfile keeps the byte it cannot decode as a surrogate.
    source = tmp_path / "upload"
    options = {"format": tarfile.GNU_FORMAT, "encoding": "utf-8", "errors": "surrogateescape"}
    with tarfile.open(source, "w", **options) as archive:  # type: ignore[call-overload]
        info, data = file_info("caf\udce9.ld", b"x")
        archive.addfile(info, io.BytesIO(data))
    refuse(source, "fw.tar", parent, "'caf\\udce9.ld'", "not valid UTF-8")


@pytest.mark.parametrize(
    ("names", "rule"),
    [
        (["sip.ld", "sip.ld"], "duplicate path"),
        (["SIP.ld", "sip.ld"], "'sip.ld' differs only in case from 'SIP.ld'"),
        (["Config/a.cfg", "config/b.cfg"], "'config' differs only in case from 'Config'"),
        (["caf\u00e9.ld", "cafe\u0301.ld"], "differs only in case or Unicode form"),
        (["a", "a/b"], "both a file and a directory"),
        (["a/b", "a"], "is also a directory"),
    ],
)
def test_duplicates_refused(tmp_path: Path, parent: Path, names: list[str], rule: str) -> None:
    zipped = make_zip(tmp_path / "upload.zip", [(n, b"x") for n in names])
    refuse(zipped, "fw.zip", parent, repr(names[1]), rule)
    tarred = make_tar(tmp_path / "upload.tgz", [file_info(n, b"x") for n in names])
    refuse(tarred, "fw.tgz", parent, repr(names[1]), rule)


@pytest.mark.parametrize("name", ["..", ".", "", "dir/", "fw\0.ld", "C:fw.ld", "\\\\host\\"])
def test_upload_name_refused(tmp_path: Path, parent: Path, name: str) -> None:
    source = tmp_path / "upload"
    source.write_bytes(b"x")
    refuse(source, name, parent, "upload name", repr(name))


def test_single_file_names_come_from_the_catalog(tmp_path: Path, parent: Path) -> None:
    # The accepted endings are the families' [firmware] file_suffixes: a
    # catalog that names ".foo" takes "x.foo" and, naming only that, no ".ld".
    source = tmp_path / "upload"
    source.write_bytes(b"x")
    limits = Limits(image_suffixes=(".foo",))
    check_set(ingest(source, "x.foo", parent / "v1", limits), parent / "v1", {"x.foo": b"x"})
    other = tmp_path / "other"
    other.mkdir()
    refuse(source, "sip.ld", other, "unknown file type; accepted: .zip", limits=limits)


@pytest.mark.parametrize("name", ["fw.exe", "fw.gz", "fw.rar", "fw", "fw.zip.exe", ".ld"])
def test_unknown_extension(tmp_path: Path, parent: Path, name: str) -> None:
    source = tmp_path / "upload"
    source.write_bytes(b"x")
    refuse(source, name, parent, repr(name), "unknown file type")


# --- entry types -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        (tarfile.SYMTYPE, "symbolic link"),
        (tarfile.LNKTYPE, "hard link"),
        (tarfile.CHRTYPE, "character device"),
        (tarfile.BLKTYPE, "block device"),
        (tarfile.FIFOTYPE, "fifo"),
        (tarfile.CONTTYPE, "contiguous file"),
        (b"Z", "entry type"),  # unknown types, which tarfile reads as regular files
    ],
)
def test_tar_special_entries_refused(tmp_path: Path, parent: Path, kind: bytes, what: str) -> None:
    info, _ = file_info("special", kind=kind)
    info.linkname = "/etc/passwd"
    source = make_tar(tmp_path / "upload", [file_info("ok.ld", b"ok"), (info, b"")])
    refuse(source, "fw.tgz", parent, "'special'", what)


def test_tar_sparse_file_refused(tmp_path: Path, parent: Path) -> None:
    info, data = file_info("sparse.bin", b"x" * 512)
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "sparse.bin",
        "GNU.sparse.realsize": str(1 << 40),  # a terabyte of holes from 512 bytes
    }
    info.size = 1024  # the sparse map block, then the data
    source = make_tar(tmp_path / "upload", [(info, b"1\n0\n512\n".ljust(512, b"\0") + data)])
    refuse(source, "fw.tgz", parent, "'sparse.bin'", "sparse file")


@pytest.mark.parametrize(
    ("mode", "what"),
    [(stat.S_IFLNK | 0o777, "symbolic link"), (stat.S_IFIFO | 0o644, "special file")],
)
def test_zip_special_entries_refused(tmp_path: Path, parent: Path, mode: int, what: str) -> None:
    info = zipfile.ZipInfo("link.ld")
    info.create_system = 3  # Unix
    info.external_attr = mode << 16
    source = make_zip(tmp_path / "upload", [("ok.ld", b"ok"), (info, b"/etc/passwd")])
    refuse(source, "fw.zip", parent, "'link.ld'", what)


def test_encrypted_zip_entry_refused(tmp_path: Path, parent: Path) -> None:
    data = make_zip(tmp_path / "upload", [("secret.ld", b"x" * 100)]).read_bytes()
    (tmp_path / "upload").write_bytes(patch_central(data, b"secret.ld", 8, "<H", 0x1))
    refuse(tmp_path / "upload", "fw.zip", parent, "'secret.ld'", "encrypted")


def test_bzip2_zip_entry_refused(tmp_path: Path, parent: Path) -> None:
    source = make_zip(tmp_path / "upload", [("fw.ld", b"x" * 100)], zipfile.ZIP_BZIP2)
    refuse(source, "fw.zip", parent, "'fw.ld'", "compression method 12")


def test_archive_without_files_refused(tmp_path: Path, parent: Path) -> None:
    source = make_zip(tmp_path / "upload", [("Config/", b""), ("Config/sub/", b"")])
    refuse(source, "fw.zip", parent, "'fw.zip'", "no files")


# --- limits ----------------------------------------------------------------------


def test_too_many_files(tmp_path: Path, parent: Path) -> None:
    limits = Limits(max_files=3)
    members = [(f"f{i}.ld", b"x") for i in range(4)]
    zipped = make_zip(tmp_path / "u.zip", members)
    refuse(zipped, "fw.zip", parent, "'f3.ld'", "more than 3 entries", limits=limits)
    tarred = make_tar(tmp_path / "u.tgz", [file_info(n, d) for n, d in members])
    refuse(tarred, "fw.tgz", parent, "'f3.ld'", "more than 3 entries", limits=limits)


def test_zip_directory_too_large_for_the_entry_limit(tmp_path: Path, parent: Path) -> None:
    # zipfile would build an object per entry before any could be counted.
    members = [(f"{i:04d}-" + "n" * 200, b"") for i in range(50)]
    source = make_zip(tmp_path / "upload", members)
    refuse(source, "fw.zip", parent, "'fw.zip'", "zip directory", limits=Limits(max_files=5))


def test_file_over_max_file_bytes(tmp_path: Path, parent: Path) -> None:
    limits = Limits(max_file_bytes=1000)
    big = os.urandom(1001)
    zipped = make_zip(tmp_path / "u.zip", [("ok.ld", b"ok"), ("big.ld", big)])
    refuse(zipped, "fw.zip", parent, "'big.ld'", "over the limit of 1000 per file", limits=limits)
    tarred = make_tar(tmp_path / "u.tgz", [file_info("big.ld", big)])
    refuse(tarred, "fw.tgz", parent, "'big.ld'", "over the limit of 1000", limits=limits)
    (tmp_path / "u.ld").write_bytes(big)
    refuse(tmp_path / "u.ld", "fw.ld", parent, "'fw.ld'", "over the limit", limits=limits)


def test_total_over_max_total_bytes(tmp_path: Path, parent: Path) -> None:
    limits = Limits(max_total_bytes=2500)
    members = [(f"f{i}.ld", os.urandom(1000)) for i in range(3)]
    zipped = make_zip(tmp_path / "u.zip", members)
    refuse(zipped, "fw.zip", parent, "'f2.ld'", "taking the set to 3000", limits=limits)
    tarred = make_tar(tmp_path / "u.tgz", [file_info(n, d) for n, d in members])
    refuse(tarred, "fw.tgz", parent, "'f2.ld'", "over the limit of 2500 in all", limits=limits)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 MB of zeros in one deflated zip entry (~200 KB), built in chunks."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w") as member,
    ):
        for _ in range(200):
            member.write(bytes(1 << 20))
    return path


def test_zip_bomb_refused_without_writing_it(bomb: Path, parent: Path) -> None:
    assert bomb.stat().st_size < 1_000_000
    before = written()
    refuse(bomb, "fw.zip", parent, "'zeros.bin'", "compression ratio limit")
    assert written() - before < 1_000_000


def test_zip_header_that_lies_about_the_size(tmp_path: Path, parent: Path) -> None:
    # The central directory claims 1000 bytes for 3 MB: a size check on the
    # header passes, so the bytes must be counted and checked as they come.
    data = make_zip(tmp_path / "upload", [("liar.ld", os.urandom(3_000_000))]).read_bytes()
    (tmp_path / "upload").write_bytes(patch_central(data, b"liar.ld", 24, "<L", 1000))
    before = written()
    refuse(tmp_path / "upload", "fw.zip", parent, "'liar.ld'", limits=Limits(max_file_bytes=2000))
    assert written() - before < 1_000_000


@pytest.mark.parametrize(
    ("limits", "compressed", "rule"),
    [
        (Limits(max_file_bytes=10), None, "yields 20 bytes so far, over the limit of 10 per file"),
        (Limits(max_total_bytes=10), None, "over the limit of 10 in all"),
        (Limits(max_ratio=2, ratio_floor_bytes=1), 5, "expands past 2 times its 5 compressed"),
    ],
)
def test_bytes_are_counted_not_the_declared_size(
    tmp_path: Path, limits: Limits, compressed: int | None, rule: str
) -> None:
    # zipfile and tarfile stop at the declared size today; the writer must not
    # rely on it. An entry declaring 5 bytes that yields 20 is stopped, and
    # the bytes over the limit are never written.
    writer = _SetWriter(tmp_path, limits, "fw.zip", 100)
    entry = _Entry("liar.ld", "liar.ld", is_dir=False, size=5, compressed=compressed)
    with pytest.raises(IngestError, match=rule):
        writer.write(writer.admit(entry), entry, io.BytesIO(b"x" * 20))
    assert (tmp_path / "liar.ld").read_bytes() == b""


def test_tar_gz_bomb_refused_before_its_bytes(tmp_path: Path, parent: Path) -> None:
    path = tmp_path / "upload"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 50 << 20
        archive.addfile(info, io.BytesIO(bytes(info.size)))
    before = written()
    refuse(path, "fw.tgz", parent, "'zeros.bin'", "compression ratio limit")
    assert written() - before < 1_000_000


def test_tar_gz_expanding_after_the_end_marker(tmp_path: Path, parent: Path) -> None:
    # Headers are honest and small; 100 MB of zeros follow the end-of-archive
    # marker. Only the stream count sees them, while reading to the gzip end.
    path = tmp_path / "upload"
    with gzip.open(path, "wb") as out:
        out.write(tar_bytes([file_info("ok.ld", b"ok")]))
        for _ in range(100):
            out.write(bytes(1 << 20))
    refuse(path, "fw.tgz", parent, "'fw.tgz'", "compression ratio limit")


def test_oversized_pax_header_refused(tmp_path: Path, parent: Path) -> None:
    info, data = file_info("ok.ld", b"ok")
    info.pax_headers = {"comment": os.urandom(600_000).hex()}
    source = make_tar(tmp_path / "upload", [(info, data)], "w")
    refuse(source, "fw.tar", parent, "'fw.tar'", "extended tar header")


def test_every_zip_header_is_checked_before_writing(tmp_path: Path, parent: Path) -> None:
    members: list[Member] = [("big.bin", os.urandom(3_000_000)), ("../evil", b"x")]
    source = make_zip(tmp_path / "upload", members, zipfile.ZIP_STORED)
    before = written()
    refuse(source, "fw.zip", parent, "'../evil'")
    assert written() - before < 100_000


# --- damaged uploads ---------------------------------------------------------------


def test_truncated_zip(tmp_path: Path, parent: Path) -> None:
    data = make_zip(tmp_path / "upload", list(GOOD.items())).read_bytes()
    (tmp_path / "upload").write_bytes(data[: len(data) // 2])
    refuse(tmp_path / "upload", "fw.zip", parent, "'fw.zip'", "corrupt or truncated")


def test_zip_with_damaged_data(tmp_path: Path, parent: Path) -> None:
    payload = os.urandom(50_000)
    data = bytearray(make_zip(tmp_path / "upload", [("fw.ld", payload)]).read_bytes())
    data[30 + len("fw.ld") + 20_000] ^= 0xFF  # inside the deflated data
    (tmp_path / "upload").write_bytes(bytes(data))
    refuse(tmp_path / "upload", "fw.zip", parent, "'fw.ld'", "corrupt or truncated")


def test_truncated_tar_gz(tmp_path: Path, parent: Path) -> None:
    # Cut well past the first megabyte, which is read ahead with the headers.
    members = [file_info("a.ld", b"a"), file_info("big.ld", os.urandom(3_000_000))]
    data = make_tar(tmp_path / "upload", members).read_bytes()
    (tmp_path / "upload").write_bytes(data[: len(data) * 2 // 3])
    refuse(tmp_path / "upload", "fw.tar.gz", parent, "'big.ld'", "corrupt or truncated")


def test_tar_gz_with_bad_crc(tmp_path: Path, parent: Path) -> None:
    data = bytearray(make_tar(tmp_path / "upload", [file_info("a.ld", b"a")]).read_bytes())
    data[-8] ^= 0xFF  # the gzip trailer's CRC-32
    (tmp_path / "upload").write_bytes(bytes(data))
    refuse(tmp_path / "upload", "fw.tgz", parent, "'fw.tgz'", "CRC check failed")


def test_tar_truncated_at_a_member_boundary(tmp_path: Path, parent: Path) -> None:
    # tarfile alone would read this as a complete archive holding only a.ld.
    data = tar_bytes([file_info("a.ld", b"a" * 600), file_info("b.ld", b"b" * 600)])
    first = data.index(b"b" * 600) - 512  # where b.ld's header starts
    (tmp_path / "upload").write_bytes(data[:first])
    refuse(tmp_path / "upload", "fw.tar", parent, "'fw.tar'", "corrupt or truncated")


def test_tar_with_a_damaged_header(tmp_path: Path, parent: Path) -> None:
    data = bytearray(tar_bytes([file_info("a.ld", b"a"), file_info("b.ld", b"b")]))
    data[data.index(b"b.ld")] = ord("c")  # the header checksum no longer matches
    (tmp_path / "upload").write_bytes(bytes(data))
    refuse(tmp_path / "upload", "fw.tar", parent, "bad tar header")


def test_not_an_archive(tmp_path: Path, parent: Path) -> None:
    (tmp_path / "upload").write_bytes(b"this is not a zip file")
    refuse(tmp_path / "upload", "fw.zip", parent, "'fw.zip'", "corrupt or truncated")
    refuse(tmp_path / "upload", "fw.tgz", parent, "'fw.tgz'", "corrupt or truncated")


# --- the destination -------------------------------------------------------------


@pytest.mark.parametrize("existing", ["directory", "file", "dangling symlink"])
def test_existing_destination_is_never_replaced(
    tmp_path: Path, parent: Path, existing: str
) -> None:
    source = make_zip(tmp_path / "upload", list(GOOD.items()))
    destination = parent / "v1"
    if existing == "directory":
        destination.mkdir()
    elif existing == "file":
        destination.write_bytes(b"old")
    else:
        destination.symlink_to(tmp_path / "nowhere")
    with pytest.raises(IngestError, match="'v1' already exists"):
        ingest(source, "fw.zip", destination)
    assert [p.name for p in parent.iterdir()] == ["v1"]
    assert not (tmp_path / "nowhere").exists()


def test_second_upload_under_the_same_label(tmp_path: Path, parent: Path) -> None:
    source = make_zip(tmp_path / "upload", list(GOOD.items()))
    ingest(source, "fw.zip", parent / "v1")
    with pytest.raises(IngestError, match="already exists"):
        ingest(source, "fw.zip", parent / "v1")
    assert tree(parent / "v1") == GOOD
    assert [p.name for p in parent.iterdir()] == ["v1"]


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), IngestError),
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
)
def test_failure_while_writing_leaves_nothing(
    tmp_path: Path,
    parent: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: BaseException,
    expected: type[BaseException],
) -> None:
    def fail(fd: int, data: object) -> int:
        raise failure

    source = make_zip(tmp_path / "upload", list(GOOD.items()))
    monkeypatch.setattr(os, "write", fail)
    with pytest.raises(expected) as caught:
        ingest(source, "fw.zip", parent / "v1")
    monkeypatch.undo()
    if expected is IngestError:
        assert "No space left on device" in str(caught.value)
    assert list(parent.iterdir()) == []


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_ratio"):
        Limits(max_ratio=0)


# --- properties ------------------------------------------------------------------

SEGMENT = st.text("abcXYZ019-_.(),", min_size=1, max_size=12).filter(lambda s: s not in {".", ".."})
PATH = st.lists(SEGMENT, min_size=1, max_size=3).map("/".join)


def conflict_free(paths: list[str]) -> bool:
    """No two paths collide for a case-insensitive reader, and no file is also a directory."""
    spelling: dict[str, str] = {}
    for path in paths:
        parts = path.split("/")
        for end in range(1, len(parts)):
            directory = "/".join(parts[:end])
            if spelling.setdefault(directory.casefold(), directory) != directory:
                return False
    files = {p.casefold() for p in paths}
    return len(files) == len(paths) and not files & spelling.keys()


SETS = st.lists(st.tuples(PATH, st.binary(max_size=3000)), min_size=1, max_size=8).filter(
    lambda members: conflict_free([path for path, _ in members])
)


@contextmanager
def scratch() -> Iterator[tuple[Path, Path]]:
    """An upload directory and an empty parent, per example (tmp_path is per test)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "firmware").mkdir()
        yield root, root / "firmware"


def build(root: Path, kind: str, members: list[tuple[str, bytes]]) -> Path:
    if kind == "zip":
        return make_zip(root / "upload", list(members))
    tar_mode: TarMode = "w" if kind == "tar" else "w:gz"
    return make_tar(root / "upload", [file_info(n, d) for n, d in members], tar_mode)


KINDS = st.sampled_from(["zip", "tar", "tgz"])


@settings(max_examples=60)
@given(members=SETS, kind=KINDS)
def test_safe_members_come_back_exactly(members: list[tuple[str, bytes]], kind: str) -> None:
    with scratch() as (root, parent):
        result = ingest(build(root, kind, members), f"fw.{kind}", parent / "v1")
        expected = dict(members)
        assert tree(parent / "v1") == expected
        assert {f.path: (f.size, f.sha256) for f in result.files} == {
            path: (len(data), sha(data)) for path, data in expected.items()
        }
        assert [p.name for p in parent.iterdir()] == ["v1"]


# NUL is left out: zipfile and ustar cut names at a NUL when writing (tested above).
HOSTILE = ["../{a}", "{a}/../{b}", "{a}/..", "/{a}", "{a}\\{b}", "C:/{a}", "{a}:{b}", "{a}\x1f{b}"]
HOSTILE += ["{a}//{b}", "{a}/./{b}", "././{a}"]


@settings(max_examples=60)
@given(template=st.sampled_from(HOSTILE), a=PATH, b=PATH, kind=KINDS, position=st.integers(0, 3))
def test_hostile_names_are_refused_and_leave_nothing(
    template: str, a: str, b: str, kind: str, position: int
) -> None:
    name = template.format(a=a, b=b)
    members = [(f"ok{i}.ld", b"ok") for i in range(3)]
    members.insert(position, (name, b"payload"))
    with scratch() as (root, parent):
        with pytest.raises(IngestError) as caught:
            ingest(build(root, kind, members), f"fw.{kind}", parent / "v1")
        assert repr(name) in str(caught.value)
        assert list(parent.iterdir()) == []
