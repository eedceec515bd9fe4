"""Mutual TLS end to end: ``serve --client-ca --client-crl``, curl presenting phone certificates.

A test CA stands in for a phone vendor's; each phone certificate names its
MAC in the common name, as factory certificates do. Checked: the right
certificate gets the phone's files, and no certificate, another phone's, a
revoked one, one from an untrusted CA, plain HTTP and TFTP do not; a CRL
replaced on disk applies after SIGHUP.
"""

from __future__ import annotations

import datetime
import signal
import socket
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.peers import fetch_with_curl, free_port, need
from tests.serve_process import run_cli, run_cli_in_process, serving
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo-fleet.toml"
POLYCOM, YEALINK = "0004f2123456", "805ec0123456"
NOW = datetime.datetime.now(datetime.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def issue(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], cn: str, where: Path
) -> tuple[Path, Path, int]:
    """A phone certificate for ``cn`` from ``ca``: its PEM, its key's PEM, its serial."""
    key = ec.generate_private_key(ec.SECP256R1())
    serial = x509.random_serial_number()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca[1], hashes.SHA256())
    )
    cert_path, key_path = where / f"{where.name}.crt", where / f"{where.name}.key"
    where.mkdir()
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, serial


def crl(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], revoked: int) -> bytes:
    entry = (
        x509.RevokedCertificateBuilder()
        .serial_number(revoked)
        .revocation_date(NOW - datetime.timedelta(hours=1))
        .build()
    )
    built = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca[0].subject)
        .last_update(NOW - datetime.timedelta(hours=1))
        .next_update(NOW + datetime.timedelta(days=7))
        .add_revoked_certificate(entry)
        .sign(ca[1], hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.PEM)


def curl(url: str, *args: str) -> int:
    """The HTTP status curl got (0 when TLS failed)."""
    return fetch_with_curl("-k", *args, url)[0]


def test_phone_files_need_the_phones_own_certificate(tmp_path: Path) -> None:
    vendor, rogue = make_ca("Test Phone Vendor Root"), make_ca("Someone Else")
    right = issue(vendor, POLYCOM.upper(), tmp_path / "right")
    other = issue(vendor, YEALINK, tmp_path / "other")
    revoked = issue(vendor, POLYCOM, tmp_path / "revoked")
    forged = issue(rogue, POLYCOM, tmp_path / "forged")
    (tmp_path / "ca.pem").write_bytes(vendor[0].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "crl.pem").write_bytes(crl(vendor, revoked[2]))

    data = tmp_path / "data"
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))
    run_cli_in_process(data, "set", f"phone:{POLYCOM}", "access.client_cert", "required")
    run_cli_in_process(data, "set", "tenant:demo", "access.tftp.enabled", "true")
    https, tftp = free_port(), free_port(socket.SOCK_DGRAM)
    options = ["--https-port", str(https), "--tftp-port", str(tftp)]
    options += ["--client-ca", str(tmp_path / "ca.pem"), "--client-crl", str(tmp_path / "crl.pem")]
    with serving(data, *options) as server:
        mine = f"https://127.0.0.1:{https}/{POLYCOM}-settings.cfg"
        unknown = f"https://127.0.0.1:{https}/0004f2999999-settings.cfg"

        def using(paths: tuple[Path, Path, int]) -> list[str]:
            return ["--cert", str(paths[0]), "--key", str(paths[1])]

        assert curl(mine, *using(right)) == 200
        # Uniform: what an unknown phone gets, with or without a certificate.
        uniform = curl(unknown)
        assert uniform in (401, 404)
        assert curl(mine) == uniform
        assert curl(mine, *using(other)) == uniform
        assert curl(unknown, *using(right)) == uniform
        assert curl(f"http://127.0.0.1:{server.http}/{POLYCOM}-settings.cfg") == uniform
        # Certificates that do not verify never get as far as HTTP.
        assert curl(mine, *using(revoked)) == 0
        assert curl(mine, *using(forged)) == 0
        # Shared files and other phones are not affected.
        assert curl(f"https://127.0.0.1:{https}/000000000000.cfg") == 200
        # Over TFTP (on for the tenant) another phone's file comes, this one's does not.
        assert tftp_get(tftp, "SIP000D28123456.cnf", tmp_path / "cisco.cnf") == ""
        assert "File not found" in tftp_get(tftp, f"{POLYCOM}-settings.cfg", tmp_path / "x.cfg")


def tftp_get(port: int, name: str, out: Path) -> str:
    """tftp-hpa fetching ``name``; what it printed (nothing when it worked)."""
    args = [need("tftp"), "-m", "binary", "127.0.0.1", str(port), "-c", "get", name, str(out)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=20, check=False)
    return result.stdout + result.stderr


def test_client_trust_files_are_checked_before_serving(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    for args, message in (
        (["--client-ca", str(tmp_path / "absent.pem")], "--client-ca"),
        (["--client-ca", str(bad)], "not a readable PEM file"),
        (["--client-crl", str(bad)], "CRLs need the client CAs as well (client_ca)"),
    ):
        result = run_cli(tmp_path / "data", "serve", *args, check=False)
        assert result.returncode != 0
        assert message in result.stderr, result.stderr


def test_sighup_reloads_the_crl(tmp_path: Path) -> None:
    vendor = make_ca("Test Phone Vendor Root")
    phone = issue(vendor, POLYCOM, tmp_path / "phone")
    unrelated = issue(vendor, YEALINK, tmp_path / "unrelated")
    (tmp_path / "ca.pem").write_bytes(vendor[0].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "crl.pem").write_bytes(crl(vendor, unrelated[2]))
    data = tmp_path / "data"
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))
    run_cli_in_process(data, "set", f"phone:{POLYCOM}", "access.client_cert", "required")
    https = free_port()
    options = ["--https-port", str(https), "--client-ca", str(tmp_path / "ca.pem")]
    options += ["--client-crl", str(tmp_path / "crl.pem")]
    with serving(data, *options) as server:
        mine = f"https://127.0.0.1:{https}/{POLYCOM}-settings.cfg"
        certificate = ["--cert", str(phone[0]), "--key", str(phone[1])]
        assert curl(mine, *certificate) == 200
        (tmp_path / "crl.pem").write_bytes(crl(vendor, phone[2]))  # the phone's is revoked now
        server.process.send_signal(signal.SIGHUP)
        eventually(lambda: "event=reloaded" in server.log.read_text(), "the reload is done", 60)
        assert curl(mine, *certificate) == 0  # the handshake fails
