"""Which transports may carry a phone's own files: one rule for the gateway and ``explain``.

A phone's own files carry its secrets (SIP and admin passwords). When the
admin protected them — HTTP credentials, a client certificate, or TLS only —
a transport that cannot enforce that protection must not hand them out
(security goal 8): TFTP has no authentication at all, and FTP has only the
tenant's login, which every phone of the tenant shares. ``access.weak_transports``
lets an admin accept that risk per scope, for HTTP-credential protection only:
a certificate or TLS requirement can never be met without HTTPS.

:func:`transport_refusal` is static (it depends on settings only); the
gateway adds the per-request checks (allowlists, credentials, certificate).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from provisioner.serve._model import Access, Network, Protocol
from provisioner.settings import Value, parse_networks

__all__ = ["access_from", "networks", "transport_refusal"]


def networks(value: Value) -> tuple[Network, ...]:
    """An allowlist setting parsed, one shared tuple per distinct text (:func:`_parsed`)."""
    return _parsed(str(value))


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> tuple[Network, ...]:
    # Phones of a scope share their allowlists; one parsed copy each, not one per phone.
    return tuple(parse_networks(text))


def access_from(values: Mapping[str, Value]) -> Access:
    """The access settings of one phone from its resolved values."""
    return Access(
        http_user=str(values["access.http.user"]),
        http_password=str(values["access.http.password"]),
        http_allow=networks(values["access.http.allow"]),
        tls_required=bool(values["access.tls_required"]),
        client_cert=values["access.client_cert"] == "required",
        tftp_enabled=bool(values["access.tftp.enabled"]),
        tftp_allow=networks(values["access.tftp.allow"]),
        ftp_allow=networks(values["access.ftp.allow"]),
        weak_transports=bool(values["access.weak_transports"]),
        uploads=bool(values["uploads.enabled"]),
        open_uploads=bool(values["uploads.unauthenticated"]),
    )


def transport_refusal(access: Access, protocol: Protocol) -> str | None:
    """Why ``protocol`` never carries this phone's own files, or ``None`` when it may.

    The reason names the setting responsible; it is shown by ``explain``,
    never to the client (which gets the uniform failure).
    """
    if protocol is Protocol.HTTPS:
        return None
    if access.client_cert:
        return "access.client_cert = required: only HTTPS with the phone's own certificate"
    if access.tls_required:
        return "access.tls_required is on: only HTTPS"
    if protocol is Protocol.HTTP:
        return None
    if protocol is Protocol.TFTP and not access.tftp_enabled:
        return "access.tftp.enabled is off"
    if access.http_password and not access.weak_transports:
        how = (
            "TFTP has no authentication"
            if protocol is Protocol.TFTP
            else ("FTP has only the tenant's shared login")
        )
        return (
            f"the phone needs HTTP credentials (access.http.password) and {how}; "
            "access.weak_transports = true accepts that risk"
        )
    return None
