"""TFTP (RFC 1350 with RFC 2347/2348/2349/7440 options) for serving phone files.

A sans-IO core and a thin asyncio adapter, in the style of h11 and aioquic:

* ``_packets``: the packet codec (bytes ⇄ frozen dataclasses);
* ``_options``: option negotiation (blksize, timeout, tsize, windowsize);
* ``_netascii``: netascii line-end conversion;
* ``_log_limit``: which refusals get a log line (one per address and interval);
* ``_session`` / ``_upload``: one read / write transfer as a pure state
  machine that takes datagrams and ``now`` and returns datagrams and a timer;
* ``server``: :class:`TftpServer`, the only module that touches sockets or
  the event loop.

See docs/tftp.md.
"""

from provisioner.tftp._netascii import from_netascii, to_netascii
from provisioner.tftp._options import Limits, Negotiated, negotiate
from provisioner.tftp._packets import (
    Ack,
    Data,
    Error,
    ErrorCode,
    Mode,
    Opcode,
    OptionAck,
    Options,
    Packet,
    PacketError,
    ReadRequest,
    WriteRequest,
    decode,
    encode,
)
from provisioner.tftp._session import TERMINAL, Content, ReadSession, State
from provisioner.tftp._upload import WriteSession
from provisioner.tftp.server import (
    BannedCallback,
    MalformedCallback,
    ReadCallback,
    TftpEvent,
    TftpServer,
    UploadLimitCallback,
    WriteCallback,
)

__all__ = [
    "TERMINAL",
    "Ack",
    "BannedCallback",
    "Content",
    "Data",
    "Error",
    "ErrorCode",
    "Limits",
    "MalformedCallback",
    "Mode",
    "Negotiated",
    "Opcode",
    "OptionAck",
    "Options",
    "Packet",
    "PacketError",
    "ReadCallback",
    "ReadRequest",
    "ReadSession",
    "State",
    "TftpEvent",
    "TftpServer",
    "UploadLimitCallback",
    "WriteCallback",
    "WriteRequest",
    "WriteSession",
    "decode",
    "encode",
    "from_netascii",
    "negotiate",
    "to_netascii",
]
