"""SIP check-sync NOTIFYs: the only SIP provisioner speaks.

A sans-IO core and a thin asyncio adapter, in the style of h11 and aioquic
(and of ``provisioner.tftp``):

* ``_message``: requests and responses as data, parse and encode (RFC 3261
  §7), the out-of-dialog NOTIFY;
* ``_stream``: framing messages on TCP/TLS byte streams (§18.3);
* ``_digest``: answering 401/407 digest challenges (RFC 2617, 7616, 8760);
* ``_transaction``: the non-INVITE client transaction (§17.1.2) as a pure
  state machine that takes responses and ``now`` and returns bytes and a
  timer;
* ``_notify``: one NOTIFY with at most one challenge answered, as a small
  state machine over transactions;
* ``notifier``: :class:`Notifier`, the only module that touches sockets or
  the event loop.

See docs/sip.md.
"""

from provisioner.sip._digest import Challenge, authorization, choose, parse_challenges
from provisioner.sip._message import (
    MAX_MESSAGE_SIZE,
    Headers,
    MessageError,
    Request,
    Response,
    canonical_name,
    cseq,
    encode,
    notify_request,
    parse,
    top_via_branch,
)
from provisioner.sip._notify import NotifyExchange, NotifyOutcome, NotifyRequest, Phase
from provisioner.sip._stream import StreamFramer
from provisioner.sip._transaction import ClientTransaction, State, Timers
from provisioner.sip.notifier import Notifier, NotifierStats

__all__ = [
    "MAX_MESSAGE_SIZE",
    "Challenge",
    "ClientTransaction",
    "Headers",
    "MessageError",
    "Notifier",
    "NotifierStats",
    "NotifyExchange",
    "NotifyOutcome",
    "NotifyRequest",
    "Phase",
    "Request",
    "Response",
    "State",
    "StreamFramer",
    "Timers",
    "authorization",
    "canonical_name",
    "choose",
    "cseq",
    "encode",
    "notify_request",
    "parse",
    "parse_challenges",
    "top_via_branch",
]
