"""The interactive documentation page at ``/api/docs``: Swagger UI from a Python package.

The page and its assets are served by this process from the installed
``swagger-ui-py`` package (docs/dependencies.md), never from a CDN: the
networks phones live on are often offline. Only the few files the page
uses are served, each by its fixed name; a request never names a file path.
"""

from __future__ import annotations

import functools
from importlib import resources

from provisioner.api._routing import PREFIX

__all__ = ["DOCS", "asset", "page"]

DOCS = "/api/docs"
_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
_INIT = f"""window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    url: "{PREFIX}/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "BaseLayout"
  }});
}};
"""
_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>provisioner admin API</title>
<link rel="stylesheet" href="{DOCS}/swagger-ui.css">
<link rel="icon" type="image/png" href="{DOCS}/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{DOCS}/swagger-ui-bundle.js"></script>
<script src="{DOCS}/swagger-ui-standalone-preset.js"></script>
<script src="{DOCS}/init.js"></script>
</body>
</html>
"""
# Everything from this origin; Swagger UI sets inline styles and shows data: images.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'"
)


def page() -> bytes:
    """The HTML page."""
    return _PAGE.encode("utf-8")


@functools.cache
def asset(name: str) -> tuple[bytes, str] | None:
    """One asset's bytes and content type, or ``None`` for any other name."""
    if name == "init.js":
        return _INIT.encode("utf-8"), "text/javascript"
    kind = _ASSETS.get(name)
    if kind is None:
        return None
    data = resources.files("swagger_ui").joinpath("static", name).read_bytes()
    return data, kind
