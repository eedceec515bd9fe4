"""Packaging (issue 17, item 7): the wheel, the systemd unit, the container image.

The wheel is built as ``pip install .`` builds it and installed with its
dependencies into a fresh virtual environment outside the source tree; the
commands run from there, with the templates the wheel carries. The systemd
unit must pass ``systemd-analyze verify`` without a warning. The image is
built with podman from the Containerfile and must serve ``/healthz`` and a
phone's file over TFTP from a volume, pass its own HEALTHCHECK and drain on
``podman stop``.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

from provisioner import __version__
from tests.containers import PODMAN_RUN, base_image, podman
from tests.peers import free_port, need
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "contrib" / "systemd" / "provisioner.service"
DEMO = ROOT / "examples" / "demo-fleet.toml"
CISCO79_FILE = "SIP000D28123456.cnf"


def run(*command: str | Path, cwd: Path, timeout: float = 600) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-4000:])
    return result.stdout


# --- the wheel -----------------------------------------------------------------------


def test_the_wheel_installs_a_working_provisioner(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run(*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", tmp_path / "dist", ROOT, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("provisioner-*.whl")
    # A bare environment (no pip of its own): this pip installs into it, with the
    # dependencies the wheel declares; nothing of the source tree is on its path.
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(*pip, "--python", python, "install", "--quiet", "--no-compile", wheel, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = venv / "bin" / "provisioner"
    assert run(command, "--version", cwd=elsewhere).strip() == f"provisioner {__version__}"
    where = run(
        python,
        "-c",
        "import provisioner; from provisioner.catalog import builtin_template_dir as t; "
        "print(provisioner.__file__); print(t())",
        cwd=elsewhere,
    ).split()
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert [Path(p).is_relative_to(site) for p in where] == [True, True], where
    data = elsewhere / "data"
    run(command, "--data-dir", data, "init", cwd=elsewhere)
    run(command, "--data-dir", data, "apply", DEMO, cwd=elsewhere)
    run(command, "--data-dir", data, "render", "--out", elsewhere / "tftp", cwd=elsewhere)
    rendered = (elsewhere / "tftp" / CISCO79_FILE).read_text()
    assert "Cisco IP Phone 7960G" in rendered
    assert len(list((elsewhere / "tftp").iterdir())) > 10


# --- systemd ------------------------------------------------------------------------


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need("systemd-analyze"), "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _installed_unit(tmp_path: Path, text: str) -> Path:
    """The unit with ExecStart on this environment's ``provisioner``.

    ``verify`` checks that the program exists; the unit names where
    docs/operations.md installs it (/opt/provisioner), this test's is here.
    """
    program = Path(sys.executable).parent / "provisioner"
    assert "ExecStart=/opt/provisioner/bin/provisioner " in text
    unit = tmp_path / "provisioner.service"
    unit.write_text(text.replace("/opt/provisioner/bin/provisioner", str(program)))
    return unit


def test_the_systemd_unit_verifies_without_a_warning(tmp_path: Path) -> None:
    text = UNIT.read_text()
    result = _verify(_installed_unit(tmp_path, text))
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")
    settings = re.findall(r"^(\w+)=(.*)$", text, re.M)
    for required in (
        ("User", "provisioner"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("AmbientCapabilities", "CAP_NET_BIND_SERVICE"),
        ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
        ("StateDirectory", "provisioner"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
    ):
        assert required in settings, required


def test_systemd_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    # The check above can fail: a misspelt key and a bad value are reported.
    broken = UNIT.read_text().replace("ProtectSystem=", "ProtectSystm=")
    broken = broken.replace("NoNewPrivileges=yes", "NoNewPrivileges=maybe")
    result = _verify(_installed_unit(tmp_path, broken))
    assert "Unknown key 'ProtectSystm'" in result.stderr
    assert "Failed to parse boolean value" in result.stderr


# --- the container image ---------------------------------------------------------------


def test_the_container_image_serves_from_a_volume(tmp_path: Path) -> None:
    need("runc")
    base, why = base_image(ROOT / "Containerfile")
    print(f"base image: {base} ({why})")  # shown when the test fails
    image = f"localhost/provisioner-test:{uuid.uuid4().hex[:8]}"
    build = ["build", "--format", "docker", "--network", "host", *PODMAN_RUN]
    podman(*build, "--build-arg", f"BASE={base}", "-t", image, str(ROOT), timeout=1800)
    volume, name = f"provisioner-test-{uuid.uuid4().hex[:8]}", f"provisioner-{uuid.uuid4().hex[:8]}"
    try:
        fleet = ["-v", f"{volume}:/var/lib/provisioner", "-v", f"{DEMO.parent}:/fleet:ro"]
        podman("run", "--rm", *PODMAN_RUN, *fleet, image, "init")
        podman("run", "--rm", *PODMAN_RUN, *fleet, image, "apply", "/fleet/demo-fleet.toml")
        _serve_and_stop(image, volume, name, tmp_path)
    finally:
        podman("rm", "--force", name, check=False)
        podman("volume", "rm", "--force", volume, check=False)
        podman("rmi", "--force", image, check=False)


def _serve_and_stop(image: str, volume: str, name: str, tmp_path: Path) -> None:
    http, tftp = free_port(), free_port(socket.SOCK_DGRAM)
    health = f"http://127.0.0.1:{http}/healthz"
    podman(
        "run", "--detach", "--name", name, "--network", "host", *PODMAN_RUN,
        "--health-interval", "disable", "-e", f"PROVISIONER_HEALTHCHECK_URL={health}",
        "-v", f"{volume}:/var/lib/provisioner", image,
        "serve", "--bind", "127.0.0.1", "--http-port", str(http), "--tftp-port", str(tftp),
        "--https-port", "0", "--ftp-port", "0", "--api-port", "0",
    )  # fmt: skip
    eventually(lambda: _answers(health), "the container's /healthz answers", 120)
    with urllib.request.urlopen(health, timeout=5) as response:
        assert json.load(response) == {"status": "ok"}
    out = tmp_path / CISCO79_FILE
    result = subprocess.run(
        [need("atftp"), "--get", "-r", CISCO79_FILE, "-l", str(out), "127.0.0.1", str(tftp)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Cisco IP Phone 7960G" in out.read_text()
    podman("healthcheck", "run", name)  # the image's HEALTHCHECK, run once
    user = podman("exec", name, "id", "-u").stdout.strip()
    assert user == "10001"
    podman("stop", "--time", "60", name)
    state = json.loads(podman("inspect", name).stdout)[0]["State"]
    assert state["ExitCode"] == 0  # drained on SIGTERM, not killed
    logs = podman("logs", name)
    assert "event=stopped" in logs.stdout + logs.stderr, logs


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False
