"""The OpenAPI document validates, and schemathesis finds no 5xx nor an answer off the schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from openapi_spec_validator import validate

from provisioner.api import openapi, routes
from tests.api.conftest import Api, Client


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi(routes(), "provisioner admin API", "test")
    validate(document)  # raises on any problem
    assert document["openapi"] == "3.1.0"
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len({op["operationId"] for op in operations}) == len(operations) == len(routes())


def test_served_document_and_docs_page(api: Api, client: Client) -> None:
    served = client("GET", api.url("/openapi.json"))
    assert served.status == 200
    validate(served.body)
    page = client("GET", api.url("/../docs").replace("/api/v1/../docs", "/api/docs"))
    assert page.status == 200
    assert "swagger-ui-bundle.js" in page.raw.decode()
    assert "cdn" not in page.raw.decode().lower()
    base = api.base.removesuffix("/v1")
    bundle = client("GET", base + "/docs/swagger-ui-bundle.js")
    assert bundle.status == 200
    assert len(bundle.raw) > 100_000
    assert client("GET", base + "/docs/../../etc/passwd").status == 404


def test_schemathesis_against_the_live_server(api: Api, tmp_path: Path) -> None:
    """A bounded run (a few examples per operation): no 5xx, every answer matches the schema."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", api.url("/openapi.json"),
        "--url", api.base.removesuffix("/api/v1"),
        "--header", f"X-API-Key: {api.keys['admin']}",
        "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,"
        "content_type_conformance",
        "--max-examples", "6", "--seed", "1", "--generation-database", "none",
        "--phases", "examples,fuzzing", "--max-failures", "5",
    ]  # fmt: skip
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        cwd=tmp_path,
    )
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "No issues found" in result.stdout or " passed" in result.stdout, report
