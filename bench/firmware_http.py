"""Firmware over HTTP: one 20 MB image to 50 concurrent clients, ours against nginx.

A 20 MB image of random bytes is uploaded with ``provisioner firmware
upload`` as a Polycom ``sip.ld`` and activated; ``provisioner serve`` then
serves it at ``fw/polycom/bench/sip.ld`` and nginx serves a copy of the same
file at the same path (one worker, sendfile on, as in Debian's stock
configuration). Both answers are checked against the upload's SHA-256
first. wrk keeps 50 connections busy for 10 s against each, three rounds
interleaved, and the median round of each is printed with the ratio, next
to our server's RSS after start-up and at its peak. The issue's target is
at least 0.5x nginx. Nothing here is a pass/fail threshold.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from bench._proc import peak_rss_mb
from bench._web import median, nginx, serve, wrk
from provisioner.cli import main as cli

SIZE = 20 * 1024 * 1024
CLIENTS = 50
SECONDS = 10
ROUNDS = 3
PATH = "fw/polycom/bench/sip.ld"


def _prepare(data_dir: Path, image: Path) -> None:
    """A tenant, and the image uploaded and activated through the CLI."""
    fleet = data_dir / "fleet.json"
    fleet.write_text(json.dumps({"tenants": [{"name": "bench", "sip_domain": "bench.example"}]}))
    base = ["--data-dir", str(data_dir)]
    for args in (
        ["init"],
        ["apply", str(fleet)],
        ["firmware", "upload", str(image), "--vendor", "polycom", "--label", "bench", "--activate"],
    ):
        with contextlib.redirect_stdout(io.StringIO()):
            failed = cli([*base, *args]) != 0
        if failed:
            raise RuntimeError(f"provisioner {' '.join(args)} failed")


def _sha256_of(url: str) -> str:
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=30) as response:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    """Run the benchmark and print its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        image = work / "sip.ld"
        image.write_bytes(os.urandom(SIZE))
        expected = hashlib.sha256(image.read_bytes()).hexdigest()
        data_dir = work / "data"
        data_dir.mkdir()
        _prepare(data_dir, image)
        www = work / "nginx" / "www" / Path(PATH).parent
        www.mkdir(parents=True)
        shutil.copyfile(image, www / "sip.ld")
        ours_runs, nginx_runs = [], []
        with serve(data_dir) as (port, process), nginx(work / "nginx") as nport:
            started = peak_rss_mb(process.pid)
            ours_url = f"http://127.0.0.1:{port}/{PATH}"
            nginx_url = f"http://127.0.0.1:{nport}/{PATH}"
            for url in (ours_url, nginx_url):
                if _sha256_of(url) != expected:
                    raise RuntimeError(f"{url} did not return the uploaded image")
            # Interleaved rounds, median reported: wrk and both servers share
            # this machine's two cores, and single runs vary.
            for _ in range(ROUNDS):
                nginx_runs.append(wrk(nginx_url, CLIENTS, SECONDS))
                ours_runs.append(wrk(ours_url, CLIENTS, SECONDS))
            peak = peak_rss_mb(process.pid)
    ours, reference = median(ours_runs), median(nginx_runs)
    print(
        f"Firmware over HTTP: one {SIZE >> 20} MB image, wrk -t2 -c{CLIENTS} -d{SECONDS}s, "
        f"median of {ROUNDS} interleaved rounds:"
    )
    for name, r in (("nginx 1.22 (sendfile)", reference), ("provisioner", ours)):
        print(
            f"  {name:22s} {r['rps']:7.1f} req/s  {r.get('mb_s', 0):8,.0f} MB/s  "
            f"p50 {r.get('p50_ms', 0):7.1f} ms  p99 {r.get('p99_ms', 0):7.1f} ms  "
            f"non-2xx {int(r['non2xx'])}  socket errors {int(r['socket_errors'])}"
        )
    print(f"  ratio provisioner / nginx: {ours['rps'] / reference['rps']:.2f}x")
    print(f"  server RSS after start-up {started:.0f} MB, peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
