"""Framing SIP messages on a byte stream (TCP, TLS): RFC 3261 §18.3.

On a stream the only message boundary is Content-Length, which is therefore
mandatory: the head ends at the first empty line and the body is exactly
Content-Length bytes after it. CRLFs between messages are skipped (§7.5),
which also covers the CRLF keep-alives of RFC 5626 §3.5.1.

A framing error leaves no way to find the next message, so the caller must
close the connection; :meth:`StreamFramer.feed` raises and keeps nothing.
"""

from __future__ import annotations

from provisioner.sip._message import MAX_MESSAGE_SIZE, Message, MessageError, build, parse_head

__all__ = ["StreamFramer"]


class StreamFramer:
    """Cuts whole messages out of the bytes a connection delivers."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        """Add received bytes; return every message now complete, in order.

        :raises MessageError: when the stream cannot be framed (a malformed
            head, no Content-Length, or a message over
            :data:`~provisioner.sip._message.MAX_MESSAGE_SIZE`); the buffer
            is then dropped.
        """
        buffer = self._buffer
        buffer += data
        messages: list[Message] = []
        try:
            while True:
                skip = 0
                while buffer[skip : skip + 2] == b"\r\n":
                    skip += 2
                if skip:
                    del buffer[:skip]
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > MAX_MESSAGE_SIZE:
                        raise MessageError(f"no end of headers in {len(buffer)} bytes")
                    return messages
                start, headers, length = parse_head(bytes(buffer[:end]))
                if length is None:
                    raise MessageError("no Content-Length on a stream transport (RFC 3261 §18.3)")
                total = end + 4 + length
                if total > MAX_MESSAGE_SIZE:
                    raise MessageError(f"message of {total} bytes exceeds the limit")
                if len(buffer) < total:
                    return messages
                messages.append(build(start, headers, bytes(buffer[end + 4 : total])))
                del buffer[:total]
        except MessageError:
            buffer.clear()
            raise
