"""moto's S3-compatible server on 127.0.0.1 for the firmware object-storage tests.

The object-storage unit tests (tests/firmware/test_s3.py) and the cluster
test with firmware in S3 mode (tests/cluster/test_firmware_s3.py) share one
server per session (the ``s3_endpoint`` fixture in conftest.py) and a bucket
per test (``s3_bucket``); boto3, which comes with moto, is the independent
client that checks what our own client wrote.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from tests.peers import free_port
from tests.waiting import eventually

__all__ = ["KEYS", "boto", "moto_server", "new_bucket", "objects", "polycom_zip", "s3_env"]

# moto accepts any key pair; the secret is one a test can look for in logs.
KEYS = {"AWS_ACCESS_KEY_ID": "test-access", "AWS_SECRET_ACCESS_KEY": "test-secret-123"}


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """Run ``moto.server`` until the block ends; yields its URL once it answers."""
    port = free_port()
    with log.open("wb") as output:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            try:
                urllib.request.urlopen(url, timeout=1).close()
            except urllib.error.HTTPError:
                return True  # it answers
            except OSError:
                assert process.poll() is None, f"moto server exited:\n{log.read_text()}"
                return False
            return True

        eventually(answers, "moto server did not start", 30)
        yield url
    finally:
        process.kill()
        process.wait(10)


def s3_env(endpoint: str, bucket: str, prefix: str = "firmware") -> dict[str, str]:
    """The environment that puts ``provisioner`` firmware in ``s3://bucket/prefix`` at moto."""
    return {
        **KEYS,
        "PROVISIONER_FIRMWARE_STORE": f"s3://{bucket}/{prefix}",
        "PROVISIONER_S3_ENDPOINT": endpoint,
    }


def boto(endpoint: str) -> Any:
    """An independent client for the checks (boto3, installed with moto)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )


def objects(endpoint: str, bucket: str) -> dict[str, str]:
    """Every object in the bucket: key → SHA-256 of its body."""
    s3 = boto(endpoint)
    found = {}
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        found[item["Key"]] = hashlib.sha256(body).hexdigest()
    return found


def polycom_zip(path: Path) -> tuple[Path, dict[str, bytes]]:
    """A Polycom UC Software archive at ``path`` (random image): the path and its files."""
    files = {"sip.ld": os.urandom(200_000), "sip.ver": b"6.4.6.2222\n", "cfg/site.cfg": b"<x/>"}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path, files


def new_bucket(endpoint: str, test_id: str) -> str:
    """A bucket of the test's own (named after its id), created empty."""
    name = "fw-" + hashlib.sha256(test_id.encode()).hexdigest()[:20]
    boto(endpoint).create_bucket(Bucket=name)
    return name
