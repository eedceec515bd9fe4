"""The non-INVITE client transaction of RFC 3261 §17.1.2, as a pure state machine.

Theory of operation
===================

A transaction is one request and the responses to it. It owns no socket and
reads no clock: the adapter feeds it

* ``start(now)`` once, which returns the request to send;
* ``receive(response, now)`` for every response whose top Via branch names
  this transaction (the adapter's demultiplexing key);
* ``handle_timer(now)`` whenever ``next_timer()`` has passed, which returns
  the retransmissions to send;
* ``fail(reason)`` when the transport reports an error (§17.1.4), e.g. a
  TCP connection that closed.

After every call the adapter asks ``next_timer()`` again; ``None`` means no
timer. Time is seconds on any monotonic clock.

States (§17.1.2.2, figure 6)::

                 start()
                    │  request sent; Timer F = 64·T1,
                    ▼  unreliable transports: Timer E = T1
     ┌─────────── TRYING ◀─┐ Timer E: retransmit, E = min(2E, T2)
     │              │──────┘
     │              │ 1xx
     │              ▼
     │          PROCEEDING ◀─┐ Timer E: retransmit, E = T2
     │              │────────┘ 1xx
     │ 200-699      │ 200-699
     ▼              ▼
     └────────▶ COMPLETED ◀─┐ any response: absorbed
                    │───────┘
                    │ Timer K (T4; 0 on reliable transports, so left at once)
                    ▼
                TERMINATED ◀── Timer F (timeout) or fail() from TRYING/PROCEEDING

The final response is available in ``response`` from the moment COMPLETED
is entered, so the transaction user acts on it at once; COMPLETED only
lingers to absorb retransmissions of that response. A transaction that
ends without one says why in ``error`` ("timeout", or the transport's
reason). Exactly one of them is set once the outcome is known.

Timer E is restarted from its own deadline, not from the moment the
adapter got round to it, so a slightly late event loop does not shift the
whole schedule (T1, 3·T1, 7·T1, … and then every T2): lateness would add up
over the retransmissions and could lose the last one before Timer F. After
a stall longer than the interval it restarts from ``now`` instead, so missed
retransmissions are skipped rather than sent in a burst. If Timer E and
Timer F are both due, E is handled first. Timer E only runs on unreliable
transports; Timer F runs on all (§17.1.2.2).

Matching (§17.1.3): a response belongs to the transaction when its top Via
branch equals ours and its CSeq method equals our method. The adapter has
already matched the branch; :meth:`receive` checks both and ignores (and
returns ``False`` for) a response that does not match.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from provisioner.sip._message import Request, Response, cseq, encode, top_via_branch

__all__ = ["ClientTransaction", "State", "Timers"]


class State(enum.Enum):
    """Where a transaction is; see the theory of operation above."""

    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class Timers:
    """RFC 3261 §17.1.1.1 / table 4 base values, in seconds.

    T1 is the round-trip estimate (Timer E starts at T1, Timer F is 64·T1),
    T2 the longest retransmission interval, T4 how long the network may
    hold a message (Timer K).
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    def __post_init__(self) -> None:
        if not (self.t1 > 0 and self.t2 >= self.t1 and self.t4 >= 0):
            raise ValueError(f"need 0 < T1 <= T2 and T4 >= 0, not {self}")


class ClientTransaction:
    """One non-INVITE request sent and answered (or not)."""

    __slots__ = (
        "_data",
        "_e_at",
        "_e_interval",
        "_f_at",
        "_k_at",
        "_reliable",
        "_timers",
        "branch",
        "error",
        "method",
        "response",
        "retransmissions",
        "state",
    )

    def __init__(self, request: Request, *, reliable: bool, timers: Timers | None = None) -> None:
        """Prepare to send ``request``; ``reliable`` is TCP or TLS (no retransmissions).

        :raises ValueError: when the request has no top Via branch, which
            is what responses are matched by.
        """
        branch = top_via_branch(request)
        if branch is None:
            raise ValueError("the request has no Via branch")
        self.branch = branch
        self.method = request.method
        self.state = State.TRYING
        self.response: Response | None = None  # the final response
        self.error: str | None = None  # why there is none: "timeout" or a transport error
        self.retransmissions = 0
        self._data = encode(request)  # what (re)transmissions send; dropped once done
        self._reliable = reliable
        self._timers = timers or Timers()
        self._e_at: float | None = None
        self._e_interval = self._timers.t1
        self._f_at: float | None = None
        self._k_at: float | None = None

    def start(self, now: float) -> list[bytes]:
        """Send the request: returns it, and starts Timers F and (unreliable only) E."""
        if self._f_at is not None:
            raise RuntimeError("start() called twice")
        self._f_at = now + 64 * self._timers.t1
        if not self._reliable:
            self._e_at = now + self._e_interval
        return [self._data]

    def matches(self, response: Response) -> bool:
        """Whether ``response`` belongs here: same top Via branch and CSeq method (§17.1.3)."""
        number_method = cseq(response)
        return (
            number_method is not None
            and number_method[1] == self.method
            and top_via_branch(response) == self.branch
        )

    def receive(self, response: Response, now: float) -> bool:
        """Handle a response; ``False`` (and nothing changes) when it is not ours."""
        if self._f_at is None:
            raise RuntimeError("receive() before start()")
        if not self.matches(response):
            return False
        state = self.state
        if state is not State.TRYING and state is not State.PROCEEDING:
            return True  # a retransmitted final response, or a straggler: absorbed
        if response.status < 200:
            self.state = State.PROCEEDING
            return True
        self.response = response
        self._e_at = None
        self._data = b""  # no more retransmissions: Timer K may keep us for seconds
        if self._reliable:
            self.state = State.TERMINATED  # Timer K is zero: nothing to absorb
        else:
            self.state = State.COMPLETED
            self._k_at = now + self._timers.t4
        return True

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` is next due, or ``None`` for never."""
        state = self.state
        if state is State.TRYING or state is State.PROCEEDING:
            if self._e_at is not None and self._f_at is not None and self._e_at < self._f_at:
                return self._e_at
            return self._f_at
        if state is State.COMPLETED:
            return self._k_at
        return None

    def handle_timer(self, now: float) -> list[bytes]:
        """Fire whatever timers are due; returns the retransmissions to send."""
        state = self.state
        f_at = self._f_at  # None until start(): then nothing is due
        out = []
        if (state is State.TRYING or state is State.PROCEEDING) and f_at is not None:
            e_at = self._e_at
            if e_at is not None and e_at <= now and e_at < f_at:
                out.append(self._data)
                self.retransmissions += 1
                if state is State.PROCEEDING:
                    self._e_interval = self._timers.t2
                else:
                    self._e_interval = min(2 * self._e_interval, self._timers.t2)
                due = e_at + self._e_interval  # see "Timer E" above
                self._e_at = due if due > now else now + self._e_interval
            if now >= f_at:
                self._end("timeout")
        elif state is State.COMPLETED and self._k_at is not None and now >= self._k_at:
            self.state = State.TERMINATED
            self._k_at = None
        return out

    def fail(self, reason: str) -> None:
        """The transport failed (§17.1.4): end now, without a response, unless one came."""
        if self.state is State.TRYING or self.state is State.PROCEEDING:
            self._end(reason)
        elif self.state is State.COMPLETED:
            self.state = State.TERMINATED  # nothing more can arrive to absorb
            self._k_at = None

    def _end(self, reason: str) -> None:
        self.state = State.TERMINATED
        self.error = reason
        self._e_at = None
        self._data = b""
