"""SOAP 1.1 envelopes for the sipXconfig PhoneService: hardened reading, answers, faults.

Requests are read with lxml under every switch that keeps a hostile
document harmless: no DTD loaded, no entity resolved, no network, no huge
trees; and a document with any ``<!DOCTYPE`` is refused before it is parsed
(an internal subset is where XXE and "billion laughs" live, and a SOAP
message may not carry one: SOAP 1.1 §3, WS-I Basic Profile 1.1 R1008). The
body's size is bounded by the caller (:func:`provisioner.api._bodies.bounded_body`).

Only what the WSDL describes is accepted: document/literal, the operation
named by the body's one element, its parts unqualified (the schema has no
``elementFormDefault``; a qualified part is accepted too). An element the
operation does not define is refused by name, never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from provisioner.errors import InputError
from provisioner.problems import ProblemInfo
from provisioner.sipx_phones import (
    ExternalLine,
    ManagePhone,
    PhoneSearch,
    SipxLine,
    SipxPhone,
)

__all__ = [
    "MAX_GROUPS",
    "NS",
    "SOAP_ENV",
    "Request",
    "envelope",
    "fault",
    "find_phone_response",
    "read_add_phone",
    "read_find_phone",
    "read_manage_phone",
    "read_request",
]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS = "http://www.sipfoundry.org/2007/08/21/ConfigService"
PROBLEM_NS = "urn:provisioner:problem"
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)
# Groups of one added phone: each missing one is created, so a request may not
# make thousands (no phone is in more than a handful of groups).
MAX_GROUPS = 100
# What XML 1.0 §2.2 cannot carry: a message naming such a character is answered with U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class Request:
    """A SOAP request: its operation's element (local name) and that element."""

    operation: str
    element: etree._Element


def read_request(raw: bytes) -> Request:
    """The operation a SOAP 1.1 envelope calls; :class:`InputError` naming what is wrong."""
    if not raw.strip():
        raise InputError("the body is empty; expected a SOAP 1.1 envelope")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the body is not UTF-8") from None
    # NUL is not XML (§2.2); refusing it here also keeps UTF-16 (every other byte NUL)
    # from slipping a DOCTYPE past the check below.
    if "\x00" in text:
        raise InputError("the body holds NUL characters; expected UTF-8 XML")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise InputError("a SOAP message may not have a DOCTYPE (no DTDs or entities)")
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"the body is not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.internalDTD is not None:  # a second guard, never reached
        raise InputError("a SOAP message may not have a DOCTYPE (no DTDs or entities)")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise InputError(f"the document is <{_name(root)}>, not a SOAP 1.1 Envelope ({SOAP_ENV})")
    body = None
    for child in _elements(root):
        if child.tag == f"{{{SOAP_ENV}}}Header":
            _check_headers(child)
        elif child.tag == f"{{{SOAP_ENV}}}Body" and body is None:
            body = child
        else:
            raise InputError(f"Envelope: unexpected element <{_name(child)}>")
    if body is None:
        raise InputError("Envelope: no Body")
    parts = list(_elements(body))
    if len(parts) != 1:
        raise InputError(f"Body: expected one operation element, found {len(parts)}")
    part = parts[0]
    if etree.QName(part).namespace != NS:
        raise InputError(f"Body: <{_name(part)}> is not an operation of the PhoneService ({NS})")
    return Request(etree.QName(part).localname, part)


def _check_headers(header: etree._Element) -> None:
    """Refuse a header the sender says must be understood (SOAP 1.1 §4.2.3): we know none."""
    for entry in _elements(header):
        if entry.get(f"{{{SOAP_ENV}}}mustUnderstand") in ("1", "true"):
            raise InputError(f"Header: <{_name(entry)}> must be understood, and is not")


def _elements(parent: etree._Element) -> Iterable[etree._Element]:
    """Child elements; text between them must be white space."""
    if parent.text and parent.text.strip():
        raise InputError(f"<{_name(parent)}>: unexpected text {parent.text.strip()[:40]!r}")
    for child in parent:
        if child.tail and child.tail.strip():
            raise InputError(f"<{_name(parent)}>: unexpected text {child.tail.strip()[:40]!r}")
        yield child


