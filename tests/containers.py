"""podman for the container test: the base image, and the options this kind of host needs.

The Containerfile builds ``FROM ${BASE}``, by default the official slim
Python image from a registry. Where no registry can be reached (an offline
CI machine), :func:`base_image` makes a local stand-in instead: a root
filesystem of this host's own Debian packages for Python 3 with venv, a
shell and coreutils — what the Containerfile uses of its base — imported
with ``podman import``. Nothing is downloaded for it; it is made once per
machine and kept. ``PROVISIONER_TEST_CONTAINER_BASE`` names a base to use
instead of either.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.peers import REQUIRE_ENV, need

__all__ = ["PODMAN_RUN", "base_image", "default_base", "podman"]

BASE_ENV = "PROVISIONER_TEST_CONTAINER_BASE"
LOCAL_BASE = "localhost/provisioner-test-base"
# runc rather than crun: crun refuses hosts whose cgroups are in "hybrid" mode
# (v1 controllers with a v2 hierarchy), as some CI virtual machines are. Limits
# are given explicitly: the default ones are above what an unprivileged
# container host may set.
PODMAN_RUN = ["--runtime", "runc", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
_PACKAGES = ("python3", "python3-venv", "dash", "coreutils", "ca-certificates")
_MERGED = ("/bin/", "/sbin/", "/lib/", "/lib64/")  # on /usr since the usrmerge
_LEFT_OUT = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/locale/", "/usr/share/info/")


def podman(
    *args: str, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run podman; with ``check`` a failure fails the test with podman's output."""
    result = subprocess.run(
        [need("podman"), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check:
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-4000:])
    return result


def default_base(containerfile: Path) -> str:
    """The Containerfile's own default ``BASE`` (written there only)."""
    found = re.search(r"^ARG BASE=(\S+)$", containerfile.read_text(), re.M)
    assert found is not None, "the Containerfile declares ARG BASE=…"
    return found.group(1)


def base_image(containerfile: Path) -> tuple[str, str]:
    """The base to build on, and why that one (for the test's output)."""
    chosen = os.environ.get(BASE_ENV)
    if chosen:
        return chosen, f"{BASE_ENV}"
    default = default_base(containerfile)
    if podman("image", "exists", default, check=False).returncode == 0:
        return default, "the Containerfile's default, present"
    pulled = podman("pull", "-q", default, timeout=900, check=False)
    if pulled.returncode == 0:
        return default, "the Containerfile's default, pulled"
    reason = pulled.stderr.strip().splitlines()[-1] if pulled.stderr.strip() else "pull failed"
    return _local_base(), f"made from this host's Debian packages ({default}: {reason})"


def _local_base() -> str:
    version = _installed("python3")
    tag = f"{LOCAL_BASE}:{version.replace(':', '_').replace('+', '_')}"
    if podman("image", "exists", tag, check=False).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory() as scratch:
        rootfs = Path(scratch) / "rootfs.tar"
        _write_rootfs(rootfs)
        podman("import", "-q", str(rootfs), tag)
    return tag


def _installed(package: str) -> str:
    """The installed version of a Debian package, or fail/skip as for a missing peer."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    status, _, version = result.stdout.partition(" ")
    if result.returncode != 0 or not status.startswith("ii"):
        message = (
            f"no container registry, and no Debian package {package} to make a local base "
            f"from; set {BASE_ENV} to an image with Python 3.11+ and venv"
        )
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(message)
        pytest.skip(message)
    return version.strip()


def _write_rootfs(path: Path) -> None:
    """A tar of the installed packages' files (and what they need) as a root filesystem."""
    for package in _PACKAGES:
        _installed(package)
    only = ["--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces"]
    closure = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--installed", *only, "--no-enhances", *_PACKAGES],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    packages = {line for line in closure.splitlines() if line and line[0] not in " <"}
    files: set[str] = set()
    for package in sorted(packages):
        listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
        files.update(line for line in listed.stdout.splitlines() if line.startswith("/"))
    # Made by maintainer scripts, not listed by any package.
    files |= {"/etc/ld.so.cache", "/etc/ssl/certs/ca-certificates.crt"}
    with tarfile.open(path, "w") as tar:
        for link in ("bin", "sbin", "lib", "lib64"):
            _add(tar, tarfile.SYMTYPE, link, linkname=f"usr/{link}")
        for directory, mode in (("tmp", 0o1777), ("var/tmp", 0o1777), ("root", 0o700)):
            _add(tar, tarfile.DIRTYPE, directory, mode=mode)
        _add(tar, tarfile.REGTYPE, "etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n")
        _add(tar, tarfile.REGTYPE, "etc/group", data=b"root:x:0:\n")
        added = set()
        for name in sorted(files):
            if name.rstrip("/") in ("/bin", "/sbin", "/lib", "/lib64") or name.startswith(
                _LEFT_OUT
            ):
                continue
            if not os.path.lexists(name) or (os.path.isdir(name) and not os.path.islink(name)):
                continue  # directories come with their files
            inside = ("/usr" + name if name.startswith(_MERGED) else name).lstrip("/")
            if inside not in added:
                added.add(inside)
                tar.add(name, arcname=inside, recursive=False)


def _add(
    tar: tarfile.TarFile,
    kind: bytes,
    name: str,
    *,
    linkname: str = "",
    mode: int = 0o644,
    data: bytes = b"",
) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.size = kind, linkname, mode, len(data)
    tar.addfile(info, io.BytesIO(data) if data else None)
