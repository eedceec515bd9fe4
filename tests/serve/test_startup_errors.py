"""``serve`` refuses what it cannot use in one line, never a traceback (issue 17, item 2).

Each case runs the real command. A usage error (a value out of range, a
file or address that cannot be used) exits with status 2 before anything
is bound; a runtime error (a data directory that cannot be one, a port
another program holds) exits with status 1, after closing what it had
opened, and without the "serving" banner.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.peers import free_port
from tests.serve_process import provisioner, run_cli_in_process, serving

USAGE, RUNTIME = 2, 1


def serve(data_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``provisioner serve`` on 127.0.0.1 with only HTTP on, plus ``options`` (later ones win)."""
    command = provisioner(data_dir, "serve", "--bind", "127.0.0.1", "--https-port", "0")
    command += ["--tftp-port", "0", "--ftp-port", "0", "--api-port", "0"]
    command += ["--http-port", str(free_port()), *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def one_error(result: subprocess.CompletedProcess[str], status: int) -> str:
    """The one ``error:`` line of a refused start, checked for status, traceback and banner."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == status, result.stderr
    assert "serving" not in result.stdout, result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--http-port", "99999"), "--http-port 99999: must be a port number from 0 (off)"),
        (("--tftp-port", "-1"), "--tftp-port -1: must be a port number"),
        (("--bind", "999.1.1.1"), "--bind 999.1.1.1: not an IP address"),
        (("--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"),
         "--tls-cert /nonexistent/cert.pem: no such file"),
        (("--tls-cert", "/nonexistent/cert.pem"), "a certificate needs its private key"),
        (("--client-ca", "/nonexistent/ca.pem"), "--client-ca /nonexistent/ca.pem: not a readable"),
        (("--ban-window", "0"), "--ban-window 0.0: must be a number of seconds above 0"),
        (("--log-file", "/nonexistent/dir/serve.log"), "log file /nonexistent/dir/serve.log"),
        (("--api-port", "8081", "--api-bind", "0.0.0.0"), "--api-bind 0.0.0.0 is not a loopback"),
        (("--api-port", "8081", "--api-tls-key", "/k.pem"), "--api-tls-key /k.pem: a private key"),
    ],
)  # fmt: skip
def test_a_wrong_value_is_a_usage_error(
    tmp_path: Path, options: tuple[str, ...], expected: str
) -> None:
    line = one_error(serve(tmp_path, *options), USAGE)
    assert expected in line


def test_a_tls_file_that_is_not_pem_is_named(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    line = one_error(serve(tmp_path, "--tls-cert", str(junk), "--tls-key", str(junk)), USAGE)
    assert f"--tls-cert {junk}: not a PEM certificate" in line


def test_a_data_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    # As for every command (cli/_context.py): one line, status 1.
    file = tmp_path / "not-a-dir"
    file.write_text("")
    line = one_error(serve(file), RUNTIME)
    assert line == f"error: data directory {file} is not a directory"


def test_a_data_directory_in_proc_is_refused() -> None:
    line = one_error(serve(Path("/proc/provisioner-data")), RUNTIME)
    assert line.startswith("error: cannot use /proc/provisioner-data as the data directory: ")


def test_a_port_in_use_is_a_runtime_error_after_nothing_was_announced(tmp_path: Path) -> None:
    run_cli_in_process(tmp_path, "init")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve(tmp_path, "--http-port", str(port))
    line = one_error(result, RUNTIME)
    assert line == (
        f"error: cannot listen for HTTP on 127.0.0.1 port {port}: another program uses "
        "that port; stop it or choose another --http-port"
    )


def test_a_port_in_use_later_in_the_start_closes_the_ports_opened_before(tmp_path: Path) -> None:
    run_cli_in_process(tmp_path, "init")
    https = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        tftp = taken.getsockname()[1]
        result = serve(tmp_path, "--https-port", str(https), "--tftp-port", str(tftp))
    assert "cannot listen for TFTP" in one_error(result, RUNTIME)
    with socket.socket() as again:  # HTTPS was bound first and is free again
        again.bind(("127.0.0.1", https))


def test_healthz_answers_once_every_port_listens(tmp_path: Path) -> None:
    # Plain HTTP opens last, so whoever waits for /healthz (a load balancer,
    # the test harness) may use any other port at once: nothing is refused.
    run_cli_in_process(tmp_path, "init")
    https, ftp, api = free_port(), free_port(), free_port()
    tftp = free_port(socket.SOCK_DGRAM)
    options = ["--https-port", str(https), "--ftp-port", str(ftp), "--api-port", str(api)]
    with serving(tmp_path, *options, "--tftp-port", str(tftp)):
        for port in (https, ftp, api):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(b"\x00\x01absent.cfg\x00octet\x00", ("127.0.0.1", tftp))
            answer, _ = client.recvfrom(600)
        assert answer[:2] == b"\x00\x05"  # an ERROR packet (RFC 1350 section 5)


def test_an_address_of_another_host_is_a_runtime_error(tmp_path: Path) -> None:
    run_cli_in_process(tmp_path, "init")
    line = one_error(serve(tmp_path, "--bind", "192.0.2.1"), RUNTIME)  # TEST-NET-1: not ours
    assert "192.0.2.1 port" in line
    assert "no interface of this host has that address" in line
