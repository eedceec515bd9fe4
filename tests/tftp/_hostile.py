"""Hypothesis strategies for hostile datagrams: random bytes, and near-valid requests.

Near-valid means a TFTP opcode followed by NUL-separated fields, some of them
real modes and option names, others non-UTF-8 (``\\xff\\xfe``), control
characters, oversized or empty, in lists longer than any request may hold,
with or without the final NUL.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["FLOOD_DATAGRAM", "datagrams"]

# The datagram of the security report: an option name that is not ASCII, and
# a value without its NUL.
FLOOD_DATAGRAM = b"\0\1a\0octet\0\xff\xfe\0abc"

_fields = st.binary(max_size=24) | st.sampled_from(
    [
        b"",
        b"\xff\xfe",
        b"caf\xc3\xa9",
        b"\x80",
        b"a\nforged log line",
        b"\x1b[31m",
        b"octet",
        b"NETASCII",
        b"mail",
        b"blksize",
        b"tsize",
        b"timeout",
        b"windowsize",
        b"0",
        b"65464",
        b"-1",
        b"\xff" * 600,
    ]
)
_opcodes = st.sampled_from([b"\0\1", b"\0\2", b"\0\3", b"\0\4", b"\0\5", b"\0\6", b"\0\7"])
_near_valid = st.builds(
    lambda opcode, fields, end: opcode + b"\0".join(fields) + end,
    _opcodes | st.binary(min_size=2, max_size=2),
    st.lists(_fields, max_size=40),
    st.sampled_from([b"\0", b""]),
)

datagrams = st.binary(max_size=700) | _near_valid
