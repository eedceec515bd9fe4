"""The gateway: what each kind of request gets, over each protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path

import pytest

from provisioner.actor import Actor
from provisioner.catalog import Catalog
from provisioner.devices import reject_device
from provisioner.edits import Edits
from provisioner.scope import parse_scope
from provisioner.serve import Fetch, Protocol, Reply, Status
from provisioner.serve._ftp_backend import GatewayFtpBackend
from tests.serve.harness import (
    DISABLED,
    HOSTED,
    PASSWORD,
    POLYCOM,
    POLYCOM_UA,
    TOKEN,
    YEALINK,
    Harness,
    fleet,
    harness,
)
from tests.serve.test_digest import answer


@pytest.fixture
def h(tmp_path: Path, catalog: Catalog):  # type: ignore[no-untyped-def]
    with harness(tmp_path, catalog) as built:
        yield built


def digest_for(
    h: Harness, path: str, *, password: str = PASSWORD, user: str = YEALINK, method: str = "GET"
) -> str:
    nonce = h.gateway.digest.nonce("provisioner", h.clock[0])
    return answer(nonce, password=password, uri="/" + path, user=user, method=method)


def test_shared_files_go_to_anyone(h: Harness) -> None:
    reply = h.get("000000000000.cfg", client="203.0.113.9")
    assert reply.status is Status.OK
    assert reply.file.data.startswith(b"<?xml")
    assert h.get("y000000000066.cfg", Protocol.TFTP).status is Status.OK


def test_open_phone_is_served_with_etag(h: Harness) -> None:
    reply = h.get(f"{POLYCOM}-settings.cfg", user_agent=POLYCOM_UA)
    assert reply.status is Status.OK
    assert b"line-secret-100" in reply.file.data
    assert reply.file.etag.startswith('"')
    upper = h.get(f"{POLYCOM.upper()}-SETTINGS.CFG")
    assert upper.file == reply.file  # MAC (and name) in either case


def test_protected_phone_needs_digest(h: Harness) -> None:
    path = f"{YEALINK}.cfg"
    challenged = h.get(path)
    assert challenged.status is Status.CHALLENGE
    assert any("SHA-256" in c for c in challenged.challenge)
    ok = h.get(path, authorization=digest_for(h, path))
    assert ok.status is Status.OK
    assert b"line-secret-101" in ok.file.data
    assert (
        h.get(path, authorization=digest_for(h, path, password="wrong")).status is Status.NOT_FOUND
    )


def test_the_four_failures_are_indistinguishable(h: Harness) -> None:
    Edits.of(h.store).settings.set(
        parse_scope(f"phone:{YEALINK}"), "access.http.allow", "10.0.0.0/8"
    )
    Edits.of(h.store).settings.set(
        parse_scope(f"phone:{POLYCOM}"), "access.http.password", PASSWORD
    )
    h.run(h.cache.refresh())
    cases = {
        "unknown MAC": "0004f2999999-settings.cfg",
        "wrong credentials": f"{POLYCOM}-settings.cfg",
        "outside allowlist": f"{YEALINK}.cfg",
        "disabled phone": f"{DISABLED}-settings.cfg",
    }
    without = {name: h.get(path) for name, path in cases.items()}
    assert {r.status for r in without.values()} == {Status.CHALLENGE}
    assert len({tuple(c.split("nonce=")[0] for c in r.challenge) for r in without.values()}) == 1
    wrong = {
        name: h.get(path, authorization=digest_for(h, path, password="not-the-password"))
        for name, path in cases.items()
    }
    assert {(r.status, r.file, r.challenge) for r in wrong.values()} == {
        (Status.NOT_FOUND, None, ())
    }


def test_begin_answers_at_once_unless_an_answer_must_be_claimed(h: Harness) -> None:
    """What the HTTP fast path relies on: a reply now, or an awaitable that finishes the request."""

    async def begin(fetch: Fetch) -> Reply | Awaitable[Reply]:
        return h.gateway.begin(fetch)  # on the loop, as the front ends call it

    path = f"{YEALINK}.cfg"
    for now in (f"{POLYCOM}.cfg", path, "0004f2999999.cfg"):  # served, challenged, failed
        fetch = Fetch(Protocol.HTTP, now, "127.0.0.1", uri="/" + now)
        assert isinstance(h.run(begin(fetch)), Reply)
    authorization = digest_for(h, path)
    fetch = Fetch(Protocol.HTTP, path, "127.0.0.1", authorization=authorization, uri="/" + path)
    later = h.run(begin(fetch))
    assert not isinstance(later, Reply)  # claimed for the cluster first
    reply = h.run(later)
    assert reply.status is Status.OK
    assert b"line-secret-101" in reply.file.data
    assert h.get(path, authorization=authorization).status is Status.NOT_FOUND  # a replay


def test_tftp_is_off_until_enabled(h: Harness) -> None:
    path = f"{POLYCOM}-settings.cfg"
    assert h.get(path, Protocol.TFTP).status is Status.NOT_FOUND
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "access.tftp.enabled", True)
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "access.tftp.allow", "127.0.0.0/8")
    h.run(h.cache.refresh())
    assert h.get(path, Protocol.TFTP).status is Status.OK
    assert h.get(path, Protocol.TFTP, client="192.0.2.1").status is Status.NOT_FOUND


def test_tls_required_keeps_a_phones_files_off_plain_protocols(h: Harness) -> None:
    Edits.of(h.store).settings.set(parse_scope(f"phone:{POLYCOM}"), "access.tls_required", True)
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "access.tftp.enabled", True)
    h.run(h.cache.refresh())
    path = f"{POLYCOM}-settings.cfg"
    assert h.get(path, Protocol.HTTPS).status is Status.OK
    for protocol in (Protocol.HTTP, Protocol.TFTP):
        unknown = h.get("0004f2999999-settings.cfg", protocol)
        assert h.get(path, protocol).status is unknown.status is not Status.OK, protocol
    # The Yealink has an HTTP password: over TFTP only with the explicit opt-in.
    Edits.of(h.store).settings.set(parse_scope(f"phone:{YEALINK}"), "access.weak_transports", True)
    h.run(h.cache.refresh())
    req = Fetch(Protocol.HTTP, f"{POLYCOM}-app.log", "127.0.0.1", method="PUT")
    assert h.run(h.gateway.upload_limit(req)) == 0
    assert h.get("000000000000.cfg", Protocol.HTTP).status is Status.OK
    assert h.get(f"{YEALINK}.cfg", Protocol.TFTP).status is Status.OK  # another phone


def test_a_required_client_certificate_must_name_the_phone(h: Harness) -> None:
    Edits.of(h.store).settings.set(
        parse_scope(f"phone:{POLYCOM}"), "access.client_cert", "required"
    )
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "access.tftp.enabled", True)
    h.run(h.cache.refresh())
    path = f"{POLYCOM}-settings.cfg"
    assert h.get(path, Protocol.HTTPS, cert_mac=POLYCOM).status is Status.OK
    for protocol, cert_mac in (
        (Protocol.HTTPS, None),  # no certificate, or one naming no single MAC
        (Protocol.HTTPS, YEALINK),  # another phone's
        (Protocol.HTTP, None),
        (Protocol.TFTP, None),
    ):
        # The uniform failure: what an unknown MAC gets over the same protocol.
        unknown = h.get("0004f2999999-settings.cfg", protocol, cert_mac=cert_mac)
        reply = h.get(path, protocol, cert_mac=cert_mac)
        assert reply.status is unknown.status is not Status.OK, protocol
    # Uploads need it too; shared files and other phones do not.
    req = Fetch(Protocol.HTTPS, f"{POLYCOM}-app.log", "127.0.0.1", method="PUT")
    assert h.run(h.gateway.upload_limit(req)) == 0
    req.cert_mac = POLYCOM
    assert h.run(h.gateway.upload_limit(req)) > 0
    assert h.get("000000000000.cfg", Protocol.HTTP).status is Status.OK
    yealink = f"{YEALINK}.cfg"
    assert h.get(yealink, Protocol.HTTPS, authorization=digest_for(h, yealink)).status is (
        Status.OK
    )


def test_url_token_scopes_a_tenant(h: Harness) -> None:
    # Outside its prefix the phone is like any unknown one (the root scope
    # uses digest, so that is a challenge; inside the prefix, not-found).
    assert h.get(f"{HOSTED}.cfg").status is Status.CHALLENGE
    assert h.get(f"{TOKEN}/{HOSTED}.cfg").status is Status.OK
    assert h.get(f"{TOKEN}/{POLYCOM}.cfg").status is Status.NOT_FOUND
    assert h.get(f"{TOKEN}/000000000000.cfg").status is Status.OK


def test_changes_reach_the_cache_on_refresh(h: Harness) -> None:
    path = f"{POLYCOM}-settings.cfg"
    before = h.get(path).file
    Edits.of(h.store).settings.set(parse_scope(f"phone:{POLYCOM}"), "language", "fr")
    h.run(h.cache.refresh())
    after = h.get(path).file
    assert b"French_France" in after.data
    assert after.etag != before.etag
    Edits.of(h.store).phones.update(POLYCOM, enabled=False)
    h.run(h.cache.refresh())
    assert h.get(path).status is not Status.OK


def test_quarantine_records_pending_devices(h: Harness) -> None:
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "unknown.policy", "quarantine")
    h.run(h.cache.refresh())
    assert h.get("0004f2abcdef.cfg", user_agent=POLYCOM_UA).status is not Status.OK
    h.run(h.gateway.drain())  # the pending record is written after the answer
    (pending,) = h.store.seen.pending()
    assert (pending.mac, pending.tenant, pending.model) == ("0004f2abcdef", "acme", "vvx410")


def test_auto_register_creates_and_serves(h: Harness) -> None:
    Edits.of(h.store).groups.add("acme", "new")
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "unknown.policy", "auto-register")
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "unknown.group", "new")
    h.run(h.cache.refresh())
    reply = h.get("0004f2abcdef.cfg", user_agent=POLYCOM_UA)
    assert reply.status is Status.OK
    phone = h.store.tenants.state("acme").phones["0004f2abcdef"]
    assert (phone.model, phone.groups, phone.lines) == ("vvx410", ["new"], [])


def test_a_rejected_device_is_neither_held_again_nor_auto_registered(h: Harness) -> None:
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "unknown.policy", "quarantine")
    h.run(h.cache.refresh())
    h.get("0004f2abcdef.cfg", user_agent=POLYCOM_UA)
    h.run(h.gateway.drain())
    reject_device(h.store, "0004f2abcdef", Actor.cli())
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "unknown.policy", "auto-register")
    h.run(h.cache.refresh())
    h.clock[0] += 3600  # past the once-a-minute limit of unknown-device actions
    assert h.get("0004f2abcdef.cfg", user_agent=POLYCOM_UA).status is not Status.OK
    assert "0004f2abcdef" not in h.store.tenants.state("acme").phones
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "unknown.policy", "quarantine")
    h.run(h.cache.refresh())
    h.clock[0] += 3600
    h.get("0004f2abcdef.cfg", user_agent=POLYCOM_UA)
    h.run(h.gateway.drain())
    (device,) = h.store.seen.pending()
    assert (device.state, device.last_seen) == ("rejected", int(h.clock[0]))


def test_uploads_are_stored_and_served_back(h: Harness) -> None:
    # Unauthenticated uploads need the opt-in (the default: tests/security/test_uploads.py).
    Edits.of(h.store).settings.set(parse_scope(f"phone:{POLYCOM}"), "uploads.unauthenticated", True)
    h.run(h.cache.refresh())
    name = f"{POLYCOM}-phone.cfg"
    req = Fetch(Protocol.HTTP, name, "127.0.0.1", method="PUT", uri="/" + name)
    reply, ticket = h.run(h.gateway.authorize_upload(req))
    assert reply.status is Status.OK
    assert ticket is not None
    assert h.run(h.gateway.store_upload(req, ticket, b"<x/>")).status is Status.OK
    assert h.store.uploads.read(POLYCOM, name) == (b"<x/>", 1_000_000)  # in the database
    assert h.get(name).file.data == b"<x/>"
    assert h.get(f"{POLYCOM}-app.log").status is not Status.OK  # logs are not served back
    assert h.run(h.gateway.store_upload(req, ticket, b"x" * (ticket.limit + 1))).status is (
        Status.TOO_LARGE
    )
    unknown = Fetch(Protocol.HTTP, "0004f2999999-app.log", "127.0.0.1", method="PUT")
    assert h.run(h.gateway.authorize_upload(unknown))[1] is None


def test_repeated_probing_is_banned(h: Harness) -> None:
    # Guessing credentials (a challenge alone is not a failure: every phone gets one first).
    for n in range(30):
        path = f"0004f2ff{n:04x}-settings.cfg"
        h.get(path, client="198.51.100.7", authorization=digest_for(h, path, password="guess"))
    assert h.metrics.bans == 1
    assert h.get("000000000000.cfg", client="198.51.100.7").status is Status.NOT_FOUND
    assert h.get("000000000000.cfg", client="198.51.100.8").status is Status.OK
    h.clock[0] += 601
    assert h.get("000000000000.cfg", client="198.51.100.7").status is Status.OK


def test_seen_records_hold_no_secrets(h: Harness) -> None:
    path = f"{YEALINK}.cfg"
    h.get(
        path,
        user_agent="Yealink SIP-T46S 66.85.0.5 80:5e:c0:00:00:02",
        authorization=digest_for(h, path),
    )
    h.gateway.seen.write(h.gateway.seen.take())
    (row,) = [r for r in h.store.seen.latest() if r.path == path]
    assert (row.mac, row.model, row.firmware, row.status, row.known) == (
        YEALINK,
        "t46s",
        "66.85.0.5",
        "ok",
        True,
    )
    assert PASSWORD not in repr(h.store.seen.latest())


def test_unsafe_paths_are_the_uniform_not_found(h: Harness) -> None:
    for raw in ["../etc/passwd", "%2e%2e/x", "a\\b", f"{POLYCOM}.cfg\x00"]:
        assert h.get(raw).status is Status.NOT_FOUND


def test_template_changes_reach_the_cache(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "polycom" / "ucs").mkdir(parents=True)
    with harness(tmp_path, Catalog.load(site), site_dir=site) as h:
        assert b"APPLICATION" in h.get(f"{POLYCOM}.cfg").file.data
        override = site / "polycom" / "ucs" / "master.cfg.j2"
        override.write_text('<SITE mac="{{ phone.mac }}"/>\n')
        h.run(h.cache.refresh())
        assert h.get(f"{POLYCOM}.cfg").file.data == f'<SITE mac="{POLYCOM}"/>\n'.encode()
        override.write_text("<broken\n")  # not well-formed: the phone keeps its last good file
        h.run(h.cache.refresh())
        assert h.get(f"{POLYCOM}.cfg").file.data == f'<SITE mac="{POLYCOM}"/>\n'.encode()
        assert h.metrics.render_errors >= 1


def test_a_banned_address_cannot_log_in_over_ftp(tmp_path: Path, catalog: Catalog) -> None:
    document = fleet()
    document["tenants"][0]["settings"] = {
        "access.ftp.enabled": True,
        "access.ftp.user": "acme-ftp",
        "access.ftp.password": "ftp-pass-1234",
    }
    with harness(tmp_path, catalog, document) as h:
        backend = GatewayFtpBackend(h.gateway, h.loop)

        def login(password: str, client: str = "198.51.100.7") -> int | None:
            result: int | None = h.run(backend._authenticate("acme-ftp", password, client))
            return result

        tenant = login("ftp-pass-1234")
        assert tenant is not None
        for _ in range(30):
            assert login("guess") is None
        assert h.metrics.bans == 1
        assert login("ftp-pass-1234") is None  # banned: even the right password
        assert login("ftp-pass-1234", client="198.51.100.8") == tenant
        h.clock[0] += 601
        assert login("ftp-pass-1234") == tenant


def _failures(h: Harness, client: str) -> int:
    window = h.gateway.bans._failures.get(client)
    return 0 if window is None else len(window.times)


def test_unknown_macs_count_once_each_challenged_or_not(h: Harness) -> None:
    walker = "198.51.100.20"
    for n in range(5):
        for _ in range(3):  # the same guess again adds nothing
            reply = h.get(f"0004f2ee{n:04x}.cfg", client=walker)
            assert reply.status is Status.CHALLENGE  # the scope uses digest (the Yealink)
    assert _failures(h, walker) == 5
    for n in range(25):
        h.get(f"0004f2ef{n:04x}.cfg", client=walker)
    assert h.metrics.bans == 1
    assert h.get(f"{POLYCOM}.cfg", client=walker).status is Status.NOT_FOUND


def test_a_known_phones_challenges_and_optional_files_never_count(h: Harness) -> None:
    client = "198.51.100.21"
    for _ in range(40):
        assert h.get(f"{YEALINK}.cfg", client=client).status is Status.CHALLENGE
        assert h.get(f"{POLYCOM}-license.cfg", client=client).status is not Status.OK
        # The Yealink's optional files, asked for with its right credentials.
        for name in (f"{YEALINK}.boot", f"{YEALINK}-local.cfg"):
            assert h.get(name, client=client, authorization=digest_for(h, name)).status is (
                Status.NOT_FOUND
            )
    assert _failures(h, client) == 0
    # Another family's per-phone name for this MAC is a failure.
    h.get(f"SEP{POLYCOM}.cnf.xml", client=client)
    assert _failures(h, client) == 1


def test_the_notify_address_is_learned_only_from_admitted_fetches(h: Harness) -> None:
    path = f"{YEALINK}.cfg"
    forged_ua = "Yealink SIP-T46S 66.85.0.5 80:5e:c0:00:00:02"
    h.get(path, client="203.0.113.1")  # challenged
    h.get(path, client="203.0.113.2", authorization=digest_for(h, path, password="wrong"))
    h.get("y000000000066.cfg", client="203.0.113.3", user_agent=forged_ua)  # shared file
    h.get(path, client="203.0.113.4", protocol=Protocol.TFTP)  # protected: TFTP refused
    assert YEALINK not in h.gateway.learned.current
    assert h.gateway.learned.take() == []
    assert h.get(path, client="192.0.2.50", authorization=digest_for(h, path)).status is Status.OK
    assert h.gateway.learned.current[YEALINK] == "192.0.2.50"
    (admitted,) = h.gateway.learned.take()
    assert (admitted.mac, admitted.address, admitted.protocol) == (YEALINK, "192.0.2.50", "http")
    h.get(path, client="203.0.113.1")
    assert h.gateway.learned.current[YEALINK] == "192.0.2.50"


@pytest.mark.parametrize(
    ("mac", "protocol", "how", "accepted"),
    [
        (POLYCOM, Protocol.HTTP, "none", False),
        (POLYCOM, Protocol.HTTPS, "none", False),
        (POLYCOM, Protocol.HTTPS, "certificate", True),
        (POLYCOM, Protocol.HTTPS, "another certificate", False),
        (POLYCOM, Protocol.FTP, "ftp login", False),
        (POLYCOM, Protocol.TFTP, "none", False),
        (POLYCOM, Protocol.HTTP, "opt-in", True),
        (POLYCOM, Protocol.FTP, "opt-in", True),
        (HOSTED, Protocol.HTTP, "url token", True),
    ],
)
def test_uploads_need_the_phones_own_authentication(
    h: Harness, mac: str, protocol: Protocol, how: str, accepted: bool
) -> None:
    if how == "opt-in":
        Edits.of(h.store).settings.set(parse_scope(f"phone:{mac}"), "uploads.unauthenticated", True)
        Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "access.ftp.enabled", True)
        h.run(h.cache.refresh())
    name = f"{mac}-app.log"
    path = f"{TOKEN}/{name}" if how == "url token" else name
    fetch = Fetch(
        protocol,
        path,
        "198.51.100.30",
        method="PUT",
        uri="/" + path,
        ftp_tenant=h.cache.macs[mac].tenant_id if protocol is Protocol.FTP else None,
        cert_mac={"certificate": mac, "another certificate": YEALINK}.get(how),
    )
    reply, ticket = h.run(h.gateway.authorize_upload(fetch))
    assert (ticket is not None) is accepted, reply
    if not accepted:
        assert reply.status in (Status.NOT_FOUND, Status.CHALLENGE)


def test_uploads_with_the_phones_digest_are_accepted(h: Harness) -> None:
    # The Yealink family declares no uploads; give the protected one a Polycom's.
    Edits.of(h.store).settings.set(
        parse_scope(f"phone:{POLYCOM}"), "access.http.password", PASSWORD
    )
    h.run(h.cache.refresh())
    name = f"{POLYCOM}-app.log"
    fetch = Fetch(
        Protocol.HTTP,
        name,
        "198.51.100.31",
        method="PUT",
        uri="/" + name,
        authorization=digest_for(h, name, user=POLYCOM, method="PUT"),
    )
    reply, ticket = h.run(h.gateway.authorize_upload(fetch))
    assert ticket is not None, reply
    assert POLYCOM not in h.gateway.learned.current  # learned once the upload is stored
    assert h.run(h.gateway.store_upload(fetch, ticket, b"log")).status is Status.OK
    assert h.gateway.learned.current[POLYCOM] == "198.51.100.31"


def test_a_failed_lookup_counts_at_once_and_is_logged_by_the_drain_at_the_latest(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Its log line waits a little (bench/security.py's timing), never longer than the drain."""
    h.gateway.bans.limit = 2
    with caplog.at_level("WARNING", logger="provisioner.gateway"):
        for mac in ("0004f2999998", "0004f2999999"):
            path = f"{mac}.cfg"
            # The scope uses credentials: an unknown MAC is challenged (the uniform failure).
            assert h.get(path, client="192.0.2.50").status is Status.CHALLENGE

            async def settle() -> None:
                await asyncio.sleep(0)  # the bookkeeping after the answer

            h.run(settle())
        assert h.gateway.banned("192.0.2.50")  # counted without waiting for the lines
        h.run(h.gateway.drain())
    lines = [r.getMessage() for r in caplog.records if "event=lookup_failed" in r.getMessage()]
    assert lines == [
        f"event=lookup_failed client=192.0.2.50 protocol=http path={m}.cfg"
        for m in ("0004f2999998", "0004f2999999")
    ]