def _name(element: etree._Element) -> str:
    return str(etree.QName(element).localname)


class _Fields:
    """The child elements of one complex value, read once each, in any order."""

    def __init__(self, element: etree._Element, where: str, known: tuple[str, ...]) -> None:
        self.where = where
        self.found: dict[str, list[etree._Element]] = {}
        for child in _elements(element):
            qname = etree.QName(child)
            if qname.namespace not in (None, NS) or qname.localname not in known:
                raise InputError(
                    f"{where}: unknown element <{qname.localname}>; expected " + ", ".join(known)
                )
            self.found.setdefault(qname.localname, []).append(child)

    def many(self, name: str, limit: int | None = None) -> list[etree._Element]:
        items = [e for e in self.found.get(name, []) if not _nil(e)]
        if limit is not None and len(items) > limit:
            raise InputError(f"{self.where}.{name}: given {len(items)} times, at most {limit}")
        return items

    def one(self, name: str) -> etree._Element | None:
        items = self.found.get(name, [])
        if len(items) > 1:
            raise InputError(f"{self.where}.{name}: given {len(items)} times, at most once")
        return items[0] if items and not _nil(items[0]) else None

    def text(self, name: str, *, required: bool = False) -> str | None:
        element = self.one(name)
        if element is None:
            if required:
                raise InputError(f"{self.where}.{name}: required")
            return None
        return _text(element, f"{self.where}.{name}")

    def flag(self, name: str) -> bool:
        value = self.text(name)
        if value is None:
            return False
        if value.strip() in ("true", "1"):
            return True
        if value.strip() in ("false", "0"):
            return False
        raise InputError(f"{self.where}.{name}: {value!r} is not a boolean (true, false, 1, 0)")


def _nil(element: etree._Element) -> bool:
    return element.get(f"{{{XSI}}}nil") in ("true", "1")


def _text(element: etree._Element, where: str) -> str:
    if len(element):
        raise InputError(f"{where}: expected text, found <{_name(element[0])}>")
    return element.text or ""


def _line(element: etree._Element, where: str) -> SipxLine:
    fields = _Fields(element, where, ("userId", "uri"))
    return SipxLine(fields.text("userId", required=True) or "", fields.text("uri") or "")


def read_add_phone(element: etree._Element) -> SipxPhone:
    """AddPhone's phone."""
    phone = _Fields(element, "AddPhone", ("phone",)).one("phone")
    if phone is None:
        raise InputError("AddPhone.phone: required")
    where = "AddPhone.phone"
    known = ("serialNumber", "modelId", "description", "groups", "lines", "deviceVersion")
    fields = _Fields(phone, where, known)
    return SipxPhone(
        serial_number=fields.text("serialNumber", required=True) or "",
        model_id=fields.text("modelId", required=True) or "",
        description=fields.text("description"),
        groups=[_text(g, f"{where}.groups") for g in fields.many("groups", MAX_GROUPS)],
        lines=[_line(e, f"{where}.lines[{n}]") for n, e in enumerate(fields.many("lines"))],
        device_version=fields.text("deviceVersion"),
    )


def _search(element: etree._Element | None, where: str) -> PhoneSearch:
    if element is None:
        return PhoneSearch()
    fields = _Fields(element, where, ("bySerialNumber", "byGroup"))
    return PhoneSearch(fields.text("bySerialNumber"), fields.text("byGroup"))


def read_find_phone(element: etree._Element) -> PhoneSearch:
    """FindPhone's search (absent, as in the manual's "list all" example: every phone)."""
    return _search(_Fields(element, "FindPhone", ("search",)).one("search"), "FindPhone.search")


_MANAGE = (
    "search",
    "edit",
    "deletePhone",
    "addGroup",
    "removeGroup",
    "addLine",
    "addExternalLine",
    "removeLineByUserId",
    "removeLineByUri",
    "generateProfiles",
    "restart",
)


