"""``provisioner serve --trusted-proxies`` behind a real nginx reverse proxy.

nginx listens on 127.0.0.1 and passes requests to our server with
``X-Forwarded-For: $proxy_add_x_forwarded_for`` and ``X-Forwarded-Proto``,
as a typical site configuration does. curl plays phones at other loopback
addresses (``--interface 127.0.0.2``, ``127.0.0.3``): only nginx
(127.0.0.1) is trusted, so allowlists and seen records see the phone's
address through the proxy, and what a phone writes into the headers itself
is never believed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.nginx import nginx
from tests.peers import fetch_with_curl, need
from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually

MAC = "805ec0000101"
PASSWORD = "proxy-pass-1234"
UA = "Yealink SIP-T46S 66.85.0.5 80:5e:c0:00:01:01"
FLEET = {
    "tenants": [{"name": "acme", "sip_domain": "acme.example.com"}],
    "phones": [
        {
            "tenant": "acme",
            "mac": MAC,
            "model": "t46s",
            "settings": {"access.http.password": PASSWORD, "access.http.allow": "127.0.0.2/32"},
        }
    ],
}


@dataclass(frozen=True)
class Site:
    data_dir: Path
    ours: int  # our server, direct
    nginx: int  # nginx in front of it


def proxy_to(upstream: int) -> str:
    """The server block of a typical site: everything passed on with the X-Forwarded pair."""
    return f"""        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("proxy")
    (data / "fleet.json").write_text(json.dumps(FLEET))
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(data / "fleet.json"))
    options = ["--trusted-proxies", "127.0.0.1/32", "--poll-interval", "0.3"]
    with (
        serving(data, *options) as running,
        nginx(need("nginx"), data / "nginx", proxy_to(running.http)) as port,
    ):
        yield Site(data, running.http, port)


def curl(port: int, path: str, *args: str, source: str = "127.0.0.1") -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{port}/{path}"
    return fetch_with_curl("--interface", source, "-A", UA, *args, url)


DIGEST = ("--digest", "-u", f"{MAC}:{PASSWORD}")
BASIC = ("--basic", "-u", f"{MAC}:{PASSWORD}")


def test_the_allowlist_sees_the_phone_through_the_proxy(site: Site) -> None:
    assert curl(site.nginx, f"{MAC}.cfg", *DIGEST, source="127.0.0.2")[0] == 200
    assert curl(site.nginx, f"{MAC}.cfg", *DIGEST, source="127.0.0.3")[0] == 404


def test_what_a_phone_writes_is_not_believed(site: Site) -> None:
    spoof = ("-H", "X-Forwarded-For: 127.0.0.2")
    # Through nginx: it appends 127.0.0.3, the address it really saw.
    assert curl(site.nginx, f"{MAC}.cfg", *DIGEST, *spoof, source="127.0.0.3")[0] == 404
    # Straight to us from an address that is no proxy: the header is ignored.
    assert curl(site.ours, f"{MAC}.cfg", *DIGEST, *spoof, source="127.0.0.3")[0] == 404
    assert curl(site.ours, f"{MAC}.cfg", *DIGEST, source="127.0.0.2")[0] == 200


def test_basic_authentication_needs_tls_at_the_proxy(site: Site) -> None:
    # Basic credentials over plain HTTP are refused like wrong ones: the uniform 404.
    forwarded = ("-H", "X-Forwarded-For: 127.0.0.2")
    # nginx listens on plain HTTP and says so (X-Forwarded-Proto: http).
    assert curl(site.nginx, f"{MAC}.cfg", *BASIC, source="127.0.0.2")[0] == 404
    # A trusted proxy that terminated TLS says https.
    tls = ("-H", "X-Forwarded-Proto: https")
    assert curl(site.ours, f"{MAC}.cfg", *BASIC, *forwarded, *tls)[0] == 200
    assert curl(site.ours, f"{MAC}.cfg", *BASIC, *forwarded)[0] == 404
    # Anyone else saying so is not believed.
    assert curl(site.ours, f"{MAC}.cfg", *BASIC, *tls, source="127.0.0.2")[0] == 404


def test_seen_records_carry_the_phone_address(site: Site) -> None:
    assert curl(site.nginx, "y000000000066.cfg", source="127.0.0.2")[0] == 200

    def with_the_phone() -> set[str] | None:
        out = run_cli_in_process(site.data_dir, "seen", "--json").stdout
        addresses = {entry["address"] for entry in json.loads(out)}
        return addresses if "127.0.0.2" in addresses else None

    addresses = eventually(with_the_phone, "127.0.0.2 among the seen addresses")
    assert "127.0.0.1" not in addresses  # nginx itself never appears as a phone
