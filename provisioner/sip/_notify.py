"""One check-sync NOTIFY, with at most one digest challenge answered (sans-I/O).

Theory of operation
===================

An exchange sends one out-of-dialog NOTIFY and reports how it ended. It
drives :class:`~provisioner.sip._transaction.ClientTransaction` objects and,
like them, owns no socket and reads no clock: the adapter calls ``start``,
``receive``, ``handle_timer`` and ``fail`` with ``now``, sends what they
return, and re-arms its timer from ``next_timer()``. Every random value
(Call-ID, From tag, branches, cnonce) comes from the ``token`` factory the
adapter passes in.

Phases::

    SENDING ──2xx──────────────────────────────────────────────▶ DONE (ok)
       │ ───other final, timeout, transport error──────────────▶ DONE (failed)
       │ 401/407 with credentials and a challenge we can answer
       ▼
    AUTHENTICATING ──2xx─────────────────────────────────────────▶ DONE (ok)
                   ──any other final (a second challenge too),
                     timeout, transport error─────────────────────▶ DONE (failed)

* The first NOTIFY has CSeq 1. A 401 (``WWW-Authenticate``) or 407
  (``Proxy-Authenticate``) is answered once, as a **new transaction**: a
  new branch, CSeq 2, the same Call-ID and From tag, and ``Authorization``
  or ``Proxy-Authorization`` (RFC 3261 §8.1.3.5, §22.2). The To header
  stays without a tag: a non-2xx final response creates no dialog.
* A second challenge means the credentials were refused (a phone that
  wants a fresh nonce says so with a 401 as well, but answering in a loop
  is how aiosip recursed forever, libraries.md §4): the outcome is
  failed, with the status.
* 401/407 without credentials, or with no Digest challenge we can answer
  (:func:`~provisioner.sip._digest.choose`), fails with that status.
* 1xx responses move a transaction to Proceeding and nothing else. 3xx is
  not followed; like 4xx–6xx it is a failure with its status.

The outcome is known (``outcome`` is set, phase DONE) as soon as the
deciding response arrives. The exchange is ``finished`` only when every
transaction has terminated, i.e. Timer K has absorbed retransmitted
responses (§17.1.2.2); the adapter keeps routing responses to it until then.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from provisioner.sip._digest import authorization, choose, parse_challenges
from provisioner.sip._message import Response, notify_request
from provisioner.sip._transaction import ClientTransaction, State, Timers

__all__ = ["NotifyExchange", "NotifyOutcome", "NotifyRequest", "Phase"]

# Transaction states in which nothing more is sent: only retransmissions can arrive.
_DONE_SENDING = frozenset({State.COMPLETED, State.TERMINATED})

Transport = Literal["udp", "tcp", "tls"]


@dataclass(frozen=True, slots=True)
class NotifyRequest:
    """What to send, and where.

    ``host`` and ``port`` are where the NOTIFY goes (the phone, or a proxy
    that routes ``request_uri`` to it); ``host`` is an IP address or a name
    resolved with ``getaddrinfo`` (no RFC 3263 SRV lookups). ``event`` is
    the whole Event header value, e.g. ``check-sync;reboot=false``.
    ``username`` and ``password`` answer a 401/407 challenge; without them
    a challenge is a failure.
    """

    host: str
    port: int
    transport: Transport
    request_uri: str  # e.g. sip:201@10.0.0.7:5060
    to_uri: str  # e.g. sip:201@pbx.example.com
    from_uri: str  # e.g. sip:provisioner@pbx.example.com
    event: str  # e.g. check-sync;reboot=false
    content_type: str | None = None
    body: bytes = b""
    username: str | None = None
    password: str | None = None

    def __post_init__(self) -> None:
        if self.transport not in ("udp", "tcp", "tls"):
            raise ValueError(f"transport {self.transport!r} is not udp, tcp or tls")
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is outside 1..65535")


@dataclass(frozen=True, slots=True)
class NotifyOutcome:
    """How a NOTIFY ended.

    ``ok`` is a 2xx. Otherwise ``status`` is the final status that ended it,
    or ``None`` when there was none (timeout, connection failure). ``reason``
    is the phone's reason phrase (with what went wrong for 401/407), or ours:
    ``timeout``, ``connection lost``, ``connect failed: …``.
    ``transactions`` counts NOTIFYs sent as separate transactions (2 after
    a challenge), ``elapsed`` is seconds until the outcome was known.
    """

    ok: bool
    status: int | None
    reason: str
    transactions: int
    elapsed: float


class Phase(enum.Enum):
    """Where an exchange is; see the theory of operation above."""

    SENDING = "sending"
    AUTHENTICATING = "authenticating"
    DONE = "done"


_SCHEME = {"udp": "sip", "tcp": "sip", "tls": "sips"}
_CONTACT_PARAMS = {"udp": "", "tcp": ";transport=tcp", "tls": ""}


class NotifyExchange:
    """Sends ``request``'s NOTIFY, answers one challenge, and reports the outcome."""

    __slots__ = (
        "_call_id",
        "_contact",
        "_from_tag",
        "_started",
        "_timers",
        "_token",
        "_user_agent",
        "outcome",
        "phase",
        "request",
        "sent_by",
        "transactions",
    )

    def __init__(
        self,
        request: NotifyRequest,
        *,
        sent_by: str,
        user_agent: str,
        token: Callable[[], str],
        timers: Timers | None = None,
    ) -> None:
        """Prepare; ``sent_by`` is our ``host:port`` for Via and Contact.

        ``token()`` must return a fresh unpredictable token (letters and
        digits) on every call: it makes the Call-ID, From tag, branches and
        cnonce.
        """
        self.request = request
        self.sent_by = sent_by
        self._user_agent = user_agent
        self._token = token
        self._timers = timers or Timers()
        self._call_id = token()
        self._from_tag = token()
        transport = request.transport
        self._contact = f"<{_SCHEME[transport]}:{sent_by}{_CONTACT_PARAMS[transport]}>"
        self._started = 0.0
        self.phase = Phase.SENDING
        self.outcome: NotifyOutcome | None = None
        self.transactions: list[ClientTransaction] = []

    @property
    def branches(self) -> list[str]:
        """The Via branch of every transaction so far (lower case), to route responses by."""
        return [transaction.branch for transaction in self.transactions]

    @property
    def finished(self) -> bool:
        """The outcome is known and every transaction has terminated."""
        return self.outcome is not None and all(
            transaction.state is State.TERMINATED for transaction in self.transactions
        )

    @property
    def absorbing(self) -> bool:
        """The outcome is known and the transactions left only absorb retransmitted
        final responses (Completed, until Timer K): nothing more will be sent.
        """
        return self.outcome is not None and all(
            transaction.state in _DONE_SENDING for transaction in self.transactions
        )

    def start(self, now: float) -> list[bytes]:
        """Send the first NOTIFY."""
        if self.transactions:
            raise RuntimeError("start() called twice")
        self._started = now
        return self._send(now, None)

    def receive(self, response: Response, now: float) -> list[bytes] | None:
        """Handle a response routed here by its branch.

        Returns what to send (the NOTIFY with credentials, after a
        challenge), or ``None`` when no transaction matched (a CSeq method
        other than NOTIFY): the adapter counts that and ignores it.
        """
        for transaction in self.transactions:
            if transaction.receive(response, now):
                return self._progress(now)
        return None

    def handle_timer(self, now: float) -> list[bytes]:
        """Fire due timers: retransmissions to send; Timer F may end the exchange."""
        out = []
        for transaction in self.transactions:
            due = transaction.next_timer()
            if due is not None and due <= now:
                out += transaction.handle_timer(now)
        self._progress(now)
        return out

    def fail(self, reason: str, now: float) -> None:
        """The transport failed (e.g. the TCP connection closed): end every transaction."""
        for transaction in self.transactions:
            transaction.fail(reason)
        self._progress(now)

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` is next due, or ``None``."""
        due = [t for t in (tr.next_timer() for tr in self.transactions) if t is not None]
        return min(due, default=None)

    def _send(self, now: float, credentials: tuple[str, str] | None) -> list[bytes]:
        request = self.request
        transaction = ClientTransaction(
            notify_request(
                request_uri=request.request_uri,
                to_uri=request.to_uri,
                from_uri=request.from_uri,
                from_tag=self._from_tag,
                call_id=self._call_id,
                cseq=len(self.transactions) + 1,
                branch="z9hG4bK" + self._token(),
                transport=request.transport.upper(),
                sent_by=self.sent_by,
                contact=self._contact,
                event=request.event,
                user_agent=self._user_agent,
                content_type=request.content_type,
                body=request.body,
                authorization=credentials,
            ),
            reliable=request.transport != "udp",
            timers=self._timers,
        )
        self.transactions.append(transaction)
        return transaction.start(now)

    def _progress(self, now: float) -> list[bytes]:
        """Decide on the current (last) transaction's result, if it has one."""
        if self.phase is Phase.DONE:
            return []
        current = self.transactions[-1]
        if current.error is not None:
            self._finish(now, None, current.error)
            return []
        final = current.response
        if final is None:
            return []
        status = final.status
        if 200 <= status < 300:
            self._finish(now, status, final.reason)
        elif status in (401, 407) and self.phase is Phase.SENDING:
            return self._answer(final, now)
        elif status in (401, 407):
            self._finish(now, status, f"{final.reason} (credentials refused)")
        else:
            self._finish(now, status, final.reason)
        return []

    def _answer(self, challenge: Response, now: float) -> list[bytes]:
        """Answer a 401/407 with credentials, as a new transaction (§22.2)."""
        request, status = self.request, challenge.status
        if request.username is None or request.password is None:
            self._finish(now, status, f"{challenge.reason} (no credentials to answer with)")
            return []
        field = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        chosen = choose(parse_challenges(challenge.headers.get_all(field)))
        if chosen is None:
            self._finish(now, status, f"{challenge.reason} (no Digest challenge we can answer)")
            return []
        value = authorization(
            chosen,
            method="NOTIFY",
            uri=request.request_uri,
            username=request.username,
            password=request.password,
            cnonce=self._token(),
            body=request.body,
        )
        self.phase = Phase.AUTHENTICATING
        header = "Authorization" if status == 401 else "Proxy-Authorization"
        return self._send(now, (header, value))

    def _finish(self, now: float, status: int | None, reason: str) -> None:
        self.phase = Phase.DONE
        self.outcome = NotifyOutcome(
            ok=status is not None and 200 <= status < 300,
            status=status,
            reason=reason,
            transactions=len(self.transactions),
            elapsed=now - self._started,
        )
