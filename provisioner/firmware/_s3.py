"""A small S3 client: the four object calls firmware storage needs, signed with SigV4.

Why not boto3: firmware storage needs PUT, GET, DELETE and a listing of one
bucket, where boto3, botocore and s3transfer take 34 MB installed. The
signing is AWS Signature Version 4 ("Authenticating Requests: Using the
Authorization Header", Amazon S3 API reference), checked byte for byte
against the examples published there (tests/firmware/test_s3.py).

Requests use path-style addressing (``<endpoint>/<bucket>/<key>``), which
MinIO, Ceph RGW, Garage and other S3-compatible servers accept, as does AWS
for existing buckets. A PUT carries the body's SHA-256 as
``x-amz-content-sha256``; the server recomputes it and refuses a body that
does not match, so what is stored is what was hashed at ingestion.

The calls block: run them in a thread, never on the event loop. Secrets are
never part of a message, an exception or a ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlsplit

from lxml import etree

from provisioner.errors import ProvisionerError

__all__ = ["Credentials", "S3Client", "S3Error", "S3Object", "authorization"]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_CHUNK = 1 << 20
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
# S3 answers carry no entities or DTDs; refuse them anyway (and never touch the network).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class S3Error(ProvisionerError):
    """An object-storage request failed; the message names the call and the server's reason."""


@dataclass(frozen=True)
class Credentials:
    """An access key pair (and optional session token); only the key id is ever shown."""

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class S3Object:
    """One entry of a bucket listing."""

    key: str
    size: int
    modified: float  # epoch seconds


def _encode(text: str, safe: str = "") -> str:
    """URI-encode as SigV4 wants: everything but A-Z a-z 0-9 - _ . ~ (and ``safe``)."""
    return quote(text, safe="-_.~" + safe)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def authorization(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    payload_sha256: str,
    credentials: Credentials,
    region: str,
    when: datetime,
    service: str = "s3",
) -> str:
    """The ``Authorization`` header value for a request (SigV4, every given header signed).

    ``path`` is the object path as is (it is encoded here, ``/`` kept, once:
    S3 does not double-encode); ``headers`` must include ``host``,
    ``x-amz-date`` and ``x-amz-content-sha256``.
    """
    day = when.strftime("%Y%m%d")
    canonical_headers = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    signed = ";".join(sorted(canonical_headers))
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query.items()))
    canonical_request = "\n".join(
        [
            method,
            _encode(path, safe="/"),
            canonical_query,
            "".join(f"{k}:{canonical_headers[k]}\n" for k in sorted(canonical_headers)),
            signed,
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            when.strftime("%Y%m%dT%H%M%SZ"),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _hmac(("AWS4" + credentials.secret_key).encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope},"
        f"SignedHeaders={signed},Signature={signature}"
    )


class S3Client:
    """Object calls on one bucket of one S3-compatible endpoint."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        credentials: Credentials,
        region: str = "us-east-1",
        timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise S3Error(f"invalid S3 endpoint {endpoint!r}: expected http(s)://host[:port]")
        self.scheme = parts.scheme
        self.netloc = parts.netloc
        self.base = parts.path.rstrip("/")  # an endpoint may sit under a path
        self.bucket = bucket
        self.credentials = credentials
        self.region = region
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"S3Client({self.scheme}://{self.netloc}{self.base}, bucket={self.bucket!r})"

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.netloc, timeout=self.timeout)
        return http.client.HTTPConnection(self.netloc, timeout=self.timeout)

    @contextmanager
    def _exchange(
        self,
        method: str,
        key: str,
        query: Mapping[str, str] | None = None,
        body: BinaryIO | None = None,
        length: int = 0,
        payload_sha256: str = EMPTY_SHA256,
    ) -> Iterator[http.client.HTTPResponse]:
        """Send one signed request; the response, its connection closed afterwards."""
        query = dict(query or {})
        path = f"{self.base}/{self.bucket}" + (f"/{key}" if key else "/")
        now = datetime.now(UTC)
        headers = {
            "host": self.netloc,
            "x-amz-date": now.strftime("%Y%m%dT%H%M%SZ"),
            "x-amz-content-sha256": payload_sha256,
        }
        if self.credentials.session_token:
            headers["x-amz-security-token"] = self.credentials.session_token
        signature = authorization(
            method, path, query, headers, payload_sha256, self.credentials, self.region, now
        )
        target = _encode(path, safe="/")
        if query:
            target += "?" + "&".join(f"{_encode(k)}={_encode(v)}" for k, v in query.items())
        send = {**headers, "Authorization": signature}
        if body is not None:
            send["Content-Length"] = str(length)
        connection = self._connection()
        try:
            try:
                connection.request(method, target, body=body, headers=send)
                response = connection.getresponse()
            except OSError as exc:
                raise S3Error(f"S3 {method} {key or self.bucket}: {exc}") from None
            yield response
        finally:
            connection.close()

    @staticmethod
    def _failure(method: str, what: str, response: http.client.HTTPResponse) -> S3Error:
        detail = f"HTTP {response.status}"
        body = response.read(64 * 1024)
        try:
            root = etree.fromstring(body, _PARSER) if body else None
        except etree.XMLSyntaxError:
            root = None
        if root is not None:
            code, message = root.findtext("Code") or "", root.findtext("Message") or ""
            detail += f" {code}: {message}".rstrip(": ")
        return S3Error(f"S3 {method} {what}: {detail}")

    def put_file(self, key: str, path: Path, sha256: str) -> None:
        """Upload ``path`` as ``key``; ``sha256`` is its content's hash, checked by the server."""
        size = path.stat().st_size
        with open(path, "rb") as body, self._exchange("PUT", key, None, body, size, sha256) as r:
            if r.status != 200:
                raise self._failure("PUT", key, r)
            r.read()

    def get_file(self, key: str, destination: Path) -> str:
        """Download ``key`` into ``destination`` (created or replaced); its SHA-256."""
        with self._exchange("GET", key) as response:
            if response.status != 200:
                raise self._failure("GET", key, response)
            digest = hashlib.sha256()
            with open(destination, "wb") as out:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            return digest.hexdigest()

    def delete(self, key: str) -> None:
        """Delete ``key`` (S3 answers 204 whether or not it existed)."""
        with self._exchange("DELETE", key) as response:
            if response.status not in (200, 204):
                raise self._failure("DELETE", key, response)
            response.read()

    def list(self, prefix: str, page_size: int = 1000) -> Iterator[S3Object]:
        """Every object whose key starts with ``prefix`` (ListObjectsV2, page by page)."""
        token = ""
        while True:
            query = {"list-type": "2", "prefix": prefix, "max-keys": str(page_size)}
            if token:
                query["continuation-token"] = token
            with self._exchange("GET", "", query) as response:
                if response.status != 200:
                    raise self._failure("LIST", f"{self.bucket}/{prefix}", response)
                root = etree.fromstring(response.read(), _PARSER)
            for item in root.iter(f"{_NS}Contents"):
                modified = item.findtext(f"{_NS}LastModified") or ""
                yield S3Object(
                    key=item.findtext(f"{_NS}Key") or "",
                    size=int(item.findtext(f"{_NS}Size") or 0),
                    modified=_parse_time(modified),
                )
            token = root.findtext(f"{_NS}NextContinuationToken") or ""
            if root.findtext(f"{_NS}IsTruncated") != "true" or not token:
                return


def _parse_time(text: str) -> float:
    """ISO 8601 as S3 writes it (``2026-11-24T12:00:00.000Z``), as epoch seconds."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()  # unreadable: treat as new, so a sweep leaves it alone
