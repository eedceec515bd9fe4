"""The sipXconfig SOAP PhoneService (seed 003 §13.6), called with zeep against the running server.

zeep is the SOAP client sipXconfig's users script with; it is built from the
WSDL in ``shared/sipxconfig/`` (the package's copy when that directory is
not beside the checkout) and pointed at the server, as a script moved from
sipXcom would be. Every operation runs on SQLite and PostgreSQL (the
``api`` fixture); the phones it writes are checked through the REST API,
and its faults against the REST API's problems for the same mistake.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport

from provisioner.actor import Actor
from provisioner.api._soap import SOAP_PATH, soap_tenant
from provisioner.apikeys import Role, Verified
from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.errors import InputError, NotFoundError
from provisioner.sip_users import UserChange, put_user
from provisioner.state import Part
from provisioner.store import Store
from tests.api.conftest import Api, Client

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "sipxconfig" / "PhoneService.wsdl"
SHIPPED = ROOT / "provisioner" / "api" / "wsdl" / "PhoneService.wsdl"
NS = "http://www.sipfoundry.org/2007/08/21/ConfigService"
BINDING = f"{{{NS}}}PhoneServiceSoapBinding"
PROBLEM = "{urn:provisioner:problem}"


def _wsdl_file() -> Path:
    return SHARED if SHARED.exists() else SHIPPED


def _root(api: Api) -> str:
    return api.base.removesuffix("/api/v1")


Service = Any  # zeep's ServiceProxy: operations are attributes


@pytest.fixture
def soap(api: Api) -> Iterator[Callable[[str], Service]]:
    """A zeep service for a key (by the conftest's name), Basic auth, user name as sipXcom's."""
    sessions: list[requests.Session] = []

    def service(key: str, user: str = "superadmin") -> Service:
        session = requests.Session()
        session.auth = (user, api.keys.get(key, key))
        sessions.append(session)
        client = zeep.Client(str(_wsdl_file()), transport=Transport(session=session))
        return client.create_service(BINDING, _root(api) + SOAP_PATH)

    yield service
    for session in sessions:
        session.close()


def _fault(call: Callable[[], object]) -> tuple[zeep.exceptions.Fault, dict[str, str]]:
    """The fault a call raises, and its problem's fields."""
    with pytest.raises(zeep.exceptions.Fault) as caught:
        call()
    fault = caught.value
    assert fault.detail is not None
    fields = {
        child.tag.removeprefix(PROBLEM): child.text or ""
        for child in fault.detail.find(f"{PROBLEM}problem")
    }
    return fault, fields


def _macs(found: list[Any] | None) -> list[str]:
    """The serial numbers zeep found (an empty array comes back as ``None``)."""
    return [phone.serialNumber for phone in found or []]


def _phone(client: Client, api: Api, mac: str) -> Any:
    answer = client("GET", api.url(f"/phones/{mac}"), api.keys["admin"])
    assert answer.status == 200, answer.body
    return answer.body


# --- the WSDL ------------------------------------------------------------------------


def test_the_shipped_wsdl_is_the_shared_one() -> None:
    if not SHARED.exists():
        pytest.skip("shared/sipxconfig/ is not beside this checkout")
    assert SHIPPED.read_bytes() == SHARED.read_bytes()


def test_the_wsdl_is_served_with_this_servers_address(api: Api) -> None:
    url = _root(api) + SOAP_PATH
    answer = requests.get(url + "?wsdl", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/xml")
    root = etree.fromstring(answer.content)
    (address,) = root.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == url
    # zeep built from the served WSDL calls this server without being told where it is.
    session = requests.Session()
    session.auth = ("superadmin", api.keys["viewer@demo"])
    client = zeep.Client(url + "?wsdl", transport=Transport(session=session))
    phones = client.service.findPhone(search={"bySerialNumber": "0004f2123456"})
    assert [p.serialNumber for p in phones] == ["0004f2123456"]


def test_a_get_without_wsdl_is_refused_with_a_fault(api: Api) -> None:
    answer = requests.get(_root(api) + SOAP_PATH, timeout=10)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"
    assert b"?wsdl" in answer.content
    assert b"Fault" in answer.content


# --- authentication ------------------------------------------------------------------


def test_a_wrong_key_is_401_with_a_basic_challenge(api: Api, soap: Callable[..., Service]) -> None:
    fault, problem = _fault(lambda: soap("prov_000000000000_" + "x" * 43).findPhone(search={}))
    assert problem["code"] == "1201"
    assert fault.message == "the API key is unknown, revoked or expired"
    answer = requests.post(_root(api) + SOAP_PATH, data=b"<x/>", timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    assert b"1201" in answer.content  # the REST API's code for a missing key


def test_the_user_name_is_not_checked(soap: Callable[..., Service]) -> None:
    for user in ("superadmin", "", "someone-else"):
        found = soap("viewer@demo", user).findPhone(search={"bySerialNumber": "0004f2123456"})
        assert len(found) == 1


def test_a_viewer_key_finds_but_does_not_change(soap: Callable[..., Service]) -> None:
    service = soap("viewer@demo")
    _, problem = _fault(
        lambda: service.managePhone(search={"bySerialNumber": "0004f2123456"}, restart=True)
    )
    assert problem["code"] == "1202"
    assert problem["detail"] == "ManagePhone needs the operator role; key viewer-demo is viewer"


def test_a_key_of_every_tenant_on_a_server_of_two_is_refused(soap: Callable[..., Service]) -> None:
    fault, problem = _fault(lambda: soap("operator").findPhone(search={}))
    assert problem["code"] == "1001"
    assert "use a key limited to the tenant" in fault.message


def test_a_key_of_every_tenant_acts_in_the_only_tenant(store: Store) -> None:
    key = Verified(1, "admin", Role.ADMIN, None)
    with pytest.raises(NotFoundError, match="there is no tenant yet"):
        soap_tenant(store, key)
    Edits.of(store).tenants.add("solo", "solo.example.com")
    assert soap_tenant(store, key) == "solo"
    assert soap_tenant(store, Verified(2, "op", Role.OPERATOR, "elsewhere")) == "elsewhere"
    Edits.of(store).tenants.add("second", "second.example.com")
    with pytest.raises(InputError, match="this server has 2"):
        soap_tenant(store, key)


# --- addPhone and findPhone ------------------------------------------------------------


def test_add_phone_with_groups_then_find_it(
    api: Api, client: Client, soap: Callable[..., Service]
) -> None:
    service = soap("operator@demo")
    answer = service.addPhone(
        phone={
            "serialNumber": "00:04:F2:00:00:02",
            "modelId": "polycom321",
            "description": "SOAP added phone",
            "groups": ["office", "FirstPhoneGroup"],
            "deviceVersion": "polycom4.0.X",
        }
    )
    assert answer is None  # the WSDL's addPhoneResponse is empty
    stored = _phone(client, api, "0004f2000002")
    assert stored["model"] == "spip321"
    assert stored["groups"] == ["FirstPhoneGroup", "office"]
    assert stored["description"] == "SOAP added phone"
    assert stored["settings"] == {"firmware.version": "4.0"}
    group = client("GET", api.url("/tenants/demo/groups/FirstPhoneGroup"), api.keys["admin"])
    assert group.status == 200  # made because it was missing, as sipXconfig does

    (found,) = service.findPhone(search={"bySerialNumber": "0004f2000002"})
    assert found.serialNumber == "0004f2000002"
    assert found.modelId == "polycom321"  # sipXconfig's id back, not ours
    assert found.description == "SOAP added phone"
    assert found.groups == ["FirstPhoneGroup", "office"]
    assert found.deviceVersion == "4.0"
    in_group = service.findPhone(search={"byGroup": "FirstPhoneGroup"})
    assert [p.serialNumber for p in in_group] == ["0004f2000002"]


def test_find_phone_lists_the_tenants_phones_with_their_lines(
    soap: Callable[..., Service],
) -> None:
    everything = soap("viewer@demo").findPhone(search={})
    macs = [p.serialNumber for p in everything]
    assert "0004f2123456" in macs
    assert "805ec0aabbcc" not in macs
    assert macs == sorted(macs)
    reception = next(p for p in everything if p.serialNumber == "0004f2123456")
    assert [(line.userId, line.uri) for line in reception.lines] == [
        ("200", "200@pbx.demo.example"),
        ("201", "201@pbx.demo.example"),
    ]


def test_find_phone_finds_nothing_rather_than_failing(soap: Callable[..., Service]) -> None:
    service = soap("viewer@demo")
    assert _macs(service.findPhone(search={"bySerialNumber": "0004f2999999"})) == []
    assert _macs(service.findPhone(search={"byGroup": "no-such-group"})) == []
    assert _macs(service.findPhone(search={"bySerialNumber": "805ec0aabbcc"})) == []  # other's


def test_add_phone_faults_as_the_rest_api_refuses(
    api: Api, client: Client, soap: Callable[..., Service]
) -> None:
    service = soap("operator@demo")
    rest = client(
        "POST",
        api.url("/phones"),
        api.keys["operator@demo"],
        json={"tenant": "demo", "mac": "0004f2123456", "model": "vvx410"},
    )
    fault, problem = _fault(
        lambda: service.addPhone(phone={"serialNumber": "0004f2123456", "modelId": "vvx410"})
    )
    assert problem["code"] == str(rest.body["code"]) == "1005"
    assert fault.message == rest.body["detail"]
    fault, problem = _fault(
        lambda: service.addPhone(phone={"serialNumber": "0004f2000003", "modelId": "polycom999"})
    )
    assert problem["code"] == "1003"
    assert "unknown model 'polycom999'" in fault.message
    assert _macs(service.findPhone(search={"bySerialNumber": "0004f2000003"})) == []


# --- managePhone ------------------------------------------------------------------------


def _add(service: Service, mac: str, *groups: str) -> None:
    service.addPhone(phone={"serialNumber": mac, "modelId": "t46s", "groups": list(groups)})


def test_manage_phone_edits_properties(
    api: Api, client: Client, soap: Callable[..., Service]
) -> None:
    service = soap("operator@demo")
    _add(service, "805ec0000010")
    service.managePhone(
        search={"bySerialNumber": "805ec0000010"},
        edit=[
            {"property": "description", "value": "Edited"},
            {"property": "modelId", "value": "yealinkPhoneSIPT48S"},
            {"property": "deviceVersion", "value": "66.86.0.15"},
        ],
    )
    stored = _phone(client, api, "805ec0000010")
    assert (stored["description"], stored["model"]) == ("Edited", "t48s")
    assert stored["settings"] == {"firmware.version": "66.86.0.15"}
    service.managePhone(
        search={"bySerialNumber": "805ec0000010"},
        edit=[{"property": "serialNumber", "value": "80:5e:c0:00:00:11"}],
    )
    assert client("GET", api.url("/phones/805ec0000010"), api.keys["admin"]).status == 404
    assert _phone(client, api, "805ec0000011")["description"] == "Edited"
    fault, problem = _fault(
        lambda: service.managePhone(
            search={"bySerialNumber": "805ec0000011"},
            edit=[{"property": "colour", "value": "red"}],
        )
    )
    assert problem["code"] == "1001"
    assert "unknown property 'colour'" in fault.message


def test_manage_phone_is_all_or_nothing(
    api: Api, client: Client, soap: Callable[..., Service]
) -> None:
    service = soap("operator@demo")
    _add(service, "805ec0000020")
    rest = client(
        "POST",
        api.url("/phones"),
        api.keys["operator@demo"],
        json={"tenant": "demo", "mac": "0004f2123456", "model": "vvx410"},
    )
    fault, problem = _fault(
        lambda: service.managePhone(
            search={"bySerialNumber": "805ec0000020"},
            edit=[
                {"property": "description", "value": "never stored"},
                {"property": "serialNumber", "value": "0004f2123456"},  # taken
            ],
        )
    )
    assert problem["code"] == "1005"
    assert fault.message == rest.body["detail"]
    assert "description" not in _phone(client, api, "805ec0000020")


def test_manage_phone_groups(api: Api, client: Client, soap: Callable[..., Service]) -> None:
    service = soap("operator@demo")
    _add(service, "805ec0000030", "office")
    _add(service, "805ec0000031", "office")
    service.managePhone(search={"bySerialNumber": "805ec0000030"}, addGroup="SecondGroup")
    assert _phone(client, api, "805ec0000030")["groups"] == ["SecondGroup", "office"]
    service.managePhone(search={"byGroup": "SecondGroup"}, removeGroup="office")
    assert _phone(client, api, "805ec0000030")["groups"] == ["SecondGroup"]
    assert _phone(client, api, "805ec0000031")["groups"] == ["office"]
    _, problem = _fault(
        lambda: service.managePhone(search={"byGroup": "no-such-group"}, addGroup="x")
    )
    rest = client("GET", api.url("/tenants/demo/groups/no-such-group"), api.keys["admin"])
    assert problem["code"] == str(rest.body["code"]) == "1004"
    assert problem["detail"] == rest.body["detail"]


def test_manage_phone_external_lines(
    api: Api, client: Client, soap: Callable[..., Service]
) -> None:
    service = soap("operator@demo")
    _add(service, "805ec0000040")
    for user in ("501", "502"):
        service.managePhone(
            search={"bySerialNumber": "805ec0000040"},
            addExternalLine={
                "userId": user,
                "displayName": f"Ext {user}",
                "password": f"pw-{user}",
                "registrationServer": "sip.carrier.example:5080",
                "voiceMail": "*86",
            },
        )
    lines = client("GET", api.url("/phones/805ec0000040/lines"), api.keys["admin"]).body["items"]
    assert [(x["position"], x["user"], x["auth_user"]) for x in lines] == [
        (1, "501", "501"),
        (2, "502", "502"),
    ]
    assert lines[0]["display_name"] == "Ext 501"
    assert lines[0]["registrar"] == {"host": "sip.carrier.example", "port": 5080}
    assert lines[0]["voicemail_number"] == "*86"
    (found,) = service.findPhone(search={"bySerialNumber": "805ec0000040"})
    assert [x.uri for x in found.lines] == ["501@sip.carrier.example", "502@sip.carrier.example"]
    service.managePhone(search={"bySerialNumber": "805ec0000040"}, removeLineByUserId="501")
    service.managePhone(
        search={"bySerialNumber": "805ec0000040"}, removeLineByUri="sip:502@SIP.carrier.example"
    )
    lines = client("GET", api.url("/phones/805ec0000040/lines"), api.keys["admin"]).body["items"]
    assert lines == []


def test_generate_profiles_and_restart_queue_check_sync_jobs(
    api: Api, client: Client, soap: Callable[..., Service]
) -> None:
    service = soap("operator@demo")
    _add(service, "805ec0000050", "JobsGroup")
    _add(service, "805ec0000051", "JobsGroup")

    def newest() -> Any:
        jobs = client("GET", api.url("/jobs?limit=1"), api.keys["admin"]).body["items"]
        return jobs[0]

    service.managePhone(search={"byGroup": "JobsGroup"}, generateProfiles=True)
    job = newest()
    assert (job["selector"], job["event"], job["total"]) == ("group demo/JobsGroup", "resync", 2)
    service.managePhone(
        search={"bySerialNumber": "805ec0000050"}, generateProfiles=True, restart=True
    )
    job = newest()
    assert (job["selector"], job["event"], job["total"]) == ("phone 805ec0000050", "reboot", 1)


def test_delete_phones_by_group(api: Api, client: Client, soap: Callable[..., Service]) -> None:
    service = soap("operator@demo")
    _add(service, "805ec0000060", "DeleteMe")
    _add(service, "805ec0000061", "DeleteMe")
    _, problem = _fault(lambda: service.managePhone(search={}, deletePhone=True))
    assert problem["code"] == "1001"  # never every phone of the tenant by accident
    service.managePhone(search={"byGroup": "DeleteMe"}, deletePhone=True)
    for mac in ("805ec0000060", "805ec0000061"):
        assert client("GET", api.url(f"/phones/{mac}"), api.keys["admin"]).status == 404
    rest = client("GET", api.url("/phones/805ec0000060"), api.keys["admin"])
    _, problem = _fault(
        lambda: service.managePhone(search={"bySerialNumber": "805ec0000060"}, deletePhone=True)
    )
    assert problem["code"] == str(rest.body["code"]) == "1004"
    assert problem["detail"] == rest.body["detail"]


# --- lines of the tenant's users (addLine) ----------------------------------------------


@pytest.fixture
def users(api: Api, catalog: Catalog) -> Callable[[str, str], None]:
    """Put a user in tenant demo, through the service the CSV import and the API use."""

    def put(name: str, password: str) -> None:
        store = Store.open(api.db, catalog)
        try:
            change = UserChange(password=password, first_name="Ann", last_name=f"User {name}")
            put_user(store, Edits.of(store, Actor.cli()), "demo", name, change)
        finally:
            store.close()

    return put


def _stored_lines(api: Api, catalog: Catalog, mac: str) -> list[tuple[int, str, str, str]]:
    """Lines as stored (the password too, which no API answer shows)."""
    store = Store.open(api.db, catalog)
    try:
        phone = store.tenants.state("demo", Part(frozenset({mac}))).phones[mac]
    finally:
        store.close()
    return [(x.position, x.user, x.password, x.display_name) for x in phone.lines]


def test_add_phone_with_lines_of_users(
    api: Api, catalog: Catalog, users: Callable[[str, str], None], soap: Callable[..., Service]
) -> None:
    users("221", "pw-221-secret")
    users("222", "pw-222-secret")
    service = soap("operator@demo")
    service.addPhone(
        phone={
            "serialNumber": "0004f2000221",
            "modelId": "polycom335",
            "lines": [
                {"userId": "221", "uri": "221@Pbx.Demo.Example"},  # the manual's form
                {"userId": "222", "uri": "sip:222@pbx.demo.example"},
            ],
        }
    )
    assert _stored_lines(api, catalog, "0004f2000221") == [
        (1, "221", "pw-221-secret", "Ann User 221"),
        (2, "222", "pw-222-secret", "Ann User 222"),
    ]
    (found,) = service.findPhone(search={"bySerialNumber": "0004f2000221"})
    assert [(x.userId, x.uri) for x in found.lines] == [
        ("221", "221@pbx.demo.example"),
        ("222", "222@pbx.demo.example"),
    ]


def test_add_line_to_a_group_then_remove_it(
    api: Api, catalog: Catalog, users: Callable[[str, str], None], soap: Callable[..., Service]
) -> None:
    users("231", "pw-231-secret")
    service = soap("operator@demo")
    _add(service, "805ec0000231", "FirstPhoneGroup231")
    _add(service, "805ec0000232", "FirstPhoneGroup231")
    service.managePhone(  # the manual's example: add the line, send profiles, restart
        search={"byGroup": "FirstPhoneGroup231"},
        addLine={"userId": "231", "uri": "231@pbx.demo.example"},
        generateProfiles=True,
        restart=True,
    )
    for mac in ("805ec0000231", "805ec0000232"):
        assert _stored_lines(api, catalog, mac) == [(1, "231", "pw-231-secret", "Ann User 231")]
    service.managePhone(search={"byGroup": "FirstPhoneGroup231"}, removeLineByUserId="231")
    for mac in ("805ec0000231", "805ec0000232"):
        assert _stored_lines(api, catalog, mac) == []


def test_add_line_of_an_unknown_user_is_a_fault(
    api: Api, catalog: Catalog, users: Callable[[str, str], None], soap: Callable[..., Service]
) -> None:
    users("241", "pw-241-secret")
    service = soap("operator@demo")
    _add(service, "805ec0000241")
    search = {"bySerialNumber": "805ec0000241"}
    fault, problem = _fault(
        lambda: service.managePhone(search=search, addLine={"userId": "999", "uri": ""})
    )
    assert problem["code"] == "1004"
    assert fault.message == "tenant demo has no user '999'"
    fault, problem = _fault(
        lambda: service.managePhone(
            search=search, addLine={"userId": "241", "uri": "241@elsewhere.example"}
        )
    )
    assert problem["code"] == "1001"
    assert "not in tenant demo's SIP domain pbx.demo.example" in fault.message
    fault, problem = _fault(
        lambda: service.addPhone(
            phone={
                "serialNumber": "805ec0000242",
                "modelId": "t46s",
                "lines": [{"userId": "nobody", "uri": ""}],
            }
        )
    )
    assert problem["code"] == "1004"
    assert _macs(service.findPhone(search={"bySerialNumber": "805ec0000242"})) == []
    assert _stored_lines(api, catalog, "805ec0000241") == []


def test_the_manuals_examples_as_printed(
    api: Api, catalog: Catalog, users: Callable[[str, str], None]
) -> None:
    """Seed 003 §13.6's requests, comments and all (only the domain is the tenant's)."""
    users("2210", "pw-2210-secret")
    added = _post(
        api,
        _envelope(
            "<con:AddPhone><phone><serialNumber>000000000002</serialNumber>"
            "<modelId>polycom321</modelId><!--Optional:-->"
            "<description>SOAP added phone</description><!--Zero or more repetitions:-->"
            "<groups>ManualGroup</groups><!--Zero or more repetitions:-->"
            "<lines><userId>2210</userId><uri>2210@pbx.demo.example</uri></lines>"
            "<!--Optional:--></phone></con:AddPhone>"
        ),
    )
    assert added.status_code == 200, added.content
    assert _stored_lines(api, catalog, "000000000002") == [
        (1, "2210", "pw-2210-secret", "Ann User 2210")
    ]
    listed = _post(api, _envelope("<con:FindPhone>\n</con:FindPhone>"), "viewer@demo")
    items = etree.fromstring(listed.content).findall(".//phones/item")
    assert "000000000002" in [item.findtext("serialNumber") for item in items]
    removed = _post(
        api,
        _envelope(
            "<con:ManagePhone><search><byGroup>ManualGroup</byGroup></search>"
            "<removeGroup>ManualGroup</removeGroup></con:ManagePhone>"
        ),
    )
    assert removed.status_code == 200, removed.content
    found = _post(
        api,
        _envelope(
            "<con:FindPhone><search><bySerialNumber>000000000002</bySerialNumber></search>"
            "</con:FindPhone>"
        ),
    )
    assert etree.fromstring(found.content).findall(".//groups") == []


# --- hostile requests -------------------------------------------------------------------


def _post(api: Api, body: bytes, key: str = "operator@demo") -> requests.Response:
    token = base64.b64encode(f"superadmin:{api.keys[key]}".encode()).decode()
    return requests.post(
        _root(api) + SOAP_PATH,
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Basic {token}"},
        timeout=30,
    )


def _envelope(inner: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{prolog}'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:con="{NS}"><soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>'
    ).encode()


XXE = '<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
LAUGHS = (
    '<!DOCTYPE e [<!ENTITY a "lol">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + "]>"
)


@pytest.mark.parametrize(
    "body",
    [
        _envelope(
            "<con:AddPhone><phone><serialNumber>&x;</serialNumber></phone></con:AddPhone>", XXE
        ),
        _envelope("<con:FindPhone><search><byGroup>&j;</byGroup></search></con:FindPhone>", LAUGHS),
        _envelope("<con:FindPhone>").replace(b"</soapenv:Body>", b""),  # not well-formed
        _envelope(
            "<con:FindPhone>" + "<search>" * 10_000 + "</search>" * 10_000 + "</con:FindPhone>"
        ),
        "<?xml version='1.0' encoding='UTF-16'?><x/>".encode("utf-16"),
        b"\xff\xfe not UTF-8",
    ],
    ids=["xxe", "billion-laughs", "malformed", "too-deep", "utf-16", "not-utf-8"],
)
def test_hostile_xml_is_a_fault_without_a_traceback(api: Api, body: bytes) -> None:
    answer = _post(api, body)
    assert answer.status_code == 500
    fault = etree.fromstring(answer.content).find(".//{*}Fault")
    assert fault is not None
    assert fault.findtext("faultcode") == "soapenv:Client"
    assert fault.findtext(f".//{PROBLEM}code") == "1101"
    assert b"root:" not in answer.content
    assert b"lollol" not in answer.content
    assert "Traceback" not in (api.data_dir / "serve.log").read_text()


def test_a_50_mb_body_is_413_before_it_is_read(api: Api) -> None:
    answer = _post(api, b"<" + b"a" * (50 << 20) + b"/>")
    assert answer.status_code == 413
    assert b"1102" in answer.content
    assert b"Fault" in answer.content


def test_a_50_mb_chunked_body_is_413(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"<soapenv:Envelope>"
        for _ in range(50):
            yield b" " * (1 << 20)

    token = base64.b64encode(f"u:{api.keys['operator@demo']}".encode()).decode()
    # urllib3 reads a response the server sends before the body is all sent.
    answer = requests.post(
        _root(api) + SOAP_PATH,
        data=chunks(),
        headers={"Content-Type": "text/xml", "Authorization": f"Basic {token}"},
        timeout=30,
    )
    assert answer.status_code == 413
    # The server is still there.
    assert _post(api, _envelope("<con:FindPhone/>"), "viewer@demo").status_code == 200


def test_an_added_phone_is_in_at_most_100_groups(api: Api) -> None:
    groups = "".join(f"<groups>g{n}</groups>" for n in range(101))
    answer = _post(
        api,
        _envelope(
            "<con:AddPhone><phone><serialNumber>0004f2000101</serialNumber>"
            f"<modelId>vvx410</modelId>{groups}</phone></con:AddPhone>"
        ),
    )
    assert answer.status_code == 500
    assert b"AddPhone.phone.groups: given 101 times, at most 100" in answer.content


def test_an_unknown_element_is_named(api: Api) -> None:
    answer = _post(api, _envelope("<con:FindPhone><serch/></con:FindPhone>"))
    assert answer.status_code == 500
    assert b"FindPhone: unknown element &lt;serch&gt;; expected search" in answer.content
    answer = _post(api, _envelope("<con:ResetServices/>"))
    fault = etree.fromstring(answer.content).find(".//{*}Fault")
    assert fault is not None
    assert fault.findtext(f".//{PROBLEM}code") == "1105"  # the REST API's "no such resource"
    assert "has no operation ResetServices" in (fault.findtext("faultstring") or "")


def test_no_socket_is_left_to_a_slow_sender(api: Api) -> None:
    """A declared body over the limit is refused from its headers alone."""
    host, port = _root(api).removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        token = base64.b64encode(f"u:{api.keys['viewer@demo']}".encode()).decode()
        conn.sendall(
            f"POST {SOAP_PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
            f"Authorization: Basic {token}\r\nContent-Length: {50 << 20}\r\n\r\n".encode()
        )
        head = conn.recv(4096)
    assert head.startswith(b"HTTP/1.1 413")
