"""Counters for Prometheus ``/metrics`` (text exposition format 0.0.4).

Plain integers updated on the event loop thread (and, for FTP, its own
thread, where a lost increment under a race costs nothing of value); no
client library needed for a handful of counters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Metrics"]


@dataclass(slots=True)
class Metrics:
    """Everything ``/metrics`` reports."""

    requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # (protocol, status)
    cache_hits: int = 0
    cache_misses: int = 0
    firmware_hits: int = 0
    render_errors: int = 0
    bans: int = 0
    digest_replays: int = 0  # answers refused because another node had accepted them
    uploads: int = 0
    reload_failures: int = 0  # SIGHUPs whose configuration or TLS files were refused
    phones_rendered: int = 0  # by the cache: a change renders only the phones it reached
    tenants: int = 0  # served now (gauges, set by the cache after each refresh)
    phones: int = 0

    def request(self, protocol: str, status: str) -> None:
        """Count one finished request."""
        self.requests[(protocol, status)] += 1

    def exposition(self) -> str:
        """The Prometheus text format."""
        lines = [
            "# HELP provisioner_requests_total Requests by protocol and outcome.",
            "# TYPE provisioner_requests_total counter",
        ]
        for (protocol, status), count in sorted(self.requests.items()):
            lines.append(
                f'provisioner_requests_total{{protocol="{protocol}",status="{status}"}} {count}'
            )
        for name, kind, value, text in (
            (
                "cache_hits_total",
                "counter",
                self.cache_hits,
                "Requests answered from rendered files.",
            ),
            (
                "cache_misses_total",
                "counter",
                self.cache_misses,
                "Requests for files that are not rendered.",
            ),
            (
                "firmware_hits_total",
                "counter",
                self.firmware_hits,
                "Requests for firmware and device files.",
            ),
            ("render_errors_total", "counter", self.render_errors, "Files that failed to render."),
            ("bans_total", "counter", self.bans, "Client addresses banned for repeated failures."),
            (
                "digest_replays_total",
                "counter",
                self.digest_replays,
                "Digest answers refused because another node had accepted them.",
            ),
            ("uploads_total", "counter", self.uploads, "Files phones uploaded."),
            (
                "reload_failures_total",
                "counter",
                self.reload_failures,
                "Reloads (SIGHUP) that kept the running configuration or certificates.",
            ),
            (
                "phones_rendered_total",
                "counter",
                self.phones_rendered,
                "Phones whose files the cache rendered (a change renders only those it reached).",
            ),
            ("tenants", "gauge", self.tenants, "Tenants served."),
            ("phones", "gauge", self.phones, "Enabled phones whose files are served."),
        ):
            lines += [
                f"# HELP provisioner_{name} {text}",
                f"# TYPE provisioner_{name} {kind}",
                f"provisioner_{name} {value}",
            ]
        return "\n".join(lines) + "\n"
