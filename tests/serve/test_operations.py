"""``serve`` as a service: logs, SIGHUP reload, SIGTERM drain (issue 17, items 4 and 6).

The server runs as a subprocess. A transfer "in progress" is a TFTP read
this test drives block by block (:class:`SteppedRead`): it negotiates a
long retransmission timeout, so the server waits for each ACK as long as
the test needs, and nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import contextlib
import ftplib
import io
import json
import shutil
import signal
import socket
import ssl
import struct
import subprocess
from pathlib import Path
from typing import Any

from provisioner.serve._tls import self_signed
from tests.peers import fetch_with_curl, free_port, need
from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo-fleet.toml"
POLYCOM, YEALINK, CISCO79, SPA = "0004f2123456", "805ec0123456", "000d28123456", "0002fd123456"
CISCO79_FILE = f"SIP{CISCO79.upper()}.cnf"
YEALINK_UA = "Yealink SIP-T46S 66.85.0.5 80:5e:c0:12:34:56"
POLYCOM_UA = "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615 Type/Application"


class SteppedRead:
    """A TFTP read whose ACKs the test sends one at a time (blksize 512, timeout 60 s)."""

    def __init__(self, port: int, name: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(30)
        options = b"blksize\x00512\x00timeout\x0060\x00"
        request = b"\x00\x01" + name.encode() + b"\x00octet\x00" + options
        self.sock.sendto(request, ("127.0.0.1", port))
        reply, self.server = self.sock.recvfrom(1024)
        assert reply[:2] == b"\x00\x06", reply  # OACK
        self.block = 0
        self.data = b""
        self.done = False

    def step(self) -> None:
        """Acknowledge what came so far and take the next block."""
        self.sock.sendto(struct.pack("!HH", 4, self.block), self.server)
        while True:
            packet, _ = self.sock.recvfrom(1024)
            opcode, block = struct.unpack("!HH", packet[:4])
            assert opcode == 3, packet  # DATA, not an ERROR
            if block == self.block + 1:
                break  # anything else is a retransmission of a block we have
        self.block = block
        self.data += packet[4:]
        if len(packet) - 4 < 512:
            self.sock.sendto(struct.pack("!HH", 4, block), self.server)
            self.done = True

    def finish(self) -> bytes:
        while not self.done:
            self.step()
        self.sock.close()
        return self.data


def atftp_get(port: int, name: str, out: Path) -> bytes:
    result = subprocess.run(
        [need("atftp"), "--get", "-r", name, "-l", str(out), "127.0.0.1", str(port)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


def logged(log: Path, text: str, after: int = 0) -> bool:
    """Whether ``text`` is in ``log`` past its first ``after`` characters."""
    return log.exists() and text in log.read_text()[after:]


# --- logs ----------------------------------------------------------------------------


def test_json_lines_and_an_access_log_without_secrets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))
    # "tenant demo is now served under /TOKEN/": every file of the tenant is behind it.
    token = run_cli_in_process(data, "tenant", "token", "demo").stdout.strip().split("/")[1]
    tftp, ftp, passive = free_port(socket.SOCK_DGRAM), free_port(), free_port()
    options = ["--log-format", "json", "--access-log", "--tftp-port", str(tftp)]
    options += ["--ftp-port", str(ftp), "--ftp-passive-ports", f"{passive}-{passive}"]
    with serving(data, *options) as server:
        base = f"http://127.0.0.1:{server.http}/{token}"
        digest = ["--digest", "-u", f"{YEALINK}:demo-http-pass", "-A", YEALINK_UA]
        assert fetch_with_curl(*digest, f"{base}/{YEALINK}.cfg")[0] == 200
        url = f"{base}/{POLYCOM}.cfg?k=query-secret"
        assert fetch_with_curl("-A", POLYCOM_UA, url)[0] == 200
        assert atftp_get(tftp, f"{token}/{CISCO79_FILE}", tmp_path / "out.cnf")
        with ftplib.FTP() as client:
            client.connect("127.0.0.1", ftp, timeout=10)
            client.login("demo", "demo-ftp-pass")
            client.retrbinary(f"RETR {token}/spa{SPA}.cfg", io.BytesIO().write)
        with ftplib.FTP() as client:
            client.connect("127.0.0.1", ftp, timeout=10)
            with contextlib.suppress(ftplib.error_perm):
                client.login("demo", "wrong-pass-secret")
        eventually(lambda: logged(server.log, '"protocol": "ftp"'), "the FTP fetch is logged")
    text = server.log.read_text()
    events = [json.loads(line) for line in text.splitlines()]  # every line is one JSON event
    for secret in (token, "demo-http-pass", "demo-ftp-pass", "wrong-pass-secret", "query-secret"):
        assert secret not in text, secret
    assert "Digest" not in text
    assert "response=" not in text
    listening = {e["protocol"] for e in events if e.get("event") == "listening"}
    assert listening == {"http", "tftp", "ftp", "sip"}  # sip: where NOTIFYs come from
    access = [e for e in events if e.get("event") == "access"]
    by_path = {(e["protocol"], e["path"], e["status"]): e for e in access}
    yealink = by_path["http", f"/<token>/{YEALINK}.cfg", 200]
    assert (yealink["mac"], yealink["user_agent"], yealink["client"]) == (
        YEALINK,
        YEALINK_UA,
        "127.0.0.1",
    )
    assert yealink["bytes"] > 0
    assert yealink["duration_ms"] >= 0
    assert ("http", f"/<token>/{YEALINK}.cfg", 401) in by_path  # the challenge before it
    assert by_path["http", f"/<token>/{POLYCOM}.cfg", 200]["mac"] == POLYCOM
    tftp_line = by_path["tftp", f"<token>/{CISCO79_FILE}", "ok"]
    assert (tftp_line["mac"], tftp_line["bytes"]) == (
        CISCO79,
        len((tmp_path / "out.cnf").read_bytes()),
    )
    assert by_path["ftp", f"<token>/spa{SPA}.cfg", 226]["mac"] == SPA
    assert events[-1]["event"] == "stopped"


def test_the_log_file_is_reopened_on_sighup(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    run_cli_in_process(data, "init")
    with serving(data, "--log-file", str(log)) as server:
        eventually(lambda: logged(log, "event=listening"), "start-up is logged to the file")
        log.rename(tmp_path / "serve.log.1")  # logrotate
        server.process.send_signal(signal.SIGHUP)
        eventually(lambda: logged(log, "event=reloaded"), "the reload is logged to a new file")
    assert "event=listening" in (tmp_path / "serve.log.1").read_text()
    assert "event=listening" not in log.read_text()
    assert log.read_text().splitlines()[-1].endswith("event=stopped")
    assert server.log.read_text() == ""  # nothing on standard error


# --- SIGHUP --------------------------------------------------------------------------


def test_sighup_rereads_the_configuration_without_dropping_a_transfer(tmp_path: Path) -> None:
    data, log, config = tmp_path / "data", tmp_path / "serve.log", tmp_path / "serve.toml"
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))
    tftp = free_port(socket.SOCK_DGRAM)
    config.write_text(f'log_file = "serve.log"\ntftp_port = {tftp}\nban_limit = 30\n')
    with serving(data, "--config", str(config), "--tftp-port", str(tftp)) as server:
        expected = atftp_get(tftp, CISCO79_FILE, tmp_path / "before.cnf")
        transfer = SteppedRead(tftp, CISCO79_FILE)
        transfer.step()
        config.write_text(
            'log_file = "serve.log"\naccess_log = true\nban_limit = 5\nrealm = "r2"\n'
        )
        server.process.send_signal(signal.SIGHUP)
        eventually(lambda: logged(log, "event=reloaded"), "the reload is done", 60)
        assert transfer.finish() == expected  # the transfer went on through the reload
        assert "event=config_applied keys=ban_limit,access_log" in log.read_text()
        assert "event=config_restart_needed keys=realm" in log.read_text()
        assert fetch_with_curl(f"http://127.0.0.1:{server.http}/healthz")[0] == 200
        eventually(lambda: logged(log, "event=access protocol=http"), "access_log is on now")
        # A broken file: logged, and everything stays as it was.
        config.write_text("access_log = \n")
        end = len(log.read_text())
        server.process.send_signal(signal.SIGHUP)
        since = lambda: f"the log since the second SIGHUP:\n{log.read_text()[end:]}"  # noqa: E731
        eventually(lambda: logged(log, "event=reload_failed reason=", end), since, 60)
        eventually(lambda: logged(log, "event=reloaded", end), since, 60)
        assert "not valid TOML" in log.read_text()[end:]
        metrics = fetch_with_curl(f"http://127.0.0.1:{server.http}/metrics")[1].decode()
        assert "provisioner_reload_failures_total 1\n" in metrics
        tftp_end = len(log.read_text())
        assert atftp_get(tftp, CISCO79_FILE, tmp_path / "after.cnf") == expected
        # Still on. The access line is written when the last ACK arrives, which may be
        # after atftp has exited (it does not wait for anything once it sent that ACK).
        eventually(lambda: logged(log, "event=access protocol=tftp", tftp_end), since)


def test_sighup_reloads_templates_and_certificates(tmp_path: Path) -> None:
    data, site = tmp_path / "data", tmp_path / "site"
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))
    first = self_signed(tmp_path / "first", ["127.0.0.1"])
    second = self_signed(tmp_path / "second", ["127.0.0.1"])
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copy(first[0], cert)
    shutil.copy(first[1], key)
    https, tftp = free_port(), free_port(socket.SOCK_DGRAM)
    template = site / "cisco" / "sip79xx" / "sip-mac.cnf.j2"
    template.parent.mkdir(parents=True)
    builtin = (ROOT / "templates" / "cisco" / "sip79xx" / "sip-mac.cnf.j2").read_text()
    template.write_text(builtin + "# site edition 1\n")
    options = ["--https-port", str(https), "--tls-cert", str(cert), "--tls-key", str(key)]
    options += ["--tftp-port", str(tftp)]
    config = tmp_path / "serve.toml"
    config.write_text('site_templates = "site"\n')
    with serving(data, "--config", str(config), *options) as server:
        assert b"# site edition 1" in atftp_get(tftp, CISCO79_FILE, tmp_path / "one.cnf")
        served = ssl.get_server_certificate(("127.0.0.1", https))
        assert _der(served) == _der(first[0].read_text())
        shutil.copy(second[0], cert)  # a renewal writes the files in place
        shutil.copy(second[1], key)
        template.write_text(builtin + "# site edition 2\n")
        end = len(server.log.read_text())
        server.process.send_signal(signal.SIGHUP)
        eventually(lambda: logged(server.log, "event=reloaded", end), "the reload is done", 60)
        assert _der(ssl.get_server_certificate(("127.0.0.1", https))) == _der(second[0].read_text())
        assert b"# site edition 2" in atftp_get(tftp, CISCO79_FILE, tmp_path / "two.cnf")
        # A broken template: the error is logged and the last good files are served.
        template.write_text("{% if %}\n")
        end = len(server.log.read_text())
        server.process.send_signal(signal.SIGHUP)
        eventually(lambda: logged(server.log, "event=reloaded", end), "the reload is done", 60)
        assert "event=render_error" in server.log.read_text()[end:]
        assert b"# site edition 2" in atftp_get(tftp, CISCO79_FILE, tmp_path / "three.cnf")
        # Broken certificates: logged, the ones loaded keep serving.
        cert.write_text("not a certificate\n")
        end = len(server.log.read_text())
        server.process.send_signal(signal.SIGHUP)
        eventually(lambda: logged(server.log, "event=reloaded", end), "the reload is done", 60)
        assert "event=reload_failed" in server.log.read_text()[end:]
        assert "--tls-cert" in server.log.read_text()[end:]
        assert _der(ssl.get_server_certificate(("127.0.0.1", https))) == _der(second[0].read_text())


def _der(pem: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem)


# --- SIGTERM -------------------------------------------------------------------------


def test_sigterm_refuses_new_connections_and_lets_a_transfer_finish(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))
    tftp = free_port(socket.SOCK_DGRAM)
    options = ["--tftp-port", str(tftp), "--shutdown-grace", "120"]
    with serving(data, *options) as server:
        expected = atftp_get(tftp, CISCO79_FILE, tmp_path / "whole.cnf")
        transfer = SteppedRead(tftp, CISCO79_FILE)
        transfer.step()
        server.process.send_signal(signal.SIGTERM)
        eventually(lambda: logged(server.log, "event=stopping"), "the drain began")
        eventually(lambda: _refused(server.http), "HTTP stops accepting")
        assert server.process.poll() is None  # waiting for the transfer
        assert transfer.finish() == expected
        assert server.process.wait(60) == 0
    assert server.log.read_text().rstrip().endswith("event=stopped")


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_cuts_off_a_transfer_after_the_grace(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))
    tftp = free_port(socket.SOCK_DGRAM)
    with serving(data, "--tftp-port", str(tftp), "--shutdown-grace", "0.5") as server:
        transfer = SteppedRead(tftp, CISCO79_FILE)
        transfer.step()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(60) == 0  # without the rest of the transfer
    packet, _ = transfer.sock.recvfrom(1024)
    transfer.sock.close()
    assert packet[:4] == b"\x00\x05\x00\x00"  # ERROR 0: the server is shutting down


def test_sigterm_gives_the_notifies_in_flight_back_to_the_queue(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as proxy:  # receives, never answers
        proxy.bind(("127.0.0.1", 0))
        fleet = tmp_path / "fleet.json"
        fleet.write_text(json.dumps(_fleet(proxy.getsockname()[1])))
        run_cli_in_process(data, "init")
        run_cli_in_process(data, "apply", str(fleet))
        with serving(data, "--shutdown-grace", "0.5") as server:
            run_cli_in_process(data, "send-profiles", "--phone", POLYCOM)
            proxy.settimeout(30)
            proxy.recvfrom(65536)  # the NOTIFY went out; its answer never comes
            assert _target(data)["state"] == "sending"
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(60) == 0
    target = _target(data)
    assert (target["state"], target["reason"]) == ("queued", "interrupted; sending again")
    assert target["attempts"] == 1
    assert "event=notify_released targets=1" in server.log.read_text()


def _target(data: Path) -> dict[str, Any]:
    shown = json.loads(run_cli_in_process(data, "jobs", "--show", "1", "--json").stdout)
    target: dict[str, Any] = shown["targets"][0]
    return target


def _fleet(sip_port: int) -> dict[str, object]:
    return {
        "tenants": [
            {
                "name": "acme",
                "sip_domain": "acme.example.com",
                "outbound_proxy": {"host": "127.0.0.1", "port": sip_port},
                "settings": {
                    "notify.target": "proxy",
                    "notify.jitter_ms": 0,
                    "notify.delay_seconds": 0,
                    "notify.retries": 2,
                },
            }
        ],
        "phones": [
            {
                "tenant": "acme",
                "mac": POLYCOM,
                "model": "vvx410",
                "lines": [{"user": "201", "password": "pw-201-secret"}],
            }
        ],
    }
