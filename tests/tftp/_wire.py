"""Helpers shared by the session tests: packets as bytes, and a session's state."""

from __future__ import annotations

from provisioner.tftp import Ack, Data, ReadSession, State, WriteSession, encode

__all__ = ["ack", "data", "state"]


def ack(block: int) -> bytes:
    return encode(Ack(block))


def data(block: int, payload: bytes) -> bytes:
    return encode(Data(block, payload))


def state(session: ReadSession | WriteSession) -> State:
    """The state, read through a call: mypy would otherwise keep ``session.state``
    narrowed by one assertion across the calls that change it."""
    return session.state
