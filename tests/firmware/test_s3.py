"""Object storage: SigV4 against AWS's published examples, the client and ObjectStorage
against a real S3-compatible server (moto's, on 127.0.0.1), and two nodes sharing a
bucket through ``provisioner serve``.

moto checks neither signatures nor ``x-amz-content-sha256``; the signing is
proven by the byte-exact examples below, and the download side verifies
every file's SHA-256 itself (the tampering test).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provisioner.domain import FirmwareFile, FirmwareSet
from provisioner.errors import InputError
from provisioner.firmware import IngestError, Limits, ObjectStorage, new_key, storage_from_env
from provisioner.firmware._s3 import EMPTY_SHA256, Credentials, S3Client, S3Error, authorization
from tests.moto import KEYS, boto, objects, polycom_zip, s3_env
from tests.serve_process import run_cli, run_cli_in_process, serving
from tests.waiting import eventually

# The examples of "Signature Calculations for the Authorization Header"
# in the Amazon S3 API reference (AWS's example key pair).
EXAMPLE = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
WHEN = datetime(2013, 5, 24, tzinfo=UTC)
HOST = "examplebucket.s3.amazonaws.com"
CREDENTIAL = "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
PUT_BODY_SHA = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()

SIGV4_EXAMPLES = [
    (  # GET Object with a Range header
        "GET",
        "/test.txt",
        {},
        {"Host": HOST, "Range": "bytes=0-9", "x-amz-content-sha256": EMPTY_SHA256,
         "x-amz-date": "20130524T000000Z"},
        EMPTY_SHA256,
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    ),
    (  # PUT Object: a '$' in the key, a Date header besides x-amz-date
        "PUT",
        "/test$file.text",
        {},
        {"Host": HOST, "Date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-date": "20130524T000000Z",
         "x-amz-storage-class": "REDUCED_REDUNDANCY", "x-amz-content-sha256": PUT_BODY_SHA},
        PUT_BODY_SHA,
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    ),
    (  # GET Bucket (list objects): query parameters sorted and encoded
        "GET",
        "/",
        {"max-keys": "2", "prefix": "J"},
        {"Host": HOST, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": "20130524T000000Z"},
        EMPTY_SHA256,
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "payload", "expected"), SIGV4_EXAMPLES
)
def test_sigv4_matches_the_published_examples(
    method: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    payload: str,
    expected: str,
) -> None:
    signed = authorization(method, path, query, headers, payload, EXAMPLE, "us-east-1", WHEN)
    assert signed == f"AWS4-HMAC-SHA256 {CREDENTIAL},{expected}"


def test_secrets_stay_out_of_reprs_and_messages() -> None:
    secret = "top-secret-key-material"
    client = S3Client("http://127.0.0.1:1", "bucket", Credentials("AKID", secret, "token-x"))
    shown = repr(client) + repr(client.credentials)
    assert secret not in shown
    assert "token-x" not in shown
    with pytest.raises(S3Error) as raised:
        list(client.list(""))  # nothing listens on port 1
    assert secret not in str(raised.value)
    assert str(raised.value).startswith("S3 GET bucket: ")


def test_storage_from_env_needs_a_bucket_and_keys(tmp_path: Path) -> None:
    keys = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    with pytest.raises(InputError, match="local \\(default\\) or s3://bucket/prefix"):
        storage_from_env("gs://x", tmp_path, keys)
    with pytest.raises(InputError, match="no bucket"):
        storage_from_env("s3:///fw", tmp_path, keys)
    with pytest.raises(InputError, match="needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        storage_from_env("s3://b/fw", tmp_path, {})
    storage = storage_from_env(
        "s3://b/fw", tmp_path, {**keys, "PROVISIONER_S3_ENDPOINT": "http://127.0.0.1:9000"}
    )
    assert (storage.prefix, storage.client.bucket, storage.client.netloc) == (
        "fw/",
        "b",
        "127.0.0.1:9000",
    )
    aws = storage_from_env("s3://b", tmp_path, {**keys, "AWS_REGION": "eu-west-1"})
    assert (aws.prefix, aws.client.netloc, aws.client.region) == (
        "",
        "s3.eu-west-1.amazonaws.com",
        "eu-west-1",
    )


# A real S3-compatible server (tests/moto.py; fixtures in tests/conftest.py).


def client(endpoint: str, bucket: str) -> S3Client:
    creds = Credentials(KEYS["AWS_ACCESS_KEY_ID"], KEYS["AWS_SECRET_ACCESS_KEY"])
    return S3Client(endpoint, bucket, creds)


def test_client_round_trip_and_paged_listing(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    s3 = client(s3_endpoint, s3_bucket)
    source = tmp_path / "image"
    names = [f"p/{i}/a b+c(1).ld" for i in range(5)]  # characters that need encoding
    for i, name in enumerate(names):
        source.write_bytes(os.urandom(1000 + i))
        s3.put_file(name, source, hashlib.sha256(source.read_bytes()).hexdigest())
    listed = list(s3.list("p/", page_size=2))  # three pages
    assert sorted(o.key for o in listed) == sorted(names)
    assert [o.size for o in sorted(listed, key=lambda o: o.key)] == [1000 + i for i in range(5)]
    assert all(abs(o.modified - time.time()) < 600 for o in listed)
    assert (
        s3.get_file(names[4], tmp_path / "back") == hashlib.sha256(source.read_bytes()).hexdigest()
    )
    assert (tmp_path / "back").read_bytes() == source.read_bytes()
    s3.delete(names[0])
    s3.delete(names[0])  # already gone: no error
    assert len(list(s3.list("p/"))) == 4
    with pytest.raises(S3Error, match="^S3 GET p/missing: HTTP 404 NoSuchKey"):
        s3.get_file("p/missing", tmp_path / "x")
    with pytest.raises(S3Error, match="NoSuchBucket"):
        list(client(s3_endpoint, "no-such-bucket").list(""))


def recorded(key: str, files: dict[str, bytes]) -> FirmwareSet:
    return FirmwareSet(
        id=1, vendor="polycom", label="r1", kind="firmware", description="", version="",
        active=True, storage_key=key, upload_name="ucs.zip", upload_sha256="", total_bytes=0,
        created_at=0.0,
        files=tuple(
            FirmwareFile(name, len(data), hashlib.sha256(data).hexdigest())
            for name, data in sorted(files.items())
        ),
    )  # fmt: skip


def test_ingest_upload_mirror_remove(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    node_a = ObjectStorage(client(s3_endpoint, s3_bucket), "fw", tmp_path / "a")
    node_b = ObjectStorage(client(s3_endpoint, s3_bucket), "fw/", tmp_path / "b")
    upload, files = polycom_zip(tmp_path / "ucs.zip")
    key = new_key()
    ingested = node_a.ingest(upload, "ucs.zip", key, Limits())
    assert {f.path for f in ingested.files} == set(files)
    expected = {f"fw/{key}/{n}": hashlib.sha256(d).hexdigest() for n, d in files.items()}
    assert objects(s3_endpoint, s3_bucket) == expected
    assert node_a.read(key, "sip.ver", 100) == b"6.4.6.2222\n"

    record = recorded(key, files)
    assert node_b.local_path(key, "sip.ld") is None  # not mirrored: not served
    assert node_b.mirror([record]) == (3, 0)
    for name, data in files.items():
        local = node_b.local_path(key, name)
        assert local is not None
        assert local.read_bytes() == data
    assert node_b.mirror([record]) == (0, 0)  # nothing missing
    assert not list((tmp_path / "b").rglob(".fetch-*"))

    node_a.remove(key)
    assert objects(s3_endpoint, s3_bucket) == {}
    assert node_a.local_path(key, "sip.ld") is None
    assert (tmp_path / "b" / key).is_dir()  # node b's copy goes with its next pass:
    assert node_b.mirror([]) == (0, 0)
    assert (tmp_path / "b" / key).is_dir()  # young: could be an upload in progress here
    assert node_b.mirror([], forget_after=-60) == (0, 0)
    assert not (tmp_path / "b" / key).exists()


def test_tampered_object_is_not_put_in_place(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    node_a = ObjectStorage(client(s3_endpoint, s3_bucket), "fw", tmp_path / "a")
    node_b = ObjectStorage(client(s3_endpoint, s3_bucket), "fw", tmp_path / "b")
    upload, files = polycom_zip(tmp_path / "ucs.zip")
    key = new_key()
    node_a.ingest(upload, "ucs.zip", key, Limits())
    boto(s3_endpoint).put_object(Bucket=s3_bucket, Key=f"fw/{key}/sip.ld", Body=b"evil image")
    result = node_b.mirror([recorded(key, files)])
    assert (result.fetched, result.failed) == (2, 1)
    assert node_b.local_path(key, "sip.ld") is None
    assert not list((tmp_path / "b").rglob(".fetch-*"))


def test_refused_or_failed_uploads_leave_nothing(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    storage = ObjectStorage(client(s3_endpoint, s3_bucket), "fw", tmp_path / "cache")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../evil.ld", b"x")
    with pytest.raises(IngestError, match="parent directory reference"):
        storage.ingest(evil, "evil.zip", new_key(), Limits())
    gone = ObjectStorage(client(s3_endpoint, "no-such-bucket"), "fw", tmp_path / "cache")
    upload, _ = polycom_zip(tmp_path / "ucs.zip")
    with pytest.raises(S3Error, match="NoSuchBucket"):
        gone.ingest(upload, "ucs.zip", new_key(), Limits())
    assert objects(s3_endpoint, s3_bucket) == {}
    assert list((tmp_path / "cache").iterdir()) == []


def test_sweep_deletes_unrecorded_sets_only(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    storage = ObjectStorage(client(s3_endpoint, s3_bucket), "fw", tmp_path / "cache")
    upload, _ = polycom_zip(tmp_path / "ucs.zip")
    kept, crashed = new_key(), new_key()
    for key in (kept, crashed):
        storage.ingest(upload, "ucs.zip", key, Limits())
    boto(s3_endpoint).put_object(Bucket=s3_bucket, Key="fw/README", Body=b"not ours")
    assert storage.sweep({kept, crashed}, older_than=3600) == []
    assert storage.sweep({kept}, older_than=3600) == []  # young: maybe still uploading
    assert storage.sweep({kept}, older_than=-60) == [crashed]
    assert {k.split("/")[1] for k in objects(s3_endpoint, s3_bucket)} == {kept, "README"}
    assert storage.local_path(crashed, "sip.ld") is None
    assert storage.local_path(kept, "sip.ld") is not None


# Two nodes, one database, one bucket.


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except urllib.error.URLError:
        return 0, b""  # not listening yet


def test_two_nodes_share_a_bucket(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        **s3_env(s3_endpoint, s3_bucket),
        "PROVISIONER_DB_URL": f"sqlite:///{tmp_path / 'shared.db'}",
    }
    node_a, node_b = tmp_path / "a", tmp_path / "b"
    (tmp_path / "fleet.json").write_text(
        json.dumps({"tenants": [{"name": "acme", "sip_domain": "acme.example.com"}]})
    )
    # Set-up of the shared database in this process; the firmware commands under
    # test run as processes with the bucket's environment.
    shared = ("--db", env["PROVISIONER_DB_URL"])
    run_cli_in_process(node_a, *shared, "init")
    run_cli_in_process(node_a, *shared, "apply", str(tmp_path / "fleet.json"))
    upload, files = polycom_zip(tmp_path / "ucs.zip")
    run_cli(node_a, "firmware", "upload", str(upload), "--vendor", "polycom", "--label", "r1",
            "--activate", env=env)  # fmt: skip
    assert len(objects(s3_endpoint, s3_bucket)) == 3
    with serving(node_b, "--poll-interval", "0.5", env=env, log=tmp_path / "b.log") as node:
        url = f"http://127.0.0.1:{node.http}/fw/polycom/r1/sip.ld"

        def mirrored() -> tuple[int, bytes] | None:
            got = fetch(url)
            return got if got[0] == 200 else None

        got = eventually(mirrored, "node b never served the mirrored file", 30)
        assert got[1] == files["sip.ld"]
        assert fetch(f"http://127.0.0.1:{node.http}/fw/polycom/r1/cfg/site.cfg") == (
            200,
            files["cfg/site.cfg"],
        )
        run_cli(node_a, "firmware", "deactivate", "polycom", "r1", env=env)
        run_cli(node_a, "firmware", "rm", "polycom", "r1", env=env)
        assert objects(s3_endpoint, s3_bucket) == {}
        eventually(lambda: fetch(url)[0] == 404, "node b kept serving a removed set")
    assert "test-secret-123" not in (tmp_path / "b.log").read_text()
