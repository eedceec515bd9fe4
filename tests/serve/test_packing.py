"""Rendered files held deflated (serve/_packing.py): every byte comes back as it went in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from provisioner.etags import etag_of
from provisioner.serve._model import ServedFile
from provisioner.serve._packing import Dictionary, Packer

TEMPLATE = (
    "#!version:1.0.0.1\naccount.1.enable = 1\naccount.1.label = {label}\n"
    "account.1.user_name = {user}\naccount.1.sip_server.1.address = pbx.example.com\n"
    "local_time.time_zone_name = Europe/Berlin\nlang.gui = English\n"
) * 4


def _file(packer: Packer, pattern: str, data: bytes) -> ServedFile:
    stored, dictionary = packer.pack(pattern, data)
    return ServedFile(stored, "text/plain", etag_of(data), 0, "", dictionary, len(data))


@given(dictionary=st.binary(max_size=4096), data=st.binary(max_size=20_000))
def test_any_bytes_round_trip_against_any_dictionary(dictionary: bytes, data: bytes) -> None:
    assert Dictionary(dictionary).inflate(Dictionary(dictionary).deflate(data)) == data


@given(
    first=st.binary(max_size=4096),
    files=st.lists(st.binary(max_size=8192), max_size=8),
)
def test_every_file_of_a_pattern_reads_back_byte_exact(first: bytes, files: list[bytes]) -> None:
    packer = Packer()
    served = [_file(packer, "yealink/{mac}.cfg", data) for data in [first, *files]]
    for file, data in zip(served, [first, *files], strict=True):
        assert file.data == data
        assert file.size == len(data)
        assert file.etag == etag_of(data)


@given(
    values=st.lists(st.tuples(st.text(max_size=40), st.text(max_size=40)), min_size=2, max_size=10)
)
def test_files_of_one_template_read_back_byte_exact(values: list[tuple[str, str]]) -> None:
    # Near-identical files, as a template renders them for different phones.
    packer = Packer()
    rendered = [TEMPLATE.format(label=a, user=b).encode() for a, b in values]
    served = [_file(packer, "p", data) for data in rendered]
    assert [f.data for f in served] == rendered
    assert [f.size for f in served] == [len(d) for d in rendered]


def test_the_first_file_of_a_pattern_stays_as_it_is_and_later_ones_shrink() -> None:
    packer = Packer()
    first = TEMPLATE.format(label="Alice", user="1001").encode()
    second = TEMPLATE.format(label="Bob", user="1002").encode()
    held_first, dictionary = packer.pack("p", first)
    assert held_first is first
    assert dictionary is None
    held_second, dictionary = packer.pack("p", second)
    assert dictionary is not None
    assert dictionary.data is first
    assert len(held_second) * 10 < len(second)
    # Another pattern has its own dictionary: its first file stays as it is too.
    other = b"<xml>" + second
    assert packer.pack("q", other) == (other, None)


def test_a_file_that_does_not_shrink_stays_as_it_is() -> None:
    packer = Packer()
    packer.pack("p", b"a" * 100)
    tiny = b"\x00"
    assert packer.pack("p", tiny) == (tiny, None)


def test_a_file_held_as_it_is_reads_back_without_a_dictionary() -> None:
    file = ServedFile(b"<x/>", "text/xml", '"e"', 0, "Thu, 01 Jan 1970 00:00:00 GMT")
    assert file.data == b"<x/>"
    assert file.size == 4