def read_manage_phone(element: etree._Element) -> ManagePhone:
    """ManagePhone: the search and every change asked for."""
    w = "ManagePhone"
    fields = _Fields(element, w, _MANAGE)
    edits = []
    for n, item in enumerate(fields.many("edit")):
        prop = _Fields(item, f"{w}.edit[{n}]", ("property", "value"))
        name = prop.text("property", required=True) or ""
        edits.append((name, prop.text("value")))
    external = fields.one("addExternalLine")
    add_line = fields.one("addLine")
    return ManagePhone(
        search=_search(fields.one("search"), f"{w}.search"),
        edits=edits,
        delete=fields.flag("deletePhone"),
        add_group=fields.text("addGroup"),
        remove_group=fields.text("removeGroup"),
        add_line=None if add_line is None else _line(add_line, f"{w}.addLine"),
        add_external_line=None if external is None else _external(external),
        remove_line_by_user_id=fields.text("removeLineByUserId"),
        remove_line_by_uri=fields.text("removeLineByUri"),
        generate_profiles=fields.flag("generateProfiles"),
        restart=fields.flag("restart"),
    )


def _external(element: etree._Element) -> ExternalLine:
    where = "ManagePhone.addExternalLine"
    known = ("userId", "displayName", "password", "registrationServer", "voiceMail")
    fields = _Fields(element, where, known)
    return ExternalLine(
        user_id=fields.text("userId", required=True) or "",
        registration_server=fields.text("registrationServer", required=True) or "",
        display_name=fields.text("displayName"),
        password=fields.text("password"),
        voicemail=fields.text("voiceMail"),
    )


# --- answers ------------------------------------------------------------------------


def envelope(content: etree._Element | None = None) -> bytes:
    """A SOAP 1.1 envelope around ``content`` (``None``: an empty Body)."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    body = etree.SubElement(root, f"{{{SOAP_ENV}}}Body")
    if content is not None:
        body.append(content)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _add(parent: etree._Element, name: str, text: str) -> etree._Element:
    child = etree.SubElement(parent, name)
    child.text = _NOT_XML.sub("\ufffd", text)
    return child


def find_phone_response(phones: list[SipxPhone]) -> etree._Element:
    """FindPhoneResponse: phones/item, each a Phone in the WSDL's element order."""
    answer = etree.Element(f"{{{NS}}}FindPhoneResponse", nsmap={"impl": NS})
    array = etree.SubElement(answer, "phones")
    for phone in phones:
        item = etree.SubElement(array, "item")
        _add(item, "serialNumber", phone.serial_number)
        _add(item, "modelId", phone.model_id)
        if phone.description is not None:
            _add(item, "description", phone.description)
        for group in phone.groups:
            _add(item, "groups", group)
        for line in phone.lines:
            element = etree.SubElement(item, "lines")
            _add(element, "userId", line.user_id)
            _add(element, "uri", line.uri)
        if phone.device_version is not None:
            _add(item, "deviceVersion", phone.device_version)
    return answer


def fault(info: ProblemInfo, instance: str, request_id: str) -> bytes:
    """A SOAP 1.1 Fault carrying the API's problem: ``faultstring`` is its detail, ``detail``
    its document (code, title, status, field, errors), as the REST API answers it."""
    node = etree.Element(f"{{{SOAP_ENV}}}Fault")
    side = "Client" if info.code.status < 500 else "Server"
    _add(node, "faultcode", f"soapenv:{side}")
    _add(node, "faultstring", info.detail)
    detail = etree.SubElement(node, "detail")
    problem = etree.SubElement(detail, f"{{{PROBLEM_NS}}}problem", nsmap={"p": PROBLEM_NS})
    document = info.document(instance, request_id)
    for key in ("type", "title", "status", "code", "detail", "field", "instance", "request_id"):
        if key in document:
            _add(problem, f"{{{PROBLEM_NS}}}{key}", str(document[key]))
    for error in info.errors:
        item = _add(problem, f"{{{PROBLEM_NS}}}error", error.message)
        item.set("field", _NOT_XML.sub("\ufffd", error.field))
    return envelope(node)
