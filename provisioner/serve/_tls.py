"""TLS for the HTTPS front end: the configured pair, or a generated self-signed one.

The self-signed pair is for the demo and first steps only: phones that
validate certificates (most do on HTTPS) need a certificate from a CA they
trust (vendors.md §3.4 for Cisco MPP). It is created once in the data
directory with a private key readable by the owner only.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provisioner.private import PRIVATE_FILE, private_dir, tighten, write_atomic

__all__ = ["default_hosts", "file_problems", "self_signed", "server_context"]


def self_signed(directory: Path, hosts: list[str]) -> tuple[Path, Path]:
    """Create (once) and return a self-signed certificate and key for ``hosts``."""
    cert_path, key_path = directory / "selfsigned.crt", directory / "selfsigned.key"
    private_dir(directory)
    if cert_path.is_file() and key_path.is_file():
        tighten(key_path, PRIVATE_FILE)
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomic(key_path, pem, PRIVATE_FILE)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert_path, key_path


def default_hosts(bind: str) -> list[str]:
    """Names for a generated certificate: the bound address, localhost, the host name."""
    hosts = [socket.gethostname(), "localhost", "127.0.0.1"]
    if bind not in ("0.0.0.0", "::", ""):
        hosts.insert(0, bind)
    return list(dict.fromkeys(hosts))


def server_context(
    cert: Path, key: Path, client_ca: Path | None = None, client_crl: Path | None = None
) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2+, the library's default ciphers and options).

    With ``client_ca`` (PEM, one or more CA certificates: the phone vendors'
    roots and intermediates) clients are asked for a certificate, and one
    that is presented must chain to those CAs, or the handshake fails;
    phones without one still connect (``access.client_cert`` decides what
    they get). ``client_crl`` (PEM CRLs) is checked for the client's own
    certificate. The system's CAs are never trusted for clients: a public
    CA's certificate could name any MAC.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
        if client_crl is not None:
            context.load_verify_locations(cafile=client_crl)
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    elif client_crl is not None:
        raise ValueError("a client CRL needs client CAs")
    return context


def file_problems(
    cert: Path | None, key: Path | None, client_ca: Path | None, client_crl: Path | None
) -> list[tuple[str, str]]:
    """``(field, what is wrong)`` for TLS files that cannot be read or used, as in ServeConfig.

    Each file is tried on its own, so the message names the one at fault:
    missing, unreadable, not PEM, or a key that is not the certificate's.
    """
    found: list[tuple[str, str]] = []
    for name, path in (("tls_cert", cert), ("tls_key", key)):
        if path is not None and not path.is_file():
            found.append((name, "no such file"))
    if not found and cert is not None and key is not None:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            found.append(
                (
                    "tls_cert",
                    f"not a PEM certificate matching the private key {key} ({_reason(exc)})",
                )
            )
    for name, path in (("client_ca", client_ca), ("client_crl", client_crl)):
        if path is None:
            continue
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            found.append((name, f"not a readable PEM file ({_reason(exc)})"))
    return found


def _reason(exc: OSError | ssl.SSLError) -> str:
    """The short reason of a TLS loading error, without Python's wrapping."""
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason).lower().replace("_", " ") if exc.reason else "no PEM data found"
    return exc.strerror or str(exc)
