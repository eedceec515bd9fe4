"""Whom to send a phone's check-sync NOTIFY to, and what it says.

Everything vendor-specific comes from the family's ``[check_sync]`` table
(Event values, an optional body: Cisco 79x1 ``service-control`` with
``action=restart|reset``); where to send comes from the phone's
``notify.*`` settings and its first line:

* ``direct``: to the address the phone last fetched its files from, on
  ``notify.phone_port``, Request-URI ``sip:<line user>@<address>:<port>``
  (``anonymous`` when the phone has no line);
* ``proxy``: to the line's outbound proxy (else its registrar), with the
  line's AOR as Request-URI, so a platform's SIP proxy routes it to the
  registered phone.

A 401/407 challenge is answered with the line's credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from provisioner.catalog import CheckSync
from provisioner.notify._states import Event
from provisioner.resolve import PhoneView
from provisioner.settings import as_int
from provisioner.sip import NotifyRequest

__all__ = ["NotifyInfo", "NotifyTargetError", "notify_info", "request_for"]


class NotifyTargetError(Exception):
    """The NOTIFY cannot be addressed (no known address, no line); the message says why."""


@dataclass(frozen=True, slots=True)
class NotifyInfo:
    """What a phone's NOTIFY needs, computed when its files are rendered."""

    mac: str
    sip_domain: str
    check_sync: CheckSync
    user: str  # first line's SIP user, "" without lines
    auth_user: str
    password: str
    registrar: tuple[str, int, str]  # host, port, transport
    outbound_proxy: tuple[str, int] | None
    target: str  # direct | proxy
    phone_port: int
    transport: str
    retries: int
    confirm_seconds: int


def notify_info(view: PhoneView) -> NotifyInfo:
    """Derive a phone's :class:`NotifyInfo` from its resolved settings."""
    s = {name: r.value for name, r in view.settings.items()}
    domain = view.tenant.sip_domain
    registrar = (domain, 5060, "udp")
    proxy = None
    user = auth_user = password = ""
    if view.lines:
        first = view.lines[0]
        ls = {name: r.value for name, r in first.settings.items()}
        user, password = first.line.user, first.line.password
        auth_user = first.auth_user
        registrar = first.registrar(domain)
        if ls["sip.outbound_proxy.host"]:
            proxy = (str(ls["sip.outbound_proxy.host"]), as_int(ls["sip.outbound_proxy.port"]))
    return NotifyInfo(
        mac=view.phone.mac,
        sip_domain=domain,
        check_sync=view.family.check_sync,
        user=user,
        auth_user=auth_user,
        password=password,
        registrar=registrar,
        outbound_proxy=proxy,
        target=str(s["notify.target"]),
        phone_port=as_int(s["notify.phone_port"]),
        transport=str(s["notify.transport"]),
        retries=as_int(s["notify.retries"]),
        confirm_seconds=as_int(s["notify.confirm_seconds"]),
    )


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def request_for(
    info: NotifyInfo, event: Event, address: str | None, to: tuple[str, int] | None = None
) -> NotifyRequest:
    """The NOTIFY for ``event``; ``to`` overrides where it is sent (host, port).

    :raises NotifyTargetError: when it cannot be addressed.
    """
    cs = info.check_sync
    reboot = event == "reboot"
    if info.target == "proxy":
        if not info.user:
            raise NotifyTargetError("the phone has no line, so no AOR to notify through a proxy")
        host, port = to or info.outbound_proxy or info.registrar[:2]
        transport = info.registrar[2]
        request_uri = to_uri = f"sip:{info.user}@{info.sip_domain}"
    else:
        if to is not None:
            host, port = to
        elif address:
            host, port = address, info.phone_port
        else:
            raise NotifyTargetError(
                "the phone has not fetched its files yet, so its address is unknown"
            )
        transport = info.transport
        user = info.user or "anonymous"
        request_uri = f"sip:{user}@{_host(host)}:{port}"
        to_uri = f"sip:{user}@{info.sip_domain}"
    return NotifyRequest(
        host=host,
        port=port,
        transport=_transport(transport),
        request_uri=request_uri,
        to_uri=to_uri,
        from_uri=f"sip:provisioner@{info.sip_domain}",
        event=cs.reboot if reboot else cs.resync,
        content_type=cs.content_type or None,
        body=(cs.reboot_body if reboot else cs.resync_body).encode(),
        username=info.auth_user or None,
        password=info.password or None,
    )


def _transport(name: str) -> Literal["udp", "tcp", "tls"]:
    if name == "tcp":
        return "tcp"
    if name == "tls":
        return "tls"
    return "udp"
