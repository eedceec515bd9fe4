"""HTTP and HTTPS front end (aiohttp): GET/HEAD/PUT, conditional requests, health, metrics.

A thin adapter: it turns requests into :class:`~provisioner.serve.Fetch`,
asks the gateway, and turns the :class:`~provisioner.serve.Reply` into a
response. The one uniform not-found has a fixed body and headers whatever
the reason (security goal 2). Uploads are read in chunks up to the limit
the gateway granted; a larger body is refused with 413 and nothing is
stored (libraries.md §3: aiohttp's own limit would refuse legitimate logs).

On plain HTTP, GET and HEAD of rendered files usually never get here: the
fast path (:mod:`provisioner.serve._fast_http`) answers them with the same
bytes. What it hands over reaches this handler; a firmware file it already
decided on comes with its reply (:func:`~provisioner.serve._connections.decided_reply`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from provisioner.serve._client_cert import certificate_mac
from provisioner.serve._connections import (
    Connections,
    decided_reply,
    request_client,
    request_secure,
)
from provisioner.serve._fast_http import NOT_FOUND_BODY, UNAUTHORIZED_BODY, fresh
from provisioner.serve._front import FrontGateway
from provisioner.serve._metrics import Metrics
from provisioner.serve._model import Fetch, Network, Protocol, Reply, Status, allowed

__all__ = ["Handler", "make_handler"]

_CHUNK = 64 * 1024
_MAX_UPLOAD = 64 * 1024 * 1024  # hard ceiling above any catalog limit


def _not_found() -> web.Response:
    return web.Response(status=404, body=NOT_FOUND_BODY, content_type="text/plain")


def _challenge(reply: Reply) -> web.Response:
    response = web.Response(status=401, body=UNAUTHORIZED_BODY, content_type="text/plain")
    for value in reply.challenge:
        response.headers.add("WWW-Authenticate", value)
    return response


def _fetch_of(request: web.BaseRequest, trusted_proxies: tuple[Network, ...]) -> Fetch:
    """The gateway's view of an HTTP request."""
    headers = request.headers
    # Our own TLS only: a proxy in front terminates the phone's TLS. Plain HTTP has
    # no certificate to ask the transport for (a cost on every request).
    transport = request.transport if request.secure else None
    return Fetch(
        protocol=Protocol.HTTPS if request_secure(request, trusted_proxies) else Protocol.HTTP,
        path=request.path,
        client=request_client(request, trusted_proxies),
        user_agent=headers.get("User-Agent", ""),
        authorization=headers.get("Authorization"),
        method=request.method,
        uri=request.raw_path,
        cert_mac=certificate_mac(transport.get_extra_info("peercert")) if transport else None,
    )


def _download_response(request: web.BaseRequest, reply: Reply) -> web.StreamResponse:
    """The HTTP answer to the gateway's reply for a GET or HEAD."""
    if reply.status is Status.CHALLENGE:
        return _challenge(reply)
    if reply.status is Status.OK and reply.disk is not None:
        # Streamed from disk by aiohttp (sendfile where it can), with Range,
        # If-Range, If-None-Match and If-Modified-Since handled there.
        return web.FileResponse(
            reply.disk.path,
            headers={
                "Content-Type": reply.disk.content_type,
                "Cache-Control": "private, no-cache",
            },
        )
    if reply.status is not Status.OK or reply.file is None:
        return _not_found()
    file = reply.file
    headers = {
        "Content-Type": file.content_type,
        "ETag": file.etag,
        "Last-Modified": file.last_modified_http,
        # Phones should revalidate every time; nothing may sit in a shared cache.
        "Cache-Control": "private, no-cache",
    }
    headers_in = request.headers
    since = headers_in.get("If-Modified-Since")
    if fresh(headers_in.get("If-None-Match"), since, file.etag, file.last_modified):
        del headers["Content-Type"]
        return web.Response(status=304, headers=headers)
    if request.method == "HEAD":
        # The length without inflating the bytes; aiohttp keeps a HEAD's Content-Length.
        headers["Content-Length"] = str(file.size)
        return web.Response(headers=headers)
    return web.Response(body=file.data, headers=headers)


async def _read_body(request: web.BaseRequest, limit: int) -> bytes | None:
    """An upload's body, read in chunks; ``None`` as soon as it is over ``limit``."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def make_handler(
    gateway: FrontGateway,
    metrics: Metrics,
    metrics_allow: tuple[Network, ...],
    trusted_proxies: tuple[Network, ...] = (),
    connections: Connections | None = None,
) -> Handler:
    """The request handler shared by the HTTP and HTTPS sites.

    It runs on aiohttp's low-level server (:class:`aiohttp.web.Server`):
    three fixed routes do not need the URL dispatcher, which cost about a
    tenth of the time per request in the benchmark. Requests from
    ``trusted_proxies`` are taken to come from the client their
    ``X-Forwarded-For`` names (``_forwarded.py``). ``connections`` adds
    the open and refused connections to ``/metrics``.
    """

    def client_of(request: web.BaseRequest) -> str:
        return request_client(request, trusted_proxies)

    def fetch_of(request: web.BaseRequest) -> Fetch:
        return _fetch_of(request, trusted_proxies)

    async def download(request: web.BaseRequest) -> web.StreamResponse:
        # A request the fast path decided on, then handed over (a file on disk).
        reply = decided_reply(request)
        if reply is None:
            reply = await gateway.fetch(fetch_of(request))
        return _download_response(request, reply)

    async def upload(request: web.BaseRequest) -> web.StreamResponse:
        req = fetch_of(request)
        reply, ticket = await gateway.authorize_upload(req)
        if reply.status is Status.CHALLENGE:
            return _challenge(reply)
        if ticket is None:
            return _not_found()
        body = await _read_body(request, min(ticket.limit, _MAX_UPLOAD))
        if body is None:
            return web.Response(status=413, text="Payload Too Large\n")
        stored = await gateway.store_upload(req, ticket, body)
        if stored.status is Status.TOO_LARGE:
            return web.Response(status=413, text="Payload Too Large\n")
        return web.Response(status=201 if stored.status is Status.OK else 404)

    async def healthz(request: web.BaseRequest) -> web.Response:
        # Liveness only: counts of tenants and phones are in /metrics, behind its allowlist.
        return web.json_response({"status": "ok"})

    async def prometheus(request: web.BaseRequest) -> web.StreamResponse:
        if not allowed(client_of(request), metrics_allow):
            return _not_found()
        text = metrics.exposition()
        if connections is not None:
            text += connections.exposition()
        return web.Response(
            text=text,
            content_type="text/plain",
            charset="utf-8",
            headers={"Cache-Control": "no-store"},
        )

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        method = request.method
        if method in ("GET", "HEAD"):
            if request.path == "/healthz":
                return await healthz(request)
            if request.path == "/metrics":
                return await prometheus(request)
            return await download(request)
        if method == "PUT":
            return await upload(request)
        return web.Response(status=405, headers={"Allow": "GET, HEAD, PUT"})

    return handle
